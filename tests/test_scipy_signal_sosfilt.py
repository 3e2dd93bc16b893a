"""scipy.signal.sosfilt on traced values (SciPy's compiled cascade raised 'No matching
signature found'): a cascade of lfilter sections, differentiable in the input, the
coefficients (b0 b1 b2 a1 a2 of each row) and the delays zi, checked by ruletest.check
(every mode, second order, central differences of SciPy's own sosfilt), with SciPy's values;
sosfiltfilt, built on it, follows."""

import numpy as np
import pytest

signal = pytest.importorskip("scipy.signal", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit import numeric  # noqa: E402
from ruletest import check  # noqa: E402

SOS = signal.butter(4, 0.2, output="sos")
X = np.sin(np.arange(12.0) * 0.7)
ZI = signal.sosfilt_zi(SOS) * 0.3


def _with_unit_a0(coefficients):
    """An sos array from its free coefficients: SciPy requires a0 = 1 in column 3."""
    ones = np.ones((coefficients.shape[0], 1))
    return np.concatenate([coefficients[:, :3], ones, coefficients[:, 3:]], axis=1)


def test_in_the_input_and_the_coefficients():
    check(lambda x: signal.sosfilt(SOS, x), X)
    check(lambda c: signal.sosfilt(_with_unit_a0(c), X), np.delete(SOS, 3, axis=1),
          jacobians=False)


def test_with_initial_delays_and_an_axis():
    check(lambda x, zi: signal.sosfilt(SOS, x, zi=zi)[0], X, ZI, jacobians=False)
    check(lambda x, zi: signal.sosfilt(SOS, x, zi=zi)[1], X, ZI, jacobians=False)
    rows = np.stack([X, X[::-1]])
    zi_rows = np.stack([ZI, 0.5 * ZI], axis=1)
    for fun, args in ((lambda x: signal.sosfilt(SOS, x, axis=1, zi=zi_rows), (rows,)),
                      (lambda x: signal.sosfilt(SOS, x, axis=0), (rows.T,))):
        want = fun(*args)
        got, _ = adkit.jvp(fun, args, args)
        for w, g in zip(want if isinstance(want, tuple) else (want,),
                        got if isinstance(got, tuple) else (got,)):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_sosfiltfilt_follows():
    x = np.sin(np.arange(30.0) * 0.7)

    def energy(x):
        return np.sum(signal.sosfiltfilt(SOS, x) ** 2)
    np.testing.assert_allclose(adkit.grad(energy)(x), numeric.gradient(energy, x),
                               rtol=1e-6, atol=1e-8)


def test_bad_sections_get_scipys_errors():
    with pytest.raises(ValueError, match=r"shape \(n_sections, 6\)"):
        adkit.grad(lambda x: np.sum(signal.sosfilt(np.ones((2, 5)), x)))(X)
    with pytest.raises(ValueError, match="should be all ones"):
        adkit.grad(lambda x: np.sum(signal.sosfilt(2.0 * SOS, x)))(X)
