"""scipy.stats called with the argument spellings real code uses: Python lists holding traced
values (`norm.pdf([x0, x1])`, `multivariate_normal.logpdf(x, mean=[0, 0], cov=[[...]])`),
keywords, frozen distributions. Each is checked in every mode to second order against
central differences of SciPy's own function (ruletest.check), and its value against SciPy's."""

import numpy as np
import pytest

st = pytest.importorskip("scipy.stats", reason="SciPy is not installed")

import adkit  # noqa: E402
from ruletest import check  # noqa: E402

V = np.array([0.3, -0.5, 1.2])
COV = [[2.0, 0.3], [0.3, 1.0]]


def _same_value(fun, *args):
    out, _ = adkit.jvp(fun, args, tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*args), rtol=1e-12)
    assert np.shape(out) == np.shape(fun(*args))


@pytest.mark.parametrize("fun", [
    lambda v: st.norm.pdf([v[0], 2.0 * v[1]]),
    lambda v: st.norm.logpdf([v[0], v[1]], loc=[0.1, v[2]], scale=(1.5, np.exp(v[2]))),
    lambda v: st.t.logpdf([v[0], v[1]], 3.5 + v[2] ** 2),
    lambda v: st.gamma.logpdf([np.exp(v[0]), 1.2], a=[2.0, 1.0 + v[2] ** 2]),
    lambda v: st.beta.logpdf([0.2, 0.4], [1.5 + v[0] ** 2, 2.0], 2.5),
    lambda v: st.poisson.logpmf([0, 2, 3], [np.exp(v[0]), np.exp(v[1]), 1.5]),
], ids=["norm.pdf", "norm.logpdf-loc-scale", "t.logpdf-df", "gamma.logpdf-a", "beta.logpdf-a",
        "poisson.logpmf-mu"])
def test_univariate_lists_holding_traced_values(fun):
    check(fun, V)
    _same_value(fun, V)


@pytest.mark.parametrize("fun", [
    lambda v: st.multivariate_normal.logpdf(v[:2], mean=[0.0, 0.0], cov=COV),
    lambda v: st.multivariate_normal.logpdf([0.1, 0.2], mean=[v[0], v[1]], cov=np.eye(2)),
    lambda v: st.multivariate_normal.pdf([[0.1, 0.2], [v[2], 1.0]], [v[0], 0.5], COV),
    lambda v: st.multivariate_normal(mean=[v[0], v[1]], cov=COV).logpdf([0.1, 0.2]),
    lambda v: st.multivariate_normal([0.0, 0.0], COV).logpdf([v[0], v[1]]),
    lambda v: st.multivariate_normal([0.5, 0.0], COV, allow_singular=True).pdf(
        np.stack([v[:2], v[1:]])),
    lambda v: st.dirichlet.logpdf([0.2, 0.3, 0.5], [np.exp(v[0]), 2.0, np.exp(v[2])]),
    lambda v: st.dirichlet([np.exp(v[0]), 2.0, 1.5]).logpdf([0.2, 0.3, 0.5]),
], ids=["mvn-x", "mvn-mean", "mvn-pdf-rows", "mvn-frozen-mean", "mvn-frozen-plain-x",
        "mvn-frozen-plain-rows",
        "dirichlet-alpha", "dirichlet-frozen"])
def test_multivariate_lists_holding_traced_values(fun):
    check(fun, V)
    _same_value(fun, V)


def test_a_list_mean_gives_scipys_shape_not_a_batch_of_one_dimensional_points():
    # the list mean sets the dimension (2): one 2-D point, a scalar log density
    got = adkit.value_and_grad(
        lambda v: st.multivariate_normal.logpdf(v[:2], mean=[0.0, 0.0], cov=COV))(V)
    want = st.multivariate_normal.logpdf(V[:2], mean=[0.0, 0.0], cov=COV)
    assert np.shape(got[0]) == np.shape(want) == ()
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    np.testing.assert_allclose(got[1][:2], -np.linalg.solve(np.array(COV), V[:2]), rtol=1e-12)
