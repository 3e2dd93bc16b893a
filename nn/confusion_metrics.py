"""Keras 3's confusion counts: TruePositives, FalsePositives, TrueNegatives and
FalseNegatives, each the (weighted) number of entries in that cell at one threshold or
several. As Keras's, every entry of y_pred is its own binary decision (y_pred > threshold)
against its entry of y_true (nonzero is positive), whatever the shapes' rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import losses
from .metric_base import Metric


class _ConditionCount(Metric):
    """The count of one cell of the confusion matrix at each threshold."""

    _cell = ""

    def __init__(self, thresholds: float | list[float] | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        who = type(self).__name__
        self.init_thresholds = thresholds
        listed = np.atleast_1d(np.asarray(0.5 if thresholds is None else thresholds,
                                          dtype=np.float64))
        if listed.ndim != 1 or listed.size == 0 or np.any((listed < 0) | (listed > 1)):
            raise ValueError(f"{who}: thresholds must be a number or a list of numbers in "
                             f"[0, 1], got {thresholds!r}")
        self.thresholds = listed
        super().__init__(name or losses.snake_case(who), dtype)

    def reset_state(self) -> None:
        self._counts = np.zeros(len(self.thresholds))

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        true, pred = losses.matched_targets(np.asarray(y_true), np.asarray(y_pred, np.float64),
                                            self.name)
        true, pred = np.broadcast_arrays(true != 0, pred)
        if sample_weight is None:
            weights = np.ones(pred.shape)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == pred.ndim + 1 and w.shape[-1] == 1:
                w = w[..., 0]
            try:
                weights = np.broadcast_to(w.reshape(w.shape + (1,) * (pred.ndim - w.ndim)),
                                          pred.shape)
            except ValueError:
                raise ValueError(f"{self.name}: sample weights of shape {np.shape(sample_weight)}"
                                 f" for predictions of shape {pred.shape}; pass one weight "
                                 "per example") from None
        positive = pred.ravel()[None, :] > self.thresholds[:, None]
        actual = true.ravel()[None, :]
        cell = {"tp": positive & actual, "fp": positive & ~actual,
                "tn": ~positive & ~actual, "fn": ~positive & actual}[self._cell]
        self._counts += (cell * weights.ravel()[None, :]).sum(axis=1)

    def result(self) -> float | np.ndarray:
        """The count: a float for one threshold, an array for a list of them."""
        return float(self._counts[0]) if np.ndim(self.init_thresholds) == 0 and \
            len(self._counts) == 1 else self._counts.copy()

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """Keras's TruePositives: entries with y_true positive and y_pred > threshold.

    >>> m = TruePositives(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); m.result()
    2.0
    """

    _cell = "tp"


class FalsePositives(_ConditionCount):
    """Keras's FalsePositives: entries with y_true 0 and y_pred > threshold."""

    _cell = "fp"


class TrueNegatives(_ConditionCount):
    """Keras's TrueNegatives: entries with y_true 0 and y_pred <= threshold."""

    _cell = "tn"


class FalseNegatives(_ConditionCount):
    """Keras's FalseNegatives: entries with y_true positive and y_pred <= threshold."""

    _cell = "fn"
