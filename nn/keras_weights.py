"""Weights in Keras 3's `.weights.h5` layout, read and written through h5py.

Keras 3's `model.save_weights("x.weights.h5")` writes one HDF5 group per layer,
named after the layer's class, not its name: `layers/dense`, `layers/dense_1`,
... counted per model in model order (`keras.src.saving.saving_lib`). Each group
holds a `vars` group of datasets `0`, `1`, ... in the layer's weight order
(Dense: kernel, bias; BatchNormalization: gamma, beta, moving_mean,
moving_variance). Recurrent layers keep theirs one level down, in `cell/vars`;
Bidirectional in `forward_layer/cell/vars` and `backward_layer/cell/vars`;
TimeDistributed in `layer/vars` (its wrapped layer's groups under `layer/`);
MultiHeadAttention in `query_dense/vars`, `key_dense/vars`, `value_dense/vars` and
`output_dense/vars`. The
file's `optimizer` group (Keras's optimizer state) is not read: these are weights
only. Gate layouts of LSTM and GRU are Keras's already (nn/layers/recurrent.py).

A Keras 3 `.keras` archive keeps its weights in this layout too, as the member
model.weights.h5, so the weights of a model Keras saved whole load the same way.
A model built with adkit.nn from the same layers in the same order therefore
reads a Keras file and writes one Keras reads; every count and shape is checked
before anything is written into the model. h5py is an optional dependency
(`pip install 'adkit[h5]'`).
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections import Counter
from typing import Any, Iterator

import numpy as np

from .files import atomic_write
from .layers.base import Layer, snake_case
from .layers.attention import PROJECTIONS

SUFFIX = ".weights.h5"


class WeightsFileError(ValueError):
    """A weights file that does not fit the model it is loaded into, or is unreadable."""


def layer_keys(layers: list[Layer]) -> list[str]:
    """Keras 3's per-model key of each layer: its class in snake case, numbered from the
    second of a class on, in model order.

    >>> from adkit.nn.layers import Dense, Flatten
    >>> layer_keys([Dense(2), Flatten(), Dense(3)])
    ['dense', 'flatten', 'dense_1']
    """
    seen: Counter = Counter()
    keys = []
    for layer in layers:
        base = snake_case(type(layer).__name__)
        keys.append(base if seen[base] == 0 else f"{base}_{seen[base]}")
        seen[base] += 1
    return keys


def layer_weights(model: Any) -> dict[str, list[tuple[str, np.ndarray]]]:
    """layer name -> [(path inside the layer, array)], in get_weights order: the model's
    own arrays, so writing into them changes the model."""
    model._require_built("weights")
    out: dict[str, list] = {layer.name: [] for layer in model.layers}
    for path, w in model.weight_slots():
        _, name, key = path.split("/", 2)
        out[name].append((f"{path.split('/', 1)[0]}/{key}", w))
    return out


#: layers whose weights Keras keeps in a `cell` (its RNN layers wrap a cell object)
_CELL_LAYERS = ("SimpleRNN", "LSTM", "GRU")


def _groups(layer: Layer, arrays: list[tuple[str, np.ndarray]]) -> list[tuple[str, list]]:
    """(group path inside the layer's group, arrays) in Keras 3's nesting, the groups
    without arrays included (Keras writes them, and its reader expects them). Layers are
    told apart by class name, as Keras's groups are."""
    kind = type(layer).__name__
    if kind in _CELL_LAYERS:
        if getattr(layer, "peephole", False):
            raise WeightsFileError(f"layer {layer.name!r} is an LSTM with peephole=True, "
                                   "which Keras 3 has no counterpart for; save its weights "
                                   "in adkit's format instead (any name not ending in .h5)")
        return [("vars", []), ("cell/vars", arrays)]
    if kind == "Bidirectional":
        groups = [("vars", [])]
        for side, inner in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
            mine = [(p, w) for p, w in arrays if p.startswith(f"params/{side}/")]
            groups += [(f"{side}_layer/{g}", a) for g, a in _groups(inner, mine)]
        return groups
    if kind == "MultiHeadAttention":   # one EinsumDense per projection, then its sublayers
        groups = [("vars", [])]
        for part, group in PROJECTIONS.items():
            groups.append((f"{group}/vars", [(p, w) for p, w in arrays
                                             if p.startswith(f"params/{part}/")]))
        return groups + [("_softmax/vars", []), ("_dropout_layer/vars", [])]
    if kind == "TimeDistributed":   # Keras's Wrapper keeps the wrapped layer as `layer`
        return [("vars", [])] + [(f"layer/{g}", a) for g, a in _groups(layer.layer, arrays)]
    return [("vars", arrays)]


def _plan(model: Any) -> Iterator[tuple[Layer, str, str, list]]:
    """(layer, its key, group path, [(path, array)]) for every group of the file."""
    weights = layer_weights(model)
    for layer, key in zip(model.layers, layer_keys(model.layers)):
        for group, arrays in _groups(layer, weights[layer.name]):
            yield layer, key, group, arrays


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras's .weights.h5 files need h5py: pip install 'adkit[h5]' "
                          "(or pip install h5py)") from None
    return h5py


def save_keras_weights(model: Any, path: str | os.PathLike) -> None:
    """Write the model's weights as Keras 3's `model.save_weights` does, atomically.

    >>> import tempfile, os
    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(2, input_shape=(3,))], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.weights.h5")
    >>> save_keras_weights(model, path); load_keras_weights(model, path)
    """
    h5py = _h5py()
    plan = list(_plan(model))
    # built in memory, then written: h5py turns an exception raised in a Python file's
    # write (Ctrl-C, a full disk) into its own "File close failed" OSError
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("layers")
        for layer, key, group, arrays in plan:
            g = h5.require_group(f"layers/{key}/{group}")
            g.attrs["name"] = _group_name(layer, group)
            for i, (_, w) in enumerate(arrays):
                g.create_dataset(str(i), data=np.asarray(w))
        h5.create_group("vars").attrs["name"] = str(getattr(model, "name", "sequential"))
    with atomic_write(path, "wb") as f:
        f.write(buffer.getbuffer())


def _group_name(layer: Layer, group: str) -> str:
    """The `name` attribute Keras gives a vars group (informative; its reader ignores it)."""
    parts = group.split("/")
    if parts[0] in ("forward_layer", "backward_layer"):
        inner = layer.forward_layer if parts[0] == "forward_layer" else layer.backward_layer
        return _group_name(inner, "/".join(parts[1:]))
    if parts[0] == "layer" and len(parts) > 1:
        return _group_name(layer.layer, "/".join(parts[1:]))
    if parts[0] == "cell":
        return f"{snake_case(type(layer).__name__)}_cell"
    return layer.name


#: the member of a Keras 3 `.keras` archive that holds the weights, in this same layout
ARCHIVE_MEMBER = "model.weights.h5"


def is_keras_archive(path: str | os.PathLike) -> bool:
    """Whether `path` is a zip archive holding Keras 3's model.weights.h5 (a .keras file)."""
    try:
        with zipfile.ZipFile(path) as z:
            return ARCHIVE_MEMBER in z.namelist()
    except Exception:   # a damaged file of any kind (zipfile raises several types) is not
        return False


def _archive_weights(path: str, plan: list) -> io.BytesIO:
    """The weights member of a .keras archive, read into memory, but no more than what
    this model's weights could take (so a lying archive cannot exhaust memory)."""
    arrays = [w for *_, group_arrays in plan for _, w in group_arrays]
    limit = 2 * sum(w.nbytes for w in arrays) + (1 << 20) + (16 << 10) * (len(plan) + 1)
    buf = io.BytesIO()
    try:
        with zipfile.ZipFile(path) as z, z.open(ARCHIVE_MEMBER) as member:
            while chunk := member.read(min(1 << 20, limit + 1 - buf.tell())):
                buf.write(chunk)
                if buf.tell() > limit:
                    raise WeightsFileError(
                        f"{path!r}: {ARCHIVE_MEMBER} is larger than the weights of this model "
                        f"could need ({limit} bytes); the archive belongs to another model")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise WeightsFileError(f"{path!r}: the .keras archive is damaged ({e})") from None
    buf.seek(0)
    return buf


def load_keras_weights(model: Any, path: str | os.PathLike) -> None:
    """Read a Keras 3 `.weights.h5` file, or the weights in a Keras 3 `.keras` archive,
    into a model of the same layers; the counts and shapes of every layer are checked
    first, and nothing changes on a mismatch."""
    h5py = _h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no weights file at {path!r}")
    plan = list(_plan(model))
    source: Any = _archive_weights(path, plan) if is_keras_archive(path) else path
    try:
        h5 = h5py.File(source, "r")
    except OSError as e:
        raise WeightsFileError(f"{path!r} is not an HDF5 file ({e}); Keras 3 writes "
                               "weights with model.save_weights('x.weights.h5')") from None
    with h5:
        if "layers" not in h5:
            hint = (" (it looks like Keras 2's layout: load it in Keras 2/3 and save it again "
                    "with model.save_weights('x.weights.h5'))"
                    if "model_weights" in h5 or "layer_names" in h5.attrs else "")
            raise WeightsFileError(f"{path!r} has no 'layers' group, so it is not Keras 3's "
                                   f".weights.h5 layout{hint}")
        _check_layers_match(h5["layers"], model, path)
        new = []
        for layer, key, group, arrays in plan:
            where = f"{path!r}, group layers/{key}/{group} (layer {layer.name!r}, " \
                    f"{type(layer).__name__})"
            stored = h5["layers"].get(f"{key}/{group}")
            if stored is None:
                raise WeightsFileError(f"{where}: the file has no such group; the model and "
                                       "the file differ in their layers")
            found = [stored[str(i)] for i in range(len(stored))
                     if isinstance(stored.get(str(i)), h5py.Dataset)]
            if len(found) != len(stored) or len(found) != len(arrays):
                raise WeightsFileError(
                    f"{where}: the file holds {len(stored)} entries {sorted(stored)} "
                    f"(Keras writes datasets 0, 1, ...), the layer has "
                    f"{len(arrays)}: {[(p.split('/')[-1], w.shape) for p, w in arrays]}")
            for (p, w), d in zip(arrays, found):
                if tuple(d.shape) != w.shape:
                    raise WeightsFileError(f"{where}: {p.split('/')[-1]} has shape {w.shape} "
                                           f"in the model, {tuple(d.shape)} in the file")
                if d.dtype.kind not in "fiu":
                    raise WeightsFileError(f"{where}: {p.split('/')[-1]} is stored as "
                                           f"{d.dtype}, not as numbers")
                new.append((w, np.asarray(d[()])))
    for w, a in new:
        np.copyto(w, a, casting="unsafe")


def _check_layers_match(stored: Any, model: Any, path: str) -> None:
    """The file's layer groups are the model's (Keras's own input_layer groups aside)."""
    keys = layer_keys(model.layers)
    extra = sorted(k for k in stored if k not in keys and not k.startswith("input_layer"))
    missing = [k for k in keys if k not in stored]
    if extra or missing:
        raise WeightsFileError(
            f"{path!r} does not fit this model: the file has layer groups {sorted(stored)}, "
            f"the model's layers are {keys} (Keras names the groups by layer class, counted "
            f"per model in order); {'missing in the file: ' + str(missing) if missing else ''}"
            f"{'; ' if missing and extra else ''}"
            f"{'not in the model: ' + str(extra) if extra else ''}")
