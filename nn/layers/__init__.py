"""Layers, Keras names: each holds configuration; parameters live in the model."""

from .activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .attention import MultiHeadAttention
from .base import Context, Layer, ShapeError, deserialize, serialize
from .conv import AveragePooling2D, Conv2D, MaxPooling2D
from .conv_aliases import (AvgPool1D, AvgPool2D, Convolution1D, Convolution1DTranspose,
                           Convolution2D, Convolution2DTranspose, GlobalAvgPool1D, GlobalAvgPool2D,
                           GlobalMaxPool1D, GlobalMaxPool2D, MaxPool1D, MaxPool2D,
                           SeparableConvolution1D, SeparableConvolution2D)
from .conv_transpose import Conv1DTranspose, Conv2DTranspose
from .depthwise import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .conv1d import AveragePooling1D, Conv1D, MaxPooling1D
from .core import Activation, Dense, Dropout, Embedding, Flatten, Lambda, Reshape
from .dense_attention import AdditiveAttention, Attention
from .global_pooling import (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                             GlobalMaxPooling2D)
from .image_preprocessing import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                                  RandomRotation, RandomTranslation, RandomZoom)
from .image_resizing import CenterCrop, Resizing
from .input_layer import Input, InputLayer
from .masking import Masking
from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .merge_functions import (add, average, concatenate, dot, maximum, minimum, multiply,
                              subtract)
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization,
                            RMSNormalization, UnitNormalization)
from .preprocessing import Normalization
from .category_encoding import CategoryEncoding
from .discretization import Discretization
from .lookup import IntegerLookup, StringLookup
from .text_vectorization import TextVectorization
from .hashing import Hashing
from .noise import (ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise,
                    Identity, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .sequence_reshaping import Cropping1D, UpSampling1D, ZeroPadding1D
from .reshaping import (Cropping2D, Permute, RepeatVector, Rescaling, UpSampling2D,
                        ZeroPadding2D)
from .wrappers import TimeDistributed

__all__ = ["Layer", "Context", "ShapeError", "deserialize", "serialize", "Input", "InputLayer",
           "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Embedding", "Lambda",
           "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D",
           "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D",
           "GlobalAveragePooling2D", "BatchNormalization",
           "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D", "ActivityRegularization", "Identity",
           "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
           "LayerNormalization", "GroupNormalization", "UnitNormalization",
           "RMSNormalization", "Normalization", "Discretization", "CategoryEncoding",
           "IntegerLookup", "StringLookup", "TextVectorization", "Hashing",
           "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D",
           "GlobalAveragePooling1D", "Conv1DTranspose", "DepthwiseConv1D", "SeparableConv1D",
           "Convolution1D", "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
           "SeparableConvolution1D", "SeparableConvolution2D", "MaxPool1D", "MaxPool2D",
           "AvgPool1D", "AvgPool2D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
           "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed",
           "MultiHeadAttention", "Attention", "AdditiveAttention", "Masking",
           "ZeroPadding1D", "Cropping1D", "UpSampling1D",
           "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Permute", "RepeatVector", "Rescaling",
           "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast",
           "RandomBrightness", "RandomCrop", "Resizing", "CenterCrop",
           "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
