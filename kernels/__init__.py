"""adkit.kernels: OpenCL kernels (*.cl) and their host-side runtime.

Knows nothing of differentiation. Importing it never needs pyopencl; the
functions below raise OpenCLUnavailable (saying why and how to fix it) when
there is no usable OpenCL, and `available()` tells without raising.

    >>> from adkit import kernels
    >>> if kernels.available():
    ...     print(kernels.format_devices())

The names below are imported on first use (PEP 562): modules that need only
the pure-NumPy parts (adkit.kernels.window, whose geometry adkit.nn's NumPy
backend shares) do not load pyopencl and the runtime.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the submodule that defines it
_FROM = {**dict.fromkeys(("DeviceArray", "to_device"), "array"),
         **dict.fromkeys(("INSTALL_HINT", "KERNEL_DIR", "Device", "DeviceInfo",
                          "KernelBuildError", "OpenCLUnavailable", "available",
                          "clear_cache", "device", "devices", "format_devices"), "runtime")}

__all__ = ["INSTALL_HINT", "KERNEL_DIR", "Device", "DeviceArray", "DeviceInfo",
           "KernelBuildError", "OpenCLUnavailable", "available", "clear_cache", "device",
           "devices", "format_devices", "to_device"]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines a public name the first time it is read."""
    if name in _FROM:
        value = getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
        globals()[name] = value   # later reads skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names plus the lazily imported public ones, for completion."""
    return sorted(set(globals()) | set(_FROM))
