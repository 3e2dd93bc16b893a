"""numpy.fft: every transform with n/s, axis/axes and norm, odd and even lengths, 1-D to 3-D,
complex intermediates and compositions, in every mode and to second order."""

import numpy as np
import pytest
from ruletest import R, check

import adkit

NORMS = [None, "backward", "ortho", "forward"]


def cplx(fn, *args, **kwargs):
    """fn of the complex value x + iy built from two real arguments."""
    return lambda x, y: fn(x + 1j * y, *args, **kwargs)


# --- one axis --------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["fft", "ifft"])
@pytest.mark.parametrize("m,n", [(6, None), (7, None), (6, 9), (7, 4), (5, 5)])
def test_c2c_1d(name, m, n, norm):
    fn = getattr(np.fft, name)
    check(lambda x: fn(x, n=n, norm=norm), R(m))
    check(cplx(fn, n=n, norm=norm), R(m), R(m))


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "ihfft"])
@pytest.mark.parametrize("axis,n", [(0, None), (1, 6), (-1, 3), (-2, 5)])
def test_real_input_along_an_axis_of_2d(name, axis, n):
    fn = getattr(np.fft, name)
    check(lambda x: fn(x, n=n, axis=axis, norm="ortho"), R(4, 5))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(8, None), (7, None), (6, 9), (7, 4), (9, 2), (1, None)])
def test_rfft(m, n, norm):
    check(lambda x: np.fft.rfft(x, n=n, norm=norm), R(m))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(5, None), (4, None), (5, 7), (5, 8), (6, 4), (4, 9), (2, 1)])
def test_irfft(m, n, norm):
    check(cplx(np.fft.irfft, n=n, norm=norm), R(m), R(m))
    check(lambda x: np.fft.irfft(x, n=n, norm=norm), R(m))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(5, None), (4, 7), (6, 4), (3, 5)])
def test_hfft(m, n, norm):
    check(cplx(np.fft.hfft, n=n, norm=norm), R(m), R(m))
    check(lambda x: np.fft.hfft(x, n=n, norm=norm), R(m))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(8, None), (7, None), (6, 9), (7, 4)])
def test_ihfft(m, n, norm):
    check(lambda x: np.fft.ihfft(x, n=n, norm=norm), R(m))


def test_along_axes_of_3d():
    x = R(3, 4, 5)
    check(lambda x: np.fft.fft(x, axis=1), x)
    check(lambda x: np.fft.rfft(x, n=4, axis=0), x)
    check(cplx(np.fft.irfft, n=5, axis=1, norm="forward"), R(2, 3, 4), R(2, 3, 4))
    check(cplx(np.fft.ifft, n=3, axis=-1), R(2, 3, 4), R(2, 3, 4))


# --- several axes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["fft2", "ifft2", "fftn", "ifftn"])
def test_c2c_nd(name, norm):
    fn = getattr(np.fft, name)
    check(lambda x: fn(x, norm=norm), R(3, 4))
    check(cplx(fn, norm=norm), R(3, 4), R(3, 4))


@pytest.mark.filterwarnings("ignore:`axes` should not be `None`:DeprecationWarning")
@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn"])
@pytest.mark.parametrize("s,axes", [
    (None, None), (None, (0, 2)), ((3, 4), (2, 0)), ((5, 2, 3), None), ((4, -1), (1, 2)),
    (None, (-1,)), ((2, 3), (1, 1))])
def test_nd_sizes_and_axes(name, s, axes):
    fn = getattr(np.fft, name)
    x = R(2, 3, 4)
    check(lambda x: fn(x, s=s, axes=axes, norm="ortho"), x)
    if name != "rfftn":
        check(cplx(fn, s=s, axes=axes), x, R(2, 3, 4), order=1)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("shape,s", [((4, 6), None), ((3, 5), None), ((4, 5), (5, 3)),
                                     ((3, 4), (2, 7))])
def test_rfft2_irfft2(shape, s, norm):
    check(lambda x: np.fft.rfft2(x, s=s, norm=norm), R(*shape))
    check(cplx(np.fft.irfft2, s=s, norm=norm), R(*shape), R(*shape))


def test_2d_along_other_axes_of_3d():
    x = R(3, 4, 5)
    check(lambda x: np.fft.fft2(x, axes=(0, 2)), x)
    check(lambda x: np.fft.rfft2(x, s=(2, 6), axes=(1, 0)), x)
    check(cplx(np.fft.irfft2, axes=(0, 1)), x, R(3, 4, 5), order=1)


# --- shifts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
@pytest.mark.parametrize("axes", [None, 0, (1,), (-1, 0)])
def test_shifts(name, axes):
    fn = getattr(np.fft, name)
    check(lambda x: fn(x, axes=axes), R(3, 4))
    check(lambda x: fn(np.fft.fft2(x), axes=axes), R(3, 5))
    check(lambda x: fn(x), R(5))


# --- compositions --------------------------------------------------------------------------------

def test_power_spectrum_and_parseval():
    check(lambda x: np.abs(np.fft.fft(x)) ** 2, R(7))
    check(lambda x: np.abs(np.fft.rfft2(x, norm="ortho")) ** 2, R(4, 5))
    x = R(9)
    g = adkit.grad(lambda x: np.sum(np.abs(np.fft.fft(x, norm="ortho")) ** 2))(x)
    np.testing.assert_allclose(g, 2 * x)  # Parseval: the ortho transform is unitary


@pytest.mark.parametrize("m", [8, 9])
def test_filtering(m):
    filt = np.exp(-np.arange(m // 2 + 1) / 2.0)
    check(lambda x: np.fft.irfft(np.fft.rfft(x) * filt, n=m), R(m))
    check(lambda x, f: np.fft.irfft(np.fft.rfft(x) * f, n=m), R(m), filt)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_is_the_dft_matrix(mode):
    n = 5
    dft = np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)
    np.testing.assert_allclose(adkit.jacobian(np.fft.fft, mode=mode)(R(n)), dft, atol=1e-12)
    np.testing.assert_allclose(adkit.jacobian(np.fft.rfft, mode=mode)(R(n)), dft[:3], atol=1e-12)
    np.testing.assert_allclose(adkit.jacobian(lambda x: np.fft.ifft(x, norm="ortho"), mode=mode)(
        R(n)), np.conj(dft) / np.sqrt(n), atol=1e-12)


def test_roundtrips_are_the_identity():
    for x in (R(6), R(7)):
        jac = adkit.jacobian(lambda x: np.fft.irfft(np.fft.rfft(x), n=x.size))(x)
        np.testing.assert_allclose(jac, np.eye(x.size), atol=1e-12)
        jac = adkit.jacobian(lambda x: np.real(np.fft.ifft(np.fft.fft(x))), mode="forward")(x)
        np.testing.assert_allclose(jac, np.eye(x.size), atol=1e-12)


def test_convolution_and_nonlinear_spectra():
    k = R(5)
    check(lambda x: np.fft.irfft(np.fft.rfft(x, 12) * np.fft.rfft(k, 12), 12), R(8))
    check(lambda x, k: np.fft.ifft(np.fft.fft(x, 8) * np.fft.fft(k, 8)).real, R(5), R(4))
    check(lambda x: np.angle(np.fft.fft(x)[1:3]), R(6))
    check(lambda x: np.real(np.fft.ifftn(np.exp(0.3j * np.fft.fftn(x)))), R(2, 3, 2))
    check(lambda x: np.fft.hfft(np.fft.ihfft(x) ** 2, n=x.size), R(7))
    check(lambda x: np.fft.fftshift(np.abs(np.fft.fft2(np.sin(x), s=(4, 4))))[1:3], R(3, 3))


def test_fftfreq_is_plain_and_spacing_flows_through():
    freqs = np.fft.fftfreq(6, 0.5)
    g = adkit.grad(lambda d: np.sum(np.fft.fftfreq(6, d) * freqs))(0.5)
    np.testing.assert_allclose(g, -np.sum(freqs ** 2) / 0.5)
    check(lambda x, d: np.fft.ifft(np.fft.fft(x) * np.fft.rfftfreq(8, d)[:5]), R(5), 0.3)


# --- dtypes and errors ---------------------------------------------------------------------------

def test_float32_stays_single_precision():
    x = R(6).astype(np.float32)
    seen = []

    def f(x):
        y = np.fft.rfft(x)
        z = np.fft.irfft(y * np.fft.fft(x)[:4], n=6)
        seen.append((y.dtype, z.dtype))
        return np.sum(z ** 2) + np.sum(np.abs(np.fft.fft2(np.reshape(x, (2, 3)))))
    g = adkit.grad(f)(x)
    gf = adkit.jacobian(f, mode="forward")(x)
    assert g.dtype == gf.dtype == np.float32
    assert set(seen) == {(np.dtype(np.complex64), np.dtype(np.float32))}
    np.testing.assert_allclose(g, gf, rtol=1e-4)
    np.testing.assert_allclose(g, adkit.grad(f)(x.astype(float)), rtol=1e-3)


def test_values_match_numpy():
    x = R(3, 4, 5)
    for fn, kw in [(np.fft.fftn, dict(s=(2, 5), axes=(0, 2))), (np.fft.rfftn, {}),
                   (np.fft.irfftn, dict(s=(3, 7), axes=(0, 2))), (np.fft.hfft, dict(n=6, axis=1)),
                   (np.fft.ihfft, dict(norm="forward")), (np.fft.ifft2, dict(norm="ortho")),
                   (np.fft.fftshift, dict(axes=1))]:
        out = adkit.jvp(lambda x: fn(x, **kw), (x,), (x,))[0]
        np.testing.assert_allclose(out, fn(x, **kw), atol=1e-12)


def test_bad_arguments():
    x = R(4)
    with pytest.raises(ValueError, match="norm"):
        adkit.grad(lambda x: np.sum(np.abs(np.fft.fft(x, norm="bad"))))(x)
    with pytest.raises(TypeError, match="out="):
        adkit.grad(lambda x: np.sum(np.fft.rfft(x, out=np.empty(3, complex)).real))(x)
    with pytest.raises(ValueError, match="different lengths"):
        adkit.grad(lambda x: np.sum(np.fft.fftn(x, s=(2, 2), axes=(0,)).real))(x)
    with pytest.raises(ValueError):
        adkit.grad(lambda x: np.sum(np.fft.fft(x, n=0).real))(x)
