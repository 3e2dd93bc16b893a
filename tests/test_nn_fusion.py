"""nn/layers/fusion.py: a Sequential computes Conv2D -> relu [-> MaxPooling2D] as one run
(the relu in the convolution's pass, or after the pooling). The referee is the layers
applied one by one, each its own call: same values, same derivatives, and derivatives
against finite differences."""

import numpy as np
import pytest

import adkit
from adkit.pytree import tree_flatten
from adkit.nn import Sequential, zoo
from adkit.nn.layers import (Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten,
                             MaxPooling2D)
from adkit.nn.layers.base import Context
from adkit.nn.layers.fusion import apply_layers, runs


class MyConv(Conv2D):
    """A subclass may change what a Conv2D computes: never fused."""


def _names(groups):
    return [[type(layer).__name__ for layer in g] for g in groups]


def test_which_layers_run_as_one():
    cnn = zoo.textbook_cnn(seed=0)
    assert _names(runs(cnn.layers))[:3] == [["Conv2D", "Activation"],
                                            ["Conv2D", "Activation", "MaxPooling2D"],
                                            ["Dropout"]]
    assert _names(runs([Conv2D(2, 3, activation="relu"), MaxPooling2D(), Flatten()])) == [
        ["Conv2D", "MaxPooling2D"], ["Flatten"]]
    not_fused = [Conv2D(2, 3, activation="tanh"), Activation("relu"),   # its own activation
                 Conv2D(2, 3), Activation("tanh"),                      # not a relu
                 MyConv(2, 3), Activation("relu"),                      # a subclass
                 Conv2D(2, 3), AveragePooling2D(),                      # no relu
                 Activation("relu"), MaxPooling2D()]                    # no convolution
    assert all(len(g) == 1 for g in runs(not_fused))
    assert _names(runs([Conv2D(2, 3)])) == [["Conv2D"]]


def _one_by_one(layers, params, x, ctx, logits=False):
    for i, layer in enumerate(layers):
        if logits and i == len(layers) - 1:
            x = layer.pre_activation(params[layer.name], x, ctx)
        else:
            x = layer.call(params[layer.name], x, ctx)
    return x


def _net(first_activation, dtype):
    return Sequential([Conv2D(3, 3, activation=first_activation, input_shape=(9, 8, 2),
                              dtype=dtype),
                       *([Activation("relu", dtype=dtype)] if first_activation is None else []),
                       Conv2D(4, (3, 2), padding="same", dtype=dtype),
                       Activation("relu", dtype=dtype), MaxPooling2D(dtype=dtype),
                       Dropout(0.25, dtype=dtype), Flatten(dtype=dtype),
                       Dense(3, dtype=dtype), Activation("softmax", dtype=dtype)], seed=1)


def _params_with_ties(model):
    """The model's parameters with a dead filter in each convolution (a zero kernel and
    bias: an output of exact zeros, every pooling window a tie) and one whose negative
    bias leaves most windows all negative."""
    params = {name: dict(p) for name, p in model.params.items()}
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            p = params[layer.name]
            p["kernel"] = p["kernel"].copy()
            p["kernel"][..., 0] = 0
            p["bias"] = np.zeros_like(p["bias"])
            p["bias"][1] = -0.3
    return params


@pytest.mark.parametrize("first_activation", [None, "relu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_runs_give_the_values_and_gradients_of_the_layers_one_by_one(first_activation,
                                                                         dtype):
    model = _net(first_activation, dtype)
    assert _names(runs(model.layers))[:2] == [["Conv2D"] if first_activation else
                                              ["Conv2D", "Activation"],
                                              ["Conv2D", "Activation", "MaxPooling2D"]]
    params = _params_with_ties(model)
    r = np.random.default_rng(2)
    x, labels = r.standard_normal((5, 9, 8, 2)).astype(dtype), r.integers(0, 3, 5)

    def loss(params, apply, x):
        ctx = Context(training=True, rng=np.random.default_rng(3), state={})
        out = apply(model.layers, params, x, ctx, logits=True)
        return np.mean(adkit.nn.backend.sparse_softmax_cross_entropy(out, labels))

    for logits in (False, True):
        ctx = Context(training=False, rng=None, state={})
        np.testing.assert_array_equal(apply_layers(model.layers, params, x, ctx, logits),
                                      _one_by_one(model.layers, params, x, ctx, logits))
    fused = adkit.value_and_grad(loss, argnums=(0, 2))(params, apply_layers, x)
    plain = adkit.value_and_grad(loss, argnums=(0, 2))(params, _one_by_one, x)
    assert fused[0] == plain[0]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(tree_flatten(fused[1])[0], tree_flatten(plain[1])[0]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


def _away_from_kinks(model, params, convs, margin=0.02):
    """Images whose live pre-activations are all at least margin from relu's kink and
    whose pooling windows' two largest entries differ by that much: finite differences
    across a kink or a change of winner would disagree with any exact derivative."""
    r = np.random.default_rng(4)
    ctx = Context(training=False, rng=None, state={})
    conv1, relu, conv2 = model.layers[:3]
    while True:
        x = r.standard_normal((1, 9, 8, 2))
        z1 = conv1.call(params[conv1.name], x, ctx)
        z2 = conv2.call(params[conv2.name], relu.call({}, z1, ctx), ctx)[..., 1:]
        windows = np.sort(z2[:, :6, :6].reshape(1, 3, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4)
                          .reshape(1, 3, 3, 3, 4), axis=-1)   # (7, 6) -> 2x2 pools (3, 3)
        if (np.abs(z1[..., 1:]).min() > margin and np.abs(z2).min() > margin
                and (windows[..., -1] - windows[..., -2]).min() > margin):
            return x


def test_fused_runs_against_finite_differences():
    model = _net(None, "float64")
    params = _params_with_ties(model)
    convs = [layer.name for layer in model.layers if isinstance(layer, Conv2D)]
    x = _away_from_kinks(model, params, convs)
    # a gradient taken through every parameter but the dead filters' (whose zero outputs
    # sit on relu's kink, where finite differences have no answer)
    live = {name: params[name]["kernel"][..., 2:] for name in convs}

    def f(live):
        p = {name: dict(v) for name, v in params.items()}
        for name in convs:
            p[name]["kernel"] = np.concatenate([params[name]["kernel"][..., :2], live[name]], -1)
        ctx = Context(training=False, rng=None, state={})
        return np.sum(np.sin(apply_layers(model.layers, p, x, ctx)))

    adkit.check_grads(f, (live,), modes=("forward", "reverse", "numeric"))


def test_logits_stop_before_a_last_relu_that_would_have_run_with_its_convolution():
    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Activation("relu")], seed=0)
    x = np.random.default_rng(5).standard_normal((2, 5, 5, 1)).astype(np.float32)
    ctx = Context(training=False, rng=None, state={})
    got = apply_layers(model.layers, model.params, x, ctx, logits=True)
    np.testing.assert_array_equal(got, model.layers[0].call(model.params[model.layers[0].name],
                                                            x, ctx))
    assert got.min() < 0   # the relu was left out


def test_a_model_with_fused_runs_trains_as_keras_spells_it():
    # the same fit, compiled step and eager step, from the zoo's textbook CNN
    r = np.random.default_rng(6)
    x, y = r.random((40, 28, 28, 1)).astype(np.float32), r.integers(0, 10, 40)
    losses = {}
    for jit in (True, False):
        model = zoo.textbook_cnn(seed=0)
        model.compile(optimizer="adadelta", loss="sparse_categorical_crossentropy",
                      jit_compile=jit)
        losses[jit] = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-6)


def test_a_subclass_pre_activation_is_kept_under_its_own_relu():
    # Conv2D(activation="relu") applies the relu in the convolution's pass; a subclass
    # that changes the pre-activation (the _Activated hook) still gets relu(its own)
    class Negated(Conv2D):
        def pre_activation(self, params, x, ctx):
            return -super().pre_activation(params, x, ctx)

    layer = Negated(3, 3, activation="relu")
    params = layer.init_params(np.random.default_rng(0), (6, 6, 2))
    params["bias"] = np.array([0.1, -0.2, 0.3])
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 2))
    ctx = Context(training=False, rng=None, state={})
    np.testing.assert_array_equal(layer.call(params, x, ctx),
                                  np.maximum(layer.pre_activation(params, x, ctx), 0))
