"""Keras's `keras.preprocessing.image` helpers (the same functions as
`adkit.nn.utils.load_img`, `img_to_array`, `array_to_img`, `save_img`)."""

from ..image_utils import array_to_img, img_to_array, load_img, save_img

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img"]
