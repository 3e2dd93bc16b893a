"""Keras 3's streaming metrics in adkit.nn.metrics: Accuracy, the top-k accuracies,
RootMeanSquaredError, the regression/probabilistic/hinge metrics, the cross-entropy metrics,
Mean and Sum. Values against plain NumPy formulas over uneven batches with sample weights,
Keras's names in compile(metrics=[...]) and History, configs, save/load, and (where Keras
is installed) the same values as Keras's own metrics."""

import re

import numpy as np
import pytest
from keras_referee import keras as real_keras  # noqa: F401 (the Keras referee fixture)
from opencl_support import needs_opencl

import adkit.nn as keras
from adkit.nn import metrics as M

EPS = 1e-7
rng = np.random.default_rng(0)


def stream(metric, y_true, y_pred, sample_weight=None, cuts=(0, 3, 4, 11, 20)):
    """The metric's result after feeding the data in uneven batches."""
    metric.reset_state()
    cuts = tuple(c for c in cuts if c < len(y_true))
    for a, b in zip(cuts, cuts[1:] + (len(y_true),)):
        w = None if sample_weight is None else sample_weight[a:b]
        metric.update_state(y_true[a:b], y_pred[a:b], sample_weight=w)
    return metric.result()


def weighted(per_sample, w):
    return np.sum(per_sample * w) / np.sum(w)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), EPS)


N, K = 25, 6
IDS = rng.integers(0, K, N)
ONEHOT = np.eye(K)[IDS]
SCORES = _softmax(rng.normal(size=(N, K)) * 2)
REAL_T, REAL_P = rng.normal(size=(N, 3)) * 2, rng.normal(size=(N, 3)) * 2
W = rng.uniform(0.1, 2.0, N)


def _rank(scores, labels):
    return 1 + np.sum(scores > scores[np.arange(len(labels)), labels][:, None], axis=1)


#: metric -> (y_true, y_pred, one value per sample by NumPy)
CASES = {
    "TopKCategoricalAccuracy": (ONEHOT, SCORES, (_rank(SCORES, IDS) <= 5).astype(float)),
    "SparseTopKCategoricalAccuracy": (IDS, SCORES, (_rank(SCORES, IDS) <= 5).astype(float)),
    "MeanAbsolutePercentageError": (REAL_T, REAL_P, 100 * np.mean(
        np.abs(REAL_T - REAL_P) / np.maximum(np.abs(REAL_T), EPS), axis=-1)),
    "MeanSquaredLogarithmicError": (np.abs(REAL_T), np.abs(REAL_P), np.mean(
        (np.log1p(np.abs(REAL_P)) - np.log1p(np.abs(REAL_T))) ** 2, axis=-1)),
    "KLDivergence": (_softmax(REAL_T), _softmax(REAL_P), np.sum(
        _softmax(REAL_T) * np.log(_softmax(REAL_T) / _softmax(REAL_P)), axis=-1)),
    "Poisson": (np.round(np.abs(REAL_T)), np.abs(REAL_P) + 0.1, np.mean(
        np.abs(REAL_P) + 0.1 - np.round(np.abs(REAL_T)) * np.log(np.abs(REAL_P) + 0.1 + EPS),
        axis=-1)),
    "CosineSimilarity": (REAL_T, REAL_P, np.sum(_unit(REAL_T) * _unit(REAL_P), axis=-1)),
    "LogCoshError": (REAL_T, REAL_P, np.mean(np.log(np.cosh(REAL_P - REAL_T)), axis=-1)),
    "Hinge": ((REAL_T > 0).astype(float), REAL_P,
              np.mean(np.maximum(1 - np.where(REAL_T > 0, 1, -1) * REAL_P, 0), axis=-1)),
    "SquaredHinge": ((REAL_T > 0).astype(float), REAL_P,
                     np.mean(np.maximum(1 - np.where(REAL_T > 0, 1, -1) * REAL_P, 0) ** 2,
                             axis=-1)),
    "CategoricalHinge": (ONEHOT, REAL_P[:, :1] * SCORES, np.maximum(
        np.max((1 - ONEHOT) * REAL_P[:, :1] * SCORES, -1)
        - np.sum(ONEHOT * REAL_P[:, :1] * SCORES, -1) + 1, 0)),
    "BinaryCrossentropy": ((REAL_T > 0).astype(float), 1 / (1 + np.exp(-REAL_P)), np.mean(
        -np.where(REAL_T > 0, np.log(1 / (1 + np.exp(-REAL_P))),
                  np.log(1 - 1 / (1 + np.exp(-REAL_P)))), axis=-1)),
    "CategoricalCrossentropy": (ONEHOT, SCORES, -np.log(SCORES[np.arange(N), IDS])),
    "SparseCategoricalCrossentropy": (IDS, SCORES, -np.log(SCORES[np.arange(N), IDS])),
    "Accuracy": (IDS, np.where(np.arange(N) % 3 == 0, IDS, (IDS + 1) % K),
                 (np.arange(N) % 3 == 0).astype(float)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_metric_streams_to_the_weighted_numpy_mean(name):
    t, p, per = CASES[name]
    metric = getattr(M, name)()
    assert stream(metric, t, p) == pytest.approx(per.mean(), rel=1e-9, abs=1e-12)
    assert stream(metric, t, p, W) == pytest.approx(weighted(per, W), rel=1e-9, abs=1e-12)
    metric.reset_state()
    assert metric.result() == 0.0


def test_top_k_counts_ties_in_and_k_changes_the_answer():
    scores = np.array([[0.3, 0.3, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    labels = np.array([2, 0, 1])
    # ranks: 1 (tied for first), 4, 2
    for k, want in ((1, 1 / 3), (2, 2 / 3), (3, 2 / 3), (4, 1.0)):
        assert stream(M.SparseTopKCategoricalAccuracy(k=k), labels, scores) == \
            pytest.approx(want)
        assert stream(M.TopKCategoricalAccuracy(k=k), np.eye(4)[labels], scores) == \
            pytest.approx(want)
    assert stream(M.SparseTopKCategoricalAccuracy(k=2), labels[:, None], scores) == \
        pytest.approx(2 / 3)                     # a column of labels counts as (N,)
    sorted_ids = np.argsort(-scores, axis=1, kind="stable")
    m = M.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    assert stream(m, labels, sorted_ids) == pytest.approx(np.mean(
        [labels[i] in sorted_ids[i, :2] for i in range(3)]))


def test_root_mean_squared_error_is_the_root_of_the_weighted_mean_square():
    t, p = REAL_T, REAL_P
    per = np.mean((p - t) ** 2, axis=-1)
    assert stream(M.RootMeanSquaredError(), t, p) == pytest.approx(np.sqrt(per.mean()))
    assert stream(M.RootMeanSquaredError(), t, p, W) == pytest.approx(np.sqrt(weighted(per, W)))
    m = M.RootMeanSquaredError()
    m.update_state(np.array([1.0, 2.0]), np.array([[1.5], [2.5]]))   # (N,) against (N, 1)
    assert m.result() == pytest.approx(0.5)


def test_mean_and_sum_reduce_per_sample_as_keras():
    values = rng.normal(size=(6, 4))
    w = rng.uniform(size=6)
    mean = M.Mean()
    mean.update_state(values[:2], sample_weight=w[:2])
    mean.update_state(values[2:], sample_weight=w[2:])
    assert mean.result() == pytest.approx(weighted(values.mean(axis=1), w))
    total = M.Sum()
    total.update_state(values[:3], sample_weight=w[:3])
    total.update_state(values[3:])
    assert total.result() == pytest.approx(np.sum(values[:3] * w[:3, None]) + values[3:].sum())
    assert M.Mean().name == "mean" and M.Sum().name == "sum"
    with pytest.raises(ValueError, match="values of shape \\(6, 4\\) but sample weights of shape"):
        M.Mean().update_state(values, sample_weight=np.ones(5))


def test_sparse_crossentropy_metric_ignores_a_class_as_keras():
    ids = IDS.copy()
    ids[::4] = -1
    per = -np.log(SCORES[np.arange(N), np.where(ids < 0, 0, ids)])
    keep = ids >= 0
    metric = M.SparseCategoricalCrossentropy(ignore_class=-1)
    assert stream(metric, ids, SCORES) == pytest.approx(per[keep].mean())
    assert stream(metric, ids, SCORES, W) == pytest.approx(weighted(per[keep], W[keep]))


def test_keras_defaults_names_and_configs():
    assert M.TopKCategoricalAccuracy().k == 5
    assert M.LogCoshError().name == "logcosh"
    names = {n: getattr(M, n)().name for n in ("Accuracy", "RootMeanSquaredError",
                                              "SparseTopKCategoricalAccuracy", "KLDivergence")}
    assert names == {"Accuracy": "accuracy", "RootMeanSquaredError": "root_mean_squared_error",
                     "SparseTopKCategoricalAccuracy": "sparse_top_k_categorical_accuracy",
                     "KLDivergence": "kl_divergence"}
    for metric in (M.TopKCategoricalAccuracy(k=3, name="top3"), M.CosineSimilarity(axis=-1),
                   M.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
                   M.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
                   M.BinaryAccuracy(threshold=0.7), M.Precision(thresholds=0.3),
                   M.RootMeanSquaredError(name="rmse"), M.Sum(), M.Mean(name="avg")):
        config = metric.get_config()
        again = type(metric).from_config(config)
        assert again.get_config() == config and type(again) is type(metric)
    assert M.TopKCategoricalAccuracy(k=3).get_config() == {
        "name": "top_k_categorical_accuracy", "dtype": None, "k": 3}


@pytest.mark.parametrize("name, cls", [
    ("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy),
    ("root_mean_squared_error", M.RootMeanSquaredError), ("mape", M.MeanAbsolutePercentageError),
    ("mean_absolute_percentage_error", M.MeanAbsolutePercentageError),
    ("msle", M.MeanSquaredLogarithmicError), ("kl_divergence", M.KLDivergence),
    ("poisson", M.Poisson), ("cosine_similarity", M.CosineSimilarity),
    ("logcosh", M.LogCoshError), ("log_cosh_error", M.LogCoshError), ("hinge", M.Hinge),
    ("squared_hinge", M.SquaredHinge), ("categorical_hinge", M.CategoricalHinge),
    ("binary_crossentropy", M.BinaryCrossentropy), ("bce", M.BinaryCrossentropy),
    ("categorical_crossentropy", M.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", M.SparseCategoricalCrossentropy),
    ("TopKCategoricalAccuracy", M.TopKCategoricalAccuracy), ("Accuracy", M.Accuracy),
    ("RootMeanSquaredError", M.RootMeanSquaredError),
])
def test_string_names_give_the_metric_named_as_given(name, cls):
    metric = M.get(name)
    assert type(metric) is cls and metric.name == name


def test_unknown_metric_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown metric 'top5'; valid names are .*"
                                         "'top_k_categorical_accuracy'.*'mape'"):
        M.get("top5")
    with pytest.raises(ValueError, match="top_k_categorical_accuracy: one-hot y_true of shape "
                                         "\\(3,\\) does not match"):
        M.TopKCategoricalAccuracy().update_state(np.array([0, 1, 2]), np.eye(3))
    with pytest.raises(ValueError, match="labels outside 0..2"):
        M.SparseTopKCategoricalAccuracy().update_state(np.array([0, 3]), np.eye(3)[:2])


def _classifier():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        K, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(3))])


def test_compile_logs_each_metric_under_its_keras_name_and_evaluates_it(tmp_path):
    x = rng.normal(size=(N, 4)).astype("float32")
    names = ["top_k_categorical_accuracy", "mape", "msle", "kl_divergence", "poisson",
             "cosine_similarity", "logcosh", "categorical_hinge", "root_mean_squared_error",
             "categorical_crossentropy"]
    model = _classifier()
    model.compile("adam", "categorical_crossentropy",
                  metrics=names + [M.TopKCategoricalAccuracy(k=2, name="top2")])
    history = model.fit(x, ONEHOT, epochs=2, batch_size=10, verbose=0, validation_split=0.2)
    assert list(history.history) == ["loss", *names, "top2", "val_loss",
                                     *(f"val_{n}" for n in names), "val_top2"]
    result = model.evaluate(x, ONEHOT, batch_size=7, verbose=0, return_dict=True)
    p = np.asarray(model.predict(x, verbose=0), np.float64)
    assert result["top2"] == pytest.approx(np.mean(_rank(p, IDS) <= 2))
    assert result["root_mean_squared_error"] == pytest.approx(np.sqrt(np.mean((p - ONEHOT) ** 2)),
                                                              rel=1e-5)
    assert result["cosine_similarity"] == pytest.approx(
        np.mean(np.sum(ONEHOT * _unit(p), -1)), rel=1e-5)
    assert result["categorical_crossentropy"] == pytest.approx(result["loss"], rel=1e-5)
    path = str(tmp_path / "metrics.adkit")
    model.save(path)
    loaded = keras.models.load_model(path)
    again = loaded.evaluate(x, ONEHOT, batch_size=7, verbose=0, return_dict=True)
    assert list(again) == ["loss", *names, "top2"]    # names and metric objects are saved
    for name in [*names, "top2"]:
        assert again[name] == pytest.approx(result[name], rel=1e-6)


def test_sparse_top_k_in_fit_with_integer_labels():
    x = rng.normal(size=(N, 4)).astype("float32")
    model = _classifier()
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy",
                           M.SparseTopKCategoricalAccuracy(k=1, name="top1"), "accuracy"])
    result = model.evaluate(x, IDS, verbose=0, return_dict=True)
    p = np.asarray(model.predict(x, verbose=0))
    assert result["sparse_top_k_categorical_accuracy"] == pytest.approx(
        np.mean(_rank(p, IDS) <= 5))
    assert result["top1"] == pytest.approx(result["accuracy"])


@pytest.mark.parametrize("cls, cell", [("TruePositives", lambda t, q: t & q),
                                       ("FalsePositives", lambda t, q: ~t & q),
                                       ("TrueNegatives", lambda t, q: ~t & ~q),
                                       ("FalseNegatives", lambda t, q: t & ~q)])
def test_confusion_counts_count_each_entry_at_each_threshold(cls, cell):
    t = rng.integers(0, 2, (N, 2)).astype(bool)
    p = rng.uniform(size=(N, 2))
    w = W[:, None]
    assert stream(getattr(M, cls)(), t, p) == pytest.approx(np.sum(cell(t, p > 0.5)))
    assert stream(getattr(M, cls)(), t, p, W) == pytest.approx(np.sum(cell(t, p > 0.5) * w))
    several = stream(getattr(M, cls)(thresholds=[0.2, 0.8]), t, p, W)
    np.testing.assert_allclose(several, [np.sum(cell(t, p > c) * w) for c in (0.2, 0.8)])
    assert getattr(M, cls)(thresholds=0.3).get_config()["thresholds"] == 0.3
    snake = {"TruePositives": "true_positives", "FalsePositives": "false_positives",
             "TrueNegatives": "true_negatives", "FalseNegatives": "false_negatives"}[cls]
    assert getattr(M, cls)().name == snake and type(M.get(snake)) is getattr(M, cls)
    with pytest.raises(ValueError, match="thresholds must be a number or a list of numbers"):
        getattr(M, cls)(thresholds=1.5)


def test_precision_and_recall_take_keras_thresholds_spelling():
    t = rng.integers(0, 2, N)
    p = rng.uniform(size=N)
    assert stream(M.Precision(thresholds=0.7), t, p) == pytest.approx(
        M.precision(t, p, threshold=0.7))
    assert stream(M.Recall(thresholds=0.3), t, p) == pytest.approx(M.recall(t, p, threshold=0.3))
    # (top_k, class_id, threshold lists and AUC: tests/test_nn_metrics_thresholds.py)


def test_the_keras_imbalanced_data_tutorial_metrics_run():
    """keras.io's "Classification on imbalanced data" compiles with these, as written."""
    metrics = [
        keras.metrics.BinaryCrossentropy(name="cross entropy"),
        keras.metrics.MeanSquaredError(name="Brier score"),
        keras.metrics.TruePositives(name="tp"), keras.metrics.FalsePositives(name="fp"),
        keras.metrics.TrueNegatives(name="tn"), keras.metrics.FalseNegatives(name="fn"),
        keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"), keras.metrics.AUC(name="auc"),
        keras.metrics.AUC(name="prc", curve="PR"),
    ]
    x = rng.normal(size=(200, 3)).astype("float32")
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 1.0).astype("float32")[:, None]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss=keras.losses.BinaryCrossentropy(), metrics=metrics)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                        class_weight={0: 0.6, 1: 3.0}).history
    assert list(history) == ["loss"] + [m.name for m in metrics]
    result = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert result["tp"] + result["fp"] + result["tn"] + result["fn"] == len(x)
    assert result["tp"] == np.sum((p > 0.5) & (y > 0))
    assert result["cross entropy"] == pytest.approx(result["loss"], rel=1e-5)
    # Keras's PR area interpolates between 200 thresholds: close to the exact step-wise one
    assert result["prc"] == pytest.approx(M.average_precision_score(y[:, 0], p[:, 0]), abs=0.02)
    assert result["auc"] == pytest.approx(M.roc_auc_score(y[:, 0], p[:, 0]), abs=0.01)


class BinaryTruePositives(keras.metrics.Metric):
    """The custom metric of Keras's guide, written against keras.metrics.Metric."""

    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                name="true_positives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = np.logical_and(np.asarray(y_true, bool), np.asarray(y_pred) > 0.5)
        values = values.astype("float32")
        if sample_weight is not None:
            values = values * np.reshape(sample_weight, (-1,) + (1,) * (values.ndim - 1))
        self.true_positives.assign(self.true_positives + np.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0)


class MeanAbsoluteLogits(keras.metrics.Metric):
    """Keras 2's spelling: add_weight, and the default reset_state."""

    def __init__(self, name="mal", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", shape=(), initializer=0)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(np.sum(np.abs(y_pred)))
        self.count.assign_add(np.size(y_pred))

    def result(self):
        return self.total / self.count


def test_keras_style_custom_metrics_with_state_variables():
    x = rng.normal(size=(N, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[BinaryTruePositives(),
                                                          MeanAbsoluteLogits()])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert history["binary_true_positives"][0] <= np.sum(y)   # reset each epoch, not summed
    result = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert result["binary_true_positives"] == np.sum((p > 0.5) & (y > 0))
    assert result["mal"] == pytest.approx(np.mean(np.abs(p)), rel=1e-6)
    metric = MeanAbsoluteLogits()
    metric.update_state(None, np.array([1.0, -3.0]))
    assert float(metric.result()) == 2.0 and [v.name for v in metric.variables] == ["total",
                                                                                   "count"]
    metric.reset_state()
    assert float(metric.total) == 0.0 and float(metric.count) == 0.0


@needs_opencl
def test_new_metrics_report_the_same_on_opencl():
    x = rng.normal(size=(N, 4)).astype("float32")
    results = []
    for device in ("cpu", "opencl"):
        model = _classifier()
        model.compile("sgd", "categorical_crossentropy", device=device,
                      metrics=["top_k_categorical_accuracy", "kl_divergence",
                               "root_mean_squared_error"])
        results.append(model.evaluate(x, ONEHOT, verbose=0))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)


# --- against Keras itself ---------------------------------------------------------------

KERAS_METRICS = sorted(CASES) + ["TruePositives", "FalsePositives", "TrueNegatives",
                                 "FalseNegatives", "RootMeanSquaredError", "MeanSquaredError",
                                 "MeanAbsoluteError", "BinaryAccuracy", "CategoricalAccuracy",
                                 "SparseCategoricalAccuracy"]


def _inputs(name):
    if name in CASES:
        return CASES[name][:2]
    if name == "BinaryAccuracy" or name.startswith(("True", "False")):
        return (REAL_T > 0).astype(float), 1 / (1 + np.exp(-REAL_P))
    if name == "CategoricalAccuracy":
        return ONEHOT, SCORES
    if name == "SparseCategoricalAccuracy":
        return IDS, SCORES
    return REAL_T, REAL_P


@pytest.mark.parametrize("name", KERAS_METRICS)
def test_metric_values_equal_keras(real_keras, name):
    t, p = (np.asarray(a, "float32") if a.dtype.kind == "f" else a for a in _inputs(name))
    for weights in (None, W.astype("float32")):
        ours, theirs = getattr(M, name)(), getattr(real_keras.metrics, name)()
        for a, b in ((0, 10), (10, N)):
            w = None if weights is None else weights[a:b]
            ours.update_state(t[a:b], p[a:b], sample_weight=w)
            theirs.update_state(t[a:b], p[a:b], sample_weight=w)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-6, abs=1e-6)
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)   # Keras numbers repeated auto-names


def test_mean_and_sum_equal_keras(real_keras):
    values = rng.normal(size=(6, 3)).astype("float32")
    w = rng.uniform(size=6).astype("float32")
    for cls in ("Mean", "Sum"):
        ours, theirs = getattr(M, cls)(), getattr(real_keras.metrics, cls)()
        ours.update_state(values, sample_weight=w)
        theirs.update_state(values, sample_weight=w)
        ours.update_state(values[:2])
        theirs.update_state(values[:2])
        assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-6)
