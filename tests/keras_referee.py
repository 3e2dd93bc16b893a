"""Keras 3 (JAX backend) as a cross-check referee for adkit.nn's Keras parity tests:
the fixture skips, saying how to install it, where Keras 3 is missing (as in CI).
`keras` and `real_keras` are the same fixture under two names (the second for test
modules that call adkit.nn `keras`)."""

import os

import pytest

KERAS_INSTALL = "Keras 3 is not installed: pip install keras jax jaxlib"


def keras_or_skip():
    """The keras module on the JAX backend, or a skip naming what to install."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason=KERAS_INSTALL)
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests need Keras 3, found {keras.__version__}")
    return keras


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on JAX (keras_or_skip)."""
    return keras_or_skip()


@pytest.fixture(scope="module")
def real_keras():
    """Keras 3 on JAX (keras_or_skip)."""
    return keras_or_skip()
