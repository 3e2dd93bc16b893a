"""What the OpenCL tests share: skip a module or a test, saying why, without OpenCL."""

import pytest

from adkit.kernels.runtime import OpenCLUnavailable, available, device, devices

try:
    devices()
    NO_OPENCL = ""
except OpenCLUnavailable as exc:
    NO_OPENCL = str(exc)

#: for the tests of a module that also has tests without OpenCL
needs_opencl = pytest.mark.skipif(bool(NO_OPENCL), reason=NO_OPENCL)


def require_opencl() -> None:
    """Skip the calling test module (with OpenCLUnavailable's reason) when there is no
    usable OpenCL device; call it at module level, before importing kernel modules."""
    if available():
        return
    try:
        device()
    except OpenCLUnavailable as exc:
        pytest.skip(str(exc), allow_module_level=True)
    pytest.skip("OpenCL is unavailable", allow_module_level=True)
