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

from . import custom_objects
from .backend_compat import EPSILON
from .loss_functions import (
    binary_crossentropy, binary_crossentropy_from_logits, binary_focal_crossentropy,
    categorical_crossentropy, categorical_crossentropy_from_logits,
    categorical_focal_crossentropy, categorical_hinge, check_axis, check_smoothing, class_ids,
    cosine_similarity, hinge, huber, kl_divergence, log_cosh, matched_targets,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
    mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
    sparse_categorical_crossentropy_from_logits, squared_hinge)


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

    compile averages what it returns over the batch, so for Keras's reduction="sum" each
    value is scaled by the number of entries (the mean is then the sum); where the labels
    of `ignore_class` are masked out, each value is scaled by entries / valid entries, so
    the mean is the mean over the valid entries, as Keras's mask makes it.
    """

    def __init__(self, function: Callable, options: dict, loss_object: Loss,
                 name: str | None = None) -> None:
        self.function = function
        self.options = dict(options)
        self.loss_object = loss_object
        self.__name__ = name or function.__name__

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        values = self.function(y_true, y_pred, **self.options)
        if getattr(self.loss_object, "reduction", None) == "sum":
            return values * int(np.prod(np.shape(values)))
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

    >>> from adkit.nn.activations import softmax
    >>> fused(get("categorical_crossentropy"), softmax) is _softmax_xent_logits
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


def masked_weights(mask: Any, per_example: Any, sample_weight: Any = None) -> Any:
    """The weights weighted_mean takes for a loss whose output carries a Keras mask (a
    sequence output after Embedding(mask_zero=True) or Masking), as Keras's loss
    applies it: masked entries weigh 0, the others total / valid, so the batch loss is
    the mean over the valid entries (times sample_weight where given). Without a mask,
    or with one not shaped like the loss's entries, sample_weight as it is.

    >>> float(weighted_mean(np.array([[1.0, 3.0]]), masked_weights(
    ...     np.array([[True, False]]), np.array([[1.0, 3.0]]))))
    1.0
    """
    if mask is None or np.shape(mask) != np.shape(per_example):
        return sample_weight
    valid = np.asarray(mask, dtype=np.result_type(per_example, np.float32))
    weights = valid * (valid.size / (np.sum(valid) + EPSILON))
    return weights if sample_weight is None else _weighted(weights, sample_weight)


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
        custom = custom_objects.lookup(identifier)
        if custom is not None:
            return get(custom)
        raise ValueError(f"unknown loss {identifier!r}; valid names: "
                         f"{', '.join(list(ALL) + list(ALIASES) + list(CLASSES))}; a loss of "
                         "your own is found by name when registered with "
                         "@keras.saving.register_keras_serializable() or given in "
                         "load_model(..., custom_objects={name: function})")
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
    cls = CLASSES.get(config["class_name"]) or custom_objects.lookup(config["class_name"])
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise ValueError(f"unknown loss class {config['class_name']!r}; valid classes: "
                         f"{', '.join(CLASSES)}. A Loss subclass of your own is found by name "
                         "when registered with @keras.saving.register_keras_serializable() or "
                         "given in load_model(path, custom_objects={name: class}); or load "
                         "with compile=False and compile it with your loss")
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
    # an axis the model leaves unknown (timesteps=None) takes the labels' length
    expected = (y.shape[0],) + tuple(y.shape[i + 1] if s is None and i + 1 < y.ndim else s
                                     for i, s in enumerate(output_shape))
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


def snake_case(name: str) -> str:
    """A class name in Keras's snake case: "KLDivergence" -> "kl_divergence"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Loss:
    """Keras's loss base class: `loss(y_true, y_pred, sample_weight=None)` gives the batch
    loss, and `compile(loss=...)` takes the object. A subclass defines
    `call(y_true, y_pred)` returning one value per example (as Keras's custom losses do).

    Reductions as Keras's: "sum_over_batch_size" (the default; "mean" and Keras 2's
    "auto" mean it), "sum", "mean_with_sample_weight", or "none"/None (one loss per
    example). compile takes "sum_over_batch_size" and "sum", as Keras does, and refuses
    the others, which give no single batch loss or need the weights' sum.

    >>> loss = SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 6)   # -log softmax
    0.126928
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        self.name = name or snake_case(type(self).__name__)
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
        if self.reduction not in ("sum_over_batch_size", "mean", "sum"):
            raise ValueError(f"compile needs one loss per batch; {self.name!r} has "
                             f"reduction={self.reduction!r}: use the default "
                             "reduction='sum_over_batch_size' (or 'sum') in compile")

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
        twin = ALL.get(getattr(fn, "__name__", "") + "_from_logits")
        if ALL.get(getattr(fn, "__name__", "")) is fn and twin is not None:
            if options.pop("from_logits", False):   # the name a saved model then holds
                fn = twin
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
        options = {k: v for k, v in options.items()
                   if k not in defaults or not _same(v, defaults[k])}
        if not options and ALL.get(getattr(fn, "__name__", "")) is fn and \
                self.reduction != "sum":
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
        check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(binary_crossentropy, reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=check_axis(axis, name))
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Keras's BinaryFocalCrossentropy: see binary_focal_crossentropy."""

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25,
                 gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: str | None = "sum_over_batch_size",
                 name: str = "binary_focal_crossentropy", dtype: Any = None) -> None:
        check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(binary_focal_crossentropy, reduction, name, dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=check_axis(axis, name))
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
        check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=check_axis(axis, name))
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Keras's CategoricalFocalCrossentropy: see categorical_focal_crossentropy."""

    def __init__(self, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "categorical_focal_crossentropy", dtype: Any = None) -> None:
        check_smoothing(label_smoothing, type(self).__name__)
        super().__init__(categorical_focal_crossentropy, reduction, name, dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=check_axis(axis, name))
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
                         axis=check_axis(axis, name))
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
