"""adkit benchmarks: adkit beside its peers (autograd, PyTorch, JAX) in one process.

Run everything with `python -m benchmarks` (see benchmarks/README.md). Each
benchmark module also runs alone: `python -m benchmarks.scalar`.

Thread counts are fixed here, before NumPy (and so OpenBLAS) is first loaded:
BLAS, OpenMP and PyTorch all get the same count, ADKIT_BENCH_THREADS or by
default every core this process may use. XLA sizes its own pool to the cores.
Nothing here asserts a timing: the suite reports times and ratios.
"""

from __future__ import annotations

import os
import sys

_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
THREADS = int(os.environ.get("ADKIT_BENCH_THREADS", _cores or 1))

#: whether NumPy was imported before we could set the BLAS thread count
NUMPY_WAS_LOADED = "numpy" in sys.modules
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))
# JAX: CPU only (no probing for accelerators), and quiet about it
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
