"""Smoke tests for the Keras-chapter, regularisation and metrics examples: each runs
small, trains to better than chance, writes its PNGs, and its numbers agree with
an independent computation (argmin of the validation loss, scikit-learn's metrics)."""

import re
from pathlib import Path

import numpy as np
import pytest

from data_support import needs_data

from examples_support import load_example






keras_chapter = load_example("keras_chapter")
regularization = load_example("regularization")
classification_metrics = load_example("classification_metrics")



def _png(path):
    """The figure exists and holds a drawing, not an empty file."""
    pytest.importorskip("matplotlib", reason="the figures need the examples extra")
    assert path is not None and Path(path).is_file(), f"no figure at {path}"
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(path).stat().st_size > 5000


def _printed(pattern, out):
    match = re.search(pattern, out)
    assert match, f"{pattern!r} not found in the output:\n{out}"
    return match.group(1)


# --- examples/keras_chapter.py: listings 7-1 to 7-4 -------------------------------------

@pytest.mark.parametrize("listing, metric, chance", [
    ("binary", "accuracy", 0.5),
    ("binary2", "accuracy", 0.5),
    ("multiclass", "categorical_accuracy", 0.1),
])
def test_dense_classifiers_memorise_random_labels(listing, metric, chance, tmp_path, capsys):
    result = keras_chapter.main(["--listing", listing, "--out", str(tmp_path)])[listing]
    out = capsys.readouterr().out
    before, after, history = result["before"], result["after"], result["history"]
    # The labels are random, so what training buys is memorising the training set:
    # the book gets 0.507 -> 0.563 (7-1), 0.512 -> 0.527 (7-2), 0.093 -> 0.194 (7-3).
    assert after["loss"] < before["loss"]
    assert after[metric] > chance + 0.03
    assert history["loss"][-1] < history["loss"][0]
    assert len(history["loss"]) == 10 and len(history[metric]) == 10   # the book's 10 epochs
    assert "Total params:" in out
    printed = _printed(r"After Training: \[\('loss', ([\d.]+)\)", out)
    assert float(printed) == pytest.approx(after["loss"], abs=5e-5)
    assert len(re.findall(r"Epoch 10/10 - \d+s - loss:", out)) == 1
    _png(result["png"])


def test_regression_listing_lowers_the_squared_error(tmp_path, capsys):
    result = keras_chapter.main(["--listing", "regression", "--epochs", "5",
                                 "--out", str(tmp_path)])["regression"]
    before, after = result["before"], result["after"]
    # The book: 0.2687 -> 0.2218. The metric is the loss itself (no penalties here).
    assert after["loss"] < before["loss"] < 0.5
    assert after["mean_squared_error"] == pytest.approx(after["loss"], rel=1e-6)
    assert "('mean_squared_error'," in capsys.readouterr().out
    _png(result["png"])


def test_optimizer_comparison_every_optimizer_learns(tmp_path, capsys):
    result = keras_chapter.main(["--listing", "optimizers", "--n-samples", "400",
                                 "--epochs", "4", "--out", str(tmp_path)])["optimizers"]
    out = capsys.readouterr().out
    runs = result["runs"]
    assert list(runs) == ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"]
    for name, run in runs.items():
        assert f"Optimiser: {name}" in out
        assert run["after"]["loss"] < run["before"]["loss"], name
    # Same data and same initial weights for every optimizer, as the comparison needs.
    assert len({round(r["before"]["loss"], 9) for r in runs.values()}) == 1
    _png(result["png"])


def test_activation_comparison_shows_which_outputs_suit_cross_entropy(tmp_path):
    runs = keras_chapter.main(["--listing", "activations", "--n-samples", "400",
                               "--epochs", "3", "--out", str(tmp_path)])["activations"]["runs"]
    for name in ("sigmoid", "hard_sigmoid"):
        assert runs[name]["after"]["loss"] < runs[name]["before"]["loss"] < 2.0, name
    # Outputs outside [0, 1] are clipped to 1e-7: about -log(1e-7) = 16 per wrong
    # example, so the loss sits far above log 2 (the book: 7.7, 7.7, 8.3).
    for name in ("relu", "tanh", "linear"):
        assert runs[name]["after"]["loss"] > 3.0, name
    # relu and linear agree once clipped: negative outputs become 1e-7 either way.
    assert runs["relu"]["history"]["loss"] == pytest.approx(runs["linear"]["history"]["loss"])


def test_keras_chapter_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        keras_chapter.main(["--listing", "imdb"])
    with pytest.raises(SystemExit):
        keras_chapter.main(["--listing", "cnn", "--limit", "0"])
    assert "positive integer" in capsys.readouterr().err


# --- examples/keras_chapter.py: the CNN and the LSTM -------------------------------------

@needs_data
@pytest.mark.parametrize("listing, params, shape", [
    ("cnn", "Total params: 600,810", "(None, 24, 24, 32)"),   # two valid 3x3 convolutions
    ("lstm", "Total params: 81,674", "(None, 28, 28)"),        # 28 rows of 28 pixels
])
def test_image_listings_beat_chance(listing, params, shape, tmp_path, capsys):
    result = keras_chapter.main(["--listing", listing, "--limit", "512",
                                 "--out", str(tmp_path)])[listing]
    out = capsys.readouterr().out
    assert params in out and shape in out
    assert "Train on 512 samples, validate on 512 samples" in out
    assert re.search(r"Epoch 1/1 - \d+s - loss:", out)   # Keras's verbose=2 line
    test = result["test"]
    assert test["accuracy"] > 0.2          # ten classes: chance is 0.1; about 0.4-0.5 here
    # The validation pass at the end of the epoch saw the same weights and images.
    assert result["history"]["val_loss"][-1] == pytest.approx(test["loss"], rel=1e-5)
    assert float(_printed(r"Test Metrics: \[\('loss', [\d.]+\), \('accuracy', ([\d.]+)\)",
                          out)) == pytest.approx(test["accuracy"], abs=5e-5)
    assert result["batch_losses"][-1] < result["batch_losses"][0]
    _png(result["png"])


# --- examples/regularization.py ----------------------------------------------------------

@pytest.fixture(scope="module")
def regularised(tmp_path_factory):
    out = tmp_path_factory.mktemp("regularization")
    result = regularization.main(["--epochs", "25", "--n-val", "500", "--patience", "5",
                                  "--out", str(out)])
    return result


def test_early_stopping_best_epoch_is_the_lowest_validation_loss(regularised):
    r = regularised["early_stopping"]
    val = np.array(r["history"]["val_loss"])
    assert r["best_epoch"] == int(np.argmin(val))
    assert r["best_val_loss"] == val.min()
    # It stops `patience` epochs after the best one, or runs out of epochs first.
    assert r["last_epoch"] == min(r["best_epoch"] + 5, 24)
    # restore_best_weights put back the weights that scored the lowest loss.
    assert r["restored_val_loss"] == pytest.approx(val.min(), rel=1e-5)
    # Training kept improving the training loss after the best validation epoch.
    assert r["history"]["loss"][-1] < r["history"]["loss"][r["best_epoch"]]


def test_l1_leaves_more_weights_at_zero_than_l2(regularised):
    l1, l2 = regularised["penalties"]["l1"], regularised["penalties"]["l2"]
    assert l1["weights"].shape == l2["weights"].shape == (50 * 64 + 64 * 64,)
    near = regularization.NEAR_ZERO
    assert l1["near_zero"] == np.mean(np.abs(l1["weights"]) < near)
    assert l1["near_zero"] > 2 * l2["near_zero"]
    assert np.median(np.abs(l1["weights"])) < np.median(np.abs(l2["weights"]))


def test_dropout_fits_the_training_set_less_tightly(regularised):
    runs = regularised["dropout"]
    assert list(runs) == ["no dropout", "dropout 0.5"]
    for h in runs.values():
        assert len(h["val_loss"]) == 25
    # Dropping half the hidden units in training keeps the net from memorising the
    # 10% flipped labels, so its training loss stays well above the plain net's.
    assert runs["dropout 0.5"]["loss"][-1] > 2 * runs["no dropout"]["loss"][-1]


def test_regularization_writes_three_figures(regularised):
    assert set(regularised["pngs"]) == {"early_stopping", "l1_vs_l2", "dropout"}
    for path in regularised["pngs"].values():
        _png(path)


def test_regularization_rejects_bad_input():
    with pytest.raises(ValueError, match="flip"):
        regularization.make_data(10, flip=0.5)
    with pytest.raises(ValueError, match="n_informative"):
        regularization.make_data(10, n_features=3, n_informative=5)
    with pytest.raises(SystemExit):
        regularization.main(["--dropout", "1.5"])


# --- examples/classification_metrics.py --------------------------------------------------

def _agrees_with_sklearn(result):
    sk = pytest.importorskip("sklearn.metrics", reason="the cross-check needs scikit-learn")
    y, s, t = result["y_true"], result["scores"], result["threshold"]
    predicted = (s > t).astype(int)
    assert predicted.any(), "no predicted positives: precision is not being tested"
    assert result["precision"] == pytest.approx(sk.precision_score(y, predicted), abs=1e-12)
    assert result["recall"] == pytest.approx(sk.recall_score(y, predicted), abs=1e-12)
    assert result["f1"] == pytest.approx(sk.f1_score(y, predicted), abs=1e-12)
    assert result["f_formula"] == pytest.approx(result["f1"], abs=1e-12)   # 2pr / (p + r)
    assert result["accuracy"] == pytest.approx(sk.accuracy_score(y, predicted), abs=1e-12)
    np.testing.assert_array_equal(result["confusion_matrix"], sk.confusion_matrix(y, predicted))
    assert result["auc"] == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    assert result["average_precision"] == pytest.approx(sk.average_precision_score(y, s),
                                                        abs=1e-12)
    for ours, theirs in zip(result["roc_curve"], sk.roc_curve(y, s)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    for ours, theirs in zip(result["pr_curve"], sk.precision_recall_curve(y, s)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    # The best F-score on the PR curve is at least the one at the fixed threshold.
    assert result["best_f1"] >= result["f1"] - 1e-12


def test_metrics_on_synthetic_imbalanced_data_match_sklearn(tmp_path, capsys):
    result = classification_metrics.main(["--data", "synthetic", "--limit", "4000",
                                          "--epochs", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert 0.03 < result["prevalence"] < 0.07           # 5% positives
    assert result["auc"] > 0.85                         # the classes are separable, mostly
    _agrees_with_sklearn(result)
    assert float(_printed(r"AUC ([\d.]+)", out)) == pytest.approx(result["auc"], abs=5e-5)
    for path in result["pngs"].values():
        _png(path)
    assert set(result["pngs"]) == {"pr", "roc"}


@needs_data
def test_metrics_on_fashion_mnist_one_class_against_the_rest(tmp_path):
    result = classification_metrics.main(["--limit", "4000", "--epochs", "3",
                                          "--out", str(tmp_path)])
    assert result["prevalence"] == pytest.approx(0.1, abs=0.02)   # one class in ten
    assert result["auc"] > 0.75                                    # Shirt is the hardest one
    _agrees_with_sklearn(result)
    _png(result["pngs"]["roc"])


def test_metrics_rejects_bad_options():
    with pytest.raises(SystemExit):
        classification_metrics.main(["--positive", "10"])
    with pytest.raises(SystemExit):
        classification_metrics.main(["--threshold", "1.5"])
    with pytest.raises(ValueError, match="positive_fraction"):
        classification_metrics.make_imbalanced(10, positive_fraction=0.0)
