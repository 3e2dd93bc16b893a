"""scipy.signal's convolve2d, correlate2d, fftconvolve, oaconvolve and lfilter: every mode to
second order (ruletest.check: central differences of SciPy's own functions, and SymPy), values
and shapes equal to SciPy's for every mode and size, refusals by name."""

import numpy as np
import pytest

signal = pytest.importorskip("scipy.signal", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import R, check  # noqa: E402

MODES = ["full", "same", "valid"]
SHAPES = [((4, 3), (2, 2)), ((2, 2), (4, 3)), ((3, 3), (3, 3)), ((4, 5), (3, 2)),
          ((2, 5), (1, 3))]
TWO_D = [signal.convolve2d, signal.correlate2d]


@pytest.mark.parametrize("fn", TWO_D, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("s1,s2", SHAPES, ids=str)
def test_two_d(fn, mode, s1, s2):
    a, v = R(*s1, seed=71), R(*s2, seed=72)
    fun = lambda a, v: fn(a, v, mode)  # noqa: E731
    check(fun, a, v)
    out, _ = adkit.jvp(fun, (a, v), (a, v))
    np.testing.assert_allclose(out, fun(a, v), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", [signal.fftconvolve, signal.oaconvolve], ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("s1,s2", [((6,), (3,)), ((3,), (5,)), ((4, 3), (2, 2)),
                                   ((2, 3, 2), (2, 2, 1))], ids=str)
def test_fft_convolutions(fn, mode, s1, s2):
    a, v = R(*s1, seed=73), R(*s2, seed=74)
    fun = lambda a, v: fn(a, v, mode)  # noqa: E731
    check(fun, a, v)
    out, _ = adkit.jvp(fun, (a, v), (a, v))
    np.testing.assert_allclose(out, fun(a, v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", TWO_D + [signal.fftconvolve, signal.oaconvolve],
                         ids=lambda f: f.__name__)
def test_values_and_shapes_match_scipy_everywhere(fn):
    rng = np.random.RandomState(75)
    for s1 in [(5, 4), (3, 3), (2, 6), (1, 1)]:
        for s2 in [(2, 2), (3, 2), (1, 3), (4, 5), (6, 7), (5, 4)]:
            a, v = rng.randn(*s1), rng.randn(*s2)
            for mode in MODES:
                try:
                    want = fn(a, v, mode)
                except ValueError as err:
                    with pytest.raises(ValueError, match=str(err)[:20]):
                        adkit.jvp(lambda a: fn(a, v, mode), (a,), (a,))
                    continue
                got = adkit.jvp(lambda a, v: fn(a, v, mode), (a, v), (a, v))[0]
                assert got.shape == want.shape, (s1, s2, mode)
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_two_d_refuses_other_boundaries_by_name():
    a, v = R(3, 3), R(2, 2)
    for fn in TWO_D:
        with pytest.raises(NoRuleError, match=r"boundary='wrap'.*np.pad"):
            adkit.grad(lambda a: np.sum(fn(a, v, boundary="wrap")))(a)
        with pytest.raises(NoRuleError, match="fillvalue=1.5"):
            adkit.grad(lambda a: np.sum(fn(a, v, fillvalue=1.5)))(a)
        with pytest.raises(ValueError, match="2-D"):
            adkit.grad(lambda a: np.sum(fn(a, v)))(R(3))
    with pytest.raises(NoRuleError, match="axes="):
        adkit.grad(lambda a: np.sum(signal.fftconvolve(a, v, axes=1)))(a)
    g = adkit.grad(lambda a: np.sum(signal.fftconvolve(a, v, axes=(0, 1))))(a)  # every axis
    np.testing.assert_allclose(g, adkit.grad(lambda a: np.sum(signal.convolve(a, v)))(a))


# --- lfilter --------------------------------------------------------------------------------

B = np.array([0.5, 0.3, -0.2])
A = np.array([1.2, -0.4, 0.1])  # poles inside the unit circle


@pytest.mark.parametrize("fun,args", [
    (lambda b, a, x: signal.lfilter(b, a, x), (B, A, R(6, seed=76))),
    (lambda b, a, x: signal.lfilter(b, a, x, axis=0), (B, A, R(4, 2, seed=77))),
    (lambda b, a, x: signal.lfilter(b, a, x), (B[:2], A, R(2, 5, seed=78))),
    (lambda b, x: signal.lfilter(b, 1.0, x), (B, R(5, seed=79))),          # FIR
    (lambda a, x: signal.lfilter([1.0], a, x), (A[:2], R(5, seed=80))),     # all-pole
    (lambda x: signal.lfilter(B, A, x), (R(2, 3, 4, seed=81),)),
    (lambda b, a, x: signal.lfilter(b, a, x), (R(5, seed=82), A[:2], R(3, seed=83))),
], ids=["iir", "axis 0", "batched", "fir", "all-pole", "3-d", "long b short x"])
def test_lfilter(fun, args):
    check(fun, *args)
    out, _ = adkit.jvp(fun, args, args)
    np.testing.assert_allclose(out, fun(*args), rtol=1e-12, atol=1e-14)


def test_lfilter_gradient_in_x_is_the_time_reversed_filter():
    x, g = R(7, seed=84), R(7, seed=85)
    _, pull = adkit.vjp(lambda x: signal.lfilter(B, A, x), x)
    np.testing.assert_allclose(pull(g)[0], signal.lfilter(B, A, g[::-1])[::-1], rtol=1e-12)
    # and the filter matrix's transpose, built column by column
    matrix = np.stack([signal.lfilter(B, A, e) for e in np.eye(7)], axis=1)
    np.testing.assert_allclose(pull(g)[0], matrix.T @ g, rtol=1e-12)


@pytest.mark.parametrize("fun,args", [
    (lambda b, a, x, zi: np.concatenate(signal.lfilter(b, a, x, zi=zi)),
     (B, A, R(5, seed=86), R(2, seed=87))),
    (lambda b, a, x, zi: np.concatenate(signal.lfilter(b, a, x, zi=zi)),
     (B, A[:2], R(1, seed=88), R(2, seed=89))),  # fewer samples than delays
    (lambda a, x, zi: np.concatenate(signal.lfilter(B[:2], a, x, axis=0, zi=zi), axis=0),
     (A, R(4, 2, seed=90), R(2, 2, seed=91))),
    (lambda b, a: signal.lfilter_zi(b, a), (B, A)),
    (lambda b, a, x: signal.filtfilt(b, a, x), (B, A, R(12, seed=92))),
], ids=["zi", "zi short x", "zi axis 0", "lfilter_zi", "filtfilt"])
def test_lfilter_initial_state_and_filtfilt(fun, args):
    check(fun, *args)
    np.testing.assert_allclose(adkit.jvp(fun, args, args)[0], fun(*args), rtol=1e-12,
                               atol=1e-14)


def test_lfilter_with_zi_returns_scipys_pair():
    x, zi = R(2, 6, seed=93), R(2, 2, seed=94)
    want = signal.lfilter(B, A, x, zi=zi)
    got = adkit.jvp(lambda x, zi: list(signal.lfilter(B, A, x, zi=zi)), (x, zi), (x, zi))[0]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    with pytest.raises(ValueError, match="Unexpected shape for zi"):
        adkit.grad(lambda x: np.sum(signal.lfilter(B, A, x, zi=np.zeros(3))[0]))(R(5))


def test_lfilter_refuses_bad_coefficients():
    with pytest.raises(ValueError, match="1-D"):
        adkit.grad(lambda x: np.sum(signal.lfilter(np.ones((2, 2)), A, x)))(R(5))
