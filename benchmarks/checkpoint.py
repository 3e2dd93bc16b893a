"""Benchmark: memory of reverse mode through a long loop, plain tape against adkit.checkpoint.

The loop: n = 10,000 steps of v <- tanh(0.9 v + 0.1 sin(v)) on a state of 1,000 float64
(8 kB), and the gradient of sum(v_n) with respect to v_0. The plain tape keeps every
step's values until the backward pass (O(n)). Checkpointed: the n steps run as sqrt(n)
= 100 blocks of 100 steps, each block wrapped in adkit.checkpoint, so the tape keeps
100 block inputs and the backward pass recomputes one block at a time (O(sqrt n)), for
one more forward pass.

Peak memory: tracemalloc's peak of the traced Python allocations (NumPy's buffers
included) during one gradient, the input excluded. Time: the same gradient without
tracemalloc, interleaved repeats as in the rest of the suite. Both gradients are
checked against each other to 1e-12. Target: checkpointed peak under a tenth of the
plain one.

Run alone: python -m benchmarks.checkpoint [--quick]
"""

from __future__ import annotations

import math
import sys
import tracemalloc
from typing import Any, Callable

from ._common import Row, Section, Settings, max_abs_err, measure

import numpy as np  # noqa: E402

import adkit  # noqa: E402

STEPS = 10_000
STATE = 1_000


def step(v: Any) -> Any:
    return np.tanh(0.9 * v + 0.1 * np.sin(v))


def steps(v: Any, n: int) -> Any:
    for _ in range(n):
        v = step(v)
    return v


def plain_loss(v: Any, n: int = STEPS) -> Any:
    return np.sum(steps(v, n))


def checkpointed_loss(v: Any, n: int = STEPS) -> Any:
    size = math.isqrt(n)
    block = adkit.checkpoint(lambda u: steps(u, size))
    for _ in range(n // size):
        v = block(v)
    return np.sum(steps(v, n - size * (n // size)))


def peak_bytes(fn: Callable[[], Any]) -> int:
    """The peak of traced allocations while fn runs, above what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def run(settings: Settings) -> Section:
    n = STEPS // 10 if settings.quick else STEPS
    v0 = np.random.default_rng(0).uniform(-1, 1, STATE)
    grads = {"plain tape": adkit.grad(lambda v: plain_loss(v, n)),
             "checkpoint": adkit.grad(lambda v: checkpointed_loss(v, n))}
    err = max_abs_err(grads["plain tape"](v0), grads["checkpoint"](v0))
    peaks = {name: peak_bytes(lambda g=g: g(v0)) for name, g in grads.items()}
    times = measure({name: (lambda g=g: g(v0)) for name, g in grads.items()}, settings,
                    warmup=1)
    sec = Section("checkpoint", f"Reverse mode through {n:,} steps on a state of "
                  f"{STATE:,} float64: plain tape vs adkit.checkpoint", ["plain tape"])
    ratio = peaks["plain tape"] / peaks["checkpoint"]
    met = ratio >= 10 and err <= 1e-12
    sec.rows.append(Row(f"n={n:,}", "peak memory", f"{peaks['checkpoint'] / 2**20:.2f} MiB",
                        {"plain tape": f"{peaks['plain tape'] / 2**20:.1f} MiB "
                                       f"({ratio:.0f}x the checkpointed)"},
                        "checkpointed < 1/10 of plain", "yes" if met else "NO"))
    sec.rows.append(Row(f"n={n:,}", "gradient time", times["checkpoint"],
                        {"plain tape": times["plain tape"]}, "-", "-"))
    sec.notes.append(f"{math.isqrt(n)} checkpointed blocks of {math.isqrt(n)} steps; the two "
                     f"gradients differ by at most {err:.1e}. The adkit column is the "
                     "checkpointed run, the other the plain tape.")
    return sec


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings(quick="--quick" in sys.argv))))
