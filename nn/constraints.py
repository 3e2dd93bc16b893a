"""Constraints applied to a weight after each optimizer step (Keras names)."""

from __future__ import annotations

from typing import Any

import numpy as np


class Constraint:
    """Projects a weight, in place, back onto an allowed set."""

    def __call__(self, w: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} is a Constraint without __call__: "
                                  "define __call__(self, w) to project w in place")

    def get_config(self) -> dict:
        return {}


class MaxNorm(Constraint):
    """Rescale each incoming weight vector (norm over `axis`) to at most max_value.

    For a Dense kernel (in, out), axis=0 bounds the weights feeding each unit;
    for a Conv2D kernel (kh, kw, c_in, c_out) use axis=(0, 1, 2).
    """

    def __init__(self, max_value: float = 2.0, axis: int | tuple = 0) -> None:
        if not max_value > 0:
            raise ValueError(f"MaxNorm max_value must be > 0, got {max_value!r}")
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, w: np.ndarray) -> None:
        norms = np.sqrt(np.sum(w * w, axis=self.axis, keepdims=True))
        w *= np.clip(norms, 0, self.max_value) / (norms + 1e-7)

    def get_config(self) -> dict:
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {"max_value": self.max_value, "axis": axis}


class NonNeg(Constraint):
    """Clip negative weights to zero."""

    def __call__(self, w: np.ndarray) -> None:
        np.maximum(w, 0, out=w)


def max_norm(max_value: float = 2.0, axis: int | tuple = 0) -> MaxNorm:
    """A MaxNorm constraint: weights rescaled so their norm along axis is <= max_value."""
    return MaxNorm(max_value, axis)


def non_neg() -> NonNeg:
    """A NonNeg constraint: negative weights set to 0 after each update."""
    return NonNeg()


CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg}
NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg}


def get(identifier: Any) -> Constraint | None:
    """None, a Constraint, a name, or a saved {"class_name", "config"} dict."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str) and identifier in NAMES:
        return NAMES[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in CLASSES:
        config = dict(identifier.get("config", {}))
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return CLASSES[identifier["class_name"]](**config)
    raise ValueError(f"unknown constraint {identifier!r}; use one of {', '.join(NAMES)} "
                     "or a Constraint instance")


def serialize(c: Constraint | None) -> dict | None:
    """{"class_name", "config"} of a constraint, for saving (None stays None)."""
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
