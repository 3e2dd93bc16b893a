"""adkit.kernels.elementwise against NumPy (float64 references): activations and their
derivatives, bias add/grad, reductions, fused softmax-cross-entropy, the Philox dropout
mask (bit-equal to its NumPy reference), and the error messages."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencl_support import require_opencl

require_opencl()

from adkit.kernels.elementwise import (ACTIVATIONS, BACKWARD_FROM, activation,  # noqa: E402
                                       activation_backward, bias_add, bias_grad,
                                       dropout_mask, dropout_mask_reference, philox4x32_10,
                                       reduce_max, reduce_sum, softmax_xent,
                                       softmax_xent_backward)

SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
dims = st.sampled_from([1, 2, 3, 5, 7, 16, 33, 64, 129])
shapes = st.lists(dims, min_size=1, max_size=3).map(tuple)


def _rand(seed, shape, scale=3.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


FORWARD = {"relu": lambda x: np.maximum(x, 0), "sigmoid": _sigmoid, "tanh": np.tanh,
           "softplus": lambda x: np.logaddexp(0.0, x), "linear": lambda x: x}
# derivative from the value BACKWARD_FROM names (y for all but softplus)
DERIV = {"relu": lambda y: (y > 0).astype(float), "sigmoid": lambda y: y * (1 - y),
         "tanh": lambda y: 1 - y * y, "softplus": _sigmoid, "linear": np.ones_like}


# --- activations -----------------------------------------------------------------------

@SETTINGS
@given(shape=shapes, name=st.sampled_from(sorted(ACTIVATIONS)), seed=st.integers(0, 99))
def test_activation_forward_and_backward(dev, shape, name, seed):
    x = _rand(seed, shape)
    g = _rand(seed + 1, shape, 1.0)
    y = dev.to_host(activation(dev, name, dev.to_device(x)))
    want = FORWARD[name](x.astype(np.float64))
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    v = x if BACKWARD_FROM[name] == "x" else y
    dx = dev.to_host(activation_backward(dev, name, dev.to_device(v), dev.to_device(g)))
    np.testing.assert_allclose(dx, g * DERIV[name](v.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)


def test_activation_extremes(dev):
    x = np.array([-1e4, -100, -0.0, 0.0, 100, 1e4, np.nan], np.float32)
    X = dev.to_device(x)
    for name in ACTIVATIONS:
        y = dev.to_host(activation(dev, name, X))
        with np.errstate(invalid="ignore"):              # the reference on the NaN entry
            want = FORWARD[name](x.astype(np.float64))
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-38)   # NaN == NaN here
    y = dev.to_host(activation(dev, "relu", dev.to_device(np.zeros(3, np.float32))))
    dx = activation_backward(dev, "relu", dev.to_device(y), dev.to_device(np.ones(3, np.float32)))
    assert (dev.to_host(dx) == 0).all()                 # the derivative at 0 is 0


# --- bias -------------------------------------------------------------------------------

@SETTINGS
@given(shape=shapes, seed=st.integers(0, 99))
def test_bias_add_and_grad(dev, shape, seed):
    x, b = _rand(seed, shape), _rand(seed + 1, shape[-1:])
    y = dev.to_host(bias_add(dev, dev.to_device(x), dev.to_device(b)))
    np.testing.assert_array_equal(y, x + b)
    db = dev.to_host(bias_grad(dev, dev.to_device(x)))
    want = x.astype(np.float64).reshape(-1, shape[-1]).sum(axis=0)
    tol = 1e-6 * np.abs(x).reshape(-1, shape[-1]).sum(axis=0) + 1e-6
    assert db.shape == shape[-1:] and (np.abs(db - want) <= tol).all()


def test_bias_grad_tall_and_one_row(dev):
    for shape in [(100_003, 3), (1, 5), (1, 1), (4097, 1)]:
        g = _rand(0, shape)
        db = dev.to_host(bias_grad(dev, dev.to_device(g)))
        np.testing.assert_allclose(db, g.astype(np.float64).sum(0),
                                   atol=1e-6 * np.abs(g).sum() + 1e-6)


# --- reductions ----------------------------------------------------------------------------

@SETTINGS
@given(shape=shapes, seed=st.integers(0, 99), data=st.data())
def test_reductions(dev, shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = _rand(seed, shape)
    X = dev.to_device(x)
    s = dev.to_host(reduce_sum(dev, X, axis))
    want = x.astype(np.float64).sum(axis)
    assert s.shape == want.shape
    assert (np.abs(s - want) <= 1e-6 * np.abs(x).sum(axis) + 1e-6).all()
    np.testing.assert_array_equal(dev.to_host(reduce_max(dev, X, axis)), x.max(axis))


def test_reductions_long_axis_nan_and_empty(dev):
    x = _rand(3, (3, 50_001))
    for axis in (0, 1):
        X = dev.to_device(np.ascontiguousarray(x.T) if axis == 0 else x)
        np.testing.assert_array_equal(dev.to_host(reduce_max(dev, X, axis)), x.max(1))
        np.testing.assert_allclose(dev.to_host(reduce_sum(dev, X, axis)),
                                   x.astype(np.float64).sum(1), atol=1e-6 * np.abs(x).sum())
    x = np.array([[1, np.nan, 2], [np.nan, -np.inf, 0]], np.float32)
    for axis in (0, 1):
        np.testing.assert_array_equal(dev.to_host(reduce_max(dev, dev.to_device(x), axis)),
                                      x.max(axis))
    empty = dev.zeros((0, 4))
    assert dev.to_host(reduce_sum(dev, empty, 0)).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="empty"):
        reduce_max(dev, empty, 0)
    with pytest.raises(ValueError, match="out of range"):
        reduce_sum(dev, empty, 2)


# --- softmax cross-entropy ----------------------------------------------------------------

def _log_softmax(z):
    z = z.astype(np.float64)
    s = z - z.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


@SETTINGS
@given(rows=dims, classes=dims, seed=st.integers(0, 99),
       ltype=st.sampled_from([np.int32, np.int64]))
def test_softmax_xent(dev, rows, classes, seed, ltype):
    z = _rand(seed, (rows, classes))
    lab = np.random.default_rng(seed).integers(0, classes, rows).astype(ltype)
    g = _rand(seed + 1, (rows,), 1.0)
    loss, probs = softmax_xent(dev, dev.to_device(z), dev.to_device(lab))
    ls = _log_softmax(z)
    np.testing.assert_allclose(dev.to_host(loss), -ls[np.arange(rows), lab], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(dev.to_host(probs), np.exp(ls), rtol=1e-5, atol=1e-7)
    d = softmax_xent_backward(dev, probs, dev.to_device(lab), dev.to_device(g))
    want = g[:, None] * (np.exp(ls) - np.eye(classes)[lab])
    np.testing.assert_allclose(dev.to_host(d), want, rtol=1e-5, atol=1e-6)


def test_softmax_xent_stable_and_bad_labels(dev):
    z = np.array([[1e4, -1e4, 0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], np.float32)
    lab = np.array([1, 0, 0], np.int32)
    loss, probs = softmax_xent(dev, dev.to_device(z), dev.to_device(lab))
    loss, probs = dev.to_host(loss), dev.to_host(probs)
    assert np.isfinite(loss).all() and np.isfinite(probs).all()
    np.testing.assert_allclose(loss, [2e4, np.log(3), np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    bad = dev.to_device(np.array([3, -1, 0], np.int32))
    loss, probs = softmax_xent(dev, dev.to_device(z), bad)
    assert np.isnan(dev.to_host(loss)[:2]).all() and np.isfinite(dev.to_host(loss)[2])
    d = dev.to_host(softmax_xent_backward(dev, probs, bad, dev.to_device(np.ones(3, np.float32))))
    assert np.isnan(d[:2]).all() and np.isfinite(d[2]).all()


# --- dropout ------------------------------------------------------------------------------

def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10
    cases = [((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
             ((0xffffffff,) * 4, (0xffffffff,) * 2,
              (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
             ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
              (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
    for ctr, key, want in cases:
        assert tuple(int(w) for w in philox4x32_10(ctr, key)) == want


@SETTINGS
@given(shape=st.lists(dims, min_size=0, max_size=3).map(tuple),
       rate=st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999]),
       seed=st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**64 - 1]), step=st.integers(0, 2**40))
def test_dropout_mask_bit_equal_to_reference(dev, shape, rate, seed, step):
    m = dev.to_host(dropout_mask(dev, shape, rate, seed, step))
    ref = dropout_mask_reference(shape, rate, seed, step)
    assert m.dtype == ref.dtype == np.float32 and m.shape == ref.shape == shape
    assert m.tobytes() == ref.tobytes()
    assert set(np.unique(m)) <= {np.float32(0), np.float32(1 / (1 - rate))}


def test_dropout_mask_statistics(dev):
    n = 1_000_003
    for rate in (0.0, 0.25, 0.5):
        m = dev.to_host(dropout_mask(dev, (n,), rate, seed=42, step=3))
        keep = (m > 0).mean()
        assert abs(keep - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n) + 1e-12
        assert abs(m.mean() - 1) < 0.01                  # inverted dropout keeps the mean
    a = dev.to_host(dropout_mask(dev, (1000,), 0.5, 42, 3))
    assert (a != dev.to_host(dropout_mask(dev, (1000,), 0.5, 42, 4))).any()
    assert (a != dev.to_host(dropout_mask(dev, (1000,), 0.5, 43, 3))).any()
    with pytest.raises(ValueError, match="rate"):
        dropout_mask(dev, (3,), 1.0, 0, 0)
    with pytest.raises(ValueError, match="seed"):
        dropout_mask(dev, (3,), 0.5, -1, 0)


# --- errors -------------------------------------------------------------------------------

def test_errors(dev):
    x64 = dev.to_device(np.ones((2, 3)))
    x = dev.to_device(np.ones((2, 3), np.float32))
    lab = dev.to_device(np.zeros(2, np.int32))
    for call in (lambda: activation(dev, "relu", x64),
                 lambda: activation_backward(dev, "tanh", x, x64),
                 lambda: bias_add(dev, x, dev.to_device(np.ones(3))),
                 lambda: bias_grad(dev, x64), lambda: reduce_sum(dev, x64, 0),
                 lambda: reduce_max(dev, x64, 1), lambda: softmax_xent(dev, x64, lab)):
        with pytest.raises(TypeError, match=r"astype\(np.float32\)"):
            call()
    with pytest.raises(TypeError, match=r"astype\(np.int32\)"):
        softmax_xent(dev, x, dev.to_device(np.zeros(2, np.float32)))
    with pytest.raises(TypeError, match="pyopencl.array.Array"):
        activation(dev, "relu", np.ones(3, np.float32))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        activation(dev, "gelu", x)
    with pytest.raises(ValueError, match=r"= \(3,\) for x of shape \(2, 3\), got \(2,\)"):
        bias_add(dev, x, dev.to_device(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match="C-contiguous"):
        activation(dev, "relu", x.T)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        softmax_xent(dev, x, dev.to_device(np.zeros(3, np.int32)))
