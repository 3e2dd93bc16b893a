"""Keras 3's FBetaScore and F1Score: per-class F-scores of (N, K) outputs against
one-hot (or multi-hot) labels, from true/false positive and false negative counts kept
per class (``average=None``, "macro", "weighted") or over all entries ("micro").
``threshold=None`` marks each row's largest score(s) as its prediction (the argmax, as
one-hot); a threshold marks every score above it. The formulas carry Keras's epsilons.

>>> m = F1Score(average="macro"); m.update_state(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 2]])
>>> round(m.result(), 4)
0.6
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .confusion_metrics import EPSILON
from .metric_base import Metric

_AVERAGES = (None, "micro", "macro", "weighted")


def _positive_float(value: Any, what: str, who: str, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or value <= 0 or (upper is not None and value > upper):
        bound = f"in (0, {upper:g}]" if upper is not None else "> 0"
        raise ValueError(f"{who}: {what} must be a number {bound}, got {value!r}")
    return float(value)


class FBetaScore(Metric):
    """Keras 3's FBetaScore: (1 + beta^2) P R / (beta^2 P + R) per class, or averaged:
    "micro" over all entries, "macro" the plain mean of the classes', "weighted" by
    each class's (weighted) number of true labels; ``average=None`` gives one score per
    class (an array). Inputs (N, K) both, one-hot or multi-hot y_true.
    """

    name = "fbeta_score"

    def __init__(self, average: str | None = None, beta: float = 1.0,
                 threshold: float | None = None, name: str = "fbeta_score",
                 dtype: Any = None) -> None:
        who = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(f"{who}: average must be one of {_AVERAGES}, got {average!r}")
        self.average = average
        self.beta = _positive_float(beta, "beta", who)
        self.threshold = None if threshold is None else \
            _positive_float(threshold, "threshold", who, upper=1.0)
        self.axis = None if average == "micro" else 0
        super().__init__(name, dtype)
        self._built = False

    def _build(self, true_shape: tuple, pred_shape: tuple) -> None:
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ValueError(f"{self.name}: FBetaScore takes 2-D inputs (batch_size, "
                             f"classes), got y_true {true_shape} and y_pred {pred_shape}; "
                             "one-hot encode integer labels (keras.utils.to_categorical)")
        shape = () if self.average == "micro" else (pred_shape[-1],)
        for name in ("true_positives", "false_positives", "false_negatives",
                     "intermediate_weights"):
            setattr(self, name, self.add_variable(shape, "zeros", "float64", name))
        self._built = True

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        true = np.asarray(y_true, dtype=np.float32)
        pred = np.asarray(y_pred, dtype=np.float32)
        if not self._built:
            self._build(true.shape, pred.shape)
        if true.shape != pred.shape:
            raise ValueError(f"{self.name}: y_true of shape {true.shape} does not match "
                             f"y_pred of shape {pred.shape}; give one-hot labels")
        if self.threshold is None:
            # the row's largest scores; an all-zero row predicts nothing
            hits = (pred >= pred.max(axis=-1, keepdims=True)) & (np.abs(pred) > 1e-9)
        else:
            hits = pred > self.threshold
        hits = hits.astype(np.float64)
        true = true.astype(np.float64)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == 2 and w.shape[1] == 1:
                w = w[:, 0]
            if w.ndim > 1 or (w.ndim == 1 and len(w) != len(pred)):
                raise ValueError(f"{self.name}: sample weights of shape {w.shape} for "
                                 f"{len(pred)} examples; pass one weight per example")
            w = w[..., None] if w.ndim == 1 else w

        def weighted_sum(values: np.ndarray) -> np.ndarray:
            if sample_weight is not None:
                values = values * w
            return values.sum(axis=self.axis)

        self.true_positives.assign_add(weighted_sum(hits * true))
        self.false_positives.assign_add(weighted_sum(hits * (1 - true)))
        self.false_negatives.assign_add(weighted_sum((1 - hits) * true))
        self.intermediate_weights.assign_add(weighted_sum(true))

    def result(self) -> float | np.ndarray:
        """The score: per class (average=None, an array) or averaged (a float)."""
        if not self._built:
            return 0.0
        tp, fp, fn = (v.value for v in (self.true_positives, self.false_positives,
                                        self.false_negatives))
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            weights = self.intermediate_weights.value
            return float(np.sum(score * weights / (np.sum(weights) + EPSILON)))
        if self.average is not None:
            return float(np.mean(score))
        return np.array(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """Keras 3's F1Score: FBetaScore with beta = 1 (2 P R / (P + R) per class)."""

    name = "f1_score"

    def __init__(self, average: str | None = None, threshold: float | None = None,
                 name: str = "f1_score", dtype: Any = None) -> None:
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
