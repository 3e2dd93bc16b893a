"""Keras 3's numeric preprocessing layers: Normalization, Discretization and
CategoryEncoding.

Their statistics come from `adapt(data)` (or the constructor), not from training:
Normalization keeps the mean and variance as non-trainable state of the model that
holds it (Keras's weights `mean`, `variance`, `count`, in that order, so a
`.weights.h5` file interchanges), and a compiled training step reads them as
constants. Discretization keeps its bin boundaries in its config, as Keras does.

>>> import numpy as np
>>> layer = Normalization(axis=None); layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
>>> np.round(layer(np.array([1.0, 2.0, 3.0])), 4)
array([-1.4142, -0.7071,  0.    ], dtype=float32)
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator

import numpy as np

from .base import Context, Layer, Shape
from .nodes import call_layer, is_symbolic
from .weight_view import WeightArray, named_weight

#: Keras's backend.epsilon(): the smallest standard deviation Normalization divides by
EPSILON = 1e-7


def adapt_batches(data: Any, who: str) -> Iterator[np.ndarray]:
    """The batches of adapt()'s `data`, as Keras reads it: an array (or anything with
    __array__, a pandas DataFrame) is one batch; any other iterable (a list of arrays, a
    generator) yields batches, of which an (x, y[, w]) tuple gives its x.

    >>> [b.shape for b in adapt_batches(np.zeros((4, 2)), "layer")]
    [(4, 2)]
    """
    if isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        yield np.asarray(data)
        return
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{who}.adapt: data must be an array or an iterable of batches "
                        f"(a list of arrays, a generator), got {type(data).__name__}")
    empty = True
    for batch in data:
        empty = False
        yield np.asarray(batch[0] if isinstance(batch, tuple) else batch)
    if empty:
        raise ValueError(f"{who}.adapt: data yielded no batches; pass a non-empty array or "
                         "iterable of batches, e.g. layer.adapt(x_train)")


def _axes_tuple(axis: Any, who: str) -> tuple[int, ...]:
    """Keras's axis argument (None, an int, or a sequence of ints) as a tuple."""
    if axis is None:
        return ()
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"{who}: axis must be None, an int or a tuple of ints, got "
                        f"{axis!r}") from None
    if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"{who}: axis must be None, an int or a tuple of ints, got {axis!r}")
    return tuple(int(a) for a in axes)


class Normalization(Layer):
    """Shift and scale each feature to mean 0 and variance 1: (x - mean) / sqrt(variance)
    (the standard deviation floored at 1e-7, as Keras), or the inverse with invert=True.

    `axis` (counted with the batch axis, as Keras; -1 the last) names the axes that get
    their own mean and variance; None, one mean and variance for everything. They come
    from `adapt(data)` (an array, or an iterable of batches) or from `mean=` and
    `variance=`; a model holding an adapted layer keeps them as non-trainable state,
    saved with it, in Keras's weight order: mean, variance, count.

    >>> layer = Normalization(axis=-1)
    >>> layer.adapt(np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0]]))
    >>> layer(np.array([[0.0, 7.0, 4.0]]))
    array([[-1., -1., -1.]], dtype=float32)
    """

    has_state = True

    def __init__(self, axis: int | tuple | None = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = self._who()
        self.axis = _axes_tuple(axis, who)
        if (mean is None) != (variance is None):
            raise ValueError(f"{who}: give mean and variance together, or neither (and call "
                             f"adapt(data)); got mean={mean!r}, variance={variance!r}")
        self.input_mean = None if mean is None else np.asarray(mean, self.dtype)
        self.input_variance = None if variance is None else np.asarray(variance, self.dtype)
        if mean is not None:
            if self.input_mean.shape != self.input_variance.shape:
                raise ValueError(f"{who}: mean and variance must have the same shape, got "
                                 f"{self.input_mean.shape} and {self.input_variance.shape}")
            if self.input_mean.ndim > len(self.axis):
                raise ValueError(f"{who}: mean of shape {self.input_mean.shape} has more "
                                 f"axes than axis={axis!r} keeps ({len(self.axis)})")
            if np.any(self.input_variance < 0):
                raise ValueError(f"{who}: variance must be >= 0, got {variance!r}")
            self.has_state = False   # constants of the layer, as Keras (no weights)
        self.invert = bool(invert)
        self._adapted: dict | None = None   # mean, variance, count from adapt()

    def _who(self) -> str:
        return f"Normalization {self.name!r}"

    # --- shapes ------------------------------------------------------------------
    def _keep_axes(self, input_shape: Shape, where: str = "input") -> tuple[int, ...]:
        """The kept axes of the full input (batch axis first), each of known length."""
        ndim = len(input_shape) + 1
        who = self._who()
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"{who}: axis {self.axis} is out of range for {where} of shape "
                             f"{(None, *input_shape)} (batch axis first)")
        keep = tuple(sorted(a % ndim for a in self.axis))
        if 0 in keep:
            raise ValueError(f"{who}: axis {self.axis} keeps the batch axis of {where} of "
                             f"shape {(None, *input_shape)}; for one feature per example "
                             "use axis=None, or give the data a features axis "
                             "(x.reshape(-1, 1))")
        if any(input_shape[a - 1] is None for a in keep):
            raise self.shape_error(input_shape, f"with known lengths on axes {list(keep)}")
        return keep

    def _stats_shape(self, input_shape: Shape) -> tuple:
        return tuple(input_shape[a - 1] for a in self._keep_axes(input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._keep_axes(input_shape)
        return input_shape

    def init_state(self, input_shape: Shape) -> dict:
        shape = self._stats_shape(input_shape)
        if self._adapted is not None:
            if self._adapted["mean"].shape != shape:
                raise ValueError(f"{self._who()} was adapted to data with features of shape "
                                 f"{self._adapted['mean'].shape}, but the model gives it "
                                 f"inputs of shape {(None, *input_shape)}; adapt it to data "
                                 "shaped like the model's inputs")
            return {k: v.copy() for k, v in self._adapted.items()}
        return {"mean": np.zeros(shape, self.dtype), "variance": np.ones(shape, self.dtype),
                "count": np.zeros((), np.int32)}

    @property
    def mean(self) -> WeightArray | None:
        """Keras's `normalizer.mean`: the mean the layer normalizes with (the model's
        state once a model holds it, else what adapt computed, else mean=); None before."""
        return self._statistic("mean")

    @property
    def variance(self) -> WeightArray | None:
        """Keras's `normalizer.variance`, as `mean`."""
        return self._statistic("variance")

    def _statistic(self, key: str) -> WeightArray | None:
        live = named_weight(self, key)
        if live is not None:
            return live
        source = self._adapted[key] if self._adapted is not None else \
            getattr(self, f"input_{key}", None)
        return None if source is None else \
            WeightArray.of(source, key, f"{self.name}/{key}", False)

    # --- adapt -------------------------------------------------------------------
    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        """Compute the mean and variance of `data` (an array of examples, or an
        iterable of batches) over every axis but `axis`; a model holding the layer
        uses them from then on. Batches are merged exactly (Chan et al.'s update).

        >>> layer = Normalization(axis=None); layer.adapt(np.array([1.0, 3.0]))
        >>> layer(np.array([3.0]))
        array([1.], dtype=float32)
        """
        who = self._who()
        if self.input_mean is not None:
            raise ValueError(f"{who} was given mean and variance; adapt() would replace "
                             "them: build the layer without mean=/variance= to adapt it")
        batches = adapt_batches(data, who)
        if steps is not None:
            batches = itertools.islice(batches, int(steps))
        mean = var = None
        count, shape = 0, None
        for batch in batches:
            batch = batch.astype(np.float64) if batch.dtype.kind in "biuf" else batch
            if batch.dtype.kind != "f":
                raise TypeError(f"{who}.adapt: data must hold numbers, got dtype "
                                f"{batch.dtype}; convert it with np.asarray(data, 'float32')")
            if batch.ndim == 0:
                raise ValueError(f"{who}.adapt: data must have a batch axis, got a scalar")
            if shape is None:
                shape = batch.shape[1:]
                keep = self._keep_axes(shape, "adapt's data")
                self._check_built_shape(shape, keep)
                reduce = tuple(a for a in range(batch.ndim) if a not in keep)
            elif tuple(batch.shape[a] for a in keep) != tuple(shape[a - 1] for a in keep):
                raise ValueError(f"{who}.adapt: a batch of shape {batch.shape} does not match "
                                 f"the first, of shape {(None, *shape)}")
            n = int(np.prod([batch.shape[a] for a in reduce]))
            if n == 0:
                continue
            b_mean, b_var = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
            if mean is None:
                mean, var, count = b_mean, b_var, n
                continue
            total = count + n
            delta = b_mean - mean
            mean = mean + delta * (n / total)
            var = (var * count + b_var * n + delta * delta * (count * n / total)) / total
            count = total
        if mean is None:
            raise ValueError(f"{who}.adapt: data holds no examples; pass at least one")
        self._adapted = {"mean": np.asarray(mean, self.dtype),
                         "variance": np.asarray(var, self.dtype),
                         "count": np.asarray(count, np.int32)}
        self._write_into_model()

    def _check_built_shape(self, shape: tuple, keep: tuple) -> None:
        """adapt()'s data must fit the shape the layer was given (input_shape=, or a model)."""
        known = self.input_shape or getattr(self, "_called_shape", None)
        if known is None or isinstance(known, list) or len(known) != len(shape):
            return
        if any(known[a - 1] not in (None, shape[a - 1]) for a in keep):
            raise ValueError(f"{self._who()}.adapt: data of shape {(None, *shape)} does not "
                             f"fit the layer's input shape {(None, *known)} on axes "
                             f"{list(keep)}")

    def _write_into_model(self) -> None:
        """A layer adapted after its model was built: the model's state takes the new
        statistics (the state is the model's; the layer only proposes it)."""
        owner = None if self._owner is None else self._owner()
        if owner is None or getattr(owner, "params", None) is None:
            return
        slots = dict((path.rsplit("/", 1)[1], w) for path, w in self._weight_slots("adapt"))
        if slots and slots["mean"].shape != self._adapted["mean"].shape:
            raise ValueError(f"{self._who()}.adapt: the model holding the layer gives it "
                             f"features of shape {slots['mean'].shape}, the data "
                             f"{self._adapted['mean'].shape}")
        for key, w in slots.items():
            np.copyto(w, self._adapted[key], casting="unsafe")

    # --- the forward pass ----------------------------------------------------------
    def _statistics(self, ctx: Context, x: Any) -> tuple[Any, Any]:
        """(mean, variance) shaped to broadcast over x."""
        keep = self._keep_axes(np.shape(x)[1:])
        where = [1] * np.ndim(x)
        if self.input_mean is not None:
            mean, var = self.input_mean, self.input_variance
            for i in range(1, mean.ndim + 1):
                where[keep[-i]] = mean.shape[-i]
        else:
            state = ctx.state.get(self.name) if ctx.state else None
            if state is None:
                state = self._adapted
            if state is None or _never_adapted(state):
                raise ValueError(f"{self._who()} has no mean and variance yet: call "
                                 "layer.adapt(data) on training data before calling, fitting "
                                 "or predicting (or pass mean= and variance=)")
            mean, var = state["mean"], state["variance"]
            for a in keep:
                where[a] = np.shape(x)[a]
        return np.reshape(mean, where), np.reshape(var, where)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if isinstance(x, np.ndarray) and x.dtype != self.dtype:
            if x.dtype.kind not in "biuf":
                raise TypeError(f"{self._who()}: inputs must be numbers, got dtype {x.dtype}")
            x = x.astype(self.dtype)
        mean, var = self._statistics(ctx, x)
        std = np.maximum(np.sqrt(var), np.asarray(EPSILON, self.dtype))
        return mean + x * std if self.invert else (x - mean) / std

    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        """On arrays outside a model: the transform with the adapted statistics (Keras's
        `layer(x)`); in a model or on KerasTensors, as every layer."""
        owner = None if self._owner is None else self._owner()
        if is_symbolic(inputs) or (owner is not None and getattr(owner, "params", None)
                                   is not None):
            return call_layer(self, inputs, training)
        return self.call({}, np.asarray(inputs), Context(training=bool(training)))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": None if self.input_mean is None else self.input_mean.tolist(),
                "variance": None if self.input_variance is None
                else self.input_variance.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> "Normalization":
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return cls(**config)


def _never_adapted(state: dict) -> bool:
    """True for the statistics a layer starts with (count 0, mean 0, variance 1), when
    they are concrete arrays; a staged (compiled) step checked them on its first run.
    Keras's own files keep count at 0, so an adapted mean or variance also counts."""
    arrays = [state["count"], state["mean"], state["variance"]]
    if not all(isinstance(a, (np.ndarray, np.generic)) for a in arrays):
        return False
    return (int(state["count"]) == 0 and not np.any(state["mean"])
            and bool(np.all(state["variance"] == 1)))
