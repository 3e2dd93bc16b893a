"""Keras 3's `keras.saving`: save and load whole models, and the registry of your own
objects a saved model names (nn/custom_objects.py).

The files themselves are written and read by nn/model_file.py (adkit's zip of a JSON
config and .npy arrays) and nn/legacy_h5.py (the HDF5 layout Keras writes for names
ending in .h5); `model.save(path)` picks one by the name.

>>> import tempfile, os
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import Dense
>>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
>>> save_model(Sequential([Dense(2, input_shape=(3,))], seed=0), path)
>>> load_model(path).count_params()
8
"""

from __future__ import annotations

import os
from typing import Any

from .custom_objects import (
    CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
    get_registered_object, register_keras_serializable)
from .model_file import ModelFileError
from .models import load_model

__all__ = ["save_model", "load_model", "ModelFileError", "register_keras_serializable",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope",
           "get_registered_name", "get_registered_object"]


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
               **kwargs: Any) -> None:
    """keras.saving.save_model: `model.save(filepath, overwrite=overwrite, **kwargs)`
    (include_optimizer=...; Keras's zipped= is accepted and changes nothing)."""
    kwargs.pop("zipped", None)
    model.save(filepath, overwrite=overwrite, **kwargs)
