"""Weight penalties added to the training loss (Keras names and formulas).

l1(a) adds a * sum|w|, l2(a) adds a * sum w^2 (no factor 1/2, as in Keras).
Layers apply them to their kernels only, never to biases.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Regularizer:
    """A penalty a layer adds to the loss for one of its weights."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        for name, value in (("l1", l1), ("l2", l2)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"regularizer {name} must be a finite number >= 0, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w: Any) -> Any:
        penalty = 0.0
        if self.l1:
            penalty = penalty + self.l1 * np.sum(np.abs(w))
        if self.l2:
            penalty = penalty + self.l2 * np.sum(w * w)
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"Regularizer(l1={self.l1}, l2={self.l2})"


def l1(l1: float = 0.01) -> Regularizer:
    """A penalty l1 * sum(|w|)."""
    return Regularizer(l1=l1)


def l2(l2: float = 0.01) -> Regularizer:
    """A penalty l2 * sum(w ** 2)."""
    return Regularizer(l2=l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:
    """A penalty l1 * sum(|w|) + l2 * sum(w ** 2)."""
    return Regularizer(l1=l1, l2=l2)


def get(identifier: Any) -> Regularizer | None:
    """None, a Regularizer, a name ("l1", "l2", "l1_l2") or a saved config."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in NAMES:
        return NAMES[identifier]()
    if isinstance(identifier, dict) and set(identifier) <= {"l1", "l2"}:
        return Regularizer(**identifier)
    raise ValueError(f"unknown regularizer {identifier!r}; use one of {', '.join(NAMES)}, "
                     "a Regularizer, or a dict with keys 'l1' and 'l2'")


NAMES = {"l1": l1, "l2": l2, "l1_l2": l1_l2}
