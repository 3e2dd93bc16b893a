"""Keras 3's activation functions in adkit.nn.activations: values against plain NumPy
formulas written here, derivatives to second order against finite differences, the
derivative at each kink as Keras's, use by name in layers (saved and loaded), the ONNX
and OpenCL paths, and (where Keras 3 is installed) values against Keras itself."""

import math

import numpy as np
import pytest
from keras_referee import keras  # noqa: F401  (a fixture)
from layer_fit_support import batch_losses
from opencl_support import needs_opencl

import adkit
from adkit.nn import Sequential, activations, load_model
from adkit.nn.layers import Activation, Dense

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _erf(x):
    return np.vectorize(math.erf)(x)


def _sig(x):
    return 1 / (1 + np.exp(-x))


REFERENCE = {  # written from the Keras 3 docstrings, independent of adkit's code
    "selu": lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
    "celu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "exponential": np.exp,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "silu": lambda x: x * _sig(x),
    "swish": lambda x: x * _sig(x),
    "gelu": lambda x: x * 0.5 * (1 + _erf(x / np.sqrt(2))),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "hard_silu": lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
    "hard_swish": lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
    "hard_tanh": lambda x: np.minimum(np.maximum(x, -1), 1),
    "log_sigmoid": lambda x: np.log(_sig(x)),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "soft_shrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0),
    "hard_shrink": lambda x: x * (np.abs(x) > 0.5),
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda x: np.minimum(np.maximum((x + 1) / 2, 0), 1),
    "squareplus": lambda x: (x + np.sqrt(x ** 2 + 4)) / 2,
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
}
#: points away from every kink, for finite differences
POINTS = np.array([-3.7, -1.3, -0.8, -0.2, 0.3, 0.7, 1.6, 4.1, 6.9])


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_follow_the_keras_formulas(name):
    fn = activations.get(name)
    x = np.concatenate([POINTS, [0.0, -1.0, 1.0, 0.5, -0.5, 6.0, -3.0, 3.0]])
    np.testing.assert_allclose(fn(x), REFERENCE[name](x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fn(x.astype(np.float32)), REFERENCE[name](x), rtol=2e-6,
                               atol=1e-7)
    assert fn(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_derivatives_to_second_order_agree_with_finite_differences(name):
    fn = activations.get(name)
    adkit.check_grads(lambda v: np.sum(fn(v) * np.cos(v)), (POINTS,), order=2,
                      modes=("forward", "reverse", "numeric"))


def first_derivative(fn, x):
    return adkit.grad(lambda v: np.sum(fn(v)))(np.asarray(x, float))


# Keras 3 on JAX: relu and relu6 have custom rules (0 at the corners), leaky_relu, elu and
# hard_tanh are where() on the inner side, jnp.clip (relu's max_value) splits a tie
@pytest.mark.parametrize("fn, at, slope", [
    (activations.relu, [0.0], [0.0]),
    (activations.relu6, [0.0, 6.0], [0.0, 0.0]),
    (activations.hard_tanh, [-1.0, 1.0], [1.0, 1.0]),
    (activations.leaky_relu, [0.0], [1.0]),
    (activations.elu, [0.0], [1.0]),
    (activations.selu, [0.0], [SELU_S * SELU_A]),
    (activations.sparse_sigmoid, [-1.0, 1.0], [0.25, 0.25]),
    (lambda x: activations.relu(x, max_value=3.0), [0.0, 3.0], [0.0, 0.5]),
    (lambda x: activations.relu(x, max_value=6.0), [0.0, 6.0], [0.0, 0.0]),
    (lambda x: activations.relu(x, negative_slope=0.1, max_value=3.0), [0.0], [0.0]),
    (lambda x: activations.relu(x, threshold=1.0), [1.0], [0.0]),
], ids=["relu", "relu6", "hard_tanh", "leaky_relu", "elu", "selu", "sparse_sigmoid",
        "relu-max", "relu-max6", "relu-slope-max", "relu-threshold"])
def test_the_derivative_at_a_kink_is_keras_s(fn, at, slope):
    np.testing.assert_array_equal(first_derivative(fn, at), slope)


def test_relu_takes_keras_s_arguments():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 8.0])
    np.testing.assert_array_equal(activations.relu(x), np.maximum(x, 0))
    np.testing.assert_allclose(activations.relu(x, max_value=6.0), np.clip(x, 0, 6))
    np.testing.assert_allclose(activations.relu(x, negative_slope=0.1),
                               np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(activations.relu(x, threshold=1.0), np.where(x > 1, x, 0))
    np.testing.assert_allclose(activations.relu(x, negative_slope=0.5, max_value=6.0,
                                                threshold=1.0),
                               np.where(x > 1, np.minimum(x, 6), 0.5 * (x - 1)))
    with pytest.raises(ValueError, match="negative_slope must be >= 0"):
        activations.relu(x, negative_slope=-1.0)
    with pytest.raises(ValueError, match="max_value must be >= 0"):
        activations.relu(x, max_value=-1.0)


def test_arguments_of_the_parametrised_ones():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(activations.leaky_relu(x, negative_slope=0.3),
                               np.where(x > 0, x, 0.3 * x))
    np.testing.assert_allclose(activations.elu(x, alpha=0.5), np.where(x > 0, x, 0.5 * np.expm1(x)))
    np.testing.assert_allclose(activations.celu(x, alpha=2.0),
                               np.where(x > 0, x, 2 * np.expm1(x / 2)))
    np.testing.assert_allclose(activations.soft_shrink(x, threshold=1.0),
                               np.sign(x) * np.maximum(np.abs(x) - 1, 0))
    np.testing.assert_allclose(activations.hard_shrink(x, threshold=1.0), x * (np.abs(x) > 1))
    np.testing.assert_allclose(activations.squareplus(x, b=1), (x + np.sqrt(x * x + 1)) / 2)
    approx = x * 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(activations.gelu(x, approximate=True), approx)
    assert np.max(np.abs(activations.gelu(x, approximate=True) - activations.gelu(x))) < 1e-3
    np.testing.assert_allclose(activations.threshold(x, 0.5, -9.0), np.where(x > 0.5, x, -9))
    with pytest.raises(ValueError, match="b must be >= 0"):
        activations.squareplus(x, b=-1)


def test_softmax_and_log_softmax_take_an_axis():
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    for axis in (0, 1, -1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True)
        np.testing.assert_allclose(activations.softmax(x, axis=axis), p, rtol=1e-12)
        np.testing.assert_allclose(activations.log_softmax(x, axis=axis), np.log(p), rtol=1e-12)
    w = np.random.default_rng(1).standard_normal((3, 4, 5))
    adkit.check_grads(lambda v: np.sum(activations.log_softmax(v, axis=1) * w), (x,), order=2,
                      modes=("forward", "reverse", "numeric"))


def sparsemax_by_bisection(x):
    """Each row projected onto the simplex: tau solving sum(max(x - tau, 0)) = 1."""
    out = np.empty_like(x)
    for i, row in enumerate(x):
        low, high = row.min() - 1, row.max()
        for _ in range(200):
            tau = (low + high) / 2
            low, high = (tau, high) if np.maximum(row - tau, 0).sum() > 1 else (low, tau)
        out[i] = np.maximum(row - (low + high) / 2, 0)
    return out


def test_sparsemax_is_the_projection_onto_the_simplex():
    x = 2 * np.random.default_rng(3).standard_normal((6, 5))
    p = activations.sparsemax(x)
    np.testing.assert_allclose(p, sparsemax_by_bisection(x), atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(p >= 0) and np.any(p == 0)
    np.testing.assert_allclose(activations.sparsemax(x.T, axis=0), p.T, atol=1e-12)
    np.testing.assert_allclose(activations.sparsemax(np.array([0.5, 0.4, 0.3])),
                               [0.4333333333333, 0.3333333333333, 0.2333333333333])
    w = np.random.default_rng(4).standard_normal((6, 5))
    adkit.check_grads(lambda v: np.sum(activations.sparsemax(v) * w), (x,),
                      modes=("forward", "reverse", "numeric"))
    # second order away from any change of support: it is piecewise linear, so 0
    spread = np.array([[3.0, 1.0, 0.2, -2.0], [0.9, 0.5, 0.0, -3.0]])
    adkit.check_grads(lambda v: np.sum(activations.sparsemax(v) ** 2 * w[:2, :4]), (spread,),
                      order=2, modes=("forward", "reverse", "numeric"))


def test_sparsemax_agrees_with_keras_where_its_support_is_one_entry(keras):
    # Keras 3.15 sums the running sums for tau: right only for a support of one entry
    x = np.array([[2.0, 1.0, -1.0], [0.1, 3.0, 1.5]], np.float32)
    np.testing.assert_allclose(activations.sparsemax(x),
                               np.asarray(keras.activations.sparsemax(x)), atol=1e-6)


def test_glu_gates_one_half_with_the_other():
    x = np.random.default_rng(2).standard_normal((2, 6))
    np.testing.assert_allclose(activations.glu(x), x[:, :3] * _sig(x[:, 3:]))
    np.testing.assert_allclose(activations.glu(x.T, axis=0), x.T[:3] * _sig(x.T[3:]))
    adkit.check_grads(lambda v: np.sum(activations.glu(v) ** 2), (x,), order=2,
                      modes=("forward", "reverse", "numeric"))
    with pytest.raises(ValueError, match="even length"):
        activations.glu(np.ones((2, 5)))


def test_aliases_name_the_same_function_and_save_under_keras_s_name():
    assert activations.get("swish") is activations.silu is activations.swish
    assert activations.get("hard_swish") is activations.hard_silu
    assert activations.serialize(activations.get("swish")) == "silu"
    assert activations.deserialize("gelu") is activations.gelu
    assert Activation("swish").get_config()["activation"] == "silu"


def test_keras_s_serialized_form_of_an_activation_is_read():
    config = {"module": "keras.activations", "class_name": "function", "config": "silu",
              "registered_name": "function"}
    assert activations.get(config) is activations.silu
    assert Dense(2, activation=config).activation is activations.silu
    with pytest.raises(ValueError, match="not Keras's form of a built-in activation"):
        activations.get({"class_name": "function", "config": 3})
    with pytest.raises(ValueError, match="unknown layer class 'MyActivation'"):
        activations.get({"class_name": "MyActivation", "config": {}})


def test_keras_serializes_its_activations_in_the_form_read_here(keras):
    from keras.saving import serialize_keras_object
    for name in ("relu", "gelu", "hard_silu", "log_softmax"):
        assert activations.get(serialize_keras_object(keras.activations.get(name))) \
            is activations.ALL[name]


@pytest.mark.parametrize("name", sorted(set(activations.ALL) - {"linear"}))
def test_python_lists_and_integers_are_taken_as_floats(name):
    fn = activations.get(name)
    expected = fn(np.array([[-2.0, 0.0, 1.0, 3.0]]))
    np.testing.assert_array_equal(fn([[-2, 0, 1, 3]]), expected)
    np.testing.assert_array_equal(fn(np.array([[-2, 0, 1, 3]])), expected)


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'gelux' \(did you mean 'gelu'") as e:
        Dense(3, activation="gelux")
    assert all(name in str(e.value) for name in NEW_NAMES)
    with pytest.raises(ValueError, match="unknown activation"):
        activations.get("sparsemax_not")
    with pytest.raises(TypeError, match="name or a function"):
        activations.get(3)
    with pytest.raises(ValueError, match="could not name it"):
        Activation(lambda x: x).get_config()


NEW_NAMES = ["selu", "gelu", "swish", "silu", "leaky_relu", "relu6", "exponential",
             "log_softmax", "mish", "hard_silu", "hard_swish", "hard_tanh", "celu",
             "log_sigmoid", "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_plus",
             "sparse_sigmoid", "squareplus", "sparsemax"]


@pytest.mark.parametrize("name", NEW_NAMES)
def test_layers_take_them_by_name_and_a_saved_model_keeps_them(name, tmp_path):
    rng = np.random.default_rng(4)
    model = Sequential([Dense(5, activation=name, input_shape=(3,)), Activation(name)], seed=0)
    x = rng.standard_normal((7, 3)).astype(np.float32)
    k, b = model.layers[0].get_weights()
    fn = activations.get(name)
    np.testing.assert_allclose(model.predict(x, verbose=0), fn(fn(x @ k + b)), rtol=1e-6)
    model.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    assert again.layers[0].activation is activations.ALL[name]
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_selu_network_trains_compiled_and_eagerly_alike():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = np.sin(x[:, :1] * x[:, 1:2]).astype(np.float32)

    def run(jit):
        model = Sequential([Dense(16, activation="selu", kernel_initializer="lecun_normal",
                                  input_shape=(4,)), Dense(8, activation="gelu"),
                            Dense(8, activation="mish"), Dense(8, activation="sparsemax"),
                            Dense(1)], seed=3)
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        return model.fit(x, y, batch_size=16, epochs=4, verbose=0).history["loss"]
    compiled, eager = run("auto"), run(False)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert compiled[-1] < compiled[0]


# ---------------------------------------------------------------- against Keras itself

KERAS_NAMES = sorted(set(REFERENCE) | {"sigmoid", "tanh", "softplus", "softsign", "relu",
                                       "linear", "softmax", "log_softmax"})


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_values_agree_with_keras(keras, name):
    x = np.random.default_rng(6).uniform(-5, 8, (4, 9)).astype(np.float32)
    theirs = np.asarray(keras.activations.get(name)(x))
    np.testing.assert_allclose(activations.get(name)(x), theirs, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("kwargs", [dict(negative_slope=0.1), dict(max_value=6.0),
                                    dict(threshold=0.5), dict(negative_slope=0.2, max_value=4.0,
                                                              threshold=1.0)])
def test_relu_arguments_agree_with_keras(keras, kwargs):
    x = np.random.default_rng(8).uniform(-5, 8, (4, 9)).astype(np.float32)
    np.testing.assert_allclose(activations.relu(x, **kwargs),
                               np.asarray(keras.activations.relu(x, **kwargs)), rtol=1e-6,
                               atol=1e-6)


def test_derivatives_at_kinks_agree_with_jax(keras):
    jax = pytest.importorskip("jax")
    at = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0], np.float32)
    for name in ("relu", "relu6", "hard_tanh", "leaky_relu", "hard_silu", "elu", "selu",
                 "celu", "soft_shrink", "hard_shrink", "sparse_plus", "sparse_sigmoid",
                 "silu", "gelu", "mish", "log_sigmoid"):
        theirs = jax.grad(lambda v: keras.activations.get(name)(v).sum())(at)
        np.testing.assert_allclose(first_derivative(activations.get(name), at), theirs,
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    for kwargs in (dict(max_value=3.0), dict(negative_slope=0.2, max_value=4.0, threshold=1.0)):
        at = np.array([-1.0, 0.0, 0.5, 1.0, 3.0, 4.0, 6.0], np.float32)
        theirs = jax.grad(lambda v: keras.activations.relu(v, **kwargs).sum())(at)
        np.testing.assert_allclose(
            first_derivative(lambda v: activations.relu(v, **kwargs), at), theirs,
            err_msg=str(kwargs))


# ---------------------------------------------------------------- on an OpenCL device

def train_curve(name, device, x, y):
    return batch_losses([Dense(8, activation=name, input_shape=(5,)), Dense(2)], x, y,
                        device=device)[0]


@needs_opencl
@pytest.mark.parametrize("name", ["selu", "elu", "leaky_relu", "relu6", "silu", "mish",
                                  "hard_silu", "hard_tanh", "log_softmax", "sparse_plus"])
def test_they_train_the_same_on_an_opencl_device(name):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = np.sin(x[:, :2]).astype(np.float32)
    np.testing.assert_allclose(train_curve(name, "opencl", x, y), train_curve(name, "cpu", x, y),
                               rtol=1e-5)


@needs_opencl
def test_exact_gelu_on_a_device_says_what_to_use_instead():
    x = np.ones((16, 5), np.float32)
    with pytest.raises(NotImplementedError, match=r"gelu: .*erf.*approximate=True"):
        train_curve("gelu", "opencl", x, x[:, :2])
