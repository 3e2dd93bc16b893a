import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="module")
def dev():
    """The OpenCL device the kernel tests run on (tests/opencl_support.py skips without one)."""
    from adkit.kernels.runtime import device
    return device()
