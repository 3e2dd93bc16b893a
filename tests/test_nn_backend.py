"""adkit.nn.backend: every primitive against an independent referee.

Values: naive loops over output positions (padding worked out here from Keras's
formula), scipy.signal.correlate for convolutions, the textbook formulas for the
cross-entropies. Derivatives: adkit.check_grads (forward, reverse and Richardson
differences, float64, small shapes), to second order for conv2d, the pools and
the losses, and a Hessian-vector product through a small CNN.
"""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import adkit
from adkit.nn import backend as B
from adkit.nn import numpy_backend as NB

MODES = ("forward", "reverse", "numeric")
rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# --- naive references ---------------------------------------------------------------


def keras_pads(size, k, s, padding):
    """(output length, padding before, padding after), from Keras's documentation."""
    if padding == "valid":
        return (size - k) // s + 1, 0, 0
    out = int(np.ceil(size / s))
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def padded(x, kh, kw, strides, padding, fill=0.0):
    ho, t, b = keras_pads(x.shape[1], kh, strides[0], padding)
    wo, l, r = keras_pads(x.shape[2], kw, strides[1], padding)
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=fill), ho, wo


def naive_conv(x, k, strides=(1, 1), padding="valid"):
    kh, kw, _, f = k.shape
    xp, ho, wo = padded(x, kh, kw, strides, padding)
    out = np.zeros((x.shape[0], ho, wo, f))
    for o in range(ho):
        for p in range(wo):
            patch = xp[:, o * strides[0]:o * strides[0] + kh, p * strides[1]:p * strides[1] + kw]
            out[:, o, p] = np.einsum("nijc,ijcf->nf", patch, k)
    return out


def naive_pool(x, pool, strides, padding, kind):
    """Values and, for max, the gradient of sum(pool) (first maximum of each window)."""
    fill = -np.inf if kind == "max" else np.nan
    xp, ho, wo = padded(x, pool[0], pool[1], strides, padding, fill)
    out = np.zeros((x.shape[0], ho, wo, x.shape[3]))
    grad = np.zeros_like(xp)
    for n in range(x.shape[0]):
        for o in range(ho):
            for p in range(wo):
                for c in range(x.shape[3]):
                    r, q = o * strides[0], p * strides[1]
                    win = xp[n, r:r + pool[0], q:q + pool[1], c]
                    if kind == "max":
                        out[n, o, p, c] = win.max()
                        a, b = np.unravel_index(np.argmax(win), win.shape)  # the first
                        grad[n, r + a, q + b, c] += 1
                    else:
                        out[n, o, p, c] = np.nanmean(win)  # padding left out, as Keras
    _, t, _ = keras_pads(x.shape[1], pool[0], strides[0], padding)
    _, l, _ = keras_pads(x.shape[2], pool[1], strides[1], padding)
    return out, grad[:, t:t + x.shape[1], l:l + x.shape[2]]


# --- convolution values -----------------------------------------------------------------

GEOMETRIES = [((1, 1), "valid"), ((1, 1), "same"), ((2, 2), "valid"), ((2, 2), "same"),
              ((2, 1), "same"), ((1, 3), "valid")]


@pytest.mark.parametrize("strides, padding", GEOMETRIES)
@pytest.mark.parametrize("kernel", [(3, 3), (1, 1), (2, 3), (4, 2)])
def test_conv2d_matches_naive_loops(strides, padding, kernel):
    x, k = randn(2, 7, 6, 3), randn(*kernel, 3, 4)
    got = B.conv2d(x, k, strides, padding)
    np.testing.assert_allclose(got, naive_conv(x, k, strides, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_scipy_correlate(padding):
    x, k = randn(2, 9, 8, 3), randn(3, 5, 3, 2)  # odd kernels: scipy's "same" centring is Keras's
    want = np.zeros((2,) + (x.shape[1:3] if padding == "same" else (7, 4)) + (2,))
    for n in range(2):
        for f in range(2):
            want[n, :, :, f] = sum(scipy.signal.correlate(x[n, :, :, c], k[:, :, c, f], padding)
                                   for c in range(3))
    np.testing.assert_allclose(B.conv2d(x, k, padding=padding), want, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 4),
       f=st.integers(1, 3), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]))
def test_conv2d_and_its_adjoints_on_random_shapes(n, h, w, c, f, kh, kw, sh, sw, padding):
    if padding == "valid" and (kh > h or kw > w):
        return
    r = np.random.default_rng(n * 1000 + h * 100 + w)
    x, k = r.standard_normal((n, h, w, c)), r.standard_normal((kh, kw, c, f))
    y = B.conv2d(x, k, (sh, sw), padding)
    np.testing.assert_allclose(y, naive_conv(x, k, (sh, sw), padding), atol=1e-12)
    # the backprop kernels are the adjoints: <conv(x, k), g> = <x, I(g, k)> = <k, K(x, g)>
    g = r.standard_normal(y.shape)
    be = B.get_backend()
    dx = be.conv2d_backprop_input(g, k, x.shape, (sh, sw), padding)
    dk = be.conv2d_backprop_kernel(x, g, k.shape, (sh, sw), padding)
    assert np.vdot(y, g) == pytest.approx(np.vdot(x, dx)) == pytest.approx(np.vdot(k, dk))
    # im2col, then one matrix product, is the same convolution; col2im is its adjoint
    cols = B.im2col(x, (kh, kw), (sh, sw), padding)
    np.testing.assert_allclose(cols @ k.reshape(-1, f), y.reshape(-1, f), atol=1e-12)
    cg = r.standard_normal(cols.shape)
    back = B.col2im(cg, x.shape, (kh, kw), (sh, sw), padding)
    assert np.vdot(cols, cg) == pytest.approx(np.vdot(x, back))


def test_both_ways_of_backprop_input_agree():
    """Unit strides use a correlation with the flipped kernel, other strides (and c < f)
    the scatter of g @ kernel^T; both are the same adjoint."""
    x, k = randn(3, 8, 7, 5), randn(3, 2, 5, 4)
    for padding in ("valid", "same"):
        geo = NB.window(x.shape, (3, 2), (1, 1), padding)
        g = randn(3, geo.ho, geo.wo, 4)
        a = B.get_backend().conv2d_backprop_input(g, k, x.shape, (1, 1), padding)
        b = NB._transpose_correlate(g, k, x.shape, geo)
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_many_images_go_through_several_chunks(monkeypatch):
    monkeypatch.setattr(NB, "CHUNK_BYTES", 1000)  # a few images per chunk
    x, k = randn(7, 6, 6, 3), randn(3, 3, 3, 2)
    for padding in ("valid", "same"):
        y = B.conv2d(x, k, padding=padding)
        np.testing.assert_allclose(y, naive_conv(x, k, padding=padding), atol=1e-12)
        g = randn(*y.shape)
        _, pull = adkit.vjp(lambda x, k: B.conv2d(x, k, padding=padding), x, k)
        dx, dk = pull(g)
        assert np.vdot(y, g) == pytest.approx(np.vdot(x, dx)) == pytest.approx(np.vdot(k, dk))
        cols = B.im2col(x, (3, 3), padding=padding)
        np.testing.assert_allclose(cols @ k.reshape(-1, 2), y.reshape(-1, 2), atol=1e-12)
        c = randn(*cols.shape)
        assert np.vdot(cols, c) == pytest.approx(
            np.vdot(x, B.col2im(c, x.shape, (3, 3), padding=padding)))


def _conv_and_adjoints(x, k, g, strides, padding):
    be = B.get_backend()
    return (be.conv2d(x, k, strides, padding),
            be.conv2d_backprop_input(g, k, x.shape, strides, padding),
            be.conv2d_backprop_kernel(x, g, k.shape, strides, padding))


@pytest.mark.parametrize("strides, padding", GEOMETRIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_narrow_inputs_take_transposed_patches_with_the_same_answers(monkeypatch, strides,
                                                                     padding, channels):
    """Inputs with few channels use (kh*kw*C, rows) patches; every image through either
    layout, in one chunk or several, gives the naive loops' answer."""
    r = np.random.default_rng(channels)   # its own draws: the module's rng feeds later tests
    x, k = r.standard_normal((5, 8, 7, channels)), r.standard_normal((3, 2, channels, 4))
    y = naive_conv(x, k, strides, padding)
    g = r.standard_normal(y.shape)
    answers = []
    for narrow, chunk in [(99, NB.CHUNK_BYTES), (0, NB.CHUNK_BYTES), (99, 1000)]:
        monkeypatch.setattr(NB, "NARROW_CHANNELS", narrow)
        monkeypatch.setattr(NB, "CHUNK_BYTES", chunk)
        answers.append(_conv_and_adjoints(x, k, g, strides, padding))
        np.testing.assert_allclose(answers[-1][0], y, rtol=1e-12, atol=1e-12)
    for got in answers[1:]:
        for a, b in zip(answers[0], got):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 8])
def test_float32_convolutions_agree_with_float64(channels):
    """The float32 kernels (either patch layout, several chunks) to 1e-5 of float64."""
    r = np.random.default_rng(channels)
    x, k = r.standard_normal((9, 12, 11, channels)), r.standard_normal((3, 3, channels, 6))
    g = r.standard_normal((9, 10, 9, 6))
    want = _conv_and_adjoints(x, k, g, (1, 1), "valid")
    got = _conv_and_adjoints(*(a.astype(np.float32) for a in (x, k, g)), (1, 1), "valid")
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize("strides, padding", GEOMETRIES)
@pytest.mark.parametrize("channels", [1, 5])
def test_conv2d_with_bias_adds_it_to_every_position(monkeypatch, strides, padding, channels):
    r = np.random.default_rng(channels)
    x, k = r.standard_normal((5, 8, 7, channels)), r.standard_normal((3, 2, channels, 4))
    b = r.standard_normal(4)
    want = naive_conv(x, k, strides, padding) + b
    monkeypatch.setattr(NB, "CHUNK_BYTES", 1000)   # several chunks, each gets the bias
    np.testing.assert_allclose(B.conv2d(x, k, strides, padding, bias=b), want,
                               rtol=1e-12, atol=1e-12)
    got = B.conv2d(*(a.astype(np.float32) for a in (x, k)), strides, padding,
                   bias=b.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_with_bias_derivatives(padding):
    r = np.random.default_rng(5)   # its own draws: the module's rng feeds later tests
    x, k, b = r.standard_normal((2, 4, 4, 2)), r.standard_normal((3, 2, 2, 3)), r.standard_normal(3)
    adkit.check_grads(lambda x, k, b: np.sin(B.conv2d(x, k, (2, 1), padding, bias=b)),
                      (x, k, b), modes=MODES)
    adkit.check_grads(lambda x, k, b: np.sum(np.sin(B.conv2d(x, k, 1, padding, bias=b)) ** 2),
                      (x[:1, :3, :3], k[:2], b), modes=MODES, order=2)


def test_conv2d_with_bias_is_one_tape_node_and_other_backends_keep_their_conv2d():
    r = np.random.default_rng(6)
    x, k, b = r.standard_normal((2, 5, 5, 1)), r.standard_normal((3, 3, 1, 4)), r.standard_normal(4)
    with adkit.reverse.Tape() as tape:
        kv, bv = tape.watch(k), tape.watch(b)
        y = np.sum(B.conv2d(x, kv, bias=bv))
    assert [n.prim.name for n in tape.entries[2:]] == ["_conv2d_bias", "sum"]

    class OwnConv(NB.NumpyBackend):   # as the OpenCL backend: its own conv2d kernel
        calls = 0

        def conv2d(self, *args):
            OwnConv.calls += 1
            return super().conv2d(*args)

    with B.activate(OwnConv()):
        got = B.conv2d(x, k, bias=b)
    assert OwnConv.calls == 1
    np.testing.assert_allclose(got, naive_conv(x, k) + b, atol=1e-12)


@pytest.mark.parametrize("strides, padding", GEOMETRIES)
@pytest.mark.parametrize("channels", [1, 5])
def test_conv2d_with_bias_and_relu_in_one_pass(monkeypatch, strides, padding, channels):
    r = np.random.default_rng(10 + channels)
    x, k = r.standard_normal((5, 8, 7, channels)), r.standard_normal((3, 2, channels, 4))
    b = r.standard_normal(4)
    want = np.maximum(naive_conv(x, k, strides, padding) + b, 0)
    assert 0 < np.mean(want == 0) < 1
    monkeypatch.setattr(NB, "CHUNK_BYTES", 1000)   # several chunks, each gets its relu
    np.testing.assert_allclose(B.conv2d(x, k, strides, padding, bias=b, activation="relu"),
                               want, rtol=1e-12, atol=1e-12)
    x32, k32, b32 = (a.astype(np.float32) for a in (x, k, b))
    got = B.conv2d(x32, k32, strides, padding, bias=b32, activation="relu")
    assert got.dtype == np.float32
    # the same bits as conv2d + bias, then relu
    np.testing.assert_array_equal(got, B.relu(B.conv2d(x32, k32, strides, padding, bias=b32)))
    monkeypatch.setattr(NB, "PARALLEL_BYTES", 0)   # parts of the batch on threads
    np.testing.assert_array_equal(got, B.conv2d(x32, k32, strides, padding, bias=b32,
                                                activation="relu"))
    # without a bias, a conv2d node and a relu node
    np.testing.assert_allclose(B.conv2d(x, k, strides, padding, activation="relu"),
                               np.maximum(naive_conv(x, k, strides, padding), 0), atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_with_bias_and_relu_derivatives(padding):
    def f(x, k, b, strides=(2, 1)):
        return np.sin(B.conv2d(x, k, strides, padding, bias=b, activation="relu"))

    def away_from_the_kink(seed, shapes, strides):
        # finite differences across relu's kink would disagree with any exact derivative
        r = np.random.default_rng(seed)
        while True:
            x, k, b = (r.standard_normal(s) for s in shapes)
            if np.abs(B.conv2d(x, k, strides, padding, bias=b)).min() > 0.05:
                return x, k, b

    adkit.check_grads(f, away_from_the_kink(7, [(2, 4, 4, 2), (3, 2, 2, 3), 3], (2, 1)),
                      modes=MODES)
    adkit.check_grads(lambda x, k, b: np.sum(f(x, k, b, 1) ** 2),
                      away_from_the_kink(8, [(1, 3, 3, 2), (2, 2, 2, 3), 3], 1),
                      modes=MODES, order=2)


def test_conv2d_with_bias_and_relu_is_one_tape_node_and_one_mask_when_compiled():
    r = np.random.default_rng(8)
    x, k, b = r.standard_normal((2, 5, 5, 2)), r.standard_normal((3, 3, 2, 4)), r.standard_normal(4)
    with adkit.reverse.Tape() as tape:
        xv, kv, bv = tape.watch(x), tape.watch(k), tape.watch(b)
        np.sum(B.conv2d(xv, kv, bias=bv, activation="relu"))
    assert [n.prim.name for n in tape.entries[3:]] == ["_conv2d_bias_relu", "sum"]
    # each argument's rule masks the cotangent; the compiled program masks it once
    step = adkit.compile(adkit.grad(
        lambda x, k, b: np.sum(np.sin(B.conv2d(x, k, bias=b, activation="relu"))),
        argnums=(0, 1, 2)))
    got = step(x, k, b)
    assert step.source(x, k, b).count("_relu_backward") == 1
    for a, want in zip(got, adkit.grad(lambda x, k, b: np.sum(np.sin(B.relu(
            B.conv2d(x, k, bias=b)))), argnums=(0, 1, 2))(x, k, b)):
        np.testing.assert_allclose(a, want, rtol=1e-10, atol=1e-12)


def test_conv2d_with_relu_on_a_backend_with_its_own_conv2d():
    class OwnConv(NB.NumpyBackend):   # as the OpenCL backend: its own conv2d kernel
        calls = 0

        def conv2d(self, *args):
            OwnConv.calls += 1
            return super().conv2d(*args)

    r = np.random.default_rng(9)
    x, k, b = r.standard_normal((2, 5, 5, 1)), r.standard_normal((3, 3, 1, 4)), r.standard_normal(4)
    with B.activate(OwnConv()):
        got = B.conv2d(x, k, bias=b, activation="relu")
    assert OwnConv.calls == 1
    np.testing.assert_allclose(got, np.maximum(naive_conv(x, k) + b, 0), atol=1e-12)


def test_parts_of_a_batch_in_parallel_threads_give_the_same_answers(monkeypatch):
    """Big convolutions split the batch over threads (when nn/blas.py can hold the
    BLAS to one thread meanwhile); force that on small ones and compare."""
    x, k = randn(5, 6, 7, 3), randn(3, 2, 3, 4)
    be = B.get_backend()
    for strides, padding in [((1, 1), "same"), ((2, 1), "valid")]:
        y = be.conv2d(x, k, strides, padding)
        g = randn(*y.shape)
        serial = (y, be.conv2d_backprop_input(g, k, x.shape, strides, padding),
                  be.conv2d_backprop_input(g[..., :2], k[..., :2], x.shape, strides, padding),
                  be.conv2d_backprop_kernel(x, g, k.shape, strides, padding))
        monkeypatch.setattr(NB, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(NB, "CHUNK_BYTES", 1000)
        parallel = (be.conv2d(x, k, strides, padding),
                    be.conv2d_backprop_input(g, k, x.shape, strides, padding),
                    be.conv2d_backprop_input(g[..., :2], k[..., :2], x.shape, strides, padding),
                    be.conv2d_backprop_kernel(x, g, k.shape, strides, padding))
        monkeypatch.undo()
        for a, b in zip(serial, parallel):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# --- convolution derivatives ------------------------------------------------------------


@pytest.mark.parametrize("strides, padding", GEOMETRIES[:4])
def test_conv2d_gradients(strides, padding):
    x, k = randn(2, 5, 4, 2), randn(3, 2, 2, 2)
    adkit.check_grads(lambda x, k: np.sin(B.conv2d(x, k, strides, padding)), (x, k),
                      modes=MODES)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_second_derivatives(padding):
    x, k = randn(1, 3, 3, 2), randn(2, 2, 2, 2)
    adkit.check_grads(lambda x, k: np.sum(np.sin(B.conv2d(x, k, 2, padding))), (x, k),
                      order=2, modes=MODES)


def test_backprop_kernels_are_differentiable():
    """The adjoints' own rules (needed by reverse-over-reverse and forward-over-reverse)."""
    x, k, g = randn(1, 4, 3, 2), randn(2, 2, 2, 2), randn(1, 3, 2, 2)
    be_in = lambda g, k: B._conv2d_backprop_input(  # noqa: E731
        g, k, x_shape=x.shape, strides=(1, 1), padding="valid")
    be_k = lambda x, g: B._conv2d_backprop_kernel(  # noqa: E731
        x, g, kernel_shape=k.shape, strides=(1, 1), padding="valid")
    adkit.check_grads(lambda g, k: np.sin(be_in(g, k)), (g, k), modes=MODES)
    adkit.check_grads(lambda x, g: np.sin(be_k(x, g)), (x, g), modes=MODES)


def test_im2col_col2im_gradients():
    x = randn(1, 4, 3, 2)
    adkit.check_grads(lambda x: np.sin(B.im2col(x, (2, 2), 1, "same")), (x,), modes=MODES)
    cols = randn(4, 8)
    adkit.check_grads(lambda c: np.sin(B.col2im(c, (1, 4, 3, 2), (2, 2), 2, "same")), (cols,),
                      modes=MODES, order=2)


def test_a_conv_layer_is_one_tape_node_and_data_is_never_scattered_back(monkeypatch):
    x, k = randn(2, 5, 5, 1, dtype=np.float32), randn(3, 3, 1, 4, dtype=np.float32)
    with adkit.reverse.Tape() as tape:
        kv = tape.watch(k)
        y = np.sum(B.conv2d(x, kv))
    assert [n.prim.name for n in tape.entries[1:]] == ["_conv2d", "sum"]

    def no(*args):
        raise AssertionError("backprop_input ran for an untraced input")
    monkeypatch.setattr(B.get_backend(), "conv2d_backprop_input", no)
    assert tape.gradient(y, kv).shape == k.shape
    assert adkit.grad(lambda k: np.sum(B.conv2d(x, k)))(k).dtype == np.float32


# --- pooling ----------------------------------------------------------------------------

POOLS = [((2, 2), None, "valid"), ((2, 2), None, "same"), ((3, 3), (2, 2), "valid"),
         ((3, 3), (1, 1), "same"), ((2, 3), (1, 2), "same"), ((3, 2), (3, 1), "valid")]


@pytest.mark.parametrize("pool, strides, padding", POOLS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_match_naive_loops_with_ties(pool, strides, padding, kind):
    x = np.round(randn(2, 7, 5, 3), 0)  # many ties (and odd sizes that Keras crops)
    op = B.max_pool2d if kind == "max" else B.avg_pool2d
    s = pool if strides is None else strides
    want, want_grad = naive_pool(x, pool, s, padding, kind)
    np.testing.assert_allclose(op(x, pool, strides, padding), want, atol=1e-12)
    if kind == "max":  # one window's gradient goes to ONE entry, the first maximum
        np.testing.assert_array_equal(
            adkit.grad(lambda x: np.sum(op(x, pool, strides, padding)))(x), want_grad)


def test_max_pool_gradient_of_equal_entries_goes_to_the_first():
    x = np.zeros((1, 4, 4, 1))
    g = adkit.grad(lambda x: np.sum(B.max_pool2d(x)))(x)[0, :, :, 0]
    np.testing.assert_array_equal(g, [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 3),
       ph=st.integers(1, 3), pw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), kind=st.sampled_from(["max", "avg"]))
def test_pools_on_random_shapes(n, h, w, c, ph, pw, sh, sw, padding, kind):
    if padding == "valid" and (ph > h or pw > w):
        return
    x = np.round(np.random.default_rng(h * 10 + w).standard_normal((n, h, w, c)), 1)
    op = B.max_pool2d if kind == "max" else B.avg_pool2d
    want, want_grad = naive_pool(x, (ph, pw), (sh, sw), padding, kind)
    np.testing.assert_allclose(op(x, (ph, pw), (sh, sw), padding), want, atol=1e-12)
    if kind == "max":
        np.testing.assert_array_equal(
            adkit.grad(lambda x: np.sum(op(x, (ph, pw), (sh, sw), padding)))(x), want_grad)
    else:  # the backward kernel is the forward's adjoint
        y = op(x, (ph, pw), (sh, sw), padding)
        g = np.random.default_rng(0).standard_normal(y.shape)
        dx = B.get_backend().avg_pool2d_backward(g, x.shape, (ph, pw), (sh, sw), padding)
        assert np.vdot(y, g) == pytest.approx(np.vdot(x, dx))


@pytest.mark.parametrize("pool, strides, padding", POOLS[:4])
@pytest.mark.parametrize("op", [B.max_pool2d, B.avg_pool2d])
def test_pool_gradients(pool, strides, padding, op):
    x = randn(1, 5, 4, 2)
    adkit.check_grads(lambda x: np.sin(op(x, pool, strides, padding)), (x,), modes=MODES)


@pytest.mark.parametrize("op", [B.max_pool2d, B.avg_pool2d])
@pytest.mark.parametrize("strides, padding", [(None, "valid"), ((1, 1), "same")])
def test_pool_second_derivatives(op, strides, padding):
    x = randn(1, 4, 3, 2)
    adkit.check_grads(lambda x: np.sum(np.sin(op(x, (2, 2), strides, padding)) ** 2), (x,),
                      order=2, modes=MODES)


# --- bias -------------------------------------------------------------------------------


def test_bias_add_values_and_derivatives():
    r = np.random.default_rng(3)
    y, b = r.standard_normal((2, 2, 3, 4)), r.standard_normal(4)
    np.testing.assert_array_equal(B.bias_add(y, b), y + b)
    adkit.check_grads(lambda y, b: np.sin(B.bias_add(y, b)), (y, b), modes=MODES, order=2)
    adkit.check_grads(lambda b: np.sum(np.sin(B.bias_add(y[0, 0], b)) ** 2), (b,),
                      modes=MODES, order=2)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_bias_grad_is_the_sum_over_all_but_the_channels(dtype, tol):
    r = np.random.default_rng(4)
    g = r.standard_normal((64, 13, 11, 7))
    be = B.get_backend()
    for cotangent in (g, g[:, ::2], np.broadcast_to(g[:1], g.shape), g[0, 0, 0]):
        want = cotangent.reshape(-1, 7).sum(axis=0)
        got = be.bias_grad(cotangent.astype(dtype))
        assert got.dtype == dtype and got.shape == (7,)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    assert adkit.grad(lambda b: np.sum(B.bias_add(g.astype(dtype), b)))(
        np.zeros(7, dtype)).dtype == dtype


def test_pools_and_relu_in_parts_of_the_batch_on_threads_give_the_same_answers(monkeypatch):
    """Large relu and max-pooling passes split the batch over the backend's threads; force
    that (three threads, a batch of five) on small ones and compare with one part."""
    r = np.random.default_rng(7)
    x = np.round(r.standard_normal((5, 7, 6, 3)), 0)   # ties, so the first maximum counts
    be = B.get_backend()

    def kernels():
        out = [be.relu(x), be.relu_backward(x + 0.5, be.relu(x))]
        for pool, strides, padding in POOLS:
            strides = strides or pool
            y = be.max_pool2d_forward(x, pool, strides, padding)
            argmax = be.max_pool2d_argmax(x, y, pool, strides, padding)
            out += [y, argmax, be.max_pool2d_backward(y + 1, argmax, x.shape, pool, strides,
                                                      padding)]
        return out

    serial = kernels()
    monkeypatch.setattr(NB, "THREADS", 3)
    monkeypatch.setattr(NB, "_pool", {})
    monkeypatch.setattr(NB, "PARALLEL_BYTES", 0)
    assert NB._parallel()[0] == 3 or NB.blas.threads() is None
    for a, b in zip(serial, kernels()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


# --- activations and losses ---------------------------------------------------------


def test_relu_values_and_derivatives():
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    np.testing.assert_array_equal(B.relu(x), [0, 0, 0, 1e-300, 3])
    np.testing.assert_array_equal(adkit.grad(lambda x: np.sum(B.relu(x)))(x), [0, 0, 0, 1, 1])
    x = randn(3, 4)
    adkit.check_grads(lambda x: B.relu(x) * np.sin(x), (x,), modes=MODES)
    adkit.check_grads(lambda x: np.sum(B.relu(x) * np.sin(x)), (x,), modes=MODES, order=2)


def test_softmax_and_log_softmax():
    x = randn(3, 5)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(B.softmax(x), e / e.sum(-1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(B.log_softmax(x, axis=0),
                               x - np.log(np.sum(np.exp(x), axis=0)), rtol=1e-13)
    for f in (B.softmax, B.log_softmax):
        adkit.check_grads(lambda x: f(x, axis=0) * x, (x,), modes=MODES)
        adkit.check_grads(lambda x: np.sum(np.sin(f(x))), (x,), modes=MODES, order=2)


def test_cross_entropies_match_the_textbook():
    z, labels = randn(6, 4), rng.integers(0, 4, 6)
    t = rng.random((6, 4))
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    np.testing.assert_allclose(B.softmax_cross_entropy(z, t), -np.sum(t * np.log(p), 1))
    np.testing.assert_allclose(B.sparse_softmax_cross_entropy(z, labels),
                               -np.log(p[np.arange(6), labels]))
    np.testing.assert_allclose(B.sparse_softmax_cross_entropy(z, labels[:, None] * 1.0),
                               -np.log(p[np.arange(6), labels]))
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(B.sigmoid_cross_entropy(z, t),
                               -t * np.log(s) - (1 - t) * np.log(1 - s))


def test_cross_entropy_derivatives_to_second_order():
    z, t, labels = randn(3, 4), rng.random((3, 4)), np.array([0, 3, 1])
    w = np.array([0.3, 1.0, 2.0])
    for order in (1, 2):
        adkit.check_grads(lambda z, t: np.sum(w * B.softmax_cross_entropy(z, t)), (z, t),
                          modes=MODES, order=order)
        adkit.check_grads(lambda z: np.sum(w * B.sparse_softmax_cross_entropy(z, labels)),
                          (z,), modes=MODES, order=order)
        adkit.check_grads(lambda z, t: np.sum(np.cos(z) * B.sigmoid_cross_entropy(z, t)),
                          (z, t), modes=MODES, order=order)


def test_cross_entropies_are_stable_at_huge_logits():
    for dtype in (np.float32, np.float64):
        z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype)
        t = np.array([[1.0, 0, 0], [1.0, 0, 0]], dtype)
        loss, g = adkit.value_and_grad(lambda z: np.sum(B.softmax_cross_entropy(z, t)))(z)
        assert loss.dtype == dtype and g.dtype == dtype
        np.testing.assert_allclose(B.softmax_cross_entropy(z, t), [0, 2e4 + np.log(2)])
        np.testing.assert_allclose(g, [[0, 0, 0], [-1, 0.5, 0.5]], atol=1e-6)
        np.testing.assert_allclose(B.sparse_softmax_cross_entropy(z, np.array([0, 2])),
                                   [0, np.log(2)], atol=1e-6)
        y = B.sigmoid_cross_entropy(z, t)
        np.testing.assert_allclose(y, [[0, 0, np.log(2)], [1e4, 1e4, 1e4]], rtol=1e-6)
        gs = adkit.grad(lambda z: np.sum(B.sigmoid_cross_entropy(z, t)))(z)
        np.testing.assert_allclose(gs, [[0, 0, 0.5], [-1, 1, 1]], atol=1e-6)
        assert y.dtype == dtype and gs.dtype == dtype


# --- the whole stack --------------------------------------------------------------------


def tiny_cnn(params, x, labels):
    k, w = params
    h = B.max_pool2d(B.relu(B.conv2d(x, k, padding="same")))
    return np.mean(B.sparse_softmax_cross_entropy(h.reshape(len(x), -1) @ w, labels))


def test_hessian_vector_products_through_a_cnn():
    x, labels = randn(2, 4, 4, 1), np.array([0, 2])
    params = (randn(3, 3, 1, 2), randn(8, 3))
    adkit.check_grads(tiny_cnn, (params, x, labels), argnums=0, modes=MODES, order=2)
    v = (randn(3, 3, 1, 2), randn(8, 3))
    hv = adkit.hvp(lambda p: tiny_cnn(p, x, labels), (params,), (v,))
    eps = 1e-5  # central difference of the gradient along v
    gp, gm = (adkit.grad(tiny_cnn)(tuple(p + s * eps * d for p, d in zip(params, v)), x, labels)
              for s in (1, -1))
    for a, b, c in zip(hv, gp, gm):
        np.testing.assert_allclose(a, (b - c) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_float32_stays_float32_everywhere():
    x, k = randn(2, 6, 6, 3, dtype=np.float32), randn(3, 3, 3, 4, dtype=np.float32)
    w = randn(36, 5, dtype=np.float32)
    labels = np.array([1, 4])
    t = np.eye(5, dtype=np.float32)[labels]

    def loss(k, w, x):
        h = B.avg_pool2d(B.max_pool2d(B.relu(B.conv2d(x, k, 1, "same")), 2, 1, "same"), 2)
        h = B.dropout(h, 0.25, np.random.default_rng(0)).reshape(2, -1)
        z = h @ w
        return (np.mean(B.softmax_cross_entropy(z, t)) + np.mean(B.sigmoid_cross_entropy(z, t))
                + np.mean(B.sparse_softmax_cross_entropy(z, labels))
                + np.sum(B.log_softmax(z) * B.softmax(z)))

    value, grads = adkit.value_and_grad(loss, argnums=(0, 1, 2))(k, w, x)
    assert value.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * 3
    for out in (B.conv2d(x, k, 2, "same"), B.im2col(x, 2), B.relu(x), B.max_pool2d(x),
                B.avg_pool2d(x, 3, 2, "same"), B.col2im(B.im2col(x, 3), x.shape, 3)):
        assert out.dtype == np.float32


def test_dropout():
    x = np.ones((200, 50), np.float32)
    y = B.dropout(x, 0.3, np.random.default_rng(1))
    assert y.dtype == np.float32 and set(np.unique(y)) == {0, np.float32(1 / 0.7)}
    assert abs(np.mean(y == 0) - 0.3) < 0.02
    np.testing.assert_array_equal(y, B.dropout(x, 0.3, np.random.default_rng(1)))
    assert B.dropout(x, 0.0, np.random.default_rng(1)) is x
    g = adkit.grad(lambda x: np.sum(B.dropout(x, 0.3, np.random.default_rng(1))))(x)
    np.testing.assert_array_equal(g, y)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        B.dropout(x, 1.0, np.random.default_rng(1))


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda: B.conv2d(np.ones((28, 28, 1)), np.ones((3, 3, 1, 4))),
     r"shape \(28, 28, 1\).*x\[None\]"),
    (lambda: B.conv2d(np.ones((1, 28, 28, 1)), np.ones((3, 3, 4))), r"kernel must have shape"),
    (lambda: B.conv2d(np.ones((1, 28, 28, 1)), np.ones((3, 3, 3, 8))),
     r"c_in=3.*\(1, 28, 28, 1\) has 1.*\(kh, kw, 1, c_out\)"),
    (lambda: B.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), padding="full"),
     r"padding must be 'valid' or 'same'"),
    (lambda: B.conv2d(np.ones((1, 2, 5, 1)), np.ones((3, 3, 1, 1))),
     r"3x3 kernel does not fit in x of shape \(1, 2, 5, 1\).*padding='same'"),
    (lambda: B.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), strides=0),
     r"strides must be a positive int"),
    (lambda: B.max_pool2d(np.ones((1, 3, 3, 2)), (4, 4)),
     r"4x4 pool does not fit in x of shape \(1, 3, 3, 2\).*at most 3x3"),
    (lambda: B.avg_pool2d(np.ones((3, 3, 2))), r"\(batch, height, width, channels\)"),
    (lambda: B.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), bias=np.ones((1, 2))),
     r"bias must have one entry per output channel, shape \(2,\).*got shape \(1, 2\)"),
    (lambda: B.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), activation="tanh"),
     r"activation must be None or 'relu', got 'tanh'; apply any other"),
    (lambda: B.bias_add(np.ones((2, 4, 3)), np.ones(4)),
     r"one entry per channel.*shape \(3,\) for y of shape \(2, 4, 3\); got shape \(4,\)"),
    (lambda: B.max_pool2d(np.ones((1, 3, 3, 2)), 2, padding="SAMEISH"), r"padding must be"),
    (lambda: B.softmax_cross_entropy(np.ones((2, 3)), np.ones((2, 4))),
     r"targets of shape \(2, 4\) do not match logits of shape \(2, 3\)"),
    (lambda: B.sparse_softmax_cross_entropy(np.ones((2, 3)), np.array([0, 3])),
     r"labels must lie in \[0, 3\)"),
    (lambda: B.sparse_softmax_cross_entropy(np.ones((2, 3)), np.array([0.5, 1])),
     r"integer class indices.*softmax_cross_entropy"),
    (lambda: B.sparse_softmax_cross_entropy(np.ones((2, 3)), np.array([0, 1, 2])),
     r"labels of shape \(3,\) do not match logits of shape \(2, 3\)"),
    (lambda: B.set_backend("opencl-typo"), r"unknown backend 'opencl-typo'.*'numpy'"),
])
def test_bad_input_says_what_and_how_to_fix(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_backend_selection():
    assert "numpy" in B.backends()
    assert B.set_backend("numpy") is B.get_backend()
    assert B.get_backend().name == "numpy"


def test_integer_targets_keep_float32_logits_float32():
    z, t = randn(4, 3, dtype=np.float32), np.eye(3, dtype=np.uint8)[[0, 2, 1, 1]]
    assert B.softmax_cross_entropy(z, t).dtype == np.float32
    assert B.sigmoid_cross_entropy(z, t).dtype == np.float32
    assert B.sparse_softmax_cross_entropy(z, np.array([0, 2, 1, 1])).dtype == np.float32


def test_blas_thread_limit_sets_and_restores():
    from adkit.nn import blas
    before = blas.threads()
    if before is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS found through /proc/self/maps")
    with blas.limited(1):
        assert blas.threads() == 1
        with blas.limited(1):          # nested: no change, and restores nothing early
            assert blas.threads() == 1
        assert blas.threads() == 1
    assert blas.threads() == before


@pytest.mark.parametrize("h, w, padding", [(4, 6, "valid"), (5, 7, "valid"), (5, 5, "same")])
def test_max_pool_gradient_is_zero_outside_every_window(h, w, padding):
    # windows that tile the images write every entry of the gradient; where they do not
    # (an odd row or column left over), the rest must be zeros, not an old buffer's bytes
    r = np.random.default_rng(11)   # its own draws: the module's rng feeds later tests
    for _ in range(3):   # fresh buffers from the allocator, maybe holding earlier values
        junk = np.full((64, 64), 7.0)   # noqa: F841  (leaves non-zero freed memory)
        del junk
        x = r.standard_normal((2, h, w, 3))
        got = adkit.grad(lambda v: np.sum(B.max_pool2d(v, (2, 2), padding=padding)))(x)
        np.testing.assert_array_equal(got, naive_pool(x, (2, 2), (2, 2), padding, "max")[1])
