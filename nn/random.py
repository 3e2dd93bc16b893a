"""Keras 3's `keras.random`: random arrays for layers and code written with it
(`keras.random.normal(shape, seed=self.seed_generator)`), with Keras's arguments and
defaults (keras.config.floatx(), float32, unless dtype is given).

Where the numbers come from, by `seed`:
- an int: a generator seeded with it, so the same call gives the same numbers every
  time (as Keras);
- a `SeedGenerator`: itself (a NumPy Generator), advanced by every draw;
- None: NumPy's global random state (np.random.seed makes it reproducible; adkit.compile
  sees the draw and runs the function eagerly instead of freezing the numbers).

Inside a layer's call during a model's step (a subclassed layer's `call`), None and a
SeedGenerator draw from the step's generator instead, as adkit.nn's own layers
(Dropout) do: it is seeded by the model's seed and the step, so every training step
gets new numbers, a compiled step (nn/compiled_step.py) draws exactly the numbers the
eager step draws, and a fit is reproducible from the model's seed.

>>> a = normal((2,), seed=1); b = normal((2,), seed=1)
>>> bool(np.all(a == b)), a.dtype
(True, dtype('float32'))
>>> g = SeedGenerator(7); bool(np.all(uniform((3,), seed=g) == uniform((3,), seed=g)))
False
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import adkit

from . import scipy_lazy

from .backend_compat import floatx
from .layers.subclassing import active_frame
from .seeding import fresh_seed

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "dropout",
           "shuffle", "categorical", "gamma", "beta", "binomial"]


class SeedGenerator(np.random.Generator):
    """A stateful source of random numbers, Keras's keras.random.SeedGenerator: give it
    as `seed=` to the functions here; each draw advances it, so successive draws differ
    and a generator made with the same seed repeats the sequence.

    It is a NumPy Generator (PCG64, seeded with `seed`), so adkit.compile sees a function
    draw from it and runs that function eagerly rather than replaying frozen numbers.

    >>> g = SeedGenerator(42)
    >>> first = normal((2,), seed=g)
    >>> bool(np.all(first == normal((2,), seed=SeedGenerator(42))))
    True
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"SeedGenerator: seed must be an int or None, got {seed!r}")
        unknown = set(kwargs) - {"backend", "dtype"}
        if unknown:
            raise TypeError(f"SeedGenerator got unexpected arguments {sorted(unknown)}")
        # unseeded: keras.utils.set_random_seed makes the seed reproducible
        self.seed = fresh_seed(31) if seed is None else int(seed)
        self.name = name or "seed_generator"
        super().__init__(np.random.PCG64(self.seed))

    def get_config(self) -> dict:
        """{"seed": ...}, as Keras saves it."""
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> "SeedGenerator":
        """A SeedGenerator from get_config's dict."""
        return cls(**config)

    def __reduce__(self) -> tuple:
        # NumPy's Generator pickles (and deep-copies) as a plain Generator: keep the class,
        # the seed and the position in the sequence
        return (type(self), (self.seed, self.name), self.bit_generator.state)

    def __setstate__(self, state: dict) -> None:
        self.bit_generator.state = state

    def __repr__(self) -> str:
        return f"<SeedGenerator name={self.name!r} seed={self.seed}>"

    __str__ = __repr__


def _step_generator() -> Any:
    """The generator of the model step whose layer is calling, or None outside one."""
    frame = active_frame()
    return None if frame is None else frame.ctx.rng


def _generator(seed: Any, who: str) -> Any:
    """The generator a draw with this seed uses (see the module docstring)."""
    if isinstance(seed, SeedGenerator) or seed is None:
        step = _step_generator()
        if step is not None:
            return step
        if seed is not None:
            return seed
        # seeded from NumPy's global state: np.random.seed governs it, compile sees it
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"keras.random.{who}: seed must be None, an int or a "
                    f"keras.random.SeedGenerator, got {type(seed).__name__}")


def _shape(shape: Any, who: str) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as err:
        raise TypeError(f"keras.random.{who}: shape must be a tuple of ints, got "
                        f"{shape!r}") from err
    if any(n < 0 for n in out):
        raise ValueError(f"keras.random.{who}: shape {out} has a negative length")
    return out


def _float_dtype(dtype: Any, who: str) -> np.dtype:
    out = np.dtype(floatx() if dtype is None else dtype)
    if out.kind != "f":
        raise ValueError(f"keras.random.{who}: dtype must be a float dtype, got {out.name}")
    return out


def normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
           seed: Any = None) -> Any:
    """Normally distributed numbers of the given shape, mean and standard deviation."""
    out_dtype = _float_dtype(dtype, "normal")
    z = _generator(seed, "normal").standard_normal(_shape(shape, "normal"))
    return (mean + stddev * z).astype(out_dtype)


def uniform(shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None,
            seed: Any = None) -> Any:
    """Uniformly distributed numbers in [minval, maxval)."""
    out_dtype = _float_dtype(dtype, "uniform")
    u = _generator(seed, "uniform").random(_shape(shape, "uniform"))
    return (minval + (maxval - minval) * u).astype(out_dtype)


#: erf(-sqrt(2)): the normal CDF at -2, on erf's scale
_TWO_SIGMA = math.erf(-math.sqrt(2.0))


def truncated_normal(shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None,
                     seed: Any = None) -> Any:
    """Normal numbers kept within two standard deviations of the mean (drawn by the
    inverse CDF on that interval, so one uniform number each)."""
    out_dtype = _float_dtype(dtype, "truncated_normal")
    u = _generator(seed, "truncated_normal").random(_shape(shape, "truncated_normal"))
    z = math.sqrt(2.0) * scipy_lazy.special().erfinv(_TWO_SIGMA * (1.0 - 2.0 * u))
    return (mean + stddev * np.clip(z, -2.0, 2.0)).astype(out_dtype)


def randint(shape: Any, minval: int, maxval: int, dtype: Any = "int32",
            seed: Any = None) -> np.ndarray:
    """Random integers in [minval, maxval)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"keras.random.randint: dtype must be an integer dtype, got "
                         f"{dtype.name}")
    if int(maxval) <= int(minval):
        raise ValueError(f"keras.random.randint: maxval ({maxval}) must exceed minval "
                         f"({minval})")
    drawn = _generator(seed, "randint").integers(int(minval), int(maxval),
                                                 size=_shape(shape, "randint"))
    return drawn.astype(dtype)


def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Any:
    """inputs with each entry zeroed with probability rate and the rest scaled by
    1 / (1 - rate); noise_shape (None entries: the input's) shares one draw across the
    axes where it is 1."""
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"keras.random.dropout: rate must be in [0, 1], got {rate!r}")
    if rate == 1.0:
        return inputs * 0
    if rate == 0.0:
        return inputs
    full = np.shape(inputs)
    if noise_shape is None:
        noise_shape = full
    elif len(noise_shape) != len(full):
        raise ValueError(f"keras.random.dropout: noise_shape {tuple(noise_shape)} needs one "
                         f"entry per axis of the inputs, shape {full}")
    noise_shape = _shape([n if n is not None else full[i] for i, n in enumerate(noise_shape)],
                         "dropout")
    keep = 1.0 - float(rate)
    kept = _generator(seed, "dropout").random(noise_shape) < keep
    dtype = np.result_type(getattr(inputs, "dtype", np.float32))
    return np.where(kept, inputs * np.asarray(1.0 / keep, dtype), np.zeros((), dtype))


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> Any:
    """x with its slices along axis in a random order."""
    n = np.shape(x)[axis]
    order = _generator(seed, "shuffle").permutation(n)
    # indexing, not np.take: a compiled step keeps the per-step order a program value
    return x[(slice(None),) * (axis % np.ndim(x)) + (order,)]


def categorical(logits: Any, num_samples: int, dtype: Any = "int32", seed: Any = None) -> Any:
    """num_samples class indices for each row of logits (batch, classes), drawn with
    probabilities softmax(logits), by the Gumbel-max trick."""
    if np.ndim(logits) != 2:
        raise ValueError(f"keras.random.categorical: logits must be 2-D (batch, classes), "
                         f"got shape {np.shape(logits)}")
    logits = adkit.stop_gradient(logits)
    batch, classes = np.shape(logits)
    u = _generator(seed, "categorical").random((batch, int(num_samples), classes))
    with np.errstate(divide="ignore"):
        gumbel = -np.log(-np.log(u))
    return np.argmax(logits[:, None, :] + gumbel, axis=-1).astype(np.dtype(dtype))


def gamma(shape: Any, alpha: float, dtype: Any = None, seed: Any = None) -> np.ndarray:
    """Gamma-distributed numbers with concentration alpha (scale 1)."""
    out_dtype = _float_dtype(dtype, "gamma")
    return _generator(seed, "gamma").gamma(alpha, 1.0, size=_shape(shape, "gamma")
                                           ).astype(out_dtype)


def beta(shape: Any, alpha: float, beta: float, dtype: Any = None,  # noqa: F811
         seed: Any = None) -> np.ndarray:
    """Beta-distributed numbers with parameters alpha and beta."""
    out_dtype = _float_dtype(dtype, "beta")
    return _generator(seed, "beta").beta(alpha, beta, size=_shape(shape, "beta")
                                         ).astype(out_dtype)


def binomial(shape: Any, counts: Any, probabilities: Any, dtype: Any = None,
             seed: Any = None) -> np.ndarray:
    """The number of successes in counts trials of probability probabilities."""
    out_dtype = _float_dtype(dtype, "binomial")
    return _generator(seed, "binomial").binomial(counts, probabilities,
                                                 size=_shape(shape, "binomial")
                                                 ).astype(out_dtype)
