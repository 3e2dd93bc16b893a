"""From a staged program (adkit.staging) to Python source: the passes and the code generator.

A program is a list of steps in evaluation order, Instructions and Guards, with
the inputs in slots 0..n-1 and the outputs given as ("v", slot) or ("c", constant).
The passes take and return such lists (or annotate them), and must keep every
guard where it is: an instruction that could fail for a value a guard excludes
must not move above that guard. In the order adkit.compile runs them:

- eliminate_dead_code: keep the instructions whose results reach an output or a guard;
- simplify: `a + 0`, `0 + a`, `a - 0`, `a * 1`, `1 * a` with an all-zero (all-one)
  constant and an `a` of the result's shape and dtype become `a` itself. This is the
  zero-cotangent pruning of a backward pass: a contribution that is a zero constant
  (the derivative of a constant path, a seed of zeros) is not computed or
  accumulated, and a seed of ones is not multiplied in. (`0 * a` stays: it is NaN
  for a NaN a, and a program answers what the eager function answers);
- dedupe_guards: a guard repeated on the same immutable value is checked once;
- generate: one statement per instruction, with two choices made from what
  staging saw (staging.SlotInfo):
  * Python floats: a `math` function (math.sin for sin) or a Python operator
    (`a / b`, `a != b`) instead of the implementation's call and type test; a
    domain error raises at replay, where the eager function then answers;
  * buffer reuse: an elementwise ufunc writes into an operand's array (`out=`)
    when that array is a fresh intermediate of the result's shape and dtype whose
    last use (and that of every view of it) is this instruction: elementwise
    chains (`tanh(x @ w + b)`) and adjoint accumulation (`g1 + g2`) then allocate
    nothing;
  * a product with a constant identity matrix (a Jacobian's basis: `I @ A.T`) is a
    copy of the other operand where that is finite, the product where it is not;
  * arrays of 64 KiB or more that are not reused are `del`eted after their last use.

Every name in the generated text is generated (v<slot>, c<k>, <primitive name>_<k>);
the only other text is literals of Python numbers, so no user text is ever evaluated.
"""

from __future__ import annotations

import keyword
import math
from builtins import compile as _builtin_compile
import operator
from typing import Any, Iterable

import numpy as np

from .fusion import FusedRun, fused_runs
from .staging import (CONSTANT, PYTHON_OPERATORS, Guard, Instruction, SlotInfo, check_guard,
                      operands_of, reads, slots_of)

__all__ = ["GuardFailure", "Overwritten", "eliminate_dead_code", "simplify", "dedupe_guards", "generate",
           "optimise", "build", "split_at", "slots_of", "operands_of"]


class GuardFailure(Exception):
    """A guard of a replayed program did not hold: the function takes another path."""


class Overwritten(Exception):
    """A donating program failed after it began writing into donated arrays; the error
    it raised is the cause. (Before that point f can still answer, as for any program.)"""


def optimise(steps: list, outputs: list, info: dict) -> tuple[list, list]:
    """All passes before code generation: (steps, outputs) after them."""
    steps, outputs = simplify(eliminate_dead_code(steps, outputs), outputs, info)
    return dedupe_guards(eliminate_dead_code(steps, outputs), info), outputs


def build(steps: list, inputs: int | list, outputs: list, info: dict, large: set = frozenset(),
          out_types: list | None = None, donated: frozenset = frozenset()) -> tuple[str, Any]:
    """(source, function) of a program: generate, then the built-in compile, once."""
    source, namespace = generate(steps, inputs, outputs, info, large, out_types, donated)
    code = _builtin_compile(source, "<adkit.compile>", "exec")
    exec(code, namespace)  # noqa: S102 - generated text: generated names and literals only
    return source, namespace["program"]


def split_at(steps: list, outputs: list, seed: int, n_first: int) -> tuple | None:
    """Partial evaluation: the steps that do not depend on slot `seed` (a cotangent input)
    and those that do, as two programs.

    Returns (first steps, first outputs, residual slots, second steps, second outputs):
    the first program computes outputs[:n_first] and the residuals (its values the
    second one reads); the second takes the residuals and the seed and computes
    outputs[n_first:]. None when an output of the first part depends on the seed.
    """
    late = {seed}
    for step in steps:
        if isinstance(step, Instruction) and any(s in late for s in slots_of(step.operands)):
            late.add(step.out)
    if any(kind == "v" and x in late for kind, x in outputs[:n_first]):
        return None
    first = [s for s in steps if (s.out if isinstance(s, Instruction) else s.slot) not in late]
    second = [s for s in steps if (s.out if isinstance(s, Instruction) else s.slot) in late]
    residuals: list = []
    for step in second:
        for slot in (slots_of(step.operands) if isinstance(step, Instruction) else ()):
            if slot not in late and slot not in residuals:
                residuals.append(slot)
    for kind, x in outputs[n_first:]:
        if kind == "v" and x not in late and x not in residuals:
            residuals.append(x)
    first_outputs = list(outputs[:n_first]) + [("v", r) for r in residuals]
    first = eliminate_dead_code(first, first_outputs)
    return first, first_outputs, residuals, second, list(outputs[n_first:])


# --- dead code --------------------------------------------------------------------------------
def eliminate_dead_code(steps: list, outputs: list) -> list:
    """Drop instructions whose results reach neither an output nor a guard."""
    live = {s for kind, s in outputs if kind == "v"}
    kept = []
    for step in reversed(steps):
        if isinstance(step, Guard):
            live.add(step.slot)
        elif step.out in live:
            live.update(slots_of(step.operands))
        else:
            continue
        kept.append(step)
    kept.reverse()
    return kept


# --- algebraic identities: zero cotangents, unit seeds ----------------------------------------
#: implementation -> (constant that makes it the identity, the positions it may take)
_IDENTITIES = {operator.add: (0, (0, 1)), operator.sub: (0, (1,)), operator.mul: (1, (0, 1))}


def simplify(steps: list, outputs: list, info: dict) -> tuple[list, list]:
    """Replace `a + 0`, `a - 0`, `a * 1` (and the mirrored forms) by `a`."""
    alias: dict[int, int] = {}
    kept = []
    for step in steps:
        if isinstance(step, Guard):
            kept.append(step._replace(slot=alias.get(step.slot, step.slot)))
            continue
        step = step._replace(operands=_renamed(step.operands, alias))
        same = _identity_operand(step, info)
        if same is None:
            kept.append(step)
        else:
            alias[step.out] = same
    outputs = [(kind, alias.get(x, x)) if kind == "v" else (kind, x) for kind, x in outputs]
    _share_memory(info, [(info[out].root, info[a].root) for out, a in alias.items()
                         if isinstance(info[out].root, int) and isinstance(info[a].root, int)])
    return kept, outputs


def _share_memory(info: dict, pairs: list) -> None:
    """Views of a result that simplify replaced by an operand now view the operand's
    memory: their SlotInfo says so (the buffer reuse pass reads it). pairs: (memory of
    the result, memory of the operand); merged as a union-find, so chains and cycles
    of replacements end in one memory."""
    if not pairs:
        return
    moved: dict = {}

    def where(r: int) -> int:
        while r in moved:
            r = moved[r]
        return r
    for a, b in pairs:
        ra, rb = where(a), where(b)
        if ra != rb:
            moved[ra] = rb
    for slot, i in list(info.items()):
        if isinstance(i.root, int) and i.root in moved:
            info[slot] = i._replace(root=where(i.root))
        elif isinstance(i.root, frozenset) and i.root & moved.keys():
            info[slot] = i._replace(root=frozenset(where(r) for r in i.root))


def _renamed(operands: tuple, alias: dict) -> tuple:
    if not alias:
        return operands
    out = []
    for op in operands:
        if op[0] == "v":
            out.append(("v", alias.get(op[1], op[1])))
        elif op[0] == "t":
            out.append(("t", op[1], _renamed(op[2], alias)))
        else:
            out.append(op)
    return tuple(out)


def _identity_operand(step: Instruction, info: dict) -> int | None:
    """The slot an instruction merely passes through, or None."""
    rule = _IDENTITIES.get(getattr(step.prim, "impl", None))
    if rule is None or step.params or len(step.operands) != 2:
        return None
    unit, positions = rule
    for i in positions:
        const, other = step.operands[i], step.operands[1 - i]
        if const[0] != "c" or other[0] != "v" or not _all_equal(const[1], unit):
            continue
        a, out = info.get(other[1]), info.get(step.out)
        if a is not None and out is not None and (
                a.type is out.type and a.shape == out.shape and a.dtype == out.dtype
                or {a.type, out.type} == _FLOAT64):
            return other[1]
    return None


#: a Python float and a NumPy float64 hold the same numbers (outputs keep their type)
_FLOAT64 = {float, np.float64}


def _all_equal(value: Any, unit: int) -> bool:
    t = type(value)
    if t is float or t is int:
        return value == unit
    if (t is np.ndarray or isinstance(value, np.generic)) and value.dtype.kind in "biuf":
        return bool(np.all(value == unit))
    return False


# --- guards -----------------------------------------------------------------------------------
#: values that cannot change once computed: a guard on them holds until they are recomputed
_IMMUTABLE = (bool, int, float, complex, np.generic)


def dedupe_guards(steps: list, info: dict) -> list:
    """Drop a guard that repeats an earlier one on the same immutable value."""
    seen = set()
    kept = []
    for step in steps:
        if isinstance(step, Guard):
            slot_info = info.get(step.slot)
            immutable = step.kind == "shape" or (
                slot_info is not None and issubclass(slot_info.type, _IMMUTABLE))
            try:
                key = (step.kind, step.slot, step.expected) if immutable else None
                hash(key)
            except TypeError:
                key = None
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
        kept.append(step)
    return kept


# --- code generation --------------------------------------------------------------------------
#: implementations that are Python's operators, and the expression each one is
_OPERATORS = {operator.add: "({} + {})", operator.sub: "({} - {})", operator.mul: "({} * {})",
              operator.truediv: "({} / {})", operator.neg: "(-{})", operator.pos: "(+{})"}
#: staging.PYTHON_OPERATORS as text
_PYTHON_OPERATOR_TEXT = {operator.pow: "({} ** {})", operator.mod: "({} % {})",
                         operator.floordiv: "({} // {})", operator.abs: "abs({})"}
#: NumPy ufuncs that are one Python operator on numbers and NumPy arrays
_FLOAT_OPERATORS = {np.divide: "({} / {})", np.true_divide: "({} / {})",
                    np.not_equal: "({} != {})", np.equal: "({} == {})",
                    np.less: "({} < {})", np.less_equal: "({} <= {})",
                    np.greater: "({} > {})", np.greater_equal: "({} >= {})"}


def _ufunc_of() -> dict:
    """primitive -> the NumPy ufunc it is (for out= and for the float forms)."""
    from .table import UFUNCS
    return {prim: uf for uf, prim in UFUNCS.items()}


def _math_of() -> dict:
    """ufunc -> its math-module function for Python floats (as the rules' scalar_fast)."""
    from .rules.elementwise import _MATH
    return _MATH


def generate(steps: list, inputs: int | list, outputs: list, info: dict | None = None,
             large: set = frozenset(), out_types: list | None = None,
             donated: frozenset = frozenset()) -> tuple[str, dict]:
    """Python source of a program, and the namespace it runs in (implementations, constants).

    Every name in the text is generated (v<slot>, c<k>, <primitive name>_<k>, the
    primitive's name reduced to letters, digits and underscores); the only other
    text is literals of Python numbers. inputs: the input slots (n: slots 0..n-1).
    out_types: the type each output had when staged (simplify may hand over a Python
    float where a NumPy float64 was). donated: input slots whose arrays results may be
    written into, after the program's last guard.
    """
    inputs = list(range(inputs)) if isinstance(inputs, int) else list(inputs)
    info = dict(info or {})   # (the reuse pass notes merged memory in its own copy)
    namespace: dict = {"GuardFailure": GuardFailure, "check_guard": check_guard}
    names: dict = {}
    ufunc_of = _ufunc_of()

    def const(value: Any) -> str:
        text = _literal(value)
        if text is not None:
            return text
        key = ("c", id(value))
        if key not in names:
            names[key] = f"c{len(namespace)}"
            namespace[names[key]] = value
        return names[key]

    def bind(obj: Any, name: str) -> str:
        key = ("p", id(obj))
        if key not in names:
            names[key] = f"{_identifier(name)}_{len(namespace)}"
            namespace[names[key]] = obj
        return names[key]

    def operand(op: tuple) -> str:
        if op[0] == "v":
            return f"v{op[1]}"
        if op[0] == "t":
            items = "".join(f"{operand(x)}, " for x in op[2])
            return f"({items})" if op[1] is tuple else f"[{items}]"
        return const(op[1])

    # writes into donated arrays wait for the last guard, and for the last step on Python
    # numbers (math.sqrt(-1.0) and 1.0 / 0.0 raise where NumPy answers): a failing guard
    # or such an error leaves every argument as it was, for f to run on
    last_guard = max((k for k, step in enumerate(steps) if isinstance(step, Guard)
                      or _on_python_numbers(step, info)), default=-1)
    runs = {run.start: run for run in fused_runs(steps, outputs, info, ufunc_of, donated,
                                                 last_guard)}
    in_run = {k for run in runs.values() for k in range(run.start, run.stop)}
    chunked = {s for run in runs.values() for s in run.buffers}   # never whole arrays
    reuse = _reusable_buffers(steps, inputs, outputs, info, ufunc_of, in_run, donated,
                              last_guard)
    frees = _last_uses(steps, large - chunked, outputs, reuse)
    # the first step that writes into a donated array: from there on an error is raised
    # as Overwritten, since f can no longer run on the arguments
    first_write = min([k for k, slot in reuse.items() if slot in donated]
                      + [run.start for run in runs.values()
                         if set(run.homes.values()) & donated], default=None)
    params_in = ", ".join(f"v{i}" for i in inputs)
    lines = [f"def program({params_in}):"]
    for k, step in enumerate(steps):
        if k in in_run and k not in runs:
            continue
        if k == first_write:
            guarded_from = len(lines)
        if k - 1 in frees and k - 1 not in in_run:   # large intermediates go when used up
            lines.append(f"    del {', '.join(f'v{s}' for s in sorted(frees[k - 1]))}")
        if k in runs:
            run = runs[k]
            lines.extend(_fused_loop(run, steps, info, ufunc_of, operand, bind, const))
            done = sorted(s for j in range(run.start, run.stop) for s in frees.get(j, ()))
            if done:
                lines.append(f"    del {', '.join(f'v{s}' for s in done)}")
            continue
        if isinstance(step, Guard):
            lines.append(_guard(step, const))
            continue
        if step.prim is CONSTANT:
            lines.append(f"    v{step.out} = {operand(step.operands[0])}")
            continue
        args = [operand(op) for op in step.operands]
        impl = step.prim.impl
        uf = ufunc_of.get(step.prim)
        floats = not step.params and _all_floats(step.operands, info)
        python = PYTHON_OPERATORS.get(step.prim.name)
        if python is not None and not step.params and getattr(info.get(step.out), "python", False):
            text = _PYTHON_OPERATOR_TEXT[python].format(*args)   # as staging computed it
        elif impl in _OPERATORS and len(args) == _OPERATORS[impl].count("{}") \
                and not step.params and k not in reuse:
            # operator.mul(a, b) is a * b for every type: the same call, without the call
            text = _OPERATORS[impl].format(*args)
        elif uf in _FLOAT_OPERATORS and len(args) == 2 and not step.params \
                and k not in reuse and _all_numbers(step.operands, info):
            text = _FLOAT_OPERATORS[uf].format(*args)
        elif floats and len(args) == 1 and uf in _math_of():
            text = f"{bind(_math_of()[uf], 'math_' + uf.__name__)}({args[0]})"
        elif step.prim.name == "matmul" and not step.params and len(args) == 2 \
                and _identity_side(step, info) is not None:
            side = _identity_side(step, info)
            other = args[1 - side]
            text = f"{bind(_times_identity, 'times_identity')}({args[side]}, {other}, {side})"
        elif k in reuse:
            text = f"{bind(uf, uf.__name__)}({', '.join(args)}, out=v{reuse[k]})"
        else:
            for name, value in step.params.items():
                if isinstance(name, str) and name.isidentifier() \
                        and not keyword.iskeyword(name):
                    args.append(f"{name}={const(value)}")
                else:
                    args.append(f"**{const({name: value})}")
            text = f"{bind(impl, step.prim.name)}({', '.join(args)})"
        lines.append(f"    v{step.out} = {text}")
    outs = []
    for (kind, x), want in zip(outputs, out_types or [None] * len(outputs)):
        if kind == "v":
            have = info.get(x)
            if want is not None and have is not None and have.type is not want:
                outs.append(f"{bind(want, want.__name__)}(v{x})")   # float -> np.float64
            else:
                outs.append(f"v{x}")
        elif isinstance(x, np.ndarray):
            outs.append(f"{const(x)}.copy()")  # a fresh array per call, as the function makes
        else:
            outs.append(const(x))
    lines.append(f"    return [{', '.join(outs)}]")
    if first_write is not None:
        namespace["Overwritten"] = Overwritten
        lines[guarded_from:] = (["    try:"] + ["    " + line for line in lines[guarded_from:]]
                                + ["    except Exception as error:",
                                   "        raise Overwritten() from error"])
    return "\n".join(lines) + "\n", namespace


def _fused_loop(run: FusedRun, steps: list, info: dict, ufunc_of: dict, operand: Any,
                bind: Any, const: Any) -> list[str]:
    """The statements of a fused run (adkit.fusion): its escaping results allocated whole,
    then one loop over chunks of rows in which every step is a ufunc writing into a
    chunk buffer or into its result's rows."""
    n, rows = run.shape[0], run.rows
    empty = bind(np.empty, "empty")
    lines = [f"    # steps {run.start}..{run.stop - 1} fused: {n} rows in chunks of {rows}"]
    for s in run.escaping:
        home = run.homes.get(s)   # an array the run uses up: the result takes it over
        lines.append(f"    v{s} = v{home}" if home is not None else
                     f"    v{s} = {empty}({const(run.shape)}, {const(info[s].dtype)})")
    chunk_shape = const((rows,) + run.shape[1:])
    for b, dtype in enumerate(run.buffer_dtypes):
        lines.append(f"    _b{b} = {empty}({chunk_shape}, {const(dtype)})")
    whole: list[int] = []   # slots read or written chunk by chunk
    for k in range(run.start, run.stop):
        for s in [op[1] for op in steps[k].operands if op[0] == "v"] + [steps[k].out]:
            if s not in run.buffers and s not in whole and info[s].type is np.ndarray \
                    and info[s].shape == run.shape:
                whole.append(s)
    tail = "; ".join(f"_b{b} = _b{b}[:{n} - _i]" for b in range(len(run.buffer_dtypes)))
    lines += [f"    for _i in range(0, {n}, {rows}):",
              f"        _j = _i + {rows}"]
    if n % rows:
        lines.append(f"        if _j > {n}: _j = {n}" + (f"; {tail}" if tail else ""))
    lines += [f"        _s{s} = v{s}[_i:_j]" for s in whole]

    def chunk_operand(op: tuple) -> str:
        if op[0] == "v" and op[1] in run.buffers:
            return f"_b{run.buffers[op[1]]}"
        if op[0] == "v" and op[1] in whole:
            return f"_s{op[1]}"
        return operand(op)
    for k in range(run.start, run.stop):
        step = steps[k]
        uf = ufunc_of[step.prim]
        args = ", ".join(chunk_operand(op) for op in step.operands)
        lines.append(f"        {bind(uf, uf.__name__)}({args}, out={chunk_operand(('v', step.out))})")
    return lines


def _guard(step: Guard, const: Any) -> str:
    if step.kind == "bool":
        test = "not " if step.expected else ""
        return f"    if {test}v{step.slot}: raise GuardFailure"
    if step.kind == "int" and type(step.expected) is int:
        return f"    if int(v{step.slot}) != {step.expected!r}: raise GuardFailure"
    if step.kind == "shape":
        return f"    if v{step.slot}.shape != {const(step.expected)}: raise GuardFailure"
    return (f"    if not check_guard({step.kind!r}, v{step.slot}, {const(step.expected)}): "
            "raise GuardFailure")


def _on_python_numbers(step: Any, info: dict) -> bool:
    """Whether an instruction computes on Python numbers alone (slots staged as float,
    int or complex, and constants): as a math function or a Python operator, it may
    raise where NumPy would answer."""
    if not isinstance(step, Instruction) or not any(op[0] == "v" for op in step.operands):
        return False
    for op in step.operands:
        if op[0] == "v":
            slot_info = info.get(op[1])
            if slot_info is None or slot_info.type not in (float, int, complex):
                return False
        elif op[0] != "c" or type(op[1]) not in (float, int, complex, bool):
            return False
    return True


def _all_floats(operands: tuple, info: dict) -> bool:
    """Whether every operand was a Python float (or a constant Python int or float)."""
    for op in operands:
        if op[0] == "v":
            slot_info = info.get(op[1])
            if slot_info is None or slot_info.type is not float:
                return False
        elif op[0] != "c" or type(op[1]) not in (float, int):
            return False
    return any(op[0] == "v" for op in operands)


def _identity_side(step: Instruction, info: dict) -> int | None:
    """Which operand of a matmul is a constant identity matrix (the basis a forward-mode
    Jacobian pushes through), when the product has the other operand's shape and dtype."""
    out = info.get(step.out)
    for side in (0, 1):
        const, other = step.operands[side], step.operands[1 - side]
        if const[0] != "c" or other[0] != "v" or type(const[1]) is not np.ndarray:
            continue
        eye, b = const[1], info.get(other[1])
        if eye.ndim != 2 or eye.shape[0] != eye.shape[1] or b is None or out is None \
                or b.type is not np.ndarray or len(b.shape) != 2 or b.shape != out.shape \
                or b.dtype != out.dtype:
            continue
        if np.array_equal(eye, np.eye(eye.shape[0], dtype=eye.dtype)):
            return side
    return None


def _times_identity(eye: np.ndarray, b: np.ndarray, side: int) -> np.ndarray:
    """eye @ b (side 0) or b @ eye (side 1): b itself, as a new array, where b is finite
    (1 * b + 0 * ... is exactly b); the product where it is not (0 * inf is NaN)."""
    if np.isfinite(b).all():
        return np.array(b, order="C")
    return np.matmul(eye, b) if side == 0 else np.matmul(b, eye)


def _all_numbers(operands: tuple, info: dict) -> bool:
    """Whether every operand was a number or an array of numbers: then `a / b` is
    np.divide(a, b) (a Python float's ZeroDivisionError makes the eager function answer)."""
    for op in operands:
        if op[0] == "v":
            slot_info = info.get(op[1])
            if slot_info is None or not issubclass(slot_info.type, _NUMBERS):
                return False
        elif op[0] != "c" or not isinstance(op[1], _NUMBERS):
            return False
    return True


_NUMBERS = (float, int, np.ndarray, np.number)


def _literal(value: Any) -> str | None:
    """Source text for a constant that is exactly a Python literal, else None."""
    t = type(value)
    if value is None or t is bool or t is int:
        return repr(value)
    if t is float and math.isfinite(value):
        return repr(value)
    return None


# --- liveness: buffer reuse and releasing -----------------------------------------------------
def _reusable_buffers(steps: list, inputs: list, outputs: list, info: dict,
                      ufunc_of: dict, fused: set = frozenset(),
                      donated: frozenset = frozenset(), last_guard: int = -1) -> dict[int, int]:
    """step index -> the operand slot whose array that elementwise step may write into.

    Memory is tracked by root (the array owning it: views share their base's root);
    a step writes into an operand's memory when the operand is a fresh array (or a
    donated input, after the last guard) of the result's shape and dtype and no step
    after it reads that memory (through any slot). The result then lives in that
    memory, so chains reuse one buffer."""
    parent: dict = {}

    def find(r: Any) -> Any:
        while parent.get(r, r) != r:
            r = parent[r]
        return r

    def roots(slot: int) -> Iterable[Any]:
        i = info.get(slot)
        if i is None or i.root is None:
            return (("slot", slot),)
        return i.root if isinstance(i.root, frozenset) else (i.root,)

    last: dict = {}        # memory root -> index of the last step reading it
    for k, step in enumerate(steps):
        for slot in reads(step):
            for r in roots(slot):
                last[r] = k
    reuse: dict[int, int] = {}
    for k, step in enumerate(steps):
        if not isinstance(step, Instruction) or step.params or k in fused:
            continue
        uf = ufunc_of.get(step.prim)
        out = info.get(step.out)
        if uf is None or uf.nout != 1 or len(step.operands) != uf.nin or out is None \
                or out.type is not np.ndarray or not step.prim.elementwise:
            continue
        for op in step.operands:
            a: SlotInfo | None = info.get(op[1]) if op[0] == "v" else None
            if a is None or a.type is not np.ndarray or a.shape != out.shape \
                    or a.dtype != out.dtype:
                continue
            if not (a.fresh or op[1] in donated and k > last_guard):
                continue
            r = find(a.root)
            if last.get(r) != k \
                    or any(find(x) == r for s in inputs if s not in donated for x in roots(s)) \
                    or any(find(x) == r for kind, s in outputs if kind == "v" for x in roots(s)):
                continue
            reuse[k] = op[1]
            mine = find(out.root)   # the result (and its views) now live in r's memory
            parent[mine] = r
            last[r] = max(last.get(mine, k), k)
            break
    return reuse


def _last_uses(steps: list, large: set, outputs: list, reuse: dict) -> dict[int, list[int]]:
    """step index -> the large slots whose last use is that step (freed right after it)."""
    last: dict[int, int] = {}
    for k, step in enumerate(steps):
        for slot in reads(step):
            if slot in large:
                last[slot] = k
    kept = {s for kind, s in outputs if kind == "v"}
    frees: dict[int, list[int]] = {}
    for slot, k in last.items():
        if slot not in kept:
            frees.setdefault(k, []).append(slot)
    return frees


def _identifier(name: str) -> str:
    """A primitive's name reduced to ASCII letters, digits and underscores (never user code)."""
    text = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_"
                   for ch in str(name))[:40]
    return text if text[:1].isalpha() else "p_" + text
