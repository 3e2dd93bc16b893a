"""The formulas of Keras 3's losses, one value per example: regression (mean squared,
absolute, percentage and squared logarithmic error, huber, log_cosh, cosine_similarity),
probabilistic (kl_divergence, poisson, the binary / categorical / sparse / focal
cross-entropies, with their from_logits, label_smoothing, axis and ignore_class options) and
hinge losses. Written with NumPy on traced values, so adkit differentiates them, and they
run on a device where the model does. adkit.nn.losses gives them by name and as classes.

Targets meet predictions one to one, as in Keras's compiled losses: where their ranks
differ by one and the longer shape ends in 1, the shorter gains that axis ((N,) targets
against (N, 1) predictions), and a pair that would broadcast to anything but the
predictions' shape is refused (see matched_targets). Clipping and epsilons are Keras's
(EPSILON = 1e-7).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit.extend import is_duck_array

from . import activations, backend
from .backend_compat import EPSILON


def matched_targets(y_true: Any, y_pred: Any, loss: str) -> tuple[Any, Any]:
    """(y_true, y_pred) of one rank, as Keras's losses take them; refuses a pair that
    would broadcast to anything but the predictions' shape.

    Where the ranks differ by one and the longer shape ends in 1, the shorter one gains
    that axis (Keras's squeeze_or_expand_to_same_rank): targets (N,) against predictions
    (N, 1) become (N, 1). Without this, (N, 1) - (N,) broadcasts to (N, N), and an
    elementwise loss would silently average over every pair of examples.

    >>> matched_targets(np.zeros(3), np.zeros((3, 1)), "mse")[0].shape
    (3, 1)
    """
    t_shape, p_shape = _shape(y_true), _shape(y_pred)
    if len(t_shape) == len(p_shape) + 1 and t_shape[-1:] == (1,) and len(p_shape) == 1:
        y_pred, p_shape = _as_targets(y_pred).reshape(p_shape + (1,)), p_shape + (1,)
    elif len(p_shape) == len(t_shape) + 1 and p_shape[-1:] == (1,) and len(t_shape) == 1:
        y_true = _as_targets(y_true)
        y_true, t_shape = y_true.reshape(t_shape + (1,)), t_shape + (1,)
    if t_shape == p_shape or t_shape == ():
        return y_true, y_pred
    try:
        together = np.broadcast_shapes(t_shape, p_shape)
    except ValueError:
        together = None
    if len(t_shape) != len(p_shape) or together != p_shape or t_shape[:1] != p_shape[:1]:
        raise ValueError(_mismatch_message(loss, t_shape, p_shape, together))
    return y_true, y_pred


def _mismatch_message(loss: str, t_shape: tuple, p_shape: tuple, together: Any) -> str:
    if t_shape[:1] != p_shape[:1] and len(t_shape) == len(p_shape):
        outcome, fix = (f"hold {t_shape[0]} targets for {p_shape[0]} examples",
                        "pass one target per example")
    else:
        outcome = "do not broadcast together" if together is None else \
            f"would broadcast to {together}" if together != p_shape else \
            "would pair each target with another example's prediction"
        fix = f"give the targets the predictions' shape {p_shape}"
        if len(t_shape) >= 2:
            fix += f", or make the model output shape {t_shape[1:]} per example"
    return (f"loss {loss!r}: targets of shape {t_shape} and predictions of shape {p_shape} "
            f"{outcome}; an elementwise loss compares one target with one prediction, so "
            f"{fix}.")


def _shape(y: Any) -> tuple:
    shape = getattr(y, "shape", None)
    return tuple(shape) if shape is not None else np.shape(y)


def _as_targets(y: Any) -> Any:
    return y if hasattr(y, "reshape") else np.asarray(y)


def _like_predictions(y_true: Any, y_pred: Any) -> Any:
    """Targets as floats of the predictions' dtype (Keras casts y_true so): integer
    one-hot rows against float32 outputs stay float32. Traced and device values pass."""
    if is_duck_array(y_true) or not isinstance(y_true, (np.ndarray, list, tuple, int, float)):
        return y_true
    dtype = getattr(y_pred, "dtype", None)
    dtype = dtype if dtype is not None and np.dtype(dtype).kind == "f" else np.float64
    return np.asarray(y_true, dtype=dtype)


def _paired(y_true: Any, y_pred: Any, loss: str) -> tuple[Any, Any]:
    """matched_targets, with the targets cast to the predictions' dtype."""
    return matched_targets(_like_predictions(y_true, y_pred), y_pred, loss)


def check_axis(axis: Any, loss: str) -> int:
    """axis as an int; anything else (a bool included) is refused naming the loss."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{loss}: axis must be an int, got axis={axis!r}")
    return int(axis)


def check_smoothing(label_smoothing: Any, loss: str) -> float:
    """label_smoothing as a float in [0, 1]; anything else is refused naming the loss."""
    s = float(label_smoothing)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"{loss}: label_smoothing must lie in [0, 1], got {label_smoothing!r}")
    return s


# --- regression ----------------------------------------------------------------------------

def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    """mean((y_pred - y_true) ** 2) over the last axis, per example."""
    y_true, y_pred = matched_targets(y_true, y_pred, "mean_squared_error")
    d = y_pred - y_true
    return np.mean(d * d, axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Any:
    """mean(|y_pred - y_true|) over the last axis, per example."""
    y_true, y_pred = matched_targets(y_true, y_pred, "mean_absolute_error")
    return np.mean(np.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Any:
    """100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON)) over the last axis, as Keras.

    >>> float(mean_absolute_percentage_error(np.array([2.0, 4.0]), np.array([1.0, 5.0])))
    37.5
    """
    y_true, y_pred = _paired(y_true, y_pred, "mean_absolute_percentage_error")
    return 100.0 * np.mean(np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON)),
                           axis=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Any:
    """mean((log(max(y_pred, EPSILON) + 1) - log(max(y_true, EPSILON) + 1)) ** 2) over the
    last axis, as Keras (values at or below 0 count as EPSILON)."""
    y_true, y_pred = _paired(y_true, y_pred, "mean_squared_logarithmic_error")
    d = np.log(np.maximum(y_pred, EPSILON) + 1.0) - np.log(np.maximum(y_true, EPSILON) + 1.0)
    return np.mean(d * d, axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Any:
    """mean over the last axis of 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2,
    with e = y_pred - y_true: quadratic near 0, linear beyond delta.

    >>> float(huber(np.array([0.0, 0.0]), np.array([0.5, 3.0])))
    1.3125
    """
    y_true, y_pred = _paired(y_true, y_pred, "huber")
    error = y_pred - y_true
    size = np.abs(error)
    return np.mean(np.where(size <= delta, 0.5 * error * error, delta * size - 0.5 * delta ** 2),
                   axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> Any:
    """mean(log(cosh(y_pred - y_true))) over the last axis, computed as
    |e| + log1p(exp(-2|e|)) - log 2, which never overflows."""
    y_true, y_pred = _paired(y_true, y_pred, "log_cosh")
    size = np.abs(y_pred - y_true)
    return np.mean(size + np.log1p(np.exp(-2.0 * size)) - np.log(2.0), axis=-1)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Any:
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along axis: -1 for vectors pointing
    the same way, 0 where either is zero (norms below EPSILON count as EPSILON, as Keras).

    >>> float(cosine_similarity(np.array([1.0, 1.0]), np.array([2.0, 2.0])))
    -1.0
    """
    axis = check_axis(axis, "cosine_similarity")
    y_true, y_pred = _paired(y_true, y_pred, "cosine_similarity")
    return -np.sum(_l2_normalized(y_true, axis) * _l2_normalized(y_pred, axis), axis=axis)


def _l2_normalized(x: Any, axis: int) -> Any:
    # x / max(|x|, eps), written with the floor under the square so its derivative stays finite
    squares = np.sum(x * x, axis=axis, keepdims=True)
    return x / np.sqrt(np.maximum(squares, EPSILON * EPSILON))


# --- probabilistic -------------------------------------------------------------------------

def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    """sum(t log(t / p)) over the last axis, t and p clipped to [EPSILON, 1] as Keras."""
    y_true, y_pred = _paired(y_true, y_pred, "kl_divergence")
    t = np.clip(y_true, EPSILON, 1.0)
    return np.sum(t * np.log(t / np.clip(y_pred, EPSILON, 1.0)), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Any:
    """mean(y_pred - y_true * log(y_pred + EPSILON)) over the last axis."""
    y_true, y_pred = _paired(y_true, y_pred, "poisson")
    return np.mean(y_pred - y_true * np.log(y_pred + EPSILON), axis=-1)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """-mean(t log p + (1 - t) log(1 - p)) along axis, p clipped to [EPSILON, 1 - EPSILON]
    as Keras does. label_smoothing s squeezes the targets towards 0.5: t (1 - s) + s / 2.
    from_logits=True: y_pred are logits, and the loss is computed stably from them."""
    axis = check_axis(axis, "binary_crossentropy")
    s = check_smoothing(label_smoothing, "binary_crossentropy")
    y_true, y_pred = _paired(y_true, y_pred, "binary_crossentropy")
    if s:
        y_true = y_true * (1.0 - s) + 0.5 * s
    if from_logits:
        return np.mean(backend.sigmoid_cross_entropy(y_pred, y_true), axis=axis)
    p = np.clip(y_pred, EPSILON, 1 - EPSILON)
    return -np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p), axis=axis)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """-sum(t log p) along axis, with p = y_pred renormalised to sum to 1 and clipped to
    [EPSILON, 1 - EPSILON], as Keras does. label_smoothing s mixes the one-hot targets with
    the uniform distribution: t (1 - s) + s / num_classes. from_logits=True: y_pred are
    logits, p = softmax(y_pred) by log-sum-exp."""
    axis = check_axis(axis, "categorical_crossentropy")
    s = check_smoothing(label_smoothing, "categorical_crossentropy")
    y_true, y_pred = _paired(y_true, y_pred, "categorical_crossentropy")
    if s:
        y_true = y_true * (1.0 - s) + s / _shape(y_true)[-1]
    if from_logits:
        if axis in (-1, len(_shape(y_pred)) - 1):
            return backend.softmax_cross_entropy(y_pred, y_true)
        return -np.sum(y_true * backend.log_softmax(y_pred, axis=axis), axis=axis)
    p = y_pred / np.sum(y_pred, axis=axis, keepdims=True)
    return -np.sum(y_true * np.log(np.clip(p, EPSILON, 1 - EPSILON)), axis=axis)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    ignore_class: int | None = None, axis: int = -1) -> Any:
    """categorical_crossentropy with integer class labels instead of one-hot rows.
    ignore_class: examples with this label (e.g. -1 or 255, a "void" class) lose 0; a
    Loss object's mean then counts only the others, as Keras's mask does."""
    axis = check_axis(axis, "sparse_categorical_crossentropy")
    labels = class_ids(y_true)
    if axis not in (-1, len(_shape(y_pred)) - 1):
        y_pred = np.moveaxis(y_pred, axis, -1)
    valid = None
    if ignore_class is not None:
        _refuse_on_device(labels, "SparseCategoricalCrossentropy(ignore_class=...)",
                          "replace the ignored labels by 0 and give those examples "
                          "sample_weight 0")
        valid = labels != ignore_class
        labels = np.where(valid, labels, 0)
    if from_logits:
        per_example = backend.sparse_softmax_cross_entropy(y_pred, labels)
    else:
        p = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
        picked = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0]
        per_example = -np.log(np.clip(picked, EPSILON, 1 - EPSILON))
    return per_example if valid is None else np.where(valid, per_example, 0.0)


def _refuse_on_device(values: Any, what: str, fix: str) -> None:
    if is_duck_array(values):
        raise NotImplementedError(f"{what} does not run on device='opencl' (the device kernels "
                                  f"compare float32 values, and these labels are int32); "
                                  f"train on the CPU (device='cpu'), or {fix}")


def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False,
                              alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                              label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """Binary cross-entropy scaled by (1 - p_t) ** gamma, p_t the probability given to the
    true class, so confident right answers weigh little (Lin et al. 2017); with
    apply_class_balancing, class 1 also weighs alpha and class 0 1 - alpha. Mean along
    axis; probabilities clipped as binary_crossentropy's (logits go through a sigmoid)."""
    axis = check_axis(axis, "binary_focal_crossentropy")
    s = check_smoothing(label_smoothing, "binary_focal_crossentropy")
    y_true, y_pred = _paired(y_true, y_pred, "binary_focal_crossentropy")
    if s:
        y_true = y_true * (1.0 - s) + 0.5 * s
    p = activations.sigmoid(y_pred) if from_logits else y_pred
    clipped = np.clip(p, EPSILON, 1 - EPSILON)
    bce = -(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped))
    p_true = y_true * p + (1 - y_true) * (1 - p)
    focal = np.power(1.0 - p_true, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal
    return np.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: Any = 0.25,
                                   gamma: float = 2.0, from_logits: bool = False,
                                   label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """sum(alpha (1 - p) ** gamma * -t log p) along axis: categorical cross-entropy that
    down-weighs classes already predicted well. alpha may be one weight per class.
    p as categorical_crossentropy's (renormalised, clipped; softmax of logits)."""
    axis = check_axis(axis, "categorical_focal_crossentropy")
    s = check_smoothing(label_smoothing, "categorical_focal_crossentropy")
    y_true, y_pred = _paired(y_true, y_pred, "categorical_focal_crossentropy")
    if s:
        y_true = y_true * (1.0 - s) + s / _shape(y_true)[-1]
    p = activations.softmax(y_pred, axis=axis) if from_logits else y_pred
    p = np.clip(p / np.sum(p, axis=axis, keepdims=True), EPSILON, 1 - EPSILON)
    weight = np.power(1.0 - p, gamma) * (alpha if np.ndim(alpha) == 0 else np.asarray(alpha))
    return np.sum(weight * (-y_true * np.log(p)), axis=axis)


# --- hinge ---------------------------------------------------------------------------------

def _signed_labels(y_true: Any, y_pred: Any, loss: str) -> tuple[Any, Any]:
    """(targets in {-1, 1}, predictions): 0/1 labels have their 0s mapped to -1."""
    t = y_true if is_duck_array(y_true) else np.asarray(y_true)
    t, y_pred = matched_targets(t, y_pred, loss)
    return np.where(t == 0, -1.0, t).astype(np.result_type(t.dtype, np.float32)), y_pred


def hinge(y_true: Any, y_pred: Any) -> Any:
    """mean(max(1 - t * y, 0)) with labels t in {-1, 1}; 0/1 labels are mapped."""
    t, y_pred = _signed_labels(y_true, y_pred, "hinge")
    return np.mean(np.maximum(1.0 - t * y_pred, 0.0), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Any:
    """mean(max(1 - t * y, 0) ** 2) with labels t in {-1, 1}; 0/1 labels are mapped."""
    t, y_pred = _signed_labels(y_true, y_pred, "squared_hinge")
    margin = np.maximum(1.0 - t * y_pred, 0.0)
    return np.mean(margin * margin, axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Any:
    """max(neg - pos + 1, 0) with pos = sum(t * y) and neg = max((1 - t) * y) over the
    last axis: the true class's score should beat every other by a margin of 1."""
    y_true, y_pred = _paired(y_true, y_pred, "categorical_hinge")
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1.0 - y_true) * y_pred, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


def class_ids(y: Any) -> Any:
    """Integer class labels: a trailing axis of 1 dropped ((N, 1) -> (N,)), as int64
    (labels already on a device stay there).

    >>> class_ids(np.array([[2.0], [0.0]]))
    array([2, 0])
    """
    if is_duck_array(y):   # labels already on a device, as integers: they stay there
        return np.reshape(y, y.shape[:-1]) if y.ndim >= 2 and y.shape[-1] == 1 else y
    if getattr(y, "dtype", None) is None:   # arrays and adkit.compile's staged values stay
        y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] == 1:   # (N, 1) column of ids; a batch of one stays (1,)
        y = y[..., 0]
    return y.astype(np.int64)


# what Keras's loss classes compute with from_logits=True (the model's output is the logits)
def categorical_crossentropy_from_logits(y_true: Any, y_pred: Any,
                                         label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """categorical_crossentropy of softmax(y_pred), by log-sum-exp: y_pred are logits."""
    return categorical_crossentropy(y_true, y_pred, True, label_smoothing, axis)


def sparse_categorical_crossentropy_from_logits(y_true: Any, y_pred: Any,
                                                ignore_class: int | None = None,
                                                axis: int = -1) -> Any:
    """sparse_categorical_crossentropy of softmax(y_pred), by log-sum-exp: y_pred are logits."""
    return sparse_categorical_crossentropy(y_true, y_pred, True, ignore_class, axis)


def binary_crossentropy_from_logits(y_true: Any, y_pred: Any, label_smoothing: float = 0.0,
                                    axis: int = -1) -> Any:
    """binary_crossentropy of sigmoid(y_pred), computed stably: y_pred are logits."""
    return binary_crossentropy(y_true, y_pred, True, label_smoothing, axis)
