"""adkit.nn: a Keras-like neural-network stack on adkit's reverse mode.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import Dense
>>> model = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dense(1)], seed=0)
>>> model.compile(optimizer="adam", loss="mse")
>>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
>>> history = model.fit(x, x[:, :1] * x[:, 1:], epochs=2, verbose=0)
>>> len(history.history["loss"])
2
"""

from . import (activations, callbacks, config, constraints, datasets, initializers, layers, losses,
               metrics, ops, optimizers, preprocessing, random, regularizers, schedules,
               utils, zoo)
from .allocator import tune
from .functional import Input, Model
from . import mixed_precision, models, saving
from .model import Sequential
from .models import ModelFileError, load_model

__all__ = ["Sequential", "Model", "Input", "models", "load_model", "ModelFileError", "tune",
           "layers", "losses", "optimizers", "callbacks", "metrics", "regularizers", "constraints", "initializers",
           "activations", "schedules", "datasets", "utils", "zoo", "ops", "random", "config",
           "preprocessing", "saving", "mixed_precision"]
