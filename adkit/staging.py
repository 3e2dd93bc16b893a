"""The staging trace: run a function once on real values and record its primitives.

A StagingTrace is a trace level like forward and reverse mode, dispatching
through the same table. Its boxes (Staged) stand for *plain* values: every
primitive applied to one runs its implementation on the concrete values (so the
function sees real numbers, shapes and dtypes) and appends one Instruction to
a Program: the primitive, its operands (slots of earlier results or constants)
and its keyword parameters.

Everything that lets a staged value steer Python (bool(), int(), float(),
len() of a data-dependent shape, .item(), an index from argmax) is recorded as
a Guard: the program is only valid while every guard holds, which a replay
checks as it goes (adkit.compile). Because primal() stops at staged boxes
(adkit.tracer), the rules' own decisions on plain values (masks of max, the
order of sort, zero tests of prod) are recorded too instead of frozen.

What cannot be recorded soundly raises Unstageable, and adkit.compile runs the
function eagerly instead.
"""

from __future__ import annotations

import math
import operator
import weakref
from typing import Any, Iterable, NamedTuple

import numpy as np

from .arraybox import ArrayBox, Indexable, box_class
from .errors import TracedConversionError, outside_caller
from .inplace import note_view, shares_memory
from .tracer import BoxBase, NondiffPrimitive, Primitive, Trace

__all__ = ["StagingTrace", "Staged", "Instruction", "Guard", "SlotInfo", "Unstageable",
           "CONSTANT"]


class Unstageable(TracedConversionError):
    """The function does something a program cannot replay (adkit.compile runs it eagerly).

    A TracedConversionError, so that np.asarray/np.array on a staged value still
    take adkit's own path inside a trace.
    """


class Instruction(NamedTuple):
    """out = prim(*operands, **params); an operand is ("v", slot), ("c", constant) or
    ("t", tuple or list, operands)."""

    prim: Primitive
    operands: tuple
    params: dict
    out: int


class SlotInfo(NamedTuple):
    """What staging saw in a slot, for the code generation passes (adkit.codegen)."""

    type: type
    shape: tuple
    dtype: Any       # np.dtype, or None for a value without one
    root: Any        # id of the array owning an array's memory (views share it); a
                     # frozenset of them for a tuple or list of arrays; None otherwise
    fresh: bool      # a new array owning its memory, from an operation that always makes one
    python: bool = False   # a Python number in f's own terms: a Python float or int
                           # argument, or Python's operators on such (not a NumPy result
                           # that the math module computed, see rules.scalar_fast)


class Guard(NamedTuple):
    """The program holds only while kind(slot's value) == expected (see GUARD_KINDS).
    where: the user's line that asked (function, file:line), for messages."""

    kind: str
    slot: int
    expected: Any
    where: str = ""


def slots_of(operands: Iterable) -> Iterable[int]:
    """The slots an instruction's operands read."""
    return operands_of(operands, "v")


def operands_of(operands: Iterable, kind: str) -> Iterable[Any]:
    """The slots ("v") or constants ("c") among operands, inside tuples and lists too."""
    for op in operands:
        if op[0] == kind:
            yield op[1]
        elif op[0] == "t":
            yield from operands_of(op[2], kind)


def reads(step: Any) -> Iterable[int]:
    """The slots a step reads: an instruction's operands, or a guard's slot."""
    return slots_of(step.operands) if isinstance(step, Instruction) else (step.slot,)


#: results at least this large are released right after their last use in a program
_LARGE_BYTES = 1 << 16
#: integer and boolean values up to this size may become plain arrays, pinned by a guard
_SMALL_INDEX = 64
#: guard kinds: what a replay recomputes from the slot's value to compare
GUARD_KINDS = ("bool", "int", "float", "complex", "value", "shape")

#: queries whose answer follows from shapes and dtypes alone (fixed by the signature)
_SHAPE_QUERIES = frozenset({"shape", "ndim", "size", "result_type", "iscomplexobj",
                            "isrealobj", "may_share_memory", "shares_memory"})
#: primitives whose value follows from the shape and dtype of their first argument
_SHAPE_ONLY = frozenset({"ones_like", "zeros_like", "full_like"})
#: non-elementwise primitives whose array results are always new arrays (out= candidates)
_FRESH = frozenset({"matmul", "dot", "tensordot", "inner", "outer"})
#: primitives whose output shape depends on the values of their inputs
_DATA_SHAPED = frozenset({"nonzero", "argwhere", "flatnonzero", "unique", "compress",
                          "extract", "trim_zeros"})


#: primitives that Python numbers meet through an operator of their own (x ** 3, x % 1.0,
#: x // 2, abs(x)): staged on Python numbers, they keep Python's results (a float, and
#: Python's pow, whose last bit may differ from np.power's)
PYTHON_OPERATORS = {"power": operator.pow, "remainder": operator.mod,
                    "floor_divide": operator.floordiv, "absolute": operator.abs}
#: primitives whose result on Python numbers is a Python number in f's own terms
_PYTHON_RESULTS = frozenset(PYTHON_OPERATORS) | {"add", "subtract", "multiply", "divide",
                                                 "negative", "positive", "float"}


#: an instruction that only names a constant (a folded result): `v<out> = c<k>`
CONSTANT = Primitive("constant", lambda value: value)


#: float(x) and complex(x) recorded, not guarded: a gradient the eager engines return as a
#: Python number (that of a Python float argument) is one in the program's output too
AS_PYTHON = {float: Primitive("float", float), complex: Primitive("complex", complex)}


class StagingTrace(Trace):
    """Records every primitive applied to its boxes into `program` (a list of steps)."""

    __slots__ = ("program", "n_slots", "_cse", "large", "shapes", "info", "_memory", "raised")

    stages = True

    def __init__(self) -> None:
        super().__init__()
        self.program: list = []       # Instructions and Guards, in evaluation order
        self.n_slots = 0
        self._cse: dict = {}
        self.large: set = set()       # slots holding arrays worth freeing after last use
        self.shapes: dict = {}        # slot -> shape of its value (for DOT drawings)
        self.info: dict = {}          # slot -> SlotInfo
        self._memory = _MemoryNumbers()   # SlotInfo.root: which memory a value lives in
        self.raised: list = []        # errors primitives raised while staging (f caught them)

    def new_input(self, value: Any) -> "Staged":
        """A fresh input slot holding `value`."""
        box = _staged(value, self.n_slots, self)
        self.shapes[self.n_slots] = getattr(value, "shape", ())
        self.info[self.n_slots] = _info(value, False, self._memory, True)
        self.n_slots += 1
        return box

    def guard(self, kind: str, box: "Staged", expected: Any) -> Any:
        self.program.append(Guard(kind, box._node, expected, outside_caller()))
        return expected

    def process(self, prim: Primitive, args: tuple, kwargs: dict) -> Any:
        values, operands = [], []
        for a in args:
            value, op = self._operand(a)
            values.append(value)
            operands.append(op)
        if any(_holds_box(v) for v in kwargs.values()):
            kwargs = {k: _concrete(v, prim) for k, v in kwargs.items()}
        python = not kwargs and prim.name in _PYTHON_RESULTS and self._python(operands)
        try:
            if python and prim.name in PYTHON_OPERATORS:
                ans = PYTHON_OPERATORS[prim.name](*values)   # x ** 3 of a float is a float
            else:
                ans = prim.impl(*values, **kwargs)
        except Exception as error:
            # should f catch it (try: cholesky(A) except LinAlgError: ...), a program could
            # not replay that choice: no guard can ask "does this raise?" (see compile)
            self.raised.append(f"{type(error).__name__} in {prim.name}")
            raise
        if prim.name in _SHAPE_QUERIES and isinstance(prim, NondiffPrimitive):
            return ans
        if prim.name in _SHAPE_ONLY and all(op[0] == "c" for op in operands[1:]):
            # folded: the value follows from argument 0's shape and dtype (fixed by the
            # signature); still a staged box, as f may write into it in place
            prim, operands, kwargs = CONSTANT, [("c", ans)], {}
        key = _cse_key(prim, operands, kwargs)
        slot = self._cse.get(key) if key is not None else None
        if slot is None:
            slot = self.n_slots
            self.n_slots += 1
            self.program.append(Instruction(prim, tuple(operands), dict(kwargs), slot))
            if key is not None:
                self._cse[key] = slot
            if getattr(ans, "nbytes", 0) >= _LARGE_BYTES:
                self.large.add(slot)
            self.shapes[slot] = getattr(ans, "shape", ())
            fresh = type(ans) is np.ndarray and ans.base is None and not prim.view and (
                prim.elementwise or prim.name in _FRESH) and all(ans is not v for v in values)
            self.info[slot] = _info(ans, fresh, self._memory, python)
        out = _staged(ans, slot, self)
        if _shape_may_depend_on_data(prim, values) and hasattr(ans, "shape"):
            self.program.append(Guard("shape", slot, np.shape(ans)))
        if prim.view and shares_memory(ans, values[0]):
            note_view(out, args[0], prim, args[1:], kwargs)
        return out

    def _python(self, operands: list) -> bool:
        """Whether every operand is a Python number in f's own terms (SlotInfo.python)."""
        for op in operands:
            if op[0] == "v":
                if not self.info[op[1]].python:
                    return False
            elif op[0] != "c" or type(op[1]) not in (float, int):
                return False
        return True

    def _operand(self, a: Any) -> tuple[Any, tuple]:
        """(concrete value, operand): ("v", slot), ("c", constant), or ("t", type, operands)
        for a tuple or list with staged values inside (an index, a shape)."""
        if isinstance(a, BoxBase):
            if a._trace is not self:
                raise Unstageable(
                    "the function mixes its values with a traced value of an enclosing "
                    "differentiation (captured by a closure)")
            return a._value, ("v", a._node)
        if type(a) in (tuple, list) and _holds_box(a):
            parts = [self._operand(x) for x in a]
            return type(a)(v for v, _ in parts), ("t", type(a), tuple(op for _, op in parts))
        if _holds_box(a):
            raise Unstageable("a staged value is hidden inside an argument of type "
                              f"{type(a).__name__}")
        return a, ("c", a)


def _info(value: Any, fresh: bool, memory: _MemoryNumbers, python: bool = False) -> SlotInfo:
    root: Any = None
    if type(value) is np.ndarray:
        root = memory(value)
    elif type(value) in (tuple, list):   # (split, eigh: views of an input, or new arrays)
        root = frozenset(memory(v) for v in value if type(v) is np.ndarray) or None
    return SlotInfo(type(value), getattr(value, "shape", ()), getattr(value, "dtype", None),
                    root, fresh, python and type(value) in (float, int))


class _MemoryNumbers:
    """A number per array owning memory: its id(), unless that id belonged to an array
    freed since, when the new owner gets a fresh negative number. (id() alone comes
    back for new arrays, and two slots would seem to share memory.)"""

    __slots__ = ("_known", "_fresh")

    def __init__(self) -> None:
        self._known: dict = {}   # id -> (weak reference to the owner, its number)
        self._fresh = 0

    def __call__(self, a: np.ndarray) -> int:
        """The number of the array that owns a's memory (views share it)."""
        while isinstance(a.base, np.ndarray):
            a = a.base
        key = id(a)
        known = self._known.get(key)
        if known is not None and known[0]() is a:
            return known[1]
        if known is None:
            number = key
        else:
            self._fresh -= 1
            number = self._fresh
        try:
            self._known[key] = (weakref.ref(a), number)
        except TypeError:   # (an array subclass without weak references: keep it alive)
            self._known[key] = ((lambda a=a: a), number)
        return number


def _concrete(v: Any, prim: Primitive) -> Any:
    """A parameter (shape, axis, index tuple) with staged integers inside, guarded as ints."""
    if isinstance(v, BoxBase):
        if v._trace.stages and getattr(v, "ndim", 1) == 0 and np.result_type(v._value).kind in "iub":
            return v.__index__()
        raise Unstageable(f"a staged array was passed to {prim.name} inside a parameter")
    if isinstance(v, (list, tuple)):
        return type(v)(_concrete(x, prim) for x in v)
    if isinstance(v, dict):
        return {k: _concrete(x, prim) for k, x in v.items()}
    return v


def _holds_box(v: Any) -> bool:
    if isinstance(v, BoxBase):
        return True
    if isinstance(v, (list, tuple)):
        return any(_holds_box(x) for x in v)
    if isinstance(v, dict):
        return any(_holds_box(x) for x in v.values())
    return False


def _shape_may_depend_on_data(prim: Primitive, values: list) -> bool:
    """Nonzero-like primitives, and any primitive given integer or boolean arrays (indices, masks)."""
    if prim.name in _DATA_SHAPED:
        return True
    for v in values:
        dt = getattr(v, "dtype", None)
        if dt is not None and dt.kind in "biu" and getattr(v, "ndim", 0):
            return True
        if isinstance(v, tuple) and any(getattr(x, "dtype", None) is not None for x in v):
            return True
    return False


def _cse_key(prim: Primitive, operands: list, kwargs: dict) -> Any:
    """Two calls with the same primitive, operands (constants by identity) and parameters."""
    try:
        parts = tuple(_operand_key(op) for op in operands)
        params = tuple(sorted((k, _constant_key(v)) for k, v in kwargs.items()))
    except TypeError:
        return None
    return (prim, parts, params)


def _operand_key(op: tuple) -> Any:
    if op[0] == "v":
        return op
    if op[0] == "t":
        return ("t", op[1], tuple(_operand_key(x) for x in op[2]))
    return ("c", _constant_key(op[1]))


def _constant_key(c: Any) -> Any:
    if c is None or type(c) in (bool, int, str):
        return (type(c), c)
    if type(c) is float:
        return (float, c) if not math.isnan(c) else ("id", id(c))
    if isinstance(c, tuple):
        return tuple(_constant_key(x) for x in c)
    return ("id", id(c))  # arrays, dtypes, slices, ...: the same object only


def _scalar_of(value: Any) -> Any:
    """The Python scalar NumPy's .item() would give."""
    return value.item() if hasattr(value, "item") else value


def _same(a: Any, b: Any) -> bool:
    """Equality for guards: NaN equals NaN, arrays compare elementwise and by shape."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if a != a and b != b:  # noqa: PLR0124 - NaN
        return True
    return type(a) is type(b) and a == b


class Staged(ArrayBox):
    """A staged value: a concrete value and the program slot that computes it."""

    __slots__ = ()
    _kind = "Staged"

    # --- questions that steer Python: answered, and recorded as guards --------------
    def __bool__(self) -> bool:
        return self._trace.guard("bool", self, bool(self._value))

    def __int__(self) -> int:
        return self._trace.guard("int", self, int(self._value))

    def __index__(self) -> int:
        return self._trace.guard("int", self, int(self._value.__index__()))

    def __float__(self) -> float:
        return self._trace.guard("float", self, float(self._value))

    def __complex__(self) -> complex:
        return self._trace.guard("complex", self, complex(self._value))

    def item(self, *args: Any) -> Any:
        """The element as a Python scalar (recorded as a guard on the whole value)."""
        self._trace.guard("value", self, _copy(self._value))
        return self._value.item(*args) if hasattr(self._value, "item") else self._value

    def tolist(self) -> Any:
        """The value as nested lists (recorded as a guard on the whole value)."""
        self._trace.guard("value", self, _copy(self._value))
        return self._value.tolist() if hasattr(self._value, "tolist") else self._value

    def __format__(self, spec: str) -> str:
        self._trace.guard("value", self, _copy(self._value))
        return format(self._value, spec)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        value = self._value
        if np.result_type(value).kind in "biu" and np.size(value) <= _SMALL_INDEX:
            # a small index or mask used by plain NumPy (g[i] for a plain g): pinned by a guard
            self._trace.guard("value", self, _copy(value))
            return np.asarray(value, dtype=dtype)
        raise Unstageable(
            "a staged value was converted to a plain NumPy array (written into a plain "
            "array, or passed to a function adkit has no rule for)")

    # bool & mask, 1 | mask: staged masks meet Python numbers on the left too
    def __rand__(self, o: Any) -> Any:
        return np.bitwise_and(o, self)

    def __ror__(self, o: Any) -> Any:
        return np.bitwise_or(o, self)

    def __rxor__(self, o: Any) -> Any:
        return np.bitwise_xor(o, self)

    def __repr__(self) -> str:
        return f"Staged({self._value!r})"

    __str__ = __repr__


class StagedArray(Indexable, Staged):
    """A Staged of at least one dimension (indexable)."""

    __slots__ = ()


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


_new = object.__new__


def _staged(value: Any, slot: int, trace: StagingTrace) -> Staged:
    box = _new(box_class(value, Staged, StagedArray))
    box._value = value
    box._node = slot
    box._trace = trace
    return box


def check_guard(kind: str, value: Any, expected: Any) -> bool:
    """Whether a guard recorded as `expected` holds for the new value (used by replays)."""
    if kind == "bool":
        return bool(value) is expected
    if kind == "int":
        return int(value) == expected
    if kind == "shape":
        return np.shape(value) == expected
    if kind == "float":
        return _same(float(value), expected)
    if kind == "complex":
        return _same(complex(value), expected)
    return _same(value, expected)
