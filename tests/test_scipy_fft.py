"""scipy.fft on traced values (adkit/rules/scipy_fft.py: a uarray backend sending traced calls
to numpy.fft's rules): every transform with a numpy.fft namesake, SciPy's extra arguments
(positional overwrite_x and workers, keyword workers) and every spelling, checked by
ruletest.check (every mode, second order, central differences of SciPy's own function), with
SciPy's values; plain calls still reach SciPy's backend."""

import numpy as np
import pytest

sf = pytest.importorskip("scipy.fft", reason="SciPy is not installed")
from scipy.fft import fft as fft_bound_at_import  # noqa: E402

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import check  # noqa: E402

X = np.random.RandomState(3).randn(8)


@pytest.mark.parametrize("fun", [
    lambda v: np.abs(fft_bound_at_import(v)) ** 2,
    lambda v: np.real(sf.ifft(v * 1j, norm="ortho")),
    lambda v: np.abs(sf.rfft(v, n=10)),
    lambda v: sf.irfft(sf.rfft(v) * np.arange(5), 8),
    lambda v: sf.hfft(v[:5] * (1 + 0.5j), 8),
    lambda v: np.imag(sf.ihfft(v)),
    lambda v: np.abs(sf.fft2(v.reshape(2, 4), axes=(0, 1), workers=2)),
    lambda v: np.real(sf.ifftn(v.reshape(2, 2, 2), s=(2, 2, 2))),
    lambda v: np.abs(sf.rfftn(v.reshape(2, 4), s=(2, 4), norm="forward")),
    lambda v: sf.irfft2(sf.rfft2(v.reshape(2, 4)), s=(2, 4)),
    lambda v: np.abs(sf.fft(v, 8, -1, "backward", False, 1)),
], ids=["fft-bound-at-import", "ifft-ortho", "rfft-n", "irfft", "hfft", "ihfft", "fft2-workers",
        "ifftn", "rfftn-forward", "irfft2", "fft-positional-extras"])
def test_transforms(fun):
    check(fun, X)
    out, _ = adkit.jvp(fun, (X,), (np.zeros(8),))
    np.testing.assert_allclose(out, fun(X), rtol=1e-12, atol=1e-13)


def test_helpers_and_plain_calls():
    g = adkit.grad(lambda v: np.sum(np.abs(sf.fftshift(sf.fft(v)))))(X)
    np.testing.assert_allclose(g, adkit.grad(lambda v: np.sum(np.abs(np.fft.fft(v))))(X),
                               rtol=1e-13)
    assert isinstance(sf.fft(X), np.ndarray)  # no traced value: SciPy's own backend


def test_transforms_without_a_rule_and_plans_are_refused_by_name():
    with pytest.raises(NoRuleError, match="scipy.fft.dct received a traced value"):
        adkit.grad(lambda v: np.sum(sf.dct(v)))(X)
    with pytest.raises(NoRuleError, match="plan="):
        adkit.grad(lambda v: np.sum(np.abs(sf.fft(v, plan=object()))))(X)
