"""adkit.kernels.gemm against NumPy in float64: shapes that are not multiples of the
tile, both transposes, alpha and beta, every fallback tile, and the error messages."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencl_support import require_opencl

require_opencl()

from adkit.kernels.gemm import TILES, _launch, gemm, gemm_naive  # noqa: E402


def _rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _expect(A, B, trans_a, trans_b, alpha=1.0, beta=0.0, C=None):
    a = A.astype(np.float64).T if trans_a else A.astype(np.float64)
    b = B.astype(np.float64).T if trans_b else B.astype(np.float64)
    want = alpha * (a @ b)
    if beta != 0.0:
        want += beta * C.astype(np.float64)
    return want


def _close(got, want, k):
    # float32 accumulation over k terms of size ~1: error grows about like sqrt(k)..k
    scale = np.sqrt(max(k, 1)) * (1.0 + np.abs(want))
    err = np.max(np.abs(got - want) / scale) if want.size else 0.0
    assert got.dtype == np.float32
    assert err < 1e-5 * 4, f"relative error {err:.2e} (k={k})"


# 1, primes and sizes around the tile (64), up to 130
dims = st.sampled_from([1, 2, 3, 5, 7, 8, 13, 16, 31, 33, 63, 64, 65, 97, 127, 128, 129, 130])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=dims, n=dims, k=dims, trans_a=st.booleans(), trans_b=st.booleans(),
       alpha=st.sampled_from([1.0, -0.5, 2.0]), beta=st.sampled_from([0.0, 1.0, -2.0]),
       seed=st.integers(0, 2**16))
def test_gemm_matches_numpy(dev, m, n, k, trans_a, trans_b, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    A = _rand(rng, (k, m) if trans_a else (m, k))
    B = _rand(rng, (n, k) if trans_b else (k, n))
    C = _rand(rng, (m, n))
    out = dev.to_device(C) if beta != 0.0 else None
    got = gemm(dev, dev.to_device(A), dev.to_device(B), trans_a=trans_a, trans_b=trans_b,
               alpha=alpha, beta=beta, out=out)
    if out is not None:
        assert got is out
    _close(dev.to_host(got), _expect(A, B, trans_a, trans_b, alpha, beta, C), k)


@pytest.mark.parametrize("m,n,k", [(256, 256, 256), (300, 517, 129)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_gemm_larger(dev, m, n, k, trans_a, trans_b):
    rng = np.random.default_rng(m + n + k)
    A = _rand(rng, (k, m) if trans_a else (m, k))
    B = _rand(rng, (n, k) if trans_b else (k, n))
    got = gemm(dev, dev.to_device(A), dev.to_device(B), trans_a=trans_a, trans_b=trans_b)
    _close(dev.to_host(got), _expect(A, B, trans_a, trans_b), k)


@pytest.mark.parametrize("tile", TILES, ids=str)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
def test_every_fallback_tile(dev, tile, trans_a, trans_b):
    m, n, k = 37, 70, 45
    rng = np.random.default_rng(1)
    A = _rand(rng, (k, m) if trans_a else (m, k))
    B = _rand(rng, (n, k) if trans_b else (k, n))
    C = _rand(rng, (m, n))
    out = dev.to_device(C)
    _launch(dev, dev.to_device(A), dev.to_device(B), out, m, n, k, trans_a, trans_b,
            0.5, 1.5, tile)
    _close(dev.to_host(out), _expect(A, B, trans_a, trans_b, 0.5, 1.5, C), k)


def test_beta_zero_ignores_nan_in_out(dev):
    rng = np.random.default_rng(2)
    A, B = _rand(rng, (5, 9)), _rand(rng, (9, 3))
    out = dev.to_device(np.full((5, 3), np.nan, np.float32))
    got = dev.to_host(gemm(dev, dev.to_device(A), dev.to_device(B), out=out))
    _close(got, _expect(A, B, False, False), 9)


def test_zero_k_gives_beta_c(dev):
    C = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = dev.to_device(np.zeros((2, 0), np.float32))
    b = dev.to_device(np.zeros((0, 3), np.float32))
    got = gemm(dev, a, b, beta=2.0, out=dev.to_device(C))
    np.testing.assert_array_equal(dev.to_host(got), 2 * C)


def test_operands_with_offsets(dev):
    rng = np.random.default_rng(3)
    A, B = _rand(rng, (10, 7)), _rand(rng, (9, 4))
    a, b = dev.to_device(A)[3:], dev.to_device(B)[2:]   # row slices: contiguous, offset
    got = dev.to_host(gemm(dev, a, b))
    _close(got, _expect(A[3:], B[2:], False, False), 7)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (17, 33, 9), (64, 65, 130)])
def test_naive_matches_numpy(dev, m, n, k):
    rng = np.random.default_rng(4)
    A, B = _rand(rng, (m, k)), _rand(rng, (k, n))
    _close(dev.to_host(gemm_naive(dev, dev.to_device(A), dev.to_device(B))),
           _expect(A, B, False, False), k)


def test_float64_input_says_convert(dev):
    a = dev.to_device(np.ones((2, 3)))
    b = dev.to_device(np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match=r"astype\(np.float32\)"):
        gemm(dev, a, b)
    with pytest.raises(TypeError, match="float64"):
        gemm_naive(dev, b, a)


def test_mismatched_shapes_name_both(dev):
    a = dev.to_device(np.ones((2, 3), np.float32))
    b = dev.to_device(np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        gemm(dev, a, b)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        gemm_naive(dev, a, b)
    gemm(dev, a, b, trans_a=True, trans_b=True)  # 3x2 @ 2x4: fine


def test_out_and_beta_errors(dev):
    a = dev.to_device(np.ones((2, 3), np.float32))
    b = dev.to_device(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="out"):
        gemm(dev, a, b, beta=1.0)
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        gemm(dev, a, b, out=dev.to_device(np.ones((4, 2), np.float32)))


def test_non_contiguous_and_host_arrays(dev):
    a = dev.to_device(np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="trans_a"):
        gemm(dev, a.T, a)
    with pytest.raises(TypeError, match="to_device"):
        gemm(dev, np.ones((3, 3), np.float32), a)


def test_array_of_another_context_is_refused(dev):
    import pyopencl as cl
    import pyopencl.array as cla
    other = cl.CommandQueue(cl.Context([dev.queue.device]))
    foreign = cla.to_device(other, np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="another OpenCL context"):
        gemm(dev, foreign, dev.to_device(np.ones((3, 3), np.float32)))
