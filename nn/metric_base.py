"""The streaming metric classes every metric builds on: Metric (update_state per batch,
result, reset_state), Keras's Mean (MeanMetric) and Sum, and MeanMetricWrapper, the running
mean of a function's one value per example. Each keeps sufficient statistics, so its result
over batches of any sizes equals its value on all the samples at once.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike


class Metric:
    """A value accumulated over batches: ``update_state`` per batch, then ``result``.

    Subclasses keep sufficient statistics, so the result over batches of any
    sizes equals the value on all the samples at once.
    """

    name = "metric"

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        if name is not None:
            self.name = name
        self.dtype = dtype
        self.reset_state()

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
        """Forget every batch seen so far."""
        raise NotImplementedError(f"{type(self).__name__} is a Metric without reset_state: "
                                  "define reset_state() to set the state it folds batches "
                                  "into (Metric.__init__ calls it)")

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
