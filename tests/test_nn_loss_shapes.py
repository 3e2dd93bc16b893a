"""Targets against predictions in the elementwise losses and metrics: Keras's rank
matching ((N,) targets with (N, 1) predictions compare one to one), and a refusal naming
both shapes and the loss for any pair that would broadcast to something else."""

import numpy as np
import pytest

from adkit.nn import Sequential, losses, metrics
from adkit.nn.layers import Activation, Dense

Y = np.array([1.0, 2.0, 3.0, -1.0])
P = np.array([[1.5], [2.0], [2.0], [0.0]])

ELEMENTWISE = ["mean_squared_error", "mean_absolute_error", "binary_crossentropy", "hinge",
               "categorical_crossentropy"]


def _by_hand(name, t, p):
    """One value per example from 1-D targets and predictions, by plain arithmetic."""
    if name == "mean_squared_error":
        return (p - t) ** 2
    if name == "mean_absolute_error":
        return np.abs(p - t)
    if name == "binary_crossentropy":
        q = np.clip(p, 1e-7, 1 - 1e-7)
        return -(t * np.log(q) + (1 - t) * np.log(1 - q))
    if name == "hinge":
        s = np.where(t == 0, -1.0, t)
        return np.maximum(1 - s * p, 0.0)
    raise AssertionError(name)


@pytest.mark.parametrize("name", ELEMENTWISE[:4])
def test_targets_of_shape_n_meet_predictions_of_shape_n_1_one_to_one(name):
    fn = losses.get(name)
    t, p = (Y > 1.5).astype(float), P / 4.0 + 0.1   # labels and probabilities fit every loss
    expected = _by_hand(name, t, p[:, 0])
    np.testing.assert_allclose(fn(t, p), expected, rtol=1e-12)
    np.testing.assert_allclose(fn(t[:, None], p), expected, rtol=1e-12)
    np.testing.assert_allclose(fn(t[:, None], p[:, 0]), expected, rtol=1e-12)  # and back


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("t_shape, p_shape, says", [
    ((4,), (4, 2), "do not broadcast together"),
    ((4, 2), (4, 1), r"would broadcast to \(4, 2\)"),
    ((3, 1), (4, 1), "hold 3 targets for 4 examples"),
    ((4,), (4, 4), "another example's prediction"),
    ((4, 1, 2), (4, 2), "do not broadcast together|would broadcast"),
])
def test_pairs_that_broadcast_to_something_else_are_refused(name, t_shape, p_shape, says):
    with pytest.raises(ValueError, match=says) as info:
        losses.get(name)(np.full(t_shape, 0.5), np.full(p_shape, 0.5))
    message = str(info.value)
    assert name in message and str(t_shape) in message and str(p_shape) in message


def test_one_target_column_against_several_outputs_broadcasts_as_keras_does():
    np.testing.assert_allclose(losses.mean_squared_error(np.ones((2, 1)), np.zeros((2, 3))),
                               [1.0, 1.0])


@pytest.mark.parametrize("name, cls", [("mse", metrics.MeanSquaredError),
                                       ("mae", metrics.MeanAbsoluteError)])
def test_elementwise_metrics_compare_one_to_one(name, cls):
    m = metrics.get(name)
    assert isinstance(m, cls)
    m.update_state(Y[:2], P[:2])
    m.update_state(Y[2:], P[2:])
    per_example = (P[:, 0] - Y) ** 2 if name == "mse" else np.abs(P[:, 0] - Y)
    assert m.result() == pytest.approx(per_example.mean())
    with pytest.raises(ValueError, match=r"\(4,\).*\(4, 4\)"):
        m.update_state(Y, np.zeros((4, 4)))


def _regression(loss, final=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    layers = [Dense(1, input_shape=(3,))] + ([Activation(final)] if final else [])
    model = Sequential(layers, seed=1)
    model.compile(optimizer="sgd", loss=loss, metrics=["mse", "mae"])
    return model, x, y


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_evaluate_with_targets_of_shape_n_gives_the_true_loss(loss):
    model, x, y = _regression(loss)
    pred = model.predict(x, verbose=0)
    assert pred.shape == (40, 1)
    mse, mae = np.mean((pred[:, 0] - y) ** 2), np.mean(np.abs(pred[:, 0] - y))
    assert not np.isclose(mse, np.mean((pred - y) ** 2))   # the all-pairs mean differs
    result = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(result, [mse if loss == "mse" else mae, mse, mae], rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y[:, None], verbose=0), result, rtol=1e-6)


def test_fit_with_targets_of_shape_n_follows_the_true_loss():
    model, x, y = _regression("mse")
    pred = model.predict(x, verbose=0)
    history = model.fit(x, y, epochs=1, batch_size=40, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(np.mean((pred[:, 0] - y) ** 2), rel=1e-5)
    # one full-batch SGD step on the per-example loss: the same step as with (N, 1) targets
    twin, _, _ = _regression("mse")
    twin.fit(x, y[:, None], epochs=1, batch_size=40, verbose=0, shuffle=False)
    np.testing.assert_allclose(model.predict(x, verbose=0), twin.predict(x, verbose=0),
                               rtol=1e-6)


def test_fused_sigmoid_cross_entropy_takes_targets_of_shape_n():
    model, x, y = _regression("binary_crossentropy", final="sigmoid")
    labels = (y > 0).astype(np.float32)
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    expected = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert model.evaluate(x, labels, verbose=0)[0] == pytest.approx(expected, rel=1e-4)
