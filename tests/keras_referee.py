"""Keras 3 (JAX backend) as a cross-check referee for adkit.nn's Keras parity tests:
the fixture skips, saying how to install it, where Keras 3 is missing (as in CI)."""

import os

import pytest

KERAS_INSTALL = "Keras 3 is not installed: pip install keras jax jaxlib"


@pytest.fixture(scope="module")
def keras():
    """The keras module on the JAX backend, or a skip naming what to install."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason=KERAS_INSTALL)
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests need Keras 3, found {keras.__version__}")
    return keras
