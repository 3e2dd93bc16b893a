"""Learning-rate schedules: annealing the step size as training goes on.

A schedule is a callable ``schedule(step) -> float`` where ``step`` is the
number of optimizer steps already taken (0 for the first update), exactly what
``Optimizer.current_learning_rate`` passes. Formulas and argument names follow
``keras.optimizers.schedules``; every schedule round-trips through
``get_config``/``from_config`` and, wrapped as ``{"class_name", "config"}``,
through ``get``.

>>> s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> s(0), s(10), s(20)
(0.1, 0.05, 0.025)
"""

from __future__ import annotations

import bisect
import inspect
import math
import numbers
from typing import Any, Mapping

from .configured import Configured

__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay", "StepDecay",
           "PiecewiseConstantDecay", "PolynomialDecay", "CosineDecay", "CosineDecayRestarts",
           "get", "serialize", "deserialize"]


def _rate(name: str, value: Any, where: str) -> float:
    """A finite float >= 0, or a ValueError naming the argument."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be a finite float >= 0, got {value!r}") from None
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"{where}: {name} must be a finite float >= 0, got {value!r}")
    return out


def _positive(name: str, value: Any, where: str) -> float:
    out = _rate(name, value, where)
    if out == 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return out


def _step(step: Any, where: str) -> int:
    try:
        out = int(step)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: step must be an integer >= 0, got {step!r}") from None
    if out != step or out < 0:
        raise ValueError(f"{where}: step must be an integer >= 0, got {step!r}")
    return out


class LearningRateSchedule(Configured):
    """Base class: subclasses implement ``__call__(step)`` and ``get_config``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LearningRateSchedule":
        """The schedule that ``get_config`` described (a Keras config's ``name`` is
        accepted and dropped where the schedule keeps none).

        >>> StepDecay.from_config(StepDecay(1.0, 5, 0.1).get_config())(5)
        0.1
        """
        config = dict(config)
        if "name" not in inspect.signature(cls.__init__).parameters:
            config.pop("name", None)
        return cls(**config)

    __hash__ = None  # mutable-looking value objects: compare by config, do not hash


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with
    ``staircase=True`` the exponent is floored, so the rate drops in steps.

    >>> ExponentialDecay(1.0, 2, 0.5, staircase=True)(3)
    0.5
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str | None = None):
        where = "ExponentialDecay"
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate, where)
        self.decay_steps = _positive("decay_steps", decay_steps, where)
        self.decay_rate = _positive("decay_rate", decay_rate, where)
        self.staircase = bool(staircase)
        self.name = type(self).__name__ if name is None else str(name)

    def __call__(self, step: int) -> float:
        p = _step(step, "ExponentialDecay") / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """1/t annealing: ``initial_learning_rate / (1 + decay_rate * step / decay_steps)``,
    the fraction floored when ``staircase=True`` (Keras's formula).

    >>> InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)(3)
    0.25
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str | None = None):
        where = "InverseTimeDecay"
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate, where)
        self.decay_steps = _positive("decay_steps", decay_steps, where)
        self.decay_rate = _rate("decay_rate", decay_rate, where)
        self.staircase = bool(staircase)
        self.name = type(self).__name__ if name is None else str(name)

    def __call__(self, step: int) -> float:
        p = _step(step, "InverseTimeDecay") / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class StepDecay(LearningRateSchedule):
    """The step schedule: multiply the rate by ``factor`` every ``drop_every`` steps,
    ``initial_learning_rate * factor ** (step // drop_every)``.

    >>> [StepDecay(1.0, drop_every=2, factor=0.5)(s) for s in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, initial_learning_rate: float, drop_every: int, factor: float):
        where = "StepDecay"
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate, where)
        if isinstance(drop_every, bool) or not isinstance(drop_every, numbers.Real) \
                or int(drop_every) != drop_every or drop_every < 1:
            raise ValueError(f"{where}: drop_every must be an integer >= 1, got {drop_every!r}")
        self.drop_every = int(drop_every)
        self.factor = _positive("factor", factor, where)

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.factor ** (_step(step, "StepDecay") // self.drop_every)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "drop_every": self.drop_every, "factor": self.factor}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` while
    ``step <= boundaries[1]``, ..., ``values[-1]`` after the last boundary (Keras's
    convention: a boundary step still uses the rate before it).

    >>> s = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> s(10), s(11), s(21)
    (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries: list, values: list, name: str | None = None):
        where = "PiecewiseConstantDecay"
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{where}: values must have one more entry than boundaries, got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        for b in boundaries:
            _step(b, f"{where} boundaries")
        if any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{where}: boundaries must be strictly increasing, got {boundaries}")
        self.boundaries = [int(b) for b in boundaries]
        self.values = [_rate(f"values[{i}]", v, where) for i, v in enumerate(values)]
        self.name = "PiecewiseConstant" if name is None else str(name)

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_left(self.boundaries, _step(step, "PiecewiseConstantDecay"))]

    def get_config(self) -> dict:
        return {"boundaries": list(self.boundaries), "values": list(self.values),
                "name": self.name}


def _steps(name: str, value: Any, where: str) -> float:
    """A positive number of steps (Keras takes ints, floats work the same)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return value


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` in ``decay_steps`` steps:
    ``(initial - end) * (1 - step / decay_steps) ** power + end``, step capped at
    ``decay_steps``; with ``cycle=True`` decay_steps grows to the first multiple of itself
    at or past step (Keras's formula, power 1 a straight line).

    >>> s = PolynomialDecay(1.0, 10, end_learning_rate=0.0)
    >>> s(0), s(5), s(20)
    (1.0, 0.5, 0.0)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False,
                 name: str = "PolynomialDecay"):
        where = "PolynomialDecay"
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate, where)
        self.decay_steps = _steps("decay_steps", decay_steps, where)
        self.end_learning_rate = _rate("end_learning_rate", end_learning_rate, where)
        self.power = _positive("power", power, where)
        self.cycle, self.name = bool(cycle), str(name)

    def __call__(self, step: int) -> float:
        t = float(_step(step, "PolynomialDecay"))
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if t == 0 else math.ceil(t / self.decay_steps)
        else:
            t = min(t, decay_steps)
        fraction = 1.0 - t / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power
                + self.end_learning_rate)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine annealing (Loshchilov & Hutter 2017), Keras 3's form, with optional linear
    warmup: for ``warmup_steps`` steps the rate goes linearly from
    ``initial_learning_rate`` to ``warmup_target``; then, over ``decay_steps`` steps,
    ``rate * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)`` with rate
    the warmup target (the initial rate when ``warmup_target`` is None) and t the steps
    since the warmup, capped at ``decay_steps``.

    >>> s = CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=5)
    >>> s(0), s(5), round(s(10), 12), s(15)
    (0.0, 1.0, 0.5, 0.0)
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0):
        where = "CosineDecay"
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate, where)
        self.decay_steps = _steps("decay_steps", decay_steps, where)
        self.alpha = _rate("alpha", alpha, where)
        self.name = str(name)
        self.warmup_target = None if warmup_target is None else _rate("warmup_target",
                                                                      warmup_target, where)
        self.warmup_steps = _rate("warmup_steps", warmup_steps, where)
        if self.warmup_target is not None and self.warmup_steps == 0:
            raise ValueError(f"{where}: warmup_target={warmup_target!r} needs warmup_steps > 0 "
                             f"(the steps of the linear warmup)")
        if isinstance(warmup_steps, numbers.Integral):
            self.warmup_steps = int(warmup_steps)

    def _decayed(self, t: float, rate: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * t / self.decay_steps))
        return rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        t = float(_step(step, "CosineDecay"))
        if self.warmup_target is None:
            return self._decayed(min(t, self.decay_steps), self.initial_learning_rate)
        t = min(t, self.decay_steps + self.warmup_steps)
        if t < self.warmup_steps:
            return ((self.warmup_target - self.initial_learning_rate) * (t / self.warmup_steps)
                    + self.initial_learning_rate)
        return self._decayed(t - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017), Keras's
    form: the first period lasts ``first_decay_steps``, each next one ``t_mul`` times
    longer, and restarts at ``m_mul`` times the previous peak; within a period
    ``rate * m_mul**i * ((1 - alpha) * 0.5 * (1 + cos(pi * fraction)) + alpha)``.

    >>> s = CosineDecayRestarts(1.0, first_decay_steps=4, t_mul=1.0, m_mul=0.5)
    >>> s(0), s(2), s(4)
    (1.0, 0.5, 0.5)
    """

    def __init__(self, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, name: str = "SGDRDecay"):
        where = "CosineDecayRestarts"
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate, where)
        self.first_decay_steps = _steps("first_decay_steps", first_decay_steps, where)
        self.t_mul = _positive("t_mul", t_mul, where)
        self.m_mul = _rate("m_mul", m_mul, where)
        self.alpha = _rate("alpha", alpha, where)
        self.name = str(name)

    def __call__(self, step: int) -> float:
        fraction = _step(step, "CosineDecayRestarts") / self.first_decay_steps
        if self.t_mul == 1.0:
            i = math.floor(fraction)
            fraction -= i
        else:
            i = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul ** i) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul ** i
        cosine = 0.5 * self.m_mul ** i * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_REGISTRY = {cls.__name__.lower(): cls for cls in
             (ExponentialDecay, InverseTimeDecay, StepDecay, PiecewiseConstantDecay,
              PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}``, the JSON-able form ``get`` reads back.

    >>> serialize(StepDecay(1.0, 10, 0.5))["class_name"]
    'StepDecay'
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize: expected a LearningRateSchedule, got {type(schedule).__name__}; "
                        f"plain callables cannot be saved, use one of {sorted(c.__name__ for c in _REGISTRY.values())}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def get(identifier: Any) -> LearningRateSchedule:
    """A schedule from a ``{"class_name", "config"}`` dict; schedules pass through.

    Only this module's schedules can be named; nothing is imported or evaluated
    from the string.

    >>> get({"class_name": "InverseTimeDecay", "config": {"initial_learning_rate": 1.0,
    ...      "decay_steps": 1, "decay_rate": 1.0}})(1)
    0.5
    """
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    valid = sorted(c.__name__ for c in _REGISTRY.values())
    if not isinstance(identifier, Mapping) or "class_name" not in identifier:
        raise ValueError(f"schedules.get: expected a schedule or a dict with 'class_name' and "
                         f"'config', got {identifier!r}; valid class names: {valid}")
    name = identifier["class_name"]
    cls = _REGISTRY.get(str(name).lower())
    if cls is None:
        raise ValueError(f"schedules.get: unknown schedule {name!r}; valid class names: {valid}")
    config = identifier.get("config") or {}
    try:
        return cls.from_config(dict(config))
    except TypeError as e:
        raise ValueError(f"schedules.get: bad config for {cls.__name__}: {config!r} ({e}); its "
                         f"arguments are {list(inspect.signature(cls.__init__).parameters)[1:]}"
                         ) from None


def deserialize(config: Any) -> LearningRateSchedule:
    """The schedule ``serialize`` described (Keras's spelling of ``get``)."""
    return get(config)
