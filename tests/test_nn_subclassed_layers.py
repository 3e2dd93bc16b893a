"""The layers a subclassed Model keeps, as Keras lists them: get_layer(name / index) and
summary() in the order the attributes were set (lists flattened, layers never called
included), and each sublayer's own weights (get_weights, set_weights, calling it on
arrays) read from the model. Keras 3 itself referees the names and counts where
installed."""

import numpy as np
import pytest

from adkit import nn as keras
from adkit.nn.subclassed_model import tracked_layers

from keras_referee import real_keras  # noqa: F401  (a fixture)


def net_class(k):
    """The same subclassed model for adkit.nn and Keras (module k): attributes set in an
    order other than the call's, a list of layers, and a layer the call never uses."""
    L = k.layers

    class Net(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.out = L.Dense(1, name="out")
            self.stack = [L.Dense(4, name="first"), L.Dense(3, name="second")]
            self.unused = L.Dense(7, name="unused")
            self.drop = L.Dropout(0.1, name="drop")

        def call(self, inputs):
            x = inputs
            for layer in self.stack:
                x = layer(x)
            return self.out(self.drop(x))
    return Net


def built(seed=0):
    model = net_class(keras)(seed=seed)
    model(np.zeros((2, 5), np.float32))
    return model


def summary_rows(model):
    lines = []
    model.summary(print_fn=lines.append)
    return [line.split() for line in lines if "(" in line and not line.startswith("Layer")]


def test_layers_come_in_attribute_order_with_their_names():
    model = built()
    assert [layer.name for layer in tracked_layers(model)] == \
        ["out", "first", "second", "unused", "drop"]
    assert [row[:2] for row in summary_rows(model)] == [
        ["out", "(Dense)"], ["first", "(Dense)"], ["second", "(Dense)"],
        ["unused", "(Dense)"], ["drop", "(Dropout)"]]
    assert [row[-1] for row in summary_rows(model)] == ["4", "24", "15", "0", "0"]


def test_get_layer_by_name_and_index():
    model = built()
    assert model.get_layer("second") is model.stack[1]
    assert model.get_layer(index=0) is model.out
    assert model.get_layer(index=-1) is model.drop
    with pytest.raises(ValueError, match=r"no layer named 'nope'.*'first'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 9 is out of range"):
        model.get_layer(index=9)
    with pytest.raises(ValueError, match="not built yet"):
        net_class(keras)().get_layer("out")


def test_a_sublayers_weights_are_the_models():
    model = built()
    first = model.get_layer("first")
    kernel, bias = first.get_weights()
    assert kernel.shape == (5, 4) and bias.shape == (4,)
    first.set_weights([np.full((5, 4), 0.5), np.arange(4.0)])
    np.testing.assert_array_equal(model.params["call"]["stack_0"]["kernel"], 0.5)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(first(x)), x @ np.full((5, 4), 0.5) + np.arange(4.0),
                               rtol=1e-6)
    # the model computes with what set_weights wrote
    second, out = model.get_layer("second"), model.get_layer("out")
    w2, b2 = second.get_weights()
    w3, b3 = out.get_weights()
    expected = ((x @ np.full((5, 4), 0.5) + np.arange(4.0)) @ w2 + b2) @ w3 + b3
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5)


def test_names_order_and_counts_match_keras(real_keras):
    ours = built()
    theirs = net_class(real_keras)()
    theirs(np.zeros((2, 5), np.float32))
    assert [l.name for l in tracked_layers(ours)] == [l.name for l in theirs.layers]
    assert [ours.get_layer(index=i).name for i in range(5)] == \
        [theirs.get_layer(index=i).name for i in range(5)]
    # (a layer the call never uses has no weights in either; ours are in no model)
    assert [int(row[-1]) for row in summary_rows(ours)] == \
        [sum(np.size(w) for w in l.get_weights()) for l in theirs.layers]
    assert ours.count_params() == theirs.count_params()
