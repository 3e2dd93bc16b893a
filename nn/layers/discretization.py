"""Keras 3's Discretization: numbers into bins, by given boundaries or by quantiles that
`adapt(data)` estimates.

The estimate is Keras's own (keras/src/layers/preprocessing/discretization.py): a
summary of (value, weight) pairs, each batch thinned to about 1/epsilon points and
merged, then compressed to num_bins quantiles, so the boundaries equal Keras's for the
same data and batches. They live in the layer's config, as in Keras.

>>> layer = Discretization(bin_boundaries=[0.0, 1.0])
>>> layer(np.array([[-0.5, 0.5, 2.0]]))
array([[0, 1, 2]], dtype=int32)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .base import Context, Layer, Shape
from .category_encoding import check_output_mode, encode_categorical, encoded_shape
from .preprocessing import adapt_batches

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """A batch's sorted values thinned to about 1/epsilon points, each weighted by the
    number of values it stands for."""
    values = np.sort(np.reshape(values, -1))
    step = max(values.size * epsilon, 1)
    kept = values[int(step - 1)::int(step)]
    return np.stack([kept, np.full_like(kept, step)])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """The summary at the quantiles epsilon, 2 epsilon, ..., 1 (when it is longer)."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_percents = cum_weights / cum_weights[-1]
    new_values = np.interp(percents, cum_percents, summary[0])
    new_cum = np.interp(percents, cum_percents, cum_weights)
    new_weights = new_cum - np.concatenate(([0.0], new_cum[:-1]))
    return np.stack((new_values, new_weights)).astype(np.float32)


def _merge(first: np.ndarray, second: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((first, second), axis=1)
    return _compress(merged[:, np.argsort(merged[0], kind="stable")], epsilon)


class Discretization(Layer):
    """Bin numbers: output_mode "int" gives each value its bin index (np.digitize with
    `bin_boundaries`: bins are [-inf, b0), [b0, b1), ..., [b_last, inf)); "one_hot",
    "multi_hot" and "count" encode those indices (CategoryEncoding). With num_bins
    instead, `adapt(data)` places the boundaries at quantiles of the data.

    >>> layer = Discretization(num_bins=4); layer.adapt(np.arange(8.0))
    >>> layer.bin_boundaries
    [1.0, 3.0, 5.0]
    """

    #: computed with NumPy on concrete arrays (no derivative): a model holding the layer
    #: trains with eager steps (nn/compiled_step.py), and it may take strings or integers
    preprocesses_on_host = True

    def __init__(self, bin_boundaries: Any = None, num_bins: int | None = None,
                 epsilon: float = 0.01, output_mode: str = "int", sparse: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = self._who()
        self.output_mode = check_output_mode(output_mode, OUTPUT_MODES, who)
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported; adkit.nn's arrays are "
                             "dense (leave sparse=False)")
        if (num_bins is None) == (bin_boundaries is None):
            raise ValueError(f"{who}: give either bin_boundaries (a sorted list) or num_bins "
                             "(then call adapt(data)), not both or neither")
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(
                num_bins, (int, np.integer)) or num_bins < 0):
            raise ValueError(f"{who}: num_bins must be an int >= 0, got {num_bins!r}")
        if not 0 < epsilon < 1:
            raise ValueError(f"{who}: epsilon must be in (0, 1), got {epsilon!r}")
        self.bin_boundaries = None if bin_boundaries is None else self._boundaries(
            bin_boundaries)
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)

    def _who(self) -> str:
        return f"Discretization {self.name!r}"

    def _boundaries(self, bounds: Any) -> list[float]:
        bounds = np.asarray(bounds, np.float64)
        if bounds.ndim != 1 or np.any(np.diff(bounds) < 0):
            raise ValueError(f"{self._who()}: bin_boundaries must be a sorted list of "
                             f"numbers, got {bounds.tolist()!r}")
        return bounds.tolist()

    @property
    def output_dtypes(self) -> list:
        """Keras's output dtype: int32 bin indices, or the layer's floats when encoded."""
        return [np.dtype(np.int32) if self.output_mode == "int" else self.dtype]

    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        """Place num_bins - 1 boundaries at quantiles of `data` (an array, or an iterable
        of batches), by Keras's approximate quantile summary (exact for small data)."""
        if self.num_bins is None:
            raise ValueError(f"{self._who()} was given bin_boundaries; to adapt it, build it "
                             "with num_bins=... instead")
        summary = np.zeros((2, 0), np.float32)
        batches = adapt_batches(data, self._who())
        for batch in itertools.islice(batches, steps) if steps is not None else batches:
            if batch.dtype.kind not in "biuf":
                raise TypeError(f"{self._who()}.adapt: data must hold numbers, got dtype "
                                f"{batch.dtype}")
            summary = _merge(_summarize(batch.astype(np.float32), self.epsilon), summary,
                             self.epsilon)
        if summary.shape[1] == 0:
            raise ValueError(f"{self._who()}.adapt: data holds no values")
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist() \
            if self.num_bins else []

    def _depth(self) -> int:
        if self.bin_boundaries is None:
            raise ValueError(f"{self._who()} has no bin boundaries yet: call "
                             "layer.adapt(data) first, or pass bin_boundaries=[...]")
        return len(self.bin_boundaries) + 1

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self._depth())

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        depth = self._depth()
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{self._who()}: inputs must be numbers, got dtype {x.dtype}")
        indices = np.digitize(x, np.asarray(self.bin_boundaries, np.float32)).astype(np.int32)
        dtype = np.int32 if self.output_mode == "int" else self.dtype
        return encode_categorical(indices, self.output_mode, depth, dtype, who=self._who())

    def get_config(self) -> dict:
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries,
                "num_bins": self.num_bins, "epsilon": self.epsilon,
                "output_mode": self.output_mode, "sparse": False}

    @classmethod
    def from_config(cls, config: dict) -> "Discretization":
        config = dict(config)
        bounds = config.pop("bin_boundaries", None)
        if config.get("num_bins") is None:
            return cls(bin_boundaries=bounds, **config)
        layer = cls(**config)   # adapted: Keras keeps both, the constructor takes one
        layer.bin_boundaries = None if bounds is None else layer._boundaries(bounds)
        return layer
