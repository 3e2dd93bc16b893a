"""adkit.compile: stage a NumPy function once per input signature, replay a generated program.

The first call for a signature runs the function under a staging trace
(adkit.staging), which records every primitive into a program; the program is
pruned (dead-code elimination; constants are folded as the trace runs and
common subexpressions merged as they are recorded), written out as Python
source, one statement per primitive, and compiled with the built-in
`compile`. Later calls with the same signature run that program.

Rules (see README "Compiling"):
- a signature is the arguments' pytree structure, the shapes and dtypes of
  array leaves, the types of scalar leaves, the values of static arguments,
  and the same for the values the function captures;
- every question that steers Python (bool(), comparisons in `if`, int(),
  float(), len() of a data-dependent shape, .item(), indices from argmax) is
  a guard: a replay whose guard fails records another program for that path
  (at most `max_paths` per signature, then the function runs eagerly, with a
  warning);
- arrays and numbers the function captures (closure cells, module globals,
  attributes of user modules, default arguments, and items up to four levels
  inside captured lists, dicts, tuples and objects, of the function and of the
  functions it reaches; adkit.captures) are read at every call: in-place
  changes and rebindings are both seen; other captured objects are checked for
  identity (a rebinding retraces); a program that would use a captured array
  no binding reaches (deeper, in a set) as a constant is refused, and the
  function runs eagerly with a warning naming the variable;
- whatever cannot be replayed soundly (writes into an argument or a captured
  array, NumPy's or Python's global random generator, conversions to plain
  arrays, calls adkit has no rule for) makes the function run eagerly for that
  signature, with a one-time warning that names the reason; an error raised
  while staging is re-raised by the eager function, with its own message.
"""

from __future__ import annotations

import functools
import inspect
import threading
import types
import warnings
import weakref
from typing import Any, Callable, NamedTuple

import numpy as np

from .captures import (DEPTH, find_bindings, holds_arrays, random_generators, reachable, read,
                       shapes, stageable, swapped, unreached_arrays, write)
from .codegen import GuardFailure, Overwritten, build, operands_of, optimise, slots_of, split_at
from .compile_derivatives import (DYNAMIC, call_traced, compiled_primitive, innermost_trace,
                                  rebuild)
from .pytree import tree_flatten, tree_unflatten
from .random_states import RandomStates
from .reverse.graphviz import tape_to_dot
from .scope import tracing
from .staging import Guard, Instruction, Staged, StagingTrace, Unstageable
from .tracer import BoxBase

__all__ = ["compile", "Compiled", "CompileWarning"]

_STAGING = threading.RLock()


class CompileWarning(UserWarning):
    """adkit.compile runs a function eagerly, or keeps retracing it."""


class CompileStats:
    """Counters of one compiled function (compiled.stats)."""

    __slots__ = ("traces", "replays", "guard_failures", "eager_calls", "entries")

    def __init__(self) -> None:
        self.traces = self.replays = self.guard_failures = self.eager_calls = self.entries = 0

    def as_dict(self) -> dict:
        """The counters by name."""
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return "CompileStats(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


def compile(f: Callable, static_argnums: Any = (), *, max_paths: int = 8,  # noqa: A001
            donate_argnums: Any = (), static_argnames: Any = ()) -> "Compiled":
    """f, staged into a straight-line program per input signature and replayed.

    static_argnums: positions of arguments that are not arrays or numbers to
    stage (flags, sizes, functions); their values, which must be hashable, are
    part of the signature. static_argnames: the same by parameter name (JAX's
    spelling), whether the argument comes by keyword or by position.

    donate_argnums: positions of arguments whose arrays the caller gives up (as
    JAX's donate_argnums): the program may write its results into them once its
    last guard has held, so an update such as ``m = 0.9 * m + g`` runs in place.
    After a call their contents are unspecified (they may hold results). Donated
    arrays that share memory with another argument are copied first. Under a
    transform (grad of the compiled function) nothing is donated. An error raised
    once the program has begun writing into donated arrays is raised as it comes
    (f cannot run on them again); before that, f answers, as for any program.

    >>> import numpy as np, adkit
    >>> g = adkit.compile(adkit.grad(lambda x: np.sqrt(x[0] ** 2 + x[1] ** 2)))
    >>> g(np.array([3.0, 4.0]))
    array([0.6, 0.8])
    >>> g(np.array([6.0, 8.0])), g.stats.traces
    (array([0.6, 0.8]), 1)
    """
    if not callable(f):
        raise TypeError(f"adkit.compile expects a function, got {type(f).__name__}")
    names = _names(static_argnames, f)
    static = _positions(static_argnums, "static_argnums")
    if not isinstance(max_paths, int) or max_paths < 1:
        raise ValueError(f"adkit.compile: max_paths must be a positive int, got {max_paths!r}")
    donate = _positions(donate_argnums, "donate_argnums")
    both = set(donate) & (set(static) | set(_positions_of(names, f)))
    if both:
        raise ValueError(f"adkit.compile: arguments {sorted(both)} are both static and "
                         "donated; a static argument is not staged, so it cannot be donated")
    return Compiled(f, static, max_paths, donate, names)


def _names(names: Any, f: Callable) -> tuple:
    """static_argnames as a tuple of f's parameter names, checked."""
    names = (names,) if isinstance(names, str) else names
    try:
        names = tuple(names)
    except TypeError:
        names = (names,)
    if not all(isinstance(n, str) for n in names):
        raise TypeError("adkit.compile: static_argnames must be a str or a tuple of str, "
                        f"got {names!r}")
    params = _parameters(f)
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = [n for n in names if n not in params]
        if unknown:
            raise ValueError(f"adkit.compile: static_argnames {unknown} are not parameters of "
                             f"{getattr(f, '__name__', 'f')}; its parameters are {list(params)}")
    return names


def _positions_of(names: tuple, f: Callable) -> tuple:
    """The positions of the parameters named that may also be passed by position."""
    params = _parameters(f)
    if not names or params is None:
        return ()
    positional = [n for n, p in params.items()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return tuple(positional.index(n) for n in names if n in positional)


def _parameters(f: Callable) -> dict | None:
    try:
        return dict(inspect.signature(f).parameters)
    except (TypeError, ValueError):   # a builtin without a signature
        return None


def _positions(numbers: Any, name: str) -> tuple:
    """static_argnums or donate_argnums as a sorted tuple of ints."""
    if isinstance(numbers, int) and not isinstance(numbers, bool):
        numbers = (numbers,)
    try:
        if isinstance(numbers, (str, bytes)) or any(
                isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in numbers):
            raise TypeError
        return tuple(sorted({int(n) for n in numbers}))
    except TypeError:
        raise TypeError(f"adkit.compile: {name} must be an int or a tuple of ints, "
                        f"got {numbers!r}") from None


class _Entry:
    __slots__ = ("programs", "eager_reason", "keep")

    def __init__(self, keep: tuple) -> None:
        self.programs: list[Program] = []
        self.eager_reason: str | None = None
        self.keep = keep   # the captured objects whose identity is in the key


class Compiled:
    """A compiled function: call it like f; .source(*args) and .stats inspect it."""

    def __init__(self, f: Callable, static_argnums: tuple, max_paths: int,
                 donate_argnums: tuple = (), static_argnames: tuple = ()) -> None:
        functools.update_wrapper(self, f)
        self._f = f
        self._static = static_argnums
        self._max_paths = max_paths
        self._cache: dict = {}
        self._bindings: list | None = None
        self._holders: list = []      # where the bindings were found, and their shapes then
        self._shapes: tuple = ()
        self._logs: set = set()       # ids of holders f changes itself (not watched)
        self._found = 0               # how many times the bindings were found
        self._bindings_of: Compiled | None = None
        self._warned: set = set()
        self._derived: dict = {}
        self.output_shapes: dict = {}   # (adkit.compile_derivatives: a first call's output)
        self._primitive: Any = None
        self._label = getattr(f, "__name__", type(f).__name__)
        self._donate = donate_argnums
        self._positions = static_argnums + donate_argnums   # (checked at every call)
        self._static_names = frozenset(static_argnames)
        # positions of the parameters named static, where given by position
        self._named_positions = _positions_of(tuple(static_argnames), f)
        self._by_static_keywords: dict = {}   # their values -> f with them bound, compiled
        self._methods: Any = weakref.WeakKeyDictionary()   # object -> this method bound to it
        self.stats = CompileStats()

    # --- calling ------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(args, kwargs, donate=True)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """A compiled method: `@adkit.compile` on `def loss(self, x)` compiles the method
        bound to each object once (its attributes are captured values, read at every
        call). Argument positions count `self` as 0, as in JAX; a static self is bound."""
        if obj is None:
            return self
        try:
            bound = self._methods.get(obj)
        except TypeError:   # an unhashable object: compiled per access
            bound = None
        if bound is None:
            def shift(positions: tuple) -> tuple:
                return tuple(n - 1 if n > 0 else n for n in positions if n != 0)
            bound = self._sibling(types.MethodType(self._f, obj), shift(self._static),
                                  shift(self._donate))
            bound._static_names = self._static_names
            bound._named_positions = shift(self._named_positions)
            try:
                self._methods[obj] = bound
            except TypeError:
                pass
        return bound

    def call(self, args: tuple, kwargs: dict, donate: bool) -> Any:
        """f(*args, **kwargs) by a program; donate=False keeps every argument intact (as
        a transform needs, whose pullbacks read them again)."""
        if self._static_names and not self._static_names.isdisjoint(kwargs):
            bound, kwargs = self._bound(kwargs)
            return bound.call(args, kwargs, donate)
        for n in self._positions:
            if n >= len(args) or n < -len(args):
                kind = "static_argnums" if n in self._static else "donate_argnums"
                raise ValueError(f"adkit.compile: {kind} names argument {n}, but "
                                 f"{len(args)} positional arguments were given")
        found = self.lookup(args, kwargs)
        if found is None:   # traced values of an enclosing transform, or leaves we cannot key
            top = innermost_trace(tree_flatten((args, kwargs))[0])
            if top is not None and not any(isinstance(read(b), BoxBase)
                                           for b in self._captured()):
                return call_traced(self, top, args, kwargs)
            # (f closing over a traced value depends on more than its arguments: it runs
            # inline, traced as plain code, as grad of a closure over x[0] needs)
            self.stats.eager_calls += 1
            return self._f(*args, **kwargs)
        entry, inputs, leaves, treedef, captured = found
        if entry.eager_reason is not None:
            self.stats.eager_calls += 1
            return self._f(*args, **kwargs)
        for program in reversed(entry.programs):
            donating = donate and program.donated
            try:
                out = program.run(_separated(inputs, program.donated) if donating else inputs,
                                  donating)
            except GuardFailure:   # (raised before any write into a donated array)
                self.stats.guard_failures += 1
                continue
            except Overwritten as written:   # donated arrays hold part of a result: f
                raise written.__cause__ from None   # cannot rerun, its error is the answer
            except Exception:  # noqa: BLE001 - the eager function gives its own answer or error
                self.stats.eager_calls += 1
                return self._f(*args, **kwargs)
            self.stats.replays += 1
            return out
        if len(entry.programs) >= self._max_paths:
            self._warn(f"{self._name()} took more than {self._max_paths} paths for one input "
                       "signature (its guards keep failing); it now runs eagerly for that "
                       f"signature.{_steering(entry.programs)} Mark the arguments that steer "
                       "it static (static_argnums) or raise max_paths")
            entry.eager_reason = "too many paths"
            self.stats.eager_calls += 1
            return self._f(*args, **kwargs)
        with _STAGING:   # one staging at a time: it swaps captured bindings in and out
            return self._stage(entry, args, kwargs, leaves, treedef, captured)

    def _donated_leaves(self, args: tuple) -> set:
        """Indices, among the leaves of (dynamic arguments, keyword arguments), of the
        leaves of the donated arguments."""
        if not self._donate:
            return set()
        static_n = self._static_positions(args)
        donate_n = {n % len(args) for n in self._donate}
        donated, start = set(), 0
        for i, a in enumerate(args):
            if i in static_n:
                continue
            count = len(tree_flatten(a)[0])
            if i in donate_n:
                donated.update(range(start, start + count))
            start += count
        return donated

    def _bound(self, kwargs: dict) -> tuple["Compiled", dict]:
        """(f with the static keyword arguments bound, compiled; the other keywords): one
        compiled function per set of static values, counting in these stats."""
        static = {k: v for k, v in kwargs.items() if k in self._static_names}
        key = self._static_key([(k, static[k]) for k in sorted(static)])
        bound = self._by_static_keywords.get(key)
        if bound is None:
            bound = self._sibling(functools.partial(self._f, **static), self._static,
                                  self._donate)
            bound._named_positions = self._named_positions   # (the others, by position)
            self._by_static_keywords[key] = bound
        return bound, {k: v for k, v in kwargs.items() if k not in self._static_names}

    def _sibling(self, f: Callable, static: tuple, donate: tuple) -> "Compiled":
        """A compiled function standing in for this one (a method bound to an object, f
        with static keywords bound): it counts in these stats and warns once with it."""
        sibling = Compiled(f, static, self._max_paths, donate)
        sibling._label, sibling.stats, sibling._warned = self._label, self.stats, self._warned
        return sibling

    def lookup(self, args: tuple, kwargs: dict) -> tuple | None:
        """(cache entry, program inputs, leaves, treedef, captured bindings and values) for
        these arguments, or None when they cannot be staged (traced or unkeyable leaves)."""
        split = self._split(args, kwargs)
        if split is None:
            return None
        leaves, treedef, static_key, leaf_key = split
        captured, capture_key, keep = self._read_captures()
        if any(isinstance(v, BoxBase) for v in keep):
            return None   # f closes over a traced value of an enclosing transform
        found = (self._bindings_of or self)._found   # (bindings found again: a new key)
        key = (treedef, static_key, leaf_key, capture_key, found)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = _Entry(keep)
        inputs = [v for v in leaves if stageable(v)] + [v for _, v in captured]
        return entry, inputs, leaves, treedef, captured

    def leaf_keys(self, leaves: list) -> tuple:
        """The signature of plain leaves (shapes, dtypes, scalar types, hashable values)."""
        return tuple(_leaf_key(leaf) for leaf in leaves)

    def _name(self) -> str:
        return f"adkit.compile({self._label})"

    # --- derivatives (adkit.compile_derivatives) ---------------------------------------
    @property
    def primitive(self) -> Any:
        """The operation a tape records for a call of this function."""
        if self._primitive is None:
            self._primitive = compiled_primitive(self._label, self)
        return self._primitive

    def derived(self, key: Any, make: Callable[[], Callable], what: str) -> "Compiled":
        """The compiled derivative function for `key` (made by make() on first use): it
        reads f's captured values and counts in f's stats."""
        d = self._derived.get(key)
        if d is None:
            d = Compiled(make(), (), self._max_paths)
            d._label = f"{self._label}, {what}"
            d._bindings_of = self
            d.stats = self.stats
            d._warned = self._warned
            self._derived[key] = d
        return d

    def _captured(self) -> list:
        """The bindings of f's captured values, found again when a list or dict they were
        found in has changed its items (an append, a new key)."""
        if self._bindings_of is not None:   # a derivative function reads f's
            return self._bindings_of._captured()
        if self._bindings is None or (self._holders and shapes(self._holders) != self._shapes):
            holders: list = []
            self._bindings = find_bindings(self._f, holders)
            self._track([h for h in holders if id(h) not in self._logs])
            self._found += 1
        return self._bindings

    def _track(self, holders: list) -> None:
        self._holders, self._shapes = holders, shapes(holders)

    def _untrack_logs(self, before: tuple) -> None:
        """Stop watching the holders f itself changed while staged (`calls.append(1)`, a
        log): their shape changes at every call of f, and says nothing about its path."""
        owner = self._bindings_of or self
        after = shapes(owner._holders)
        if after != before:
            changed = [h for h, b, a in zip(owner._holders, before, after) if a != b]
            owner._logs.update(id(h) for h in changed)
            owner._track([h for h in owner._holders if id(h) not in owner._logs])

    def _warn(self, message: str, depth: int = 0) -> None:
        """Warn once per message, at the caller's line (depth: frames between it and here)."""
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(message, CompileWarning, stacklevel=3 + depth)

    # --- signatures ---------------------------------------------------------------------
    def _static_positions(self, args: tuple) -> set:
        if not args:
            return set()
        return {n % len(args) for n in self._static} | {
            n for n in self._named_positions if n < len(args)}

    def _static_key(self, static_vals: list) -> tuple:
        try:
            static_key = tuple((type(v), v) for v in static_vals)
            hash(static_key)
        except TypeError:
            raise TypeError(f"{self._name()}: static arguments must be hashable (their "
                            "values are part of the signature); got "
                            f"{', '.join(type(v).__name__ for v in static_vals)}") from None
        return static_key

    def _split(self, args: tuple, kwargs: dict) -> tuple | None:
        if self._static or self._named_positions:
            static_n = self._static_positions(args)
            dynamic = tuple(a for i, a in enumerate(args) if i not in static_n)
            static_key = self._static_key([args[i] for i in sorted(static_n)])
        else:
            dynamic, static_key = args, ()
        if not kwargs and all(type(a) in _PLAIN_LEAVES for a in dynamic):
            leaves, treedef = list(dynamic), _flat_treedef(len(dynamic))   # (the common call)
        else:
            leaves, treedef = tree_flatten((dynamic, kwargs))
        leaf_key = []
        for leaf in leaves:
            k = _leaf_key(leaf)
            if k is not None and k[0] == "k" and holds_arrays(leaf):
                self._warn(f"{self._name()} runs eagerly when given a {type(leaf).__name__}: "
                           "the arrays it holds are not arguments a program can read; pass "
                           "them as arguments (a tuple or dict of arrays) or capture it", 1)
                k = None
            if k is None:
                return None
            leaf_key.append(k)
        return leaves, treedef, static_key, tuple(leaf_key)

    def _read_captures(self) -> tuple[list, tuple, tuple]:
        staged, key, keep = [], [], []
        for binding in self._captured():
            value = read(binding)
            k = _leaf_key(value) if stageable(value) else None
            if k is not None:
                staged.append((binding, value))
                key.append(k)
            else:
                keep.append(value)
                key.append(("id", id(value)))
        return staged, tuple(key), tuple(keep)

    # --- staging ------------------------------------------------------------------------
    def _stage(self, entry: _Entry, args: tuple, kwargs: dict, leaves: list, treedef: Any,
               captured: list) -> Any:
        trace = StagingTrace()
        boxes = [trace.new_input(v) if stageable(v) else v for v in leaves]
        capture_boxes = [trace.new_input(v) for _, v in captured]
        staged_args, staged_kwargs = self._rebuild(args, treedef, boxes)
        # one walk over what f can reach: arrays no binding covers (a program must not use
        # them as constants) and random generators (it must not replay their draws)
        reached = list(reachable(self._f))
        unreached = unreached_arrays(reached, [v for _, v in captured])
        given = [(v, "in an argument") for v in leaves if not stageable(v)] + [
            (args[i], f"argument {i}") for i in self._static_positions(args)]
        states = RandomStates(random_generators(reached + list(reachable(None, given))))
        reason = None
        try:
            with tracing(trace):
                swap = swapped([(binding, value, box)
                                for (binding, value), box in zip(captured, capture_boxes)])
                given = tree_flatten((staged_args, staged_kwargs))
                watched = shapes((self._bindings_of or self)._holders)
                with swap:
                    try:
                        out = self._f(*staged_args, **staged_kwargs)
                    finally:
                        self._untrack_logs(watched)
                if swap.rebound:
                    reason = "it assigns to a variable it captures"
                elif _changed(given, tree_flatten((staged_args, staged_kwargs))):
                    # (f got copies of its containers: the caller's would not change)
                    reason = "it writes into a dict or list it was given"
        except Unstageable as err:
            reason = str(err)
        except Exception as err:  # noqa: BLE001 - the eager call below decides
            reason = f"staging it raised {type(err).__name__}: {err}"
        stored = _stored(trace, self._f)   # (also where staging stopped half-way)
        if reason is None:
            reason = _frozen(trace, out, unreached)
        if reason is None:
            reason = _unsound(trace, boxes + capture_boxes, leaves + [v for _, v in captured],
                              states)
        if reason is None and stored is not None:
            # staging was this call, side effects included (their values put in place):
            # its answer is f's, and running f again would repeat them
            entry.eager_reason = stored
            self.stats.eager_calls += 1
            self._warn(f"{self._name()} runs eagerly for this input signature: {stored}", 1)
            leaves, treedef = tree_flatten(out)
            return tree_unflatten(treedef, [v._value if isinstance(v, Staged) and v._trace is trace
                                            else v for v in leaves])
        reason = reason or stored
        if reason is None:
            donated = frozenset(boxes[i]._node for i in self._donated_leaves(args)
                                if isinstance(boxes[i], Staged)
                                and type(boxes[i]._value) is np.ndarray)
            try:
                program = Program(trace, len(capture_boxes) + sum(
                    isinstance(b, Staged) for b in boxes), out, donated)
            except Unstageable as err:
                reason = str(err)
        if reason is not None:
            states.restore()   # the eager call draws what f would have drawn
            result = self._f(*args, **kwargs)   # raises the eager function's own error
            entry.eager_reason = reason
            self.stats.eager_calls += 1
            self._warn(f"{self._name()} runs eagerly for this input signature: {reason}", 1)
            return result
        entry.programs.append(program)
        self.stats.traces += 1
        self.stats.entries += 1
        return program.first_result

    def _rebuild(self, args: tuple, treedef: Any, boxes: list) -> tuple[tuple, dict]:
        """args and kwargs with their leaves replaced by boxes (treedef: as _split found it)."""
        static_n = self._static_positions(args)
        template = tuple(a if i in static_n else DYNAMIC for i, a in enumerate(args))
        return rebuild(template, treedef, boxes)

    # --- inspection ---------------------------------------------------------------------
    def source(self, *args: Any, **kwargs: Any) -> str:
        """The generated program(s) for these arguments' signature (stages f if needed)."""
        entry = self._entry_for(args, kwargs)
        if entry.eager_reason is not None:
            return f"# runs eagerly: {entry.eager_reason}\n"
        return "\n".join(p.source for p in entry.programs)

    def to_dot(self, *args: Any, **kwargs: Any) -> str:
        """The newest program for these arguments' signature as a Graphviz DOT digraph, drawn
        as the tape draws its Wengert list (adkit.reverse.graphviz)."""
        entry = self._entry_for(args, kwargs)
        if not entry.programs:
            raise ValueError(f"{self._name()} has no program for these arguments: it runs "
                             f"eagerly ({entry.eager_reason})")
        return entry.programs[-1].to_dot()

    def _entry_for(self, args: tuple, kwargs: dict) -> _Entry:
        if self._static_names and not self._static_names.isdisjoint(kwargs):
            bound, kwargs = self._bound(kwargs)
            return bound._entry_for(args, kwargs)
        found = self.lookup(args, kwargs)
        if found is None:
            raise ValueError(f"{self._name()}: these arguments are not staged (they hold "
                             "traced values of an enclosing transform, or unhashable leaves)")
        entry = found[0]
        if not entry.programs and entry.eager_reason is None:
            self(*args, **kwargs)
        return entry

    def __repr__(self) -> str:
        return f"<{self._name()}: {self.stats!r}>"


_PLAIN_LEAVES = frozenset({np.ndarray, float, int, complex})


@functools.lru_cache(maxsize=None)
def _flat_treedef(n: int) -> Any:
    """The treedef of (n plain leaves, no keyword arguments), as tree_flatten gives it."""
    return tree_flatten(((0,) * n, {}))[1]


def _leaf_key(leaf: Any) -> Any:
    t = type(leaf)
    if t is np.ndarray:   # (first: the common case; a dtype compares and hashes by value)
        dt = leaf.dtype
        return ("a", leaf.shape, dt) if dt.kind in "biufc" else None
    if isinstance(leaf, BoxBase):
        return None
    if isinstance(leaf, np.generic):
        return ("g", leaf.dtype.str)
    if t in (float, int, complex):
        return ("s", t)
    try:
        hash(leaf)
    except TypeError:
        return None
    return ("k", t, leaf)


def _frozen(trace: StagingTrace, out: Any, unreached: dict) -> str | None:
    """Why the program would freeze a captured array (one no binding reads), or None."""
    if not unreached:
        return None
    consts = [leaf for leaf in tree_flatten(out)[0] if not isinstance(leaf, BoxBase)]
    for step in trace.program:
        if isinstance(step, Instruction):
            consts.extend(operands_of(step.operands, "c"))
    for c in consts:
        while isinstance(c, np.ndarray):
            if id(c) in unreached:
                return (f"it reads the array {unreached[id(c)][1]}, which adkit.compile "
                        "cannot read at each call (deeper than "
                        f"{DEPTH} levels inside a captured value, or in a set or a library "
                        "object), so a program would keep its current value; pass it as an "
                        "argument")
            c = c.base
    return None


def _changed(before: tuple, after: tuple) -> bool:
    """Whether arguments' containers changed: (leaves, treedef) pairs of tree_flatten."""
    return before[1] != after[1] or any(a is not b for a, b in zip(before[0], after[0]))


def _stored(trace: StagingTrace, f: Callable) -> str | None:
    """Why f's side effects make a program wrong: it stored a value it computes in
    something it captures (a cache, a log, self.last), which a program would not
    repeat. Each staged box stored is replaced by its value where it can be (staging
    ran f once: this call's side effects are then done, with values)."""
    reason = None
    for value, path, binding in list(reachable(f)):
        if isinstance(value, BoxBase) and value._trace is trace:
            if binding is not None:
                write(binding, value._value)
            reason = reason or (f"it stores a value it computes in {path} (a side effect, "
                                "which a program would not repeat); return it instead")
    return reason


def _unsound(trace: StagingTrace, boxes: list, originals: list,
             states: RandomStates) -> str | None:
    """Why the recorded program would differ from the function, or None."""
    if trace.raised:
        return (f"an operation raised while it was staged and f caught the error "
                f"({trace.raised[0]}): a program cannot ask whether it raises on other values")
    for box, original in zip(boxes, originals):
        if isinstance(box, Staged) and (box._trace is not trace or box._value is not original):
            return "it writes into an argument or a captured array in place"
    return states.drawn()


#: what each kind of guard stands for in the user's code, for messages
_ASKED = {"bool": "a truth test (if, while, and, or) on a traced value",
          "int": "int() of a traced value (an index, a loop bound, range())",
          "float": "float() of a traced value (math.exp and the other math functions call "
                   "float(); NumPy's np.exp keeps the value traced)",
          "complex": "complex() of a traced value",
          "value": "a traced value used as a constant (an index array, a parameter)"}


def _steering(programs: list) -> str:
    """A sentence naming the first guard whose answer differs between the last two paths
    recorded, and the user's line that asked it ("" when none can be named)."""
    if len(programs) < 2:
        return ""
    asked = [[step for step in program.steps if isinstance(step, Guard) and step.kind != "shape"]
             for program in programs[-2:]]
    for a, b in zip(*asked):
        if a.kind != b.kind or not _same_answer(a.expected, b.expected):
            where = f" in {a.where}" if a.where else ""
            return f" The paths part at {_ASKED.get(a.kind, a.kind + ' guard')}{where}."
    return ""


def _same_answer(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)
    except (TypeError, ValueError):
        return False


# --- programs -----------------------------------------------------------------------------
#: what a program may return as a constant (an ndarray: a copy per call)
_CONSTANT_OUTPUTS = (bool, int, float, complex, str, bytes, np.generic, np.ndarray, np.dtype,
                     slice, range, type)

class Program:
    """One recorded path: its steps after the passes, its source, and the compiled function."""

    __slots__ = ("steps", "source", "run_flat", "out_treedef", "first_result", "outputs",
                 "n_inputs", "shapes", "info", "large", "out_types", "_split", "donated",
                 "run_donating")

    def __init__(self, trace: StagingTrace, n_inputs: int, out: Any,
                 donated: frozenset = frozenset()) -> None:
        leaves, self.out_treedef = tree_flatten(out)
        outputs = []
        for leaf in leaves:
            if isinstance(leaf, BoxBase):
                if not (isinstance(leaf, Staged) and leaf._trace is trace):
                    raise Unstageable("it returns a traced value of an enclosing transform")
                outputs.append(("v", leaf._node))
            elif isinstance(leaf, _CONSTANT_OUTPUTS) or leaf is None or leaf is Ellipsis:
                outputs.append(("c", leaf))
            else:
                raise Unstageable(
                    f"it returns an object of type {type(leaf).__name__}, which a program "
                    "would hand back (the same object, holding the first call's values) at "
                    "every call; return arrays and numbers, in tuples, lists or dicts")
        self.outputs = outputs
        self.first_result = tree_unflatten(
            self.out_treedef, [leaf._value if isinstance(leaf, BoxBase) else leaf
                               for leaf in leaves])
        self.n_inputs, self.shapes = n_inputs, trace.shapes
        out_types = [trace.info[x].type if kind == "v" and x in trace.info else None
                     for kind, x in outputs]
        self.steps, self.outputs = optimise(trace.program, outputs, trace.info)
        self.info, self.large, self.out_types = trace.info, trace.large, out_types
        self.source, self.run_flat = build(self.steps, n_inputs, self.outputs, trace.info,
                                           trace.large, out_types)
        #: input slots whose arrays a top-level call gives up, and the program that may
        #: write into them (its source is the one `source` shows)
        self.donated, self.run_donating = donated, self.run_flat
        if donated:
            self.source, self.run_donating = build(self.steps, n_inputs, self.outputs,
                                                   trace.info, trace.large, out_types, donated)
        self._split: dict = {}

    def split(self, seed: int, n_first: int) -> "SplitProgram | None":
        """The program cut in two at input `seed` (a cotangent): the part before it,
        computing the first n_first outputs and the residuals, and the part after it."""
        key = (seed, n_first)
        if key not in self._split:
            parts = split_at(self.steps, self.outputs, seed, n_first)
            self._split[key] = None if parts is None else SplitProgram(self, seed, n_first,
                                                                       parts)
        return self._split[key]

    def to_dot(self) -> str:
        """The program as a Graphviz DOT digraph: inputs as boxes, outputs highlighted
        (entries numbered in evaluation order, as the tape numbers its Wengert list)."""
        nodes: dict = {i: _DotNode(i, None, (), self.shapes.get(i, ()))
                       for i in range(self.n_inputs)}
        for step in self.steps:
            if isinstance(step, Instruction):
                parents = tuple(nodes[s] for s in slots_of(step.operands) if s in nodes)
                nodes[step.out] = _DotNode(len(nodes), step.prim, parents,
                                           self.shapes.get(step.out, ()))
        return tape_to_dot(list(nodes.values()),
                           [nodes[s].index for kind, s in self.outputs if kind == "v"])

    def run(self, inputs: list, donating: bool = False) -> Any:
        """The outputs for new inputs (raises GuardFailure when the path differs); with
        donating, results may be written into the donated inputs' arrays."""
        run = self.run_donating if donating else self.run_flat
        return tree_unflatten(self.out_treedef, run(*inputs))


def _separated(inputs: list, donated: frozenset) -> list:
    """inputs, with a copy in place of each donated array that shares its memory with
    another input (or is read-only): a program writes only into memory nothing else
    it reads lives in."""
    owners: dict = {}
    for v in inputs:
        if type(v) is np.ndarray:
            owner = v if v.base is None else _owner(v)
            owners[id(owner)] = owners.get(id(owner), 0) + 1
    out = inputs
    for slot in donated:
        v = inputs[slot]
        owner = v if v.base is None else _owner(v)
        if owners[id(owner)] > 1 or not v.flags.writeable:
            if out is inputs:
                out = list(inputs)
            out[slot] = np.array(v)
    return out


def _owner(a: np.ndarray) -> Any:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a.base if a.base is not None else a


class SplitProgram:
    """A program of (f's outputs, cotangents) cut at its cotangent input: `forward(inputs
    without the seed)` -> (the first outputs, residuals); `backward(residuals, seed)` ->
    the other outputs. A tape runs the first part when f is called and the second when
    the cotangent arrives, as it runs a primitive's value and its VJP."""

    __slots__ = ("forward", "backward", "n_first", "sources")

    def __init__(self, program: Program, seed: int, n_first: int, parts: tuple) -> None:
        first, first_outputs, residuals, second, second_outputs = parts
        inputs = [i for i in range(program.n_inputs) if i != seed]
        out_types = list(program.out_types)
        src1, self.forward = build(first, inputs, first_outputs, program.info, program.large,
                                   out_types[:n_first] + [None] * len(residuals))
        src2, self.backward = build(second, residuals + [seed], second_outputs, program.info,
                                    program.large, out_types[n_first:])
        self.n_first, self.sources = n_first, (src1, src2)


class _DotNode(NamedTuple):
    """What adkit.reverse.graphviz draws of a tape entry."""

    index: int
    prim: Any
    parents: tuple
    shape: tuple
