"""adkit.nn.metrics against scikit-learn: same numbers on random data with ties,
imbalance and weights; streaming metrics over uneven batches equal the whole set."""

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from adkit.nn import metrics as M

rng = np.random.default_rng(0)


def binary_data(n=200, positive_rate=0.3, seed=0, tie_decimals=1):
    """0/1 labels and probabilities rounded so that many scores tie."""
    r = np.random.default_rng(seed)
    y = (r.random(n) < positive_rate).astype(int)
    p = np.clip(0.3 * y + r.random(n) * 0.7, 0, 1).round(tie_decimals)
    return y, p


def multiclass_data(n=150, k=4, seed=0):
    """Integer labels, softmax-like scores and predictions right about half the time."""
    r = np.random.default_rng(seed)
    y = r.integers(0, k, n)
    scores = r.random((n, k)) + 0.8 * np.eye(k)[y]
    scores /= scores.sum(axis=1, keepdims=True)
    return y, scores


def uneven_batches(n, seed=0):
    """Slices of random uneven sizes (1 to 40) covering range(n)."""
    cuts = np.cumsum(np.random.default_rng(seed).integers(1, 40, n))
    edges = np.r_[0, cuts[cuts < n], n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


# --- accuracy -----------------------------------------------------------------

def test_binary_accuracy_matches_sklearn_on_thresholded_probabilities():
    y, p = binary_data()
    w = rng.random(len(y))
    assert M.binary_accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p > 0.5))
    assert M.binary_accuracy(y, p, 0.3, sample_weight=w) == pytest.approx(
        skm.accuracy_score(y, p > 0.3, sample_weight=w))
    assert M.binary_accuracy(y[:, None], p.astype(np.float32)) == M.binary_accuracy(y, p[:, None])


def test_binary_accuracy_counts_exactly_half_as_negative():
    # Keras thresholds with a strict ">".
    assert M.binary_accuracy([0, 1], [0.5, 0.5]) == 0.5


def test_multilabel_binary_accuracy_is_the_mean_over_all_labels():
    y = rng.integers(0, 2, (30, 3))
    p = rng.random((30, 3))
    assert M.binary_accuracy(y, p) == pytest.approx(np.mean(y == (p > 0.5)))


def test_categorical_and_sparse_accuracy_match_sklearn():
    y, scores = multiclass_data()
    w = rng.random(len(y))
    expected = skm.accuracy_score(y, scores.argmax(1), sample_weight=w)
    assert M.sparse_categorical_accuracy(y, scores, sample_weight=w) == pytest.approx(expected)
    column = y[:, None].astype(np.float32)
    assert M.sparse_categorical_accuracy(column, scores, sample_weight=w) == pytest.approx(expected)
    assert M.categorical_accuracy(np.eye(4)[y], scores, sample_weight=w) == pytest.approx(expected)


# --- confusion matrix, precision, recall, F1 ----------------------------------

def test_confusion_matrix_matches_sklearn():
    y, scores = multiclass_data(k=5)
    pred = scores.argmax(1)
    np.testing.assert_array_equal(M.confusion_matrix(y, pred), skm.confusion_matrix(y, pred))
    w = rng.random(len(y))
    np.testing.assert_allclose(M.confusion_matrix(y, scores, sample_weight=w),
                               skm.confusion_matrix(y, pred, sample_weight=w))


def test_confusion_matrix_labels_present_by_default_or_all_num_classes():
    y, pred = np.array([0, 2, 2, 5]), np.array([0, 2, 5, 5])
    np.testing.assert_array_equal(M.confusion_matrix(y, pred), skm.confusion_matrix(y, pred))
    np.testing.assert_array_equal(M.confusion_matrix(y, pred, num_classes=7),
                                  skm.confusion_matrix(y, pred, labels=range(7)))


SKLEARN = {"precision": skm.precision_score, "recall": skm.recall_score, "f1_score": skm.f1_score}


@pytest.mark.parametrize("name", SKLEARN)
@pytest.mark.parametrize("positive_rate", [0.05, 0.5])
def test_binary_scores_match_sklearn(name, positive_rate):
    y, p = binary_data(positive_rate=positive_rate, seed=3)
    w = rng.random(len(y))
    ours, theirs = getattr(M, name), SKLEARN[name]
    assert ours(y, p) == pytest.approx(theirs(y, p > 0.5, zero_division=0))
    assert ours(y, (p > 0.5).astype(int)) == pytest.approx(theirs(y, p > 0.5, zero_division=0))
    assert ours(y, p, threshold=0.2, sample_weight=w) == pytest.approx(
        theirs(y, p > 0.2, sample_weight=w, zero_division=0))


@pytest.mark.parametrize("name", SKLEARN)
@pytest.mark.parametrize("y, pred", [([0, 0, 1], [0, 0, 0]),      # nothing predicted positive
                                     ([0, 0, 0], [0, 1, 0]),      # no actual positive
                                     ([0, 0, 0], [0, 0, 0])])     # neither
def test_zero_division_is_zero_as_sklearn(name, y, pred):
    assert getattr(M, name)(y, pred) == SKLEARN[name](y, pred, zero_division=0)


@pytest.mark.parametrize("name", SKLEARN)
@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_multiclass_averages_match_sklearn(name, average):
    y, scores = multiclass_data(k=5, seed=4)
    pred = scores.argmax(1)
    pred[pred == 3] = 7          # a label only ever predicted, never true
    w = rng.random(len(y))
    ours, theirs = getattr(M, name), SKLEARN[name]
    np.testing.assert_allclose(ours(y, pred, average=average),
                               theirs(y, pred, average=average, zero_division=0))
    np.testing.assert_allclose(ours(y, pred, average=average, sample_weight=w),
                               theirs(y, pred, average=average, sample_weight=w, zero_division=0))


def test_binary_labels_with_multiclass_average_use_both_classes_as_sklearn():
    y, p = binary_data(seed=5)
    assert M.f1_score(y, p, average="macro") == pytest.approx(skm.f1_score(y, p > 0.5, average="macro"))


# --- ranking metrics ----------------------------------------------------------

@pytest.mark.parametrize("drop_intermediate", [True, False])
@pytest.mark.parametrize("positive_rate, decimals", [(0.5, 1), (0.05, 2), (0.3, 8)])
def test_roc_curve_matches_sklearn(drop_intermediate, positive_rate, decimals):
    y, p = binary_data(positive_rate=positive_rate, tie_decimals=decimals, seed=6)
    for ours, theirs in zip(M.roc_curve(y, p, drop_intermediate=drop_intermediate),
                            skm.roc_curve(y, p, drop_intermediate=drop_intermediate)):
        np.testing.assert_allclose(ours, theirs)


def test_weighted_roc_and_pr_curves_match_sklearn_including_zero_weights():
    y, p = binary_data(seed=7)
    w = rng.random(len(y)) * (rng.random(len(y)) < 0.8)
    for ours, theirs in zip(M.roc_curve(y, p, sample_weight=w), skm.roc_curve(y, p, sample_weight=w)):
        np.testing.assert_allclose(ours, theirs)
    for ours, theirs in zip(M.precision_recall_curve(y, p, sample_weight=w),
                            skm.precision_recall_curve(y, p, sample_weight=w)):
        np.testing.assert_allclose(ours, theirs)
    assert M.roc_auc_score(y, p, sample_weight=w) == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w))
    assert M.average_precision_score(y, p, sample_weight=w) == pytest.approx(
        skm.average_precision_score(y, p, sample_weight=w))


def mann_whitney_auc(y, s):
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    u = scipy.stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    return u / ((y == 1).sum() * (y == 0).sum())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=2, max_size=40)
       .filter(lambda pairs: len({label for label, _ in pairs}) == 2))
def test_roc_auc_with_heavy_ties_is_sklearn_and_mann_whitney(pairs):
    y, s = map(np.array, zip(*pairs))
    assert M.roc_auc_score(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert M.roc_auc_score(y, s) == pytest.approx(mann_whitney_auc(y, s), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=1, max_size=40)
       .filter(lambda pairs: any(label for label, _ in pairs)))
def test_pr_curve_and_average_precision_with_heavy_ties_match_sklearn(pairs):
    y, s = map(np.array, zip(*pairs))
    for ours, theirs in zip(M.precision_recall_curve(y, s), skm.precision_recall_curve(y, s)):
        np.testing.assert_allclose(ours, theirs)
    assert M.average_precision_score(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("positive_rate", [0.02, 0.3, 0.9])
def test_average_precision_is_stepwise_as_sklearn_not_trapezoid(positive_rate):
    y, p = binary_data(n=500, positive_rate=positive_rate, tie_decimals=2, seed=8)
    y[0] = 1
    assert M.average_precision_score(y, p.astype(np.float32)) == pytest.approx(
        skm.average_precision_score(y, p.astype(np.float32)), abs=1e-12)
    precisions, recalls, _ = skm.precision_recall_curve(y, p)
    assert M.average_precision_score(y, p) != pytest.approx(skm.auc(recalls, precisions), abs=1e-6)


def test_all_positive_labels_have_average_precision_one():
    assert M.average_precision_score([1, 1, 1], [0.2, 0.5, 0.5]) == 1.0


def test_auc_matches_sklearn_for_increasing_and_decreasing_x():
    x = np.sort(rng.random(20))
    y = rng.random(20)
    assert M.auc(x, y) == pytest.approx(skm.auc(x, y))
    assert M.auc(x[::-1], y[::-1]) == pytest.approx(skm.auc(x[::-1], y[::-1]))


# --- streaming metrics --------------------------------------------------------

def stream(metric, y, p, w=None, seed=0):
    """Feed ``metric`` in uneven batches and return its result."""
    metric.reset_state()
    for b in uneven_batches(len(y), seed):
        metric.update_state(y[b], p[b], None if w is None else w[b])
    return metric.result()


@pytest.mark.parametrize("weighted", [False, True])
def test_streaming_accuracies_over_uneven_batches_equal_the_whole_set(weighted):
    y, p = binary_data(n=301)
    yk, scores = multiclass_data(n=301)
    w = rng.random(301) if weighted else None
    assert stream(M.BinaryAccuracy(), y, p, w) == pytest.approx(M.binary_accuracy(y, p, sample_weight=w))
    assert stream(M.SparseCategoricalAccuracy(), yk, scores, w) == pytest.approx(
        M.sparse_categorical_accuracy(yk, scores, sample_weight=w))
    assert stream(M.CategoricalAccuracy(), np.eye(4)[yk], scores, w) == pytest.approx(
        M.categorical_accuracy(np.eye(4)[yk], scores, sample_weight=w))


@pytest.mark.parametrize("cls, fn", [(M.MacroPrecision, M.precision), (M.MacroRecall, M.recall),
                                     (M.MacroF1Score, M.f1_score)])
def test_streaming_precision_recall_f1_equal_the_whole_set(cls, fn):
    y, p = binary_data(n=301, positive_rate=0.2)
    w = rng.random(301)
    assert stream(cls(), y, p) == pytest.approx(fn(y, p))
    assert stream(cls(), y, p[:, None], w) == pytest.approx(fn(y, p, sample_weight=w))
    yk, scores = multiclass_data(n=301, k=3)
    expected = SKLEARN[fn.__name__](yk, scores.argmax(1), average="macro", zero_division=0)
    assert stream(cls(), yk, scores) == pytest.approx(expected)
    assert stream(cls(), np.eye(3)[yk], scores) == pytest.approx(expected)


def test_streaming_macro_averages_over_classes_seen_in_either_array_as_sklearn():
    y = np.array([0, 0, 1, 1, 3, 3])
    pred = np.array([0, 1, 1, 4, 3, 3])    # class 2 never appears, class 4 only predicted
    scores = np.eye(5)[pred]
    for cls, name in [(M.MacroPrecision, "precision"), (M.MacroRecall, "recall"),
                      (M.MacroF1Score, "f1_score")]:
        metric = cls()
        metric.update_state(y[:4], scores[:4])
        metric.update_state(y[4:], scores[4:])
        assert metric.result() == pytest.approx(SKLEARN[name](y, pred, average="macro", zero_division=0))


def test_streaming_auc_is_exact_for_binary_two_column_and_one_vs_rest():
    y, p = binary_data(n=301, positive_rate=0.1, tie_decimals=2)
    w = rng.random(301)
    assert stream(M.ExactAUC(), y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert stream(M.ExactAUC(), y, p, w) == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w))
    assert stream(M.ExactAUC(), y, np.c_[1 - p, p]) == pytest.approx(skm.roc_auc_score(y, p))
    yk, scores = multiclass_data(n=301, k=4)
    expected = skm.roc_auc_score(yk, scores, multi_class="ovr", average="macro")
    assert stream(M.ExactAUC(), yk, scores) == pytest.approx(expected)
    assert stream(M.ExactAUC(), np.eye(4)[yk], scores) == pytest.approx(expected)


def test_streaming_auc_is_nan_until_both_classes_are_seen():
    auc = M.ExactAUC()
    assert np.isnan(auc.result())
    auc.update_state([0, 0], [0.1, 0.7])
    assert np.isnan(auc.result())
    auc.update_state([1], [0.5])
    assert auc.result() == 0.5


def test_mean_metric_weights_batch_losses_by_batch_size():
    losses = M.MeanMetric("loss")
    values = rng.random(100)
    for b in uneven_batches(100):
        losses.update_state(values[b].mean(), sample_weight=b.stop - b.start)
    assert losses.result() == pytest.approx(values.mean())
    losses.reset_state()
    assert losses.result() == 0.0


def test_wrapped_function_is_a_batch_size_weighted_mean_named_after_it():
    def mean_absolute_error(y_true, y_pred):
        return float(np.mean(np.abs(y_true - y_pred)))

    metric = M.get(mean_absolute_error)
    assert metric.name == "mean_absolute_error"
    y, p = rng.random(100), rng.random(100)
    assert stream(metric, y, p) == pytest.approx(mean_absolute_error(y, p))


# --- get ------------------------------------------------------------------------

@pytest.mark.parametrize("loss, cls", [("binary_crossentropy", M.BinaryAccuracy),
                                       ("BinaryCrossentropy", M.BinaryAccuracy),
                                       ("categorical_crossentropy", M.CategoricalAccuracy),
                                       ("sparse_categorical_crossentropy", M.SparseCategoricalAccuracy)])
def test_accuracy_follows_the_loss(loss, cls):
    metric = M.get("accuracy", loss=loss)
    assert type(metric) is cls and metric.name == "accuracy"
    assert M.get("acc", loss=loss).name == "acc"


@pytest.mark.parametrize("y_true, y_pred, expected", [
    (np.array([[1], [0]]), np.array([[0.7], [0.4]]), 1.0),
    (np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]), 1.0),
    (np.array([[0, 1], [0, 1]]), np.array([[0.2, 0.8], [0.6, 0.4]]), 0.5)])
@pytest.mark.parametrize("loss", ["mse", "hinge", None])
def test_accuracy_without_a_deciding_loss_follows_the_shapes_as_keras(y_true, y_pred, expected, loss):
    metric = M.get("accuracy", loss=loss)
    metric.update_state(y_true, y_pred)
    assert metric.result() == pytest.approx(expected)


def test_get_resolves_names_instances_and_classes():
    for name, cls in [("binary_accuracy", M.BinaryAccuracy), ("categorical_accuracy", M.CategoricalAccuracy),
                      ("sparse_categorical_accuracy", M.SparseCategoricalAccuracy),
                      ("precision", M.Precision), ("recall", M.Recall), ("f1", M.MacroF1Score),
                      ("f1_score", M.F1Score), ("auc", M.AUC), ("macro_precision", M.MacroPrecision),
                      ("macro_recall", M.MacroRecall), ("exact_auc", M.ExactAUC)]:
        assert type(M.get(name)) is cls and M.get(name).name == name
    metric = M.Recall(name="r")
    assert M.get(metric) is metric
    assert type(M.get(M.AUC)) is M.AUC


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'acuracy'.*'accuracy'.*'auc'"):
        M.get("acuracy")
    with pytest.raises(TypeError, match="a metric must be"):
        M.get(3)


# --- bad input ------------------------------------------------------------------

def test_mismatched_lengths_name_both_arrays():
    with pytest.raises(ValueError, match="precision: y_true has 3 samples but y_pred has 2"):
        M.precision([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="roc_curve: y_true has 3 samples but scores has 2"):
        M.roc_auc_score([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="sample_weight has 2 entries but there are 3 samples"):
        M.binary_accuracy([0, 1, 1], [0.1, 0.2, 0.3], sample_weight=[1, 2])
    with pytest.raises(ValueError, match="empty"):
        M.recall([], [])
    with pytest.raises(ValueError, match="every sample weight is zero"):
        M.roc_auc_score([0, 1], [0.1, 0.2], sample_weight=[0, 0])


@pytest.mark.parametrize("labels, only", [([0, 0, 0], "negatives"), ([1, 1, 1], "positives")])
def test_roc_with_one_class_says_it_is_undefined(labels, only):
    with pytest.raises(ValueError, match=f"only {only}.*undefined.*both classes"):
        M.roc_auc_score(labels, [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="undefined"):
        M.roc_curve(labels, [0.1, 0.5, 0.9])


def test_pr_curve_without_positives_says_recall_is_undefined():
    with pytest.raises(ValueError, match="no positives.*recall is undefined"):
        M.average_precision_score([0, 0], [0.1, 0.5])


def test_binary_metrics_reject_multiclass_labels_and_name_the_fix():
    with pytest.raises(ValueError, match=r"y_true has labels \{0, 1, 2\}.*binary.*average='macro'"):
        M.f1_score([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match=r"y_true has labels \{0, 2\}.*y_true == k"):
        M.roc_auc_score([0, 2, 2], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="sparse_categorical_accuracy"):
        M.binary_accuracy([0, 3], [0.1, 0.9])
    with pytest.raises(ValueError, match=r"labels \{0, 1, 2\}.*\(N, K\) scores"):
        M.MacroPrecision().update_state([0, 1, 2], [0, 1, 1])


def test_labels_that_are_not_labels_are_rejected():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*sigmoid"):
        M.precision([0, 1], [-0.3, 1.2])
    with pytest.raises(ValueError, match="y_true must hold integer class labels"):
        M.confusion_matrix([0.5, 1], [0, 1])
    with pytest.raises(ValueError, match="label 3 but y_pred has only 3 columns"):
        M.sparse_categorical_accuracy([0, 3], np.eye(3)[:2])
    with pytest.raises(ValueError, match="outside 0..1; raise num_classes"):
        M.confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="categorical_accuracy.*use sparse_categorical_accuracy"):
        M.categorical_accuracy([0, 1], np.eye(2))
    with pytest.raises(ValueError, match="average='mean' is not one of"):
        M.recall([0, 1], [0, 1], average="mean")


def test_auc_needs_monotonic_x_and_two_points():
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        M.auc([0, 1, 0.5], [0, 1, 1])
    with pytest.raises(ValueError, match="at least 2 points"):
        M.auc([0], [1])


def test_streaming_metric_refuses_a_change_of_task_until_reset():
    metric = M.MacroPrecision()
    metric.update_state([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="reset_state"):
        metric.update_state([0, 2], np.eye(3)[:2])
    metric.reset_state()
    metric.update_state([0, 2], np.eye(3)[[0, 2]])
    assert metric.result() == 1.0
