"""Training losses by Keras name. Each maps (y_true, y_pred) to one value per
example; the model averages them over the batch.

Targets meet predictions one to one, as in Keras's compiled losses: where their
ranks differ by one and the longer shape ends in 1, the shorter gains that axis
((N,) targets against (N, 1) predictions), and a pair that would broadcast to
anything but the predictions' shape is refused (see matched_targets).

Cross-entropies on probabilities clip them to [eps, 1 - eps] as Keras does. When
a model ends in softmax (or sigmoid) and uses the matching cross-entropy, the
model computes the loss from the logits instead (`from_logits`), by
log-sum-exp, which stays finite where the clipped form saturates.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adkit.extend import is_duck_array

from . import backend
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


def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    """mean((y_pred - y_true) ** 2) over the last axis, per example."""
    y_true, y_pred = matched_targets(y_true, y_pred, "mean_squared_error")
    d = y_pred - y_true
    return np.mean(d * d, axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Any:
    """mean(|y_pred - y_true|) over the last axis, per example."""
    y_true, y_pred = matched_targets(y_true, y_pred, "mean_absolute_error")
    return np.mean(np.abs(y_pred - y_true), axis=-1)


def binary_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """-mean(t log p + (1 - t) log(1 - p)) over the last axis, p clipped to
    [EPSILON, 1 - EPSILON] as Keras does."""
    y_true, y_pred = matched_targets(y_true, y_pred, "binary_crossentropy")
    p = np.clip(y_pred, EPSILON, 1 - EPSILON)
    return -np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p), axis=-1)


def categorical_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """-sum(t log p) over the last axis, with p = y_pred renormalised to sum to 1 and
    clipped to [EPSILON, 1 - EPSILON], as Keras does."""
    y_true, y_pred = matched_targets(y_true, y_pred, "categorical_crossentropy")
    p = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
    return -np.sum(y_true * np.log(np.clip(p, EPSILON, 1 - EPSILON)), axis=-1)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """categorical_crossentropy with integer class labels instead of one-hot rows."""
    labels = _class_ids(y_true)
    p = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
    picked = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0]
    return -np.log(np.clip(picked, EPSILON, 1 - EPSILON))


def hinge(y_true: Any, y_pred: Any) -> Any:
    """mean(max(1 - t * y, 0)) with labels t in {-1, 1}; 0/1 labels are mapped."""
    t = y_true if is_duck_array(y_true) else np.asarray(y_true)
    t, y_pred = matched_targets(t, y_pred, "hinge")
    t = np.where(t == 0, -1.0, t).astype(np.result_type(t.dtype, np.float32))
    return np.mean(np.maximum(1.0 - t * y_pred, 0.0), axis=-1)


def _class_ids(y: Any) -> Any:
    if is_duck_array(y):   # labels already on a device, as integers: they stay there
        return np.reshape(y, y.shape[:-1]) if y.ndim >= 2 and y.shape[-1] == 1 else y
    if getattr(y, "dtype", None) is None:   # arrays and adkit.compile's staged values stay
        y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] == 1:   # (N, 1) column of ids; a batch of one stays (1,)
        y = y[..., 0]
    return y.astype(np.int64)


# the loss of the logits for losses that a final softmax / sigmoid can fuse with
def _softmax_xent_logits(y_true: Any, logits: Any) -> Any:
    y_true, logits = matched_targets(y_true, logits, "categorical_crossentropy")
    return backend.softmax_cross_entropy(logits, y_true)


def _sparse_softmax_xent_logits(y_true: Any, logits: Any) -> Any:
    return backend.sparse_softmax_cross_entropy(logits, _class_ids(y_true))


def _sigmoid_xent_logits(y_true: Any, logits: Any) -> Any:
    y_true, logits = matched_targets(y_true, logits, "binary_crossentropy")
    return np.mean(backend.sigmoid_cross_entropy(logits, y_true), axis=-1)


FUSED: dict[tuple[str, str], Callable] = {
    ("categorical_crossentropy", "softmax"): _softmax_xent_logits,
    ("sparse_categorical_crossentropy", "softmax"): _sparse_softmax_xent_logits,
    ("binary_crossentropy", "sigmoid"): _sigmoid_xent_logits,
}


# what Keras's loss classes compute with from_logits=True (the model's output is the logits)
def categorical_crossentropy_from_logits(y_true: Any, y_pred: Any) -> Any:
    """categorical_crossentropy of softmax(y_pred), by log-sum-exp: y_pred are logits."""
    return _softmax_xent_logits(y_true, y_pred)


def sparse_categorical_crossentropy_from_logits(y_true: Any, y_pred: Any) -> Any:
    """sparse_categorical_crossentropy of softmax(y_pred), by log-sum-exp: y_pred are logits."""
    return _sparse_softmax_xent_logits(y_true, y_pred)


def binary_crossentropy_from_logits(y_true: Any, y_pred: Any) -> Any:
    """binary_crossentropy of sigmoid(y_pred), computed stably: y_pred are logits."""
    return _sigmoid_xent_logits(y_true, y_pred)


ALL: dict[str, Callable] = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, hinge, categorical_crossentropy_from_logits,
    sparse_categorical_crossentropy_from_logits, binary_crossentropy_from_logits)}
ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


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
    """per_example * sample_weight, the weights given trailing axes to meet the loss's."""
    extra = np.ndim(per_example) - np.ndim(sample_weight)
    if extra > 0:
        sample_weight = np.reshape(sample_weight, np.shape(sample_weight) + (1,) * extra)
    return per_example * sample_weight


def get(identifier: str | Callable) -> Callable:
    """A loss from its Keras name (or alias), or a callable passed through."""
    if isinstance(identifier, str):
        name = ALIASES.get(identifier.lower(), identifier.lower())
        if name in ALL:
            return ALL[name]
        raise ValueError(f"unknown loss {identifier!r}; valid names: "
                         f"{', '.join(list(ALL) + list(ALIASES))}")
    if isinstance(identifier, Loss):   # compile averages per-example losses itself
        return identifier.compiled()
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name or a function, got {type(identifier).__name__}")


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
        ids = _class_ids(y)
        if ids.size and (ids.min() < 0 or ids.max() >= n_out):
            raise ValueError(f"sparse_categorical_crossentropy: class ids must be in "
                             f"[0, {n_out}) for a {n_out}-unit output, got range "
                             f"[{ids.min()}, {ids.max()}]")
        return
    expected = (y.shape[0],) + tuple(output_shape)
    if name == "categorical_crossentropy" and tuple(y.shape) != expected:
        if y.ndim == len(output_shape) or (y.ndim == len(output_shape) + 1 and y.shape[-1] == 1):
            raise ValueError(
                f"categorical_crossentropy expects one-hot labels of shape {expected}, but the "
                f"labels have shape {y.shape}, which looks like integer class ids; use "
                "loss='sparse_categorical_crossentropy' or convert them with "
                f"adkit.nn.utils.to_categorical(y, {n_out})")
    if tuple(y.shape) != expected and not (y.ndim == len(expected) - 1 and n_out == 1
                                           and tuple(y.shape) == expected[:-1]):
        raise ValueError(f"labels have shape {y.shape} but the model outputs {expected} "
                         f"for loss {name or loss!r}; reshape the labels or change the last layer")


# --- Keras's loss classes: keras.losses.CategoricalCrossentropy(from_logits=True), ... -----

REDUCTIONS = ("sum_over_batch_size", "sum", "none")


class Loss:
    """A configured loss, as Keras's loss classes: `loss(y_true, y_pred, sample_weight=None)`
    gives the batch loss, and `compile(loss=...)` takes the object.

    Subclasses name their per-example function; `from_logits=True` (the cross-entropies)
    picks the form that takes the model's raw outputs. Reductions as Keras's:
    "sum_over_batch_size" (the default; Keras 2's "auto" means it), "sum", or
    "none"/None (one loss per example). compile always averages over the batch, as
    Keras does with the default, so it refuses any other reduction.

    >>> loss = SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 6)   # -log softmax
    0.126928
    """

    #: the per-example function by name in ALL: (probabilities form, logits form)
    functions: tuple[str, str | None] = ("", None)

    def __init__(self, from_logits: bool = False, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, label_smoothing: float = 0.0, axis: int = -1,
                 **kwargs: Any) -> None:
        who = type(self).__name__
        if kwargs:
            raise TypeError(f"{who} got unexpected arguments {sorted(kwargs)}")
        if from_logits and self.functions[1] is None:
            raise ValueError(f"{who} has no from_logits form; it compares outputs directly")
        reduction = "none" if reduction is None else str(reduction).lower()
        reduction = "sum_over_batch_size" if reduction == "auto" else reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f"{who}: unknown reduction {reduction!r}; use one of "
                             f"{', '.join(REDUCTIONS)} (or None)")
        if label_smoothing:
            raise NotImplementedError(f"{who}: label_smoothing={label_smoothing} is not "
                                      "supported; smooth the targets instead, "
                                      "y * (1 - s) + s / num_classes")
        if axis != -1:
            raise ValueError(f"{who}: classes lie on the last axis here; got axis={axis}")
        self.from_logits = bool(from_logits)
        self.reduction = reduction
        self.per_example = ALL[self.functions[1] if self.from_logits else self.functions[0]]
        self.name = name or self.functions[0]

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        per_example = self.per_example(y_true, y_pred)
        if sample_weight is not None:
            per_example = _weighted(per_example, sample_weight)
        if self.reduction == "none":
            return per_example
        if self.reduction == "sum":
            return np.sum(per_example)
        return np.mean(per_example)

    def compiled(self) -> Callable:
        """The per-example function compile trains with (it averages over the batch)."""
        if self.reduction != "sum_over_batch_size":
            raise ValueError(f"compile averages the loss over the batch; {self.name!r} has "
                             f"reduction={self.reduction!r}: use the default "
                             "reduction='sum_over_batch_size' in compile")
        return self.per_example

    def get_config(self) -> dict:
        """Keras's config: from_logits (where it applies), reduction and name."""
        config = {"reduction": self.reduction, "name": self.name}
        if self.functions[1] is not None:
            config["from_logits"] = self.from_logits
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class CategoricalCrossentropy(Loss):
    """Keras's CategoricalCrossentropy: one-hot targets; from_logits=True for raw outputs."""
    functions = ("categorical_crossentropy", "categorical_crossentropy_from_logits")


class SparseCategoricalCrossentropy(Loss):
    """Keras's SparseCategoricalCrossentropy: integer class targets; from_logits=True for
    raw outputs."""
    functions = ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy_from_logits")


class BinaryCrossentropy(Loss):
    """Keras's BinaryCrossentropy: 0/1 targets; from_logits=True for raw outputs."""
    functions = ("binary_crossentropy", "binary_crossentropy_from_logits")


class MeanSquaredError(Loss):
    """Keras's MeanSquaredError."""
    functions = ("mean_squared_error", None)


class MeanAbsoluteError(Loss):
    """Keras's MeanAbsoluteError."""
    functions = ("mean_absolute_error", None)


class Hinge(Loss):
    """Keras's Hinge (0/1 targets are mapped to -1/1)."""
    functions = ("hinge", None)
