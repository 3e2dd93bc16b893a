"""save_weights / load_weights: a model's weights to a file and back, by file name.

- `*.weights.h5`: Keras 3's layout (nn/keras_weights.py, needs h5py), so weights
  move between Keras and adkit.nn models built from the same layers.
- any other name (suggested: `*.adkit`): adkit's own model file, the zip of a JSON
  config and .npy arrays that `model.save` writes, without optimizer state.

`load_weights` tells the formats apart by content, and also reads the weights of
a full `model.save` file and of a Keras 3 `.keras` archive (its model.weights.h5).

`model.save("x.keras")`, as Keras 3 code writes it, gets adkit's own model file under
that name (load_model reads it back; Keras cannot: weights for Keras go through
`*.weights.h5`). save_weights refuses `.keras`, as Keras 3's does, and a bare `.h5`
(Keras 2's HDF5 layout) is refused by both with the call that does what was meant. Files are matched to the model layer by layer, in order (layer
names may differ: they are numbered per process), and every count and shape is
checked before any weight changes.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import keras_weights, legacy_h5
from .keras_weights import WeightsFileError, layer_keys, layer_weights
from .model_file import ModelFileError, open_model_file, save_model

__all__ = ["save_weights", "load_weights", "WeightsFileError"]

_HDF5_SIGNATURE = legacy_h5.SIGNATURE


def _name(path: str | os.PathLike) -> str:
    return os.path.basename(os.fspath(path)).lower()


def save_weights(model: Any, path: str | os.PathLike, overwrite: bool = True) -> None:
    """Write the model's weights (parameters and state such as BatchNormalization's moving
    averages, no optimizer state) to `path`, atomically, in the format its name picks.
    overwrite=False refuses an existing file (where Keras would ask at the terminal).

    >>> import tempfile, os; from adkit.nn import Sequential; from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(2, input_shape=(3,))], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.adkit")
    >>> save_weights(model, path); load_weights(model, path)
    """
    name = _name(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {os.fspath(path)!r} exists and overwrite=False; "
                              "pass overwrite=True to replace it")
    if name.endswith(keras_weights.SUFFIX):
        keras_weights.save_keras_weights(model, path)
        return
    where = f"save_weights({os.fspath(path)!r})"
    if name.endswith((".h5", ".hdf5")):
        raise ValueError(f"{where}: Keras 3 reads HDF5 weights only from files named "
                         "*.weights.h5 (Keras 2's .h5 layout is not written); use "
                         "'x.weights.h5', or another name (e.g. 'x.adkit') for adkit's format")
    if name.endswith(".keras"):
        raise ValueError(f"{where}: .keras is Keras's full-model archive, which adkit does not "
                         "write; use 'x.weights.h5' for weights Keras can load")
    save_model(model, path, include_optimizer=False)


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Read weights written by `save_weights` (either format, told apart by content),
    `model.save`, or Keras 3 (`save_weights`, or `save` to a .keras archive) into `model`,
    which must be built with the same layers in the same order."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no weights file at {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load_weights: {path!r} is a folder; give the weights file "
                                "inside it (e.g. 'model.weights.h5')")
    with open(path, "rb") as f:
        head = f.read(len(_HDF5_SIGNATURE))
    if head == _HDF5_SIGNATURE and (group := legacy_h5.weights_group_name(path)):
        legacy_h5.load_weights_file(model, path, group)
        return
    if head == _HDF5_SIGNATURE or keras_weights.is_keras_archive(path):
        keras_weights.load_keras_weights(model, path)
        return
    if _name(path).endswith((keras_weights.SUFFIX, ".h5", ".hdf5")):
        state = "is empty (0 bytes)" if not head else "is not an HDF5 file (no HDF5 signature)"
        raise WeightsFileError(f"load_weights: {path!r} {state}, so it holds no Keras "
                               "weights: an interrupted copy or download, or another kind of "
                               "file under this name; write it again with save_weights")
    _load_model_file_weights(model, path)


def _load_model_file_weights(model: Any, path: str) -> None:
    weights = layer_weights(model)
    with open_model_file(path) as f:
        try:
            stored_layers = [(c["class_name"], c["config"]["name"])
                             for c in f.config["model"]["layers"]]
        except (KeyError, TypeError) as e:
            raise ModelFileError(f"{path!r}: the model config lists no layers ({e})") from None
        mine = [(type(layer).__name__, layer.name) for layer in model.layers]
        if [c for c, _ in stored_layers] != [c for c, _ in mine]:
            raise WeightsFileError(
                f"{path!r} does not fit this model: the file's layers are "
                f"{[c for c, _ in stored_layers]}, the model's {[c for c, _ in mine]}; "
                "weights load into the same layers in the same order")
        reads = []
        for layer, key, (_, stored_name) in zip(model.layers, layer_keys(model.layers),
                                                stored_layers):
            slots = weights[layer.name]
            prefix = (f"params/{stored_name}/", f"state/{stored_name}/")
            stored = sorted(n for n in f.arrays if n.startswith(prefix))
            expected = sorted(f"{p.split('/', 1)[0]}/{stored_name}/{p.split('/', 1)[1]}"
                              for p, _ in slots)
            where = f"{path!r}, layer {key} (here {layer.name!r}, in the file {stored_name!r})"
            if stored != expected:
                raise WeightsFileError(f"{where}: the file holds {stored}, the layer needs "
                                       f"{expected}")
            for p, w in slots:
                kind, sub = p.split("/", 1)
                info = f.arrays[f"{kind}/{stored_name}/{sub}"]
                if info.shape != w.shape:
                    raise WeightsFileError(f"{where}: {sub} has shape {w.shape} in the model, "
                                           f"{info.shape} in the file")
                reads.append((w, info.name))
        arrays = [(w, f.read(name)) for w, name in reads]
    for w, a in arrays:
        np.copyto(w, a, casting="unsafe")
