"""adkit.kernels.conv and .pool against NumpyBackend: random NHWC shapes (odd sizes,
size 1, strides 1 and 2, 'valid' and 'same', one channel and several), the
transforms im2col/col2im, both convolution gradients, max-pooling with ties (the
first maximum wins), average pooling over padded windows, and the error messages."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opencl_support import require_opencl

require_opencl()

from adkit.kernels import conv as kconv  # noqa: E402
from adkit.kernels import pool as kpool  # noqa: E402
from adkit.kernels.window import window  # noqa: E402
from adkit.nn.numpy_backend import NumpyBackend  # noqa: E402

B = NumpyBackend()
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def geometries(draw):
    """(x_shape, window size, strides, padding) whose windows fit."""
    n = draw(st.sampled_from([1, 2, 3]))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.sampled_from([1, 2, 3, 5]))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2])))
    padding = draw(st.sampled_from(["valid", "same"]))
    assume(padding == "same" or (h >= k[0] and w >= k[1]))
    return (n, h, w, c), k, s, padding


def _close(got, want, terms=1):
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(terms))


def _rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


@SETTINGS
@given(geo=geometries(), f=st.sampled_from([1, 4]), seed=st.integers(0, 2**16))
def test_conv_forward_and_gradients_match_numpy(dev, geo, f, seed):
    x_shape, k, s, padding = geo
    rng = np.random.default_rng(seed)
    x, kernel = _rand(rng, x_shape), _rand(rng, k + (x_shape[3], f))
    xd, kd = dev.to_device(x), dev.to_device(kernel)
    terms = k[0] * k[1] * x_shape[3]

    y = B.conv2d(x, kernel, s, padding)
    _close(dev.to_host(kconv.conv2d(dev, xd, kd, s, padding)), y, terms)
    g = _rand(rng, y.shape)
    gd = dev.to_device(g)
    _close(dev.to_host(kconv.conv2d_backprop_input(dev, gd, kd, x_shape, s, padding)),
           B.conv2d_backprop_input(g, kernel, x_shape, s, padding), terms * f)
    _close(dev.to_host(kconv.conv2d_backprop_kernel(dev, xd, gd, kernel.shape, s, padding)),
           B.conv2d_backprop_kernel(x, g, kernel.shape, s, padding), y.size)


@SETTINGS
@given(geo=geometries(), seed=st.integers(0, 2**16))
def test_im2col_and_col2im_match_numpy(dev, geo, seed):
    x_shape, k, s, padding = geo
    x = _rand(np.random.default_rng(seed), x_shape)
    cols = B.im2col(x, k, s, padding)
    np.testing.assert_array_equal(dev.to_host(kconv.im2col(dev, dev.to_device(x), k, s,
                                                           padding)), cols)
    _close(dev.to_host(kconv.col2im(dev, dev.to_device(cols), x_shape, k, s, padding)),
           B.col2im(cols, x_shape, k, s, padding), k[0] * k[1])


@SETTINGS
@given(geo=geometries(), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool_matches_numpy(dev, geo, ties, seed):
    x_shape, k, s, padding = geo
    rng = np.random.default_rng(seed)
    # small integers make ties common: the gradient must go to the first maximum
    x = rng.integers(-2, 2, x_shape).astype(np.float32) if ties else _rand(rng, x_shape)
    y = B.max_pool2d_forward(x, k, s, padding)
    arg = B.max_pool2d_argmax(x, y, k, s, padding)
    yd, argd = kpool.max_pool2d_forward(dev, dev.to_device(x), k, s, padding)
    np.testing.assert_array_equal(dev.to_host(yd), y)
    np.testing.assert_array_equal(dev.to_host(argd), arg)
    assert argd.dtype == np.int32
    g = _rand(rng, y.shape)
    _close(dev.to_host(kpool.max_pool2d_backward(dev, dev.to_device(g), argd, x_shape, k, s,
                                                 padding)),
           B.max_pool2d_backward(g, arg, x_shape, k, s, padding), k[0] * k[1])


@SETTINGS
@given(geo=geometries(), seed=st.integers(0, 2**16))
def test_avg_pool_matches_numpy(dev, geo, seed):
    x_shape, k, s, padding = geo
    rng = np.random.default_rng(seed)
    x = _rand(rng, x_shape)
    y = B.avg_pool2d_forward(x, k, s, padding)
    _close(dev.to_host(kpool.avg_pool2d_forward(dev, dev.to_device(x), k, s, padding)), y)
    g = _rand(rng, y.shape)
    _close(dev.to_host(kpool.avg_pool2d_backward(dev, dev.to_device(g), x_shape, k, s,
                                                 padding)),
           B.avg_pool2d_backward(g, x_shape, k, s, padding), k[0] * k[1])


@pytest.mark.parametrize("skinny_side", [0, 64])
def test_conv_in_chunks_matches_one_chunk(dev, monkeypatch, skinny_side):
    """A batch whose patches exceed the chunk budget is convolved a few images at a time,
    with gemm's default tile (skinny_side 0) and with the one for narrow products."""
    monkeypatch.setattr(kconv, "SKINNY_SIDE", skinny_side)
    rng = np.random.default_rng(0)
    x, kernel = _rand(rng, (5, 7, 6, 3)), _rand(rng, (3, 3, 3, 4))
    y = B.conv2d(x, kernel, (1, 1), "same")
    g = _rand(rng, y.shape)
    monkeypatch.setattr(kconv, "CHUNK_BYTES", 7 * 6 * 27 * 4 * 2)   # two images per chunk
    assert len(kconv._chunks(dev, 5, 7 * 6 * 27 * 4)) == 3
    xd, kd, gd = dev.to_device(x), dev.to_device(kernel), dev.to_device(g)
    _close(dev.to_host(kconv.conv2d(dev, xd, kd, (1, 1), "same")), y, 27)
    _close(dev.to_host(kconv.conv2d_backprop_input(dev, gd, kd, x.shape, (1, 1), "same")),
           B.conv2d_backprop_input(g, kernel, x.shape, (1, 1), "same"), 27 * 4)
    _close(dev.to_host(kconv.conv2d_backprop_kernel(dev, xd, gd, kernel.shape, (1, 1),
                                                    "same")),
           B.conv2d_backprop_kernel(x, g, kernel.shape, (1, 1), "same"), g.size)


def test_float64_is_refused(dev):
    x64 = dev.to_device(np.ones((1, 4, 4, 2)))
    k32 = dev.to_device(np.ones((3, 3, 2, 1), np.float32))
    with pytest.raises(TypeError, match=r"x has dtype float64.*float32.*astype"):
        kconv.conv2d(dev, x64, k32, (1, 1), "same")
    with pytest.raises(TypeError, match=r"kernel has dtype float64"):
        kconv.conv2d(dev, dev.to_device(np.ones((1, 4, 4, 2), np.float32)),
                     dev.to_device(np.ones((3, 3, 2, 1))), (1, 1), "same")
    with pytest.raises(TypeError, match=r"max_pool2d_forward: x has dtype float64"):
        kpool.max_pool2d_forward(dev, x64, (2, 2), (2, 2), "valid")
    with pytest.raises(TypeError, match=r"avg_pool2d_forward: x has dtype float64"):
        kpool.avg_pool2d_forward(dev, x64, (2, 2), (2, 2), "valid")


def test_shape_errors_say_what_and_where(dev):
    x = dev.to_device(np.ones((1, 4, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: x has 2 channels .* expects 3"):
        kconv.conv2d(dev, x, dev.to_device(np.ones((3, 3, 3, 1), np.float32)), (1, 1), "same")
    with pytest.raises(ValueError, match=r"does not fit"):
        kpool.max_pool2d_forward(dev, x, (5, 5), (1, 1), "valid")
    with pytest.raises(ValueError, match=r"g has shape \(1, 4, 4, 1\).*\(1, 2, 2, 1\)"):
        kconv.conv2d_backprop_input(dev, dev.to_device(np.ones((1, 4, 4, 1), np.float32)),
                                    dev.to_device(np.ones((3, 3, 2, 1), np.float32)),
                                    (1, 4, 4, 2), (1, 1), "valid")
    with pytest.raises(TypeError, match=r"pyopencl.array.Array"):
        kpool.avg_pool2d_forward(dev, np.ones((1, 4, 4, 1), np.float32), (2, 2), (2, 2),
                                 "valid")


def test_device_limits_are_named(dev, monkeypatch):
    # one image's patches larger than the device's largest allocation
    info = dev.info
    with pytest.raises(ValueError, match=r"max_allocation"):
        kconv._chunks(dev, 2, int(info.max_allocation) + 4)
    with pytest.raises(ValueError, match=r"int indexing"):
        kconv.launch(dev, "conv.cl", "im2col", 2**31)
    geo = window((1, 3, 3, 1), (3, 3), (1, 1), "valid")
    assert (geo.ho, geo.wo) == (1, 1)
