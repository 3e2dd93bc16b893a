"""ZeroPadding1D, Cropping1D and UpSampling1D (nn/layers/sequence_reshaping.py): values
against plain NumPy, derivatives against finite differences, output shapes as Keras's,
configs, a Conv1D autoencoder with them that trains, saves and loads, bad arguments
named; and, with Keras installed, Keras's outputs."""

import numpy as np
import pytest
from conv_support import keras, same_as_keras  # noqa: F401

import adkit
from adkit.nn import Input, Sequential, load_model, optimizers
from adkit.nn.layers import (Conv1D, Cropping1D, MaxPooling1D, ShapeError, UpSampling1D,
                             ZeroPadding1D, deserialize, serialize)

RNG = np.random.default_rng(29)
X = RNG.standard_normal((2, 5, 3))

CASES = {  # layer, plain-NumPy reference
    "pad int": (lambda: ZeroPadding1D(2), lambda x: np.concatenate(
        [np.zeros((2, 2, 3)), x, np.zeros((2, 2, 3))], axis=1)),
    "pad pair": (lambda: ZeroPadding1D((0, 3)), lambda x: np.concatenate(
        [x, np.zeros((2, 3, 3))], axis=1)),
    "crop int": (lambda: Cropping1D(1), lambda x: x[:, 1:4]),
    "crop pair": (lambda: Cropping1D((2, 0)), lambda x: x[:, 2:]),
    "upsample": (lambda: UpSampling1D(3), lambda x: x[:, [i // 3 for i in range(15)]]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_shapes_and_derivatives(name):
    make, reference = CASES[name]
    layer = make()
    out = layer.call({}, X, None)
    np.testing.assert_array_equal(out, reference(X))
    assert out.shape[1:] == layer.compute_output_shape((5, 3))
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    adkit.check_grads(lambda x: np.sum(np.sin(layer.call({}, x, None)) ** 2), (X,),
                      modes=("forward", "reverse", "numeric"))
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


def test_a_conv1d_autoencoder_with_them_trains_saves_and_loads(tmp_path):
    model = Sequential([Input((10, 2)), ZeroPadding1D((1, 1)),
                        Conv1D(4, 3, activation="relu"), MaxPooling1D(2),
                        UpSampling1D(2), Cropping1D((0, 0)), Conv1D(2, 3, padding="same")],
                       seed=0)
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    steps = np.linspace(0, 3, 10)
    x = np.stack([np.sin(steps * f) for f in RNG.uniform(1, 2, 32)])[..., None].repeat(2, -1)
    x = x.astype(np.float32)
    before = model.evaluate(x, x, verbose=0)
    model.fit(x, x, batch_size=8, epochs=10, verbose=0)
    assert model.evaluate(x, x, verbose=0) < 0.7 * before
    model.save(tmp_path / "ae.adkit")
    again = load_model(tmp_path / "ae.adkit")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="ZeroPadding1D 'z': padding must be an int or a pair"):
        ZeroPadding1D((1, 2, 3), name="z")
    with pytest.raises(ValueError, match="Cropping1D 'c': cropping must be an int or a pair"):
        Cropping1D(-1, name="c")
    with pytest.raises(ValueError, match="UpSampling1D 'u': size must be a positive int"):
        UpSampling1D(0, name="u")
    with pytest.raises(ValueError, match="channels_last"):
        ZeroPadding1D(data_format="channels_first")
    with pytest.raises(ShapeError, match=r"'c' \(Cropping1D\).*more than 4 steps"):
        Sequential([Input((4, 2)), Cropping1D(2, name="c")])
    with pytest.raises(ShapeError, match=r"'u' \(UpSampling1D\) expects input of shape "
                                         r"\(steps, features\)"):
        Sequential([Input((4, 4, 2)), UpSampling1D(name="u")])


@pytest.mark.parametrize("name,args", [("ZeroPadding1D", ((2, 1),)), ("Cropping1D", ((1, 2),)),
                                       ("UpSampling1D", (3,))])
def test_matches_keras(keras, name, args):
    ours = {"ZeroPadding1D": ZeroPadding1D, "Cropping1D": Cropping1D,
            "UpSampling1D": UpSampling1D}[name]
    same_as_keras(keras, ours(*args), getattr(keras.layers, name)(*args),
                  X.astype(np.float32))
