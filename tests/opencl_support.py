"""What the OpenCL kernel tests share: skip the module, saying why, without OpenCL."""

import pytest

from adkit.kernels.runtime import OpenCLUnavailable, available, device


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
