"""OpenCL runtime: device discovery, one context + queue + memory pool per device,
a program cache, and the only sanctioned host<->device transfers.

This module knows nothing of differentiation; it hands out pyopencl objects and
counts the bytes that cross the bus, so callers can see when data leaves the
device. Without pyopencl (or without any OpenCL platform) `available()` is
False and everything else raises `OpenCLUnavailable`, whose message says why
and how to fix it; the NumPy path of adkit does not need any of this.

    >>> from adkit.kernels import device
    >>> dev = device()                      # ADKIT_DEVICE, PYOPENCL_CTX, first GPU, first device
    >>> dev.to_host(dev.to_device(np.ones(3, np.float32)) * 2)
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DeviceInfo", "Device", "OpenCLUnavailable", "KernelBuildError", "available",
           "devices", "device", "clear_cache", "format_devices", "INSTALL_HINT", "KERNEL_DIR"]

KERNEL_DIR = Path(__file__).resolve().parent
INSTALL_HINT = ('pip install "pyopencl[pocl]" (PoCL provides a CPU OpenCL device, so no GPU '
                'is needed); adkit\'s NumPy path works without OpenCL')


class OpenCLUnavailable(RuntimeError):
    """No usable OpenCL: pyopencl does not import, or it finds no platform or device."""


class KernelBuildError(RuntimeError):
    """An OpenCL program failed to compile; the message holds the file and the build log."""


@dataclass(frozen=True)
class DeviceInfo:
    """What `adkit devices` shows about one OpenCL device (memory sizes in bytes)."""
    platform_index: int
    device_index: int            # within its platform
    index: int                   # position in devices(): the N of ADKIT_DEVICE=opencl:N
    platform_name: str
    platform_vendor: str
    platform_version: str
    name: str
    vendor: str
    version: str
    driver: str
    type: str                    # "CPU", "GPU", "ACCELERATOR" (joined with "|" if several)
    compute_units: int
    max_clock_mhz: int
    local_memory: int
    constant_memory: int
    global_memory: int
    max_allocation: int
    max_work_group_size: int
    max_work_item_sizes: tuple[int, ...]

    # pyopencl's own attribute names, for code written against pyopencl.Device.
    @property
    def local_mem_size(self) -> int:
        return self.local_memory

    @property
    def global_mem_size(self) -> int:
        return self.global_memory

    @property
    def max_constant_buffer_size(self) -> int:
        return self.constant_memory

    @property
    def max_mem_alloc_size(self) -> int:
        return self.max_allocation

    @property
    def max_compute_units(self) -> int:
        return self.compute_units

    @property
    def spec(self) -> str:
        """The ADKIT_DEVICE value that selects exactly this device."""
        return f"opencl:{self.platform_index}:{self.device_index}"


# --- discovery ----------------------------------------------------------------------------

def _cl():
    """pyopencl, or OpenCLUnavailable saying why it cannot be imported."""
    try:
        import pyopencl
    except ImportError as exc:   # also covers sys.modules["pyopencl"] = None
        raise OpenCLUnavailable(f"OpenCL is unavailable: pyopencl cannot be imported ({exc}). "
                                f"To fix: {INSTALL_HINT}.") from exc
    return pyopencl


def _cl_devices() -> list:
    """Every (platform index, device index, pyopencl.Device), in platform order."""
    cl = _cl()
    try:
        platforms = cl.get_platforms()
    except cl.Error as exc:      # the ICD loader reports "no platform" as an error
        raise OpenCLUnavailable(f"OpenCL is unavailable: pyopencl found no OpenCL platform "
                                f"({exc}). To fix: {INSTALL_HINT}.") from exc
    found = []
    for p, platform in enumerate(platforms):
        try:
            devs = platform.get_devices()
        except cl.Error:         # a platform with no devices raises DEVICE_NOT_FOUND
            devs = []
        found += [(p, d, dev) for d, dev in enumerate(devs)]
    if not found:
        names = ", ".join(pl.name for pl in platforms) or "none"
        raise OpenCLUnavailable(f"OpenCL is unavailable: no OpenCL device found (platforms: "
                                f"{names}). To fix: {INSTALL_HINT}.")
    return found


def _type_string(cl, dev_type: int) -> str:
    # device_type.to_string reports PoCL's CPU as "ALL | CPU"; name only the real kinds.
    kinds = [k for k in ("GPU", "CPU", "ACCELERATOR", "CUSTOM")
             if hasattr(cl.device_type, k) and dev_type & getattr(cl.device_type, k)]
    return "|".join(kinds) or str(dev_type)


def _info(cl, index: int, p: int, d: int, dev) -> DeviceInfo:
    platform = dev.platform
    return DeviceInfo(
        platform_index=p, device_index=d, index=index,
        platform_name=platform.name.strip(), platform_vendor=platform.vendor.strip(),
        platform_version=platform.version.strip(),
        name=dev.name.strip(), vendor=dev.vendor.strip(), version=dev.version.strip(),
        driver=dev.driver_version.strip(), type=_type_string(cl, dev.type),
        compute_units=int(dev.max_compute_units), max_clock_mhz=int(dev.max_clock_frequency),
        local_memory=int(dev.local_mem_size), constant_memory=int(dev.max_constant_buffer_size),
        global_memory=int(dev.global_mem_size), max_allocation=int(dev.max_mem_alloc_size),
        max_work_group_size=int(dev.max_work_group_size),
        max_work_item_sizes=tuple(int(s) for s in dev.max_work_item_sizes))


def devices() -> list[DeviceInfo]:
    """Every OpenCL device of every platform; OpenCLUnavailable (with the fix) if none.

        >>> for info in devices():
        ...     print(info.spec, info.name, info.type, info.compute_units)
        opencl:0:0 pthread-AMD EPYC CPU 2
    """
    cl = _cl()
    return [_info(cl, i, p, d, dev) for i, (p, d, dev) in enumerate(_cl_devices())]


def available() -> bool:
    """True when at least one OpenCL device can be used. Never raises.

        >>> if not available():
        ...     print("NumPy path only")
    """
    try:
        return bool(_cl_devices())
    except Exception:   # a broken ICD can raise anything; "unavailable" is the honest answer
        return False


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.0f} {unit}" if n % scale == 0 or n >= 10 * scale \
                else f"{n / scale:.1f} {unit}"
    return f"{n} B"


def format_devices(infos: list[DeviceInfo] | None = None) -> str:
    """A readable table of `infos` (default: devices()), grouped by platform.

        >>> print(format_devices())
        Platform 0: Portable Computing Language ...
    """
    infos = devices() if infos is None else infos
    lines: list[str] = []
    for info in infos:
        if info.device_index == 0:
            if lines:
                lines.append("")
            lines.append(f"Platform {info.platform_index}: {info.platform_name}")
            lines.append(f"  vendor {info.platform_vendor}; {info.platform_version}")
        rows = [
            ("type", info.type),
            ("vendor", info.vendor),
            ("version", info.version),
            ("driver", info.driver),
            ("compute units", str(info.compute_units)),
            ("max clock", f"{info.max_clock_mhz} MHz"),
            ("local memory", _size(info.local_memory)),
            ("constant memory", _size(info.constant_memory)),
            ("global memory", _size(info.global_memory)),
            ("max allocation", _size(info.max_allocation)),
            ("max work-group size", str(info.max_work_group_size)),
        ]
        lines.append(f"\n  Device {info.device_index}: {info.name}   "
                     f"(ADKIT_DEVICE={info.spec} or opencl:{info.index})")
        lines += [f"    {key:<20}{value}" for key, value in rows]
    return "\n".join(lines)


# --- one device ---------------------------------------------------------------------------

class Device:
    """One OpenCL device: a context, an in-order profiling queue, a memory pool,
    compiled programs, and byte counters for the transfers made through it.

        >>> dev = device()
        >>> x = dev.to_device(np.arange(4, dtype=np.float32))
        >>> dev.to_host(x + 1), dev.bytes_to_device, dev.bytes_from_device
    """

    def __init__(self, cl_device, info: DeviceInfo):
        cl = _cl()
        import pyopencl.tools
        self._cl = cl
        self.info = info
        self.cl_device = cl_device
        self.context = cl.Context([cl_device])
        self.queue = cl.CommandQueue(
            self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        self.pool = pyopencl.tools.MemoryPool(pyopencl.tools.ImmediateAllocator(self.queue))
        self._programs: dict[tuple[str, tuple[str, ...]], object] = {}
        self._lock = threading.Lock()
        self.reset_counters()

    def __repr__(self) -> str:
        return f"<adkit.kernels.Device {self.info.spec} {self.info.name!r} ({self.info.type})>"

    def reset_counters(self) -> None:
        """Zero bytes_to_device, bytes_from_device and transfers."""
        self.bytes_to_device = 0
        self.bytes_from_device = 0
        self.transfers = 0

    # programs

    def program(self, name_or_source: str, options: tuple = ()):
        """A built pyopencl.Program for a kernels/*.cl file name or for OpenCL C source,
        compiled once per (device, source text, options); KernelBuildError with the log.

            >>> prg = dev.program("gemm.cl", ("-D TILE=16",))
            >>> prg is dev.program("gemm.cl", ("-D TILE=16",))
            True
        """
        if name_or_source.endswith(".cl"):
            path = KERNEL_DIR / name_or_source
            if not path.is_file():
                have = ", ".join(sorted(p.name for p in KERNEL_DIR.glob("*.cl"))) or "none"
                raise FileNotFoundError(f"no OpenCL source {name_or_source!r} in {KERNEL_DIR} "
                                        f"(available: {have})")
            source, label = path.read_text(), name_or_source
        else:
            source, label = name_or_source, "<source string>"
        options = tuple(str(o) for o in options)
        key = (source, options)
        with self._lock:   # two threads asking at once must not compile twice
            prg = self._programs.get(key)
            if prg is None:
                prg = self._build(source, options, label)
                self._programs[key] = prg
        return prg

    def _build(self, source: str, options: tuple[str, ...], label: str):
        cl = self._cl
        prg = cl.Program(self.context, source)
        try:
            return prg.build(options=list(options))
        except cl.Error as exc:
            log = str(exc)
            try:   # pyopencl puts the log in the message; ask the driver too, in case it didn't
                driver_log = prg.get_build_info(self.cl_device, cl.program_build_info.LOG)
                if driver_log and driver_log.strip() not in log:
                    log += "\n" + driver_log
            except Exception:
                pass
            raise KernelBuildError(
                f"OpenCL program {label} failed to build on {self.info.name!r} "
                f"(options: {' '.join(options) or 'none'}). Build log:\n{log}") from exc

    # memory

    def check(self, arr) -> None:
        """ValueError if `arr` is not a pyopencl array of this device's context.

        Arrays never move between contexts silently: copy through to_host/to_device.
        """
        from pyopencl.array import Array
        if not isinstance(arr, Array):
            raise TypeError(f"expected a pyopencl.array.Array on {self.info.name!r}, got "
                            f"{type(arr).__name__}; move host data with Device.to_device()")
        if arr.context != self.context:
            other = ", ".join(d.name.strip() for d in arr.context.devices)
            raise ValueError(
                f"array of shape {arr.shape} belongs to another OpenCL context (device "
                f"{other!r}), not to this one ({self.info.spec} {self.info.name!r}); copy it "
                f"explicitly: dev.to_device(other_device.to_host(arr))")

    def to_device(self, host: np.ndarray):
        """Copy a host array to this device (counted in bytes_to_device and transfers).

            >>> x = dev.to_device(np.ones((2, 3), np.float32))
        """
        from pyopencl import array as cl_array
        host = np.asarray(host, order="C")   # (np.ascontiguousarray makes 0-d arrays 1-D)
        arr = cl_array.to_device(self.queue, host, allocator=self.pool)
        self.bytes_to_device += host.nbytes
        self.transfers += 1
        return arr

    def to_host(self, arr) -> np.ndarray:
        """Copy a device array back to a new NumPy array (blocks until it is there).

            >>> y = dev.to_host(x)
        """
        self.check(arr)
        host = arr.get(queue=self.queue)
        self.bytes_from_device += host.nbytes
        self.transfers += 1
        return host

    def empty(self, shape, dtype=np.float32):
        """An uninitialised device array from the pool."""
        from pyopencl import array as cl_array
        return cl_array.empty(self.queue, shape, np.dtype(dtype), allocator=self.pool)

    def zeros(self, shape, dtype=np.float32):
        """A zero-filled device array from the pool."""
        from pyopencl import array as cl_array
        return cl_array.zeros(self.queue, shape, np.dtype(dtype), allocator=self.pool)

    def finish(self) -> None:
        """Wait until everything queued on this device has run."""
        self.queue.finish()

    # launches

    def launch_size(self, global_size, local_size=None, local_mem: int = 0
                    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(global_size, local_size) as tuples, checked against this device's limits.

        With local_size None, picks per dimension the largest divisor of the global
        size that keeps the work-group within max_work_group_size (so kernels need no
        bounds check). `local_mem` is the __local bytes one work-group uses.

            >>> dev.launch_size((500, 500))
            ((500, 500), (50, 50))    # on a device allowing 4096 work-items per group
        """
        gsize = (int(global_size),) if np.isscalar(global_size) else tuple(map(int, global_size))
        info = self.info
        if not 1 <= len(gsize) <= 3 or min(gsize) < 1:
            raise ValueError(f"global size {gsize} must have 1 to 3 positive dimensions")
        if local_mem > info.local_memory:
            raise ValueError(f"a work-group needs {local_mem} bytes of local memory; "
                             f"{info.name!r} has {info.local_memory}")
        if local_size is None:
            # Share the work-group budget evenly across dimensions (a square-ish tile
            # reuses data along both axes) before taking the largest divisor that fits.
            budget, lsize = info.max_work_group_size, []
            for axis, (g, most) in enumerate(zip(gsize, info.max_work_item_sizes)):
                left = len(gsize) - axis
                limit = max(1, min(most, int(round(budget ** (1 / left)))))
                best = max(d for d in _divisors(g) if d <= limit)
                lsize.append(best)
                budget //= best
            return gsize, tuple(lsize)
        lsize = (int(local_size),) if np.isscalar(local_size) else tuple(map(int, local_size))
        if len(lsize) != len(gsize):
            raise ValueError(f"local size {lsize} and global size {gsize} differ in dimensions")
        if math.prod(lsize) > info.max_work_group_size:
            raise ValueError(f"local size {lsize} has {math.prod(lsize)} work-items; "
                             f"{info.name!r} allows at most {info.max_work_group_size}")
        for axis, (g, l, most) in enumerate(zip(gsize, lsize, info.max_work_item_sizes)):
            if l < 1 or l > most:
                raise ValueError(f"local size {l} on axis {axis} is outside 1..{most} "
                                 f"for {info.name!r}")
            if g % l:
                raise ValueError(f"global size {g} on axis {axis} is not a multiple of the "
                                 f"local size {l}; round it up and bounds-check in the kernel")
        return gsize, lsize


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in small]


# --- choosing a device ----------------------------------------------------------------------

_by_index: dict[tuple[int, int], Device] = {}
_by_spec: dict[tuple[str, str], Device] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every Device (their contexts, pools and programs); for tests and reloads."""
    with _lock:
        _by_index.clear()
        _by_spec.clear()


def _listing(found) -> str:
    return "; ".join(f"opencl:{p}:{d} (opencl:{i}) {dev.name.strip()!r}"
                     for i, (p, d, dev) in enumerate(found))


def _default(found):
    gpus = [f for f in found if f[2].type & _cl().device_type.GPU]
    return (gpus or found)[0]


def _resolve_adkit(spec: str, found, where: str):
    """ADKIT_DEVICE syntax: opencl | opencl:N | opencl:P:D | a substring of a device name."""
    text = spec.strip()
    body = text[len("opencl"):].lstrip(":") if text.lower().startswith("opencl") else text
    if body == "":
        return _default(found)
    parts = body.split(":")
    if all(p.strip().isdigit() for p in parts) and len(parts) in (1, 2):
        nums = [int(p) for p in parts]
        if len(nums) == 1 and nums[0] < len(found):
            return found[nums[0]]
        match = [f for f in found if (f[0], f[1]) == tuple(nums)]
        if match:
            return match[0]
    else:
        match = [f for f in found if body.lower() in f[2].name.lower()]
        if match:
            return match[0]
    raise ValueError(f"{where}={spec!r} matches no OpenCL device. Use opencl, opencl:N, "
                     f"opencl:PLATFORM:DEVICE or part of a device name; devices: "
                     f"{_listing(found)}")


def _resolve_pyopencl_ctx(spec: str, found):
    """pyopencl's PYOPENCL_CTX syntax: PLATFORM[:DEVICE], each an index or a name part."""
    parts = spec.split(":")
    plat, dev = parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")
    choices = found
    if plat:
        choices = [f for f in choices if (str(f[0]) == plat if plat.isdigit()
                                          else plat.lower() in f[2].platform.name.lower())]
    if dev:
        choices = [f for f in choices if (str(f[1]) == dev if dev.isdigit()
                                          else dev.lower() in f[2].name.lower())]
    if not choices:
        raise ValueError(f"PYOPENCL_CTX={spec!r} matches no OpenCL device; devices: "
                         f"{_listing(found)}")
    return choices[0]


def device(spec: str | int | None = None) -> Device:
    """The Device for `spec`, created once and cached.

    Chosen by: `spec`; else env ADKIT_DEVICE ("opencl", "opencl:N" = N-th entry of
    devices(), "opencl:P:D" = platform P device D, or part of a device name); else
    env PYOPENCL_CTX (pyopencl's "P:D"); else the first GPU; else the first device.

        >>> dev = device("opencl:0:0")
        >>> dev is device("opencl:0:0")
        True
    """
    if spec is not None:
        key = ("arg", str(spec))
    elif os.environ.get("ADKIT_DEVICE", "").strip():
        key = ("ADKIT_DEVICE", os.environ["ADKIT_DEVICE"])
    elif os.environ.get("PYOPENCL_CTX", "").strip():
        key = ("PYOPENCL_CTX", os.environ["PYOPENCL_CTX"])
    else:
        key = ("default", "")
    with _lock:
        if key in _by_spec:
            return _by_spec[key]
    found = _cl_devices()
    if key[0] == "arg":
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            if not 0 <= spec < len(found):
                raise ValueError(f"device index {spec} is out of range; devices: "
                                 f"{_listing(found)}")
            chosen = found[spec]
        else:
            chosen = _resolve_adkit(str(spec), found, "device spec")
    elif key[0] == "ADKIT_DEVICE":
        chosen = _resolve_adkit(key[1], found, "ADKIT_DEVICE")
    elif key[0] == "PYOPENCL_CTX":
        chosen = _resolve_pyopencl_ctx(key[1], found)
    else:
        chosen = _default(found)
    p, d, cl_dev = chosen
    with _lock:
        dev = _by_index.get((p, d))
        if dev is None:
            index = found.index(chosen)
            dev = _by_index[(p, d)] = Device(cl_dev, _info(_cl(), index, p, d, cl_dev))
        _by_spec[key] = dev
    return dev
