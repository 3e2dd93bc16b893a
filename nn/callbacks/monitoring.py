"""What the callbacks that watch one logged quantity share: which direction is
better ("min", "max" or guessed from the name) and whether a value improved on the best."""

from __future__ import annotations

import warnings
from typing import Callable

from .base import Callback


def monitor_mode(monitor: str, mode: str) -> Callable[[float, float], bool]:
    """better(current, best) for a monitored quantity."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        maximise = any(k in monitor for k in ("acc", "auc", "precision", "recall", "f1"))
        mode = "max" if maximise else "min"
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


class Monitoring(Callback):
    """Base of the callbacks that watch `monitor` in the epoch logs."""

    def __init__(self, monitor: str, min_delta: float, mode: str) -> None:
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self._better = monitor_mode(monitor, mode)
        self.best: float | None = None

    def _value(self, logs: dict | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} monitors {self.monitor!r}, which is not in the "
                          f"logs (available: {', '.join(logs or {}) or 'none'}); pass "
                          "validation_data for val_ quantities", RuntimeWarning, stacklevel=3)
        return value

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        # a minimised quantity must drop by min_delta, a maximised one rise by it
        shifted = value + self.min_delta if self._better(-1.0, 0.0) else value - self.min_delta
        return self._better(shifted, self.best)
