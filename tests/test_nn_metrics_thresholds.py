"""Keras 3's threshold metrics (Precision, Recall, the confusion counts, AUC, the
*At* metrics) and F-scores (F1Score, FBetaScore) in adkit.nn.metrics: every entry of
y_pred is one binary decision, as Keras's. Values against plain NumPy formulas written
here over uneven batches with sample weights (CI), against Keras 3 itself where it is
installed, and in compile/fit/evaluate (compiled and jit_compile=False agree, save/load,
masked steps left out of the metrics that Keras leaves them out of)."""

import numpy as np
import pytest
from keras_referee import keras as real_keras  # noqa: F401 (the Keras referee fixture)

import adkit.nn as keras
from adkit.nn import metrics as M

rng = np.random.default_rng(7)
N, K = 41, 4
IDS = rng.integers(0, K, N)
ONEHOT = np.eye(K, dtype=np.float32)[IDS]
SCORES = rng.random((N, K)).astype(np.float32)
SCORES[3, 1], SCORES[5] = 0.5, 0.0          # a score on the threshold, an all-zero row
MULTI = (rng.random((N, K)) > 0.6).astype(np.float32)
W = rng.uniform(0.1, 2.0, N).astype(np.float32)
YB = (rng.random(N) > 0.5).astype(np.float32)
PB = rng.random(N).astype(np.float32)
PB[:3] = [0.0, 0.5, 1.0]


def stream(metric, y_true, y_pred, sample_weight=None, cuts=(0, 3, 4, 11, 20)):
    """The metric's result after feeding the data in uneven batches."""
    metric.reset_state()
    for a, b in zip(cuts, cuts[1:] + (len(y_true),)):
        w = None if sample_weight is None else sample_weight[a:b]
        metric.update_state(y_true[a:b], y_pred[a:b], sample_weight=w)
    return metric.result()


# --- NumPy references ---------------------------------------------------------------

def counts(t, p, thresholds, w=None):
    """(tp, fp, tn, fn) per threshold over every entry, by plain comparisons."""
    p = np.asarray(p, np.float32)
    t = np.asarray(t, bool).reshape(p.shape)
    w = np.ones(p.size) if w is None else rowwise(w, p.shape).ravel()
    t, p = t.ravel(), p.ravel()
    out = []
    for th in np.float32(thresholds):
        pos = p > th
        out.append([np.sum(w * (pos & t)), np.sum(w * (pos & ~t)),
                    np.sum(w * (~pos & ~t)), np.sum(w * (~pos & t))])
    return np.array(out, dtype=np.float64).T


def ratio(a, b):
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def rowwise(w, shape):
    return np.broadcast_to(np.reshape(w, (shape[0],) + (1,) * (len(shape) - 1)), shape)


def top_k_only(p, k):
    keep = np.zeros(p.shape, bool)
    for i, row in enumerate(p):
        keep[i, np.argsort(-row, kind="stable")[:k]] = True
    return np.where(keep, p, -1e10).astype(np.float32)


def auc_thresholds(n):
    return [-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7]


def roc_auc_reference(t, p, w=None, n=200):
    tp, fp, tn, fn = counts(t, p, auc_thresholds(n), w)
    x, y = ratio(fp, fp + tn), ratio(tp, tp + fn)
    return float(np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2))


def pr_auc_reference(t, p, w=None, n=200):
    """Davis & Goadrich: precision interpolated along the true positives between
    neighbouring thresholds, integrated over recall."""
    tp, fp, _, fn = counts(t, p, auc_thresholds(n), w)
    total = 0.0
    for i in range(n - 1):
        dtp, dp = tp[i] - tp[i + 1], (tp[i] + fp[i]) - (tp[i + 1] + fp[i + 1])
        if dp <= 0 or dtp == 0 or tp[i + 1] + fn[i + 1] <= 0:
            continue
        slope = dtp / dp
        intercept = tp[i + 1] - slope * (tp[i + 1] + fp[i + 1])
        p_a, p_b = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        log_term = np.log(p_a / p_b) if p_a > 0 and p_b > 0 else 0.0
        total += slope * (dtp + intercept * log_term) / (tp[i + 1] + fn[i + 1])
    return total


def fbeta_reference(t, p, beta, average, threshold=None, w=None):
    if threshold is None:
        hits = (p >= p.max(-1, keepdims=True)) & (np.abs(p) > 1e-9)
    else:
        hits = p > threshold
    w = np.ones(len(t)) if w is None else w
    axis = None if average == "micro" else 0
    tp = np.sum(w[:, None] * (hits & (t > 0)), axis=axis)
    fp = np.sum(w[:, None] * (hits & (t == 0)), axis=axis)
    fn = np.sum(w[:, None] * (~hits & (t > 0)), axis=axis)
    support = np.sum(w[:, None] * t, axis=axis)
    prec, rec = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    f = (1 + beta ** 2) * prec * rec / (beta ** 2 * prec + rec + 1e-7)
    if average == "weighted":
        return np.sum(f * support / (np.sum(support) + 1e-7))
    return f if average is None else np.mean(f)


# --- values against NumPy -------------------------------------------------------------

@pytest.mark.parametrize("weights", [None, W])
def test_precision_and_recall_score_every_entry_at_each_threshold(weights):
    thresholds = [0.2, 0.5, 0.9]
    tp, fp, _, fn = counts(ONEHOT, SCORES, thresholds, weights)
    np.testing.assert_allclose(stream(M.Precision(thresholds=thresholds), ONEHOT, SCORES, weights),
                               ratio(tp, tp + fp), rtol=1e-6)
    np.testing.assert_allclose(stream(M.Recall(thresholds=thresholds), ONEHOT, SCORES, weights),
                               ratio(tp, tp + fn), rtol=1e-6)
    tp, fp, _, fn = counts(ONEHOT, SCORES, [0.5], weights)
    assert stream(M.Precision(), ONEHOT, SCORES, weights) == pytest.approx(tp[0] / (tp[0] + fp[0]))
    assert stream(M.get("recall"), ONEHOT, SCORES, weights) == pytest.approx(tp[0] / (tp[0] + fn[0]))
    # evenly spaced thresholds are counted by buckets, as Keras does: same counts
    even = [0.0, 0.25, 0.5, 0.75, 1.0]
    tp, fp, _, _ = counts(ONEHOT, SCORES, even, weights)
    np.testing.assert_allclose(stream(M.Precision(thresholds=even), ONEHOT, SCORES, weights),
                               ratio(tp, tp + fp), rtol=1e-6)


def test_precision_top_k_and_class_id():
    kept = top_k_only(SCORES, 2)
    tp, fp, _, fn = counts(ONEHOT, kept, [-1e10], W)
    assert stream(M.Precision(top_k=2), ONEHOT, SCORES, W) == pytest.approx(tp[0] / (tp[0] + fp[0]))
    assert stream(M.Recall(top_k=2), ONEHOT, SCORES, W) == pytest.approx(tp[0] / (tp[0] + fn[0]))
    tp, fp, _, fn = counts(ONEHOT[:, 2], SCORES[:, 2], [0.5], W)
    assert stream(M.Precision(class_id=2), ONEHOT, SCORES, W) == pytest.approx(tp[0] / (tp[0] + fp[0]))
    col = top_k_only(SCORES, 1)[:, 1]
    tp, _, _, fn = counts(ONEHOT[:, 1], col, [-1e10])
    assert stream(M.Recall(class_id=1, top_k=1), ONEHOT, SCORES) == pytest.approx(tp[0] / (tp[0] + fn[0]))


def test_confusion_counts_sum_to_the_weighted_number_of_entries():
    thresholds = [0.3, 0.6]
    expected = counts(ONEHOT, SCORES, thresholds, W)
    got = [stream(cls(thresholds=thresholds), ONEHOT, SCORES, W)
           for cls in (M.TruePositives, M.FalsePositives, M.TrueNegatives, M.FalseNegatives)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(np.sum(got, axis=0), np.sum(rowwise(W, ONEHOT.shape)), rtol=1e-6)
    assert isinstance(stream(M.TruePositives(thresholds=[0.3]), ONEHOT, SCORES), float)


@pytest.mark.parametrize("weights", [None, W])
def test_auc_roc_and_pr_follow_the_threshold_counts(weights):
    assert stream(M.AUC(), YB, PB, weights) == pytest.approx(roc_auc_reference(YB, PB, weights),
                                                             rel=1e-6)
    assert stream(M.AUC(curve="PR"), YB, PB, weights) == pytest.approx(
        pr_auc_reference(YB, PB, weights), rel=1e-6)
    assert stream(M.AUC(num_thresholds=11), ONEHOT, SCORES, weights) == pytest.approx(
        roc_auc_reference(ONEHOT, SCORES, weights, n=11), rel=1e-6)
    z = (PB.astype(np.float64) - 0.5) * 8
    assert stream(M.AUC(from_logits=True), YB, z) == pytest.approx(
        roc_auc_reference(YB, 1 / (1 + np.exp(-z))), rel=1e-6)


def test_auc_summation_methods_and_multi_label():
    tp, fp, tn, fn = counts(YB, PB, auc_thresholds(13), W)
    x, y = ratio(fp, fp + tn), ratio(tp, tp + fn)
    assert stream(M.AUC(num_thresholds=13, summation_method="minoring"), YB, PB, W) == \
        pytest.approx(np.sum((x[:-1] - x[1:]) * np.minimum(y[:-1], y[1:])), rel=1e-6)
    assert stream(M.AUC(num_thresholds=13, summation_method="majoring"), YB, PB, W) == \
        pytest.approx(np.sum((x[:-1] - x[1:]) * np.maximum(y[:-1], y[1:])), rel=1e-6)
    per_label = [roc_auc_reference(MULTI[:, j], SCORES[:, j], W) for j in range(K)]
    assert stream(M.AUC(multi_label=True), MULTI, SCORES, W) == pytest.approx(np.mean(per_label),
                                                                              rel=1e-6)
    lw = np.array([1.0, 2.0, 0.5, 1.0])
    assert stream(M.AUC(multi_label=True, num_labels=K, label_weights=lw), MULTI, SCORES, W) == \
        pytest.approx(np.sum(lw * per_label) / lw.sum(), rel=1e-6)
    # a large num_thresholds comes close to the exact area
    assert stream(M.AUC(num_thresholds=2000), YB, PB) == pytest.approx(
        M.roc_auc_score(YB, PB), abs=2e-3)


@pytest.mark.parametrize("cls, bound, reported", [
    (M.PrecisionAtRecall, "recall", "precision"), (M.RecallAtPrecision, "precision", "recall"),
    (M.SensitivityAtSpecificity, "specificity", "recall"),
    (M.SpecificityAtSensitivity, "recall", "specificity")])
def test_rate_at_rate_metrics_take_the_best_feasible_threshold(cls, bound, reported):
    thresholds = [0.0] + [(i + 1) / 49 for i in range(48)] + [1.0]
    tp, fp, tn, fn = counts(YB, PB, thresholds, W)
    rates = {"recall": ratio(tp, tp + fn), "precision": ratio(tp, tp + fp),
             "specificity": ratio(tn, tn + fp)}
    expected = np.max(np.where(rates[bound] >= 0.6, rates[reported], 0.0), initial=0.0)
    assert stream(cls(0.6, num_thresholds=50), YB, PB, W) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
def test_f_scores_follow_keras_formula(average, threshold):
    got = stream(M.F1Score(average=average, threshold=threshold), MULTI, SCORES, W)
    np.testing.assert_allclose(got, fbeta_reference(MULTI, SCORES, 1.0, average, threshold, W),
                               rtol=1e-6)
    got = stream(M.FBetaScore(average=average, beta=2.0, threshold=threshold), ONEHOT, SCORES)
    np.testing.assert_allclose(got, fbeta_reference(ONEHOT, SCORES, 2.0, average, threshold),
                               rtol=1e-6)


def test_sklearn_macro_averages_stay_under_explicit_names():
    skm = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the referee here")
    pred = SCORES.argmax(1)
    for cls, fn in [(M.MacroPrecision, skm.precision_score), (M.MacroRecall, skm.recall_score),
                    (M.MacroF1Score, skm.f1_score)]:
        assert stream(cls(), IDS, SCORES) == pytest.approx(fn(IDS, pred, average="macro",
                                                              zero_division=0))
    assert stream(M.ExactAUC(), YB, PB, W) == pytest.approx(skm.roc_auc_score(YB, PB,
                                                                              sample_weight=W))
    assert type(M.get("f1")) is M.MacroF1Score and type(M.get("f1_score")) is M.F1Score


def test_configs_round_trip_and_variables_are_keras_names():
    for metric in (M.Precision(thresholds=[0.3, 0.7], class_id=1, name="p"), M.Recall(top_k=3),
                   M.AUC(curve="PR", num_thresholds=50, multi_label=True, num_labels=3),
                   M.AUC(thresholds=[0.2, 0.4]), M.F1Score(average="macro", threshold=0.3),
                   M.FBetaScore(beta=0.5), M.PrecisionAtRecall(0.7, num_thresholds=20),
                   M.SpecificityAtSensitivity(0.3, class_id=0)):
        config = metric.get_config()
        again = type(metric).from_config(config)
        assert again.get_config() == config
    assert [v.name for v in M.Precision().variables] == ["true_positives", "false_positives"]
    assert M.AUC().get_config()["curve"] == "ROC" and len(M.AUC(num_thresholds=7).thresholds) == 7


def test_bad_arguments_and_shapes_name_the_fix():
    with pytest.raises(ValueError, match=r"does not match y_pred of shape \(2, 3\).*one-hot.*"
                                         r"MacroPrecision"):
        M.Precision().update_state([0, 2], np.eye(3)[:2])
    with pytest.raises(ValueError, match="thresholds must be a number or a list"):
        M.Recall(thresholds=[0.2, 1.5])
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        M.Precision(top_k=0)
    with pytest.raises(ValueError, match="class_id=5 but y_pred has only 3 columns"):
        M.Precision(class_id=5).update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="curve must be one of"):
        M.AUC(curve="DET")
    with pytest.raises(ValueError, match="num_thresholds must be an int > 1"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="recall must be a number in"):
        M.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="beta must be a number > 0"):
        M.FBetaScore(beta=0.0)
    with pytest.raises(ValueError, match="2-D inputs.*to_categorical"):
        M.F1Score().update_state(np.array([0, 1]), np.array([0.2, 0.9]))
    with pytest.deprecated_call():
        assert M.Precision(threshold=0.3).thresholds == [0.3]


# --- in compile / fit / evaluate ---------------------------------------------------------

def _classifier(seed=0):
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(K, activation="softmax")],
                            seed=seed)


def test_compiled_and_eager_metrics_agree_and_survive_save_load(tmp_path):
    x = rng.normal(size=(N, 5)).astype("float32")
    names = ["precision", "recall", "auc", "f1_score", "true_positives"]
    objects = [M.Precision(thresholds=[0.2, 0.5], name="p2"), M.Recall(top_k=2, name="r_top2"),
               M.AUC(multi_label=True, name="ml_auc"), M.FBetaScore(beta=2.0, average="macro"),
               M.PrecisionAtRecall(0.5)]
    runs = []
    for jit in (True, False):
        model = _classifier()
        model.compile("adam", "categorical_crossentropy", metrics=names + objects,
                      jit_compile=jit)
        history = model.fit(x, ONEHOT, batch_size=8, epochs=2, verbose=0).history
        runs.append((history, model.evaluate(x, ONEHOT, batch_size=7, verbose=0,
                                             return_dict=True), model))
    for key in runs[0][1]:
        np.testing.assert_allclose(runs[0][1][key], runs[1][1][key], rtol=1e-5)
        np.testing.assert_allclose(runs[0][0][key], runs[1][0][key], rtol=1e-5)
    result, model = runs[0][1], runs[0][2]
    p = model.predict(x, verbose=0)
    tp, fp, _, fn = counts(ONEHOT, p, [0.5])
    assert result["precision"] == pytest.approx(tp[0] / (tp[0] + fp[0]), rel=1e-6)
    assert result["auc"] == pytest.approx(roc_auc_reference(ONEHOT, p), rel=1e-5)
    assert np.shape(result["f1_score"]) == (K,) and np.shape(result["p2"]) == (2,)
    np.testing.assert_allclose(result["f1_score"], fbeta_reference(ONEHOT, p, 1.0, None),
                               rtol=1e-5)
    path = str(tmp_path / "m.adkit")
    model.save(path)
    again = keras.models.load_model(path).evaluate(x, ONEHOT, batch_size=7, verbose=0,
                                                   return_dict=True)
    assert list(again) == list(result)          # the metric objects are saved with their configs
    for name in result:
        np.testing.assert_allclose(again[name], result[name], rtol=1e-6)


def _masked_data():
    x = rng.normal(size=(6, 5, 3)).astype("float32")
    lengths = [5, 3, 2, 4, 1, 5]
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    y = (rng.random((6, 5, 1)) > 0.5).astype("float32")
    return x, y, mask


def _masked_model():
    inp = keras.Input((5, 3))
    h = keras.layers.SimpleRNN(4, return_sequences=True)(keras.layers.Masking()(inp))
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(h))


MASK_METRICS = ["mae", "accuracy", "precision", "auc", "binary_accuracy"]


@pytest.mark.parametrize("jit", [True, False])
def test_masked_steps_leave_the_mean_metrics_as_keras(jit):
    x, y, mask = _masked_data()
    model = _masked_model()
    model.compile("adam", "binary_crossentropy", metrics=MASK_METRICS, jit_compile=jit)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    result = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    error = np.abs(p - y)[..., 0]
    right = ((p > 0.5) == (y > 0))[..., 0]
    assert result["mae"] == pytest.approx(error[mask].mean(), rel=1e-5)
    assert result["accuracy"] == pytest.approx(right[mask].mean(), rel=1e-6)
    assert result["binary_accuracy"] == pytest.approx(right[mask].mean(), rel=1e-6)
    tp, fp, _, _ = counts(y, p, [0.5])       # Keras's Precision takes no mask
    assert result["precision"] == pytest.approx(tp[0] / (tp[0] + fp[0]), rel=1e-6)


# --- against Keras itself -------------------------------------------------------------

KERAS_CASES = {
    "precision": (lambda m: m.Precision(), ONEHOT, SCORES, W),
    "recall_thresholds": (lambda m: m.Recall(thresholds=[0.2, 0.5, 0.9]), ONEHOT, SCORES, W),
    "precision_even": (lambda m: m.Precision(thresholds=[0.0, 0.5, 1.0]), ONEHOT, SCORES, W),
    "precision_top_k": (lambda m: m.Precision(top_k=2), ONEHOT, SCORES, W),
    "recall_class_top_k": (lambda m: m.Recall(class_id=1, top_k=2), ONEHOT, SCORES, None),
    "precision_class": (lambda m: m.Precision(class_id=2), ONEHOT, SCORES, W),
    "precision_column": (lambda m: m.Precision(), YB[:, None], PB, None),
    "true_negatives": (lambda m: m.TrueNegatives(thresholds=[0.3]), ONEHOT, SCORES, W),
    "auc": (lambda m: m.AUC(), YB, PB, W),
    "auc_onehot": (lambda m: m.AUC(), ONEHOT, SCORES, W),
    "auc_pr": (lambda m: m.AUC(curve="PR"), YB, PB, W),
    "auc_pr_minoring": (lambda m: m.AUC(curve="PR", summation_method="minoring"), YB, PB, W),
    "auc_majoring": (lambda m: m.AUC(summation_method="majoring", num_thresholds=13), YB, PB, W),
    "auc_prgain": (lambda m: m.AUC(curve="PRGAIN"), YB, PB, None),
    "auc_thresholds": (lambda m: m.AUC(thresholds=[0.1, 0.35, 0.8]), YB, PB, W),
    "auc_multi_label": (lambda m: m.AUC(multi_label=True), MULTI, SCORES, W),
    "auc_label_weights": (lambda m: m.AUC(multi_label=True, label_weights=[1, 2, 0.5, 1],
                                          curve="PR"), MULTI, SCORES, None),
    "auc_logits": (lambda m: m.AUC(from_logits=True), YB, (PB - 0.5) * 8, None),
    "precision_at_recall": (lambda m: m.PrecisionAtRecall(0.6), YB, PB, W),
    "recall_at_precision": (lambda m: m.RecallAtPrecision(0.6, num_thresholds=50), YB, PB, None),
    "sensitivity_at_specificity": (lambda m: m.SensitivityAtSpecificity(0.5), ONEHOT, SCORES, W),
    "specificity_at_sensitivity": (lambda m: m.SpecificityAtSensitivity(0.5, class_id=1),
                                   ONEHOT, SCORES, W),
    "f1": (lambda m: m.F1Score(), ONEHOT, SCORES, None),
    "f1_weighted": (lambda m: m.F1Score(average="weighted"), ONEHOT, SCORES, W),
    "f1_micro": (lambda m: m.F1Score(average="micro", threshold=0.5), ONEHOT, SCORES, W),
    "fbeta_macro": (lambda m: m.FBetaScore(beta=2.0, average="macro", threshold=0.4),
                    MULTI, SCORES, W),
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_threshold_metrics_equal_keras(real_keras, case):
    make, t, p, w = KERAS_CASES[case]
    np.testing.assert_allclose(np.asarray(stream(make(M), t, p, w), np.float64),
                               np.asarray(stream(make(real_keras.metrics), t, p, w), np.float64),
                               rtol=2e-6, atol=1e-6)


def test_masked_metrics_equal_keras_evaluate(real_keras):
    x, y, _ = _masked_data()
    ours = _masked_model()
    ours.compile("sgd", "binary_crossentropy", metrics=MASK_METRICS)
    L = real_keras.layers
    inp = real_keras.Input((5, 3))
    h = L.SimpleRNN(4, return_sequences=True)(L.Masking()(inp))
    theirs = real_keras.Model(inp, L.Dense(1, activation="sigmoid")(h))
    theirs.set_weights(ours.get_weights())
    theirs.compile("sgd", "binary_crossentropy", metrics=MASK_METRICS)
    got = ours.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    expected = theirs.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    for name in ["loss"] + MASK_METRICS:
        assert got[name] == pytest.approx(float(expected[name]), rel=2e-5), name


def _two_output_model(layers):
    inp = layers.Input((5, 3))
    h = layers.layers.Masking()(inp)
    seq = layers.layers.SimpleRNN(4, return_sequences=True, name="r1")(h)
    o1 = layers.layers.Dense(1, activation="sigmoid", name="seq")(seq)
    o2 = layers.layers.Dense(2, name="vec")(layers.layers.SimpleRNN(3, name="r2")(h))
    return layers.Model(inp, [o1, o2])


def _two_output_data():
    x, y1, mask = _masked_data()
    return x, [y1, rng.normal(size=(6, 2)).astype("float32")], mask


@pytest.mark.parametrize("jit", [True, False])
def test_each_output_gets_its_own_mask(jit):
    x, (y1, y2), mask = _two_output_data()
    model = _two_output_model(keras)
    model.compile("sgd", ["mse", "mse"], metrics=[["mae", "accuracy"], ["mae"]], jit_compile=jit)
    model.fit(x, [y1, y2], batch_size=4, epochs=1, verbose=0)
    result = model.evaluate(x, [y1, y2], batch_size=4, verbose=0, return_dict=True)
    p1, p2 = model.predict(x, verbose=0)
    assert result["seq_mae"] == pytest.approx(np.abs(p1 - y1)[..., 0][mask].mean(), rel=1e-5)
    assert result["seq_accuracy"] == pytest.approx(((p1 > 0.5) == (y1 > 0))[..., 0][mask].mean())
    assert result["vec_mae"] == pytest.approx(np.abs(p2 - y2).mean(), rel=1e-5)
    # the output's loss in the logs leaves masked steps out too (batch means, by batch size)
    batch_losses = [((p1[a:a + 4] - y1[a:a + 4]) ** 2)[..., 0][mask[a:a + 4]].mean() * len(p1[a:a + 4])
                    for a in (0, 4)]
    assert result["seq_loss"] == pytest.approx(sum(batch_losses) / len(p1), rel=1e-5)


def test_two_output_masked_metrics_equal_keras_evaluate(real_keras):
    x, ys, _ = _two_output_data()
    ours, theirs = _two_output_model(keras), _two_output_model(real_keras)
    for name in ("r1", "r2", "seq", "vec"):
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    for model in (ours, theirs):
        # binary cross-entropy on a sigmoid: the loss fused to the logits keeps the mask
        model.compile("sgd", ["binary_crossentropy", "mse"],
                      metrics=[["mae", "accuracy"], ["mae"]])
    got = ours.evaluate(x, ys, batch_size=4, verbose=0, return_dict=True)
    expected = theirs.evaluate(x, ys, batch_size=4, verbose=0, return_dict=True)
    for name in ("loss", "seq_loss", "vec_loss", "seq_mae", "seq_accuracy", "vec_mae"):
        assert got[name] == pytest.approx(float(expected[name]), rel=2e-5), name
