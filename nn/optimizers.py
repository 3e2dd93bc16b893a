"""Gradient-descent optimizers by Keras name, updating NumPy parameters in place.

Every optimizer is one small class with a ``_prepare`` (the per-step scalars:
bias corrections, schedule value) and an ``_update`` (the per-tensor rule,
written as in-place NumPy operations on the parameter and its slot arrays).
Names, argument names and defaults are Keras's; where Keras versions disagree
the choice is stated in the class docstring. The shared machinery in
``Optimizer`` does the rest, in this order on every step:

1. check ``params``/``grads`` and cast each gradient to its parameter's dtype;
2. transform the gradients: ``clipvalue`` (elementwise), ``clipnorm`` (per
   tensor), ``global_clipnorm`` (jointly), then ``gradient_noise``;
3. allocate the slots lazily on the first call (the parameter's dtype, and its
   shape unless ``slot_shape`` says otherwise), evaluate the learning rate (a
   float or a schedule of ``iterations``);
4. with ``weight_decay``, Keras 3's decoupled decay ``w -= w * weight_decay * lr``
   (every optimizer takes it; AdamW defaults it to 0.004), skipping what
   ``exclude_from_weight_decay`` named; then apply the rule;
5. ``iterations += 1``.

The rules are the published ones the textbook's SGD chapter summarises. Where
its typesetting is terse the code follows the papers: Adagrad's "G^2" divisor is
the root sqrt(G) (the chapter's RMSProp section defines it so), and Adam
divides by the root of the second moment, bias-corrected with beta ** t.

The input gradients are never written to. State is ``variables()``: a flat
dict of arrays (``"iterations"``, ``"<slot>/<i>"``, plus ``"rng_state"`` when
the optimizer draws random numbers) that ``np.savez`` can store and
``set_variables`` restores, so a resumed run continues bit for bit.

>>> import numpy as np
>>> w = np.array([1.0, -2.0]); opt = get("sgd")
>>> opt.apply_gradients([w], [2 * w]); w
array([ 0.98, -1.96])
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import re
import warnings
import weakref
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from adkit.extend import is_duck_array

from . import schedules
from .backend_compat import ScalarVariable

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax",
           "Nadam", "Lion", "Ftrl", "Adafactor", "Rprop", "ESGD", "get", "serialize", "deserialize", "schedules"]

_BASE_ARGS = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
              "gradient_noise", "seed", "name")
#: Keras 3's other base arguments, taken at their defaults (a Keras config holds them) and
#: refused otherwise: adkit has no moving average of the weights, loss scaling or
#: gradient accumulation
_KERAS_ONLY = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
               "loss_scale_factor": None, "gradient_accumulation_steps": None}


# ---------------------------------------------------------------- argument checks

def optim() -> Any:
    """adkit.kernels.optim, imported when a device update first needs it (it needs pyopencl)."""
    from adkit.kernels import optim as kernels_optim
    return kernels_optim


def _to_device_like(host: np.ndarray, p: Any) -> Any:
    """A slot restored on the host (from a saved model) moved to its parameter's device."""
    from adkit.kernels.array import to_device
    return to_device(host, p.device)


def _real(where: str, name: str, value: Any, lo: float = 0.0, hi: float = math.inf, *,
          lo_open: bool = False, hi_open: bool = False) -> float:
    """value as a Python float inside [lo, hi] (ends open as asked), else a ValueError
    that names the argument and the valid range."""
    lo_s, hi_s = ("(" if lo_open else "[") + f"{lo:g}", f"{hi:g}" + (")" if hi_open else "]")
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    x = float(value) if ok else math.nan
    if ok and math.isfinite(x):
        ok = (lo < x if lo_open else lo <= x) and (x < hi if hi_open else x <= hi)
    else:
        ok = False
    if not ok:
        raise ValueError(f"{where}: {name} must be a finite float in {lo_s}, {hi_s}, got {value!r}")
    return x


def _optional_positive(where: str, name: str, value: Any) -> float | None:
    return None if value is None else _real(where, name, value, 0.0, lo_open=True)


def _unit(where: str, name: str, value: Any) -> float:
    """A decay rate: a float in [0, 1)."""
    return _real(where, name, value, 0.0, 1.0, hi_open=True)


def _pair(where: str, name: str, value: Any) -> tuple:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be a pair (low, high), got {value!r}") from None
    return a, b


# ---------------------------------------------------------------- Keras 2 spellings

def _keras2_arguments(init: Callable, who: str, args: tuple, kwargs: dict) -> dict:
    """The arguments of ``init``, all by keyword, with Keras 2's ``lr=`` renamed to ``learning_rate`` and
    ``decay=d`` folded into the rate as Keras 2's inverse-time decay,
    lr / (1 + d * iterations), which is ``schedules.InverseTimeDecay(lr, 1, d)``."""
    kwargs = dict(kwargs)
    lr, decay = kwargs.pop("lr", None), kwargs.pop("decay", None)
    signature = inspect.signature(init)
    bound = signature.bind_partial(None, *args, **kwargs)  # None stands for self
    if lr is not None:
        if "learning_rate" in bound.arguments:
            raise TypeError(f"{who}: got both lr and learning_rate; lr is Keras 2's old name "
                            f"for learning_rate, pass only learning_rate")
        bound.arguments["learning_rate"] = lr
    if decay is not None:
        decay = _real(who, "decay", decay)
        rate = bound.arguments.get("learning_rate",
                                   signature.parameters["learning_rate"].default)
        if isinstance(rate, Mapping) or callable(rate):
            raise ValueError(f"{who}: decay applies to a float learning rate, but "
                             f"learning_rate is the schedule {rate!r}; drop decay")
        if decay > 0:
            bound.arguments["learning_rate"] = schedules.InverseTimeDecay(
                _real(who, "learning_rate", rate), decay_steps=1, decay_rate=decay)
    self_name = next(iter(signature.parameters))
    out: dict = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif name != self_name:
            out[name] = value
    return out


def _accepts_keras2_spellings(init: Callable) -> Callable:
    """Wrap an optimizer's __init__ so that Keras 2's ``lr=`` and ``decay=`` work, with
    a DeprecationWarning that names the new spelling and points at the caller's line."""

    @functools.wraps(init)
    def __init__(self: "Optimizer", *args: Any, **kwargs: Any) -> None:
        if "epsilon" in kwargs and kwargs["epsilon"] is None:
            del kwargs["epsilon"]   # Keras 2's signatures say epsilon=None for the default
        old = [k for k in ("lr", "decay") if k in kwargs]
        if old:
            who = type(self).__name__
            if "decay" in old:
                advice = ("learning_rate=adkit.nn.schedules.InverseTimeDecay(lr, decay_steps=1, "
                          "decay_rate=decay), the same lr / (1 + decay * iterations)")
            else:
                advice = "learning_rate="
            warnings.warn(f"{who}: {' and '.join(k + '=' for k in old)} "
                          f"{'is' if len(old) == 1 else 'are'} Keras 2's spelling; use {advice}",
                          DeprecationWarning, stacklevel=2)
            args, kwargs = (), _keras2_arguments(init, who, args, kwargs)
        init(self, *args, **kwargs)

    return __init__


def _unzipped_pairs(pairs: Any, where: str) -> tuple[list, list]:
    """(params, grads) from Keras's ``zip(grads, variables)``."""
    pairs = list(pairs)
    if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        raise TypeError(f"{where}: pass params and grads (two lists), or one iterable of "
                        f"(gradient, parameter) pairs as Keras does, e.g. zip(grads, params)")
    return [p for _, p in pairs], [g for g, _ in pairs]


# ---------------------------------------------------------------- the base class

def _subtracted(p: Any, u: Any) -> Any:
    """p - u in p's dtype, as ``np.subtract(p, u, out=p)`` rounds it."""
    out = p - u
    return out if out.dtype == p.dtype else out.astype(p.dtype)


class Optimizer:
    """The shared machinery; subclasses define ``_prepare`` and ``_update``.

    ``learning_rate`` is a float >= 0 or a schedule (any callable
    ``step -> float``, e.g. from ``adkit.nn.schedules``), read through
    ``current_learning_rate()`` at step ``iterations`` (0 on the first update).
    ``gradient_noise=eta`` or ``(eta, gamma)`` adds N(0, eta / (1 + t) ** gamma)
    to every gradient entry at step t = ``iterations`` (Neelakantan et al.
    2015; gamma defaults to 0.55, and gamma = 0 is the constant-variance noise
    of the plain trick), drawn from a Generator seeded by ``seed``.

    Keras 2's spellings work, each with a DeprecationWarning: ``lr=`` for
    ``learning_rate=``, and ``decay=d``, the inverse-time decay
    ``lr / (1 + d * iterations)``, which becomes the schedule
    ``schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=d)``.
    ``epsilon=None``, as Keras 2's signatures write it, means the default epsilon.

    >>> opt = SGD(0.1, clipnorm=1.0)
    >>> w = np.zeros(2); opt.apply_gradients([w], [np.array([3.0, 4.0])]); w
    array([-0.06, -0.08])
    """

    needs_hvp: bool = False
    _hyper: tuple[str, ...] = ()  # constructor arguments a subclass adds, in get_config order

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _accepts_keras2_spellings(cls.__dict__["__init__"])

    def __init__(self, learning_rate: Any = 0.001, *, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None,
                 gradient_noise: float | tuple | None = None, seed: int | None = None,
                 name: str | None = None, **keras_only: Any):
        where = type(self).__name__
        for key, value in keras_only.items():
            if key not in _KERAS_ONLY:
                raise TypeError(f"{where} got an unexpected keyword argument {key!r}; it takes "
                                f"{', '.join(_BASE_ARGS + tuple(self._hyper))}")
            if value != _KERAS_ONLY[key]:
                raise NotImplementedError(
                    f"{where}: {key}={value!r} is not supported by adkit (Keras's default "
                    f"{_KERAS_ONLY[key]!r} is); drop it")
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else _real(where, "weight_decay",
                                                                    weight_decay)
        self.clipnorm = _optional_positive(where, "clipnorm", clipnorm)
        self.clipvalue = _optional_positive(where, "clipvalue", clipvalue)
        self.global_clipnorm = _optional_positive(where, "global_clipnorm", global_clipnorm)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"{where}: set clipnorm (each tensor's norm) or global_clipnorm "
                             f"(the norm of all gradients together), not both")
        if gradient_noise is None:
            self.gradient_noise = None
        else:
            if isinstance(gradient_noise, numbers.Real) and not isinstance(gradient_noise, bool):
                eta, gamma = gradient_noise, 0.55
            else:
                eta, gamma = _pair(where, "gradient_noise (eta, gamma)", gradient_noise)
            self.gradient_noise = (_real(where, "gradient_noise eta", eta),
                                   _real(where, "gradient_noise gamma", gamma))
        if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)
                                 or seed < 0):
            raise ValueError(f"{where}: seed must be an integer >= 0 or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.name = type(self).__name__.lower() if name is None else str(name)
        self.iterations = 0
        self._slot_names: tuple[str, ...] = ()
        self._slots: list[list[np.ndarray]] | None = None  # [param index][slot index]
        # weak references to the parameters the slots were made for, and the slots of
        # parameters left out since (a layer frozen with trainable=False), by id
        self._owners: list | None = None
        self._set_aside: dict = {}
        self._scratch: dict = {}
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------ learning rate

    @property
    def learning_rate(self) -> Any:
        """The schedule given, or the float as a ScalarVariable (nn/backend_compat.py), so
        Keras's ``learning_rate.assign(v)`` and ``keras.backend.set_value`` set it;
        ``current_learning_rate()`` evaluates either."""
        lr = self._learning_rate
        if callable(lr):
            return lr
        return ScalarVariable(lr, lambda: self._learning_rate,
                              lambda value: setattr(self, "learning_rate", value))

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, Mapping):
            value = schedules.get(value)
        if callable(value):
            self._learning_rate = value
        else:
            self._learning_rate = _real(type(self).__name__, "learning_rate", value)

    def current_learning_rate(self) -> float:
        """The learning rate for the next step: the float, or the schedule at ``iterations``.

        >>> SGD(schedules.StepDecay(1.0, 1, 0.5)).current_learning_rate()
        1.0
        """
        lr = self._learning_rate
        if not callable(lr):
            return lr
        value = lr(self.iterations)
        try:
            return _real(type(self).__name__, "learning_rate", value)
        except ValueError:
            raise ValueError(f"{type(self).__name__}: the learning-rate schedule {lr!r} returned "
                             f"{value!r} at step {self.iterations}; it must return a finite "
                             f"float >= 0") from None

    # ------------------------------------------------------------ the step

    def apply_gradients(self, params: Sequence[np.ndarray], grads: Sequence[Any] | None = None,
                        hvp: Callable | None = None) -> None:
        """Update every ``params[i]`` in place from ``grads[i]``; or, as Keras code calls
        it, ``apply_gradients(zip(grads, params))`` (pairs, gradient first).

        ``hvp(vectors) -> [H @ v for each]`` is needed only when ``needs_hvp``.

        >>> w = np.ones(3, np.float32); Adam(0.1).apply_gradients([w], [w]); w.round(4)
        array([0.9, 0.9, 0.9], dtype=float32)
        >>> SGD(0.5).apply_gradients(zip([w], [w])); w.round(4)
        array([0.45, 0.45, 0.45], dtype=float32)
        """
        if grads is None:
            params, grads = _unzipped_pairs(params, f"{self.name}.apply_gradients")
        if params and is_duck_array(params[0]):
            self._apply_on_device(list(params), list(grads))
            return
        params, grads = self._checked(params, grads)
        self._ensure_slots(params)
        grads = self._transform(grads)
        lr = self.current_learning_rate()
        for p, decay in zip(params, self._decays(params, lr)):
            if decay is not None:
                p -= p * decay
        consts = self._prepare(params, grads, hvp, lr)
        for p, g, slots in zip(params, grads, self._slots):
            self._update(p, g, slots, consts)
        self._advance()

    # ------------------------------------------------------------ on an OpenCL device

    #: the fused kernel of adkit.kernels.optim that updates one parameter on its device:
    #: _device_update(dev, w, g, slots, lr) with the device buffers (pyopencl arrays) of a
    #: parameter, its gradient and its slots; None where there is none
    _device_update: Callable | None = None

    def require_device_support(self) -> None:
        """NotImplementedError naming what to change if this optimizer, as configured, cannot
        update parameters on an OpenCL device (model.compile(device="opencl") asks)."""
        name = type(self).__name__
        if self._device_update is None:
            raise NotImplementedError(
                f"{name} has no OpenCL kernel; on device='opencl' use SGD (with momentum "
                f"or Nesterov), RMSprop, Adadelta or Adam, or train {name} on device='cpu'")
        extras = [k for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
                              "gradient_noise") if getattr(self, k)]
        if extras:
            raise NotImplementedError(
                f"{name}: {', '.join(extras)} run on the host only; drop them for "
                f"device='opencl', or train on device='cpu'")

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[np.ndarray]) -> None:
        """Keras 3's spelling: ``apply(grads, trainable_variables)``, updating the
        variables (numpy arrays) in place."""
        self.apply_gradients(list(trainable_variables), list(grads))

    def _apply_on_device(self, params: list, grads: list) -> None:
        self.require_device_support()
        where = f"{self.name}.apply_gradients"
        if len(params) != len(grads):
            raise ValueError(f"{where}: got {len(params)} params but {len(grads)} grads")
        for i, (p, g) in enumerate(zip(params, grads)):
            if getattr(g, "shape", None) != p.shape or not is_duck_array(g):
                raise ValueError(f"{where}: grads[{i}] must be a device array of shape "
                                 f"{p.shape} like params[{i}], got {type(g).__name__} of "
                                 f"shape {getattr(g, 'shape', '?')}")
        if self._slots is None:
            self._slots = [[np.zeros_like(p) for _ in self._slot_names] for p in params]
        else:
            self._match_slots(params)
            self._slots = [[s if is_duck_array(s) else _to_device_like(s, p) for s in slots]
                           for p, slots in zip(params, self._slots)]
        from adkit.kernels.array import contiguous
        lr = self.current_learning_rate()
        for p, g, slots in zip(params, grads, self._slots):
            # parameters and slots are stored as they are; a gradient may be a transposed view
            self._device_update(p.device, p.data, contiguous(g), [s.data for s in slots], lr)
        self.iterations += 1

    def _prepare(self, params: list, grads: list, hvp: Callable | None, lr: float) -> Any:
        """The per-step scalars handed to every ``_update`` call."""
        return lr

    def _update(self, p: np.ndarray, g: np.ndarray, slots: list, consts: Any) -> None:
        raise NotImplementedError

    def _init_slot(self, name: str, p: np.ndarray) -> np.ndarray:
        return np.zeros(self.slot_shape(name, p.shape), p.dtype)

    #: the index of a slot shaped like its parameter (set_variables reads the parameter
    #: shapes from it when it restores state before the first step)
    _param_shaped_slot: int = 0

    def slot_shape(self, name: str, shape: tuple) -> tuple:
        """The shape of slot `name` of a parameter of this shape (the parameter's, unless
        the optimizer keeps less, as Adafactor's factored moments).

        >>> Adafactor().slot_shape("r", (4, 5)), Adam().slot_shape("momentum", (4, 5))
        ((4,), (4, 5))
        """
        return tuple(shape)

    def _tmp(self, p: np.ndarray, k: int = 0) -> np.ndarray:
        """Scratch space shaped like p; one flat buffer per (dtype, k) is reused for every
        tensor, so it stays in cache and no step allocates."""
        buf = self._scratch.get((p.dtype, k))
        if buf is None or buf.size < p.size:
            buf = self._scratch[(p.dtype, k)] = np.empty(p.size, p.dtype)
        return buf[:p.size].reshape(p.shape)

    def _checked(self, params: Sequence, grads: Sequence) -> tuple[list, list]:
        where = f"{self.name}.apply_gradients"
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{where}: got {len(params)} params but {len(grads)} grads; pass "
                             f"one gradient per parameter, in the same order")
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise ValueError(f"{where}: params[{i}] must be a floating-point numpy array "
                                 f"(it is updated in place), got {type(p).__name__}"
                                 f"{'' if not isinstance(p, np.ndarray) else ' of ' + str(p.dtype)}")
            if not p.flags.writeable:
                raise ValueError(f"{where}: params[{i}] is read-only; pass a writeable array")
            g = np.asarray(g)
            if g.shape != p.shape:
                raise ValueError(f"{where}: grads[{i}] has shape {g.shape} but params[{i}] has "
                                 f"shape {p.shape}; each gradient must match its parameter")
            out.append(g if g.dtype == p.dtype else g.astype(p.dtype))
        return params, out

    def _ensure_slots(self, params: list) -> None:
        """Allocate the slots on the first step; later, check they still fit `params`.

        Slots go with their parameters by position. When the number of parameters
        changes (a layer's trainable switched between fits), they go by identity: a
        parameter keeps its state, a new one starts fresh, and the state of one left
        out is set aside for when it trains again (as Keras keeps an optimizer's
        variables)."""
        if self._slots is None:
            self._slots = [[self._init_slot(n, p) for n in self._slot_names] for p in params]
            self._owners = [weakref.ref(p) for p in params]
        elif len(self._slots) != len(params) and self._realigned(params):
            pass
        else:
            self._match_slots(params)
            owners = self._owners
            if owners is None or any(r() is not p for r, p in zip(owners, params)):
                # (restored state, or new arrays in the same places: they own it now)
                self._owners = [weakref.ref(p) for p in params]

    def _realigned(self, params: list) -> bool:
        """Slots matched to params by identity, when any of them is a parameter this
        optimizer has stepped (else False: the state belongs to another model)."""
        known = dict(self._set_aside)
        for ref, slots in zip(self._owners or (), self._slots or ()):
            if ref() is not None:
                known[id(ref())] = (ref, slots)
        if not any(id(p) in known and known[id(p)][0]() is p for p in params):
            return False
        slots = []
        for p in params:
            ref, kept = known.pop(id(p), (None, None))
            slots.append(kept if ref is not None and ref() is p else
                         [self._init_slot(n, p) for n in self._slot_names])
        self._slots, self._owners = slots, [weakref.ref(p) for p in params]
        self._set_aside = {k: v for k, v in known.items() if v[0]() is not None}
        self._match_slots(params)
        return True

    def _match_slots(self, params: list) -> None:
        where = f"{self.name}.apply_gradients"
        if len(self._slots) != len(params):
            raise ValueError(f"{where}: this optimizer holds state for {len(self._slots)} "
                             f"parameters but got {len(params)}, none of them parameters it "
                             f"has updated; use one optimizer per model, or a fresh one")
        for i, (p, slots) in enumerate(zip(params, self._slots)):
            for k, s in enumerate(slots):
                expected = self.slot_shape(self._slot_names[k], p.shape)
                if s.shape != expected:
                    raise ValueError(f"{where}: slot '{self._slot_names[k]}/{i}' has shape "
                                     f"{s.shape} but params[{i}] of shape {p.shape} needs "
                                     f"{expected}; the state belongs to a different model")
                if s.dtype != p.dtype:  # restored from a checkpoint of another precision
                    slots[k] = s.astype(p.dtype)

    # ------------------------------------------------------------ weight decay

    def exclude_from_weight_decay(self, var_list: Sequence[Any] | None = None,
                                  var_names: Sequence[str] | None = None) -> None:
        """Keras's: no weight decay for the arrays in `var_list` (the model's own weight
        arrays, e.g. from ``model.weights``) nor for weights whose name
        (``"<layer>/<weight>"``, e.g. ``"dense/bias"``) contains a match of one of the
        regular expressions `var_names`. Call it before the first step.

        >>> opt = AdamW(); opt.exclude_from_weight_decay(var_names=["bias", "norm"])
        """
        if self._slots is not None:
            raise ValueError(f"{type(self).__name__}.exclude_from_weight_decay must be called "
                             f"before the first step (as in Keras): the optimizer has stepped")
        names = [var_names] if isinstance(var_names, str) else list(var_names or ())
        if not all(isinstance(n, str) for n in names):
            raise TypeError(f"exclude_from_weight_decay: var_names must be strings, got {names!r}")
        self._decay_excluded = list(var_list or ())
        self._decay_pattern = re.compile("|".join(sorted(set(names)))) if names else None

    def track_weight_names(self, model: Any) -> None:
        """Remember `model` (weakly), whose ``weight_slots()`` name the weights that
        exclude_from_weight_decay's var_names match; ``Model.compile`` calls it."""
        self._named_by = weakref.ref(model)

    def _decays(self, params: list, lr: float) -> list:
        """Each parameter's decay factor ``weight_decay * lr`` for this step, or None."""
        if not self.weight_decay:
            return [None] * len(params)
        decay = self.weight_decay * lr
        excluded = {id(v) for v in getattr(self, "_decay_excluded", ())}
        pattern = getattr(self, "_decay_pattern", None)
        names = self._weight_names() if pattern is not None else {}
        return [None if id(p) in excluded
                or (pattern is not None and pattern.search(names.get(id(p), "")))
                else decay for p in params]

    def _weight_names(self) -> dict[int, str]:
        model = getattr(self, "_named_by", lambda: None)()
        if model is None:
            raise ValueError(f"{type(self).__name__}: exclude_from_weight_decay(var_names=...) "
                             "matches the weight names of the model it is compiled into; "
                             "compile a model with this optimizer first, or pass var_list")
        return {id(w): path.split("/", 1)[1] for path, w in model.weight_slots()}

    # ------------------------------------------------------------ gradient transforms

    def _transform(self, grads: list) -> list:
        if self.clipvalue is not None:
            c = self.clipvalue
            grads = [np.clip(g, -c, c) for g in grads]
        if self.clipnorm is not None:
            c = self.clipnorm
            norms = [math.sqrt(float(np.vdot(g, g))) for g in grads]
            grads = [g * (c / n) if n > c else g for g, n in zip(grads, norms)]
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            n = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if n > c:
                grads = [g * (c / n) for g in grads]
        if self.gradient_noise is not None:
            eta, gamma = self.gradient_noise
            std = math.sqrt(eta / (1.0 + self.iterations) ** gamma)
            grads = [g + std * self._normal(g) for g in grads]
        return grads

    def _normal(self, like: np.ndarray) -> np.ndarray:
        """Standard normal draws shaped and typed like ``like`` (drawn in float32 or
        float64 directly: no float64 detour for float32 models)."""
        if like.dtype in (np.float32, np.float64):
            return self._rng.standard_normal(like.shape, dtype=like.dtype)
        return self._rng.standard_normal(like.shape, dtype=np.float32).astype(like.dtype)

    @property
    def _uses_rng(self) -> bool:
        return self.gradient_noise is not None or self.needs_hvp

    def _advance(self) -> None:
        """Count a completed step (and move any per-step state a subclass keeps)."""
        self.iterations += 1

    # ------------------------------------------------------------ the step as a pure function
    # adkit.nn's compiled training step (nn/compiled_step.py) stages the update into one
    # program with the loss and gradient: begin_step (host) -> pure_step (staged: new
    # arrays, which the program writes into the old ones, donated) -> finish_step (host:
    # copies what was not written in place, adopts the slots, counts the step).

    def pure_step_refusal(self) -> str | None:
        """Why this optimizer's step cannot run as a pure function (so a training step
        with it runs eagerly), or None when it can.

        >>> Adam().pure_step_refusal() is None, ESGD().pure_step_refusal() is None
        (True, False)
        """
        name = type(self).__name__
        if self.needs_hvp:
            return f"{name} asks for Hessian-vector products, a second differentiation per step"
        if self.gradient_noise is not None:
            return f"{name}'s gradient_noise draws from the optimizer's own generator every step"
        owner = next(c for c in type(self).__mro__ if "_update" in c.__dict__)
        if "_rule" not in owner.__dict__:
            return (f"{owner.__name__} defines _update (the in-place rule) but no _rule (its "
                    f"pure form)")
        return None

    def begin_step(self, params: Sequence[np.ndarray]) -> Any:
        """Before a pure step on `params` (the arrays it will update, in order): allocate
        the slots on the first step and return the step's scalars (learning rate, bias
        corrections) as apply_gradients computes them. Changes nothing else."""
        params = list(params)
        self._ensure_slots(params)
        lr = self.current_learning_rate()
        return self._decays(params, lr), self._prepare(params, None, None, lr)

    def pure_step(self, params: Sequence[Any], grads: Sequence[Any], slots: Sequence[Sequence],
                  consts: Any) -> tuple[list, list]:
        """(new params, new slots) for one step from `grads`, as new arrays, writing into
        nothing: the update of apply_gradients (same transforms, same rule, the rule's
        updates subtracted one after the other as the in-place rule subtracts them, so
        the rounding is the same). `slots` and `consts` are what this optimizer holds
        and begin_step returned. Staged with its arguments donated (nn/compiled_step.py),
        the new arrays are written into the old ones.

        >>> opt, w = SGD(0.1, momentum=0.9), np.array([1.0])
        >>> consts = opt.begin_step([w])
        >>> opt.pure_step([w], [np.array([1.0])], opt._slots, consts)
        ([array([0.9])], [[array([-0.1])]])
        """
        decays, consts = consts
        grads = [g if g.dtype == p.dtype else g.astype(p.dtype) for p, g in zip(params, grads)]
        grads = self._pure_transform(grads)
        new_params, new_slots = [], []
        for p, g, s, decay in zip(params, grads, slots, decays):
            if decay is not None:
                p = _subtracted(p, p * decay)
            updates, s_new = self._rule(p, g, list(s), consts)
            for u in updates:
                p = _subtracted(p, u)
            new_params.append(p)
            new_slots.append(s_new)
        return new_params, new_slots

    def finish_step(self, params: Sequence[np.ndarray], new_params: Sequence[Any],
                    new_slots: Sequence[Sequence[np.ndarray]]) -> None:
        """Copy a pure step's new params into `params` (the model's arrays stay the same
        objects; nothing to copy where a donated step wrote into them), take its new
        slots as this optimizer's own (fresh arrays, or the old ones written in place;
        no copy) and count the step."""
        for p, new in zip(params, new_params):
            if new is not p:
                np.copyto(p, new, casting="same_kind")
        taken = {id(p) for p in params}   # a slot must share memory with no other array
        for slots, values in zip(self._slots, new_slots):
            for k, (old, value) in enumerate(zip(slots, values)):
                if not (isinstance(value, np.ndarray) and value.dtype == old.dtype
                        and value.shape == old.shape and value.flags.owndata) \
                        or id(value) in taken:
                    value = np.array(value, dtype=old.dtype)
                taken.add(id(value))
                slots[k] = value
        self._advance()

    def _rule(self, p: Any, g: Any, slots: list, consts: Any) -> tuple[tuple, list]:
        """(updates to subtract from p, in order; new slots): ``_update`` as a pure
        function."""
        raise NotImplementedError

    def _pure_transform(self, grads: list) -> list:
        """``_transform`` without Python branches on values (clipping as a select)."""
        if self.clipvalue is not None:
            c = self.clipvalue
            grads = [np.clip(g, -c, c) for g in grads]
        # the norms in float64 and the factor rounded to g's dtype, as _transform's Python
        # floats are (a float32 norm and factor would round differently)
        if self.clipnorm is not None:
            c = self.clipnorm
            norms = [np.sqrt(np.vdot(g, g).astype(np.float64)) for g in grads]
            grads = [np.where(n > c, g * (c / n).astype(g.dtype), g) for g, n in zip(grads, norms)]
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            n = np.sqrt(sum(np.vdot(g, g).astype(np.float64) for g in grads))
            grads = [np.where(n > c, g * (c / n).astype(g.dtype), g) for g in grads]
        return grads

    # ------------------------------------------------------------ state

    def variables(self) -> dict[str, np.ndarray]:
        """Copies of all state: ``"iterations"``, ``"<slot>/<i>"``, and ``"rng_state"``
        when gradient noise or ESGD draws random numbers.

        >>> opt = Adam(); opt.apply_gradients([np.zeros(2)], [np.ones(2)]); sorted(opt.variables())
        ['iterations', 'momentum/0', 'velocity/0']
        """
        out = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for i, slots in enumerate(self._slots or ()):
            for name, s in zip(self._slot_names, slots):
                out[f"{name}/{i}"] = s.copy()
        out.update(self._extra_variables())
        return out

    def set_variables(self, values: Mapping[str, Any]) -> None:
        """Restore what ``variables()`` returned (e.g. loaded from an ``.npz``).

        Everything is checked before anything changes: unknown or missing keys,
        and slot shapes that differ from this optimizer's state, raise ValueError.

        >>> a = Adam(); a.apply_gradients([np.zeros(2)], [np.ones(2)])
        >>> b = Adam(); b.set_variables(a.variables()); b.iterations
        1
        """
        where = f"{self.name}.set_variables"
        values = dict(values)
        if "iterations" not in values:
            raise ValueError(f"{where}: missing 'iterations'; pass the dict that variables() "
                             f"returned")
        it = np.asarray(values.pop("iterations"))
        if it.shape != () or it.dtype.kind not in "iuf" or not np.isfinite(it) or it < 0 \
                or it != int(it):
            raise ValueError(f"{where}: 'iterations' must be an integer >= 0, got {it!r}")
        extra = {}
        for key in self._extra_variables():
            if key not in values:
                raise ValueError(f"{where}: missing {key!r}; this optimizer "
                                 f"({self.get_config()}) keeps it as state")
            extra[key] = np.asarray(values.pop(key))
        found: dict[tuple[int, int], np.ndarray] = {}
        for key, value in values.items():
            name, _, index = str(key).rpartition("/")
            if name not in self._slot_names or not index.isdigit():
                raise ValueError(f"{where}: unexpected key {key!r}; this optimizer's keys are "
                                 f"'iterations', {list(self._extra_variables())} and "
                                 f"'<slot>/<i>' for slots {list(self._slot_names)}")
            arr = np.asarray(value)
            if arr.dtype.kind != "f":
                raise ValueError(f"{where}: {key!r} must be a floating-point array, got {arr.dtype}")
            found[(self._slot_names.index(name), int(index))] = arr
        n = 1 + max((i for _, i in found), default=-1)
        missing = [f"{name}/{i}" for i in range(n) for k, name in enumerate(self._slot_names)
                   if (k, i) not in found]
        if missing:
            raise ValueError(f"{where}: missing slot arrays {missing}")
        if n and self._slots is not None and n != len(self._slots):
            raise ValueError(f"{where}: the values hold state for {n} parameters but this "
                             f"optimizer has {len(self._slots)}")
        for i in range(n):
            for k, name in enumerate(self._slot_names):
                shape = (self._slots[i][k].shape if n and self._slots is not None
                         else self.slot_shape(name, found[(self._param_shaped_slot, i)].shape))
                if found[(k, i)].shape != shape:
                    raise ValueError(f"{where}: '{name}/{i}' has shape {found[(k, i)].shape} but "
                                     f"the optimizer's state for parameter {i} has shape {shape}")
        self._check_extra(where, extra)
        # everything checked: commit (restored slots go with parameters by position)
        self._owners, self._set_aside = None, {}
        if n == 0:
            self._slots = None
        else:
            old = self._slots
            self._slots = [[np.array(found[(k, i)], dtype=None if old is None else old[i][k].dtype)
                            for k in range(len(self._slot_names))] for i in range(n)]
        self.iterations = int(it)
        self._set_extra(extra)

    def _extra_variables(self) -> dict[str, np.ndarray]:
        if not self._uses_rng:
            return {}
        s = self._rng.bit_generator.state
        mask = (1 << 64) - 1
        words = [s["state"]["state"] >> 64, s["state"]["state"] & mask,
                 s["state"]["inc"] >> 64, s["state"]["inc"] & mask, s["has_uint32"], s["uinteger"]]
        return {"rng_state": np.array(words, dtype=np.uint64)}

    def _check_extra(self, where: str, extra: dict) -> None:
        if "rng_state" in extra:
            r = extra["rng_state"]
            if r.shape != (6,) or r.dtype.kind not in "iu":
                raise ValueError(f"{where}: 'rng_state' must be 6 unsigned 64-bit words (as "
                                 f"variables() returns), got shape {r.shape} of {r.dtype}")

    def _set_extra(self, extra: dict) -> None:
        if "rng_state" in extra:
            w = [int(x) for x in extra["rng_state"].astype(np.uint64)]
            self._rng.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
                "has_uint32": w[4], "uinteger": w[5]}

    # ------------------------------------------------------------ configuration

    def get_config(self) -> dict:
        """The constructor arguments, JSON-able (schedules as ``{"class_name", "config"}``).

        >>> Adam().get_config()["beta_2"]
        0.999
        """
        lr = self._learning_rate
        config: dict[str, Any] = {"name": self.name,
                                  "learning_rate": schedules.serialize(lr) if callable(lr) else lr}
        for key in self._hyper:
            value = getattr(self, key)
            config[key] = list(value) if isinstance(value, tuple) else value
        config.update(weight_decay=self.weight_decay, clipnorm=self.clipnorm, clipvalue=self.clipvalue,
                      global_clipnorm=self.global_clipnorm,
                      gradient_noise=None if self.gradient_noise is None else list(self.gradient_noise),
                      seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Optimizer":
        """The optimizer ``get_config`` described (fresh state).

        >>> Adam.from_config(Adam(0.01).get_config()).learning_rate
        0.01
        """
        config = dict(config)
        if "lr" in config or "decay" in config:   # a config Keras 2 wrote: no warning
            config = _keras2_arguments(inspect.unwrap(cls.__init__), cls.__name__, (), config)
        unknown = sorted(set(config) - set(_BASE_ARGS) - set(cls._hyper) - set(_KERAS_ONLY))
        if unknown:
            raise ValueError(f"{cls.__name__}.from_config: unknown arguments {unknown}; valid: "
                             f"{sorted(set(_BASE_ARGS) | set(cls._hyper))}")
        return cls(**config)

    def __repr__(self) -> str:
        config = self.get_config()
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})"


# ---------------------------------------------------------------- the optimizers

class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, in Keras's form:
    ``m = momentum * m - lr * g``, then ``w += m``, or with ``nesterov=True``
    ``w += momentum * m - lr * g``.

    With a constant rate this is the textbook's ``u = momentum * u + lr * g``,
    ``w -= u`` (``m = -u``); the Nesterov form is the look-ahead gradient
    ``g(w - momentum * u)`` rewritten in the shifted variable ``w - momentum * u``
    (Sutskever et al. 2013), so only the gradient at ``w`` is needed.

    >>> w = np.array([1.0]); opt = SGD(0.1, momentum=0.9)
    >>> for _ in range(2): opt.apply_gradients([w], [np.array([1.0])])
    >>> w
    array([0.71])
    """

    _hyper = ("momentum", "nesterov")

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _real("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum > 0 else ()

    def _update(self, p, g, slots, lr):
        step = np.multiply(g, lr, out=self._tmp(p))
        if not slots:
            p -= step
            return
        m, mu = slots[0], self.momentum
        m *= mu
        m -= step
        if self.nesterov:
            p -= step
            p += np.multiply(m, mu, out=step)
        else:
            p += m

    def _device_update(self, dev, w, g, slots, lr):
        optim().sgd(dev, w, g, slots[0] if slots else None, lr=lr, momentum=self.momentum,
                    nesterov=self.nesterov)

    def _rule(self, p, g, slots, lr):
        step = g * lr
        if not slots:
            return (step,), []
        mu = self.momentum
        m = slots[0] * mu - step
        # w += m is w -= -m exactly (negation is exact): the eager rule's rounding
        return ((step, -(m * mu)) if self.nesterov else (-m,)), [m]


class Adagrad(Optimizer):
    """Per-parameter rates from the running sum of squared gradients (Duchi et al.
    2011): ``G += g**2``, ``w -= lr * g / sqrt(G + epsilon)``, with G starting at
    ``initial_accumulator_value`` (Keras 2 and 3 defaults: lr 0.001, 0.1, 1e-7).

    >>> w = np.array([1.0]); Adagrad(0.1, initial_accumulator_value=0.0, epsilon=0.0
    ...     ).apply_gradients([w], [np.array([4.0])]); w
    array([0.9])
    """

    _hyper = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _real("Adagrad", "initial_accumulator_value",
                                               initial_accumulator_value)
        self.epsilon = _real("Adagrad", "epsilon", epsilon)
        self._slot_names = ("accumulator",)

    def _init_slot(self, name, p):
        return np.full(p.shape, self.initial_accumulator_value, p.dtype)

    def _update(self, p, g, slots, lr):
        acc, tmp = slots[0], self._tmp(p)
        acc += np.square(g, out=tmp)
        np.add(acc, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp

    def _rule(self, p, g, slots, lr):
        acc = slots[0] + np.square(g)
        return (g / np.sqrt(acc + self.epsilon) * lr,), [acc]


class RMSprop(Optimizer):
    """Divide by a running RMS of the gradient (Hinton 2012), Keras's form:
    ``v = rho * v + (1 - rho) * g**2``; ``step = lr * g / sqrt(v + epsilon)``
    (``v - mean(g)**2 + epsilon`` when ``centered``); with momentum
    ``m = momentum * m + step``, ``w -= m``, else ``w -= step``.

    >>> w = np.array([1.0]); RMSprop(0.1, epsilon=0.0).apply_gradients([w], [np.array([2.0])]); w
    array([0.68377223])
    """

    _hyper = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _unit("RMSprop", "rho", rho)
        self.momentum = _real("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _real("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)
        self._slot_names = (("velocity",) + (("momentum",) if self.momentum > 0 else ())
                            + (("average_gradient",) if self.centered else ()))

    def _update(self, p, g, slots, lr):
        rho, tmp = self.rho, self._tmp(p)
        v = slots[0]
        v *= rho
        np.square(g, out=tmp)
        tmp *= 1.0 - rho
        v += tmp
        if self.centered:
            a = slots[-1]
            a *= rho
            a += np.multiply(g, 1.0 - rho, out=tmp)
            np.square(a, out=tmp)
            np.subtract(v, tmp, out=tmp)
            tmp += self.epsilon
        else:
            np.add(v, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        if self.momentum > 0:
            m = slots[1]
            m *= self.momentum
            m += tmp
            p -= m
        else:
            p -= tmp

    def _device_update(self, dev, w, g, slots, lr):
        optim().rmsprop(dev, w, g, slots[0], lr=lr, rho=self.rho, epsilon=self.epsilon,
                        momentum=self.momentum, m=slots[1] if self.momentum > 0 else None,
                        average_gradient=slots[-1] if self.centered else None)

    def _rule(self, p, g, slots, lr):
        rho = self.rho
        v = slots[0] * rho + np.square(g) * (1.0 - rho)
        new = [v]
        if self.centered:
            a = slots[-1] * rho + g * (1.0 - rho)
            denom = (v - np.square(a)) + self.epsilon
        else:
            denom = v + self.epsilon
        step = g / np.sqrt(denom) * lr
        if self.momentum > 0:
            m = slots[1] * self.momentum + step
            new.append(m)
            update = m
        else:
            update = step
        if self.centered:
            new.append(a)
        return (update,), new


class Adadelta(Optimizer):
    """Units-consistent steps (Zeiler 2012): the step is ``RMS[dx] / RMS[g] * g``,
    with both RMS running averages (decay ``rho``) and ``RMS[x] = sqrt(E[x**2] +
    epsilon)``; the RMS of the updates lags the gradient's by one step. Keras
    then scales the step by ``learning_rate``.

    The default ``learning_rate=1.0`` is the original Keras 2 default and
    Zeiler's method as published (which has no learning rate). tf.keras 2.3+
    and Keras 3 changed it to 0.001, which makes ``optimizer="adadelta"``
    crawl: the textbook's MNIST CNN listing (``optimizer='adadelta'``, 97% after
    one epoch) relies on 1.0.

    >>> w = np.array([1.0]); Adadelta().apply_gradients([w], [np.array([1.0])]); w
    array([0.99858579])
    """

    _hyper = ("rho", "epsilon")

    def __init__(self, learning_rate: Any = 1.0, rho: float = 0.95, epsilon: float = 1e-7,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _unit("Adadelta", "rho", rho)
        self.epsilon = _real("Adadelta", "epsilon", epsilon)
        self._slot_names = ("accumulated_grad", "accumulated_delta_var")

    def _update(self, p, g, slots, lr):
        rho, eps = self.rho, self.epsilon
        eg2, edx2 = slots
        tmp, tmp2 = self._tmp(p), self._tmp(p, 1)
        eg2 *= rho
        np.square(g, out=tmp)
        tmp *= 1.0 - rho
        eg2 += tmp
        np.add(edx2, eps, out=tmp)
        np.add(eg2, eps, out=tmp2)
        np.divide(tmp, tmp2, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp *= g  # the descent step -dx, before the learning rate
        edx2 *= rho
        np.square(tmp, out=tmp2)
        tmp2 *= 1.0 - rho
        edx2 += tmp2
        tmp *= lr
        p -= tmp

    def _device_update(self, dev, w, g, slots, lr):
        optim().adadelta(dev, w, g, slots[0], slots[1], lr=lr, rho=self.rho,
                         epsilon=self.epsilon)

    def _rule(self, p, g, slots, lr):
        rho, eps = self.rho, self.epsilon
        eg2 = slots[0] * rho + np.square(g) * (1.0 - rho)
        step = np.sqrt((slots[1] + eps) / (eg2 + eps)) * g
        edx2 = slots[1] * rho + np.square(step) * (1.0 - rho)
        return (step * lr,), [eg2, edx2]


class _AdamFamily(Optimizer):
    _hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate: Any, beta_1: float, beta_2: float, epsilon: float,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        where = type(self).__name__
        self.beta_1 = _unit(where, "beta_1", beta_1)
        self.beta_2 = _unit(where, "beta_2", beta_2)
        self.epsilon = _real(where, "epsilon", epsilon)

    def _moments(self, g, m, v, tmp):
        """m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g**2, in place."""
        b1, b2 = self.beta_1, self.beta_2
        m *= b1
        m += np.multiply(g, 1.0 - b1, out=tmp)
        v *= b2
        np.square(g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp

    def _new_moments(self, g, slots):
        """``_moments`` as new arrays: (m, v) from the slots' m and v, writing into nothing."""
        b1, b2 = self.beta_1, self.beta_2
        return slots[0] * b1 + g * (1.0 - b1), slots[1] * b2 + np.square(g) * (1.0 - b2)


class Adam(_AdamFamily):
    """Bias-corrected running moments (Kingma & Ba 2015), Keras's form: at step t,
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``
    (epsilon is the paper's "epsilon hat"); ``amsgrad`` divides by the running
    maximum of v instead (Reddi et al. 2018).

    >>> w = np.array([1.0]); Adam(0.1).apply_gradients([w], [np.array([3.0])]); w.round(6)
    array([0.9])
    """

    _hyper = _AdamFamily._hyper + ("amsgrad",)

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)
        self._slot_names = ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def _prepare(self, params, grads, hvp, lr):
        t = self.iterations + 1
        return lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update(self, p, g, slots, alpha):
        m, v = slots[0], slots[1]
        tmp = self._tmp(p)
        self._moments(g, m, v, tmp)
        if self.amsgrad:
            v = np.maximum(slots[2], v, out=slots[2])
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        p -= tmp

    def _device_update(self, dev, w, g, slots, lr):
        optim().adam(dev, w, g, slots[0], slots[1], lr=lr, beta_1=self.beta_1,
                     beta_2=self.beta_2, epsilon=self.epsilon, step=self.iterations + 1,
                     v_hat=slots[2] if self.amsgrad else None)

    def _rule(self, p, g, slots, alpha):
        m, v = self._new_moments(g, slots)
        new = [m, v]
        if self.amsgrad:
            v = np.maximum(slots[2], v)
            new.append(v)
        return (m / (np.sqrt(v) + self.epsilon) * alpha,), new


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), Keras 3's AdamW:
    before each Adam step ``w -= w * weight_decay * lr`` (every optimizer here takes
    ``weight_decay=`` and applies it so; AdamW only makes it the default, 0.004).

    >>> w = np.array([1.0]); AdamW(0.1, weight_decay=0.5).apply_gradients([w], [np.array([3.0])])
    >>> w.round(6)
    array([0.85])
    """

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs: Any):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float >= 0 (Keras's default is "
                             "0.004), got None; for no decay use Adam")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


class Lion(Optimizer):
    """EvoLved Sign Momentum (Chen et al. 2023), Keras 3's form:
    ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``. Every entry moves by exactly lr (or 0), so
    Lion wants a rate 3-10 times smaller than Adam's (and a larger weight decay).

    >>> w = np.array([1.0, 1.0]); Lion(0.1).apply_gradients([w], [np.array([3.0, -0.5])]); w
    array([0.9, 1.1])
    """

    _hyper = ("beta_1", "beta_2")

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _real("Lion", "beta_1", beta_1, 0.0, 1.0, lo_open=True)
        self.beta_2 = _unit("Lion", "beta_2", beta_2)
        self._slot_names = ("momentum",)

    def _update(self, p, g, slots, lr):
        m, tmp = slots[0], self._tmp(p)
        np.multiply(m, self.beta_1, out=tmp)
        tmp += g * (1.0 - self.beta_1)
        np.sign(tmp, out=tmp)
        tmp *= lr
        p -= tmp
        m *= self.beta_2
        m += g * (1.0 - self.beta_2)

    def _rule(self, p, g, slots, lr):
        m = slots[0]
        step = np.sign(m * self.beta_1 + g * (1.0 - self.beta_1)) * lr
        return (step,), [m * self.beta_2 + g * (1.0 - self.beta_2)]


class Adamax(_AdamFamily):
    """Adam with the infinity norm (Kingma & Ba 2015, section 7.1):
    ``u = max(beta_2 * u, |g|)``, ``w -= lr / (1 - beta_1**t) * m / (u + epsilon)``.

    The default rate 0.002 is the paper's and Keras 2's; Keras 3 uses 0.001.

    >>> w = np.array([1.0]); Adamax(0.1).apply_gradients([w], [np.array([3.0])]); w
    array([0.9])
    """

    def __init__(self, learning_rate: Any = 0.002, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self._slot_names = ("momentum", "norm")

    def _prepare(self, params, grads, hvp, lr):
        return lr / (1.0 - self.beta_1 ** (self.iterations + 1))

    def _update(self, p, g, slots, alpha):
        m, u = slots
        tmp = self._tmp(p)
        m *= self.beta_1
        m += np.multiply(g, 1.0 - self.beta_1, out=tmp)
        u *= self.beta_2
        np.maximum(u, np.abs(g, out=tmp), out=u)
        np.add(u, self.epsilon, out=tmp)
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        p -= tmp

    def _rule(self, p, g, slots, alpha):
        m = slots[0] * self.beta_1 + g * (1.0 - self.beta_1)
        u = np.maximum(slots[1] * self.beta_2, np.abs(g))
        return (m / (u + self.epsilon) * alpha,), [m, u]


class Nadam(_AdamFamily):
    """Adam with Nesterov momentum (Dozat 2016), Keras's formulation: a momentum
    schedule ``mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))`` and
    ``w -= lr * (mu_{t+1} m / (1 - prod_{s<=t+1} mu_s)
               + (1 - mu_t) g / (1 - prod_{s<=t} mu_s)) / (sqrt(v / (1 - beta_2**t)) + epsilon)``.

    Defaults: rate 0.002 and ``schedule_decay=0.004`` are the paper's, Keras 2's and
    PyTorch's (``momentum_decay``); Keras 3 uses rate 0.001 and, in effect,
    ``schedule_decay=1``. The running product of mu is state, ``"u_product"``.

    >>> w = np.array([1.0]); Nadam(0.1).apply_gradients([w], [np.array([3.0])]); w.round(6)
    array([0.894355])
    """

    _hyper = _AdamFamily._hyper + ("schedule_decay",)

    def __init__(self, learning_rate: Any = 0.002, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, schedule_decay: float = 0.004, **kwargs: Any):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.schedule_decay = _real("Nadam", "schedule_decay", schedule_decay)
        self._slot_names = ("momentum", "velocity")
        self._u_product = 1.0

    def _mu(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))

    def _prepare(self, params, grads, hvp, lr):
        t = self.iterations + 1
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        u_product = self._u_product * mu_t   # stored by _advance, once the step is applied
        c_m = lr * mu_next / (1.0 - u_product * mu_next)
        c_g = lr * (1.0 - mu_t) / (1.0 - u_product)
        return c_m, c_g, 1.0 / math.sqrt(1.0 - self.beta_2 ** t)

    def _advance(self):
        self._u_product *= self._mu(self.iterations + 1)
        super()._advance()

    def _update(self, p, g, slots, consts):
        c_m, c_g, inv_sqrt_bc2 = consts
        m, v = slots
        tmp, tmp2 = self._tmp(p), self._tmp(p, 1)
        self._moments(g, m, v, tmp)
        np.sqrt(v, out=tmp)
        tmp *= inv_sqrt_bc2
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp2)
        tmp2 *= c_m
        p -= tmp2
        np.divide(g, tmp, out=tmp2)
        tmp2 *= c_g
        p -= tmp2

    def _extra_variables(self):
        return {"u_product": np.array(self._u_product, dtype=np.float64), **super()._extra_variables()}

    def _check_extra(self, where, extra):
        super()._check_extra(where, extra)
        u = extra["u_product"]
        if u.shape != () or u.dtype.kind != "f" or not 0.0 <= float(u) <= 1.0:
            raise ValueError(f"{where}: 'u_product' must be a float scalar in [0, 1], got {u!r}")

    def _set_extra(self, extra):
        super()._set_extra(extra)
        self._u_product = float(extra["u_product"])

    def _rule(self, p, g, slots, consts):
        c_m, c_g, inv_sqrt_bc2 = consts
        m, v = self._new_moments(g, slots)
        d = np.sqrt(v) * inv_sqrt_bc2 + self.epsilon
        return (m / d * c_m, g / d * c_g), [m, v]


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al. 2013), Keras's form: with
    ``n`` the accumulated squared gradients (from ``initial_accumulator_value``),
    ``p = -learning_rate_power`` and ``l2' = l2 + beta / (2 lr)``,
    ``z += g + 2 l2_shrinkage w - (n_new**p - n**p) / lr * w``, then
    ``w = (clip(z, -l1, l1) - z) / (n_new**p / lr + 2 l2')``: the l1 strength sets
    weights exactly to zero.

    >>> w = np.array([1.0]); Ftrl(0.1, initial_accumulator_value=0.0).apply_gradients(
    ...     [w], [np.array([2.0])]); w.round(6)
    array([0.9])
    """

    _hyper = ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
              "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")

    def __init__(self, learning_rate: Any = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0,
                 l2_shrinkage_regularization_strength: float = 0.0, beta: float = 0.0,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        if not callable(self.learning_rate) and self.learning_rate == 0:
            raise ValueError("Ftrl: learning_rate must be > 0 (Ftrl divides by it), got 0")
        self.learning_rate_power = _real("Ftrl", "learning_rate_power", learning_rate_power,
                                         -math.inf, 0.0)
        for name, value in (("initial_accumulator_value", initial_accumulator_value),
                            ("l1_regularization_strength", l1_regularization_strength),
                            ("l2_regularization_strength", l2_regularization_strength),
                            ("l2_shrinkage_regularization_strength",
                             l2_shrinkage_regularization_strength), ("beta", beta)):
            setattr(self, name, _real("Ftrl", name, value))
        self._slot_names = ("accumulator", "linear")

    def _init_slot(self, name, p):
        if name == "accumulator":
            return np.full(p.shape, self.initial_accumulator_value, p.dtype)
        return np.zeros(p.shape, p.dtype)

    def _prepare(self, params, grads, hvp, lr):
        if lr <= 0:
            raise ValueError(f"Ftrl: the learning rate at step {self.iterations} is {lr!r}; "
                             f"Ftrl divides by it, so it must stay > 0")
        return lr, self.l2_regularization_strength + self.beta / (2.0 * lr)

    def _update(self, p, g, slots, consts):
        (update,), (accum, linear) = self._rule(p, g, slots, consts)
        np.copyto(slots[0], accum)
        np.copyto(slots[1], linear)
        p -= update

    def _rule(self, p, g, slots, consts):
        lr, l2 = consts
        accum, linear = slots
        power = -self.learning_rate_power
        grad = g + 2 * self.l2_shrinkage_regularization_strength * p
        new_accum = accum + np.square(g)
        linear = linear + (grad - (new_accum ** power - accum ** power) / lr * p)
        quadratic = new_accum ** power / lr + 2 * l2
        l1 = self.l1_regularization_strength
        new_p = (np.clip(linear, -l1, l1) - linear) / quadratic
        return (p - new_p,), [new_accum, linear]


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018), Keras 3's form: second moments of a weight of
    rank >= 2 kept factored, as row means ``r`` and column means ``c`` of
    ``g**2 + epsilon_1`` over its last two axes (memory rows + columns, not rows x
    columns), decayed with ``beta_2_t = 1 - t**beta_2_decay``; the step
    ``u = g / sqrt(v)`` (``v = r c / mean(r)``) is clipped to RMS ``clip_threshold`` and
    scaled by ``max(epsilon_2, RMS(w)) * min(lr, 1 / sqrt(t))``: relative to the
    weight's own size. Weights of rank < 2 keep the full ``v``.

    >>> w = np.ones((2, 2)); Adafactor(0.1).apply_gradients([w], [np.ones((2, 2))]); w
    array([[0.9, 0.9],
           [0.9, 0.9]])
    """

    _hyper = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")
    _param_shaped_slot = 2

    def __init__(self, learning_rate: Any = 0.001, beta_2_decay: float = -0.8,
                 epsilon_1: float = 1e-30, epsilon_2: float = 1e-3, clip_threshold: float = 1.0,
                 relative_step: bool = True, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay = _real("Adafactor", "beta_2_decay", beta_2_decay, -math.inf, 0.0,
                                  hi_open=True)
        self.epsilon_1 = _real("Adafactor", "epsilon_1", epsilon_1)
        self.epsilon_2 = _real("Adafactor", "epsilon_2", epsilon_2)
        self.clip_threshold = _real("Adafactor", "clip_threshold", clip_threshold, 0.0,
                                    lo_open=True)
        self.relative_step = bool(relative_step)
        self._slot_names = ("r", "c", "velocity")

    def slot_shape(self, name, shape):
        shape = tuple(shape)
        if name == "velocity":
            return shape
        if len(shape) < 2:
            return ()   # unused: a weight of rank < 2 keeps the full velocity
        return shape[:-1] if name == "r" else shape[:-2] + shape[-1:]

    def _prepare(self, params, grads, hvp, lr):
        t = self.iterations + 1
        if not callable(self._learning_rate) and self.relative_step:
            lr = min(lr, 1.0 / math.sqrt(t))
        return min(lr, 1.0 / math.sqrt(t)), 1.0 - t ** self.beta_2_decay

    def _update(self, p, g, slots, consts):
        (update,), new = self._rule(p, g, slots, consts)
        for old, value in zip(slots, new):
            np.copyto(old, value)
        p -= update

    def _rule(self, p, g, slots, consts):
        rho, beta = consts
        r, c, v = slots
        alpha = np.maximum(self.epsilon_2, np.sqrt(np.mean(np.square(p)))) * rho
        squares = np.square(g) + self.epsilon_1
        if p.ndim >= 2:
            r = r * beta + np.mean(squares, axis=-1) * (1.0 - beta)
            c = c * beta + np.mean(squares, axis=-2) * (1.0 - beta)
            v = np.expand_dims(r / np.mean(r, axis=-1, keepdims=True), -1) * np.expand_dims(c, -2)
        else:
            v = v * beta + squares * (1.0 - beta)
        u = g / np.sqrt(v)
        u = u / np.maximum(1.0, np.sqrt(np.mean(np.square(u))) / self.clip_threshold)
        return (u * alpha,), [r, c, v]


class Rprop(Optimizer):
    """Resilient backpropagation, iRprop- (Igel & Huesken 2000) as PyTorch does it:
    each weight has its own step size, multiplied by ``etas[1]`` while its
    gradient keeps its sign and by ``etas[0]`` when the sign flips, clipped to
    ``step_sizes``; the weight moves by ``-sign(g) * step``, except that after a
    sign flip it stays put and the gradient is forgotten (stored as 0).

    ``learning_rate`` is only the initial step size (a schedule is read once, on
    the first call). Rprop ignores gradient magnitudes, so it suits full-batch
    training, not noisy minibatches.

    >>> w = np.array([1.0, 1.0]); opt = Rprop(0.1)
    >>> for _ in range(2): opt.apply_gradients([w], [np.array([1.0, -1.0])])
    >>> w
    array([0.78, 1.22])
    """

    _hyper = ("etas", "step_sizes")

    def __init__(self, learning_rate: Any = 0.001, etas: tuple = (0.5, 1.2),
                 step_sizes: tuple = (1e-6, 50.0), **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        minus, plus = _pair("Rprop", "etas", etas)
        self.etas = (_real("Rprop", "etas[0] (the decrease factor)", minus, 0.0, 1.0,
                           lo_open=True, hi_open=True),
                     _real("Rprop", "etas[1] (the increase factor)", plus, 1.0, lo_open=True))
        low, high = _pair("Rprop", "step_sizes", step_sizes)
        low = _real("Rprop", "step_sizes[0] (the smallest step)", low)
        self.step_sizes = (low, _real("Rprop", "step_sizes[1] (the largest step)", high, low))
        self._slot_names = ("prev", "step_size")

    def _init_slot(self, name, p):
        if name == "step_size":
            return np.full(p.shape, self.current_learning_rate(), p.dtype)
        return np.zeros(p.shape, p.dtype)

    def _update(self, p, g, slots, lr):
        prev, step = slots
        tmp = self._tmp(p)
        np.multiply(g, prev, out=tmp)
        same, flipped = tmp > 0, tmp < 0
        np.multiply(step, self.etas[1], out=step, where=same)
        np.multiply(step, self.etas[0], out=step, where=flipped)
        np.clip(step, *self.step_sizes, out=step)
        np.copyto(prev, g)
        prev[flipped] = 0
        np.sign(prev, out=tmp)
        tmp *= step
        p -= tmp

    def _rule(self, p, g, slots, lr):
        prev, step = slots
        direction = g * prev
        flipped = direction < 0
        step = np.where(direction > 0, step * self.etas[1], step)
        step = np.where(flipped, step * self.etas[0], step)
        step = np.clip(step, *self.step_sizes)
        prev = np.where(flipped, np.zeros_like(g), g)
        return (np.sign(prev) * step,), [prev, step]


class ESGD(Optimizer):
    """Equilibrated SGD (Dauphin, de Vries & Bengio 2015): precondition by a running
    estimate of the equilibration (row norms) of the Hessian.

    Every ``update_every`` steps draw v ~ N(0, I) and accumulate
    ``D = rho * D + (1 - rho) * (H v)**2`` (E[(Hv)_i**2] is the squared norm of
    row i of H, which stays positive where H is indefinite: near saddle points);
    then ``w -= lr * g / (sqrt(D / (1 - rho**k)) + epsilon)`` after k estimates.
    ``apply_gradients`` must get ``hvp``, a callable mapping a list of vectors
    shaped like the parameters to the Hessian-vector products; ``Model.fit``
    passes one (``needs_hvp`` is True), built on ``adkit.hvp``.

    ``learning_rate=0.01``: with this preconditioner lr = 1 is a full
    diagonal-Newton step, so this default is deliberately cautious for noisy
    minibatch curvature; raise it for deterministic problems.

    >>> w = np.array([2.0, -1.0]); opt, H = ESGD(0.5, seed=0), np.diag([100.0, 0.01])
    >>> for _ in range(50): opt.apply_gradients([w], [H @ w], hvp=lambda vs: [H @ vs[0]])
    >>> bool(np.abs(w).max() < 1e-3)
    True
    """

    needs_hvp = True
    _hyper = ("rho", "epsilon", "update_every")

    def __init__(self, learning_rate: Any = 0.01, rho: float = 0.9, epsilon: float = 1e-4,
                 update_every: int = 1, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _unit("ESGD", "rho", rho)
        self.epsilon = _real("ESGD", "epsilon", epsilon)
        if (not isinstance(update_every, numbers.Integral) or isinstance(update_every, bool)
                or update_every < 1):
            raise ValueError(f"ESGD: update_every must be an integer >= 1, got {update_every!r}")
        self.update_every = int(update_every)
        self._slot_names = ("equilibration",)

    def _prepare(self, params, grads, hvp, lr):
        where = f"{self.name}.apply_gradients"
        if hvp is None:
            raise ValueError(f"{where}: ESGD needs Hessian-vector products; pass hvp=, a "
                             f"callable taking a list of vectors shaped like the params and "
                             f"returning H @ v for each (e.g. built on adkit.hvp of the loss)")
        if self.iterations % self.update_every == 0:
            hvs = list(hvp([self._normal(p) for p in params]))
            if len(hvs) != len(params):
                raise ValueError(f"{where}: hvp returned {len(hvs)} arrays for {len(params)} params")
            for i, (hv, p) in enumerate(zip(hvs, params)):
                if np.shape(hv) != p.shape:
                    raise ValueError(f"{where}: hvp returned shape {np.shape(hv)} for params[{i}] "
                                     f"of shape {p.shape}")
            rho = self.rho
            for hv, p, slots in zip(hvs, params, self._slots):
                d, tmp = slots[0], self._tmp(p)
                d *= rho
                np.square(np.asarray(hv), out=tmp, casting="same_kind")
                tmp *= 1.0 - rho
                d += tmp
        k = self.iterations // self.update_every + 1  # estimates folded into D so far
        return lr, 1.0 / math.sqrt(1.0 - self.rho ** k)

    def _update(self, p, g, slots, consts):
        lr, inv_sqrt_bc = consts
        tmp = self._tmp(p)
        np.sqrt(slots[0], out=tmp)
        tmp *= inv_sqrt_bc
        tmp += self.epsilon
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp


# ---------------------------------------------------------------- lookup by name

_REGISTRY: dict[str, type[Optimizer]] = {cls.__name__.lower(): cls for cls in
                                         (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, Adamax,
                                          Nadam, Lion, Ftrl, Adafactor, Rprop, ESGD)}
_ALIASES: dict[str, Callable[[], Optimizer]] = {"nag": lambda: SGD(momentum=0.9, nesterov=True)}


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``, the JSON-able form ``get`` reads back.

    >>> serialize(Adam())["class_name"]
    'Adam'
    """
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: Mapping[str, Any]) -> Optimizer:
    """The optimizer ``serialize`` (or Keras's ``keras.optimizers.serialize``) described."""
    return get(config)


def get(identifier: Any) -> Optimizer:
    """An optimizer from a Keras name ("adam", "SGD", ...; "nag" is SGD with
    Nesterov momentum 0.9), a ``{"class_name", "config"}`` dict, or an instance
    (returned as is). Only this module's classes can be named: nothing is
    imported or evaluated from the string.

    >>> get("Adam").learning_rate, get("nag").nesterov
    (0.001, True)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    valid = sorted(_REGISTRY) + sorted(_ALIASES)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ALIASES:
            return _ALIASES[key]()
        if key in _REGISTRY:
            return _REGISTRY[key]()
        raise ValueError(f"unknown optimizer {identifier!r}; valid names: {valid}")
    if isinstance(identifier, Mapping):
        name = identifier.get("class_name")
        cls = _REGISTRY.get(str(name).lower()) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"unknown optimizer class_name {name!r}; valid: "
                             f"{sorted(c.__name__ for c in _REGISTRY.values())}")
        return cls.from_config(identifier.get("config", {}))
    raise ValueError(f"cannot make an optimizer from {type(identifier).__name__} {identifier!r}; "
                     f"pass a name ({valid}), a {{'class_name', 'config'}} dict, or an Optimizer")
