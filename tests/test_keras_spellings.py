"""Keras's spellings on adkit.nn: input_dim=, lr= and decay= on optimizers, Keras's
automatic layer names, layer.get_weights()/set_weights(), and layers that fail in
their constructor without garbling the traceback.

Decay is checked against plain transcriptions of Keras 2's update rules (the
formulas of keras/optimizers.py in Keras 2.3), names against Keras's own
to_snake_case where Keras is installed."""

import os
import traceback
import warnings

import numpy as np
import pytest

from adkit.nn import Sequential
from adkit.nn import optimizers as O
from adkit.nn import schedules as S
from adkit.nn.layers import (LSTM, Activation, AveragePooling2D, BatchNormalization,
                             Bidirectional, Conv2D, Dense, Dropout, Embedding, Flatten,
                             MaxPooling2D, SimpleRNN)
from adkit.nn.layers.base import Layer, reset_names, snake_case, unique_name

OPTIMIZERS = [O.SGD, O.Adagrad, O.RMSprop, O.Adadelta, O.Adam, O.Adamax, O.Nadam, O.Rprop,
              O.ESGD]


# ---------------------------------------------------------------- optimizers: lr=, decay=

@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_lr_is_learning_rate_with_a_deprecation_warning_at_the_callers_line(cls):
    with pytest.warns(DeprecationWarning, match="learning_rate=") as record:
        opt = cls(lr=0.125)
    assert opt.learning_rate == 0.125
    assert opt.get_config() == cls(learning_rate=0.125).get_config()
    assert record[0].filename == __file__   # stacklevel: the caller, not adkit


def test_lr_and_learning_rate_together_are_refused():
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="only learning_rate"):
        O.Adam(learning_rate=0.1, lr=0.2)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="only learning_rate"):
        O.SGD(0.1, lr=0.2)


def test_sgd_decay_is_keras2_inverse_time_decay_by_hand():
    # Keras 2: lr_t = lr / (1 + decay * iterations), iterations = updates already done
    with pytest.warns(DeprecationWarning, match="InverseTimeDecay"):
        opt = O.SGD(lr=0.1, decay=0.5)
    w = np.array([1.0, -2.0])
    grads = [np.array([1.0, 3.0]), np.array([-2.0, 0.5]), np.array([4.0, -1.0])]
    expected = w.copy()
    for t, g in enumerate(grads):
        opt.apply_gradients([w], [g])
        expected = expected - 0.1 / (1 + 0.5 * t) * g
    np.testing.assert_allclose(w, expected, rtol=1e-15)
    # the numbers themselves, written out: 1 - 0.1 * (1/1 * 1 + 1/1.5 * -2 + 1/2 * 4)
    assert w[0] == pytest.approx(1 - 0.1 * (1.0 - 2 / 1.5 + 4 / 2.0), rel=1e-15)


def test_adam_decay_matches_keras2_adam_transcribed():
    """Keras 2.3's Adam.get_updates, decay branch included, in plain float64."""
    lr, decay, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-7
    with pytest.warns(DeprecationWarning):
        opt = O.Adam(lr=lr, decay=decay, epsilon=eps)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(5)
    ref, m, v = w.copy(), np.zeros(5), np.zeros(5)
    for iterations in range(6):
        g = rng.standard_normal(5)
        opt.apply_gradients([w], [g])
        lr_d = lr * (1.0 / (1.0 + decay * iterations))
        t = iterations + 1
        lr_t = lr_d * np.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        ref = ref - lr_t * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(w, ref, rtol=1e-12)


def test_decay_uses_the_class_default_rate_and_a_positional_rate():
    with pytest.warns(DeprecationWarning):
        default = O.SGD(decay=1.0)   # SGD's default rate, 0.01
        positional = O.RMSprop(0.5, decay=1.0)
    assert default.learning_rate == S.InverseTimeDecay(0.01, 1, 1.0)
    assert positional.learning_rate == S.InverseTimeDecay(0.5, 1, 1.0)
    positional.iterations = 3
    assert positional.current_learning_rate() == pytest.approx(0.5 / 4)
    with pytest.warns(DeprecationWarning):
        assert O.Adam(lr=0.2, decay=0.0).learning_rate == 0.2   # no decay: a float


def test_kerass_documented_adam_call_gives_the_default_adam():
    # the signature Keras 2's documentation shows, copied into many tutorials
    with pytest.warns(DeprecationWarning):
        opt = O.Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, amsgrad=False)
    assert opt.get_config() == O.Adam().get_config()
    with pytest.warns(DeprecationWarning):
        rms = O.RMSprop(lr=0.001, rho=0.9, epsilon=None, decay=0.0)
    assert rms.epsilon == 1e-7 and rms.learning_rate == 0.001


def test_bad_decay_is_refused_clearly():
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="decay must be"):
        O.SGD(lr=0.1, decay=-1.0)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="schedule"):
        O.SGD(learning_rate=S.StepDecay(1.0, 2, 0.5), decay=0.1)


def test_a_decayed_optimizer_survives_its_config_and_keras2_configs_load_quietly():
    with pytest.warns(DeprecationWarning):
        opt = O.Adam(lr=0.01, decay=0.1)
    back = O.get(O.serialize(opt))
    back.iterations = opt.iterations = 7
    assert back.current_learning_rate() == opt.current_learning_rate() == pytest.approx(0.01 / 1.7)
    keras2 = {"class_name": "SGD", "config": {"lr": 0.1, "decay": 0.5, "momentum": 0.0,
                                               "nesterov": False, "name": "SGD"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a file's keys are not the caller's spelling
        sgd = O.get(keras2)
    assert sgd.learning_rate == S.InverseTimeDecay(0.1, 1, 0.5)


# ---------------------------------------------------------------- input_dim and friends

def test_input_dim_is_input_shape_of_one_axis():
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1)], seed=0)
    assert model.input_shape == (None, 3)
    assert Activation("relu", input_dim=5).input_shape == (5,)
    assert Dropout(0.5, input_dim=2).input_shape == (2,)


def test_recurrent_input_dim_and_input_length_are_timesteps_and_features():
    assert LSTM(4, input_dim=3).input_shape == (None, 3)
    assert SimpleRNN(4, input_dim=3, input_length=7).input_shape == (7, 3)
    assert Embedding(100, 8, input_length=12).input_shape == (12,)
    assert Dense(2, batch_input_shape=(None, 6)).input_shape == (6,)


def test_conflicting_or_misplaced_input_spellings_are_refused():
    with pytest.raises(ValueError, match="one of input_shape, input_dim"):
        Dense(2, input_dim=3, input_shape=(3,))
    with pytest.raises(ValueError, match="input_length goes with input_dim"):
        Dense(2, input_dim=3, input_length=4)
    with pytest.raises(TypeError, match="input_dim must be an int"):
        Dense(2, input_dim=(3,))
    with pytest.raises(TypeError, match=r"Dense got unknown keyword arguments \['kernel_size'\]"):
        Dense(2, kernel_size=3)


# ---------------------------------------------------------------- names

def test_automatic_names_are_kerass_per_class_counters():
    reset_names()
    layers = [Conv2D(4, 3), Conv2D(4, 3), Dense(2), MaxPooling2D(), Dense(2), Dense(2),
              BatchNormalization(), AveragePooling2D(), LSTM(2), SimpleRNN(2)]
    assert [layer.name for layer in layers] == [
        "conv2d", "conv2d_1", "dense", "max_pooling2d", "dense_1", "dense_2",
        "batch_normalization", "average_pooling2d", "lstm", "simple_rnn"]
    assert Dense(1, name="head").name == "head" and Dense(1).name == "dense_3"
    reset_names()
    assert unique_name("dense") == "dense"


def test_snake_case_agrees_with_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    naming = pytest.importorskip("keras.src.utils.naming",
                                 reason="Keras is not installed (pip install keras)")
    for name in sorted(Layer.REGISTRY) + ["HTTPServer2D", "GRU", "ReLU", "Conv1DTranspose"]:
        assert snake_case(name) == naming.to_snake_case(name), name


def test_bidirectional_names_its_halves_after_its_layer():
    reset_names()
    layer = Bidirectional(LSTM(3))
    assert (layer.name, layer.forward_layer.name, layer.backward_layer.name) == \
        ("bidirectional", "lstm", "backward_lstm")


# ---------------------------------------------------------------- get_weights / set_weights

def test_get_and_set_weights_read_and_write_the_models_weights():
    dense = Dense(2, input_shape=(3,))
    model = Sequential([dense, Activation("tanh")], seed=0)
    kernel, bias = dense.get_weights()
    assert kernel.shape == (3, 2) and bias.shape == (2,)
    copy = kernel.copy()
    kernel += 1.0   # a copy: the model is untouched
    np.testing.assert_array_equal(dense.get_weights()[0], copy)
    np.testing.assert_array_equal(model.params[dense.name]["kernel"], copy)
    w = np.arange(6.0).reshape(3, 2) / 10
    b = np.array([0.5, -0.5])
    dense.set_weights([w, b])
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(model.predict(x), np.tanh(x @ w + b), rtol=1e-6)
    assert model.layers[1].get_weights() == []


def test_batch_normalization_weights_come_in_kerass_order():
    bn = BatchNormalization(input_shape=(4,))
    model = Sequential([bn], seed=0)
    gamma, beta, mean, var = bn.get_weights()
    np.testing.assert_array_equal(np.stack([gamma, beta, mean, var]),
                                  [[1] * 4, [0] * 4, [0] * 4, [1] * 4])
    gamma, beta = np.array([1.0, 2, 3, 4]), np.array([0.0, 1, 0, -1])
    mean, var = np.array([1.0, 0, -1, 2]), np.array([4.0, 1, 0.25, 9])
    bn.set_weights([gamma, beta, mean, var])
    x = np.array([[3.0, 1.0, 0.0, 2.0]], np.float32)
    np.testing.assert_allclose(model.predict(x), gamma * (x - mean) / np.sqrt(var + 1e-3) + beta,
                               rtol=1e-6)


def test_set_weights_checks_everything_before_changing_anything():
    dense = Dense(2, input_shape=(3,))
    model = Sequential([dense], seed=0)   # (kept: a layer holds its model weakly)
    before = dense.get_weights()
    with pytest.raises(ValueError, match=r"got 1 arrays, the layer has 2: kernel \(3, 2\), "
                                         r"bias \(2,\)"):
        dense.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"bias has shape \(2,\), got \(3,\)"):
        dense.set_weights([np.ones((3, 2)), np.ones(3)])
    with pytest.raises(TypeError, match="must hold real numbers"):
        dense.set_weights([np.ones((3, 2)), np.array(["a", "b"])])
    with pytest.raises(TypeError, match="must hold real numbers"):
        dense.set_weights([np.ones((3, 2)), np.ones(2) * 1j])
    with pytest.raises(TypeError, match="list of arrays"):
        dense.set_weights(np.ones((3, 2)))
    for old, now in zip(before, dense.get_weights()):
        np.testing.assert_array_equal(old, now)
    del model


def test_weights_of_a_layer_outside_a_built_model_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="is in no model.*input_shape"):
        Dense(2).get_weights()
    layer = Dense(2)
    model = Sequential([layer])   # (kept: a layer holds its model weakly)
    with pytest.raises(ValueError, match="not built yet"):
        layer.set_weights([])
    del model


# ---------------------------------------------------------------- failing constructors

def test_a_layer_whose_constructor_raises_still_has_a_repr():
    with pytest.raises(ValueError, match="layer name") as info:
        Dense(3, name="no spaces allowed")
    # what a traceback with locals (pytest --showlocals, debuggers) prints
    text = "".join(traceback.TracebackException.from_exception(
        info.value, capture_locals=True).format())
    assert "<Dense>" in text
    assert repr(Conv2D.__new__(Conv2D)) == "<Conv2D>"


# ---------------------------------------------------------------- model.get_layer

def test_get_layer_by_name_or_index_as_in_keras():
    reset_names()
    model = Sequential([Dense(3, input_dim=2), Activation("relu"), Dense(1, name="head")])
    assert model.get_layer("dense") is model.layers[0]
    assert model.get_layer("head") is model.get_layer(index=-1) is model.layers[2]
    assert model.get_layer(index=1).name == "activation"
    with pytest.raises(ValueError, match=r"no layer named 'dense_9'.*\['dense', 'activation', "
                                         r"'head'\]"):
        model.get_layer("dense_9")
    with pytest.raises(ValueError, match="index 3 is out of range; the model has 3 layers"):
        model.get_layer(index=3)
    with pytest.raises(ValueError, match="a layer name or an index"):
        model.get_layer()
    with pytest.raises(ValueError, match="a layer name or an index"):
        model.get_layer("head", 0)


def test_summary_calls_print_fn_once_per_line_as_keras_does():
    reset_names()
    model = Sequential([Dense(3, input_dim=2), Dense(1)], seed=0)
    lines = []
    model.summary(print_fn=lines.append)
    assert all("\n" not in line for line in lines)
    assert lines[0] == 'Model: "sequential"'
    assert lines[-3:] == ["Total params: 13", "Trainable params: 13", "Non-trainable params: 0"]
    assert any(line.startswith("dense_1 (Dense)") for line in lines)
