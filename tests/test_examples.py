"""Smoke tests for examples/: each example's main() runs small and fast, and its
printed numbers are the ones the textbook gives (or the training it shows works)."""

import re
import subprocess
import sys

import numpy as np
import pytest

from examples_support import EXAMPLES, load_example

import adkit

sqrt_norm = load_example("sqrt_norm")
logistic_regression = load_example("logistic_regression")
two_layer_regression = load_example("two_layer_regression")


@pytest.fixture(autouse=True)
def _default_out_in_a_temporary_folder(tmp_path, monkeypatch):
    """Runs without --out write under runs/examples/ of the current folder: make it a
    temporary one, not the checkout."""
    monkeypatch.chdir(tmp_path)


def _printed(pattern, out):
    match = re.search(pattern, out)
    assert match, f"{pattern!r} not found in the output:\n{out}"
    return match.group(1)


# --- examples/sqrt_norm.py ----------------------------------------------------------------

def test_sqrt_norm_prints_the_textbook_numbers(capsys):
    result = sqrt_norm.main([])
    out = capsys.readouterr().out
    # The textbook's f(1, 2), grad(f, 0)(1, 2) and grad(f, 1)(1, 2), called with ints.
    assert _printed(r"f\(1, 2\)\s*= (\S+)", out) == "2.236"
    assert _printed(r"grad\(f, 0\)\(1, 2\)\s*= (\S+)", out) == "0.447"
    assert _printed(r"grad\(f, 1\)\(1, 2\)\s*= (\S+)", out) == "0.894"
    assert round(result["value"], 3) == 2.236
    assert tuple(round(d, 3) for d in result["grad"]) == (0.447, 0.894)
    assert all(type(d) is float for d in result["grad"])  # int arguments, float gradients


def test_sqrt_norm_every_mode_agrees():
    result = sqrt_norm.main([])
    exact = (1 / np.sqrt(5), 2 / np.sqrt(5))
    assert len(result["modes"]) == 5
    for label, partials in result["modes"].items():
        np.testing.assert_allclose(partials, exact, rtol=0, atol=1e-12, err_msg=label)
    assert result["spread"] < 1e-12
    np.testing.assert_allclose(result["tape_gradient"], exact, rtol=0, atol=1e-12)


def test_sqrt_norm_wengert_list(capsys):
    result = sqrt_norm.main([])
    out = capsys.readouterr().out
    entries = result["entries"]
    # two inputs, two squares, one sum, one square root
    assert len(entries) == 6
    assert [e.split(" = ")[1].split("(")[0] for e in entries] == \
        ["input", "input", "power", "power", "add", "sqrt"]
    assert entries[4].startswith("v4 = add(v2, v3)")
    assert entries[5].startswith("v5 = sqrt(v4)")
    for entry in entries:
        assert entry in out
    assert "adjoint(v0) = 0.447, adjoint(v1) = 0.894" in out


def test_sqrt_norm_writes_the_tape_as_dot(tmp_path, capsys):
    result = sqrt_norm.main(["--out", str(tmp_path)])
    path = tmp_path / "sqrt_norm_tape.dot"
    assert result["dot"] == str(path) and f"graph written to {path}" in capsys.readouterr().out
    dot = path.read_text()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "v0 -> v2;" in dot and "v4 -> v5;" in dot
    highlighted = [line for line in dot.splitlines() if "fillcolor" in line]
    assert len(highlighted) == 1 and highlighted[0].lstrip().startswith("v5 ")


def test_sqrt_norm_other_point():
    result = sqrt_norm.main(["--x1", "3", "--x2", "4"])
    assert result["value"] == 5.0
    np.testing.assert_allclose(result["grad"], (0.6, 0.8), atol=1e-15)
    assert result["spread"] < 1e-12


# --- examples/logistic_regression.py ------------------------------------------------------

def test_make_moons_is_seeded_and_balanced():
    X, y = logistic_regression.make_moons(101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and y.shape == (101,)
    assert set(np.unique(y)) == {0.0, 1.0} and y.sum() == 51
    X2, y2 = logistic_regression.make_moons(101, noise=0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = logistic_regression.make_moons(101, noise=0.1, seed=4)
    assert not np.array_equal(X, X3)
    # Without noise the points lie exactly on the two half circles.
    X0, y0 = logistic_regression.make_moons(50, noise=0.0, seed=0)
    upper, lower = X0[y0 == 0], X0[y0 == 1] - [1.0, 0.5]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(*lower.T), 1.0)
    assert np.all(upper[:, 1] >= 0) and np.all(lower[:, 1] <= 1e-12)


def test_logistic_loss_gradient_matches_closed_form():
    X, y = logistic_regression.make_moons(60, noise=0.2, seed=1)
    params = (np.array([0.7, -1.3]), 0.4)
    g_w, g_b = adkit.grad(logistic_regression.loss)(params, X, y)
    # d/dz [log(1 + e^z) - y z] = sigmoid(z) - y, averaged over the points
    residual = 1 / (1 + np.exp(-(X @ params[0] + params[1]))) - y
    np.testing.assert_allclose(g_w, X.T @ residual / len(y), rtol=1e-12, atol=1e-14)
    assert type(g_b) is float  # a Python-float bias gets a Python-float gradient
    assert g_b == pytest.approx(residual.mean(), rel=1e-12, abs=1e-14)


def test_logistic_loss_is_stable_for_huge_logits():
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    y = np.array([1.0, 0.0])
    params = (np.array([1000.0, 0.0]), 0.0)  # sigmoid rounds to exactly 1 and 0
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert logistic_regression.loss(params, X, y) == 0.0
        g_w, g_b = adkit.grad(logistic_regression.loss)(params, X, y)
    assert np.all(np.isfinite(g_w)) and np.isfinite(g_b)


def test_logistic_regression_learns(capsys):
    result = logistic_regression.main(["--n-samples", "200", "--steps", "100", "--seed", "0"])
    out = capsys.readouterr().out
    assert result["loss_after"] < 0.5 * result["loss_before"]
    assert result["accuracy_after"] > 0.80
    assert result["accuracy_after"] > result["accuracy_before"] + 0.2
    # a convex loss and a small enough step: steepest descent never goes uphill
    assert np.all(np.diff(result["history"]) <= 1e-12)
    assert float(_printed(r"after 100 steps.*accuracy (\S+)", out)) > 0.80
    assert float(_printed(r"before training: loss (\S+)", out)) == \
        pytest.approx(result["loss_before"], abs=1e-4)


def test_logistic_regression_is_reproducible(capsys):
    args = ["--n-samples", "100", "--steps", "20", "--seed", "7"]
    first = logistic_regression.main(args)
    out1 = capsys.readouterr().out
    second = logistic_regression.main(args)
    out2 = capsys.readouterr().out
    assert out1 == out2 and first["history"] == second["history"]


def test_logistic_regression_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "logistic_regression.png"
    logistic_regression.main(["--n-samples", "100", "--steps", "10", "--out", str(tmp_path)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"loss curve saved to {path}" in capsys.readouterr().out


def test_logistic_regression_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = logistic_regression.main(["--n-samples", "50", "--steps", "5", "--out",
                                       str(tmp_path)])
    assert list(tmp_path.iterdir()) == [] and result["accuracy_after"] >= 0
    assert result["png"] is None and "matplotlib is not installed" in capsys.readouterr().out


# --- examples/two_layer_regression.py -----------------------------------------------------

def test_two_layer_gradient_matches_central_differences():
    x, y = two_layer_regression.make_data(30, noise=0.1, seed=2)
    params = two_layer_regression.init_params(5, seed=2)
    grads = adkit.grad(two_layer_regression.mse)(params, x, y)
    assert isinstance(grads, tuple) and len(grads) == 4
    h = 1e-6
    for k, (p, g) in enumerate(zip(params, grads)):
        assert g.shape == p.shape
        for i in range(p.size):
            bumped = [q.copy() for q in params]
            bumped[k].flat[i] += h
            up = two_layer_regression.mse(tuple(bumped), x, y)
            bumped[k].flat[i] -= 2 * h
            down = two_layer_regression.mse(tuple(bumped), x, y)
            assert g.flat[i] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


def test_two_layer_regression_learns(capsys, tmp_path):
    result = two_layer_regression.main(["--n-samples", "100", "--steps", "400", "--seed", "0",
                                        "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["mse_after"] * 5 < result["mse_before"]
    assert float(_printed(r"before training: mse (\S+)", out)) == \
        pytest.approx(result["mse_before"], abs=1e-4)
    assert float(_printed(r"after 400 steps.*mse (\S+)", out)) == \
        pytest.approx(result["mse_after"], abs=1e-4)
    w1, b1, w2, b2 = result["params"]
    assert (w1.shape, b1.shape, w2.shape, b2.shape) == ((1, 16), (16,), (16, 1), (1,))


def test_two_layer_regression_draws_its_fit(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    result = two_layer_regression.main(["--n-samples", "30", "--steps", "5", "--out",
                                        str(tmp_path / "fig")])
    path = tmp_path / "fig" / "two_layer_regression.png"
    assert result["png"] == str(path) and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- every script ---------------------------------------------------------------------------

@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_takes_out_as_the_readme_says(script):
    """README: each script saves what it draws or measures under --out, default
    runs/examples/<name>/."""
    run = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "--out" in run.stdout, f"{script} has no --out"
    source = (EXAMPLES / script).read_text()
    default = re.search(r'add_argument\(\s*"--out".*?default=(?:Path\()?"([^"]+)"', source, re.S)
    assert default and default.group(1) == f"runs/examples/{script[:-3]}", script
