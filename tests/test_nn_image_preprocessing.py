"""Keras 3's image preprocessing layers (RandomFlip, RandomTranslation, RandomRotation,
RandomZoom, RandomContrast, RandomBrightness, RandomCrop, Resizing, CenterCrop) and the
affine warp they share: the warp against a plain loop over pixels, np.rot90 and np.roll;
each fill mode at the border against hand-computed values; resizing against the
half-pixel bilinear formula written out; gradients against finite differences;
inference is the identity, training steps (compiled or not) draw afresh; a CNN with an
augmentation front end learns; configs and model files round trip; bad arguments are
refused by name; Keras 3 as referee where installed."""

import math

import numpy as np
import pytest

import adkit
import adkit.numeric
from adkit.nn import Sequential, load_model
from adkit.nn.layers import (CenterCrop, Conv2D, Dense, Flatten, MaxPooling2D,
                             RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                             RandomRotation, RandomTranslation, RandomZoom, Resizing,
                             deserialize, serialize)
from adkit.nn.layers.base import Context
from adkit.nn.layers.image_warp import affine_warp
from keras_referee import keras  # noqa: F401  (a fixture)
from opencl_support import needs_opencl

FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def training(seed=0):
    return Context(training=True, rng=np.random.default_rng(seed))


def images(shape=(2, 5, 6, 3), seed=0):
    return np.random.default_rng(seed).random(shape)


# --- the referee: one output pixel at a time, the fill rules spelled out -------------

def extended(image, row, col, fill_mode, fill_value):
    """image[row, col] for any integer row, col, the outside filled by fill_mode."""
    height, width = image.shape[:2]

    def fold(i, n):
        if fill_mode == "wrap":
            return i % n
        if fill_mode == "reflect":   # d c b a | a b c d | d c b a
            while not 0 <= i < n:
                i = -1 - i if i < 0 else 2 * n - 1 - i
            return i
        return min(max(i, 0), n - 1)

    if fill_mode == "constant" and not (0 <= row < height and 0 <= col < width):
        return np.full(image.shape[2], fill_value)
    return image[fold(row, height), fold(col, width)]


def loop_warp(batch, transforms, interpolation, fill_mode, fill_value):
    out = np.zeros(batch.shape)
    for b, image in enumerate(batch):
        a0, a1, a2, b0, b1, b2 = transforms[b]
        for y in range(image.shape[0]):
            for x in range(image.shape[1]):
                col, row = a0 * x + a1 * y + a2, b0 * x + b1 * y + b2
                if interpolation == "nearest":
                    out[b, y, x] = extended(image, math.floor(row + 0.5),
                                            math.floor(col + 0.5), fill_mode, fill_value)
                    continue
                r0, c0 = math.floor(row), math.floor(col)
                dr, dc = row - r0, col - c0
                for r, wr in ((r0, 1 - dr), (r0 + 1, dr)):
                    for c, wc in ((c0, 1 - dc), (c0 + 1, dc)):
                        out[b, y, x] += wr * wc * extended(image, r, c, fill_mode,
                                                           fill_value)
    return out


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_the_warp_matches_a_loop_over_pixels(fill_mode, interpolation):
    rng = np.random.default_rng(1)
    x = images((3, 5, 7, 2))
    # rotations, zooms, shears and shifts large enough to reach well outside the image
    transforms = np.concatenate([rng.uniform(-1.5, 1.5, (3, 2)), rng.uniform(-6, 6, (3, 1)),
                                 rng.uniform(-1.5, 1.5, (3, 2)), rng.uniform(-6, 6, (3, 1))],
                                axis=1)
    got = affine_warp(x, transforms, interpolation=interpolation, fill_mode=fill_mode,
                      fill_value=-2.5)
    np.testing.assert_allclose(got, loop_warp(x, transforms, interpolation, fill_mode, -2.5),
                               atol=1e-12)


@pytest.mark.parametrize("fill_mode, expected", [
    ("reflect", [2, 1, 1, 2]),    # d c b a | a b c d: columns -2, -1 are b, a
    ("wrap", [3, 4, 1, 2]),
    ("nearest", [1, 1, 1, 2]),
    ("constant", [9, 9, 1, 2]),
])
def test_each_fill_mode_at_the_border(fill_mode, expected):
    row = np.array([1.0, 2, 3, 4]).reshape(1, 1, 4, 1)
    shift_right_2 = np.array([[1.0, 0, -2, 0, 1, 0]])   # output column x reads x - 2
    out = affine_warp(row, shift_right_2, fill_mode=fill_mode, fill_value=9.0)
    np.testing.assert_array_equal(out[0, 0, :, 0], expected)
    # half a pixel outside, bilinear blends the border pixel with the fill
    half = affine_warp(row, np.array([[1.0, 0, -0.5, 0, 1, 0]]), fill_mode=fill_mode,
                       fill_value=9.0)
    outside = {"reflect": 1.0, "wrap": 4.0, "nearest": 1.0, "constant": 9.0}[fill_mode]
    assert half[0, 0, 0, 0] == pytest.approx(0.5 * outside + 0.5 * 1.0)
    assert half[0, 0, 3, 0] == pytest.approx(3.5)


def test_rotation_by_a_quarter_turn_is_rot90_counter_clockwise():
    x = images((2, 5, 5, 3))
    layer = RandomRotation((0.25, 0.25), interpolation="nearest")
    out = layer.call({}, x, training())
    np.testing.assert_allclose(out, np.rot90(x, k=1, axes=(1, 2)), atol=1e-12)
    half_turn = RandomRotation((-0.5, -0.5), interpolation="bilinear").call({}, x, training())
    np.testing.assert_allclose(half_turn, x[:, ::-1, ::-1], atol=1e-9)


def test_translation_by_whole_pixels_with_wrap_is_roll():
    x = images((2, 4, 5, 1))
    layer = RandomTranslation((0.25, 0.25), (-0.4, -0.4), fill_mode="wrap")
    out = layer.call({}, x, training())   # down 1 row (0.25 * 4), left 2 columns
    np.testing.assert_allclose(out, np.roll(np.roll(x, 1, axis=1), -2, axis=2), atol=1e-12)


def test_zoom_by_zero_is_the_identity_and_zoom_in_magnifies_the_centre():
    x = images((2, 5, 5, 2))
    np.testing.assert_allclose(RandomZoom((0, 0)).call({}, x, training()), x, atol=1e-12)
    # zoom in by half (factor -0.5): output pixel y reads input 2 + (y - 2) / 2
    out = RandomZoom((-0.5, -0.5), (-0.5, -0.5)).call({}, x, training())
    np.testing.assert_allclose(out[:, 2, 2], x[:, 2, 2])
    np.testing.assert_allclose(out[:, 0, 2], x[:, 1, 2])
    np.testing.assert_allclose(out[:, 1, 2], 0.5 * (x[:, 1, 2] + x[:, 2, 2]))


def test_flip_modes_flip_the_images_drawn():
    x = images((64, 3, 4, 1))
    for mode, flipped in [("horizontal", x[:, :, ::-1]), ("vertical", x[:, ::-1]),
                          ("horizontal_and_vertical", x[:, ::-1, ::-1])]:
        out = RandomFlip(mode).call({}, x, training(3))
        kept = np.all(out == x, axis=(1, 2, 3))
        assert np.all(kept | np.all(out == flipped, axis=(1, 2, 3)))
        assert 10 < kept.sum() < 54   # about half the images, each drawn on its own


def test_contrast_and_brightness_follow_keras_s_formulas():
    x = images((3, 4, 5, 2)) * 255
    mean = x.mean(axis=(1, 2), keepdims=True)
    out = RandomContrast(0.5).call({}, x, training(4))
    factor = (out - mean)[:, :1, :1] / (x - mean)[:, :1, :1]  # one factor per image
    assert np.all((factor >= 1.0) & (factor <= 1.5))      # Keras 3: [1 - 0, 1 + 0.5]
    np.testing.assert_allclose(out, np.clip((x - mean) * factor[:, :, :, :1] + mean, 0, 255))
    bright = RandomBrightness((0.1, 0.1), value_range=(0, 1)).call({}, x / 255, training())
    np.testing.assert_allclose(bright, np.clip(x / 255 + 0.1, 0, 1))
    darker = RandomBrightness((-0.2, -0.2)).call({}, x, training())
    np.testing.assert_allclose(darker, np.clip(x - 51.0, 0, 255))


def bilinear_half_pixel(image, height, width):
    """The half-pixel-centre bilinear formula written out, one pixel at a time."""
    in_h, in_w = image.shape[:2]
    out = np.zeros((height, width) + image.shape[2:])
    for i in range(height):
        for j in range(width):
            r = min(max((i + 0.5) * in_h / height - 0.5, 0), in_h - 1)
            c = min(max((j + 0.5) * in_w / width - 0.5, 0), in_w - 1)
            r0, c0 = int(r), int(c)
            r1, c1 = min(r0 + 1, in_h - 1), min(c0 + 1, in_w - 1)
            dr, dc = r - r0, c - c0
            out[i, j] = ((1 - dr) * ((1 - dc) * image[r0, c0] + dc * image[r0, c1])
                         + dr * ((1 - dc) * image[r1, c0] + dc * image[r1, c1]))
    return out


@pytest.mark.parametrize("size", [(4, 5), (1, 2), (3, 3), (2, 7)])
def test_resizing_is_half_pixel_bilinear(size):
    x = images((2, 2, 3, 2))
    out = Resizing(*size).call({}, x, Context())
    assert out.shape == (2, *size, 2)
    for b in range(2):
        np.testing.assert_allclose(out[b], bilinear_half_pixel(x[b], *size), atol=1e-12)


def test_resizing_crop_to_aspect_ratio_and_center_crop():
    x = images((1, 4, 8, 1))
    cropped = Resizing(2, 2, crop_to_aspect_ratio=True).call({}, x, Context())
    np.testing.assert_allclose(cropped[0], bilinear_half_pixel(x[0, :, 2:6], 2, 2))
    np.testing.assert_array_equal(CenterCrop(2, 3).call({}, x, Context()), x[:, 1:3, 2:5])
    small = CenterCrop(6, 6).call({}, x, Context())   # larger than the image: smart resize
    np.testing.assert_allclose(small[0], bilinear_half_pixel(x[0, :, 2:6], 6, 6))


def test_random_crop_crops_a_window_in_training_and_resizes_in_inference():
    x = images((2, 6, 7, 1))
    windows = {(t, s): x[:, t:t + 3, s:s + 4] for t in range(4) for s in range(4)}
    drawn = set()
    for seed in range(20):
        out = RandomCrop(3, 4).call({}, x, training(seed))
        drawn |= {k for k, w in windows.items() if np.array_equal(out, w)}
    assert len(drawn) >= 5   # one window per batch, a new one per draw
    # inference: the centred box of aspect 3:4 (5 x 7 rows, columns), resized to 3 x 4
    inference = RandomCrop(3, 4).call({}, x, Context())
    np.testing.assert_allclose(inference[1], bilinear_half_pixel(x[1, 0:5, 0:7], 3, 4),
                               atol=1e-12)
    smaller = RandomCrop(8, 8).call({}, x, training())   # not larger: resized as inference
    np.testing.assert_allclose(smaller[0], bilinear_half_pixel(x[0, 0:6, 0:6], 8, 8),
                               atol=1e-12)


RANDOM_LAYERS = {
    "flip": lambda: RandomFlip("horizontal", seed=1),
    "translation": lambda: RandomTranslation(0.2, (-0.1, 0.3), fill_mode="constant",
                                             fill_value=0.5),
    "rotation": lambda: RandomRotation(0.1, fill_mode="wrap", interpolation="nearest"),
    "zoom": lambda: RandomZoom(0.2, -0.3, fill_mode="nearest"),
    "contrast": lambda: RandomContrast(0.3, value_range=(0, 1)),
    "brightness": lambda: RandomBrightness(0.2, value_range=[0, 1]),
}


@pytest.mark.parametrize("name", sorted(RANDOM_LAYERS))
def test_inference_is_the_identity_and_models_round_trip(name, tmp_path):
    layer = RANDOM_LAYERS[name]()
    x = images((3, 6, 6, 2)).astype(np.float32)
    assert layer.call({}, x, Context(training=False)) is x
    assert not np.allclose(layer.call({}, x, training()), x)
    again = deserialize(serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
    model = Sequential([layer, Flatten(), Dense(2)], seed=0)
    model.build((6, 6, 2))
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(3, -1) @ kernel + bias,
                               rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.adkit")
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize("make", [lambda: Resizing(3, 4, interpolation="nearest"),
                                  lambda: CenterCrop(3, 4), lambda: RandomCrop(3, 4)])
def test_sized_layers_declare_their_output_shape_and_round_trip(make, tmp_path):
    layer = make()
    x = images((2, 5, 6, 2)).astype(np.float32)
    model = Sequential([layer, Flatten(), Dense(2)], seed=0)
    model.build((5, 6, 2))
    assert model.count_params() == 3 * 4 * 2 * 2 + 2
    assert model.predict(x, verbose=0).shape == (2, 2)
    again = deserialize(serialize(layer))
    assert again.get_config() == layer.get_config()
    model.save(tmp_path / "m.adkit")
    np.testing.assert_array_equal(load_model(tmp_path / "m.adkit").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize("make", [
    lambda: RandomRotation(0.2),
    lambda: RandomTranslation(0.3, 0.2, fill_mode="constant"),
    lambda: RandomZoom(0.3, interpolation="bilinear", fill_mode="wrap"),
    lambda: Resizing(3, 5),
    lambda: RandomContrast(0.4, value_range=(-10, 10)),
], ids=["rotation", "translation", "zoom", "resizing", "contrast"])
def test_the_input_gradient_matches_finite_differences(make):
    layer = make()
    x = images((2, 4, 5, 2))
    weights = np.random.default_rng(9).standard_normal(layer.compute_output_shape(
        (4, 5, 2)))

    def loss(v):   # the same draws every call: a fresh generator of one seed
        return np.sum(layer.call({}, v, training(5)) * weights)

    np.testing.assert_allclose(adkit.grad(loss)(x), adkit.numeric.gradient(loss, x),
                               rtol=1e-6, atol=1e-7)


def augmented_cnn(front="geometric"):
    augmentation = {
        "geometric": [RandomFlip("horizontal", input_shape=(8, 8, 1)), RandomRotation(0.1),
                      RandomZoom(0.1), RandomTranslation(0.1, 0.1)],
        "photometric": [RandomCrop(7, 7, input_shape=(8, 8, 1)),
                        RandomContrast(0.3, value_range=(0, 1)),
                        RandomBrightness(0.1, value_range=(0, 1))],
    }[front]
    return Sequential(augmentation + [Conv2D(4, 3, activation="relu"), MaxPooling2D(),
                                      Flatten(), Dense(2, activation="softmax")], seed=3)


def toy_images(n=64, seed=0):
    """Bright blob top half vs bottom half: a label augmentation keeps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, 8, 8, 1)).astype(np.float32) * 0.2
    x[y == 0, 1:4, 2:6] += 0.8
    x[y == 1, 4:7, 2:6] += 0.8
    return x, np.eye(2, dtype=np.float32)[y]


@pytest.mark.parametrize("front", ["geometric", "photometric"])
def test_training_steps_draw_afresh_and_compiled_equals_eager(front):
    x, y = toy_images(16)
    losses = {}
    for mode in ("auto", False):
        model = augmented_cnn(front)
        model.compile(optimizer="sgd", loss="categorical_crossentropy", jit_compile=mode)
        losses[mode] = model.fit(x, y, batch_size=16, epochs=4, shuffle=False,
                                 verbose=0).history["loss"]
        if mode == "auto":
            step = model.trainer.compiled_step
            assert step is not None and not step.eager_reasons
    np.testing.assert_allclose(losses["auto"], losses[False], rtol=1e-5)
    # the same batch every step, a new augmentation every step: no two losses alike
    for jit in losses:
        assert len(set(np.round(losses[jit], 7))) == len(losses[jit])
    model = augmented_cnn(front)
    model.build((8, 8, 1))
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)   # inference: fixed


def test_called_alone_a_layer_augments_unless_told_not_to_as_keras():
    x = images((4, 6, 6, 1)).astype(np.float32)
    flip, rotate = RandomFlip("vertical"), RandomRotation(0.2)
    assert not np.allclose(rotate(x), x)            # Keras 3: training defaults to True
    assert not np.array_equal(rotate(x), rotate(x))  # a fresh draw per call
    np.testing.assert_array_equal(rotate(x, training=False), x)
    model = Sequential([flip, rotate])
    model.build((6, 6, 1))
    np.testing.assert_array_equal(model(x), x)       # a model's call is inference
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert Resizing(3, 3)(x).shape == (4, 3, 3, 1)


def test_a_cnn_with_an_augmentation_front_end_learns():
    x, y = toy_images(128)
    for jit in ("auto", False):
        model = augmented_cnn()
        model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=jit,
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=12, verbose=0).history["loss"]
        assert history[-1] < 0.7 * history[0]


@pytest.mark.parametrize("make, message", [
    (lambda: RandomRotation(1.5),
     r"RandomRotation 'random_rotation.*': factor must be .* in \[-1, 1\]"),
    (lambda: RandomRotation("big"), "factor must be a number"),
    (lambda: RandomTranslation(0.1, (0.1, 0.2, 0.3)), "width_factor must be"),
    (lambda: RandomZoom(-1.0), r"height_factor must be .* in \(-1, 1\]"),
    (lambda: RandomContrast(-0.2), r"factor must be .* in \[0, 1\]"),
    (lambda: RandomBrightness(0.1, value_range=5), "value_range must be a pair"),
    (lambda: RandomRotation(0.1, fill_mode="mirror"), "unknown fill_mode 'mirror'"),
    (lambda: RandomZoom(0.1, interpolation="bicubic"), "unknown interpolation 'bicubic'"),
    (lambda: RandomFlip("diagonal"), "unknown mode 'diagonal'"),
    (lambda: RandomFlip(data_format="channels_first"), "channels_last"),
    (lambda: RandomCrop(0, 3), "height must be a positive int"),
    (lambda: Resizing(3, 3, pad_to_aspect_ratio=True), "pad_to_aspect_ratio"),
    (lambda: Resizing(3, 3, interpolation="area"), "unknown interpolation 'area'"),
    (lambda: CenterCrop(3, 3, data_format="channels_first"), "channels_last"),
    (lambda: RandomContrast(0.1, data_format="channels_first"), "channels_last"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="RandomRotation 'spin': unknown fill_mode"):
        RandomRotation(0.1, fill_mode="edge", name="spin")
    with pytest.raises(ValueError, match=r"layer 'f' \(RandomFlip\) expects .*\(height, width, "
                                         r"channels\)"):
        Sequential([RandomFlip(name="f")]).build((5, 5))
    with pytest.raises(ValueError, match="RandomZoom 'z' needs a random generator"):
        RandomZoom(0.1, name="z").call({}, images(), Context(training=True))


def test_export_onnx_writes_augmentations_as_identity_and_refuses_resizing(tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: "
                                                    "pip install onnxruntime")
    model = Sequential([RANDOM_LAYERS[name]() for name in sorted(RANDOM_LAYERS)]
                       + [Conv2D(2, 3), Flatten(), Dense(2)], seed=0)
    model.build((8, 8, 1))
    x = toy_images(4)[0]
    model.export_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0],
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for sized in (RandomCrop(4, 4, input_shape=(6, 6, 1)), Resizing(4, 4, input_shape=(6, 6, 1)),
                  CenterCrop(4, 4, input_shape=(6, 6, 1))):
        refused = Sequential([sized, Flatten(), Dense(2)])
        refused.build((6, 6, 1))
        kind = type(sized).__name__
        with pytest.raises(ValueError, match=rf"\({kind}\) has no ONNX export"):
            refused.export_onnx(tmp_path / f"{kind}.onnx")
        assert not (tmp_path / f"{kind}.onnx").exists()


@needs_opencl
def test_an_opencl_device_refuses_the_layers_by_name():
    model = Sequential([RandomRotation(0.1, input_shape=(4, 4, 1)), Flatten(), Dense(1)])
    with pytest.raises(ValueError, match=r"\(RandomRotation\) has no OpenCL implementation"):
        model.compile(optimizer="sgd", loss="mse", device="opencl")


# --- Keras 3 as referee ------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda L: L.RandomRotation((0.1, 0.1)),
    lambda L: L.RandomRotation((-0.3, -0.3), fill_mode="constant", fill_value=0.25,
                               interpolation="nearest"),
    lambda L: L.RandomTranslation((0.2, 0.2), (-0.3, -0.3), fill_mode="wrap"),
    lambda L: L.RandomTranslation((-0.15, -0.15), (0.1, 0.1), fill_mode="nearest"),
    lambda L: L.RandomZoom((0.3, 0.3), (-0.2, -0.2), fill_mode="reflect"),
    lambda L: L.RandomZoom((-0.4, -0.4)),
    lambda L: L.RandomBrightness((0.1, 0.1), value_range=(0, 1)),
], ids=["rotation", "rotation_nearest", "translation_wrap", "translation_nearest",
        "zoom_reflect", "zoom_in", "brightness"])
def test_fixed_transformations_match_keras(keras, make):  # noqa: F811
    import adkit.nn as ours
    x = images((2, 7, 9, 3)).astype(np.float32)
    expected = np.asarray(make(keras.layers)(x, training=True))
    got = make(ours.layers).call({}, x, training())
    np.testing.assert_allclose(got, expected, atol=2e-5)


@pytest.mark.parametrize("make", [
    lambda L: L.Resizing(5, 4), lambda L: L.Resizing(2, 3), lambda L: L.Resizing(9, 11),
    lambda L: L.Resizing(4, 4, crop_to_aspect_ratio=True),
    lambda L: L.Resizing(5, 13, interpolation="nearest"),
    lambda L: L.Resizing(3, 2, interpolation="nearest"),
    lambda L: L.CenterCrop(4, 5), lambda L: L.CenterCrop(9, 4),
])
def test_resizing_and_center_crop_match_keras(keras, make):  # noqa: F811
    import adkit.nn as ours
    x = images((2, 7, 9, 3)).astype(np.float32)
    expected = np.asarray(make(keras.layers)(x))
    got = make(ours.layers).call({}, x, Context())
    np.testing.assert_allclose(got, expected, atol=2e-5)


@pytest.mark.parametrize("name, args", [
    ("RandomFlip", ("vertical",)), ("RandomTranslation", (0.1, (-0.2, 0.3))),
    ("RandomRotation", (0.1,)), ("RandomZoom", (0.1, 0.2)), ("RandomContrast", (0.1,)),
    ("RandomBrightness", (0.1,)), ("RandomCrop", (3, 3)), ("Resizing", (3, 4)),
    ("CenterCrop", (3, 3)),
])
def test_configs_have_keras_s_keys_and_values(keras, name, args):  # noqa: F811
    import adkit.nn as ours
    theirs = getattr(keras.layers, name)(*args, seed=5) if "Random" in name else \
        getattr(keras.layers, name)(*args)
    config = getattr(ours.layers, name)(*args, **({"seed": 5} if "Random" in name
                                                  else {})).get_config()
    expected = theirs.get_config()
    assert set(config) == set(expected)
    for key in set(config) - {"name", "dtype"}:
        value = expected[key]
        assert config[key] == (list(value) if isinstance(value, tuple) else value), key
