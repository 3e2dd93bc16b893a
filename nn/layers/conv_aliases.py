"""Keras 3's other names for the convolution and pooling layers (keras.layers.MaxPool2D,
Convolution2D, GlobalAvgPool1D, ...): the same classes, so a layer made under either
name saves, loads and names itself as the class (MaxPool2D() is a MaxPooling2D).

>>> MaxPool2D is MaxPooling2D, type(Convolution1D(2, 3)).__name__
(True, 'Conv1D')
"""

from .conv import AveragePooling2D, Conv2D, MaxPooling2D
from .conv1d import AveragePooling1D, Conv1D, MaxPooling1D
from .conv_transpose import Conv1DTranspose, Conv2DTranspose
from .depthwise import SeparableConv1D, SeparableConv2D
from .global_pooling import (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                             GlobalMaxPooling2D)

__all__ = ["Convolution1D", "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
           "SeparableConvolution1D", "SeparableConvolution2D", "MaxPool1D", "MaxPool2D",
           "AvgPool1D", "AvgPool2D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D"]

Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
