"""Keras 3's streaming metrics that are a running mean of one value per example:
Accuracy, the top-k accuracies, RootMeanSquaredError (the root of one), and the metrics that
share a loss's formula (mean absolute percentage and squared logarithmic error, KL
divergence, Poisson, log-cosh, cosine similarity, the hinges and the cross-entropies).
adkit.nn.metrics gives them by name for compile(metrics=[...]).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import losses
from .metric_base import MeanMetric, MeanMetricWrapper

# --- the metrics ----------------------------------------------------
# Each is a running mean of one value per example (Keras's MeanMetricWrapper), from the loss
# function of the same formula where there is one.

def _equal_matches(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """1.0 where y_true equals y_pred exactly (shapes matched as the losses match them)."""
    true, pred = losses.matched_targets(np.asarray(y_true), np.asarray(y_pred), "accuracy")
    return (true == pred).astype(np.float64)


def _in_top_k(labels: np.ndarray, scores: np.ndarray, k: int, where: str) -> np.ndarray:
    """1.0 where the label's score is among the k largest of its row (ties count as in,
    as Keras's in_top_k: rank = 1 + the number of strictly larger scores)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim < 1 or labels.shape != scores.shape[:-1]:
        raise ValueError(f"{where}: labels of shape {labels.shape} do not match scores of "
                         f"shape {scores.shape}; give one label per row of scores")
    picked = np.take_along_axis(scores, labels[..., None], axis=-1)
    picked = np.where(np.isnan(picked), -np.inf, picked)
    return (1 + np.sum(scores > picked, axis=-1) <= k).astype(np.float64)


def _top_k_matches(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5) -> np.ndarray:
    true = np.asarray(y_true)
    if true.shape != np.shape(y_pred):
        raise ValueError(f"top_k_categorical_accuracy: one-hot y_true of shape {true.shape} "
                         f"does not match y_pred of shape {np.shape(y_pred)}; for integer "
                         "labels use sparse_top_k_categorical_accuracy")
    return _in_top_k(np.argmax(true, axis=-1), y_pred, k, "top_k_categorical_accuracy")


def _sparse_top_k_matches(y_true: ArrayLike, y_pred: ArrayLike, k: int = 5,
                          from_sorted_ids: bool = False) -> np.ndarray:
    where = "sparse_top_k_categorical_accuracy"
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.ndim == pred.ndim and true.shape[-1:] == (1,):
        true = true[..., 0]
    if from_sorted_ids:   # y_pred holds class ids, best first
        return np.any(true[..., None] == pred[..., :k], axis=-1).astype(np.float64)
    if not np.all(np.equal(np.mod(true, 1), 0)):
        raise ValueError(f"{where}: y_true must hold integer class ids; for one-hot labels "
                         "use top_k_categorical_accuracy")
    true = true.astype(np.int64)
    if true.size and (true.min() < 0 or true.max() >= pred.shape[-1]):
        raise ValueError(f"{where}: y_true has labels outside 0..{pred.shape[-1] - 1}, the "
                         "columns of y_pred")
    return _in_top_k(true, pred, k, where)


def _cosine(y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1) -> np.ndarray:
    """The cosine of the angle between y_true and y_pred (1 for the same direction)."""
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


class Accuracy(MeanMetricWrapper):
    """Keras's Accuracy: the fraction of predictions that equal their targets exactly (for
    labels, not probabilities: compile's "accuracy" picks binary/categorical/sparse)."""

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(_equal_matches, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Keras's TopKCategoricalAccuracy: how often the one-hot target's class is among the
    k highest scores.

    >>> m = TopKCategoricalAccuracy(k=2)
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.5, 0.4], [0.7, 0.1, 0.2]]); m.result()
    0.5
    """

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy",
                 dtype: Any = None) -> None:
        super().__init__(_top_k_matches, name, dtype, k=k)
        self.k = k

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Keras's SparseTopKCategoricalAccuracy: integer targets among the k highest scores;
    from_sorted_ids=True: y_pred already holds the class ids, best first."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy",
                 dtype: Any = None, from_sorted_ids: bool = False) -> None:
        super().__init__(_sparse_top_k_matches, name, dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids

    def get_config(self) -> dict:
        config = {**super().get_config(), "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


class RootMeanSquaredError(MeanMetric):
    """Keras's RootMeanSquaredError: sqrt of the running mean of squared errors.

    >>> m = RootMeanSquaredError()
    >>> m.update_state([0.0, 0.0], [3.0, 4.0]); round(m.result(), 6)
    3.535534
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        true, pred = losses.matched_targets(np.asarray(y_true, dtype=np.float64),
                                            np.asarray(y_pred, dtype=np.float64), self.name)
        super().update_state((pred - true) ** 2, sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Keras's MeanAbsolutePercentageError ("mape"): losses.mean_absolute_percentage_error."""

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Keras's MeanSquaredLogarithmicError ("msle"): losses.mean_squared_logarithmic_error."""

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_squared_logarithmic_error, name, dtype)


class KLDivergence(MeanMetricWrapper):
    """Keras's KLDivergence metric: losses.kl_divergence."""

    def __init__(self, name: str = "kl_divergence", dtype: Any = None) -> None:
        super().__init__(losses.kl_divergence, name, dtype)


class Poisson(MeanMetricWrapper):
    """Keras's Poisson metric: losses.poisson."""

    def __init__(self, name: str = "poisson", dtype: Any = None) -> None:
        super().__init__(losses.poisson, name, dtype)


class LogCoshError(MeanMetricWrapper):
    """Keras's LogCoshError (logged as "logcosh"): losses.log_cosh."""

    def __init__(self, name: str = "logcosh", dtype: Any = None) -> None:
        super().__init__(losses.log_cosh, name, dtype)


class CosineSimilarity(MeanMetricWrapper):
    """Keras's CosineSimilarity metric: the cosine along axis, 1 for the same direction
    (the loss of that name is its negative)."""

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None,
                 axis: int = -1) -> None:
        super().__init__(_cosine, name, dtype, axis=axis)
        self.axis = axis


class Hinge(MeanMetricWrapper):
    """Keras's Hinge metric: losses.hinge (0/1 targets mapped to -1/1)."""

    def __init__(self, name: str = "hinge", dtype: Any = None) -> None:
        super().__init__(losses.hinge, name, dtype)


class SquaredHinge(MeanMetricWrapper):
    """Keras's SquaredHinge metric: losses.squared_hinge."""

    def __init__(self, name: str = "squared_hinge", dtype: Any = None) -> None:
        super().__init__(losses.squared_hinge, name, dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Keras's CategoricalHinge metric: losses.categorical_hinge."""

    def __init__(self, name: str = "categorical_hinge", dtype: Any = None) -> None:
        super().__init__(losses.categorical_hinge, name, dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Keras's BinaryCrossentropy metric: losses.binary_crossentropy, same options."""

    def __init__(self, name: str = "binary_crossentropy", dtype: Any = None,
                 from_logits: bool = False, label_smoothing: float = 0.0) -> None:
        super().__init__(losses.binary_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(MeanMetricWrapper):
    """Keras's CategoricalCrossentropy metric: losses.categorical_crossentropy, same options."""

    def __init__(self, name: str = "categorical_crossentropy", dtype: Any = None,
                 from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1) -> None:
        super().__init__(losses.categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Keras's SparseCategoricalCrossentropy metric; examples labelled ignore_class weigh 0."""

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: Any = None,
                 from_logits: bool = False, ignore_class: int | None = None,
                 axis: int = -1) -> None:
        super().__init__(losses.sparse_categorical_crossentropy, name, dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        if self.ignore_class is not None:
            kept = (losses.class_ids(y_true) != self.ignore_class).astype(np.float64)
            sample_weight = kept if sample_weight is None else \
                kept * np.reshape(sample_weight, np.shape(sample_weight) + (1,) * (
                    kept.ndim - np.ndim(sample_weight)))
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}
