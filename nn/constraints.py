"""Constraints applied to a weight after each optimizer step (Keras names and formulas).

A constraint projects a weight, in place, back onto an allowed set, and returns it
(so Keras code that calls ``MaxNorm(2)(w)`` gets the projected array). A Keras-style
subclass whose ``__call__`` returns a new array instead is copied back into the
weight. Norms are taken over ``axis`` (0 for a Dense kernel's incoming weights;
``(0, 1, 2)`` for a Conv2D kernel), with Keras's epsilon 1e-7 in the division.

>>> import numpy as np
>>> w = np.array([[3.0], [4.0]]); UnitNorm()(w).ravel()
array([0.6, 0.8])
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Callable

import numpy as np

from .configured import Configured

EPSILON = 1e-7  # Keras's backend.epsilon()


def _projecting(call: Callable) -> Callable:
    """Wrap a subclass's __call__ so that a returned new array is written into w."""

    @functools.wraps(call)
    def __call__(self: "Constraint", w: np.ndarray) -> np.ndarray:
        out = call(self, w)
        if out is not None and out is not w:
            np.copyto(w, np.asarray(out), casting="same_kind")
        return w

    return __call__


def _axis(who: str, axis: Any) -> int | tuple:
    if isinstance(axis, list):
        axis = tuple(axis)
    items = axis if isinstance(axis, tuple) else (axis,)
    if not items or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool)
                            for a in items):
        raise ValueError(f"{who}: axis must be an int or a tuple of ints, got {axis!r}")
    return tuple(int(a) for a in axis) if isinstance(axis, tuple) else int(axis)


def _bound(who: str, name: str, value: Any) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value >= 0):
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


class Constraint(Configured):
    """Projects a weight, in place, back onto an allowed set; subclasses define
    ``__call__(w)`` (in place, or returning the projected array, as in Keras) and
    ``get_config``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = _projecting(cls.__dict__["__call__"])

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w




class MaxNorm(Constraint):
    """Rescale each incoming weight vector (norm over `axis`) to at most max_value.

    For a Dense kernel (in, out), axis=0 bounds the weights feeding each unit;
    for a Conv2D kernel (kh, kw, c_in, c_out) use axis=(0, 1, 2).
    """

    def __init__(self, max_value: float = 2.0, axis: int | tuple = 0) -> None:
        if not (isinstance(max_value, numbers.Real) and max_value > 0 and math.isfinite(max_value)):
            raise ValueError(f"MaxNorm max_value must be a finite number > 0, got {max_value!r}")
        self.max_value, self.axis = float(max_value), _axis("MaxNorm", axis)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = _norms(w, self.axis)
        w *= np.clip(norms, 0, self.max_value) / (EPSILON + norms)

    def get_config(self) -> dict:
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {"max_value": self.max_value, "axis": axis}


class NonNeg(Constraint):
    """Clip negative weights to zero."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        np.maximum(w, 0, out=w)


class UnitNorm(Constraint):
    """Rescale each weight vector (norm over ``axis``) to norm 1."""

    def __init__(self, axis: int | tuple = 0) -> None:
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w /= EPSILON + _norms(w, self.axis)

    def get_config(self) -> dict:
        return {"axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


class MinMaxNorm(Constraint):
    """Move each weight vector's norm (over ``axis``) towards [min_value, max_value]:
    the new norm is ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``
    (``rate=1`` projects at once, as Keras)."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int | tuple = 0) -> None:
        who = "MinMaxNorm"
        self.min_value = _bound(who, "min_value", min_value)
        self.max_value = _bound(who, "max_value", max_value)
        if self.max_value < self.min_value:
            raise ValueError(f"{who}: max_value ({max_value!r}) must be >= min_value "
                             f"({min_value!r})")
        self.rate = _bound(who, "rate", rate)
        if self.rate > 1:
            raise ValueError(f"{who}: rate must be in [0, 1], got {rate!r}")
        self.axis = _axis(who, axis)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) \
            + (1 - self.rate) * norms
        w *= desired / (EPSILON + norms)

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


class _Function(Constraint):
    """A plain function f(w) -> projected w, as a constraint (never saved)."""

    def __init__(self, function: Callable) -> None:
        self.function = function

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self.function(w)

    def get_config(self) -> dict:
        raise ValueError(f"the constraint function {self.function!r} is code, which a saved "
                         "model never holds; use one of adkit.nn.constraints' classes")

    def __repr__(self) -> str:
        return f"_Function({self.function!r})"


def max_norm(max_value: float = 2.0, axis: int | tuple = 0) -> MaxNorm:
    """A MaxNorm constraint: weights rescaled so their norm along axis is <= max_value."""
    return MaxNorm(max_value, axis)


def non_neg() -> NonNeg:
    """A NonNeg constraint: negative weights set to 0 after each update."""
    return NonNeg()


def unit_norm(axis: int | tuple = 0) -> UnitNorm:
    """A UnitNorm constraint."""
    return UnitNorm(axis)


def min_max_norm(min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int | tuple = 0) -> MinMaxNorm:
    """A MinMaxNorm constraint."""
    return MinMaxNorm(min_value, max_value, rate, axis)


CLASSES = {c.__name__: c for c in (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
         "min_max_norm": MinMaxNorm}


def get(identifier: Any) -> Constraint | None:
    """None, a Constraint, a name, or a saved {"class_name", "config"} dict."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        cls = CLASSES.get(identifier) or NAMES.get(identifier.lower())
        if cls is not None:
            return cls()
    elif isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = CLASSES.get(name) or NAMES.get(str(name).lower())
        config = identifier.get("config") or {}
        if cls is not None and isinstance(config, dict):
            try:
                return cls.from_config(config)
            except TypeError as e:
                raise ValueError(f"constraint {name!r}: bad config {config} ({e})") from None
    elif callable(identifier):
        return _Function(identifier)
    raise ValueError(f"unknown constraint {identifier!r}; use one of "
                     f"{', '.join(sorted(NAMES) + sorted(CLASSES))}, a Constraint instance, "
                     "a function f(w) -> w, or a {'class_name', 'config'} dict")


def serialize(c: Constraint | None) -> dict | None:
    """{"class_name", "config"} of a constraint, for saving (None stays None)."""
    if isinstance(c, _Function):
        c.get_config()   # raises: a function is code
    if c is not None and type(c).__name__ not in CLASSES:
        raise ValueError(f"the constraint {c!r} is not one of adkit.nn.constraints' classes "
                         f"({', '.join(CLASSES)}), so a saved model could not rebuild it; use "
                         "one of them, or save the weights alone")
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
