"""Keras's `keras.preprocessing` namespace, where Keras 2 scripts find
`keras.preprocessing.sequence.pad_sequences` (Keras 3 keeps it there too; the same
function is `adkit.nn.utils.pad_sequences`), `keras.preprocessing.image.load_img` and
friends, and the `*_dataset_from_*` functions of `adkit.nn.utils`.

>>> from adkit.nn import preprocessing
>>> preprocessing.sequence.pad_sequences([[1, 2], [3]])
array([[1, 2],
       [0, 3]], dtype=int32)
"""

from ..dataset_utils import timeseries_dataset_from_array
from ..directory_datasets import image_dataset_from_directory, text_dataset_from_directory
from . import image, sequence

__all__ = ["sequence", "image", "image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
