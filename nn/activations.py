"""Activation functions by Keras name, written with NumPy on traced values.

Each works on plain arrays and on adkit's traced values alike, so its
derivative comes from the same table of rules as everything else.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import backend


def linear(x: Any) -> Any:
    """x unchanged (the identity; the default of Dense)."""
    return x


def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x), written through tanh so it never overflows."""
    return 0.5 * np.tanh(0.5 * x) + 0.5


def hard_sigmoid(x: Any) -> Any:
    """clip(0.2 x + 0.5, 0, 1): the piecewise-linear sigmoid of Keras 2."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def tanh(x: Any) -> Any:
    """The hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x), in (-1, 1)."""
    return np.tanh(x)


def scaled_tanh(x: Any) -> Any:
    """1.7159 tanh(2x/3): LeCun's recommended symmetric sigmoid, f(±1) ≈ ±1."""
    return 1.7159 * np.tanh(x * (2.0 / 3.0))


def relu(x: Any) -> Any:
    """max(x, 0), one backend primitive (its derivative at 0 is 0, as in Keras)."""
    return backend.relu(x)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along `axis`, shifted by the maximum: one primitive of the
    backend (nn/backend.py), so it also runs on a device."""
    return backend.softmax(x, axis=axis)


def softplus(x: Any) -> Any:
    """log(1 + e^x), stable for large |x|."""
    return np.logaddexp(0.0, x)


def softsign(x: Any) -> Any:
    """x / (1 + |x|), in (-1, 1)."""
    return x / (1.0 + np.abs(x))


def elu(x: Any) -> Any:
    """x for x > 0, e^x - 1 otherwise (Clevert et al. 2016, alpha = 1)."""
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


ALL: dict[str, Callable] = {f.__name__: f for f in (
    linear, sigmoid, hard_sigmoid, tanh, scaled_tanh, relu, softmax, softplus, softsign, elu)}


def get(identifier: str | Callable | None) -> Callable:
    """An activation from its Keras name (None means linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier.lower() in ALL:
            return ALL[identifier.lower()]
        raise ValueError(f"unknown activation {identifier!r}; valid names: {', '.join(ALL)}")
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a function, got {type(identifier).__name__}")


def name_of(fn: Callable) -> str:
    """The name under which an activation is saved in a model config."""
    name = getattr(fn, "__name__", None)
    if ALL.get(name) is not fn:
        raise ValueError(f"activation {fn!r} is not one of adkit.nn.activations "
                         f"({', '.join(ALL)}), so a saved model could not name it")
    return name
