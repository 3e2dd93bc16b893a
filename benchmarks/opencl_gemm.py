"""Benchmark: float32 matrix product on the OpenCL device, adkit.kernels.gemm.

C = A @ B for square n = 256, 512, 1024, 2048, float32: the tiled kernel
(adkit.kernels.gemm: local-memory tiles, a register block per work-item) beside
the textbook one-work-item-per-element kernel (gemm_naive) and NumPy's A @ B
(OpenBLAS, with the suite's thread count). Kernel time only: the data is on the
device before timing, the programs are compiled in the warm-up, and each call
waits for the queue to finish. GFLOP/s = 2 n^3 / time.
Both kernels are checked against a float64 NumPy product before timing.
The naive kernel is left out where one call takes over NAIVE_LIMIT_S (said in
the notes), and timed from that one call where a call exceeds the time budget.
Targets: tiled >= 10x the naive kernel's GFLOP/s, and >= 30% of OpenBLAS's.
"""

from __future__ import annotations

import time
from typing import Any

from ._common import Row, Section, Settings, Timing, checked, max_abs_err, measure, verdict

import numpy as np  # noqa: E402

SIZES = (256, 512, 1024, 2048)
NAIVE_LIMIT_S = 20.0
TARGET_NAIVE = 10.0      # tiled / naive GFLOP/s, at least
TARGET_BLAS = 0.30       # tiled / OpenBLAS GFLOP/s, at least
COLUMNS = ["naive kernel", "numpy (OpenBLAS)"]


def gflops(n: int, t: Timing | str) -> float | None:
    return 2.0 * n ** 3 / t.median / 1e9 if isinstance(t, Timing) else None


def _fmt(g: float | None) -> str:
    return "-" if g is None else f"{g:.1f}"


def run_size(dev: Any, n: int, settings: Settings, notes: list[str]) -> tuple[Row, str]:
    from adkit.kernels.gemm import gemm, gemm_naive
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n)).astype(np.float32)
    B = rng.standard_normal((n, n)).astype(np.float32)
    a, b = dev.to_device(A), dev.to_device(B)
    c = dev.empty((n, n), np.float32)
    want = A.astype(np.float64) @ B.astype(np.float64)
    tol = 1e-5 * np.sqrt(n) * float(np.max(np.abs(want)))
    wrong = set()

    def tiled() -> None:
        gemm(dev, a, b, out=c)
        dev.queue.finish()

    def naive() -> None:
        gemm_naive(dev, a, b)
        dev.queue.finish()

    tiled()  # compiles
    if not checked(f"n={n} tiled kernel vs float64", max_abs_err(dev.to_host(c), want), tol,
                   notes):
        wrong.add("adkit")
    contestants = {"adkit": tiled, "numpy (OpenBLAS)": lambda: A @ B}
    naive_time: Timing | str
    t0 = time.perf_counter()
    got = gemm_naive(dev, a, b)
    dev.queue.finish()
    once = time.perf_counter() - t0  # includes the first compile only at the first size
    if not checked(f"n={n} naive kernel vs float64", max_abs_err(dev.to_host(got), want), tol,
                   notes):
        wrong.add("naive kernel")
    del got
    if once > NAIVE_LIMIT_S:
        naive_time = f"skipped (one call {once:.0f} s > {NAIVE_LIMIT_S:.0f} s)"
        notes.append(f"n={n}: naive kernel skipped, one call took {once:.1f} s "
                     f"(limit {NAIVE_LIMIT_S:.0f} s)")
    elif once > settings.budget_s:
        t0 = time.perf_counter()
        naive()
        once = time.perf_counter() - t0
        naive_time = Timing(once, [once], 1)
        notes.append(f"n={n}: naive kernel timed from one call ({once:.1f} s, over the "
                     f"{settings.budget_s:g} s budget)")
    else:
        contestants["naive kernel"] = naive
        naive_time = "?"
    times = measure(contestants, settings)
    if "naive kernel" in times:
        naive_time = times["naive kernel"]
    adk = times["adkit"]
    peers: dict[str, Any] = {"naive kernel": naive_time,
                             "numpy (OpenBLAS)": times["numpy (OpenBLAS)"]}
    g_t, g_n, g_b = gflops(n, adk), gflops(n, naive_time), gflops(n, peers["numpy (OpenBLAS)"])
    ok_naive = None if g_n is None else g_t >= TARGET_NAIVE * g_n
    ok_blas = g_t >= TARGET_BLAS * g_b
    met = [f"{verdict(ok_naive)} ({_fmt(g_t / g_n if g_n else None)}x naive)",
           f"{verdict(ok_blas)} ({100 * g_t / g_b:.0f}% of BLAS)"]
    row = Row(f"n={n}", f"C = A @ B float32, {g_t:.1f} GFLOP/s", adk, peers,
              f">= {TARGET_NAIVE:g}x naive, >= {100 * TARGET_BLAS:.0f}% BLAS", "; ".join(met),
              wrong=wrong)
    line = f"| {n} | {_fmt(g_t)} | {_fmt(g_n)} | {_fmt(g_b)} |"
    return row, line


def run(settings: Settings) -> Section:
    from adkit.kernels import gemm as gemm_module
    from adkit.kernels.runtime import OpenCLUnavailable, device
    sec = Section("opencl_gemm", "OpenCL float32 GEMM: tiled kernel vs naive kernel vs OpenBLAS",
                  COLUMNS)
    try:
        dev = device()
    except OpenCLUnavailable as exc:
        sec.notes.append(f"not run: {exc}")
        return sec
    tile, _ = gemm_module._tiled_kernel(dev, False, False)
    table = ["| n | tiled | naive | OpenBLAS |", "|---|---|---|---|"]
    for n in SIZES:
        row, line = run_size(dev, n, settings, sec.notes)
        sec.rows.append(row)
        table.append(line)
    info = dev.info
    sec.notes.append(f"device: {info.name} ({info.platform_name}, {info.type}, "
                     f"{info.compute_units} compute units); tiled kernel's tile "
                     f"TSM x TSN x TSK = {tile.tsm} x {tile.tsn} x {tile.tsk}, "
                     f"{tile.wptm} x {tile.wptn} per work-item, local size {tile.local}")
    sec.notes.append("adkit column: the tiled kernel; times exclude compilation and "
                     "host-device transfers (each call waits for the queue)")
    sec.notes.append("GFLOP/s (2 n^3 / median time):\n\n" + "\n".join(table))
    return sec


if __name__ == "__main__":
    import argparse
    from ._common import render_section
    parser = argparse.ArgumentParser(prog="python -m benchmarks.opencl_gemm")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repeats")
    args = parser.parse_args()
    print(render_section(run(Settings(quick=args.quick))))
