"""Smoke tests for the textbook's basic listings redone with adkit: least squares,
losses and penalties, activations, and the automatic-differentiation traces.
Each runs the example's main() small and asserts the numbers the textbook prints."""

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from examples_support import load_example





least_squares = load_example("textbook_least_squares")
losses = load_example("textbook_losses")
activations = load_example("textbook_activations")
ad_traces = load_example("textbook_ad_traces")


def _printed(pattern, out):
    match = re.search(pattern, out)
    assert match, f"{pattern!r} not found in the output:\n{out}"
    return match.group(1)


def _png(path):
    assert path is not None, "no figure written (is matplotlib installed?)"
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


# --- examples/textbook_least_squares.py ---------------------------------------------------

@pytest.fixture(scope="module")
def least_squares_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("least_squares")
    result = least_squares.main(["--steps", "1000", "--n-lambdas", "8", "--out", str(out)])
    return result


def test_least_squares_under_and_over_fitting(least_squares_run):
    fits = least_squares_run["fits"]
    # Table 2-1: on seen data more degree fits better; on unseen data degree 2 wins.
    assert fits[8]["train_rmse"] < fits[2]["train_rmse"] < fits[1]["train_rmse"]
    assert fits[2]["valid_rmse"] < fits[1]["valid_rmse"]
    assert fits[2]["valid_rmse"] < fits[8]["valid_rmse"] / 5
    # Degree 2 is the signal's own form: its errors are the noise's size (0.1).
    assert 0.05 < fits[2]["train_rmse"] < 0.15 and 0.05 < fits[2]["valid_rmse"] < 0.15
    assert fits[1]["train_rmse"] > 0.3  # a line cannot follow the parabola


def test_least_squares_normal_equations_are_a_stationary_point(least_squares_run):
    for degree, fit in least_squares_run["fits"].items():
        assert fit["grad_rel"] < 1e-12, degree
    ridge = least_squares_run["ridge"]
    assert ridge["grad_rel_max"] < 1e-12
    # The prose's "- lambda I" is no minimum: the gradient there is far from zero.
    assert ridge["minus_sign_grad_rel"] > 1e-6


def test_least_squares_steepest_descent_reaches_the_well_conditioned_fits(least_squares_run):
    fits = least_squares_run["fits"]
    for degree in (1, 2):
        np.testing.assert_allclose(fits[degree]["descent_beta"], fits[degree]["beta"],
                                   rtol=0, atol=1e-6, err_msg=f"degree {degree}")
        losses_ = fits[degree]["descent_losses"]
        assert all(b <= a + 1e-12 for a, b in zip(losses_, losses_[1:]))  # step 1/L: no overshoot
    # Degree 8 is ill-conditioned: descent stops short, and generalises better for it.
    assert fits[8]["descent_train_rmse"] > fits[8]["train_rmse"]
    assert fits[8]["descent_valid_rmse"] < fits[8]["valid_rmse"]


def test_least_squares_ridge_curve_and_figure(least_squares_run):
    ridge = least_squares_run["ridge"]
    train = np.array(ridge["train_rmse"])
    assert len(train) == 8
    assert np.all(np.diff(train) >= -1e-12)  # more penalty never fits the training set better
    assert ridge["best_valid_rmse"] < least_squares_run["fits"][8]["valid_rmse"] / 5
    _png(least_squares_run["png"])


def test_least_squares_prints_the_books_lines(tmp_path, capsys):
    result = least_squares.main(["--steps", "1", "--n-lambdas", "1", "--ridge-terms", "10",
                                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    n = result["n_train"]
    for degree in (1, 2, 8):
        book = float(_printed(rf"Train RMSE \(Degree = {degree}\) (\S+)", out))
        assert book == pytest.approx(result["fits"][degree]["train_rmse"] * math.sqrt(n),
                                     abs=1e-6)


def test_least_squares_rejects_too_few_training_points(tmp_path):
    with pytest.raises(SystemExit):
        least_squares.main(["--n-train", "5", "--out", str(tmp_path)])


# --- examples/textbook_losses.py ----------------------------------------------------------

def test_losses_textbook_numbers(tmp_path, capsys):
    result = losses.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert round(result["binary_crossentropy"], 4) == 3.0581
    assert round(result["binary_crossentropy_keras"], 4) == 3.0581
    assert round(result["categorical_crossentropy"], 4) == 9.1643
    assert result["l1"] == 4.0 and result["l2"] == 10.0
    assert _printed(r"Binary Cross Entropy \[\[0.01,0.01,0.01\]\],\[\[0.99,0.99,0.01\]\]: (\S+)",
                    out).startswith("3.0581")
    assert _printed(r"Categorical Cross Entropy \S+: \[(\S+)\]", out) == "9.16428867"
    assert _printed(r"L1 Regularization: (\S+)", out) == "4.0"
    assert _printed(r"L2 Regularization: (\S+)", out) == "10.0"


def test_losses_keras_renormalises_and_squared_error_is_itself(tmp_path):
    result = losses.main(["--out", str(tmp_path)])
    # Keras divides the predictions by their sum (1/3 each): -1.99 log(1/3).
    assert result["categorical_crossentropy_keras"] == pytest.approx(1.99 * math.log(3), rel=1e-6)
    np.testing.assert_allclose(result["squared_error"], [[0.98 ** 2, 0.98 ** 2, 0.0]], atol=1e-12)
    assert result["mean_squared_error_keras"] == pytest.approx(2 * 0.98 ** 2 / 3)
    assert result["gradient_error"] < 1e-12
    np.testing.assert_array_equal(result["gradients"]["L1"], [[0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(result["gradients"]["L2"], [[0.0, 2.0, 6.0]])
    _png(result["png"])


# --- examples/textbook_activations.py -----------------------------------------------------

def test_activations_on_the_book_input(tmp_path, capsys):
    result = activations.main(["--points", "121", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    book = result["book"]
    e = math.e
    np.testing.assert_allclose(book["sigmoid"]["value"], [1 / (1 + e), 0.5, e / (1 + e)])
    np.testing.assert_allclose(book["tanh"]["value"], [-math.tanh(1), 0, math.tanh(1)])
    np.testing.assert_allclose(book["fast sigmoid"]["value"], [0.25, 0.5, 0.75])  # Theano's
    np.testing.assert_allclose(book["softplus"]["value"],
                               [math.log1p(1 / e), math.log(2), math.log1p(e)])
    np.testing.assert_allclose(book["relu"]["value"], [0, 0, 1])
    np.testing.assert_allclose(result["softmax"], np.exp([-1, 0, 1]) / np.sum(np.exp([-1, 0, 1])))
    # derivatives at -1, 0, 1 by adkit.grad
    s = 1 / (1 + e)
    np.testing.assert_allclose(book["sigmoid"]["adkit"], [s * (1 - s), 0.25, s * (1 - s)])
    np.testing.assert_allclose(book["fast sigmoid"]["adkit"], [0.375 / 1.5 ** 2, 0.375,
                                                               0.375 / 1.5 ** 2])
    np.testing.assert_allclose(book["softplus"]["adkit"], book["sigmoid"]["value"])
    np.testing.assert_allclose(book["relu"]["adkit"], [0, 0, 1])
    assert "soft max:    [0.09   0.2447 0.6652]" in out


def test_activations_adkit_matches_closed_forms_and_draws(tmp_path):
    result = activations.main(["--points", "121", "--out", str(tmp_path)])
    assert set(result["errors"]) == {"sigmoid", "tanh", "fast sigmoid", "hard sigmoid",
                                     "softplus", "relu", "softmax"}
    for name, err in result["errors"].items():
        assert err < 1e-12, name
    # softmax's Jacobian: rows sum to 0 (the outputs always sum to 1), symmetric
    jac = result["softmax_jacobian"]
    np.testing.assert_allclose(jac.sum(axis=1), 0, atol=1e-15)
    np.testing.assert_allclose(jac, jac.T, atol=1e-15)
    _png(result["png"])


# --- examples/textbook_ad_traces.py -------------------------------------------------------

def test_ad_traces_gradient_check(tmp_path, capsys):
    result = ad_traces.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert tuple(round(g, 3) for g in result["grad"]) == (0.447, 0.894)
    assert result["check_ok"] and "Gradient OK" in out
    for num, exact, err in zip(result["numeric_grad"], result["grad"], result["numeric_error"]):
        assert abs(num - exact) <= err < 1e-8  # the referee's error estimate bounds its error
    assert _printed(r"df/dx1: numeric grad (\d\.\d{3})", out) == "0.447"


def test_ad_traces_forward_table(tmp_path, capsys):
    result = ad_traces.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    rows = result["forward"]
    assert [r["entry"] for r in rows] == ["v0 = x1", "v1 = x2", "v2 = power(v0)",
                                          "v3 = power(v1)", "v4 = add(v2, v3)", "v5 = sqrt(v4)"]
    assert [r["value"] for r in rows[:5]] == [1, 2, 1, 4, 5]
    assert [r["tangent"] for r in rows[:5]] == [1, 0, 2, 0, 2]  # seed on x1
    last = rows[-1]
    assert (round(last["value"], 3), round(last["tangent"], 3)) == (2.236, 0.447)
    assert re.search(r"v5 = sqrt\(v4\)\s+2\.236068\s+0\.447214", out)


def test_ad_traces_reverse_table(tmp_path, capsys):
    result = ad_traces.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    rows = result["reverse"]
    assert rows[0]["entry"] == "v5 = sqrt(v4)" and rows[0]["adjoint"] == 1.0
    adjoint = {r["entry"].split(" =")[0]: r["adjoint"] for r in rows}
    np.testing.assert_allclose([adjoint["v4"], adjoint["v3"], adjoint["v2"]],
                               [1 / (2 * math.sqrt(5))] * 3)
    assert (round(adjoint["v1"], 3), round(adjoint["v0"], 3)) == (0.894, 0.447)
    # the sweep by hand over the tape agrees with adkit's own backward pass
    np.testing.assert_allclose((adjoint["v0"], adjoint["v1"]), result["tape_gradient"],
                               rtol=0, atol=1e-15)
    assert rows[-1]["entry"] == "v0 = x1"
    assert re.search(r"v0 = x1\s+1\.000000\s+0\.447214\s*$", out.split("Tape.gradient")[0])


def test_ad_traces_seed_on_x2_at_another_point(tmp_path):
    result = ad_traces.main(["--x1", "3", "--x2", "4", "--wrt", "x2", "--out", str(tmp_path)])
    assert [r["tangent"] for r in result["forward"]] == pytest.approx([0, 1, 0, 8, 8, 0.8])
    assert [r["adjoint"] for r in result["reverse"]][-2:] == pytest.approx([0.8, 0.6])


def test_ad_traces_graph_as_text_without_dot(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ad_traces.shutil, "which", lambda name: None)
    result = ad_traces.main(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    graph = result["graph"]
    assert graph["png"] is None
    dot = Path(graph["dot"]).read_text()
    assert dot.startswith("digraph") and "v4 -> v5;" in dot
    assert graph["edges"] == ["v0 (input x1) -> v2 (power)", "v1 (input x2) -> v3 (power)",
                              "v2 (power) -> v4 (add)", "v3 (power) -> v4 (add)",
                              "v4 (add) -> v5 (sqrt)"]
    for edge in graph["edges"]:
        assert edge in out


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot is not installed, so the graph is not rendered to PNG")
def test_ad_traces_graph_rendered_with_dot(tmp_path):
    result = ad_traces.main(["--out", str(tmp_path)])
    _png(result["graph"]["png"])


def test_ad_traces_rejects_the_origin(tmp_path):
    with pytest.raises(SystemExit):
        ad_traces.main(["--x1", "0", "--x2", "0", "--out", str(tmp_path)])
