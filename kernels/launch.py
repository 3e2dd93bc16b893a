"""What the kernel modules share on the host side: checking device arrays,
allocating results within the device's limits, launching 1-D kernels with a
fixed work-group size per kernel (PoCL compiles a kernel once per local size),
and one-line elementwise kernels (`elementwise`)."""

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


# --- one-line elementwise kernels ---------------------------------------------------------

_SCALAR_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long": np.int64,
                 "uint": np.uint32, "unsigned int": np.uint32, "ulong": np.uint64,
                 "unsigned long": np.uint64, "char": np.int8, "uchar": np.uint8}
# (context, key) -> Elementwise; the key names the kernel and its source is fixed per key
_ELEMENTWISE: dict[tuple, "Elementwise"] = {}


class Elementwise:
    """A kernel running `body` for every index i < n of its first array argument, one
    work-item per element: pyopencl's ElementwiseKernel with the same arguments and call,
    but without its grid-stride loop, which PoCL's CPU device does not vectorise (a relu
    over 2.8 M floats took 30 ms that way against 4.8 ms this way on 2 cores).

        >>> double = elementwise(dev, "double", "float *y, const float *x", "y[i] = 2 * x[i]")
        >>> double(y, x, queue=dev.queue)
    """

    def __init__(self, dev: Device, key: str, args: str, body: str) -> None:
        # each array is passed as (buffer, offset in elements), so views (row slices) are
        # read and written where they are; the body sees a pointer of the given name
        params, views, self.scalars, dtypes = [], [], [], []
        for k, arg in enumerate(a.strip() for a in args.split(",")):
            if "*" in arg:
                ctype, name = arg[:arg.rindex("*")].strip(), arg[arg.rindex("*") + 1:].strip()
                params += [f"__global {ctype} *adkit_b{k}", f"const long adkit_o{k}"]
                views.append(f"__global {ctype} *{name} = adkit_b{k} + adkit_o{k};")
                self.scalars.append(None)
                dtypes += [None, np.int64]
            else:
                kind = arg.rsplit(" ", 1)[0].replace("const ", "").strip()
                params.append(arg)
                self.scalars.append(_SCALAR_TYPES[kind])
                dtypes.append(self.scalars[-1])
        name = f"adkit_{key}"
        source = (f"__kernel void {name}(const long adkit_n, {', '.join(params)}) {{\n"
                  f"  const long i = get_global_id(0);\n  if (i >= adkit_n) return;\n"
                  f"  {' '.join(views)}\n  {body};\n}}\n")
        self.dev = dev
        self.knl = cl.Kernel(dev.program(source), name)
        self.knl.set_scalar_arg_dtypes([np.int64] + dtypes)
        limit = self.knl.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                             dev.queue.device)
        self.group = max(1, min(256, int(dev.info.max_work_group_size), int(limit)))

    def __call__(self, *args: Any, queue: Any = None) -> Any:
        first = next(a for a, s in zip(args, self.scalars) if s is None)
        n = int(first.size)
        values = []
        for a, s in zip(args, self.scalars):
            if s is not None:
                values.append(a)
            else:
                values += [a.base_data, np.int64(a.offset // a.dtype.itemsize)]
        gsize = max(1, -(-n // self.group)) * self.group
        return self.knl(queue or self.dev.queue, (gsize,), (self.group,), np.int64(n), *values)


def elementwise(dev: Device, key: str, args: str, body: str) -> Elementwise:
    """The Elementwise kernel for `key` on dev's context, built on first use.

    `args` is a C argument list (pointers are global memory), `body` one or more C
    statements using the element index i; the first pointer argument's size is n."""
    k = (dev.context, key)
    knl = _ELEMENTWISE.get(k)
    if knl is None:
        knl = _ELEMENTWISE[k] = Elementwise(dev, key, args, body)
    return knl
