"""Benchmark: one epoch of the textbook CNN on the OpenCL device vs the numpy backend.

The same model (zoo.textbook_cnn, seed 0), optimizer (Adadelta), batch size (128)
and batch order, trained once with compile(device="cpu") (the numpy backend) and
once with compile(device="opencl") (the project's kernels: convolution by
im2col + tiled GEMM, pooling, activations, Philox dropout, fused Adadelta). Both
are warmed up on two batches first, so compilation is not timed; the times are
whole epochs (one run each: an epoch is long), in the same process.

Transfers per training step are read from the Device's counters between the
starts of two consecutive steps in the middle of the epoch: the goal is that only
the batch goes up (images and labels) and the loss comes down (with metrics, the
batch's predictions too). The weights cross twice per fit (up at the start, down
at each epoch's end), which the per-epoch totals show.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ._common import Row, Section, Settings, Timing

BATCH = 128
QUICK_IMAGES = 3200
COLUMNS = ["numpy backend"]


def _epoch(x: np.ndarray, y: np.ndarray, device: str, dev: Any) -> dict:
    from adkit.nn import zoo
    from adkit.nn.callbacks import LambdaCallback
    model = zoo.textbook_cnn(seed=0)
    model.compile(optimizer="adadelta", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=device)
    model.fit(x[:2 * BATCH], y[:2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warm-up
    counters: list[tuple[int, int]] = []

    def begin(batch: int, logs: Any = None) -> None:
        if dev is not None:
            counters.append((dev.bytes_to_device, dev.bytes_from_device))

    if dev is not None:
        dev.reset_counters()
    t0 = time.perf_counter()
    history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                        callbacks=[LambdaCallback(on_train_batch_begin=begin)])
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "loss": history.history["loss"][0],
           "accuracy": history.history["accuracy"][0]}
    if dev is not None:
        mid = len(counters) // 2
        out["up"] = counters[mid + 1][0] - counters[mid][0]
        out["down"] = counters[mid + 1][1] - counters[mid][1]
        out["up_total"], out["down_total"] = dev.bytes_to_device, dev.bytes_from_device
    return out


def run(settings: Settings) -> Section:
    from adkit.kernels.runtime import OpenCLUnavailable, device
    from adkit.nn.train import load_images
    sec = Section("nn_opencl", "One CNN epoch on the OpenCL device vs the numpy backend "
                  "(Fashion-MNIST, batch 128)", COLUMNS)
    try:
        dev = device()
    except OpenCLUnavailable as exc:
        sec.notes.append(f"not run: {exc}")
        return sec
    try:
        (x, y), _ = load_images(QUICK_IMAGES if settings.quick else None)
    except FileNotFoundError as exc:
        sec.notes.append("not run: Fashion-MNIST is not installed. " + " ".join(str(exc).split()))
        return sec
    cpu = _epoch(x, y, "cpu", None)
    ocl = _epoch(x, y, "opencl", dev)
    steps = -(-len(x) // BATCH)
    t_ocl = Timing(ocl["seconds"], [ocl["seconds"]], 1)
    t_cpu = Timing(cpu["seconds"], [cpu["seconds"]], 1)
    sec.rows.append(Row(f"{len(x):,} images", "one training epoch, textbook CNN", t_ocl,
                        {"numpy backend": t_cpu}, "report", ""))
    batch_up = BATCH * 28 * 28 * 4 + BATCH * 4
    sec.notes.append(
        f"per step: opencl {1e3 * ocl['seconds'] / steps:.0f} ms, numpy "
        f"{1e3 * cpu['seconds'] / steps:.0f} ms; training loss / accuracy over the epoch: "
        f"opencl {ocl['loss']:.4f} / {ocl['accuracy']:.4f}, numpy {cpu['loss']:.4f} / "
        f"{cpu['accuracy']:.4f} (the dropout masks differ: Philox on the device, the host "
        "generator on numpy)")
    sec.notes.append(
        f"transfers in one step: {ocl['up']:,} bytes up (the batch: {batch_up:,} = images "
        f"float32 + labels int32) and {ocl['down']:,} bytes down (the loss, 4, and the "
        f"predictions for the accuracy metric, {BATCH * 10 * 4:,}); whole epoch "
        f"{ocl['up_total']:,} up, {ocl['down_total']:,} down (the weights, 600,810 floats, "
        "go up once per fit and come down at the epoch's end)")
    info = dev.info
    sec.notes.append(f"device: {info.name} ({info.platform_name}, {info.type}, "
                     f"{info.compute_units} compute units)")
    return sec


if __name__ == "__main__":
    import argparse
    from ._common import render_section
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nn_opencl")
    parser.add_argument("--quick", action="store_true",
                        help=f"the first {QUICK_IMAGES:,} training images only")
    args = parser.parse_args()
    print(render_section(run(Settings(quick=args.quick))))
