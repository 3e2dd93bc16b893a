"""Loop fusion for generated programs: a run of elementwise steps over large arrays of
one shape becomes one loop over cache-sized chunks (adkit.codegen emits it).

Unfused, each step of `m2 = m * b1 + g * (1 - b1)` walks whole arrays: a chain of
ten such steps over a 1.6 MB parameter reads and writes some 30 MB, mostly out of
the last-level cache, and allocates its intermediates. Fused, the chain runs chunk
by chunk (256 KiB of each operand): the intermediates live in a few chunk buffers
that stay in the core's cache, and only the values used after the run are whole
arrays. Adam's update of a 784 x 512 float32 kernel (eleven steps) takes 1.04 ms
that way instead of 1.75 ms.

A chunk is a slice along the first axis (a view of any array, contiguous or not;
no copies). A ufunc computes every element from the same elements of its operands,
in the operands' dtypes, so evaluating it chunk by chunk gives the same bits as one
call on whole arrays. The steps fused are therefore only ufuncs (one output, no
parameters) whose array operands all have the run's shape (or are 0-d), with
numeric dtypes; a guard, any other step or a change of shape ends a run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .staging import Instruction, SlotInfo, reads

__all__ = ["FusedRun", "fused_runs", "CHUNK_BYTES", "MIN_CHUNKS"]

#: bytes of one operand's chunk: a handful of them fit in a core's L2 cache
CHUNK_BYTES = 1 << 18
#: a run is fused only when its arrays span at least this many chunks (smaller arrays
#: stay in cache anyway, and the loop's Python overhead would not pay); a chunk holds
#: whole rows (entries of the first axis), at least one
MIN_CHUNKS = 2


class FusedRun(NamedTuple):
    """Steps [start, stop) of a program, evaluated as one chunked loop."""

    start: int
    stop: int
    shape: tuple
    rows: int               # entries of the first axis per chunk
    escaping: tuple         # result slots used after the run (whole arrays)
    buffers: dict           # result slot used only inside the run -> chunk buffer number
    buffer_dtypes: tuple    # dtype of each chunk buffer
    homes: dict             # escaping result -> the slot whose array it takes over


def fused_runs(steps: list, outputs: list, info: dict, ufunc_of: dict,
               donated: frozenset = frozenset(), last_guard: int = -1) -> list[FusedRun]:
    """The runs of consecutive fusible steps worth a chunked loop, in program order.
    donated: input slots whose arrays results may take over in runs after step
    last_guard."""
    runs, k = [], 0
    while k < len(steps):
        shape = _fusible_shape(steps[k], info, ufunc_of)
        if shape is None:
            k += 1
            continue
        stop = k + 1
        while stop < len(steps) and _fusible_shape(steps[stop], info, ufunc_of) == shape:
            stop += 1
        run = _plan(steps, k, stop, shape, outputs, info,
                    donated if k > last_guard else frozenset())
        if run is not None:
            runs.append(run)
        k = stop
    return runs


def _fusible_shape(step: Any, info: dict, ufunc_of: dict) -> tuple | None:
    """The shape of the step's result when it may join a run, else None."""
    if not isinstance(step, Instruction) or step.params:
        return None
    uf = ufunc_of.get(step.prim)
    out = info.get(step.out)
    if uf is None or uf.nout != 1 or len(step.operands) != uf.nin or out is None \
            or not step.prim.elementwise or out.type is not np.ndarray \
            or not _numeric(out.dtype) or not out.shape:
        return None
    for op in step.operands:
        if op[0] == "v":
            a: SlotInfo | None = info.get(op[1])
            if a is None:
                return None
            if a.type is np.ndarray:
                if a.shape not in (out.shape, ()) or not _numeric(a.dtype):
                    return None
            elif not issubclass(a.type, (float, int, bool, np.number, np.bool_)):
                return None
        elif op[0] != "c" or not _scalar_constant(op[1]):
            return None
    return out.shape


def _numeric(dtype: Any) -> bool:
    return dtype is not None and np.dtype(dtype).kind in "biufc"


def _scalar_constant(value: Any) -> bool:
    if type(value) in (float, int, bool, complex) or isinstance(value, np.generic):
        return True
    return type(value) is np.ndarray and value.ndim == 0 and _numeric(value.dtype)


def _plan(steps: list, start: int, stop: int, shape: tuple, outputs: list,
          info: dict, donated: frozenset) -> FusedRun | None:
    """The loop for steps [start, stop), or None when it would not pay."""
    results = [steps[k].out for k in range(start, stop)]
    itemsize = max(np.dtype(info[s].dtype).itemsize for s in results)
    row_bytes = itemsize * int(np.prod(shape[1:]))
    rows = max(1, CHUNK_BYTES // max(row_bytes, 1))
    if stop - start < 2 or shape[0] < MIN_CHUNKS * rows:
        return None
    used_after = {s for kind, s in outputs if kind == "v"}
    for step in steps[stop:]:
        used_after.update(reads(step))
    last_use = {}
    for k in range(start, stop):
        for s in reads(steps[k]):
            last_use[s] = k
    escaping = tuple(s for s in results if s in used_after)
    # the chunk buffers: a result used only inside the run takes a free buffer of its
    # dtype when made and gives it back after its last reader
    buffers: dict = {}
    dtypes: list = []
    free: dict = {}
    for k in range(start, stop):
        for s in set(reads(steps[k])):   # operands read for the last time give theirs back
            if s in buffers and last_use.get(s) == k:   # (a ufunc may write over its input)
                free.setdefault(np.dtype(info[s].dtype), []).append(buffers[s])
        out = steps[k].out
        if out not in used_after:
            dtype = np.dtype(info[out].dtype)
            pool = free.setdefault(dtype, [])
            buffers[out] = pool.pop() if pool else len(dtypes)
            if buffers[out] == len(dtypes):
                dtypes.append(dtype)
    if not escaping:
        return None
    homes = _homes(steps, start, stop, escaping, outputs, info, donated)
    return FusedRun(start, stop, shape, rows, escaping, buffers, tuple(dtypes), homes)


def _homes(steps: list, start: int, stop: int, escaping: tuple, outputs: list, info: dict,
           donated: frozenset) -> dict:
    """escaping result -> the array it is written into, chunk by chunk, instead of a new
    one: a donated input, or a fresh intermediate made before the run, that the run
    reads for the last time. It qualifies when nothing reads its memory after the run,
    and inside the run only that slot (no other view of its memory) is read, by steps
    up to the one making the result: each chunk of it is used up before the result's
    chunk overwrites it."""
    results = {steps[k].out for k in range(start, stop)}
    # memory a slot reads: its root, or each of a tuple's or list's (split, eigh)
    roots_of = {s: tuple(i.root) if isinstance(i.root, frozenset) else (i.root,)
                for s, i in info.items() if i.root is not None}
    read_after = {r for step in steps[stop:] for s in reads(step) for r in roots_of.get(s, ())}
    read_after.update(r for kind, s in outputs if kind == "v" for r in roots_of.get(s, ()))
    last_read: dict = {}   # slot -> the last step of the run reading it
    readers: dict = {}     # memory root -> the slots the run reads it through
    for k in range(start, stop):
        for s in reads(steps[k]):
            last_read[s] = k
            for r in roots_of.get(s, ()):
                readers.setdefault(r, set()).add(s)
    candidates = sorted(s for s in last_read if s not in results and (
        s in donated or info[s].fresh))
    homes: dict = {}
    taken: set = set()
    for k in range(start, stop):
        out = steps[k].out
        if out not in escaping:
            continue
        for d in candidates:
            i, o = info[d], info[out]
            if d not in taken and i.type is np.ndarray and i.shape == o.shape \
                    and i.dtype == o.dtype and isinstance(i.root, int) \
                    and i.root not in read_after and readers.get(i.root) == {d} \
                    and last_read[d] <= k:
                homes[out] = d
                taken.add(d)
                break
    return homes
