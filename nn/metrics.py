"""Classification metrics: functions with scikit-learn's names and answers,
and streaming objects with Keras's names for ``model.compile(metrics=[...])``.

The functions take whole arrays and return a float (an array for curves and
``average=None``). The streaming metrics keep sufficient statistics from batch
to batch (weighted sums, a confusion matrix, or for ExactAUC the scores themselves),
so their result over batches of any sizes equals the function on the whole set.
Keras 3's streaming metrics live in nn/mean_metrics.py and nn/metric_base.py (top-k
accuracy, RootMeanSquaredError, MAPE, KL divergence, the hinges, Mean, Sum, ...),
nn/confusion_metrics.py (Precision, Recall, AUC, the confusion counts and the
*At* metrics, which score every entry of y_pred as Keras's do) and nn/fscore_metrics.py
(F1Score, FBetaScore); this module gives every one of them by class and by Keras's
string name (``get``). scikit-learn's streaming precision, recall and F1 (the macro
average over argmax classes) are MacroPrecision, MacroRecall and MacroF1Score here.

Conventions shared by both:

* Probabilities become labels by ``p > threshold`` (Keras's strict comparison),
  ``threshold=0.5`` by default.
* A ratio whose denominator is zero (precision with no predicted positives,
  recall with no actual positives, F1 with neither) is 0.0, as scikit-learn's
  ``zero_division=0``.
* Sums are taken in float64 whatever the input dtype.

>>> import numpy as np
>>> from adkit.nn import metrics
>>> metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import json

import numpy as np
from numpy.typing import ArrayLike

from . import custom_objects, losses
from .mean_metrics import (
    Accuracy, BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, CosineSimilarity,
    Hinge, KLDivergence, LogCoshError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    Poisson, RootMeanSquaredError, SparseCategoricalCrossentropy, SparseTopKCategoricalAccuracy,
    SquaredHinge, TopKCategoricalAccuracy)
from .confusion_metrics import (
    AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
    RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives,
    TruePositives)
from .fscore_metrics import F1Score, FBetaScore
from .metric_base import Mean, MeanMetric, MeanMetricWrapper, Metric, Sum

__all__ = [
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "confusion_matrix", "precision", "recall", "f1_score",
    "roc_curve", "auc", "roc_auc_score", "precision_recall_curve", "average_precision_score",
    "Metric", "MeanMetric", "MeanMetricWrapper",
    "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "Precision", "Recall", "F1Score", "AUC", "MeanSquaredError", "MeanAbsoluteError", "get",
    "WeightedMetric", "Accuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "RootMeanSquaredError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "KLDivergence", "Poisson", "CosineSimilarity", "LogCoshError", "Hinge", "SquaredHinge",
    "CategoricalHinge", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "Mean", "Sum", "TruePositives", "FalsePositives",
    "TrueNegatives", "FalseNegatives", "FBetaScore", "PrecisionAtRecall", "RecallAtPrecision",
    "SensitivityAtSpecificity", "SpecificityAtSensitivity", "MacroPrecision", "MacroRecall",
    "MacroF1Score", "ExactAUC",
]

_AVERAGES = (None, "binary", "macro", "micro", "weighted")


# --- input checks -----------------------------------------------------------

def _column(y: ArrayLike, name: str, where: str) -> np.ndarray:
    """``y`` as a 1-D array; a column of shape (N, 1) counts as (N,)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{where}: {name} must have shape (N,) or (N, 1), got {y.shape}")
    return y


def _rows(y: ArrayLike, name: str, where: str) -> np.ndarray:
    """``y`` as a 2-D array with one row per sample; (N,) counts as (N, 1)."""
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"{where}: {name} must have shape (N,) or (N, K), got {y.shape}")
    return y


def _same_length(where: str, **arrays: np.ndarray) -> int:
    """The common number of samples; a mismatch or zero samples is an error."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = " but ".join(f"{name} has {n} samples" for name, n in lengths.items())
        raise ValueError(f"{where}: {detail}; pass one entry per sample in each")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"{where}: got empty arrays; pass at least one sample")
    return n


def _sample_weights(sample_weight: ArrayLike | None, n: int, where: str) -> np.ndarray:
    """Per-sample float64 weights: ones when None, a scalar repeated, or a column of n."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        return np.full(n, float(w))
    w = _column(w, "sample_weight", where)
    if len(w) != n:
        raise ValueError(f"{where}: sample_weight has {len(w)} entries but there are {n} samples; "
                         "pass one weight per sample")
    return w


def _scores(y: ArrayLike, name: str, where: str) -> np.ndarray:
    """A 1-D float64 array of finite scores."""
    s = _column(np.asarray(y, dtype=np.float64), name, where)
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{where}: {name} contains nan or inf; pass finite scores")
    return s


def _class_labels(y: ArrayLike, name: str, where: str,
                  threshold: float | None = None) -> np.ndarray:
    """Integer class labels from labels, one-hot/score rows (argmax), or probabilities.

    Rows of width K >= 2 become their argmax. A 1-D float array with a
    non-integer value is read as probabilities of class 1 when ``threshold`` is
    given, and is an error otherwise.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    y = _column(y, name, where)
    if y.dtype == bool or np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"{where}: {name} must be numeric class labels, got dtype {y.dtype}; "
                         "encode classes as integers 0..K-1")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{where}: {name} contains nan or inf")
    if np.all(y == np.round(y)):
        return y.astype(np.int64)
    if threshold is None:
        bad = y[y != np.round(y)][0]
        raise ValueError(f"{where}: {name} must hold integer class labels (or one-hot rows), "
                         f"but it has {bad:g}; round, threshold or argmax it first")
    if np.any((y < 0) | (y > 1)):
        bad = y[(y < 0) | (y > 1)][0]
        raise ValueError(f"{where}: {name} must hold class labels or probabilities in [0, 1], "
                         f"but it has {bad:g}; apply a sigmoid to logits first")
    return (y > threshold).astype(np.int64)


def _require_binary(labels: np.ndarray, name: str, where: str, fix: str) -> None:
    """Reject anything but 0/1 values in ``labels``."""
    found = np.unique(labels)
    if not np.all(np.isin(found, (0, 1))):
        shown = ", ".join(f"{v:g}" for v in found[:6]) + (", ..." if found.size > 6 else "")
        raise ValueError(f"{where}: {name} has labels {{{shown}}}, but this metric is binary "
                         f"and needs 0/1 labels; {fix}")


def _weighted_mean(values: np.ndarray, sample_weight: ArrayLike | None, where: str) -> float:
    w = _sample_weights(sample_weight, len(values), where)
    total = w.sum()
    if total == 0:
        raise ValueError(f"{where}: the sample weights sum to zero; "
                         "give some sample a positive weight")
    return float(np.dot(values, w) / total)


# --- accuracy -----------------------------------------------------------------
# Each `_..._matches` returns one value in [0, 1] per sample, so the functions
# and the streaming metrics weight samples identically.

def _binary_matches(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5,
                    where: str = "binary_accuracy") -> np.ndarray:
    if np.ndim(y_true) > 2 or np.ndim(y_pred) > 2:
        # sequences (N, T, L): one value per step, the mean over its L labels, as Keras's
        true, pred = losses.matched_targets(np.asarray(y_true),
                                            np.asarray(y_pred, dtype=np.float64), where)
        _require_binary(np.asarray(true), "y_true", where,
                        "for integer class labels use sparse_categorical_accuracy")
        return np.mean(true == (pred > threshold), axis=-1)
    true = _rows(y_true, "y_true", where)
    pred = _rows(np.asarray(y_pred, dtype=np.float64), "y_pred", where)
    _same_length(where, y_true=true, y_pred=pred)
    if true.shape != pred.shape:
        raise ValueError(f"{where}: y_true has shape {true.shape} but y_pred has shape "
                         f"{pred.shape}; binary accuracy compares them entry by entry, "
                         "so give them one shape")
    _require_binary(true, "y_true", where,
                    "for integer class labels use sparse_categorical_accuracy")
    # A multi-label row scores the fraction of its labels that are right, as Keras.
    return np.mean(true == (pred > threshold), axis=1)


def _categorical_matches(y_true: ArrayLike, y_pred: ArrayLike,
                         where: str = "categorical_accuracy") -> np.ndarray:
    true = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if true.ndim < 2 or true.shape != pred.shape:
        raise ValueError(f"{where}: y_true has shape {true.shape} and y_pred has shape "
                         f"{pred.shape}, but both must be (N, ..., K) with one-hot y_true; "
                         "for integer labels use sparse_categorical_accuracy")
    # one value per step of a sequence (N, T, K), as Keras's: a mask or per-step weights
    # weigh them; the mean over them is the example's
    return (np.argmax(true, axis=-1) == np.argmax(pred, axis=-1)).astype(np.float64)


def _sparse_categorical_matches(y_true: ArrayLike, y_pred: ArrayLike,
                                where: str = "sparse_categorical_accuracy") -> np.ndarray:
    true = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if pred.ndim > 2 and true.shape in (pred.shape[:-1], pred.shape[:-1] + (1,)):
        # a sequence's integer labels (N, T) against scores (N, T, K): one value per step
        steps = _sparse_categorical_matches(true.reshape(-1), pred.reshape(-1, pred.shape[-1]),
                                            where)
        return steps.reshape(pred.shape[:-1])
    if pred.ndim != 2 or (true.ndim == 2 and true.shape[1] > 1):
        raise ValueError(f"{where}: needs integer labels y_true of shape (N,) and scores y_pred "
                         f"of shape (N, K), got {true.shape} and {pred.shape}; for one-hot "
                         "y_true use categorical_accuracy")
    true = _class_labels(true, "y_true", where)
    _same_length(where, y_true=true, y_pred=pred)
    if true.min() < 0 or true.max() >= pred.shape[1]:
        bad = true[(true < 0) | (true >= pred.shape[1])][0]
        raise ValueError(f"{where}: y_true has label {bad} but y_pred has only {pred.shape[1]} "
                         f"columns (classes 0..{pred.shape[1] - 1})")
    return (true == np.argmax(pred, axis=1)).astype(np.float64)


def binary_accuracy(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5, *,
                    sample_weight: ArrayLike | None = None) -> float:
    """Fraction of 0/1 labels matched by ``y_pred > threshold``.

    Shapes (N,), (N, 1) and multi-label (N, L) are accepted; a multi-label row
    counts the fraction of its L labels that are right.

    >>> binary_accuracy([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])
    0.5
    """
    matches = _binary_matches(y_true, y_pred, threshold)
    return _weighted_mean(matches, sample_weight, "binary_accuracy")


def categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *,
                         sample_weight: ArrayLike | None = None) -> float:
    """Fraction of rows whose argmax of one-hot ``y_true`` equals that of ``y_pred``.

    >>> categorical_accuracy([[0, 1], [1, 0]], [[0.3, 0.7], [0.4, 0.6]])
    0.5
    """
    matches = _categorical_matches(y_true, y_pred)
    matches = matches.reshape(len(matches), -1).mean(axis=1)   # each example's mean
    return _weighted_mean(matches, sample_weight, "categorical_accuracy")


def sparse_categorical_accuracy(y_true: ArrayLike, y_pred: ArrayLike, *,
                                sample_weight: ArrayLike | None = None) -> float:
    """Fraction of integer labels ``y_true`` equal to the argmax of the rows of ``y_pred``.

    >>> sparse_categorical_accuracy([1, 0, 2], [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.5, 0.2, 0.3]])
    0.666...
    """
    matches = _sparse_categorical_matches(y_true, y_pred)
    return _weighted_mean(matches.reshape(len(matches), -1).mean(axis=1), sample_weight,
                          "sparse_categorical_accuracy")


# --- confusion matrix, precision, recall, F1 ----------------------------------

def _confusion(true: np.ndarray, pred: np.ndarray, k: int,
               weights: np.ndarray | None) -> np.ndarray:
    """k x k counts (weighted when ``weights`` is given) of indices in [0, k)."""
    return np.bincount(true * k + pred, weights=weights, minlength=k * k).reshape(k, k)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None, *,
                     sample_weight: ArrayLike | None = None) -> np.ndarray:
    """Counts of (true, predicted) label pairs: rows are true labels, columns predicted.

    With ``num_classes=None`` the rows and columns are the sorted labels present
    in either array, as scikit-learn; with ``num_classes=K`` they are 0..K-1, so
    a class missing from this data still has its row. Rows of width K >= 2
    (one-hot or scores) are read as their argmax. Integer counts, or float sums
    of weights when ``sample_weight`` is given.

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    where = "confusion_matrix"
    true = _class_labels(y_true, "y_true", where)
    pred = _class_labels(y_pred, "y_pred", where)
    n = _same_length(where, y_true=true, y_pred=pred)
    weights = None if sample_weight is None else _sample_weights(sample_weight, n, where)
    if num_classes is None:
        labels = np.union1d(true, pred)
        true, pred = np.searchsorted(labels, true), np.searchsorted(labels, pred)
        num_classes = labels.size
    else:
        for name, labels in (("y_true", true), ("y_pred", pred)):
            outside = labels[(labels < 0) | (labels >= num_classes)]
            if outside.size:
                raise ValueError(f"{where}: {name} has label {outside[0]}, outside "
                                 f"0..{num_classes - 1}; raise num_classes or fix the labels")
    return _confusion(true, pred, num_classes, weights)


def _ratio(which: str, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Precision, recall or F1 from counts, 0.0 where the denominator is 0."""
    num, den = {"precision": (tp, predicted),
                "recall": (tp, actual),
                "f1": (2 * tp, predicted + actual)}[which]
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _score_from_confusion(cm: np.ndarray, which: str, average: str | None) -> float | np.ndarray:
    """Precision, recall or F1 from a confusion matrix, averaged as scikit-learn."""
    tp, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    if average == "binary":
        return float(_ratio(which, tp[1], predicted[1], actual[1]))
    if average == "micro":
        return float(_ratio(which, tp.sum(), predicted.sum(), actual.sum()))
    per_class = _ratio(which, tp, predicted, actual)
    if average is None:
        return per_class
    if average == "weighted" and actual.sum() > 0:
        return float(np.average(per_class, weights=actual))
    return float(per_class.mean())


def _precision_recall_f1(which: str, where: str, y_true: ArrayLike, y_pred: ArrayLike,
                         average: str | None, threshold: float,
                         sample_weight: ArrayLike | None) -> float | np.ndarray:
    if average not in _AVERAGES:
        raise ValueError(f"{where}: average={average!r} is not one of {_AVERAGES}")
    true = _class_labels(y_true, "y_true", where)
    pred = _class_labels(y_pred, "y_pred", where, threshold)
    n = _same_length(where, y_true=true, y_pred=pred)
    weights = _sample_weights(sample_weight, n, where)
    if average == "binary":
        fix = "for multiclass labels pass average='macro', 'micro', 'weighted' or None"
        _require_binary(true, "y_true", where, fix)
        _require_binary(pred, "y_pred", where, fix)
        return _score_from_confusion(_confusion(true, pred, 2, weights), which, average)
    labels = np.union1d(true, pred)
    true, pred = np.searchsorted(labels, true), np.searchsorted(labels, pred)
    cm = _confusion(true, pred, labels.size, weights)
    return _score_from_confusion(cm, which, average)


def precision(y_true: ArrayLike, y_pred: ArrayLike, *, average: str | None = "binary",
              threshold: float = 0.5, sample_weight: ArrayLike | None = None) -> float | np.ndarray:
    """TP / (TP + FP), 0.0 when nothing is predicted positive (scikit-learn's zero_division=0).

    ``average="binary"`` scores class 1 of 0/1 labels; ``y_pred`` may hold
    probabilities, which count as class 1 when ``> threshold``. For multiclass
    labels (or (N, K) score rows, read as their argmax) ``average`` is
    ``"macro"``, ``"micro"``, ``"weighted"`` or None (one score per label
    present in either array, sorted), as scikit-learn's ``precision_score``.

    >>> precision([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])
    0.5
    """
    return _precision_recall_f1("precision", "precision", y_true, y_pred, average, threshold,
                                sample_weight)


def recall(y_true: ArrayLike, y_pred: ArrayLike, *, average: str | None = "binary",
           threshold: float = 0.5, sample_weight: ArrayLike | None = None) -> float | np.ndarray:
    """TP / (TP + FN), 0.0 when there are no actual positives (zero_division=0).

    Labels, probabilities and ``average`` as in :func:`precision`.

    >>> recall([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])
    0.5
    """
    return _precision_recall_f1("recall", "recall", y_true, y_pred, average, threshold, sample_weight)


def f1_score(y_true: ArrayLike, y_pred: ArrayLike, *, average: str | None = "binary",
             threshold: float = 0.5, sample_weight: ArrayLike | None = None) -> float | np.ndarray:
    """2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall; 0.0 when
    there are neither predicted nor actual positives (zero_division=0).

    Labels, probabilities and ``average`` as in :func:`precision`.

    >>> f1_score([0, 1, 2, 2], [0, 2, 2, 2], average="macro")
    0.6
    """
    return _precision_recall_f1("f1", "f1_score", y_true, y_pred, average, threshold, sample_weight)


# --- ranking metrics ----------------------------------------------------------

def _counts_at_thresholds(y_true: ArrayLike, scores: ArrayLike, sample_weight: ArrayLike | None,
                          where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fps, tps, thresholds): weighted negatives and positives with score >= each
    distinct score, scores decreasing — scikit-learn's ``confusion_matrix_at_thresholds``."""
    true = _column(y_true, "y_true", where)
    s = _scores(scores, "scores", where)
    n = _same_length(where, y_true=true, scores=s)
    _require_binary(true, "y_true", where,
                    "mark the positive class 1 and the rest 0, e.g. y_true == k")
    w = _sample_weights(sample_weight, n, where)
    # Zero-weight samples must not create thresholds of their own (as scikit-learn).
    keep = w != 0
    if not keep.any():
        raise ValueError(f"{where}: every sample weight is zero; give some sample a nonzero weight")
    true, s, w = true[keep].astype(np.float64), s[keep], w[keep]
    order = np.argsort(s, kind="stable")[::-1]
    true, s, w = true[order], s[order], w[order]
    # Tied scores are one threshold: take the running totals at the end of each run.
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    return np.cumsum((1 - true) * w)[ends], np.cumsum(true * w)[ends], s[ends]


def roc_curve(y_true: ArrayLike, scores: ArrayLike, *, sample_weight: ArrayLike | None = None,
              drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of the ROC curve of 0/1 labels ranked by ``scores``.

    Matches scikit-learn's ``roc_curve``: ``thresholds[0]`` is inf so the curve
    starts at (0, 0), and ``drop_intermediate`` removes points collinear with
    their neighbours. ``y_true`` must hold both classes.

    >>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr, tpr
    (array([0. , 0. , 0.5, 0.5, 1. ]), array([0. , 0.5, 0.5, 1. , 1. ]))
    """
    where = "roc_curve"
    fps, tps, thresholds = _counts_at_thresholds(y_true, scores, sample_weight, where)
    if fps[-1] <= 0 or tps[-1] <= 0:
        only = "negatives (0s)" if tps[-1] <= 0 else "positives (1s)"
        raise ValueError(f"{where}: y_true holds only {only}, so the ROC curve and its AUC are "
                         "undefined; evaluate on data that has both classes")
    if drop_intermediate and fps.size > 2:
        # A point is kept where the curve bends; collinear runs contribute no area.
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def auc(x: ArrayLike, y: ArrayLike) -> float:
    """Area under the curve through the points (x, y) by the trapezoid rule.

    ``x`` must be monotonic, increasing or decreasing, as in scikit-learn's ``auc``.

    >>> auc([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
    0.75
    """
    where = "auc"
    x = _scores(x, "x", where)
    y = _scores(y, "y", where)
    n = _same_length(where, x=x, y=y)
    if n < 2:
        raise ValueError(f"{where}: need at least 2 points to measure an area, got {n}")
    dx = np.diff(x)
    if np.any(dx < 0) and np.any(dx > 0):
        raise ValueError(f"{where}: x is neither increasing nor decreasing; sort the points by x")
    return float(abs(np.trapezoid(y, x)))


def roc_auc_score(y_true: ArrayLike, scores: ArrayLike, *,
                  sample_weight: ArrayLike | None = None) -> float:
    """Area under the ROC curve: the probability that a random positive outscores
    a random negative, a tie counting one half (the Mann-Whitney U / (n1 n0)).

    >>> roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    0.875
    """
    fpr, tpr, _ = roc_curve(y_true, scores, sample_weight=sample_weight)
    # The trapezoid over a run of tied scores is exactly the half credit for ties.
    return auc(fpr, tpr)


def precision_recall_curve(y_true: ArrayLike, scores: ArrayLike, *,
                           sample_weight: ArrayLike | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) at each distinct score, thresholds increasing.

    As scikit-learn (with its default ``drop_intermediate=False``): the last
    point is (precision 1, recall 0) and has no threshold. ``y_true`` must hold
    a positive, since recall is undefined without one.

    >>> p, r, t = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> p.round(2), r
    (array([0.5 , 0.67, 0.5 , 1.  , 1.  ]), array([1. , 1. , 0.5, 0.5, 0. ]))
    >>> t
    array([0.1 , 0.35, 0.4 , 0.8 ])
    """
    where = "precision_recall_curve"
    fps, tps, thresholds = _counts_at_thresholds(y_true, scores, sample_weight, where)
    if tps[-1] <= 0:
        raise ValueError(f"{where}: y_true holds no positives (1s), so recall is undefined; "
                         "evaluate on data that has positives")
    predicted = tps + fps
    precisions = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    return np.r_[precisions[::-1], 1.0], np.r_[(tps / tps[-1])[::-1], 0.0], thresholds[::-1]


def average_precision_score(y_true: ArrayLike, scores: ArrayLike, *,
                            sample_weight: ArrayLike | None = None) -> float:
    """Sum over thresholds of (R_n - R_{n-1}) P_n: precision weighted by each step in
    recall, scikit-learn's step-wise definition (no trapezoid interpolation).

    >>> average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.833...
    """
    p, r, _ = precision_recall_curve(y_true, scores, sample_weight=sample_weight)
    # Recall decreases along the curve, hence the minus; max() clears a rounding -0.0.
    return max(0.0, float(-np.sum(np.diff(r) * p[:-1])))


# --- streaming metrics --------------------------------------------------------

class MeanSquaredError(MeanMetricWrapper):
    """Streaming mean squared error (Keras's "mse" metric): targets (N,) against
    predictions (N, 1) are compared one to one, as the loss compares them."""

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Streaming mean absolute error (Keras's "mae" metric)."""

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_absolute_error, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """Streaming :func:`binary_accuracy`."""

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None,
                 threshold: float = 0.5) -> None:
        super().__init__(functools.partial(_binary_matches, threshold=threshold), name, dtype)
        self.threshold = threshold

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """Streaming :func:`categorical_accuracy` (one-hot labels)."""

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(_categorical_matches, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Streaming :func:`sparse_categorical_accuracy` (integer labels)."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(_sparse_categorical_matches, name, dtype)



def _accuracy_for_shapes(true_shape: tuple, pred_shape: tuple, name: str) -> Metric:
    """Keras's choice for "accuracy" from the shapes of one batch."""
    if len(pred_shape) < 2 or pred_shape[-1] == 1:
        return BinaryAccuracy(name)
    if len(true_shape) < len(pred_shape) or true_shape[-1] == 1:
        return SparseCategoricalAccuracy(name)
    return CategoricalAccuracy(name)


class _ShapeChosenAccuracy(Metric):
    """Keras's "accuracy" when the loss does not settle its kind: the first batch's shapes do."""

    def __init__(self, name: str = "accuracy") -> None:
        self._chosen: Metric | None = None
        super().__init__(name)

    def reset_state(self) -> None:
        if self._chosen is not None:
            self._chosen.reset_state()

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        if self._chosen is None:
            self._chosen = _accuracy_for_shapes(np.shape(y_true), np.shape(y_pred), self.name)
        self._chosen.update_state(y_true, y_pred, sample_weight)

    def result(self) -> float:
        return self._chosen.result() if self._chosen is not None else 0.0


class _ConfusionMetric(Metric):
    """scikit-learn's precision, recall or F1 from a confusion matrix summed over batches
    (not Keras's: Keras's Precision/Recall score every entry, see confusion_metrics.py).

    ``y_pred`` of shape (N,) or (N, 1) is binary: 0/1 labels or probabilities of
    class 1 (positive when ``> threshold``), scored for class 1. ``y_pred`` of
    shape (N, K >= 2), e.g. a softmax, is multiclass: its argmax against integer
    or one-hot ``y_true``, macro-averaged over the classes seen — so a
    two-column softmax gets the macro average of both classes, not class 1's score.
    """

    _which = ""

    def __init__(self, name: str | None = None, threshold: float = 0.5,
                 dtype: Any = None) -> None:
        self.threshold = threshold
        super().__init__(name, dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}

    def reset_state(self) -> None:
        self._average: str | None = None   # "binary" or "macro", fixed by the first batch
        self._cm = np.zeros((0, 0))
        self._seen = np.zeros(0, dtype=bool)

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        where = self.name
        y_pred = np.asarray(y_pred)
        multiclass = y_pred.ndim == 2 and y_pred.shape[1] > 1
        average, k = ("macro", y_pred.shape[1]) if multiclass else ("binary", 2)
        true = _class_labels(y_true, "y_true", where)
        pred = _class_labels(y_pred, "y_pred", where, self.threshold)
        n = _same_length(where, y_true=true, y_pred=pred)
        weights = _sample_weights(sample_weight, n, where)
        if multiclass and (true.min() < 0 or true.max() >= k):
            raise ValueError(f"{where}: y_true has labels outside 0..{k - 1}, "
                             "the columns of y_pred")
        if not multiclass:
            fix = "for class labels give y_pred as (N, K) scores, one column per class"
            _require_binary(true, "y_true", where, fix)
            _require_binary(pred, "y_pred", where, fix)
        if self._average is None:
            self._average, self._cm, self._seen = average, np.zeros((k, k)), np.zeros(k, dtype=bool)
        elif (average, k) != (self._average, self._cm.shape[0]):
            raise ValueError(f"{where}: this batch is {average} with {k} classes but earlier "
                             f"ones were {self._average} with {self._cm.shape[0]}; "
                             "call reset_state() between tasks")
        self._cm += _confusion(true, pred, k, weights)
        # Macro averages over labels present, as scikit-learn; presence ignores weights.
        self._seen[true] = True
        self._seen[pred] = True

    def result(self) -> float:
        if self._average is None:
            return 0.0
        if self._average == "binary":
            return _score_from_confusion(self._cm, self._which, "binary")
        seen = self._seen
        return _score_from_confusion(self._cm[np.ix_(seen, seen)], self._which, "macro")


class MacroPrecision(_ConfusionMetric):
    """Streaming :func:`precision` (scikit-learn's): binary for y_pred (N,) or (N, 1),
    the macro average over the argmax classes for (N, K) against integer or one-hot
    labels. Keras's Precision scores every entry instead; this is adkit's own.

    >>> m = MacroPrecision(); m.update_state([0, 1, 2, 2], np.eye(3)[[0, 2, 2, 2]]); m.result()
    0.555...
    """

    name = "macro_precision"
    _which = "precision"


class MacroRecall(_ConfusionMetric):
    """Streaming :func:`recall` (scikit-learn's), binary or macro as MacroPrecision."""

    name = "macro_recall"
    _which = "recall"


class MacroF1Score(_ConfusionMetric):
    """Streaming :func:`f1_score` (scikit-learn's), binary or macro as MacroPrecision
    (Keras's F1Score keeps per-class counts of one-hot outputs instead)."""

    name = "macro_f1_score"
    _which = "f1"


class ExactAUC(Metric):
    """Streaming :func:`roc_auc_score`, exact: it keeps every score and ranks them at
    ``result()`` (Keras's AUC counts at num_thresholds thresholds instead: an
    approximation, see confusion_metrics.AUC). adkit's own.

    ``y_pred`` of shape (N,) or (N, 1) scores class 1 of 0/1 labels; (N, 2)
    uses column 1; (N, K > 2) gives the macro average of one-vs-rest AUCs
    (scikit-learn's ``multi_class="ovr"``) against integer or one-hot labels.
    The result is nan while a class has no positive or no negative yet.

    ``curve="PR"`` gives the area under the precision-recall curve, exact as
    :func:`average_precision_score` (step-wise; nan until there is a positive);
    ``from_logits=True`` reads y_pred through a sigmoid.
    """

    name = "exact_auc"

    def __init__(self, curve: str = "ROC", name: str | None = None, dtype: Any = None,
                 from_logits: bool = False) -> None:
        self.curve = str(curve).upper()
        if self.curve not in ("ROC", "PR"):
            raise ValueError(f"ExactAUC: curve must be 'ROC' or 'PR', got {curve!r}")
        self.from_logits = bool(from_logits)
        super().__init__(name, dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "curve": self.curve,
                "from_logits": self.from_logits}

    def reset_state(self) -> None:
        self._labels: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        where = self.name
        scores = np.asarray(y_pred, dtype=np.float64)
        if self.from_logits:
            scores = 0.5 * np.tanh(0.5 * scores) + 0.5
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim not in (1, 2):
            raise ValueError(f"{where}: y_pred must have shape (N,), (N, 1) or (N, K), "
                             f"got {scores.shape}")
        if self._scores and scores.shape[1:] != self._scores[0].shape[1:]:
            raise ValueError(f"{where}: y_pred has shape {scores.shape}, unlike earlier batches "
                             f"{self._scores[0].shape}; call reset_state() between tasks")
        labels = _class_labels(y_true, "y_true", where)
        n = _same_length(where, y_true=labels, y_pred=scores)
        k = 2 if scores.ndim == 1 else scores.shape[1]
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"{where}: y_true has labels outside 0..{k - 1}; binary AUC "
                             "needs 0/1 labels, multiclass one label per column of y_pred")
        self._labels.append(labels)
        self._scores.append(scores)
        self._weights.append(_sample_weights(sample_weight, n, where))

    def result(self) -> float:
        if not self._scores:
            return float("nan")
        labels, scores, weights = (np.concatenate(a)
                                   for a in (self._labels, self._scores, self._weights))
        if scores.ndim == 1:
            return _auc_or_nan(labels, scores, weights, self.curve)
        if scores.shape[1] == 2:
            return _auc_or_nan(labels, scores[:, 1], weights, self.curve)
        return float(np.mean([_auc_or_nan((labels == k).astype(np.int64), scores[:, k],
                                          weights, self.curve)
                              for k in range(scores.shape[1])]))


def _auc_or_nan(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                curve: str = "ROC") -> float:
    """roc_auc_score (or for curve "PR" average_precision_score), or nan (as scikit-learn)
    while a class the area needs has no weight yet."""
    positive = weights[labels == 1].sum()
    negative = weights[labels != 1].sum()
    if curve == "PR":
        return average_precision_score(labels, scores, sample_weight=weights) \
            if positive > 0 else float("nan")
    if positive <= 0 or negative <= 0:
        return float("nan")
    return roc_auc_score(labels, scores, sample_weight=weights)


class WeightedMetric(Metric):
    """A compiled metric that the sample weights of fit and evaluate apply to
    (compile's ``weighted_metrics``); plain compiled metrics count every example once,
    as Keras's do.

    >>> m = WeightedMetric(get("mae"), "weighted_mae")
    >>> m.update_state(np.zeros((2, 1)), np.array([[1.0], [3.0]]), sample_weight=[3.0, 1.0])
    >>> m.result()
    1.5
    """

    def __init__(self, metric: Metric, name: str) -> None:
        self.metric = metric
        super().__init__(name)

    def reset_state(self) -> None:
        self.metric.reset_state()

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        self.metric.update_state(y_true, y_pred, sample_weight)

    def result(self) -> float:
        return self.metric.result()


# --- compiled metrics and masks -------------------------------------------------

def applies_mask(metric: Any) -> bool:
    """Whether Keras weighs this metric's values by its output's mask: the metrics that
    average one value per example or step (MeanMetricWrapper's) do; the threshold
    metrics (Precision, AUC, ...) and custom Metric subclasses do not."""
    inner = getattr(metric, "metric", None)   # WeightedMetric, or one output's metric
    if isinstance(inner, Metric) or hasattr(inner, "update_state"):
        return applies_mask(inner)
    return isinstance(metric, (MeanMetricWrapper, _ShapeChosenAccuracy))


def masked_sample_weight(mask: ArrayLike, sample_weight: ArrayLike | None = None) -> np.ndarray:
    """Keras's apply_mask for metrics (reduction "sum"): the mask as 0/1 weights, times
    the sample weights (one per example weighs each of its steps).

    >>> masked_sample_weight(np.array([[True, False]]), [3.0])
    array([[3., 0.]])
    """
    weights = np.asarray(mask, dtype=np.float64)
    if sample_weight is None:
        return weights
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == weights.ndim + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    return weights * w.reshape(w.shape + (1,) * max(weights.ndim - w.ndim, 0))


def update_compiled(metric: Any, y_true: Any, y_pred: Any, sample_weight: Any = None,
                    mask: Any = None) -> None:
    """Fold one batch into a compiled metric as Keras's fit/evaluate do: the output's
    mask (if any) weighs the metrics that take it, times sample_weight where given."""
    if mask is not None and getattr(metric, "takes_mask", False):   # an output's loss
        metric.update_state(y_true, y_pred, sample_weight=sample_weight, mask=mask)
        return
    if mask is not None and applies_mask(metric):
        sample_weight = masked_sample_weight(mask, sample_weight)
    if sample_weight is None:
        metric.update_state(y_true, y_pred)
    else:
        metric.update_state(y_true, y_pred, sample_weight=sample_weight)


# --- resolving names ----------------------------------------------------------

_BY_NAME: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision,
    "recall": Recall,
    "f1": MacroF1Score,          # adkit's older name: scikit-learn's F1 (Keras has no "f1")
    "f1_score": F1Score,
    "fbeta_score": FBetaScore,
    "auc": AUC,
    "macro_precision": MacroPrecision,
    "macro_recall": MacroRecall,
    "macro_f1_score": MacroF1Score,
    "exact_auc": ExactAUC,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "cosine_similarity": CosineSimilarity,
    "logcosh": LogCoshError,
    "log_cosh": LogCoshError,
    "log_cosh_error": LogCoshError,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "true_positives": TruePositives,
    "false_positives": FalsePositives,
    "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives,
}

#: Keras's class names, as keras.metrics.get takes them ("TopKCategoricalAccuracy")
CLASSES: dict[str, type[Metric]] = {cls.__name__: cls for cls in (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Precision, Recall, F1Score, AUC,
    MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, KLDivergence, Poisson, CosineSimilarity, LogCoshError, Hinge,
    SquaredHinge, CategoricalHinge, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, TruePositives, FalsePositives, TrueNegatives,
    FalseNegatives, FBetaScore, PrecisionAtRecall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, MacroPrecision, MacroRecall,
    MacroF1Score, ExactAUC)}

# Keyed by the loss name without underscores, so "BinaryCrossentropy" matches too.
_ACCURACY_BY_LOSS: dict[str, type[Metric]] = {
    "binarycrossentropy": BinaryAccuracy,
    "categoricalcrossentropy": CategoricalAccuracy,
    "sparsecategoricalcrossentropy": SparseCategoricalAccuracy,
}


def get(identifier: str | Metric | type | Callable, loss: str | None = None) -> Metric:
    """The Metric for a name, class, instance or function, as ``compile(metrics=[...])`` takes.

    "accuracy" / "acc" follow Keras: binary for ``binary_crossentropy``,
    categorical for ``categorical_crossentropy``, sparse for
    ``sparse_categorical_crossentropy``; with any other loss (mse, hinge, ...)
    the first batch's shapes decide: one output column means binary, integer
    labels against K columns sparse, one-hot labels categorical. A function
    ``f(y_true, y_pred) -> float`` becomes a per-sample-weighted mean named
    ``f.__name__``; a Metric instance is returned as is.

    >>> get("acc", loss="sparse_categorical_crossentropy")
    <SparseCategoricalAccuracy 'acc'>
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier in CLASSES:
            return CLASSES[identifier](name=identifier)
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            loss_key = loss.lower().replace("_", "") if isinstance(loss, str) else None
            chosen = _ACCURACY_BY_LOSS.get(loss_key, _ShapeChosenAccuracy)
            return chosen(identifier)
        if key in _BY_NAME:
            return _BY_NAME[key](name=identifier)
        custom = custom_objects.lookup(identifier)
        if custom is not None:
            return get(custom, loss)
        valid = ", ".join(repr(n) for n in ("accuracy", "acc", *_BY_NAME, *CLASSES))
        raise ValueError(f"unknown metric {identifier!r}; valid names are {valid}, or pass a Metric "
                         "or a function f(y_true, y_pred) -> float")
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"a metric must be a name, a Metric or a function f(y_true, y_pred) -> float, "
                    f"got {type(identifier).__name__}")


def serialize(spec: Any) -> str | dict | None:
    """What a saved model stores for one of compile's metrics: a name stays a name, a
    function is stored by its (registered) name, a Metric by {"class_name", "config"}
    (Keras's layout); None for a metric whose config is not JSON (it is left out).

    >>> serialize("mae"), serialize(AUC(num_thresholds=50))["config"]["num_thresholds"]
    ('mae', 50)
    """
    if isinstance(spec, str):
        return spec
    if isinstance(spec, type) and issubclass(spec, Metric):
        return {"class_name": spec.__name__, "config": {}}
    if isinstance(spec, Metric):
        config = {"class_name": type(spec).__name__, "config": spec.get_config()}
        try:
            json.dumps(config)
        except (TypeError, ValueError):
            return None
        return config
    if callable(spec):
        return custom_objects.get_registered_name(spec)
    return None


def saved_metrics(specs: Any) -> list:
    """serialize() of each metric of compile's metrics list, the inner lists of a list
    per output kept as lists; metrics that cannot be stored are left out."""
    saved = [saved_metrics(m) if isinstance(m, (list, tuple)) else serialize(m) for m in specs]
    return [m for m in saved if m is not None]


def deserialize(config: str | dict) -> Metric:
    """The Metric serialize() described; a class of your own is found through
    custom_objects (load_model's argument, or @register_keras_serializable)."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"a serialized metric is a name or a dict with 'class_name' and "
                         f"'config', got {config!r}")
    name = config["class_name"]
    cls = CLASSES.get(name) or custom_objects.lookup(name)
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise ValueError(f"unknown metric class {name!r}: a Metric of your own is found by "
                         "name when registered with @keras.saving.register_keras_serializable() "
                         "or given in load_model(..., custom_objects={name: class})")
    return cls.from_config(dict(config.get("config") or {}))
