"""The streaming metric classes every metric builds on: Metric (update_state per batch,
result, reset_state), Keras's Mean (MeanMetric) and Sum, and MeanMetricWrapper, the running
mean of a function's one value per example. Each keeps sufficient statistics, so its result
over batches of any sizes equals its value on all the samples at once.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike

from . import initializers


class MetricVariable(np.lib.mixins.NDArrayOperatorsMixin):
    """A metric's state variable, as Keras's ``add_variable`` returns: an array that
    ``assign``, ``assign_add`` and ``assign_sub`` update in place and that NumPy
    arithmetic reads (``self.total + 1``, ``np.sum(v)``, ``float(v)``).

    >>> v = MetricVariable(np.zeros(()), "total"); v.assign_add(2.5); float(v * 2)
    5.0
    """

    def __init__(self, initial: np.ndarray, name: str | None = None) -> None:
        self.initial = np.array(initial)
        self.value = self.initial.copy()
        self.name = name

    def assign(self, value: ArrayLike) -> None:
        """Replace the value (broadcast to the variable's shape)."""
        self.value = np.array(np.broadcast_to(np.asarray(value, self.value.dtype),
                                              self.value.shape))

    def assign_add(self, delta: ArrayLike) -> None:
        """Add delta to the value."""
        self.assign(self.value + np.asarray(delta))

    def assign_sub(self, delta: ArrayLike) -> None:
        """Subtract delta from the value."""
        self.assign(self.value - np.asarray(delta))

    def numpy(self) -> np.ndarray:
        """The value as an array (Keras's variable.numpy())."""
        return self.value.copy()

    @property
    def shape(self) -> tuple:
        """The value's shape."""
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        """The value's dtype."""
        return self.value.dtype

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.value if dtype is None else self.value.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(x.value if isinstance(x, MetricVariable) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"<MetricVariable {self.name!r} {self.value!r}>"


class Metric:
    """A value accumulated over batches: ``update_state`` per batch, then ``result``.

    Subclasses keep sufficient statistics, so the result over batches of any
    sizes equals the value on all the samples at once. A Keras-style subclass creates its
    state with ``add_variable`` (or Keras 2's ``add_weight``) in ``__init__``; the default
    ``reset_state`` sets every such variable back to its initial value.

    >>> class Count(Metric):
    ...     def __init__(self, name="count", **kwargs):
    ...         super().__init__(name=name, **kwargs)
    ...         self.seen = self.add_variable(shape=(), initializer="zeros", name="seen")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.seen.assign_add(len(y_true))
    ...     def result(self):
    ...         return self.seen
    >>> m = Count(); m.update_state([1, 2], [1, 2]); float(m.result())
    2.0
    """

    name = "metric"

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        if name is not None:
            self.name = name
        self.dtype = dtype
        self._metric_variables: list[MetricVariable] = []
        try:
            self.reset_state()
        except AttributeError:
            # Keras never calls reset_state from __init__: a Keras-style subclass's
            # reset_state assigns variables its own __init__ creates after this call.
            if type(self).reset_state.__module__.startswith(__package__ + "."):
                raise

    def add_variable(self, shape: tuple | int = (), initializer: Any = "zeros",
                     dtype: Any = None, name: str | None = None,
                     aggregation: str | None = None) -> MetricVariable:
        """A state variable (Keras's Metric.add_variable): an array of `shape`, initialised
        by a name ("zeros", "ones"), a number or an initializer; reset_state restores it.
        aggregation (how distributed Keras combines replicas) is accepted and unused."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        dtype = np.dtype(dtype or self.dtype or np.float64)
        if isinstance(initializer, (int, float)):
            initial = np.full(shape, initializer, dtype)
        else:
            initial = np.asarray(initializers.get(initializer)(np.random.default_rng(0),
                                                               shape, dtype), dtype)
        variable = MetricVariable(initial, name)
        self._metric_variables.append(variable)
        return variable

    def add_weight(self, name: str | None = None, shape: tuple | int = (),
                   initializer: Any = "zeros", dtype: Any = None,
                   aggregation: str | None = None) -> MetricVariable:
        """Keras 2's name for add_variable (name first)."""
        return self.add_variable(shape, initializer, dtype, name, aggregation)

    @property
    def variables(self) -> list[MetricVariable]:
        """The state variables add_variable created."""
        return list(getattr(self, "_metric_variables", []))

    def get_config(self) -> dict:
        """Keras's config: name and dtype (and a subclass's options)."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        """The metric get_config described."""
        return cls(**config)

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        """Fold one batch into the state."""
        raise NotImplementedError(f"{type(self).__name__} is a Metric without update_state: "
                                  "define update_state(y_true, y_pred, sample_weight=None)")

    def result(self) -> float:
        """The metric over everything seen since the last reset."""
        raise NotImplementedError(f"{type(self).__name__} is a Metric without result: "
                                  "define result() returning the value of the state")

    def reset_state(self) -> None:
        """Forget every batch seen so far: by default, every add_variable variable goes
        back to its initial value."""
        for variable in getattr(self, "_metric_variables", []):
            variable.assign(variable.initial)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _per_sample(values: ArrayLike, sample_weight: ArrayLike | None,
                where: str) -> tuple[np.ndarray, np.ndarray]:
    """(weighted values, weights), one per sample, as Keras's Mean reduces a batch: values
    with more axes than the weights are averaged over the extra ones, so one weight per
    example weighs that example's mean ((N, T) values with (N,) weights), and a single
    weight weighs the batch's mean; without weights each example (row) counts once."""
    v = np.asarray(values, dtype=np.float64)
    if sample_weight is None:
        if v.ndim > 1:
            v = v.reshape(len(v), -1).mean(axis=1)
        return np.ravel(v), np.ones(v.size)
    w = np.asarray(sample_weight, dtype=np.float64)
    shape = v.shape
    if w.ndim == v.ndim + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if v.ndim > w.ndim:
        v = v.mean(axis=tuple(range(w.ndim, v.ndim)))
    try:
        w = np.broadcast_to(w, v.shape)
    except ValueError:
        raise ValueError(f"{where}: values of shape {shape} but sample weights of shape "
                         f"{np.shape(sample_weight)}; pass one weight per example, or a "
                         "single weight") from None
    v = v * w
    if v.ndim > 1:
        v, w = v.reshape(len(v), -1).mean(axis=1), w.reshape(len(w), -1).mean(axis=1)
    return np.ravel(v), np.ravel(w)


class MeanMetric(Metric):
    """Weighted running mean of values, e.g. the training loss.

    Unlike other metrics its ``update_state`` takes ``(values, sample_weight)``,
    as Keras's ``Mean``. A scalar with ``sample_weight=n`` counts as n samples,
    so batch losses averaged this way equal the loss over the whole set.

    >>> m = MeanMetric("loss")
    >>> m.update_state(1.0, sample_weight=3); m.update_state(3.0, sample_weight=1); m.result()
    1.5
    """

    name = "mean"

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0

    def update_state(self, values: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        weighted, weights = _per_sample(values, sample_weight, self.name)
        self._total += float(weighted.sum())
        self._count += float(weights.sum())

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0


#: Keras's name for it
Mean = MeanMetric


class MeanMetricWrapper(MeanMetric):
    """Running mean of ``fn(y_true, y_pred)`` over batches.

    ``fn`` may return one value per sample, or one number per batch, which
    then counts once for each sample (weighted by ``sample_weight``'s sum if given).

    >>> m = MeanMetricWrapper(lambda t, p: float(np.mean(np.abs(np.subtract(t, p)))), name="mae")
    >>> m.update_state([1.0, 2.0], [1.0, 1.0]); m.update_state([0.0], [3.0]); m.result()
    1.333...
    """

    def __init__(self, fn: Callable[..., ArrayLike], name: str | None = None,
                 dtype: Any = None, **kwargs: Any) -> None:
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "mean"), dtype)

    def update_state(self, y_true: ArrayLike, y_pred: ArrayLike,
                     sample_weight: ArrayLike | None = None) -> None:
        values = np.asarray(self._fn(y_true, y_pred, **self._fn_kwargs), dtype=np.float64)
        if values.size == 1:
            values = np.full(len(np.asarray(y_true)), values.ravel()[0])
        super().update_state(values, sample_weight)


class Sum(Metric):
    """Keras's Sum: the running (weighted) sum of the values given to update_state."""

    name = "sum"

    def reset_state(self) -> None:
        self._total = 0.0

    def update_state(self, values: ArrayLike, sample_weight: ArrayLike | None = None) -> None:
        v = np.asarray(values, dtype=np.float64)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == v.ndim + 1 and w.shape[-1:] == (1,):
                w = w[..., 0]
            try:
                v = v * np.reshape(w, w.shape + (1,) * max(v.ndim - w.ndim, 0))
            except ValueError:
                raise ValueError(f"{self.name}: values of shape {v.shape} but sample weights of "
                                 f"shape {w.shape}; pass one weight per value") from None
        self._total += float(np.sum(v))

    def result(self) -> float:
        return self._total
