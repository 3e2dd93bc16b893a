"""A training step as one adkit.compile program: the loss, its gradient (reverse mode)
and the optimizer's update, staged once per batch signature and replayed.

The program is a pure function

    (trainable params, other params, layer state, optimizer slots, step scalars, x, y,
     random draws[, weights]) -> (loss, outputs, new params, new slots, new layer state)

staged with the trainable parameters and the optimizer slots donated
(adkit.compile's donate_argnums): once its guards have held, the replayed program
writes the new parameters and slots into the old arrays, chunk by chunk in its
fused update loops, as the eager optimizer updates them in place (same operations,
so the same rounding). It runs with Ctrl-C held, so an interrupted fit never holds
half an update. Under TerminateOnNaN (on in every fit) the program checks that the
loss is finite before it writes: a guard, so a step with a nan loss takes another
path that changes nothing, and the callback stops training on the last good
weights. The optimizer then adopts its new slots and counts the step.

Randomness comes in as an argument. The eager step hands the layers a Generator
seeded by (model seed, step[, rank]); the first step of a batch signature runs the
forward pass once with a `RecordingGenerator` to learn which draws the layers make
(method, shape, dtype), and every step then makes those draws on the host from the
step's Generator and passes the arrays in, where a `ReplayedDraws` hands them to
the layers in order. A compiled step therefore drops exactly the units the eager
step drops.

Whatever cannot run this way falls back to the eager step with a reason
(`refusal`): an OpenCL device, MPI data parallelism, an optimizer that needs
Hessian-vector products or draws its own noise (Optimizer.pure_step_refusal),
or a model adkit.compile cannot stage (its CompileWarning names what).
"""

from __future__ import annotations

import inspect
import types
import warnings
from typing import Any

import numpy as np

import adkit
from adkit.pytree import tree_flatten, tree_unflatten

from .layers.base import Layer, nested
from .outputs import Rows

#: compile's jit_compile values: Keras's "auto" (compiled where it applies), True, False
JIT_CHOICES = ("auto", True, False)

#: stagings of one batch signature after its first that make it step eagerly from then on
_MAX_RETRACES = 2
#: distinct configurations (see `configuration`) one batch signature may stage before
#: its steps run eagerly: a configuration that changes at every step (a counter a layer
#: keeps in an attribute) would otherwise stage and keep a program per step
_MAX_CONFIGURATIONS = 8

#: Generator methods a layer may draw from inside a compiled step
_DRAWS = frozenset({"random", "standard_normal", "normal", "uniform", "binomial", "integers",
                    "bernoulli", "permutation", "exponential", "poisson", "choice"})


def keras_compile_options(jit_compile: Any, run_eagerly: Any,
                          steps_per_execution: Any) -> bool | str:
    """compile's jit_compile, with Keras 3's run_eagerly (True: False) and
    steps_per_execution (a positive int; a step is one program already) checked."""
    if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) \
            or steps_per_execution < 1:
        raise ValueError(f"compile: steps_per_execution must be a positive int, got "
                         f"{steps_per_execution!r}")
    if not isinstance(run_eagerly, (bool, np.bool_)):
        raise ValueError(f"compile: run_eagerly must be True or False, got {run_eagerly!r}")
    return False if run_eagerly else check_jit_compile(jit_compile)


def check_jit_compile(value: Any) -> bool | str:
    """compile's jit_compile, checked: "auto", True or False."""
    if value is None:
        return "auto"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value == "auto":
        return value
    raise ValueError(f"jit_compile must be True, False or 'auto', got {value!r}")


def refusal(model: Any, strategy_is_distributed: bool, *, on_device: bool) -> str | None:
    """Why `model`'s training step cannot be one compiled program here, or None."""
    if on_device:
        return "the model trains on an OpenCL device, where the step runs the device's kernels"
    if strategy_is_distributed:
        return ("distribute='mpi' all-reduces the gradients between the backward pass and "
                "the update")
    host = [layer for layer in model.layers if getattr(layer, "preprocesses_on_host", False)]
    if host:
        return (f"layer {host[0].name!r} ({type(host[0]).__name__}) preprocesses its inputs "
                "with NumPy on the host (lookups, bins), outside a staged program")
    if model.state and "state" not in inspect.signature(model.loss_fn).parameters:
        return ("the model's loss_fn takes no state= argument, so its layer state would be "
                "frozen into the program")
    return model.optimizer.pure_step_refusal()


class RecordingGenerator:
    """A numpy Generator that notes every draw (method, arguments) it makes: the plan
    of draws a compiled step makes on the host."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.plan: list[tuple[str, tuple, tuple]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._rng, name)
        if name not in _DRAWS:
            raise _UnplannedDraw(f"a layer called Generator.{name}, which a compiled step "
                                 "does not replay")

        def draw(*args: Any, **kwargs: Any) -> Any:
            self.plan.append((name, args, tuple(sorted(kwargs.items()))))
            return method(*args, **kwargs)
        return draw


class ReplayedDraws:
    """Stands in for the step's Generator inside the staged step: returns the arrays
    drawn on the host, in the order of the plan, checking each call matches it."""

    def __init__(self, plan: list, draws: list) -> None:
        self._plan, self._draws, self._next = plan, draws, 0

    def __getattr__(self, name: str) -> Any:
        def draw(*args: Any, **kwargs: Any) -> Any:
            k = self._next
            if k >= len(self._plan) or self._plan[k] != (name, args,
                                                         tuple(sorted(kwargs.items()))):
                raise _UnplannedDraw(f"the layers' draw {k} (Generator.{name}) differs from "
                                     "the one the plan recorded")
            self._next += 1
            return self._draws[k]
        return draw


class _UnplannedDraw(RuntimeError):
    """A layer drew random numbers in a way the recorded plan does not cover."""


def plain_tree(tree: Any) -> Any:
    """Nested dicts (NestedState, a dict subclass, included) as plain dicts, arrays kept."""
    if isinstance(tree, dict):
        return {k: plain_tree(v) for k, v in tree.items()}
    return tree


class CompiledStep:
    """model's training step as one program (see the module docstring). Called with
    the placed parameters and one batch, it returns (loss, outputs, apply), or None
    when this batch's signature runs eagerly (the Trainer then takes its eager step);
    `apply()` writes the step's results into the model and the optimizer."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._value_and_grad = adkit.value_and_grad(model.loss_fn, has_aux=True)
        #: the staged step; its .stats count traces and replays, .source(...) shows it
        #: (arguments 1 and 4, the trainable parameters and the optimizer's slots, are
        #: donated: the program updates them in place)
        self.program = adkit.compile(self._pure_step, static_argnums=(0,),
                                     donate_argnums=(1, 4))
        self._split_params: tuple = (None, None)   # (the params tree, how to split it)
        self._plans: dict = {}      # batch signature -> the draws the layers make
        #: batch signature -> why it runs eagerly
        self.eager_reasons: dict = {}
        self._replayed: set = set()   # signatures whose program has run
        self._traced: set = set()     # signatures staged at least once
        self._retraces: dict = {}     # signature -> stagings after its first
        self._configurations: dict = {}   # batch signature -> configuration keys staged
        self._eager_signatures: dict = {}   # batch signature -> why it now runs eagerly
        self._leaf_ids: tuple = (None, ())   # (the leaves list, the ids of its arrays)
        self._configuration: Configuration | None = None   # the layers' and optimizer's

    def __call__(self, params: dict, leaves: list, x: Any, y: Any, sample_weight: Any,
                 rng: np.random.Generator, finite_loss: bool = False
                 ) -> tuple[float, Any, Any] | None:
        """One step on (x, y); the program writes the new parameters and slots into the
        model's and the optimizer's arrays (call it with Ctrl-C held). finite_loss=True
        (TerminateOnNaN): a loss that is not finite leaves every array as it was."""
        model, optimizer = self.model, self.model.optimizer
        if self._leaf_ids[0] is not leaves:   # a fit's leaves: the same list at every step
            self._leaf_ids = (leaves, tuple(id(w) for w in leaves))
        reconfigured = self._configuration is None or not self._configuration.unchanged()
        if reconfigured:
            self._configuration = Configuration(model)
        key = (_signature(x), _signature(y), np.shape(sample_weight), self._leaf_ids[1],
               self._configuration.key)
        if key in self.eager_reasons or \
                (self._eager_signatures and key[:4] in self._eager_signatures):
            return None
        # (counted only when the configuration changed: a steady one costs no step a look)
        if reconfigured and self._too_many_configurations(key):
            return None
        state = plain_tree(model.state)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._draw_plan(params, state, x, y, sample_weight, rng)
            if plan is None:
                self.eager_reasons[key] = "a layer draws random numbers in a way a program " \
                                          "cannot replay"
                return None
            self._plans[key] = plan
        draws = [getattr(rng, name)(*args, **dict(kwargs)) for name, args, kwargs in plan]
        consts = optimizer.begin_step(leaves)
        treedef, where, others = self._split(params, leaves)
        layout = (key[3], plan, isinstance(x, Rows), isinstance(y, Rows), treedef, where,
                  finite_loss, key[4])
        before, traces = self.program.stats.eager_calls, self.program.stats.traces
        args = (layout, list(leaves), others, state, optimizer._slots, consts, _unwrapped(x),
                _unwrapped(y), draws, sample_weight)
        if key in self._replayed:   # staged and replayed before: no warning to catch
            result, caught = self.program(*args), []
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", adkit.CompileWarning)
                try:
                    result = self.program(*args)
                except _UnplannedDraw as error:   # the layers' draws change from step to step
                    caught.append(warnings.WarningMessage(str(error), adkit.CompileWarning,
                                                          "", 0))
                    result = None
            if result is not None and self.program.stats.eager_calls == before:
                self._replayed.add(key)
        if self.program.stats.traces > traces and key in self._traced:
            # a guard failed: a value that changes between steps steers the layers' Python
            # (a random number made a Python int, a data-dependent branch). Two retraces
            # say it will keep changing: step eagerly rather than stage every step
            self._retraces[key] = self._retraces.get(key, 0) + 1
            if self._retraces[key] >= _MAX_RETRACES:
                caught.append(warnings.WarningMessage(
                    "its program was staged again on each of the last steps (a value that "
                    "changes from step to step steers the layers' Python code)",
                    adkit.CompileWarning, "", 0))
                self.eager_reasons[key] = str(caught[-1].message)
        self._traced.add(key)
        if result is None or key in self.eager_reasons \
                or self.program.stats.eager_calls > before:
            # not staged (or not replayed): this result is the eager function's, right but
            # slower; the next steps of this signature take the ordinary eager step
            reasons = [str(w.message) for w in caught
                       if issubclass(w.category, adkit.CompileWarning)]
            # (adkit.compile warns once per reason: a second signature repeats the first's)
            self.eager_reasons[key] = self.eager_reasons.get(key) or (
                reasons[0] if reasons else next(iter(self.eager_reasons.values()),
                                                 "adkit.compile ran it eagerly"))
            name = getattr(model, "name", type(model).__name__)
            warnings.warn(f"adkit.nn: the training step of model {name!r} runs eagerly for "
                          f"this batch shape: {self.eager_reasons[key]}", adkit.CompileWarning,
                          stacklevel=4)
            if result is None:
                return None
        loss, out, new_params, new_slots, new_state = result

        def apply() -> None:
            optimizer.finish_step(leaves, new_params, new_slots)
            model.state.update(new_state)
        return float(loss), out, apply

    def _split(self, params: dict, leaves: list) -> tuple:
        """(treedef of params, for each of its leaves the index of that array among the
        trained `leaves` or -1, the other leaves with None where a trained one goes):
        the trained arrays go into the program as one donated argument."""
        full, treedef = tree_flatten(params)
        cached, split = self._split_params
        if cached is not params or split[0] is not leaves:
            index = {id(w): i for i, w in enumerate(leaves)}
            split = (leaves, tuple(index.get(id(w), -1) for w in full))
            self._split_params = (params, split)
        where = split[1]
        return treedef, where, [None if i >= 0 else w for w, i in zip(full, where)]

    def _too_many_configurations(self, key: tuple) -> bool:
        """Whether this batch signature has now seen more configurations than it may stage
        (then it runs eagerly from here on, and says which attribute keeps changing)."""
        seen = self._configurations.setdefault(key[:4], [])
        if key[4] in seen:
            return False
        seen.append(key[4])
        if len(seen) <= _MAX_CONFIGURATIONS:
            return False
        changed = _changed_attribute(seen[-2], seen[-1])
        reason = (f"the layers' or the optimizer's configuration changed at each of the last "
                  f"{_MAX_CONFIGURATIONS} steps{changed}, so a program staged for one step "
                  "would not serve the next (keep values that change per step out of layer "
                  "attributes, e.g. as layer state)")
        self._eager_signatures[key[:4]] = reason
        for stale in [k for k in self._plans if k[:4] == key[:4]]:
            del self._plans[stale]
        name = getattr(self.model, "name", type(self.model).__name__)
        warnings.warn(f"adkit.nn: the training step of model {name!r} runs eagerly for this "
                      f"batch shape: {reason}", adkit.CompileWarning, stacklevel=4)
        return True

    def _draw_plan(self, params: dict, state: dict, x: Any, y: Any, sample_weight: Any,
                   rng: np.random.Generator) -> tuple | None:
        """The draws the layers make in a training forward pass on this batch (learned by
        running it once, eagerly, on a copy of rng), or None when a layer draws in a way
        that cannot be planned."""
        recorder = RecordingGenerator(np.random.default_rng(rng.bit_generator.seed_seq))
        kwargs = _loss_kwargs(state, sample_weight)
        try:
            self.model.loss_fn(params, x, y, recorder, **kwargs)
        except _UnplannedDraw:
            return None
        plan = tuple(recorder.plan)
        try:
            hash(plan)   # it keys the program (an array argument to a draw would not)
        except TypeError:
            return None
        return plan

    def _pure_step(self, layout: tuple, trained: list, others: list, state: dict,
                   slots: list, consts: Any, x: Any, y: Any, draws: list,
                   sample_weight: Any) -> tuple:
        """The step as a pure function (what adkit.compile stages). layout (static) keys
        the program by the trained arrays, the plan of draws, the batch containers and
        where the trained arrays sit in the parameter tree."""
        model = self.model
        _, plan, x_rows, y_rows, treedef, where, finite_loss, _ = layout
        params = tree_unflatten(treedef, [trained[i] if i >= 0 else w
                                          for w, i in zip(others, where)])
        x, y = (Rows(x) if x_rows else x), (Rows(y) if y_rows else y)
        (loss, (out, new_state)), grads = self._value_and_grad(
            params, x, y, ReplayedDraws(plan, draws), **_loss_kwargs(state, sample_weight))
        if finite_loss and not np.isfinite(loss):
            # (a guard of the program, checked before it writes anything: a step whose
            # loss is nan or inf takes another path, which keeps every array)
            return loss, out, trained, slots, state
        grad_leaves = tree_flatten(model.trainable_part(grads))[0]   # in trained's order
        new_params, new_slots = model.optimizer.pure_step(trained, grad_leaves, slots, consts)
        return loss, out, new_params, new_slots, new_state


#: attribute types a layer's configuration key holds by value (others by identity)
_BY_VALUE = (bool, int, float, str, type(None), np.dtype)


def configuration(model: Any, watched: list | None = None) -> tuple:
    """Every layer's attributes, recursively, and the optimizer's hyperparameters
    (numbers, flags, strings and tuples of them by value; functions and other objects
    by identity; arrays left out): part of a compiled step's key. A program bakes in
    what the layers' and the optimizer's Python reads (a custom layer's factor,
    Dropout's rate, an activation, Adam's beta_1, a clipnorm), so changing one between
    steps stages a new program, as the eager step would see the change. (The learning
    rate and the step count are arguments of the program.) watched, if given, receives
    (holder, name, value) for every value read, for `Configuration.unchanged`."""
    key: list = []
    watched = [] if watched is None else watched
    for layer in getattr(model, "layers", ()):
        for inner in nested(layer):   # (Bidirectional's directions, a nested model's layers)
            _layer_configuration(inner, key, watched)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        d = vars(optimizer)
        public = [(name, value) for name, value in d.items()
                  if not name.startswith("_") and name != "iterations"]
        watched.extend((d, name, value) for name, value in public)
        key.append(tuple((name, _keyed(value)) for name, value in public))
    return tuple(key)


class Configuration:
    """A model's configuration key (see configuration) and what it was read from: while
    every attribute read is still the same object, the key stands, checked at each step
    without making a new one (a key made per step kept the allocator's free lists
    growing: test_memory_stays_flat_across_epochs)."""

    def __init__(self, model: Any) -> None:
        self.watched: list = []
        self.key = configuration(model, self.watched)

    def unchanged(self) -> bool:
        """Whether every attribute read (and every layer's set of attributes) is as it was."""
        for holder, name, value in self.watched:
            if name is _CELL:
                try:
                    if holder.cell_contents is not value:
                        return False
                except ValueError:
                    return False
            elif name is _SIZE:
                if len(holder) != value:
                    return False
            elif holder.get(name, _CELL) is not value:
                return False
        return True


_CELL, _SIZE = object(), object()   # (watched entries that are a closure cell, a dict's size)


def _read_by(function: Any, watched: list) -> list:
    """The values a user function reads from its module's globals and its closure (adkit's
    own functions: none); where from goes into watched. Not followed: what the functions
    it calls read."""
    code = getattr(function, "__code__", None)
    if code is None or str(getattr(function, "__module__", "")).startswith("adkit"):
        return []
    namespace = function.__globals__
    values = []
    for name in code.co_names:
        if name in namespace and not isinstance(namespace[name], (types.ModuleType, type)):
            values.append(namespace[name])
            watched.append((namespace, name, namespace[name]))
    for cell in function.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:   # (a cell not yet assigned)
            continue
        watched.append((cell, _CELL, values[-1]))
    return values


def _changed_attribute(before: tuple, after: tuple) -> str:
    """' (attribute NAME)' for the first (name, value) entry two configuration keys
    differ in, '' when none is found."""
    for old, new in zip(before, after):
        if old != new and type(old) is tuple and len(old) == 2 and type(old[0]) is str:
            return f" (attribute {old[0]!r})"
    return ""


def _keyed(value: Any) -> Any:
    """A value as a configuration key holds it: by value if a number, flag or string
    (or a tuple of them), else by identity."""
    if type(value) in _BY_VALUE or (type(value) is tuple and all(
            type(v) in _BY_VALUE for v in value)):
        return value
    return id(value)


def _layer_configuration(layer: Any, key: list, watched: list) -> None:
    # the values its code reads from globals and closures (a Lambda's `t * SCALE`, a
    # custom layer's call reading a module constant): adkit's own code reads none
    # (a subclassed layer's own call is _user_call: nn/layers/subclassing.py)
    for code in (getattr(type(layer), "_user_call", type(layer).call),
                 getattr(layer, "function", None)):
        if callable(code):
            key.append(tuple(_keyed(v) for v in _read_by(code, watched)))
    d = vars(layer)
    watched.append((d, _SIZE, len(d)))
    watched.extend((d, name, value) for name, value in d.items())
    for name, value in d.items():
        if type(value) is dict:
            key.append((name, tuple((k, id(v)) for k, v in value.items())))
        elif type(value) is not np.ndarray and not isinstance(value, Layer):
            key.append((name, _keyed(value)))


def _loss_kwargs(state: dict, sample_weight: Any) -> dict:
    """loss_fn's keyword arguments: the layer state (where there is any: a model without
    state may take no state= argument) and the sample weights (where given)."""
    kwargs: dict = {"state": state} if state else {}
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    return kwargs


def _unwrapped(batch: Any) -> Any:
    """A batch as the program takes it: Rows (several inputs or outputs) as their list."""
    return batch.arrays if isinstance(batch, Rows) else batch


def _signature(batch: Any) -> tuple:
    """The shapes and dtypes of a batch's arrays (one array, Rows, a list or a dict)."""
    if type(batch) is np.ndarray:
        return batch.shape, batch.dtype
    leaves, treedef = tree_flatten(_unwrapped(batch))
    return treedef, tuple((np.shape(v), getattr(v, "dtype", type(v))) for v in leaves)
