"""Multiply two 500x500 float32 matrices on an OpenCL device (the textbook's Listing 10-3, corrected).

The textbook's kernel writes result[i + size*j], the transpose of the product
in NumPy's row-major layout, and then hides that by comparing with
np.dot(A, B).T; it also accumulates in global memory and times only the
asynchronous enqueue. Here the naive kernel computes C[i, j] = sum_k A[i, k] B[k, j]
row-major, accumulates in a register, and is compared with A @ B itself; the
program is built and the kernel run once before timing, and the transfers are
timed separately. If adkit.kernels.gemm is present its tiled GEMM runs too.

    python examples/opencl_matmul.py
    python examples/opencl_matmul.py --small         # 64x64
"""

from __future__ import annotations

import argparse
import json
import os
import importlib.util
import sys
import time

import numpy as np

from adkit import kernels

# get_global_id(0) runs along j, the contiguous axis of B and C, so neighbouring
# work-items read neighbouring floats (coalesced on a GPU, vectorised by PoCL).
SOURCE = """
__kernel void matmul(const int m, const int k, const int n,
                     __global const float *A, __global const float *B, __global float *C)
{
    const int j = get_global_id(0);
    const int i = get_global_id(1);
    float acc = 0.0f;
    for (int p = 0; p < k; p++)
        acc += A[i * k + p] * B[p * n + j];
    C[i * n + j] = acc;
}
"""


def _kernel_seconds(dev, launch, repeats: int = 3) -> float:
    """Best profiled time of `launch()` (an event-returning call) after one warm-up."""
    launch().wait()
    best = float("inf")
    for _ in range(repeats):
        event = launch()
        dev.finish()
        best = min(best, (event.profile.end - event.profile.start) * 1e-9)
    return best


def _agree(c: np.ndarray, ref: np.ndarray) -> tuple[bool, float]:
    # Float32 sums of k products in a different order than BLAS: relative error ~1e-6.
    c, ref = c.astype(np.float64), ref.astype(np.float64)   # garbage must not overflow the check
    rel = float(np.linalg.norm(c - ref) / np.linalg.norm(ref))
    return bool(np.allclose(c, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))), rel


def save_measurements(folder: str, result: dict) -> dict:
    """Write result to folder/opencl_matmul.json (a record of this machine's timings) and
    return it with the file's path under "json"."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "opencl_matmul.json")
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"  measurements saved to {path}")
    return {**result, "json": path}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="matrix size (default 500)")
    parser.add_argument("--small", action="store_true", help="64x64 (a quick look)")
    parser.add_argument("--device", default=None, help="ADKIT_DEVICE-style spec, e.g. opencl:0")
    parser.add_argument("--out", default="runs/examples/opencl_matmul", metavar="DIR",
                        help="folder for opencl_matmul.json, the measurements "
                             "(default %(default)s)")
    args = parser.parse_args(argv)
    n = 64 if args.small else args.n
    try:
        dev = kernels.device(args.device)
    except kernels.OpenCLUnavailable as exc:
        print(exc, file=sys.stderr)
        return {"agree": None}

    rng = np.random.default_rng(0)
    A = rng.random((n, n), dtype=np.float32)
    B = rng.random((n, n), dtype=np.float32)
    matmul = dev.program(SOURCE).matmul
    matmul.set_scalar_arg_dtypes([np.int32, np.int32, np.int32, None, None, None])

    dev.reset_counters()
    t0 = time.perf_counter()
    A_dev, B_dev = dev.to_device(A), dev.to_device(B)
    dev.finish()
    h2d = time.perf_counter() - t0
    C_dev = dev.empty((n, n))
    gsize, lsize = dev.launch_size((n, n))
    naive = _kernel_seconds(dev, lambda: matmul(dev.queue, gsize, lsize, n, n, n,
                                                A_dev.data, B_dev.data, C_dev.data))
    t0 = time.perf_counter()
    C = dev.to_host(C_dev)
    d2h = time.perf_counter() - t0

    ref = A @ B   # warm-up: BLAS starts its threads on the first call
    t0 = time.perf_counter()
    ref = A @ B
    numpy_time = time.perf_counter() - t0
    agree, rel = _agree(C, ref)
    transposed_rel = float(np.linalg.norm(C - ref.T) / np.linalg.norm(ref))
    gflops = lambda s: 2 * n ** 3 / s / 1e9   # noqa: E731

    print(f"Matrix product of two {n}x{n} float32 on {dev.info.name!r} ({dev.info.type})")
    print(f"  host -> device        {h2d * 1e3:9.3f} ms   ({dev.bytes_to_device / 1e6:.2f} MB)")
    print(f"  naive kernel          {naive * 1e3:9.3f} ms   ({gflops(naive):.2f} GFLOP/s, "
          f"local size {lsize})")
    print(f"  device -> host        {d2h * 1e3:9.3f} ms   ({dev.bytes_from_device / 1e6:.2f} MB)")
    print(f"  NumPy A @ B           {numpy_time * 1e3:9.3f} ms   ({gflops(numpy_time):.2f} GFLOP/s)")
    print(f"  naive agrees with NumPy A @ B: {agree} (relative error {rel:.1e}; "
          f"against (A @ B).T, the textbook's check, it would be {transposed_rel:.1e})")
    result = {"n": n, "h2d_s": h2d, "naive_s": naive, "d2h_s": d2h, "numpy_s": numpy_time,
              "rel_err": rel, "agree": agree}

    if importlib.util.find_spec("adkit.kernels.gemm") is not None:
        from adkit.kernels.gemm import gemm
        out = dev.empty((n, n))
        tiled = _kernel_seconds(dev, lambda: gemm(dev, A_dev, B_dev, out=out).events[-1])
        tiled_agree, tiled_rel = _agree(dev.to_host(out), ref)
        print(f"  tiled gemm kernel     {tiled * 1e3:9.3f} ms   ({gflops(tiled):.2f} GFLOP/s)")
        print(f"  tiled agrees with NumPy A @ B: {tiled_agree} (relative error {tiled_rel:.1e})")
        result.update(tiled_s=tiled, tiled_rel_err=tiled_rel, tiled_agree=tiled_agree)
    result["device"] = dev.info.name
    return save_measurements(args.out, result)


if __name__ == "__main__":
    result = main()
    sys.exit(0 if result.get("agree") and result.get("tiled_agree", True) else 1)
