"""float32 in, float32 derivatives out, through every rule: autograd users hit silent
float64 upcasts; adkit keeps the input's precision in both modes and at second order."""

import numpy as np
import pytest

import adkit
from test_rules_arrays import A, INDEXING, REDUCTIONS, SHAPES
from test_rules_elementwise import UNARY


def _fwd_grad(f, x):
    return adkit.jacobian(f, mode="forward")(x)


def _raw_tangent_dtype(f, x):
    """The tangent's dtype as the rules produce it (before jacobian() casts anything)."""
    out = f(adkit.forward.Dual(x, np.ones_like(x)))
    return np.result_type(out.tangent), np.result_type(out.value)


@pytest.mark.parametrize("fn,gen", UNARY, ids=lambda v: getattr(v, "__name__", ""))
def test_unary_rules_keep_float32(fn, gen):
    x64 = np.asarray(gen(4), dtype=np.float64)
    x32 = x64.astype(np.float32)
    f = lambda x: np.sum(fn(x))  # noqa: E731
    for engine in (adkit.grad(f), lambda x: _fwd_grad(f, x)):
        g32, g64 = engine(x32), engine(x64)
        assert g32.dtype == np.float32
        assert np.allclose(g32, g64, rtol=1e-3, atol=1e-4)
    assert adkit.hessian(f)(x32).dtype == np.float32
    assert _raw_tangent_dtype(f, x32) == (np.float32, np.float32)


@pytest.mark.parametrize("fn", REDUCTIONS + SHAPES + INDEXING)
def test_array_rules_keep_float32(fn):
    f = lambda x: np.sum(np.real(fn(x)) * 1.5)  # noqa: E731
    x32 = A.astype(np.float32)
    g = adkit.grad(f)(x32)
    assert g.dtype == np.float32
    assert np.allclose(g, adkit.grad(f)(A), rtol=1e-3, atol=1e-3)
    # forward-mode derivatives have the output's dtype: float32 unless NumPy itself
    # promotes the output (float64 constants such as np.arange(1.0, 4.0) in the function)
    assert _fwd_grad(f, x32).dtype == np.result_type(f(x32))
    t_dt, v_dt = _raw_tangent_dtype(f, x32)
    assert t_dt == v_dt


def test_binary_rules_with_python_and_numpy_scalars_keep_float32():
    x = np.linspace(0.5, 1.5, 4, dtype=np.float32)
    f = lambda x: np.sum(x * 2.5 + x / 3.0 - x ** 2 + np.maximum(x, 1.0) + np.hypot(x, 1.0)  # noqa
                         + np.arctan2(x, 2.0) + np.logaddexp(x, 0.5))
    assert adkit.grad(f)(x).dtype == np.float32
    assert adkit.hessian(f)(x).dtype == np.float32
