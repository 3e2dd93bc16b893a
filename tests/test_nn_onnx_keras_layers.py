"""export_onnx of the Keras 3 activation, normalisation and noise layers: onnxruntime
gives what model.predict gives (to 1e-5), on vectors and on images, and what has no ONNX
form here is refused by name with nothing written."""

import os

import numpy as np
import pytest

from adkit.nn import Sequential
from adkit.nn.layers import (ELU, ActivityRegularization, AlphaDropout, Conv2D, Dense,
                             Flatten, GaussianDropout, GaussianNoise, GroupNormalization,
                             Identity, LayerNormalization, LeakyReLU, MaxPooling2D, PReLU,
                             ReLU, RMSNormalization, Softmax, SpatialDropout2D,
                             UnitNormalization)

onnx = pytest.importorskip("onnx", reason="onnx is not installed: pip install 'adkit[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: "
                                                "pip install onnxruntime")


def randomised(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) * rng.choice([-1, 1])
                       for w in model.get_weights()])
    return model


def assert_exported_like_predict(model, x, tmp_path):
    path = tmp_path / "model.onnx"
    model.export_onnx(path)
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    expected = model.predict(x, verbose=0)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("middle", [
    lambda: [ReLU()], lambda: [ReLU(max_value=2.0)], lambda: [ReLU(negative_slope=0.1)],
    lambda: [LeakyReLU()], lambda: [ELU(alpha=0.5)], lambda: [PReLU()],
    lambda: [Softmax()], lambda: [LayerNormalization()], lambda: [RMSNormalization()],
    lambda: [UnitNormalization()], lambda: [LayerNormalization(scale=False, center=False)],
    lambda: [GroupNormalization(groups=3)], lambda: [GroupNormalization(groups=-1, center=False)],
    lambda: [GaussianNoise(0.2), GaussianDropout(0.2), AlphaDropout(0.2),
             ActivityRegularization(0.1), Identity()],
], ids=["relu", "relu-max", "relu-slope", "leaky", "elu", "prelu", "softmax", "layer-norm",
        "rms-norm", "unit-norm", "layer-norm-bare", "group-norm", "instance-norm", "noise"])
def test_vector_models_export(middle, tmp_path):
    model = randomised(Sequential([Dense(6, input_shape=(4,)), *middle(), Dense(3)], seed=0))
    x = 2 * np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    assert_exported_like_predict(model, x, tmp_path)


@pytest.mark.parametrize("middle", [
    lambda: [PReLU(shared_axes=[1, 2])], lambda: [PReLU()], lambda: [Softmax(axis=1)],
    lambda: [Softmax()], lambda: [LayerNormalization(axis=[1, 2, 3])],
    lambda: [LayerNormalization()], lambda: [RMSNormalization(axis=[2, 3])],
    lambda: [UnitNormalization(axis=[1, 2])], lambda: [SpatialDropout2D(0.3), ELU()],
    lambda: [LayerNormalization(axis=[1, 2])], lambda: [LayerNormalization(axis=1)],
    lambda: [GroupNormalization(groups=3)],
], ids=["prelu-shared", "prelu", "softmax-rows", "softmax", "layer-norm-all",
        "layer-norm", "rms-norm", "unit-norm", "spatial-dropout", "layer-norm-spatial",
        "layer-norm-rows", "group-norm"])
def test_image_models_export(middle, tmp_path):
    # the convolution leaves the graph channels-first: each layer must see its own layout
    model = randomised(Sequential([Conv2D(3, 2, input_shape=(5, 5, 2)), *middle(),
                                   MaxPooling2D(), Flatten(), Dense(2)], seed=0))
    x = np.random.default_rng(3).standard_normal((4, 5, 5, 2)).astype(np.float32)
    assert_exported_like_predict(model, x, tmp_path)


@pytest.mark.parametrize("layer, message", [
    (ReLU(threshold=0.5), "threshold"),
    (ReLU(negative_slope=0.1, max_value=3.0), "both negative_slope and max_value"),
    (Softmax(axis=[1, 2]), "several axes"),
    (GroupNormalization(groups=2, axis=1), "not the channels"),
    (LayerNormalization(rms_scaling=True), "rms_scaling"),
], ids=["relu-threshold", "relu-both", "softmax-axes", "group-norm-axis", "rms-scaling"])
def test_what_has_no_onnx_form_is_refused_by_name(layer, message, tmp_path):
    model = Sequential([Dense(4, input_shape=(2, 3)), layer], seed=0)
    with pytest.raises(ValueError, match=rf"export_onnx: layer {layer.name!r} "
                                         rf"\({type(layer).__name__}\).*{message}"):
        model.export_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
