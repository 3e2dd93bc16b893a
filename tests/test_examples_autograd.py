"""Smoke tests for the examples rewritten from autograd 1.9.1's (gaussian_process, ica,
gaussian_mixture, ode_net):
their gradients against adkit.numeric, and their printed numbers against the ones
autograd itself reaches on the same data from the same start."""

import re

import numpy as np
import pytest

from examples_support import load_example

import adkit
from adkit import numeric

gaussian_process = load_example("gaussian_process")
gaussian_mixture = load_example("gaussian_mixture")
ica = load_example("ica")
ode_net = load_example("ode_net")

# autograd 1.9.1's ica.py model and data with CG stopped after 20 iterations
AUTOGRAD_ICA_AFTER_20 = -160.12871021047349


@pytest.fixture(autouse=True)
def _default_out_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _printed(pattern, out):
    match = re.search(pattern, out)
    assert match, f"{pattern!r} not found in the output:\n{out}"
    return match.group(1)


# --- examples/gaussian_process.py -------------------------------------------------------------

def test_gaussian_process_evidence_gradient_matches_differences():
    x, y = gaussian_process.make_data(12, 0.1, seed=3)
    params = np.array([0.1, -1.0, 0.2, -0.3])
    f = lambda p: gaussian_process.log_marginal_likelihood(p, x, y)  # noqa: E731
    np.testing.assert_allclose(adkit.grad(f)(params),
                               numeric.gradient(f, params, method="richardson"), rtol=1e-7)


def test_gaussian_process_reaches_autograds_log_likelihood(capsys, tmp_path):
    result = gaussian_process.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["log_likelihood"] == pytest.approx(
        gaussian_process.AUTOGRAD_FINAL_LOG_LIKELIHOOD, abs=1e-6)
    assert float(_printed(r"final log marginal likelihood (\S+)", out)) == pytest.approx(
        18.904905, abs=1e-6)
    assert result["history"][0] > float(_printed(r"start: log marginal likelihood (\S+)", out))
    if result["png"]:
        assert (tmp_path / "gaussian_process.png").stat().st_size > 0


def test_gaussian_process_posterior_interpolates_nearly_noise_free_data():
    x, y = gaussian_process.make_data(20, 0.01)
    fitted, _ = gaussian_process.fit(x, y, np.array([0.0, -4.0, 0.0, 0.0]))
    mean, _ = gaussian_process.predict(fitted.x, x, y, x)
    assert np.max(np.abs(mean - y)) < 0.05


# --- examples/ica.py --------------------------------------------------------------------------

def test_ica_likelihood_gradient_matches_differences():
    w = ica.true_weights(6)
    _, observed = ica.make_data(w, 5, 1.0, seed=4)
    params = np.random.RandomState(5).randn(6 * 2 + 2 * 5 + 1)
    f = lambda p: ica.log_likelihood(p, observed, 2)  # noqa: E731
    np.testing.assert_allclose(adkit.grad(f)(params), numeric.gradient(f, params), rtol=1e-6)


def test_student_t_logpdf_is_scipys():
    from scipy import stats
    x, loc, scale = np.array([-1.5, 0.2, 3.0]), np.array([0.1, 0.0, -1.0]), 0.7
    np.testing.assert_allclose(ica.student_t_logpdf(x, loc, scale),
                               stats.t.logpdf(x, ica.DF, loc, scale), rtol=1e-12)


def test_ica_follows_autograds_path(capsys, tmp_path):
    result = ica.main(["--iters", "20", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["log_likelihood"] == pytest.approx(AUTOGRAD_ICA_AFTER_20, abs=1e-6)
    assert result["start"] == pytest.approx(-396.8623175624496, abs=1e-9)
    assert "after 20 iterations" in out
    if result["png"]:
        assert (tmp_path / "ica.png").stat().st_size > 0


# --- examples/gaussian_mixture.py -------------------------------------------------------------

def test_mixture_gradient_and_hessian_vector_products_match_differences():
    data = gaussian_mixture.make_pinwheel(per_arm=4, seed=1)
    params = gaussian_mixture.init_params(2, seed=1) + 0.1 * np.random.RandomState(6).randn(14)
    f = lambda p: gaussian_mixture.log_likelihood(p, data, 2)  # noqa: E731
    np.testing.assert_allclose(adkit.grad(f)(params), numeric.gradient(f, params), rtol=1e-6)
    v = np.random.RandomState(7).randn(14)
    np.testing.assert_allclose(adkit.hvp(f, (params,), (v,)),
                               numeric.hessian(f, params, method="richardson") @ v,
                               rtol=1e-5, atol=1e-6)


def test_mixture_takes_autograds_first_newton_steps(capsys, tmp_path):
    result = gaussian_mixture.main(["--iters", "20", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["start"] == pytest.approx(-710.11135921, abs=1e-7)
    # autograd's numbers are kept to 5 decimals
    np.testing.assert_allclose(result["history"], gaussian_mixture.AUTOGRAD_FIRST_20, atol=1e-5)
    assert "20 Newton-CG iterations" in out
    if result["png"]:
        assert (tmp_path / "gaussian_mixture.png").stat().st_size > 0


# --- examples/ode_net.py ----------------------------------------------------------------------

def test_ode_net_gradient_through_odeint_matches_differences():
    # a small network, solved tightly: the adjoint's gradient against central differences
    t, target = ode_net.make_data(8, 0.5)
    (W1, b1), (W2, b2) = ode_net.init_params(hidden=4, scale=0.5, seed=1)

    def f(W1):
        pred = ode_net.odeint(ode_net.network_field, ode_net.Y0, t, args=([(W1, b1), (W2, b2)],),
                              rtol=1e-11, atol=1e-11)
        return np.mean((pred - target) ** 2)

    # a wide step: the solver's own error (~1e-11) divided by a small h would swamp the check
    np.testing.assert_allclose(adkit.grad(f)(W1), numeric.gradient(f, W1, h=1e-3), rtol=1e-6,
                               atol=1e-8)


def test_ode_net_follows_autograds_losses(capsys, tmp_path):
    result = ode_net.main(["--iters", "11", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    for i in (0, 10):
        assert result["history"][i] == pytest.approx(ode_net.AUTOGRAD_LOSSES[i], abs=1e-9)
    assert float(_printed(r"iteration   10  train loss (\S+)", out)) == pytest.approx(
        1.2383466241, abs=1e-10)
    assert result["loss"] < result["history"][0]
    if result["png"]:
        assert (tmp_path / "ode_net.png").stat().st_size > 0
