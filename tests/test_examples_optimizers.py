"""Smoke tests for examples/textbook_linear_regression.py and examples/optimizer_comparison.py:
small sizes, the textbook's numbers where it gives them, and training that visibly works."""

import contextlib
import io
import re

import numpy as np
import pytest

from examples_support import load_example

import adkit

PNG = b"\x89PNG\r\n\x1a\n"




linear = load_example("textbook_linear_regression")
comparison = load_example("optimizer_comparison")


def _printed(pattern, out):
    match = re.search(pattern, out)
    assert match, f"{pattern!r} not found in the output:\n{out}"
    return match.group(1)


# --- examples/textbook_linear_regression.py -----------------------------------------------

def test_linear_regression_reproduces_the_book_sized_errors(tmp_path, capsys):
    # The book's own run (unseeded data): 90.47 before, 0.9157 after. Before training the
    # error is about |w|^2 + 1 with 100 N(0, 1) weights; after, a 101-parameter fit of pure
    # noise leaves about 1 - 101/1000 of it.
    result = linear.main(["--seed", "0", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    before = float(_printed(r"mean squared error before training: (\S+)", out))
    after = float(_printed(r"mean squared error after 1000 steps: (\S+)", out))
    assert 60 < before < 140
    assert 0.8 < after < 1.0
    assert before == pytest.approx(result["mse_before"], abs=1e-4)
    assert after == pytest.approx(result["mse_after"], abs=1e-4)
    # convex quadratic, small enough step: steepest descent never goes uphill and lands on
    # the closed-form minimiser
    assert np.all(np.diff(result["history"]) <= 1e-9)
    assert result["distance"] < 1e-8
    assert result["mse_after"] == pytest.approx(result["exact_mse"], rel=1e-10)
    assert result["figure"].read_bytes()[:8] == PNG


def test_linear_regression_without_penalty_matches_lstsq(tmp_path):
    args = ["--examples", "200", "--features", "10", "--steps", "300", "--l2", "0",
            "--seed", "3", "--out", str(tmp_path)]
    result = linear.main(args)
    X, y, _ = linear.make_data(200, 10, seed=3)
    theta = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    w, b = result["params"]
    np.testing.assert_allclose(w, theta[:10], atol=1e-9)
    assert b == pytest.approx(theta[10], abs=1e-9)
    assert result["mse_after"] < result["mse_before"] / 5


def test_linear_regression_gradient_matches_closed_form():
    X, y, (w, b) = linear.make_data(50, 4, seed=1)
    g_w, g_b = adkit.grad(linear.loss)((w, b), X, y, 0.01)
    residual = X @ w + b - y
    np.testing.assert_allclose(g_w, 2 * X.T @ residual / len(y) + 2 * 0.01 * w, rtol=1e-12)
    assert g_b == pytest.approx(2 * residual.mean(), rel=1e-12)


def test_linear_regression_tensorflow_listing(tmp_path, capsys):
    # The book's TensorFlow version: 5 random rows per step, no penalty, a rate of 0.05 on
    # a batch sum divided by all 1000 rows (0.00025 on the batch mean), 5000 steps. It
    # printed 95.52 before and 2.133 after: far from the minimum (about 0.9) still.
    result = linear.main(["--batch-size", "5", "--lr", "0.00025", "--l2", "0", "--steps", "5000",
                          "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert 60 < result["mse_before"] < 140
    assert 1.0 < result["mse_after"] < 4.0
    assert float(_printed(r"after 5000 steps: (\S+)", out)) == \
        pytest.approx(result["mse_after"], abs=1e-4)
    assert result["mse_after"] > result["exact_mse"] + 0.5


def test_linear_regression_minibatches_descend_but_hover(tmp_path):
    result = linear.main(["--examples", "200", "--features", "10", "--steps", "400",
                          "--batch-size", "5", "--lr", "0.01", "--l2", "0", "--out", str(tmp_path)])
    assert result["mse_after"] < result["mse_before"] / 5
    assert result["mse_after"] >= result["exact_mse"] - 1e-12  # the minimiser is a floor
    assert result["distance"] > 1e-6  # noisy steps do not settle exactly on it


@pytest.mark.parametrize("bad", [["--batch-size", "-1"], ["--l2", "-0.5"], ["--examples", "0"]])
def test_linear_regression_rejects_bad_options(bad, tmp_path, capsys):
    with pytest.raises(SystemExit):
        linear.main(bad + ["--out", str(tmp_path)])
    assert bad[0] in capsys.readouterr().err


# --- examples/optimizer_comparison.py -----------------------------------------------------

SMALL = ["--n-samples", "400", "--hidden", "32", "--steps", "200"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Every textbook optimizer, small: 320 training and 80 validation points, 32 hidden
    units, 200 one-example steps (the book's batch size)."""
    out = tmp_path_factory.mktemp("optimizer_comparison")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = comparison.main(SMALL + ["--out", str(out)])
    return result, printed.getvalue()


def test_every_optimizer_lowers_the_validation_loss(small_run):
    result, _ = small_run
    results = result["results"]
    assert list(results) == list(comparison.TEXTBOOK_OPTIMIZERS)
    starts = {r["val_curve"][0] for r in results.values()}
    assert len(starts) == 1  # all start from the same weights
    for name, r in results.items():
        assert len(r["val_curve"]) == 201, name  # the start and after every step
        assert np.all(np.isfinite(r["val_curve"])), name
        assert r["val_loss"] < r["val_curve"][0], name
        assert r["val_loss"] == pytest.approx(r["val_curve"][-1], rel=1e-6), name


def test_most_optimizers_classify_well_above_chance(small_run):
    result, _ = small_run
    accuracies = {name: r["val_accuracy"] for name, r in result["results"].items()}
    above = [name for name, acc in accuracies.items() if acc > 0.75]
    assert len(above) >= 6, accuracies  # chance is 0.5
    assert max(accuracies.values()) > 0.85, accuracies


def test_optimizer_table_is_printed(small_run):
    result, out = small_run
    assert re.search(r"optimizer\s+train loss\s+train acc\s+val loss\s+val acc", out)
    for name, r in result["results"].items():
        row = re.search(rf"^{name}\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$", out, re.MULTILINE)
        assert row, f"no table row for {name}:\n{out}"
        numbers = [float(v) for v in row.groups()]
        expected = [r["train_loss"], r["train_accuracy"], r["val_loss"], r["val_accuracy"]]
        np.testing.assert_allclose(numbers, expected, atol=1e-3, err_msg=name)


def test_optimizer_figures_are_written(small_run):
    pytest.importorskip("matplotlib")
    result, out = small_run
    assert set(result["figures"]) == {"learning_curves", "decision_boundaries"}
    for path in result["figures"].values():
        data = path.read_bytes()
        assert data[:8] == PNG and len(data) > 10_000, path
        assert f"saved {path}" in out


def test_each_step_is_one_optimizer_update():
    data = comparison.load_moons(60, 0.1, seed=0)
    batches = comparison.batch_order(len(data["x_train"]), steps=5, batch_size=4, seed=0)
    for name in ("esgd", "rprop", "nag"):
        model = comparison.build_model(8, 0.01, "randn", seed=0)
        result = comparison.train_one(name, model, data, batches)
        assert model.optimizer.iterations == 5, name
        assert len(result["val_curve"]) == 6, name


def test_batch_order_sees_every_example_once_per_pass():
    batches = comparison.batch_order(10, steps=6, batch_size=3, seed=1)
    first_pass = np.concatenate(batches[:3])
    assert len(set(first_pass.tolist())) == 9  # no repeats before the pass ends
    assert all(len(b) == 3 for b in batches)
    assert all(len(b) == 10 for b in comparison.batch_order(10, steps=2, batch_size=0, seed=1))


def test_unknown_optimizer_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        comparison.main(SMALL + ["--optimizers", "sgd,adamq", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--optimizers" in err and "'adamq'" in err and "esgd" in err
    with pytest.raises(ValueError, match="more than once"):
        comparison.parse_optimizers("adam,sgd,adam")
    with pytest.raises(ValueError, match="no optimizer names"):
        comparison.parse_optimizers(" , ")
    assert comparison.parse_optimizers("SGD, nag") == ["sgd", "nag"]
    assert not list(tmp_path.iterdir())  # nothing was trained or written


def test_optimizer_comparison_rejects_a_batch_larger_than_the_data(tmp_path, capsys):
    with pytest.raises(SystemExit):
        comparison.main(["--n-samples", "50", "--batch-size", "41", "--out", str(tmp_path)])
    assert "--batch-size 41" in capsys.readouterr().err
