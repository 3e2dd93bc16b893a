"""The values a compiled function captures: where they live, read at every call, swapped
for staged inputs while it is staged, and the ones a program would freeze.

A *binding* is a place f reads a value from, (kind, holder, key, path):

- ("cell", cell, name): a closure cell;
- ("global", namespace, name): a module global, or an attribute of a user module
  that f names (`config.W`);
- ("default", function, i): the i-th positional default of f or of a function it
  calls (`def f(x, w=W0)`); keyword-only defaults are ("item", __kwdefaults__, name);
- ("item", list | dict | object.__dict__, key): an item of a captured list or dict,
  an attribute of a captured object (model.w, model.layers[2].b), up to DEPTH levels;
- ("class", cls, name): a data attribute of a captured object's class (`scale = 2.0`
  in the class body, read as self.scale);
- ("attr", object, name): an attribute of a captured object whose class has __slots__;
- ("tuple", parent binding, i): an item of a captured tuple (or namedtuple): read
  through the parent, and swapped by writing a rebuilt tuple into the parent.

path spells the binding for messages (`model.layers[2].b`). adkit.compile reads
every binding that holds an array or a number at every call (so in-place changes
and rebindings are both seen); a binding that holds anything else is part of the
signature by identity.

Arrays f can reach that no binding covers (deeper than DEPTH, inside sets or
library objects, past LIMIT) would be frozen into a program as constants:
`unreached_arrays` finds them with a deeper walk at staging time, so that
adkit.compile can refuse such a program and name the variable.
"""

from __future__ import annotations

import functools
import types
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["find_bindings", "shapes", "read", "write", "swapped", "unreached_arrays",
           "random_generators", "reachable", "stageable"]

#: how many levels inside captured containers bindings are made
DEPTH = 4
#: at most this many bindings per function, and items per container
LIMIT, PER_CONTAINER = 1024, 256
#: the deeper walk that looks for arrays a program would freeze (staging time only)
SEARCH_DEPTH, SEARCH_LIMIT = 12, 20000


def stageable(value: Any) -> bool:
    """An array or number of a numeric dtype: what a program takes as an input."""
    t = type(value)
    return (t is np.ndarray and value.dtype.kind in "biufc") or t in (float, int, complex) \
        or (isinstance(value, np.generic) and value.dtype.kind in "biufc")


def is_library(module: Any) -> bool:
    """Whether a module name is adkit's, NumPy's or SciPy's (their state is their own)."""
    return str(module).split(".")[0] in ("adkit", "numpy", "scipy")


def _is_function(value: Any) -> bool:
    """Whether a captured value is code to walk rather than data: a function, a partial, or
    a wrapper that names what it wraps (an adkit.compile'd or functools.wraps'd callable)."""
    return isinstance(value, (types.FunctionType, functools.partial)) \
        or (callable(value) and not isinstance(value, type) and hasattr(value, "__wrapped__"))


# --- finding bindings -----------------------------------------------------------------------
def roots(f: Callable) -> list[tuple[Any, Any, str]]:
    """(binding or None, value, path) for every place f and the user functions it reaches
    read a value from: closure cells, globals, attributes of user modules, defaults, the
    object of a bound method or a callable object (binding None: fixed by f itself)."""
    found, seen_fns, seen = [], set(), set()
    todo = [f]
    while todo and len(seen_fns) < 64:
        fn = todo.pop()
        if id(fn) in seen_fns:
            continue
        seen_fns.add(id(fn))
        if isinstance(fn, functools.partial):
            todo.append(fn.func)
            for i, a in enumerate(fn.args):
                found.append((None, a, f"{_name(fn.func)}'s bound argument {i}"))
            continue
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None and not isinstance(fn, type):
            todo.append(wrapped)
        if isinstance(fn, types.MethodType):   # model.loss: the object's arrays too
            found.append((None, fn.__self__, _name(fn.__self__, "self")))
            todo.append(fn.__func__)
            continue
        if not isinstance(fn, types.FunctionType):
            call = getattr(type(fn), "__call__", None)
            if isinstance(call, types.FunctionType) and not is_library(type(fn).__module__):
                found.append((None, fn, _name(fn, "self")))   # a callable object
                todo.append(call)
            continue
        # the defining module (functools.wraps copies __module__ from the wrapped function)
        library = is_library(fn.__globals__.get("__name__", ""))
        code = fn.__code__
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if _is_function(value):
                todo.append(value)
            elif not library and id(cell) not in seen:
                seen.add(id(cell))
                found.append((("cell", cell, name, name), value, name))
        if library:
            continue
        for i, value in enumerate(fn.__defaults__ or ()):
            params = code.co_varnames[:code.co_argcount]
            name = params[len(params) - len(fn.__defaults__) + i]
            path = f"{fn.__name__}'s default {name}="
            found.append((("default", fn, i, path), value, path))
        for name, value in (fn.__kwdefaults__ or {}).items():
            path = f"{fn.__name__}'s default {name}="
            found.append((("item", fn.__kwdefaults__, name, path), value, path))
        g = fn.__globals__
        names = set(_global_names(code))
        for name in names:
            if name not in g or (id(g), name) in seen:
                continue
            value = g[name]
            if isinstance(value, types.ModuleType):
                if not is_library(value.__name__):   # config.W: the attributes f names
                    for attr in names:
                        d = vars(value)
                        if attr in d and (id(d), attr) not in seen \
                                and not isinstance(d[attr], (types.ModuleType, type)):
                            seen.add((id(d), attr))
                            path = f"{name}.{attr}"
                            found.append((("global", d, attr, path), d[attr], path))
                continue
            if isinstance(value, type):
                continue
            seen.add((id(g), name))
            if _is_function(value):
                todo.append(value)
            found.append((("global", g, name, name), value, name))
    return found


def find_bindings(f: Callable, holders: list | None = None) -> list[tuple]:
    """The bindings adkit.compile reads at every call, in a fixed order; `holders`, if
    given, receives the lists, dicts and objects' attribute dicts they were found in
    (whose `shapes` say when the bindings must be found again: an item appended)."""
    bindings: list = []
    seen: set = set()
    for binding, value, path in roots(f):
        if binding is not None:
            bindings.append(binding)
        bindings.extend(_items(value, binding, path, seen, DEPTH, holders=holders))
        if len(bindings) >= LIMIT:
            return bindings[:LIMIT]
    return bindings


def shapes(holders: list) -> tuple:
    """What bindings depend on in each holder: a list's length, a dict's keys."""
    return tuple(len(h) if type(h) is list else tuple(h) if len(h) <= PER_CONTAINER
                 else len(h) for h in holders)


def _children(container: Any, binding: Any, path: str) -> tuple[list, Any] | None:
    """(key, value, child binding) triples of a container, or None when it is not one."""
    if isinstance(container, (types.ModuleType, type)) or _is_function(container):
        return None
    t = type(container)
    if t is list or t is dict:
        pairs = enumerate(container) if t is list else container.items()
        return [(k, v, ("item", container, k, f"{path}[{k!r}]"))
                for k, v in list(pairs)[:PER_CONTAINER]], container
    if t is tuple or (isinstance(container, tuple) and hasattr(container, "_fields")):
        if binding is None:
            return None
        return [(i, v, ("tuple", binding, i, f"{path}[{i}]"))
                for i, v in enumerate(container[:PER_CONTAINER])], container
    if is_library(t.__module__) or isinstance(container, np.ndarray):
        return None   # a library's object (scipy.stats.norm) is its own business
    d = getattr(container, "__dict__", None)
    if isinstance(d, dict):
        own = [(k, v, ("item", d, k, f"{path}.{k}")) for k, v in list(d.items())[:PER_CONTAINER]]
        return own + _class_data(t, d, path), d
    slots = [name for c in t.__mro__ for name in getattr(c, "__slots__", ())
             if isinstance(name, str) and name not in ("__weakref__", "__dict__")]
    if not slots:
        return None
    own = [(name, getattr(container, name), ("attr", container, name, f"{path}.{name}"))
           for name in slots[:PER_CONTAINER] if hasattr(container, name)]
    return own + _class_data(t, {name for name, _, _ in own}, path), container


def _class_data(cls: type, own: Iterable[str], path: str) -> list:
    """(name, value, binding) for the data attributes an object reads from its user-defined
    classes (`scale = 2.0` in the class body, read as self.scale): not methods, properties
    or other descriptors, not the names `own` the object holds itself."""
    found, named = [], set(own)
    for klass in cls.__mro__:
        if klass is object or is_library(klass.__module__):
            continue
        for name, value in list(vars(klass).items())[:PER_CONTAINER]:
            if name in named or (name.startswith("__") and name.endswith("__")) \
                    or _is_function(value) or isinstance(value, type) \
                    or hasattr(type(value), "__get__"):
                continue
            named.add(name)
            found.append((name, value, ("class", klass, name, f"{path}.{name}")))
    return found


def _items(container: Any, binding: Any, path: str, seen: set, depth: int,
           others: bool = True, holders: list | None = None) -> list:
    """Bindings of the arrays and numbers up to `depth` levels inside a container, and
    (others=True) of every other value there that is not a container itself: a flag, a
    string, None, a function (cfg["training"], layer.activation), which a program's
    signature holds by identity."""
    found: list = []
    if depth <= 0:
        return found
    kids = _children(container, binding, path)
    if kids is None:
        return found
    pairs, holder = kids
    if id(holder) in seen:
        return found
    seen.add(id(holder))
    if holders is not None and type(holder) in (list, dict):
        holders.append(holder)
    for _, value, child in pairs:
        if child[0] == "class":   # two objects of one class share its attributes
            if (id(child[1]), child[2]) in seen:
                continue
            seen.add((id(child[1]), child[2]))
        if stageable(value):
            found.append(child)
        elif others and _children(value, child, child[3]) is None:
            found.append(child)
        else:
            found.extend(_items(value, child, child[3], seen, depth - 1, others, holders))
    return found


def holds_arrays(value: Any) -> bool:
    """Whether a container (list, dict, tuple, object) holds arrays or numbers."""
    return bool(_items(value, None, "", set(), DEPTH, others=False))


def _global_names(code: types.CodeType) -> Iterable[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _name(obj: Any, default: str = "") -> str:
    return getattr(obj, "__name__", None) or default or type(obj).__name__


# --- reading and writing --------------------------------------------------------------------
def read(binding: tuple) -> Any:
    """The value a binding holds now (None where it holds nothing any more)."""
    kind, holder, key = binding[0], binding[1], binding[2]
    if kind == "cell":
        try:
            return holder.cell_contents
        except ValueError:
            return None
    if kind == "default":
        d = holder.__defaults__ or ()
        return d[key] if key < len(d) else None
    if kind == "tuple":
        t = read(holder)
        return t[key] if isinstance(t, tuple) and key < len(t) else None
    if kind == "class":
        return vars(holder).get(key)
    if kind == "attr":
        return getattr(holder, key, None)
    if type(holder) is list:
        return holder[key] if key < len(holder) else None
    return holder.get(key)


def write(binding: tuple, value: Any) -> None:
    """Bind a value (a tuple item: by writing a rebuilt tuple into its parent)."""
    kind, holder, key = binding[0], binding[1], binding[2]
    if kind == "cell":
        holder.cell_contents = value
    elif kind == "default":
        d = list(holder.__defaults__ or ())
        if key < len(d):
            d[key] = value
            holder.__defaults__ = tuple(d)
    elif kind in ("class", "attr"):
        setattr(holder, key, value)
    elif kind == "tuple":
        t = read(holder)
        if isinstance(t, tuple) and key < len(t):
            items = list(t)
            items[key] = value
            write(holder, type(t)(*items) if hasattr(t, "_fields") else tuple(items))
    elif type(holder) is not list or key < len(holder):
        holder[key] = value


def _root(binding: tuple) -> tuple:
    while binding[0] == "tuple":
        binding = binding[1]
    return binding


class swapped:  # noqa: N801 - a context manager, used as `with swapped(...)`
    """Bind staged boxes in place of captured values while f is staged; restore the
    originals after (tuples: the original tuple objects). `.rebound` says whether f
    assigned to one of the bindings itself."""

    def __init__(self, pairs: list[tuple[tuple, Any, Any]]) -> None:
        self.pairs = pairs   # (binding, original value, box)
        self.rebound = False
        self._roots: dict = {}

    def __enter__(self) -> "swapped":
        for binding, _, box in self.pairs:
            if binding[0] == "tuple":
                root = _root(binding)
                self._roots.setdefault(id(root), (root, read(root)))
            write(binding, box)
        return self

    def __exit__(self, *exc: Any) -> None:
        for binding, original, box in reversed(self.pairs):
            if read(binding) is not box:
                self.rebound = True
            if binding[0] != "tuple":
                write(binding, original)
        for root, original in self._roots.values():
            write(root, original)


# --- what a program would freeze ------------------------------------------------------------
def unreached_arrays(reached: Iterable[tuple], bound: Iterable[Any]
                     ) -> dict[int, tuple[np.ndarray, str]]:
    """id -> (array, path) for the arrays among `reached` (what `reachable(f)` found) that
    are not among `bound` (the values of the bindings): deeper than DEPTH, past LIMIT,
    inside sets or other holders no binding reaches."""
    bound_ids = {id(v) for v in bound}
    return {id(v): (v, path) for v, path, _ in reached
            if type(v) is np.ndarray and id(v) not in bound_ids}


#: NumPy's random generators: drawing from one changes its state
RANDOM_STATES = (np.random.Generator, np.random.RandomState, np.random.BitGenerator)


def random_generators(reached: Iterable[tuple]) -> list[tuple[Any, str]]:
    """(generator, path) for the NumPy random generators among `reached` (what
    `reachable` found: `rng = np.random.default_rng(0)` that f draws from): a program
    would replay the draws it made while staged."""
    return [(v, path) for v, path, _ in reached if isinstance(v, RANDOM_STATES)]


def reachable(f: Callable | None, extra: Iterable[tuple[Any, str]] = ()
              ) -> Iterable[tuple[Any, str, Any]]:
    """(value, path, binding) for the arrays and library objects f's captured values (none
    for f None) and the `extra` (value, path) pairs hold, however deep (up to SEARCH_DEPTH
    levels and SEARCH_LIMIT values); binding: where the value sits, to write() something
    else there (None where it cannot be written: inside a tuple or a set)."""
    seen: set = set()
    budget = [SEARCH_LIMIT]

    def walk(value: Any, path: str, depth: int, binding: Any
             ) -> Iterable[tuple[Any, str, Any]]:
        if budget[0] <= 0 or id(value) in seen:
            return
        budget[0] -= 1
        seen.add(id(value))
        if type(value) is np.ndarray:
            yield value, path, binding
            return
        if depth <= 0 or stageable(value) or isinstance(value, (str, bytes)):
            return
        if isinstance(value, (set, frozenset)):
            for v in list(value)[:PER_CONTAINER]:
                yield from walk(v, f"{path} (an item of a set)", depth - 1, None)
            return
        kids = _children(value, ("root",), path)
        if kids is None:
            if is_library(type(value).__module__):
                yield value, path, binding
            return
        for _, v, child in kids[0]:
            yield from walk(v, child[3], depth - 1,
                            child if child[0] in ("item", "class", "attr") else None)

    for binding, value, path in roots(f) if f is not None else ():
        yield from walk(value, path, SEARCH_DEPTH, binding)
    for value, path in extra:
        yield from walk(value, path, SEARCH_DEPTH, None)
