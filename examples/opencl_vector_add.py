"""Add two vectors of 5,000,000 float32 on an OpenCL device (the textbook's Listing 10-2, timed honestly).

The textbook times the kernel launch alone with time.time(): the launch is
asynchronous, so that measures only the enqueue, and the first launch also
pays for compilation. Here the program is built first and the kernel run once
to warm up; then the host-to-device copy, the kernel (from the queue's
profiling event) and the device-to-host copy are timed separately, and the
result is compared with NumPy's.

    python examples/opencl_vector_add.py
    python examples/opencl_vector_add.py --small      # 100,000 elements
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from adkit import kernels

SOURCE = """
__kernel void add(__global const float *a, __global const float *b, __global float *out)
{
    const size_t i = get_global_id(0);
    out[i] = a[i] + b[i];
}
"""


def save_measurements(folder: str, result: dict) -> dict:
    """Write result to folder/opencl_vector_add.json (a record of this machine's timings) and
    return it with the file's path under "json"."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "opencl_vector_add.json")
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"  measurements saved to {path}")
    return {**result, "json": path}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000_000, help="vector length (default 5e6)")
    parser.add_argument("--small", action="store_true", help="100,000 elements (a quick look)")
    parser.add_argument("--device", default=None, help="ADKIT_DEVICE-style spec, e.g. opencl:0")
    parser.add_argument("--out", default="runs/examples/opencl_vector_add", metavar="DIR",
                        help="folder for opencl_vector_add.json, the measurements "
                             "(default %(default)s)")
    args = parser.parse_args(argv)
    n = 100_000 if args.small else args.n
    try:
        dev = kernels.device(args.device)
    except kernels.OpenCLUnavailable as exc:
        print(exc, file=sys.stderr)
        return {"agree": None}

    rng = np.random.default_rng(0)
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    add = dev.program(SOURCE).add   # compiled here, outside every timing

    dev.reset_counters()
    t0 = time.perf_counter()
    a_dev, b_dev = dev.to_device(a), dev.to_device(b)
    dev.finish()
    h2d = time.perf_counter() - t0
    out_dev = dev.empty(n)

    gsize, lsize = dev.launch_size((n,))
    add(dev.queue, gsize, lsize, a_dev.data, b_dev.data, out_dev.data).wait()   # warm-up
    t0 = time.perf_counter()
    event = add(dev.queue, gsize, lsize, a_dev.data, b_dev.data, out_dev.data)
    dev.finish()
    kernel_wall = time.perf_counter() - t0
    kernel = (event.profile.end - event.profile.start) * 1e-9

    t0 = time.perf_counter()
    result = dev.to_host(out_dev)
    d2h = time.perf_counter() - t0

    # Into a preallocated array, as the kernel does: a fresh 20 MB result would time
    # the page faults of its allocation rather than the additions.
    expected = np.empty_like(a)
    np.add(a, b, out=expected)
    t0 = time.perf_counter()
    np.add(a, b, out=expected)
    numpy_time = time.perf_counter() - t0
    diff = float(np.max(np.abs(result - expected)))
    agree = bool(np.array_equal(result, expected))   # one float32 add: bit-for-bit equal

    print(f"Vector addition of {n:,} float32 on {dev.info.name!r} ({dev.info.type})")
    print(f"  host -> device   {h2d * 1e3:9.3f} ms   ({dev.bytes_to_device / 1e6:.1f} MB)")
    print(f"  kernel           {kernel * 1e3:9.3f} ms   (profiling event; "
          f"{kernel_wall * 1e3:.3f} ms wall to finish())")
    print(f"  device -> host   {d2h * 1e3:9.3f} ms   ({dev.bytes_from_device / 1e6:.1f} MB)")
    print(f"  NumPy a + b (out=) {numpy_time * 1e3:9.3f} ms")
    print(f"  agrees with NumPy: {agree} (max |difference| = {diff:.1e})")
    return save_measurements(args.out, {
        "n": n, "device": dev.info.name, "h2d_s": h2d, "kernel_s": kernel,
        "kernel_wall_s": kernel_wall, "d2h_s": d2h, "numpy_s": numpy_time,
        "max_abs_diff": diff, "agree": agree})


if __name__ == "__main__":
    sys.exit(0 if main().get("agree") else 1)
