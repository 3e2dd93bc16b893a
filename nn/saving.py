"""Saved models: one zip file holding a JSON config and .npy weights.

Nothing in the file is ever executed or unpickled: the config names layer
classes that must already exist in adkit.nn.layers, and the arrays are read
with allow_pickle=False. The file is written beside its destination and renamed
into place, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from .files import atomic_write

FORMAT = "adkit.nn model"
VERSION = 1
CONFIG_MEMBER = "model.json"


class ModelFileError(ValueError):
    """A file that is not a readable adkit.nn model."""


def save_model(model: Any, path: str | os.PathLike, include_optimizer: bool = True) -> None:
    """Write `model` to `path` (suggested suffix: .adkit)."""
    model._require_built("save")
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = dict(model.weight_slots())
    config: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": model.get_config()}
    if model.optimizer is not None:
        config["compile"] = {"loss": getattr(model.loss, "__name__", None),
                             "metrics": [m for m in model._metric_specs if isinstance(m, str)],
                             "optimizer": _optimizer_config(model.optimizer)}
        if include_optimizer:
            for k, v in model.optimizer.variables().items():
                arrays[f"optimizer/{k}"] = np.asarray(v)
    config["arrays"] = {name: {"shape": list(a.shape), "dtype": a.dtype.str}
                        for name, a in arrays.items()}
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr(CONFIG_MEMBER, json.dumps(config, indent=1))
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.require(a, requirements="C"), allow_pickle=False)
            z.writestr(name + ".npy", buf.getvalue())


def load_model(path: str | os.PathLike, compile: bool = True) -> Any:
    """A model saved by `model.save`, recompiled (with optimizer state) when it was
    compiled. Refuses anything that is not such a file, with the reason."""
    from .layers.base import deserialize
    from .model import Sequential
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        with zipfile.ZipFile(path) as z:
            config = _read_config(z, path)
            arrays = {name: _read_array(z, name, spec, path)
                      for name, spec in config["arrays"].items()}
    except zipfile.BadZipFile as e:
        raise ModelFileError(f"{path!r} is not an adkit.nn model file (not a zip archive: {e}); "
                             "save models with model.save(path)") from None
    try:
        spec = config["model"]
        model = Sequential(name=spec["name"], seed=spec["seed"])
        for layer_config in spec["layers"]:
            model.add(deserialize(layer_config))
        if model.params is None and spec.get("input_shape") is not None:
            model.build(tuple(spec["input_shape"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path!r}: the model config is invalid ({e})") from None
    weights = []
    for name, w in model.weight_slots():
        if name not in arrays:
            raise ModelFileError(f"{path!r} has no weights for {name}")
        if arrays[name].shape != w.shape:
            raise ModelFileError(f"{path!r}: {name} has shape {arrays[name].shape}, but "
                                 f"the config builds {w.shape}")
        weights.append(arrays[name])
    model.set_weights(weights)
    if compile and "compile" in config:
        c = config["compile"]
        try:
            model.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c["metrics"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{path!r}: the compile settings are invalid ({e})") from None
        state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
        if state:
            model.optimizer.set_variables(state)
    return model


def _optimizer_config(optimizer: Any) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def _read_config(z: zipfile.ZipFile, path: str) -> dict:
    try:
        raw = z.read(CONFIG_MEMBER)
    except KeyError:
        raise ModelFileError(f"{path!r} is a zip archive but not an adkit.nn model "
                             f"(no {CONFIG_MEMBER})") from None
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path!r}: {CONFIG_MEMBER} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not an adkit.nn model file (format field "
                             f"{config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ModelFileError(f"{path!r} was written by a newer adkit (model file version "
                             f"{version!r}, this adkit reads up to {VERSION}); upgrade adkit")
    if not isinstance(config.get("arrays"), dict) or not isinstance(config.get("model"), dict):
        raise ModelFileError(f"{path!r}: the model config lacks its 'arrays' or 'model' section")
    return config


def _read_array(z: zipfile.ZipFile, name: str, spec: Any, path: str) -> np.ndarray:
    try:
        with z.open(name + ".npy") as f:
            a = np.lib.format.read_array(io.BytesIO(f.read()), allow_pickle=False)
    except KeyError:
        raise ModelFileError(f"{path!r} lists {name} but does not contain it "
                             "(the file is truncated or was edited)") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ModelFileError(f"{path!r}: {name} is unreadable ({e})") from None
    if not isinstance(spec, dict) or list(a.shape) != spec.get("shape") \
            or a.dtype.str != spec.get("dtype"):
        raise ModelFileError(f"{path!r}: {name} is {a.dtype.str}{list(a.shape)}, but the "
                             f"config says {spec!r}")
    return a
