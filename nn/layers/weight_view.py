"""Keras's per-layer weight attributes for adkit.nn's own layers.

In Keras a layer owns its variables: `layer.kernel`, `layer.weights`,
`layer.trainable_weights`, `layer.count_params()`, `normalizer.mean`. adkit.nn keeps
weights in the model holding the layer (or, for a layer called alone on arrays, in a
`StandaloneWeights` holder the layer keeps). These helpers read them from there and
hand them out as `WeightArray`s: views of the live arrays (writing one writes the
model's weight) with the variable methods Keras code calls (`numpy()`, `assign`,
`value`, `name`, `path`, `trainable`).
"""

from __future__ import annotations

import weakref
from typing import Any, Iterator

import numpy as np


class WeightArray(np.ndarray):
    """A view of one of a model's weight arrays, with Keras's Variable methods.

    >>> w = WeightArray.of(np.zeros(2), "kernel", "dense/kernel", True)
    >>> w.assign([1.0, 2.0]); w.numpy(), w.name, w.path
    (array([1., 2.]), 'kernel', 'dense/kernel')
    """

    name: str = ""
    path: str = ""
    trainable: bool = True

    @classmethod
    def of(cls, array: np.ndarray, name: str, path: str, trainable: bool) -> "WeightArray":
        """The view of `array` (sharing its memory) named as Keras names the variable."""
        view = array.view(cls)
        view.name, view.path, view.trainable = name, path, trainable
        return view

    def __array_finalize__(self, obj: Any) -> None:
        if obj is not None:
            self.name = getattr(obj, "name", "")
            self.path = getattr(obj, "path", "")
            self.trainable = getattr(obj, "trainable", True)

    def numpy(self) -> np.ndarray:
        """A copy of the current value, as a plain array."""
        return np.array(self, copy=True).view(np.ndarray)

    @property
    def value(self) -> np.ndarray:
        """The live array (Keras's `variable.value`)."""
        return self.view(np.ndarray)

    def assign(self, value: Any) -> None:
        """Write `value` into the weight (the model's array), shape checked."""
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(f"assign to {self.path or self.name!r}: the weight has shape "
                             f"{self.shape}, got {value.shape}")
        np.copyto(self.value, value, casting="same_kind")

    def assign_add(self, delta: Any) -> None:
        """assign(value + delta)."""
        self.assign(self.value + np.asarray(delta))

    def assign_sub(self, delta: Any) -> None:
        """assign(value - delta)."""
        self.assign(self.value - np.asarray(delta))


class StandaloneWeights:
    """The weights of a layer called alone on arrays (Keras builds a layer's variables
    on its first call): the layer's owner, shaped like a model's (params and state
    keyed by the layer's name, `weight_slots()`)."""

    def __init__(self, layer: Any, input_shape: Any, rng: np.random.Generator) -> None:
        self.input_shape = input_shape
        self.params = {layer.name: layer.init_params(rng, input_shape)}
        self.state = {layer.name: layer.init_state(input_shape)}
        self._layer = weakref.ref(layer)

    def weight_slots(self) -> list[tuple[str, np.ndarray]]:
        """("params/<layer>/<key>" or "state/<layer>/<key>", array), parameters first."""
        slots = []
        for kind, tree in (("params", self.params), ("state", self.state)):
            for name, part in tree.items():
                slots += [(f"{kind}/{name}/{k}", w) for k, w in walk(part)]
        return slots


def walk(tree: dict, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """(path, array) for each array in a nested dict, paths joined with "/"."""
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from walk(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


def built_slots(layer: Any) -> list[tuple[str, np.ndarray]] | None:
    """The layer's weight slots from the model (or standalone holder) holding it, or
    None while there is none or it is not built."""
    ref = layer.__dict__.get("_owner")
    owner = None if ref is None else ref()
    if owner is None or getattr(owner, "params", None) is None:
        return None
    if layer.name not in owner.params and layer.name not in (owner.state or {}):
        return None
    mine = (f"params/{layer.name}/", f"state/{layer.name}/")
    return [(path, w) for path, w in owner.weight_slots() if path.startswith(mine)]


def views(layer: Any, slots: list[tuple[str, np.ndarray]]) -> list[WeightArray]:
    """Each slot as a WeightArray named as Keras names it (path "<layer>/<key>")."""
    out = []
    for path, array in slots:
        kind, _, key = path.split("/", 2)
        trainable = kind == "params" and bool(layer.trainable)
        out.append(WeightArray.of(array, key.rsplit("/", 1)[-1], f"{layer.name}/{key}",
                                  trainable))
    return out


def named_weight(layer: Any, name: str) -> WeightArray | None:
    """`layer.<name>` for a weight key (Dense's kernel, Normalization's mean), or None;
    a dict lookup, since every failed attribute lookup on a layer asks it."""
    ref = layer.__dict__.get("_owner")
    owner = None if ref is None else ref()
    if owner is None or getattr(owner, "params", None) is None:
        return None
    for kind, tree in (("params", owner.params), ("state", owner.state or {})):
        part = tree.get(layer.name)
        if isinstance(part, dict) and isinstance(part.get(name), np.ndarray):
            return WeightArray.of(part[name], name, f"{layer.name}/{name}",
                                  kind == "params" and bool(layer.trainable))
    return None
