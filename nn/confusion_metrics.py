"""Keras 3's threshold metrics: TruePositives, FalsePositives, TrueNegatives,
FalseNegatives, Precision, Recall, SensitivityAtSpecificity, SpecificityAtSensitivity,
PrecisionAtRecall, RecallAtPrecision and AUC. All of them count, as Keras's do, the
(weighted) entries of each confusion cell at one or several thresholds: every entry of
y_pred is its own binary decision (``y_pred > threshold``, compared in float32 as
Keras's variables are) against its entry of y_true (nonzero is positive), whatever the
shapes, so an (N, K) softmax is scored as N*K binary decisions (``class_id=`` picks one
column, ``top_k=`` keeps each row's k largest). scikit-learn's argmax macro average is
``MacroPrecision`` / ``MacroRecall`` in adkit.nn.metrics.

>>> m = Precision(); m.update_state([[0, 1], [1, 0]], [[0.2, 0.9], [0.7, 0.6]]); m.result()
0.666...
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import losses
from .metric_base import Metric

#: the score Keras gives the entries top_k leaves out (never above a threshold)
NEG_INF = -1e10
#: Keras's backend.epsilon(): AUC's end thresholds lie this far outside [0, 1]
EPSILON = 1e-7
_CELLS = ("tp", "fp", "tn", "fn")


# --- shapes and thresholds ---------------------------------------------------

def same_rank(x1: np.ndarray, x2: np.ndarray,
              expand_rank_1: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze_or_expand_to_same_rank: where the ranks differ by one and the
    longer one ends in a 1, that axis is squeezed (or a rank-1 partner expanded)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1:] == (1,):
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1:] == (1,):
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def parse_thresholds(thresholds: Any, default: float, who: str) -> list[float]:
    """A list of thresholds from a number, a list of numbers or None (the default),
    each in [0, 1] as Keras requires."""
    if thresholds is None:
        return [float(default)]
    listed = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if listed.ndim != 1 or listed.size == 0 or np.any((listed < 0) | (listed > 1)):
        raise ValueError(f"{who}: thresholds must be a number or a list of numbers in "
                         f"[0, 1], got {thresholds!r}")
    return [float(t) for t in listed]


def evenly_spaced(thresholds: ArrayLike) -> bool:
    """Keras's is_evenly_distributed_thresholds: 3 or more thresholds i/(n-1)."""
    t = np.asarray(thresholds, dtype=np.float64)
    if t.size < 3:
        return False
    return bool(np.allclose(t, np.arange(t.size, dtype=np.float32) / (t.size - 1),
                            atol=EPSILON))


def _filter_top_k(pred: np.ndarray, k: int) -> np.ndarray:
    """Each row's k largest entries kept, the rest NEG_INF (ties: the first ones, as
    jax.lax.top_k)."""
    order = np.argsort(-pred, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(pred.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, pred, np.float32(NEG_INF)).astype(np.float32)


def _entry_weights(sample_weight: ArrayLike | None, true: np.ndarray, pred: np.ndarray,
                   where: str) -> np.ndarray | None:
    """Per-entry float32 weights from sample weights, as Keras broadcasts them: one per
    example weighs its whole row."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float32)[..., None]
    _, w = same_rank(true, w, expand_rank_1=False)
    try:
        return np.broadcast_to(w, pred.shape)
    except ValueError:
        raise ValueError(f"{where}: sample weights of shape {np.shape(sample_weight)} do not "
                         f"fit predictions of shape {pred.shape}; pass one weight per "
                         "example (or one per entry)") from None


def _prepared(y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None,
              top_k: int | None, class_id: int | None, label_weights: ArrayLike | None,
              where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(positive labels, float32 scores, per-entry weights or None), shaped alike."""
    pred = np.asarray(y_pred)
    if not (np.issubdtype(pred.dtype, np.number) or pred.dtype == bool):
        raise ValueError(f"{where}: y_pred must be numeric scores, got dtype {pred.dtype}")
    true = np.asarray(y_true)
    pred, true = same_rank(pred.astype(np.float32), true.astype(np.float32))
    weights = _entry_weights(sample_weight, true, pred, where) \
        if sample_weight is not None else None
    if top_k is not None:
        pred = _filter_top_k(pred, top_k)
    if class_id is not None:
        if pred.ndim < 2:
            raise ValueError(f"{where}: class_id={class_id} needs y_pred of shape "
                             f"(num_samples, num_classes), got {pred.shape}")
        if not -pred.shape[-1] <= class_id < pred.shape[-1]:
            raise ValueError(f"{where}: class_id={class_id} but y_pred has only "
                             f"{pred.shape[-1]} columns")
        pred = pred[..., class_id, None]
        true = true[..., class_id, None] if true.ndim == pred.ndim else true
        if weights is not None:
            weights = weights[..., class_id, None]
    if true.shape != pred.shape:
        raise ValueError(
            f"{where}: y_true of shape {true.shape} does not match y_pred of shape "
            f"{pred.shape}; Keras's threshold metrics score each entry of y_pred against "
            "its entry of y_true, so give one-hot labels (keras.utils.to_categorical) for "
            "(N, K) outputs, or use MacroPrecision/MacroRecall/MacroF1Score for "
            "scikit-learn's macro average over integer labels")
    if label_weights is not None:
        lw = np.broadcast_to(np.asarray(label_weights, np.float32), pred.shape)
        weights = lw if weights is None else weights * lw
    return true != 0, pred, weights


def confusion_counts(y_true: ArrayLike, y_pred: ArrayLike, thresholds: ArrayLike, *,
                     sample_weight: ArrayLike | None = None, top_k: int | None = None,
                     class_id: int | None = None, multi_label: bool = False,
                     label_weights: ArrayLike | None = None, evenly: bool = False,
                     where: str = "metric") -> dict[str, np.ndarray]:
    """{"tp", "fp", "tn", "fn"}: the weighted number of entries in each confusion cell
    at each threshold, shape (T,), or (T, L) per label column with multi_label — Keras's
    update_confusion_matrix_variables. evenly: thresholds are i/(T-1) (give or take an
    epsilon at the ends), counted by buckets as Keras then does.

    >>> confusion_counts([0, 1, 1], [0.2, 0.7, 0.4], [0.5])["tp"]
    array([1.])
    """
    true, pred, weights = _prepared(y_true, y_pred, sample_weight, top_k, class_id,
                                    None if multi_label else label_weights, where)
    if multi_label:
        if pred.ndim != 2:
            raise ValueError(f"{where}: multi_label needs y_pred of rank 2 (examples, "
                             f"labels), got shape {pred.shape}")
    else:
        true, pred = true.reshape(-1, 1), pred.reshape(-1, 1)
        weights = None if weights is None else weights.reshape(-1, 1)
    w = np.ones(pred.shape) if weights is None else weights.astype(np.float64)
    positives, negatives = true * w, ~true * w
    t = np.asarray(thresholds, dtype=np.float64)
    if evenly:
        tp, fp = _bucket_counts(pred, positives, negatives, t)
    else:
        above = pred[None] > t.astype(np.float32)[:, None, None]     # (T, N, L)
        tp = np.einsum("tnl,nl->tl", above, positives)
        fp = np.einsum("tnl,nl->tl", above, negatives)
    counts = {"tp": tp, "fp": fp, "fn": positives.sum(axis=0) - tp,
              "tn": negatives.sum(axis=0) - fp}
    return {k: v if multi_label else v[:, 0] for k, v in counts.items()}


def _bucket_counts(pred: np.ndarray, positives: np.ndarray, negatives: np.ndarray,
                   t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tp, fp) at evenly spaced thresholds: each score falls in the bucket of the
    highest threshold it exceeds (float32, as Keras's), and a reversed running sum
    counts it at every threshold below."""
    n = t.size
    with_epsilon = t[0] < 0 or t[-1] > 1
    scaled = np.clip(pred, np.float32(0), np.float32(1)) * np.float32(n - 1)
    bucket = np.ceil(scaled).astype(np.int64) - 1
    if with_epsilon:
        bucket = np.maximum(bucket, 0)
    counted = bucket >= 0     # a score of exactly 0 exceeds no threshold i/(n-1)
    labels = pred.shape[1]
    tp, fp = np.zeros((n, labels)), np.zeros((n, labels))
    for j in range(labels):
        b, c = bucket[:, j][counted[:, j]], counted[:, j]
        tp[:, j] = np.bincount(b, positives[c, j], minlength=n)
        fp[:, j] = np.bincount(b, negatives[c, j], minlength=n)
    return np.cumsum(tp[::-1], axis=0)[::-1], np.cumsum(fp[::-1], axis=0)[::-1]


def divide_no_nan(num: ArrayLike, den: ArrayLike) -> np.ndarray:
    """num / den, 0 where den is 0 (Keras's ops.divide_no_nan)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _scalar_or_list(values: np.ndarray, thresholds: list) -> float | np.ndarray:
    """Keras's result: a number for one threshold, an array for several."""
    return float(values[0]) if len(thresholds) == 1 else np.array(values)


# --- the metrics -----------------------------------------------------------------

class _ThresholdMetric(Metric):
    """Confusion cells counted at each threshold into add_variable state (Keras's
    variable names: true_positives, ...)."""

    _cells: tuple[str, ...] = ()
    top_k: int | None = None
    class_id: int | None = None

    def _make_counts(self, shape: tuple) -> None:
        names = {"tp": "true_positives", "fp": "false_positives",
                 "tn": "true_negatives", "fn": "false_negatives"}
        self._counts = {c: self.add_variable(shape, "zeros", "float64", names[c])
                        for c in self._cells}

    def _update(self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None,
                **options: Any) -> None:
        counts = confusion_counts(y_true, y_pred, self.thresholds,
                                  sample_weight=sample_weight, top_k=self.top_k,
                                  class_id=self.class_id, evenly=self._evenly,
                                  where=self.name, **options)
        for cell, variable in self._counts.items():
            variable.assign_add(counts[cell])

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        self._update(y_true, y_pred, sample_weight)

    def _count(self, cell: str) -> np.ndarray:
        return self._counts[cell].value


class _ConditionCount(_ThresholdMetric):
    """The count of one confusion cell at each threshold."""

    def __init__(self, thresholds: float | list[float] | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        who = type(self).__name__
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, 0.5, who)
        self._evenly = evenly_spaced(self.thresholds)
        super().__init__(name or losses.snake_case(who), dtype)
        self._make_counts((len(self.thresholds),))

    def result(self) -> float | np.ndarray:
        """The count: a float for one threshold, an array for several."""
        return _scalar_or_list(self._count(self._cells[0]), self.thresholds)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """Keras's TruePositives: entries with y_true positive and y_pred > threshold.

    >>> m = TruePositives(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); m.result()
    2.0
    """

    _cells = ("tp",)


class FalsePositives(_ConditionCount):
    """Keras's FalsePositives: entries with y_true 0 and y_pred > threshold."""

    _cells = ("fp",)


class TrueNegatives(_ConditionCount):
    """Keras's TrueNegatives: entries with y_true 0 and y_pred <= threshold."""

    _cells = ("tn",)


class FalseNegatives(_ConditionCount):
    """Keras's FalseNegatives: entries with y_true positive and y_pred <= threshold."""

    _cells = ("fn",)


def _check_top_k(top_k: Any, class_id: Any, who: str) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"{who}: top_k must be a positive int or None, got {top_k!r}")
    if class_id is not None and (isinstance(class_id, bool)
                                 or not isinstance(class_id, (int, np.integer))):
        raise ValueError(f"{who}: class_id must be an int (a column of y_pred) or None, "
                         f"got {class_id!r}")


class _PrecisionOrRecall(_ThresholdMetric):
    """TP / (TP + the other cell), 0 where nothing counts (Keras's divide_no_nan)."""

    def __init__(self, thresholds: float | list[float] | None = None, top_k: int | None = None,
                 class_id: int | None = None, name: str | None = None,
                 dtype: Any = None, *, threshold: float | None = None) -> None:
        who = type(self).__name__
        if threshold is not None:   # adkit's older spelling
            if thresholds is not None:
                raise TypeError(f"{who}: give thresholds= (Keras's) or threshold=, not both")
            warnings.warn(f"{who}(threshold=...) is adkit's older spelling; Keras's is "
                          "thresholds=", DeprecationWarning, stacklevel=2)
            thresholds = threshold
        _check_top_k(top_k, class_id, who)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        # with top_k every kept entry is a positive decision (its score beats NEG_INF)
        self.thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF, who)
        self._evenly = evenly_spaced(self.thresholds)
        super().__init__(name, dtype)
        self._make_counts((len(self.thresholds),))

    def result(self) -> float | np.ndarray:
        """The ratio: a float for one threshold, an array for several."""
        tp = self._count("tp")
        return _scalar_or_list(divide_no_nan(tp, tp + self._count(self._cells[1])),
                               self.thresholds)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_PrecisionOrRecall):
    """Keras 3's Precision: TP / (TP + FP) over every entry, at ``thresholds`` (0.5; a
    list gives one precision per threshold), optionally of one column (``class_id``) or
    of each row's ``top_k`` scores only.

    >>> m = Precision(thresholds=[0.3, 0.8]); m.update_state([0, 1, 1], [0.4, 0.9, 0.5])
    >>> m.result()
    array([0.66666667, 1.        ])
    """

    name = "precision"
    _cells = ("tp", "fp")


class Recall(_PrecisionOrRecall):
    """Keras 3's Recall: TP / (TP + FN) over every entry; arguments as Precision's. A
    score equal to the threshold is not above it:

    >>> m = Recall(); m.update_state([0, 1, 1], [0.4, 0.9, 0.5]); m.result()
    0.5
    """

    name = "recall"
    _cells = ("tp", "fn")


def _check_fraction(value: Any, what: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not 0 <= value <= 1:
        raise ValueError(f"{who}: {what} must be a number in [0, 1], got {value!r}")
    return value


class _SensitivitySpecificityBase(_ThresholdMetric):
    """All four cells at num_thresholds evenly spaced thresholds in [0, 1] (0.5 alone
    for one); result() is the best of one rate where another meets its bound."""

    _cells = _CELLS
    _bound = ""   # the constructor argument: "specificity", "sensitivity", ...

    def __init__(self, value: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        who = type(self).__name__
        setattr(self, self._bound, _check_fraction(value, self._bound, who))
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                or num_thresholds <= 0:
            raise ValueError(f"{who}: num_thresholds must be an int > 0, got {num_thresholds!r}")
        _check_top_k(None, class_id, who)
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self._evenly = [0.0] + inner + [1.0], True
        super().__init__(name or losses.snake_case(who), dtype)
        self._make_counts((len(self.thresholds),))

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = (self._count(c) for c in _CELLS)
        return {"sensitivity": divide_no_nan(tp, tp + fn), "recall": divide_no_nan(tp, tp + fn),
                "specificity": divide_no_nan(tn, tn + fp),
                "precision": divide_no_nan(tp, tp + fp)}

    def result(self) -> float:
        """The largest value of the other rate where the bounded one is >= its bound
        (0 where none is)."""
        rates = self._rates()
        feasible = rates[self._bound] >= self.value
        return float(np.max(np.where(feasible, rates[self._reported], 0.0), initial=0.0))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._bound: self.value}


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """Keras's SensitivityAtSpecificity: the best recall at a threshold whose
    specificity (TN / (TN + FP)) is at least ``specificity``."""

    _bound, _reported = "specificity", "sensitivity"

    def __init__(self, specificity: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """Keras's SpecificityAtSensitivity: the best specificity at a threshold whose
    sensitivity (recall) is at least ``sensitivity``."""

    _bound, _reported = "sensitivity", "specificity"

    def __init__(self, sensitivity: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """Keras's PrecisionAtRecall: the best precision at a threshold whose recall is at
    least ``recall``.

    >>> m = PrecisionAtRecall(0.5); m.update_state([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> m.result()
    1.0
    """

    _bound, _reported = "recall", "precision"

    def __init__(self, recall: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_SensitivitySpecificityBase):
    """Keras's RecallAtPrecision: the best recall at a threshold whose precision is at
    least ``precision``."""

    _bound, _reported = "precision", "recall"

    def __init__(self, precision: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)


_CURVES = ("ROC", "PR", "PRGAIN")
_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(_ThresholdMetric):
    """Keras 3's AUC: the area under the ROC (or PR, or PR-gain) curve through the
    confusion counts at ``num_thresholds`` thresholds (or the given ``thresholds`` plus
    one just below 0 and one just above 1), summed by ``summation_method``: trapezoids
    ("interpolation"; for PR, Davis & Goadrich's interpolation), or the lower or upper
    rectangles ("minoring", "majoring"). Every entry counts as one binary decision;
    ``multi_label=True`` gives each column of (N, L) outputs its own curve and averages
    the areas (by ``label_weights``). ``from_logits=True`` reads y_pred through a
    sigmoid. An approximation whose error shrinks as num_thresholds grows; the exact
    areas are roc_auc_score / average_precision_score (or ``ExactAUC``).

    >>> m = AUC(); m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); round(m.result(), 4)
    0.75
    """

    name = "auc"
    _cells = _CELLS

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None,
                 dtype: Any = None, thresholds: list[float] | None = None,
                 multi_label: bool = False, num_labels: int | None = None,
                 label_weights: ArrayLike | None = None, from_logits: bool = False) -> None:
        self.curve = str(getattr(curve, "value", curve)).upper()
        if self.curve not in _CURVES:
            raise ValueError(f"AUC: curve must be one of {_CURVES}, got {curve!r}")
        self.summation_method = str(getattr(summation_method, "value",
                                            summation_method)).lower()
        if self.summation_method not in _SUMMATIONS:
            raise ValueError(f"AUC: summation_method must be one of {_SUMMATIONS}, got "
                             f"{summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, 0.5, "AUC"))
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0] + inner + [1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds,
                                                                  (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an int > 1, got "
                                 f"{num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self.thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        if num_labels and not multi_label:
            raise ValueError("AUC: num_labels is needed only when multi_label=True")
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, dtype=np.float64)
        self.from_logits = bool(from_logits)
        super().__init__(name, dtype)
        self._counts: dict = {}
        if not self.multi_label:
            self._make_counts((self.num_thresholds,))
        elif num_labels:
            self._make_counts((self.num_thresholds, int(num_labels)))

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        scores = np.asarray(y_pred, dtype=np.float64)
        if self.from_logits:
            scores = 0.5 * np.tanh(0.5 * scores) + 0.5
        if self.multi_label and not self._counts:
            if scores.ndim != 2:
                raise ValueError(f"{self.name}: multi_label needs y_pred of rank 2 (examples, "
                                 f"labels), got shape {scores.shape}")
            self._make_counts((self.num_thresholds, scores.shape[1]))
        self._update(y_true, scores, sample_weight, multi_label=self.multi_label,
                     label_weights=None if self.multi_label else self.label_weights)

    def _label_mean(self, by_label: np.ndarray) -> float:
        """The area: one number, or the (weighted) mean of each label's."""
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(divide_no_nan(np.sum(by_label * self.label_weights),
                                   np.sum(self.label_weights)))

    def _interpolated_pr(self) -> float:
        """Davis & Goadrich's area under the PR curve, as Keras's interpolate_pr_auc."""
        tp, fp, fn = self._count("tp"), self._count("fp"), self._count("fn")
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        increment = divide_no_nan(slope * (dtp + intercept * log_ratio),
                                  np.maximum(tp[1:] + fn[1:], 0))
        return self._label_mean(increment.sum(axis=0))

    def result(self) -> float:
        """The area under the chosen curve (0 before any positive, as Keras's)."""
        if not self._counts:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr()
        tp, fp, tn, fn = (self._count(c) for c in _CELLS)
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            scale = divide_no_nan(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * divide_no_nan(fn, tp)), 0.0)
            y = np.where(tp == 0, 1.0, 1.0 - scale * divide_no_nan(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._label_mean(((x[:-1] - x[1:]) * heights).sum(axis=0))

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None
                  else self.label_weights.tolist(), "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
