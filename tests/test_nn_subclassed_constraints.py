"""Constraints of the layers a subclassed layer or model keeps (Dense(kernel_constraint=)
inside a Keras-style Layer or Model): they hold after every optimizer step, compiled or
eager, as Keras's optimizer applies every trainable variable's constraint; a frozen
sublayer's weights are left alone."""

import numpy as np
import pytest

from adkit.nn import Input, Model, Sequential, constraints
from adkit.nn.layers import Dense, Layer


class Block(Layer):
    """A subclassed layer keeping a constrained Dense and a plain one."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.positive = Dense(4, kernel_constraint="non_neg",
                              bias_constraint=constraints.MaxNorm(0.1))
        self.free = Dense(2)

    def call(self, inputs):
        return self.free(self.positive(inputs))


class Outer(Layer):
    """A subclassed layer holding another one (the constraint is two levels down)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = Block()

    def call(self, inputs):
        return self.block(inputs)


class Net(Model):
    """A subclassed model keeping a constrained layer in a list."""

    def __init__(self):
        super().__init__(seed=0)
        self.stack = [Dense(5, activation="relu", kernel_constraint=constraints.MaxNorm(0.5)),
                      Dense(1)]

    def call(self, inputs):
        x = inputs
        for layer in self.stack:
            x = layer(x)
        return x


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((32, 3)), rng.standard_normal((32, 1))


def fit(model, jit, width=1):
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
    x, y = data()
    y = np.repeat(y, width, axis=1)
    return model.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"]


def column_norms(w):
    return np.sqrt(np.sum(w ** 2, axis=0))


@pytest.mark.parametrize("jit", [True, False])
def test_constraints_of_a_subclassed_layers_sublayers_hold(jit):
    inp = Input((3,))
    block = Block()
    model = Model(inp, Dense(1)(block(inp)), seed=1)
    params = model.params[block.name]
    params["positive"]["kernel"][...] = -1.0   # far outside: the first step must fix it
    losses = fit(model, jit)
    assert np.all(params["positive"]["kernel"] >= 0)
    assert np.all(column_norms(params["positive"]["bias"][None]) <= 0.1 + 1e-6)
    assert np.any(params["free"]["kernel"] < 0)   # the unconstrained sublayer is free
    assert np.isfinite(losses).all()


@pytest.mark.parametrize("jit", [True, False])
def test_constraints_two_levels_down_hold(jit):
    inp = Input((3,))
    outer = Outer()
    model = Model(inp, outer(inp), seed=2)
    kernel = model.params[outer.name]["block"]["positive"]["kernel"]
    kernel[...] = -1.0
    fit(model, jit, width=2)
    assert np.all(kernel >= 0)


@pytest.mark.parametrize("jit", [True, False])
def test_constraints_of_a_subclassed_models_layers_hold(jit):
    model = Net()
    model.build((None, 3))
    kernel = model.params["call"]["stack_0"]["kernel"]   # the attribute's entry
    kernel[...] = 3.0
    fit(model, jit)
    assert np.all(column_norms(kernel) <= 0.5 + 1e-6)


def test_a_frozen_sublayer_is_left_alone():
    inp = Input((3,))
    block = Block()
    model = Model(inp, block(inp), seed=1)
    block.positive.trainable = False
    kernel = model.params[block.name]["positive"]["kernel"]
    kernel[...] = -1.0
    fit(model, False, width=2)
    np.testing.assert_array_equal(kernel, -1.0)


def test_the_same_as_the_layers_in_a_plain_model():
    """The subclassed block trains exactly as the same two Dense layers in a Sequential
    (the constraint applied at the same moments)."""
    inp = Input((3,))
    block = Block()
    model = Model(inp, block(inp), seed=1)
    plain = Sequential([Dense(4, kernel_constraint="non_neg",
                              bias_constraint=constraints.MaxNorm(0.1), input_shape=(3,)),
                        Dense(2)])
    start = [np.full((3, 4), -0.5) + np.arange(12).reshape(3, 4) * 0.1, np.zeros(4),
             np.ones((4, 2)) * 0.3, np.zeros(2)]
    model.set_weights(start)
    plain.set_weights(start)
    x, _ = data()
    y = np.random.default_rng(3).standard_normal((32, 2))
    for m in (model, plain):
        m.compile(optimizer="sgd", loss="mse", jit_compile=False)
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
