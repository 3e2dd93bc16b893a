"""Whole models in the legacy HDF5 layout that `model.save("x.h5")` writes in Keras 2 and 3.

Keras 3 still writes and reads this layout when a model file's name ends in .h5
(`keras.src.legacy.saving.legacy_h5_format`), and tf.keras scripts and
pretrained files use it everywhere. The file is one HDF5 file:

- attribute `model_config`: the architecture as JSON, `{"class_name", "config"}`;
- attribute `training_config` (compiled models): loss, metrics and
  `optimizer_config` as JSON;
- group `model_weights`: attribute `layer_names`, and per layer a group of that
  name whose attribute `weight_names` lists its datasets, in the layer's
  trainable-then-non-trainable order (Keras's legacy order, which for every
  adkit layer is get_weights order);
- group `optimizer_weights` (optional): the optimizer's state.

adkit writes its own model config (what `model.to_json()` returns) into
`model_config`, so adkit reads back every model it saves. Reading, the config
goes through `model_from_json`, which takes adkit's configs and Keras's for the
layers adkit has. Weights are matched to layers by order among the layers that
have weights, as Keras's loader does, and every count and shape is checked before
any weight changes. Nothing in the file is executed or unpickled. h5py is an
optional dependency (`pip install 'adkit[h5]'`).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Callable

import numpy as np

from .files import atomic_write
from .keras_weights import WeightsFileError, _h5py, layer_weights
from .model_file import ModelFileError, check_savable

SIGNATURE = b"\x89HDF\r\n\x1a\n"
SUFFIXES = (".h5", ".hdf5")

#: the largest model_config / training_config attribute read, in bytes
MAX_CONFIG_BYTES = 16 << 20


def is_hdf5(path: str | os.PathLike) -> bool:
    """Whether the file at `path` starts with HDF5's signature."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SIGNATURE)) == SIGNATURE
    except OSError:
        return False


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _names(group: Any, attribute: str) -> list[str]:
    """A list of names kept in an attribute, also when Keras split it into chunks
    (`weight_names0`, `weight_names1`, ... for lists over HDF5's 64 KiB attribute limit)."""
    if attribute in group.attrs:
        return [_text(n) for n in group.attrs[attribute]]
    names, chunk = [], 0
    while f"{attribute}{chunk}" in group.attrs:
        names += [_text(n) for n in group.attrs[f"{attribute}{chunk}"]]
        chunk += 1
    return names


def save_model_h5(model: Any, path: str | os.PathLike, include_optimizer: bool = True) -> None:
    """Write `model` to `path` in the legacy HDF5 layout, atomically (a crash mid-save
    leaves the previous file as it was).

    >>> import tempfile, os; from adkit.nn import Sequential, load_model
    >>> from adkit.nn.layers import Dense
    >>> path = os.path.join(tempfile.mkdtemp(), "m.h5")
    >>> save_model_h5(Sequential([Dense(2, input_shape=(3,))], seed=0), path)
    >>> load_model(path).count_params()
    8
    """
    h5py = _h5py()
    check_savable(model)
    from adkit import __version__
    weights = layer_weights(model)
    training = _training_config(model)
    optimizer = model.optimizer.variables() if include_optimizer and training else {}
    with atomic_write(path, "wb") as f, h5py.File(f, "w") as h5:
        h5.attrs["keras_version"] = f"adkit {__version__}".encode("utf8")
        h5.attrs["backend"] = b"numpy"
        h5.attrs["model_config"] = model.to_json().encode("utf8")
        if training:
            h5.attrs["training_config"] = json.dumps(training).encode("utf8")
        group = h5.create_group("model_weights")
        group.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
        group.attrs["backend"] = b"numpy"
        group.attrs["keras_version"] = h5.attrs["keras_version"]
        for layer in sorted(model.layers, key=lambda layer: layer.name):
            names = [f"{layer.name}/{p.split('/', 1)[1]}" for p, _ in weights[layer.name]]
            layer_group = group.create_group(layer.name)
            layer_group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            for name, (_, w) in zip(names, weights[layer.name]):
                layer_group.create_dataset(name, data=np.asarray(w))
        group.create_group("top_level_model_weights").attrs["weight_names"] = []
        if optimizer:
            opt = h5.create_group("optimizer_weights")
            opt.attrs["weight_names"] = [k.encode("utf8") for k in optimizer]
            for k, v in optimizer.items():
                opt.create_dataset(k, data=np.asarray(v))


def _training_config(model: Any) -> dict | None:
    """Keras's training_config: loss, metrics, loss_weights and optimizer_config."""
    if model.optimizer is None:
        return None
    compiled = model.compile_config() if hasattr(model, "compile_config") else {}
    config = {k: v for k, v in compiled.items() if k != "optimizer"}
    config.setdefault("loss", getattr(model.loss, "__name__", None))
    config.setdefault("metrics", [m for m in model._metric_specs if isinstance(m, str)])
    config["optimizer_config"] = {"class_name": type(model.optimizer).__name__,
                                  "config": model.optimizer.get_config()}
    return config


def load_model_h5(path: str | os.PathLike, model_from_json: Callable[[str], Any],
                  compile: bool = True) -> Any:
    """The model in a legacy HDF5 model file (adkit's or Keras's `model.save("x.h5")`),
    built by `model_from_json` (nn/models.py's) from its config, with its weights, and
    compiled when the file says how and `compile` is true."""
    h5py = _h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise ModelFileError(f"{path!r} is not a readable HDF5 file ({e})") from None
    with h5:
        config = _attribute(h5, path, "model_config")
        if config is None:
            hint = (" (it holds weights only: build the model in code and call "
                    "model.load_weights(path))" if "layer_names" in h5.attrs
                    or "layers" in h5 else "")
            raise ModelFileError(f"{path!r} has no 'model_config' attribute, so it is not a "
                                 f"model saved with model.save('x.h5'){hint}")
        try:
            model = model_from_json(config)
        except ValueError as e:
            raise ModelFileError(f"{path!r}: its model_config cannot be built: {e}") from None
        if "model_weights" not in h5:
            raise ModelFileError(f"{path!r} has no 'model_weights' group")
        load_weights_h5(model, h5["model_weights"], path)
        training = _attribute(h5, path, "training_config") if compile else None
        if training is not None:
            _compile(model, training, h5, path)
    return model


def _attribute(h5: Any, path: str, name: str) -> str | None:
    if name not in h5.attrs:
        return None
    text = _text(h5.attrs[name])
    if len(text) > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path!r}: the {name} attribute is over {MAX_CONFIG_BYTES} bytes")
    return text


def load_weights_h5(model: Any, group: Any, path: str,
                    error: type[ValueError] = ModelFileError) -> None:
    """Read the legacy layout's weights (a `model_weights` group, or the root of a
    Keras 2 `save_weights("x.h5")` file) into `model` by the order of the layers that
    have weights; nothing changes unless every layer's count and shape fits."""
    h5py = _h5py()
    weights = layer_weights(model)
    layers = [layer for layer in model.layers if weights[layer.name]]
    stored = []
    for name in _names(group, "layer_names"):
        if name not in group or not isinstance(group[name], h5py.Group):
            raise error(f"{path!r}: layer_names lists {name!r}, which has no group")
        if _names(group[name], "weight_names"):
            stored.append(name)
    if len(stored) != len(layers):
        raise error(
            f"{path!r} holds weights for {len(stored)} layers {stored}, the model has "
            f"{len(layers)} layers with weights {[layer.name for layer in layers]}")
    new = []
    for layer, name in zip(layers, stored):
        names = _names(group[name], "weight_names")
        mine = weights[layer.name]
        where = f"{path!r}, layer {name!r} in the file (the model's {layer.name!r}, " \
                f"{type(layer).__name__})"
        if len(names) != len(mine):
            raise error(f"{where}: the file holds {len(names)} weights, the layer "
                                 f"has {len(mine)}: {[w.shape for _, w in mine]}")
        for weight_name, (_, w) in zip(names, mine):
            data = group[name].get(weight_name)
            if not isinstance(data, h5py.Dataset):
                raise error(f"{where}: weight {weight_name!r} has no dataset")
            if tuple(data.shape) != w.shape or data.dtype.kind not in "fiu":
                raise error(f"{where}: weight {weight_name!r} is {data.dtype} "
                                     f"{tuple(data.shape)} in the file, the layer's is "
                                     f"{w.dtype} {w.shape}")
            new.append((w, data))
    values = [(w, np.asarray(data[()])) for w, data in new]
    for w, value in values:
        np.copyto(w, value, casting="unsafe")


def weights_group_name(path: str) -> str | None:
    """Where an HDF5 file keeps weights in the legacy layout: "model_weights" (a whole
    model, `model.save("x.h5")`), "/" (Keras 2's `save_weights("x.h5")`), or None when it
    is not that layout (Keras 3's .weights.h5, or not HDF5)."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as h5:
            if isinstance(h5.get("model_weights"), h5py.Group):
                return "model_weights"
            return "/" if "layer_names" in h5.attrs else None
    except OSError:
        return None


def load_weights_file(model: Any, path: str, group: str) -> None:
    """Read a legacy layout's weights (from `weights_group_name`) into `model`."""
    h5py = _h5py()
    with h5py.File(path, "r") as h5:
        load_weights_h5(model, h5[group], path, WeightsFileError)


def _compile(model: Any, text: str, h5: Any, path: str) -> None:
    from . import losses
    try:
        training = json.loads(text)
        optimizer = training.get("optimizer_config") or training.get("optimizer")
        extra = {k: training[k] for k in ("loss_weights", "weighted_metrics", "jit_compile")
                 if training.get(k) is not None}
        model.compile(optimizer=optimizer, loss=losses.from_saved(training["loss"]),
                      metrics=training.get("metrics"), **extra)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ModelFileError(f"{path!r}: the compile settings are invalid ({type(e).__name__}: "
                             f"{e}); load_model(path, compile=False) loads the model "
                             "uncompiled") from None
    if "optimizer_weights" not in h5:
        return
    opt = h5["optimizer_weights"]
    names = _names(opt, "weight_names")
    try:
        model.optimizer.set_variables({n: np.asarray(opt[n][()]) for n in names})
    except (ValueError, TypeError, KeyError) as e:
        warnings.warn(f"{path!r}: the optimizer's saved state does not fit adkit's "
                      f"{type(model.optimizer).__name__} ({e}); it starts afresh",
                      stacklevel=3)
