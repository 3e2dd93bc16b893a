"""sample_weight, class_weight and weighted_metrics, as Keras 3 weighs them: the batch
loss is sum(loss_i * w_i) / batch size ("sum_over_batch_size"), checked against
losses computed by hand with NumPy for a linear model, and its gradient against
finite differences (adkit.numeric)."""

import numpy as np
import pytest

from adkit import numeric
from adkit.nn import Sequential
from adkit.nn.data_adapters import class_sample_weights
from adkit.nn.layers import Dense


def linear(seed=0, units=1, activation=None, loss="mse", **compile_args):
    model = Sequential([Dense(units, input_shape=(3,), activation=activation)], seed=seed)
    model.compile(optimizer="sgd", loss=loss, **compile_args)
    return model


def data(n=10, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = rng.normal(size=(n, 1)).astype(np.float32)
    w = rng.uniform(0.0, 3.0, size=n).astype(np.float32)
    return x, y, w


def by_hand_mse(model, x, y, w):
    """Keras's weighted mse for the Dense layer's current weights, in NumPy."""
    kernel, bias = model.get_weights()
    per_example = np.mean((x.astype(np.float64) @ kernel + bias - y) ** 2, axis=-1)
    return np.sum(per_example * w) / len(x)


def test_evaluate_weighs_the_loss_as_sum_over_batch_size():
    model = linear()
    x, y, w = data()
    got = model.evaluate(x, y, sample_weight=w, batch_size=4)
    # batch-size-weighted mean of the batch losses = sum(loss_i * w_i) / n overall
    assert got == pytest.approx(by_hand_mse(model, x, y, w), rel=1e-5)
    # not the weight-normalised mean
    kernel, bias = model.get_weights()
    per = np.mean((x @ kernel + bias - y) ** 2, axis=-1)
    assert got != pytest.approx(np.sum(per * w) / np.sum(w), rel=1e-3)


def test_one_sgd_step_follows_the_weighted_gradient():
    model = linear()
    x, y, w = data()
    kernel, bias = (a.astype(np.float64) for a in model.get_weights())

    def loss(p):
        return np.sum(np.mean((x @ p["kernel"] + p["bias"] - y) ** 2, axis=-1) * w) / len(x)

    expected_grad = numeric.gradient(loss, {"kernel": kernel, "bias": bias})
    batch_loss = model.train_on_batch(x, y, sample_weight=w)
    assert batch_loss == pytest.approx(loss({"kernel": kernel, "bias": bias}), rel=1e-5)
    new_kernel, new_bias = model.get_weights()
    lr = 0.01   # SGD's default
    np.testing.assert_allclose(new_kernel, kernel - lr * expected_grad["kernel"], rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(new_bias, bias - lr * expected_grad["bias"], rtol=1e-4, atol=1e-6)


def test_fit_with_weights_equals_fit_on_the_weighted_loss_by_hand():
    x, y, w = data(n=8)
    model = linear()
    start = [a.astype(np.float64) for a in model.get_weights()]
    history = model.fit(x, y, sample_weight=w, batch_size=8, epochs=1, shuffle=False, verbose=0)
    kernel, bias = start
    assert history.history["loss"][0] == pytest.approx(
        np.sum(np.mean((x @ kernel + bias - y) ** 2, -1) * w) / 8, rel=1e-5)
    # weights of 2 everywhere double the gradient: the same as twice the learning rate
    doubled, plain = linear(), linear()
    doubled.fit(x, y, sample_weight=np.full(8, 2.0), batch_size=8, epochs=1, shuffle=False,
                verbose=0)
    plain.optimizer.learning_rate = 0.02
    plain.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(doubled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_zero_weights_leave_examples_out_of_the_gradient():
    x, y, _ = data(n=8)
    w = np.array([1, 1, 1, 1, 0, 0, 0, 0], np.float32)
    a, b = linear(), linear()
    a.train_on_batch(x, y, sample_weight=w)
    # the first half alone, its mean scaled by 4/8 (sum over batch size)
    b.optimizer.learning_rate = 0.005
    b.train_on_batch(x[:4], y[:4])
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-5)


def test_class_weight_maps_sparse_and_one_hot_labels_like_keras():
    assert class_sample_weights(np.array([0, 2, 1]), {0: 1.0, 1: 5.0}).tolist() == [1, 1, 5]
    one_hot = np.eye(3)[[2, 0, 1]]
    assert class_sample_weights(one_hot, {2: 4.0}).tolist() == [4, 1, 1]
    assert class_sample_weights(np.array([[0.0], [1.0]]), {1: 3.0}).tolist() == [1, 3]
    with pytest.raises(ValueError, match="integer class ids"):
        class_sample_weights(np.array([0, 1]), {"a": 1.0})
    with pytest.raises(TypeError, match="dict"):
        class_sample_weights(np.array([0, 1]), [1.0, 2.0])


def test_class_weight_and_sample_weight_multiply():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    w = rng.uniform(0.5, 2.0, 12).astype(np.float32)
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    model = linear(units=3, activation="softmax", loss="sparse_categorical_crossentropy")
    both = model.evaluate(x, y, sample_weight=w, class_weight=cw, batch_size=5)
    merged = model.evaluate(x, y, sample_weight=w * np.array([cw[int(c)] for c in y]),
                            batch_size=5)
    assert both == pytest.approx(merged, rel=1e-6)
    kernel, bias = model.get_weights()
    logits = x.astype(np.float64) @ kernel + bias
    log_p = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
    per = -log_p[np.arange(12), y]
    assert both == pytest.approx(np.sum(per * w * np.array([cw[int(c)] for c in y])) / 12,
                                 rel=1e-5)


def test_fit_with_class_weight_trains_on_the_weighted_loss():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    cw = {0: 3.0, 1: 0.5}
    a = linear(units=2, activation="softmax", loss="sparse_categorical_crossentropy")
    b = linear(units=2, activation="softmax", loss="sparse_categorical_crossentropy")
    a.fit(x, y, class_weight=cw, batch_size=16, epochs=2, shuffle=False, verbose=0)
    b.fit(x, y, sample_weight=np.where(y == 0, 3.0, 0.5), batch_size=16, epochs=2,
          shuffle=False, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-6)


def test_weighted_metrics_take_the_weights_and_plain_metrics_do_not():
    x, y, w = data(n=9)
    model = linear(metrics=["mae"], weighted_metrics=["mae"])
    assert model.metrics_names == ["loss", "mae", "weighted_mae"]
    result = model.evaluate(x, y, sample_weight=w, batch_size=4, return_dict=True)
    kernel, bias = model.get_weights()
    err = np.abs(x.astype(np.float64) @ kernel + bias - y)[:, 0]
    assert result["mae"] == pytest.approx(np.mean(err), rel=1e-5)
    assert result["weighted_mae"] == pytest.approx(np.sum(err * w) / np.sum(w), rel=1e-5)
    history = model.fit(x, y, sample_weight=w, epochs=1, verbose=0,
                        validation_data=(x, y, w))
    assert set(history.history) >= {"mae", "weighted_mae", "val_weighted_mae"}


def test_sample_weight_in_validation_split_follows_its_rows():
    x, y, w = data(n=10)
    model = linear()
    history = model.fit(x, y, sample_weight=w, validation_split=0.3, epochs=1, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        by_hand_mse(model, x[7:], y[7:], w[7:]), rel=1e-5)


@pytest.mark.parametrize("weights, message", [
    (np.ones(9), r"shape \(9,\) for 10 examples"),
    (np.full(10, -1.0), "finite and >= 0"),
    (np.array(["a"] * 10), "must hold numbers"),
])
def test_bad_sample_weights_are_refused_with_the_fix(weights, message):
    x, y, _ = data()
    model = linear()
    with pytest.raises((ValueError, TypeError), match=message):
        model.fit(x, y, sample_weight=weights, verbose=0)


# --- against Keras 3 itself ---------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    import os
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed: pip install keras "
                                                "jax jaxlib")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests need Keras 3, found {keras.__version__}")
    return keras


def twins(keras, weighted_metrics=None):
    """The same softmax classifier in Keras and adkit.nn, with the same weights."""
    ours = linear(units=3, activation="softmax", loss="sparse_categorical_crossentropy",
                  weighted_metrics=weighted_metrics)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy",
                   weighted_metrics=weighted_metrics)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def labelled(n=20, seed=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 3, n),
            rng.uniform(0.0, 2.0, n).astype(np.float32))


def test_weighted_evaluate_equals_keras(keras):
    x, y, w = labelled()
    ours, theirs = twins(keras, weighted_metrics=["accuracy"])
    got = ours.evaluate(x, y, sample_weight=w, batch_size=6, return_dict=True)
    want = theirs.evaluate(x, y, sample_weight=w, batch_size=6, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert got["accuracy"] == pytest.approx(want["accuracy"], rel=1e-6)


@pytest.mark.parametrize("weighing", ["sample_weight", "class_weight"])
def test_fit_with_sample_or_class_weights_equals_keras(keras, weighing):
    # Keras 3 refuses both at once for arrays (Keras 2 multiplied them, as adkit does)
    x, y, w = labelled()
    given = {"sample_weight": w} if weighing == "sample_weight" else \
        {"class_weight": {0: 2.0, 1: 0.5, 2: 1.0}}
    ours, theirs = twins(keras)
    ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **given)
    theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **given)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
