"""ZeroPadding2D, Cropping2D, UpSampling2D, Permute, RepeatVector and Rescaling
(nn/layers/reshaping.py): values against plain NumPy formulas, output shapes as Keras
computes them, the gradient of a model through each against finite differences, a saved
model that loads, and bad arguments named."""

import numpy as np
import pytest

import adkit
from adkit import numeric
from adkit.nn import Sequential, load_model, optimizers
from adkit.nn.layers import (Cropping2D, Dense, Flatten, Permute, RepeatVector, Rescaling,
                             UpSampling2D, ZeroPadding2D)

RNG = np.random.default_rng(5)
IMAGES = RNG.standard_normal((2, 3, 4, 2))

CASES = {  # layer, input shape, plain-NumPy reference
    "pad int": (lambda: ZeroPadding2D(1), (3, 4, 2),
                lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    "pad pairs": (lambda: ZeroPadding2D(((0, 2), (1, 0))), (3, 4, 2),
                  lambda x: np.pad(x, ((0, 0), (0, 2), (1, 0), (0, 0)))),
    "crop": (lambda: Cropping2D(((1, 0), (1, 2))), (3, 4, 2), lambda x: x[:, 1:, 1:2, :]),
    "crop rows cols": (lambda: Cropping2D((1, 1)), (3, 4, 2), lambda x: x[:, 1:2, 1:3, :]),
    "upsample": (lambda: UpSampling2D((2, 3)), (3, 4, 2),
                 lambda x: x[:, np.arange(6) // 2][:, :, np.arange(12) // 3]),
    "permute": (lambda: Permute((3, 1, 2)), (3, 4, 2), lambda x: x.transpose(0, 3, 1, 2)),
    "rescale": (lambda: Rescaling(1 / 255, offset=-0.5, dtype="float64"), (3, 4, 2),
                lambda x: x / 255 - 0.5),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_shapes_and_gradients(name):
    make, shape, reference = CASES[name]
    layer = make()
    out = layer.call({}, IMAGES, None)
    np.testing.assert_allclose(out, reference(IMAGES), rtol=1e-14)
    assert out.shape[1:] == layer.compute_output_shape(shape)
    adkit.check_grads(lambda x: np.sum(np.sin(layer.call({}, x, None)) ** 2), (IMAGES,),
                      modes=("forward", "reverse", "numeric"))


def test_repeat_vector():
    layer = RepeatVector(3)
    x = RNG.standard_normal((2, 4))
    out = layer.call({}, x, None)
    np.testing.assert_array_equal(out, np.stack([x, x, x], axis=1))
    assert layer.compute_output_shape((4,)) == (3, 4)
    adkit.check_grads(lambda v: np.sum(layer.call({}, v, None) ** 3), (x,),
                      modes=("reverse", "numeric"))


def test_rescaling_uint8_images_gives_the_layers_dtype():
    pixels = np.array([[0, 128, 255]], dtype=np.uint8)
    out = Rescaling(1 / 255).call({}, pixels, None)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, pixels / 255, rtol=1e-6)


def test_a_model_with_them_trains_saves_and_loads(tmp_path):
    m = Sequential([Rescaling(0.5, input_shape=(3, 4, 2), dtype="float64"),
                    ZeroPadding2D(1, dtype="float64"), Cropping2D(((0, 1), (1, 0)), dtype="float64"),
                    UpSampling2D(2, dtype="float64"), Permute((2, 1, 3), dtype="float64"),
                    Flatten(dtype="float64"), Dense(3, activation="softmax", dtype="float64")],
                   seed=0)
    m.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = RNG.standard_normal((16, 3, 4, 2)), RNG.integers(0, 3, 16)
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    params = m.params
    loss = lambda v: m.loss_fn(params, v, y[:3], training=False)[0]  # noqa: E731
    np.testing.assert_allclose(adkit.grad(loss)(x[:3]), numeric.gradient(loss, x[:3]),
                               rtol=1e-6, atol=1e-9)
    m.save(tmp_path / "m.adkit")
    again = load_model(tmp_path / "m.adkit")
    np.testing.assert_array_equal(again.predict(x, verbose=0), m.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in again.layers] == \
        [type(layer).__name__ for layer in m.layers]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="padding must be an int, a pair of ints"):
        ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="must not be negative"):
        Cropping2D(-1)
    with pytest.raises(ValueError, match="larger than the cropping"):
        Cropping2D(2).compute_output_shape((3, 4, 2))
    with pytest.raises(ValueError, match="interpolation 'bilinear' is not implemented"):
        UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match="channels_last"):
        ZeroPadding2D(data_format="channels_first")
    with pytest.raises(ValueError, match="permutation of 1..n"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="n must be a positive int"):
        RepeatVector(0)
    with pytest.raises(ValueError, match="of 3 dimensions"):
        Permute((2, 1, 3)).compute_output_shape((4, 5))
