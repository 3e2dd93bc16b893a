"""Weight initialisers, by Keras name: each maps (rng, shape, dtype) to an array.

Fan-in and fan-out follow Keras: for a Dense kernel (in, out) they are the two
dimensions; for a convolution kernel (kh, kw, c_in, c_out) each is multiplied by
the receptive field kh * kw.

Two spellings, one protocol. The functions (``glorot_uniform(rng, shape, dtype)``)
draw from the generator a layer passes (the model's seed). Keras 3's classes
(``GlorotUniform(seed=0)``, ``VarianceScaling(scale, mode, distribution)``, ...)
take the same call, and Keras's own ``init(shape, dtype=None)`` too; a class
given ``seed`` draws from its own generator, so it gives the same values on
every call, as a seeded Keras initializer does. Layers take either spelling,
a name (``"he_normal"``, ``"HeNormal"``, ``"truncated_normal"``) or a
``{"class_name", "config"}`` dict, and save a class as that dict.

>>> import numpy as np
>>> w = GlorotUniform(seed=0)(shape=(3, 4)); w.shape, w.dtype
((3, 4), dtype('float32'))
>>> bool(np.all(w == GlorotUniform(seed=0)((3, 4))))
True
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import re
from typing import Any, Callable, Mapping

import numpy as np

from .configured import Configured
from .seeding import fresh_seed

InitializerFn = Callable[[np.random.Generator, tuple, np.dtype], np.ndarray]

#: the standard deviation of a standard normal cut at +-2 (Keras's truncation)
TRUNCATED_STD = 0.87962566103423978


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _uniform(limit: float) -> Callable:
    return lambda rng, shape, dtype: rng.uniform(-limit, limit, shape).astype(dtype)


def _truncated_standard(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal draws cut at +-2 (redrawn until inside), float64."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out


def _normal(std: float) -> Callable:
    # Keras truncates its "normal" initialisers at two standard deviations and
    # rescales so the variance is std**2 (TRUNCATED_STD is the std of a N(0,1) cut at +-2).
    def draw(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
        return (_truncated_standard(rng, shape) * (std / TRUNCATED_STD)).astype(dtype)
    return draw


def glorot_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fans(shape)
    return _uniform(np.sqrt(6.0 / (fan_in + fan_out)))(rng, shape, dtype)


def glorot_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Truncated normal with std sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return _normal(np.sqrt(2.0 / (fan_in + fan_out)))(rng, shape, dtype)


def he_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / fan_in) (He et al. 2015), for relu layers."""
    return _uniform(np.sqrt(6.0 / fans(shape)[0]))(rng, shape, dtype)


def he_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Truncated normal with std sqrt(2 / fan_in)."""
    return _normal(np.sqrt(2.0 / fans(shape)[0]))(rng, shape, dtype)


def lecun_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(3 / fan_in): variance 1 / fan_in."""
    return _uniform(np.sqrt(3.0 / fans(shape)[0]))(rng, shape, dtype)


def lecun_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Truncated normal with std fan_in ** -1/2: the textbook's m^(-1/2) rule for
    the scaled tanh 1.7159 tanh(2x/3) on standardised data."""
    return _normal(fans(shape)[0] ** -0.5)(rng, shape, dtype)


def orthogonal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """A (semi-)orthogonal matrix, Keras's default for recurrent kernels."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return q.reshape(shape).astype(dtype)


def zeros(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """All zeros (rng is unused: every initializer takes one)."""
    return np.zeros(shape, dtype)


def ones(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """All ones (rng is unused: every initializer takes one)."""
    return np.ones(shape, dtype)


def random_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """N(0, 0.05**2), Keras's RandomNormal default."""
    return (0.05 * rng.standard_normal(shape)).astype(dtype)


def random_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-0.05, 0.05), Keras's RandomUniform default."""
    return _uniform(0.05)(rng, shape, dtype)


ALL = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                               lecun_uniform, lecun_normal, orthogonal, zeros, ones,
                               random_normal, random_uniform)}


# ---------------------------------------------------------------- Keras 3's classes

def _shape(shape: Any, who: str) -> tuple:
    try:
        out = tuple(int(d) for d in (shape if np.iterable(shape) else (shape,)))
    except (TypeError, ValueError):
        raise ValueError(f"{who}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in out):
        raise ValueError(f"{who}: shape must hold sizes >= 0, got {shape!r}")
    return out


def _number(who: str, name: str, value: Any, *, positive: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        need = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{who}: {name} must be {need}, got {value!r}")
    return float(value)


def _keras_call(call: Callable) -> Callable:
    """A subclass's Keras-style __call__(shape, dtype=None), also callable as adkit's
    layers call initializers, (rng, shape, dtype): the generator is dropped."""

    @functools.wraps(call)
    def __call__(self: "Initializer", *args: Any, **kwargs: Any) -> np.ndarray:
        if args and isinstance(args[0], np.random.Generator):
            shape, dtype = (list(args[1:]) + [None, None])[:2]
            shape = kwargs.pop("shape", shape)
            dtype = np.dtype(kwargs.pop("dtype", dtype) or np.float32)
            return np.asarray(call(self, shape, dtype=dtype), dtype=dtype)
        return call(self, *args, **kwargs)

    return __call__


class Initializer(Configured):
    """Base class of Keras 3's initializer classes. Subclasses define
    ``draw(rng, shape, dtype)`` and ``get_config()``.

    An instance is called either as adkit's layers call it, ``init(rng, shape,
    dtype)``, or as Keras code calls it, ``init(shape, dtype=None)`` (float32 by
    default). A subclass written for Keras, defining ``__call__(self, shape,
    dtype=None)`` instead of ``draw``, works in layers too.

    >>> Constant(2.0)((2,))
    array([2., 2.], dtype=float32)
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:   # written for Keras: __call__(self, shape, dtype=None)
            cls.__call__ = _keras_call(cls.__dict__["__call__"])

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        if args and isinstance(args[0], np.random.Generator):
            rng, args = args[0], args[1:]
        else:
            rng = kwargs.pop("rng", None)
        who = type(self).__name__
        try:
            bound = inspect.signature(lambda shape, dtype=None: None).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{who}: call as init(shape, dtype=None) or init(rng, shape, dtype) "
                            f"({e})") from None
        shape = _shape(bound.arguments["shape"], who)
        dtype = np.dtype(bound.arguments.get("dtype") or np.float32)
        return np.asarray(self.draw(self._generator(rng), shape, dtype), dtype=dtype)

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator:
        return rng if rng is not None else np.random.default_rng(fresh_seed())

    def draw(self, rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """The initial values of a weight of this shape and dtype."""
        raise NotImplementedError(f"{type(self).__name__} is an Initializer without draw: define "
                                  "draw(self, rng, shape, dtype)")

    def clone(self) -> "Initializer":
        """A new initializer with the same configuration (Keras's clone).

        >>> Orthogonal(gain=2.0).clone().gain
        2.0
        """
        return type(self).from_config(self.get_config())


class RandomInitializer(Initializer):
    """An initializer that draws random numbers: from its own generator when given
    ``seed`` (the same values on every call, as Keras's seeded initializers), else
    from the generator the layer passes (the model's seed)."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)
                                 or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be an integer >= 0 or None, "
                             f"got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        return super()._generator(rng)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class Zeros(Initializer):
    """All zeros."""

    def draw(self, rng, shape, dtype):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    """All ones."""

    def draw(self, rng, shape, dtype):
        return np.ones(shape, dtype)


class Constant(Initializer):
    """Every entry ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = _number("Constant", "value", value)

    def draw(self, rng, shape, dtype):
        return np.full(shape, self.value, dtype)

    def get_config(self) -> dict:
        return {"value": self.value}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D weights only; a rectangular shape gets
    ones on the main diagonal, as Keras's ``eye``)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _number("Identity", "gain", gain)

    def draw(self, rng, shape, dtype):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer can only make 2-D matrices, got shape {shape} "
                             f"of rank {len(shape)}; use it for a Dense kernel or a square weight")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self) -> dict:
        return {"gain": self.gain}


class RandomNormal(RandomInitializer):
    """N(mean, stddev**2) draws (Keras defaults mean 0, stddev 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _number("RandomNormal", "mean", mean)
        self.stddev = _number("RandomNormal", "stddev", stddev)
        if self.stddev < 0:
            raise ValueError(f"RandomNormal: stddev must be >= 0, got {stddev!r}")

    def draw(self, rng, shape, dtype):
        return (self.mean + self.stddev * rng.standard_normal(shape)).astype(dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """N(mean, stddev**2) cut at two standard deviations from the mean (redrawn), as
    Keras: ``stddev`` is the normal's before the cut, so the values' standard
    deviation is ``0.8796 * stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _number("TruncatedNormal", "mean", mean)
        self.stddev = _number("TruncatedNormal", "stddev", stddev)
        if self.stddev < 0:
            raise ValueError(f"TruncatedNormal: stddev must be >= 0, got {stddev!r}")

    def draw(self, rng, shape, dtype):
        return (self.mean + self.stddev * _truncated_standard(rng, shape)).astype(dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """U(minval, maxval) draws (Keras defaults -0.05, 0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval = _number("RandomUniform", "minval", minval)
        self.maxval = _number("RandomUniform", "maxval", maxval)
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform: maxval ({maxval!r}) must be >= minval ({minval!r})")

    def draw(self, rng, shape, dtype):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


def _axes(axes: Any) -> list | None:
    """Keras's input_axes/output_axes: which axes count as inputs (outputs) for the fans."""
    if axes is None:
        return None
    items = list(axes) if np.iterable(axes) else [axes]
    if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in items):
        raise ValueError(f"input_axes/output_axes must be ints or lists of ints, got {axes!r}")
    return [int(a) for a in items]


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Values of variance ``scale / n``, n the fan-in (``mode="fan_in"``), fan-out or
    their mean (``"fan_avg"``): ``"truncated_normal"`` (``"normal"`` is its alias) cut at
    two standard deviations and rescaled by 1 / 0.87962566103423978 so the variance
    stays ``scale / n``; ``"untruncated_normal"``; ``"uniform"`` on +-sqrt(3 scale / n).

    >>> bool(VarianceScaling(2.0, "fan_in", "uniform", seed=0)((6, 2)).max() <= 1.0)
    True
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None,
                 input_axes: Any = None, output_axes: Any = None) -> None:
        super().__init__(seed)
        self.input_axes, self.output_axes = _axes(input_axes), _axes(output_axes)
        who = type(self).__name__
        self.scale = _number(who, "scale", scale, positive=True)
        if mode not in _MODES:
            raise ValueError(f"{who}: mode must be one of {list(_MODES)}, got {mode!r}")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in _DISTRIBUTIONS:
            raise ValueError(f"{who}: distribution must be one of {list(_DISTRIBUTIONS)} "
                             f"('normal' means 'truncated_normal'), got {distribution!r}")
        self.mode, self.distribution = mode, dist

    def draw(self, rng, shape, dtype):
        if self.input_axes is not None and self.output_axes is not None:
            fan_in = int(np.prod([shape[a] for a in self.input_axes]))
            fan_out = int(np.prod([shape[a] for a in self.output_axes]))
        else:
            fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            return _uniform(math.sqrt(3.0 * variance))(rng, shape, dtype)
        if self.distribution == "truncated_normal":
            return _normal(math.sqrt(variance))(rng, shape, dtype)
        return (math.sqrt(variance) * rng.standard_normal(shape)).astype(dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _preset(name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    """A VarianceScaling with fixed arguments, configured by its seed (and Keras 3's
    input_axes/output_axes) alone."""

    def __init__(self: VarianceScaling, seed: int | None = None, input_axes: Any = None,
                 output_axes: Any = None) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self: VarianceScaling) -> dict:
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal with std sqrt(2 / (fan_in + fan_out)).")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform",
                    "U(-l, l) with l = sqrt(6 / fan_in) (He et al. 2015).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "Truncated normal with std sqrt(2 / fan_in) (He et al. 2015).")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "U(-l, l) with l = sqrt(3 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "Truncated normal with std sqrt(1 / fan_in).")


class Orthogonal(RandomInitializer):
    """``gain`` times a (semi-)orthogonal matrix, the weight flattened to
    (prod(shape[:-1]), shape[-1]) (Saxe et al. 2014): QR of a Gaussian matrix with
    the signs of R's diagonal folded into Q."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = _number("Orthogonal", "gain", gain)

    def draw(self, rng, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a weight of rank >= 2, got shape "
                             f"{shape}; use it for kernels, not biases")
        return (self.gain * orthogonal(rng, shape, np.float64)).astype(dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "gain": self.gain}


CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal,
    VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
    LecunNormal, Orthogonal)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: every name a string may give (case-insensitive): the functions, Keras's class names
#: and their snake_case spellings, and Keras's aliases
_BY_NAME: dict[str, Any] = {**{_snake(k): v for k, v in CLASSES.items()},
                            **{k.lower(): v for k, v in CLASSES.items()},
                            "normal": RandomNormal, "uniform": RandomUniform, "one": Ones,
                            "zero": Zeros, "identity_initializer": Identity,
                            "orthogonal_initializer": Orthogonal, **ALL}


class _KerasFunction(Initializer):
    """A plain function written for Keras, ``f(shape, dtype=None)``, as an initializer."""

    def __init__(self, function: Callable) -> None:
        self.function = function

    def draw(self, rng, shape, dtype):
        return self.function(shape, dtype=dtype)

    def get_config(self) -> dict:
        raise ValueError(f"the initializer function {self.function!r} is code, which a saved "
                         "model never holds; use one of adkit.nn.initializers' classes or "
                         "set the weights after building")

    def __repr__(self) -> str:
        return f"_KerasFunction({self.function!r})"


def _valid() -> str:
    return ", ".join(sorted(set(CLASSES) | set(ALL) | {"truncated_normal", "variance_scaling",
                                                       "constant", "identity"}))


def get(identifier: Any) -> InitializerFn:
    """An initialiser from a name (``"glorot_uniform"``, ``"GlorotUniform"``,
    ``"truncated_normal"``, ...), a ``{"class_name", "config"}`` dict (as Keras and
    adkit save them), an Initializer, or a callable: ``f(rng, shape, dtype)``, or a
    Keras-style ``f(shape, dtype=None)``.

    >>> get("he_normal") is he_normal, get({"class_name": "Constant", "config": {"value": 3}})
    (True, Constant(value=3.0))
    """
    if isinstance(identifier, Initializer):
        return identifier
    if callable(identifier) and not isinstance(identifier, type):
        if identifier in ALL.values():
            return identifier
        params = _parameters(identifier)
        return _KerasFunction(identifier) if params[:1] == ["shape"] else identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        found = CLASSES.get(identifier) or _BY_NAME.get(identifier.lower())
        if found is None:
            raise ValueError(f"unknown initializer {identifier!r}; valid names: {_valid()}")
        return found() if isinstance(found, type) else found
    if isinstance(identifier, Mapping) and "class_name" in identifier:
        name = str(identifier["class_name"])
        found = CLASSES.get(name) or _BY_NAME.get(name.lower())
        config = identifier.get("config") or {}
        if not isinstance(found, type):
            if found is not None and not config:
                return found
            raise ValueError(f"unknown initializer class_name {identifier['class_name']!r}; "
                             f"valid: {', '.join(sorted(CLASSES))}")
        if not isinstance(config, Mapping):
            raise ValueError(f"initializer {identifier['class_name']!r}: config must be a dict, "
                             f"got {config!r}")
        try:
            return found.from_config(config)
        except TypeError as e:
            raise ValueError(f"initializer {identifier['class_name']!r}: bad config {dict(config)}"
                             f" ({e})") from None
    raise ValueError(f"cannot make an initializer from {identifier!r}; pass a name ({_valid()}), "
                     "an Initializer such as GlorotUniform(seed=0), a {'class_name', 'config'} "
                     "dict, or a function f(shape, dtype=None)")


def _parameters(fn: Callable) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def serialize(init: Any) -> Any:
    """What a model config stores for an initializer: a name stays a name, a function
    of this module its name, a class ``{"class_name", "config"}``.

    >>> serialize("zeros"), serialize(he_normal), serialize(Orthogonal(seed=1))
    ('zeros', 'he_normal', {'class_name': 'Orthogonal', 'config': {'seed': 1, 'gain': 1.0}})
    """
    if isinstance(init, (str, Mapping)):
        return init
    if isinstance(init, type) and issubclass(init, Initializer):
        init = init()   # a class given for an instance: its defaults
    if isinstance(init, Initializer):
        return {"class_name": type(init).__name__, "config": init.get_config()}
    return name_of(init)


def deserialize(config: Any) -> InitializerFn:
    """The initializer ``serialize`` described (``get``'s dict and name forms)."""
    return get(config)


def name_of(init: InitializerFn) -> str:
    """The name under which `init` is saved in a model config."""
    name = getattr(init, "__name__", None)
    if ALL.get(name) is not init:
        raise ValueError(f"initializer {init!r} is not one of adkit.nn.initializers "
                         f"({', '.join(sorted(ALL))}), so a saved model could not name it; "
                         "initialise with a named one and set the weights afterwards")
    return name


def _also_the_class(fn: Callable, cls: type) -> Callable:
    """fn, which Keras 3 code also calls as its class: ``he_normal(seed=0)`` (no generator
    first) is ``HeNormal(seed=0)``, as ``keras.initializers.he_normal`` is the class."""

    @functools.wraps(fn)
    def initializer(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], np.random.Generator):
            return fn(*args, **kwargs)
        return cls(*args, **kwargs)

    return initializer


glorot_uniform, glorot_normal = (_also_the_class(glorot_uniform, GlorotUniform),
                                 _also_the_class(glorot_normal, GlorotNormal))
he_uniform, he_normal = _also_the_class(he_uniform, HeUniform), _also_the_class(he_normal, HeNormal)
lecun_uniform, lecun_normal = (_also_the_class(lecun_uniform, LecunUniform),
                               _also_the_class(lecun_normal, LecunNormal))
orthogonal = _also_the_class(orthogonal, Orthogonal)
zeros, ones = _also_the_class(zeros, Zeros), _also_the_class(ones, Ones)
random_normal = _also_the_class(random_normal, RandomNormal)
random_uniform = _also_the_class(random_uniform, RandomUniform)
ALL.update({f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                    lecun_uniform, lecun_normal, orthogonal, zeros, ones,
                                    random_normal, random_uniform)})
_BY_NAME.update(ALL)

# Keras's other snake_case exports of its classes (keras.initializers.truncated_normal is
# TruncatedNormal)
truncated_normal, variance_scaling, constant, identity = (TruncatedNormal, VarianceScaling,
                                                         Constant, Identity)
