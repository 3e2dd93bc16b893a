"""adkit.nn building blocks: activations, initialisers, losses, regularisers, and layer
configurations, each against an independent reference."""

import numpy as np
import pytest

import adkit
from adkit import nn
from adkit.nn import activations, initializers, losses, regularizers
from adkit.nn.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                             Dropout, Embedding, Flatten, MaxPooling2D, Reshape,
                             deserialize, serialize)

REFERENCE = {  # plain formulas, independent of the implementations under test
    "linear": lambda x: x,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "tanh": np.tanh,
    "scaled_tanh": lambda x: 1.7159 * np.tanh(2 * x / 3),
    "relu": lambda x: np.maximum(x, 0),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_values_and_derivatives(name):
    x = np.array([-3.1, -0.7, 0.4, 2.3])
    fn = activations.get(name)
    np.testing.assert_allclose(fn(x), REFERENCE[name](x), rtol=1e-12)
    adkit.check_grads(lambda v: np.sum(fn(v) ** 2), (x,), modes=("forward", "reverse", "numeric"))


def test_softmax_is_stable_and_differentiable():
    x = np.array([[1000.0, 1001.0, 999.0], [-2.0, 0.5, 0.1]])
    p = activations.softmax(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    w = np.array([0.3, -1.0, 2.0])
    adkit.check_grads(lambda v: np.sum(activations.softmax(v) @ w), (x[1:],))


def test_scaled_tanh_maps_plus_minus_one_to_about_plus_minus_one():
    np.testing.assert_allclose(activations.scaled_tanh(np.array([-1.0, 1.0])), [-1, 1], atol=2e-3)


@pytest.mark.parametrize("name, variance", [
    ("glorot_uniform", lambda fi, fo: 2 / (fi + fo)), ("glorot_normal", lambda fi, fo: 2 / (fi + fo)),
    ("he_uniform", lambda fi, fo: 2 / fi), ("he_normal", lambda fi, fo: 2 / fi),
    ("lecun_uniform", lambda fi, fo: 1 / fi), ("lecun_normal", lambda fi, fo: 1 / fi),
])
def test_initializer_variances_follow_their_fans(name, variance):
    rng = np.random.default_rng(0)
    dense = initializers.get(name)(rng, (400, 300), np.float32)
    conv = initializers.get(name)(rng, (3, 3, 40, 50), np.float32)
    assert dense.dtype == np.float32
    assert np.var(dense) == pytest.approx(variance(400, 300), rel=0.03)
    assert np.var(conv) == pytest.approx(variance(360, 450), rel=0.05)
    assert abs(np.mean(dense)) < 0.01


def test_orthogonal_initializer_is_orthogonal():
    q = initializers.orthogonal(np.random.default_rng(0), (64, 256), np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(64), atol=1e-10)


def test_textbook_loss_values():
    pred, true = np.array([[0.01, 0.01, 0.01]]), np.array([[0.99, 0.99, 0.01]])
    assert float(losses.binary_crossentropy(true, pred)[0]) == pytest.approx(3.058146503109446, rel=1e-6)
    assert float(losses.mean_squared_error(true, pred)[0]) == pytest.approx(
        np.mean((true - pred) ** 2), rel=1e-12)


def test_textbook_regularisation_values():
    w = np.array([[0.0, 1.0, 3.0]])
    assert float(regularizers.l1(1.0)(w)) == 4.0
    assert float(regularizers.l2(1.0)(w)) == 10.0
    assert float(regularizers.l1_l2(0.5, 0.1)(w)) == pytest.approx(3.0)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "binary_crossentropy", "mse", "mae", "hinge"])
def test_losses_against_plain_formulas(name):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ids = rng.integers(0, 4, 6)
    onehot = np.eye(4)[ids]
    ref = {
        "categorical_crossentropy": (onehot, probs, -np.log(probs[np.arange(6), ids])),
        "sparse_categorical_crossentropy": (ids, probs, -np.log(probs[np.arange(6), ids])),
        "binary_crossentropy": (onehot, probs, -np.mean(onehot * np.log(probs)
                                                        + (1 - onehot) * np.log(1 - probs), 1)),
        "mse": (onehot, logits, np.mean((onehot - logits) ** 2, 1)),
        "mae": (onehot, logits, np.mean(np.abs(onehot - logits), 1)),
        "hinge": (onehot, logits, np.mean(np.maximum(1 - (2 * onehot - 1) * logits, 0), 1)),
    }[name]
    np.testing.assert_allclose(losses.get(name)(ref[0], ref[1]), ref[2], rtol=1e-10)


@pytest.mark.parametrize("key", sorted(losses.FUSED))
def test_fused_logit_losses_match_the_probability_losses(key):
    loss_name, act = key
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 3))
    ids = rng.integers(0, 3, 5)
    y = ids if loss_name.startswith("sparse") else (
        np.eye(3)[ids] if act == "softmax" else rng.integers(0, 2, (5, 3)).astype(float))
    plain = losses.get(loss_name)(y, activations.get(act)(logits))
    np.testing.assert_allclose(losses.FUSED[key](y, logits), plain, rtol=1e-9)
    adkit.check_grads(lambda z: np.sum(losses.FUSED[key](y, z)), (logits,),
                      modes=("reverse", "numeric"))


def test_to_categorical_and_its_errors():
    np.testing.assert_array_equal(nn.utils.to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 2\)"):
        nn.utils.to_categorical([0, 2], 2)


LAYERS = [
    Dense(5, activation="tanh", kernel_regularizer=regularizers.l2(0.1),
          kernel_constraint=nn.constraints.max_norm(2.0), input_shape=(3,)),
    Activation("softplus"), Dropout(0.3), Flatten(), Reshape((2, 4)),
    Conv2D(4, 3, strides=2, padding="same", activation="relu"),
    MaxPooling2D((2, 2), strides=(1, 1), padding="same"), AveragePooling2D(3),
    BatchNormalization(momentum=0.9), Embedding(20, 4),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda l: type(l).__name__)
def test_layer_config_round_trip(layer):
    clone = deserialize(serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_conv_and_pool_output_shapes_follow_keras():
    assert Conv2D(8, 3).compute_output_shape((28, 28, 1)) == (26, 26, 8)
    assert Conv2D(8, 3, strides=2, padding="same").compute_output_shape((28, 27, 1)) == (14, 14, 8)
    assert Conv2D(8, (5, 3), strides=(2, 1)).compute_output_shape((11, 9, 2)) == (4, 7, 8)
    assert MaxPooling2D(2).compute_output_shape((25, 24, 3)) == (12, 12, 3)
    assert AveragePooling2D(3, strides=1, padding="same").compute_output_shape((5, 5, 3)) == (5, 5, 3)


def test_bad_layer_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="Dense units must be a positive int"):
        Dense(0)
    with pytest.raises(ValueError, match="Conv2D 'conv2d.*': padding must be 'valid' or 'same'"):
        Conv2D(3, 3, padding="full")
    with pytest.raises(ValueError, match="Dropout rate must be in"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        Conv2D(3, (3, 0))
    with pytest.raises(ValueError, match="unknown layer class 'Conv3D'"):
        deserialize({"class_name": "Conv3D", "config": {}})
    with pytest.raises(ValueError, match="Lambda layer .* cannot be rebuilt from a file"):
        deserialize({"class_name": "Lambda", "config": {}})   # a function is code


def test_embedding_looks_up_rows_and_refuses_bad_indices():
    layer = Embedding(5, 2, input_shape=(3,))
    params = layer.init_params(np.random.default_rng(0), (3,))
    from adkit.nn.layers import Context
    out = layer.call(params, np.array([[0, 4, 4]]), Context())
    np.testing.assert_array_equal(out[0], params["embeddings"][[0, 4, 4]])
    g = adkit.grad(lambda p: np.sum(layer.call(p, np.array([[0, 4, 4]]), Context())))(params)
    np.testing.assert_array_equal(g["embeddings"][:, 0], [1, 0, 0, 0, 2])
    with pytest.raises(ValueError, match=r"indices must be in \[0, 5\)"):
        layer.call(params, np.array([[5]]), Context())
