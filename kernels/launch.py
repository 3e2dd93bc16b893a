"""What the kernel modules share on the host side: checking device arrays,
allocating results within the device's limits, and launching 1-D kernels with a
fixed work-group size per kernel (PoCL compiles a kernel once per local size)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .runtime import Device

try:
    import pyopencl as cl
except ImportError:  # then there is no Device to pass either: device() says how to fix it
    cl = None  # type: ignore[assignment]

F32 = np.dtype(np.float32)
#: the kernels index with 32-bit ints
INT_MAX = 2**31 - 1

# (id(dev), program file, kernel name) -> (dev, kernel, work-group size); the device is
# kept in the value so its id cannot be reused by another while the entry exists
_KERNELS: dict[tuple, tuple[Any, Any, int]] = {}


def kernel(dev: Device, filename: str, name: str) -> tuple[Any, int]:
    """(pyopencl.Kernel, its 1-D work-group size) for `name` in kernels/`filename`.

    The work-group size is fixed per kernel (at most 256, and what the device and the
    compiled kernel allow): PoCL compiles a kernel once per local size.
    """
    key = (id(dev), filename, name)
    hit = _KERNELS.get(key)
    if hit is None or hit[0] is not dev:
        knl = cl.Kernel(dev.program(filename), name)
        limit = knl.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                        dev.queue.device)
        size = min(256, int(dev.info.max_work_group_size), int(limit),
                   int(dev.info.max_work_item_sizes[0]))
        hit = _KERNELS[key] = (dev, knl, max(1, size))
    return hit[1], hit[2]


def launch(dev: Device, filename: str, name: str, total: int, *args: Any) -> Any:
    """Run `name` over `total` work-items (1-D, rounded up to whole work-groups; the
    kernel bounds-checks its first argument, total). Returns the event."""
    if total > INT_MAX:
        raise ValueError(f"{name}: {total} work-items exceed the kernels' int indexing "
                         f"(at most {INT_MAX}); split the batch")
    knl, size = kernel(dev, filename, name)
    gsize = -(-total // size) * size
    return knl(dev.queue, (gsize,), (size,), *args)


def checked(dev: Device, x: Any, name: str, where: str, ndim: int | None = None,
            dtype: np.dtype = F32, fix: str = "copy it") -> Any:
    """x if it is a C-contiguous device array of this device with `dtype` (and `ndim`);
    otherwise TypeError/ValueError naming `where`, `name` and the fix."""
    dev.check(x)
    if x.dtype != dtype:
        raise TypeError(f"{where}: {name} has dtype {x.dtype}, but the kernels take "
                        f"{dtype} only; convert it with {name}.astype(np.{dtype.name})")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{where}: {name} must be {ndim}-D, got shape {x.shape}")
    if not x.flags.c_contiguous:
        raise ValueError(f"{where}: {name} (shape {x.shape}, strides {x.strides}) is not "
                         f"C-contiguous; {fix}")
    if x.size > INT_MAX:
        raise ValueError(f"{where}: {name} has {x.size} entries, more than the kernels' int "
                         f"indexing allows ({INT_MAX}); split it")
    return x


def new(dev: Device, shape: tuple, where: str, dtype: np.dtype = F32, zero: bool = False) -> Any:
    """A device array, or ValueError naming the device's max allocation if it exceeds it."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if nbytes > dev.info.max_allocation:
        raise ValueError(f"{where}: a result of shape {shape} needs {nbytes} bytes, more than "
                         f"{dev.info.name!r} allows in one allocation (max_allocation "
                         f"{dev.info.max_allocation}); use a smaller batch")
    return dev.zeros(shape, dtype) if zero else dev.empty(shape, dtype)


def buffer_args(*arrays: Any) -> list:
    """(buffer, offset in elements) per array: how raw kernels take a possibly offset view."""
    out = []
    for a in arrays:
        out += [a.base_data, np.int32(a.offset // a.dtype.itemsize)]
    return out
