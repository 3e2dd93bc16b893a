"""Training losses by Keras 3 name. Each function maps (y_true, y_pred) to one value per
example; the model averages them over the batch. Keras's loss classes
(CategoricalCrossentropy(label_smoothing=0.1), Huber(delta=2.0), ...) configure them, reduce
them ("sum_over_batch_size", "sum", "none", ...) and serialize as Keras's
{"class_name", "config"}; a Loss subclass defines call(y_true, y_pred) as in Keras.

Targets meet predictions one to one, as in Keras's compiled losses: where their
ranks differ by one and the longer shape ends in 1, the shorter gains that axis
((N,) targets against (N, 1) predictions), and a pair that would broadcast to
anything but the predictions' shape is refused (see matched_targets).

Formulas, clipping and epsilons are Keras's (EPSILON = 1e-7): cross-entropies on
probabilities clip them to [eps, 1 - eps]; cosine_similarity is the negative cosine. When
a model ends in softmax (or sigmoid) and uses the matching cross-entropy, the model
computes the loss from the logits instead (`fused`), by log-sum-exp, which stays finite
where the clipped form saturates; label_smoothing and ignore_class carry over.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable

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


def _check_axis(axis: Any, loss: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{loss}: axis must be an int, got axis={axis!r}")
    return int(axis)


def _check_smoothing(label_smoothing: Any, loss: str) -> float:
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
    axis = _check_axis(axis, "cosine_similarity")
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
    axis = _check_axis(axis, "binary_crossentropy")
    s = _check_smoothing(label_smoothing, "binary_crossentropy")
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
    axis = _check_axis(axis, "categorical_crossentropy")
    s = _check_smoothing(label_smoothing, "categorical_crossentropy")
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
    axis = _check_axis(axis, "sparse_categorical_crossentropy")
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
    axis = _check_axis(axis, "binary_focal_crossentropy")
    s = _check_smoothing(label_smoothing, "binary_focal_crossentropy")
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
    axis = _check_axis(axis, "categorical_focal_crossentropy")
    s = _check_smoothing(label_smoothing, "categorical_focal_crossentropy")
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


# the loss of the logits for losses that a final softmax / sigmoid can fuse with
def _softmax_xent_logits(y_true: Any, logits: Any, label_smoothing: float = 0.0) -> Any:
    return categorical_crossentropy(y_true, logits, from_logits=True,
                                    label_smoothing=label_smoothing)


def _sparse_softmax_xent_logits(y_true: Any, logits: Any, ignore_class: int | None = None) -> Any:
    return sparse_categorical_crossentropy(y_true, logits, from_logits=True,
                                           ignore_class=ignore_class)


def _sigmoid_xent_logits(y_true: Any, logits: Any, label_smoothing: float = 0.0) -> Any:
    return binary_crossentropy(y_true, logits, from_logits=True, label_smoothing=label_smoothing)


FUSED: dict[tuple[str, str], Callable] = {
    ("categorical_crossentropy", "softmax"): _softmax_xent_logits,
    ("sparse_categorical_crossentropy", "softmax"): _sparse_softmax_xent_logits,
    ("binary_crossentropy", "sigmoid"): _sigmoid_xent_logits,
}


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


ALL: dict[str, Callable] = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, huber, log_cosh, cosine_similarity,
    kl_divergence, poisson, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, binary_focal_crossentropy, categorical_focal_crossentropy,
    hinge, squared_hinge, categorical_hinge, categorical_crossentropy_from_logits,
    sparse_categorical_crossentropy_from_logits, binary_crossentropy_from_logits)}
#: Keras's short and legacy names (matched in lower case, so "MSE" and "KLD" work too)
ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
           "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
           "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
           "logcosh": "log_cosh", "bce": "binary_crossentropy", "huber_loss": "huber"}


class CompiledLoss:
    """The per-example function compile trains with, for a loss object whose options
    (label_smoothing, delta, ...) are not the defaults: the function of ALL it names, with
    those options. `__name__` is that function's name, so what keys on a loss's name (the
    fused logits path, the target checks, the choice of "accuracy") treats it as that loss;
    `loss_object` is the configured Loss, which save_model stores.

    Where the labels of `ignore_class` are masked out, each value is scaled by
    entries / valid entries, so compile's mean over the batch is the mean over the valid
    entries, as Keras's mask makes it.
    """

    def __init__(self, function: Callable, options: dict, loss_object: Loss,
                 name: str | None = None) -> None:
        self.function = function
        self.options = dict(options)
        self.loss_object = loss_object
        self.__name__ = name or function.__name__

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        values = self.function(y_true, y_pred, **self.options)
        ignore_class = self.options.get("ignore_class")
        if ignore_class is None:
            return values
        valid = class_ids(y_true) != ignore_class
        scale = np.size(valid) / np.maximum(np.sum(valid), 1)
        dtype = getattr(values, "dtype", None)
        return values * (scale if dtype is None else scale.astype(dtype))

    def __repr__(self) -> str:
        return f"<compiled {self.loss_object!r}>"


def fused(loss: Callable, activation: Callable) -> Callable | None:
    """The loss computed from the logits of a final `activation` layer, where `loss` is the
    matching cross-entropy (softmax + categorical, sigmoid + binary), else None. A loss
    object's options (label_smoothing, ignore_class) carry over.

    >>> fused(get("categorical_crossentropy"), activations.softmax) is _softmax_xent_logits
    True
    """
    name = getattr(loss, "__name__", None)
    base = FUSED.get((name, getattr(activation, "__name__", None)))
    if base is None or getattr(loss, "function", loss) is not ALL[name]:
        return None   # a loss of another name, or the user's own that shares the name
    options = getattr(loss, "options", None)
    if not options:
        return base
    if options.get("axis", -1) != -1:   # the activation normalises the last axis
        return None
    kept = {k: v for k, v in options.items() if k != "axis"}
    return CompiledLoss(base, kept, loss.loss_object, loss.__name__)


def weighted_mean(per_example: Any, sample_weight: Any = None) -> Any:
    """The batch loss from per-example losses, as Keras's default reduction
    "sum_over_batch_size": the sum of loss times weight over every entry, divided by
    the number of entries (not by the sum of the weights). sample_weight has one
    weight per example (or per example and time step); None weighs all alike.

    >>> float(weighted_mean(np.array([1.0, 3.0]), np.array([2.0, 0.0])))
    1.0
    """
    if sample_weight is None:
        return np.mean(per_example)
    extra = np.ndim(per_example) - np.ndim(sample_weight)
    if extra < 0:
        raise ValueError(f"sample_weight has shape {np.shape(sample_weight)} but the loss "
                         f"has one value per example of shape {np.shape(per_example)}; give "
                         "one weight per example")
    return np.mean(_weighted(per_example, sample_weight))


def _weighted(per_example: Any, sample_weight: Any) -> Any:
    """per_example * sample_weight, the weights given trailing axes to meet the loss's (a
    column of weights (N, 1) against one loss per example (N,) loses its axis, as Keras's)."""
    extra = np.ndim(per_example) - np.ndim(sample_weight)
    if extra == -1 and np.shape(sample_weight)[-1:] == (1,):
        sample_weight = np.reshape(sample_weight, np.shape(sample_weight)[:-1])
    elif extra > 0:
        sample_weight = np.reshape(sample_weight, np.shape(sample_weight) + (1,) * extra)
    return per_example * sample_weight


def get(identifier: str | dict | Callable) -> Callable:
    """The per-example loss compile trains with, from a Keras name or alias ("mse",
    "huber", "kld", ...), a Loss class name ("Huber"), a Loss class or object, the dict
    serialize() gives, or a function f(y_true, y_pred) passed through.

    >>> get("KLD") is kl_divergence, get(Huber(delta=2.0)).options
    (True, {'delta': 2.0})
    """
    if isinstance(identifier, dict):
        return deserialize(identifier).compiled()
    if isinstance(identifier, str):
        if identifier in CLASSES:
            return CLASSES[identifier]().compiled()
        name = ALIASES.get(identifier.lower(), identifier.lower())
        if name in ALL:
            return ALL[name]
        raise ValueError(f"unknown loss {identifier!r}; valid names: "
                         f"{', '.join(list(ALL) + list(ALIASES) + list(CLASSES))}")
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier().compiled()
    if isinstance(identifier, Loss):   # compile averages per-example losses itself
        return identifier.compiled()
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name, a Loss or a function, got {type(identifier).__name__}")


def serialize(loss: Callable) -> str | dict | None:
    """What a saved model stores for a compiled loss: the function's name, or for a loss
    object with options {"class_name": ..., "config": ...} (Keras's layout), which get()
    and deserialize() read back.

    >>> serialize(get("mse")), serialize(get(Huber(delta=2.0)))["config"]["delta"]
    ('mean_squared_error', 2.0)
    """
    loss_object = getattr(loss, "loss_object", None)
    if loss_object is not None:
        return {"class_name": type(loss_object).__name__, "config": loss_object.get_config()}
    return getattr(loss, "__name__", None)


def from_saved(spec: Any) -> Any:
    """compile's loss argument from what compile_config stored: each serialized loss object
    ({"class_name", "config"}) becomes that Loss again, inside a list or a dict by output
    name as well; names stay names.

    >>> from_saved({"out": {"class_name": "Huber", "config": {"delta": 2.0}}})["out"].delta
    2.0
    """
    if isinstance(spec, dict) and "class_name" in spec:
        return deserialize(spec)
    if isinstance(spec, dict):
        return {k: from_saved(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [from_saved(v) for v in spec]
    return spec


def deserialize(config: dict | str) -> Loss | Callable:
    """The Loss object (or loss function, for a name) that serialize() or Keras's
    keras.losses.serialize described.

    >>> deserialize({"class_name": "Huber", "config": {"delta": 0.5}})
    Huber(name='huber_loss', reduction='sum_over_batch_size', delta=0.5)
    """
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a serialized loss is a name or a dict with 'class_name' and "
                         f"'config', got {config!r}")
    cls = CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"unknown loss class {config['class_name']!r}; valid classes: "
                         f"{', '.join(CLASSES)}. A Loss subclass of your own is code, which "
                         "a model file does not hold: load it with load_model(path, "
                         "compile=False) and compile it with your loss")
    return cls.from_config(dict(config.get("config") or {}))


def check_targets(loss: Callable, y: np.ndarray, output_shape: tuple) -> None:
    """Refuse labels of the wrong kind for `loss` before training starts.

    output_shape excludes the batch axis; y includes it.
    """
    name = getattr(loss, "__name__", "").removesuffix("_from_logits")
    n_out = output_shape[-1] if output_shape else 1
    integral = np.issubdtype(y.dtype, np.integer) or (
        y.size > 0 and np.all(np.equal(np.mod(y[:1000], 1), 0)))
    if name == "sparse_categorical_crossentropy":
        if y.ndim == len(output_shape) + 1 and y.shape[-1] == n_out and n_out > 1:
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer class ids of shape "
                f"{(y.shape[0],) + tuple(output_shape[:-1])}, but the labels have shape "
                f"{y.shape}, which looks one-hot; use loss='categorical_crossentropy' or "
                "pass y.argmax(axis=-1)")
        if not integral:
            raise ValueError("sparse_categorical_crossentropy expects integer class ids; the "
                             "labels have fractional values")
        ids = class_ids(y)
        ignored = (getattr(loss, "options", None) or {}).get("ignore_class")
        if ignored is not None:
            ids = ids[ids != ignored]
        if ids.size and (ids.min() < 0 or ids.max() >= n_out):
            raise ValueError(f"sparse_categorical_crossentropy: class ids must be in "
                             f"[0, {n_out}) for a {n_out}-unit output, got range "
                             f"[{ids.min()}, {ids.max()}]")
        return
    expected = (y.shape[0],) + tuple(output_shape)
    if name in ("categorical_crossentropy", "categorical_focal_crossentropy") and \
            tuple(y.shape) != expected:
        if y.ndim == len(output_shape) or (y.ndim == len(output_shape) + 1 and y.shape[-1] == 1):
            raise ValueError(
                f"{name} expects one-hot labels of shape {expected}, but the "
                f"labels have shape {y.shape}, which looks like integer class ids; use "
                "loss='sparse_categorical_crossentropy' or convert them with "
                f"adkit.nn.utils.to_categorical(y, {n_out})")
    if tuple(y.shape) != expected and not (y.ndim == len(expected) - 1 and n_out == 1
                                           and tuple(y.shape) == expected[:-1]):
        raise ValueError(f"labels have shape {y.shape} but the model outputs {expected} "
                         f"for loss {name or loss!r}; reshape the labels or change the last layer")


# --- Keras's loss classes: keras.losses.CategoricalCrossentropy(from_logits=True), ... -----

REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight")


def _reduction(reduction: str | None, who: str) -> str | None:
    """The reduction as Keras keeps it (None stays None, and means "none")."""
    if reduction is None:
        return None
    found = str(reduction).lower()
    found = "sum_over_batch_size" if found == "auto" else found   # Keras 2's name for it
    if found not in REDUCTIONS:
        raise ValueError(f"{who}: unknown reduction {reduction!r}; use one of "
                         f"{', '.join(REDUCTIONS)} (or None)")
    return found


def reduce_weighted(values: Any, sample_weight: Any = None,
                    reduction: str | None = "sum_over_batch_size", mask: Any = None) -> Any:
    """Keras's reduction of a loss's values: weighted by sample_weight, then "none" (as
    they are), "sum", "sum_over_batch_size"/"mean" (sum / number of entries) or
    "mean_with_sample_weight" (sum / sum of the weights). A boolean mask of the values'
    shape drops entries, and the means then count only those kept.

    >>> float(reduce_weighted(np.array([1.0, 3.0]), np.array([1.0, 3.0]), "mean_with_sample_weight"))
    2.5
    """
    if mask is not None:
        mask = np.asarray(mask)
        kept = np.sum(mask)
        scale = np.size(mask) / kept if reduction in ("sum_over_batch_size", "mean") and kept else 1.0
        masked = np.where(mask, scale, 0.0).astype(getattr(values, "dtype", np.float64))
        sample_weight = masked if sample_weight is None else _weighted(masked, sample_weight)
    if sample_weight is not None:
        values = _weighted(values, sample_weight)
    if reduction in ("none", None) or np.ndim(values) == 0:
        return values
    total = np.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        weights = np.sum(_weighted(np.ones(np.shape(values)), sample_weight))
        return total / weights if weights else total * 0.0
    return total / max(np.size(values), 1)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Loss:
    """Keras's loss base class: `loss(y_true, y_pred, sample_weight=None)` gives the batch
    loss, and `compile(loss=...)` takes the object. A subclass defines
    `call(y_true, y_pred)` returning one value per example (as Keras's custom losses do).

    Reductions as Keras's: "sum_over_batch_size" (the default; "mean" and Keras 2's
    "auto" mean it), "sum", "mean_with_sample_weight", or "none"/None (one loss per
    example). compile averages over the batch, as Keras does with the default, so it
    refuses the others.

    >>> loss = SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 6)   # -log softmax
    0.126928
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = _reduction(reduction, type(self).__name__)
        self.dtype = dtype

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """One loss value per example (per entry of y_pred without its last axis)."""
        raise NotImplementedError(f"{type(self).__name__} is a Loss without call: define "
                                  "call(self, y_true, y_pred) returning one value per example")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return reduce_weighted(self.call(y_true, y_pred), sample_weight, self.reduction,
                               self._mask(y_true))

    def _mask(self, y_true: Any) -> Any:
        """Which values count (None: all); a subclass that ignores labels says which."""
        return None

    def _require_mean(self) -> None:
        if self.reduction not in ("sum_over_batch_size", "mean"):
            raise ValueError(f"compile averages the loss over the batch; {self.name!r} has "
                             f"reduction={self.reduction!r}: use the default "
                             "reduction='sum_over_batch_size' in compile")

    def compiled(self) -> Callable:
        """The per-example function compile trains with (it averages over the batch)."""
        self._require_mean()
        return CompiledLoss(self.call, {}, self, self.name)

    def get_config(self) -> dict:
        """Keras's config: name and reduction (and the subclass's options)."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        """The loss get_config described."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """A Loss from a per-example function fn(y_true, y_pred, **kwargs), as Keras's."""

    def __init__(self, fn: Callable, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def compiled(self) -> Callable:
        """The plain function of ALL where the options are its defaults (so a saved model
        names it, as it names a loss given by name), else the function with the options."""
        self._require_mean()
        fn, options = self.fn, dict(self._fn_kwargs)
        if options.pop("from_logits", False):
            fn = ALL[fn.__name__ + "_from_logits"]
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
        options = {k: v for k, v in options.items()
                   if k not in defaults or not _same(v, defaults[k])}
        if not options and ALL.get(getattr(fn, "__name__", "")) is fn:
            return fn
        return CompiledLoss(fn, options, self)

    def get_config(self) -> dict:
        """name, reduction and the function's options."""
        return {**super().get_config(), **self._fn_kwargs}


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(np.asarray(a) == np.asarray(b))) and np.shape(a) == np.shape(b)
    except (TypeError, ValueError):
        return False


class MeanSquaredError(LossFunctionWrapper):
    """Keras's MeanSquaredError: mean((y_pred - y_true) ** 2) per example."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """Keras's MeanAbsoluteError: mean(|y_pred - y_true|) per example."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_error, reduction, name, dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Keras's MeanAbsolutePercentageError ("mape"): see mean_absolute_percentage_error."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_absolute_percentage_error", dtype: Any = None) -> None:
        super().__init__(mean_absolute_percentage_error, reduction, name, dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Keras's MeanSquaredLogarithmicError ("msle"): see mean_squared_logarithmic_error."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "mean_squared_logarithmic_error", dtype: Any = None) -> None:
        super().__init__(mean_squared_logarithmic_error, reduction, name, dtype)


class CosineSimilarity(LossFunctionWrapper):
    """Keras's CosineSimilarity loss: minus the cosine of the angle along axis (-1 best)."""

    def __init__(self, axis: int = -1, reduction: str | None = "sum_over_batch_size",
                 name: str = "cosine_similarity", dtype: Any = None) -> None:
        super().__init__(cosine_similarity, reduction, name, dtype, axis=axis)
        self.axis = axis


class Huber(LossFunctionWrapper):
    """Keras's Huber loss: squared error within delta of the target, linear beyond."""

    def __init__(self, delta: float = 1.0, reduction: str | None = "sum_over_batch_size",
                 name: str = "huber_loss", dtype: Any = None) -> None:
        super().__init__(huber, reduction, name, dtype, delta=delta)
        self.delta = delta


class LogCosh(LossFunctionWrapper):
    """Keras's LogCosh: mean(log(cosh(y_pred - y_true))) per example."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "log_cosh",
                 dtype: Any = None) -> None:
        super().__init__(log_cosh, reduction, name, dtype)


class Hinge(LossFunctionWrapper):
    """Keras's Hinge (0/1 targets are mapped to -1/1)."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "hinge",
                 dtype: Any = None) -> None:
        super().__init__(hinge, reduction, name, dtype)


class SquaredHinge(LossFunctionWrapper):
    """Keras's SquaredHinge (0/1 targets are mapped to -1/1)."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "squared_hinge", dtype: Any = None) -> None:
        super().__init__(squared_hinge, reduction, name, dtype)


class CategoricalHinge(LossFunctionWrapper):
    """Keras's CategoricalHinge: one-hot targets, max(neg - pos + 1, 0)."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "categorical_hinge", dtype: Any = None) -> None:
        super().__init__(categorical_hinge, reduction, name, dtype)


class KLDivergence(LossFunctionWrapper):
    """Keras's KLDivergence: sum(t log(t / p)) per example, both clipped to [EPSILON, 1]."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "kl_divergence", dtype: Any = None) -> None:
        super().__init__(kl_divergence, reduction, name, dtype)


class Poisson(LossFunctionWrapper):
    """Keras's Poisson: mean(y_pred - y_true log(y_pred + EPSILON)) per example."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "poisson",
                 dtype: Any = None) -> None:
        super().__init__(poisson, reduction, name, dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Keras's BinaryCrossentropy: 0/1 targets; from_logits=True for raw outputs;
    label_smoothing squeezes the targets towards 0.5."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "binary_crossentropy", dtype: Any = None) -> None:
        _check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(binary_crossentropy, reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=_check_axis(axis, name))
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Keras's BinaryFocalCrossentropy: see binary_focal_crossentropy."""

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25,
                 gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: str | None = "sum_over_batch_size",
                 name: str = "binary_focal_crossentropy", dtype: Any = None) -> None:
        _check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(binary_focal_crossentropy, reduction, name, dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=_check_axis(axis, name))
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma

    def compiled(self) -> Callable:
        # its from_logits is an option of the one function (there is no _from_logits twin)
        self._require_mean()
        return CompiledLoss(self.fn, self._fn_kwargs, self)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Keras's CategoricalCrossentropy: one-hot targets; from_logits=True for raw outputs;
    label_smoothing mixes the targets with the uniform distribution."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "categorical_crossentropy", dtype: Any = None) -> None:
        _check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=_check_axis(axis, name))
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Keras's CategoricalFocalCrossentropy: see categorical_focal_crossentropy."""

    def __init__(self, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "categorical_focal_crossentropy", dtype: Any = None) -> None:
        _check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(categorical_focal_crossentropy, reduction, name, dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=_check_axis(axis, name))
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self.alpha, self.gamma = alpha, gamma

    compiled = BinaryFocalCrossentropy.compiled


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Keras's SparseCategoricalCrossentropy: integer class targets; from_logits=True for
    raw outputs; ignore_class: a label whose examples neither lose nor count in the mean."""

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction: str | None = "sum_over_batch_size", axis: int = -1,
                 name: str = "sparse_categorical_crossentropy", dtype: Any = None) -> None:
        if ignore_class is not None and (isinstance(ignore_class, bool)
                                         or not isinstance(ignore_class, (int, np.integer))):
            raise ValueError(f"{name}: ignore_class must be an int label (or None), got "
                             f"{ignore_class!r}")
        super().__init__(sparse_categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, ignore_class=ignore_class,
                         axis=_check_axis(axis, name))
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def _mask(self, y_true: Any) -> Any:
        if self.ignore_class is None:
            return None
        return class_ids(y_true) != self.ignore_class


CLASSES: dict[str, type[Loss]] = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, CosineSimilarity, Huber, LogCosh, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy, BinaryFocalCrossentropy,
    CategoricalCrossentropy, CategoricalFocalCrossentropy, SparseCategoricalCrossentropy)}
