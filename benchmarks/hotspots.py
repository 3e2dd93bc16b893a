"""python -m benchmarks.hotspots [NAME ...]: where adkit's time goes in each benchmark.

For each adkit call of the named benchmarks (default: all): its best and
median time, the share spent in the cyclic garbage collector (timed through
gc.callbacks, per generation), then a cProfile listing of the hottest
functions by self time. cProfile charges a call into a ufunc or a BLAS routine
to the Python function that made it, so NumPy work shows up as the self time
of the rule that asked for it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import os
import pstats
import time

from . import THREADS  # noqa: F401  (thread settings before NumPy loads)

import numpy as np  # noqa: E402

from ._common import CpuMeter, disturbance  # noqa: E402

BENCHMARKS = ("scalar", "mlp", "jacobian", "hessian")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gc_share(fn, calls: int) -> tuple[list[float], dict]:
    stats: dict[int, list] = {}
    start = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            start[0] = time.perf_counter()
        else:
            entry = stats.setdefault(info["generation"], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - start[0]

    times = []
    gc.callbacks.append(callback)
    try:
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    finally:
        gc.callbacks.remove(callback)
    return times, stats


def profile(label: str, fn, divisor: int, calls: int, top: int, sort: str) -> str:
    fn()
    fn()
    meter = CpuMeter()
    gc.collect()
    gc.freeze()  # as in the timed runs: the peers' objects are not the collector's work
    try:
        times, stats = _gc_share(fn, calls)
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(calls):
            fn()
        pr.disable()
    finally:
        gc.unfreeze()
    unit = "/prim" if divisor > 1 else ""
    total = sum(times)
    in_gc = sum(t for _, t in stats.values())
    lines = [f"## {label}",
             f"best {min(times) / divisor * 1e6:.3g} us{unit}, median "
             f"{np.median(times) / divisor * 1e6:.3g} us{unit} over {calls} calls; "
             f"cyclic GC {in_gc / total:.0%} of the time ("
             + (", ".join(f"gen{g}: {n / calls:.1f} collections {t / calls * 1e3:.2f} ms"
                          for g, (n, t) in sorted(stats.items())) or "no collections")
             + f" per call); {disturbance(meter)}"]
    st = pstats.Stats(pr, stream=io.StringIO())
    profiled = st.total_tt
    rows = []
    for (path, line, func), (cc, nc, tt, ct, _) in st.stats.items():
        where = f"{{built-in}} {func}" if path == "~" else \
            f"{os.path.relpath(path, _ROOT) if path.startswith(_ROOT) else os.path.basename(path)}" \
            f":{line}({func})"
        rows.append((tt, ct, nc, where))
    key = 1 if sort.startswith("cum") else 0
    rows.sort(key=lambda r: r[key], reverse=True)
    lines.append(f"cProfile, per call of the benchmark (profiled total "
                 f"{profiled / calls * 1e3:.3g} ms/call with the profiler's overhead):")
    lines.append("```")
    lines.append(f"{'self ms':>9} {'self %':>6} {'cum ms':>9} {'calls':>8}  function")
    for tt, ct, nc, where in rows[:top]:
        lines.append(f"{tt / calls * 1e3:9.4f} {tt / profiled:6.1%} {ct / calls * 1e3:9.4f} "
                     f"{nc / calls:8.1f}  {where}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotspots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to profile: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--calls", type=int, default=20, help="calls profiled (default 20)")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (default tottime)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}")
    for name in args.names or BENCHMARKS:
        mod = importlib.import_module(f"{__package__}.{name}")
        for label, (fn, divisor) in mod.adkit_callables().items():
            print(profile(label, fn, divisor, args.calls, args.top, args.sort), flush=True)


if __name__ == "__main__":
    main()
