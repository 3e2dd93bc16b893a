"""adkit.kernels: OpenCL kernels (*.cl) and their host-side runtime.

Knows nothing of differentiation. Importing it never needs pyopencl; the
functions below raise OpenCLUnavailable (saying why and how to fix it) when
there is no usable OpenCL, and `available()` tells without raising.

    >>> from adkit import kernels
    >>> if kernels.available():
    ...     print(kernels.format_devices())
"""

from .array import DeviceArray, to_device
from .runtime import (INSTALL_HINT, KERNEL_DIR, Device, DeviceInfo, KernelBuildError,
                      OpenCLUnavailable, available, clear_cache, device, devices,
                      format_devices)

__all__ = ["INSTALL_HINT", "KERNEL_DIR", "Device", "DeviceArray", "DeviceInfo",
           "KernelBuildError", "OpenCLUnavailable", "available", "clear_cache", "device",
           "devices", "format_devices", "to_device"]
