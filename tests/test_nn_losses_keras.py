"""Keras 3's losses in adkit.nn.losses: names and aliases, options (label_smoothing, axis,
ignore_class, delta, gamma, ...), reductions and sample weights, each value against a plain
NumPy formula written here, derivatives against finite differences, and training with
each loss (fused logits path, compiled step vs eager, save/load). A last section checks
every value against Keras itself where Keras is installed."""

import numpy as np
import pytest
from opencl_support import needs_opencl

import adkit
import adkit.nn as keras
from adkit.nn import losses

EPS = 1e-7


# --- plain NumPy referees ---------------------------------------------------------------

def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_cce(t, p, smoothing=0.0, axis=-1, from_logits=False):
    t = t * (1 - smoothing) + smoothing / t.shape[-1]
    if from_logits:
        return -np.sum(t * _log_softmax(p, axis), axis=axis)
    q = np.clip(p / p.sum(axis=axis, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(q), axis=axis)


def np_bce(t, p, smoothing=0.0, from_logits=False):
    t = t * (1 - smoothing) + 0.5 * smoothing
    if from_logits:
        return np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), axis=-1)
    q = np.clip(p, EPS, 1 - EPS)
    return -np.mean(t * np.log(q) + (1 - t) * np.log(1 - q), axis=-1)


def np_sparse(ids, p, from_logits=False, ignore=None):
    logq = _log_softmax(p) if from_logits else \
        np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))
    safe = np.where(ids == ignore, 0, ids) if ignore is not None else ids
    out = -np.take_along_axis(logq, safe[..., None], -1)[..., 0]
    return np.where(ids == ignore, 0.0, out) if ignore is not None else out


def _probs(rng, shape):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


def _onehot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


# --- 1. cross-entropy options -----------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 3)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
def test_categorical_label_smoothing_equals_the_formula(shape, smoothing):
    rng = np.random.default_rng(0)
    t, p, z = _onehot(rng, shape), _probs(rng, shape), rng.normal(size=shape) * 3
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing, reduction=None)
    np.testing.assert_allclose(loss(t, p), np_cce(t, p, smoothing), rtol=1e-10)
    logits = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing,
                                                  reduction=None)
    np.testing.assert_allclose(logits(t, z), np_cce(t, z, smoothing, from_logits=True),
                               rtol=1e-10)
    np.testing.assert_allclose(
        losses.categorical_crossentropy(t, z, from_logits=True, label_smoothing=smoothing),
        np_cce(t, z, smoothing, from_logits=True), rtol=1e-10)


def test_categorical_axis_puts_the_classes_elsewhere():
    rng = np.random.default_rng(1)
    t = np.moveaxis(_onehot(rng, (4, 6, 3)), -1, 1)           # (4, 3, 6): classes on axis 1
    p = np.moveaxis(_probs(rng, (4, 6, 3)), -1, 1)
    z = rng.normal(size=(4, 3, 6))
    got = losses.categorical_crossentropy(t, p, axis=1)
    np.testing.assert_allclose(got, np_cce(t, p, axis=1), rtol=1e-10)
    assert got.shape == (4, 6)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, axis=1, reduction="sum")
    assert float(loss(t, z)) == pytest.approx(np_cce(t, z, axis=1, from_logits=True).sum())


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_label_smoothing_squeezes_targets_to_one_half(smoothing):
    rng = np.random.default_rng(2)
    t = rng.integers(0, 2, (7, 3)).astype(float)
    p, z = rng.uniform(0.01, 0.99, (7, 3)), rng.normal(size=(7, 3)) * 4
    w = rng.uniform(size=7)
    loss = keras.losses.BinaryCrossentropy(label_smoothing=smoothing)
    assert float(loss(t, p, sample_weight=w)) == pytest.approx(
        np.mean(np_bce(t, p, smoothing) * w), rel=1e-10)
    logits = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing,
                                             reduction="sum")
    assert float(logits(t, z)) == pytest.approx(np_bce(t, z, smoothing, True).sum(), rel=1e-10)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_ignore_class_drops_those_examples_from_the_mean(from_logits):
    rng = np.random.default_rng(3)
    ids = np.array([0, 2, -1, 1, -1, 2])
    p = rng.normal(size=(6, 3)) if from_logits else _probs(rng, (6, 3))
    per = np_sparse(ids, p, from_logits, ignore=-1)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1)
    assert float(loss(ids, p)) == pytest.approx(per.sum() / 4, rel=1e-10)   # 4 valid of 6
    none = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1,
                                                      reduction=None)
    np.testing.assert_allclose(none(ids, p), per, rtol=1e-10)
    total = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1,
                                                       reduction="sum")
    w = rng.uniform(size=6)
    assert float(total(ids, p, sample_weight=w)) == pytest.approx(np.sum(per * w), rel=1e-10)


def test_cross_entropy_options_are_checked():
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        keras.losses.BinaryCrossentropy(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="axis must be an int"):
        keras.losses.CategoricalCrossentropy(axis=True)
    with pytest.raises(ValueError, match="ignore_class must be an int"):
        keras.losses.SparseCategoricalCrossentropy(ignore_class="void")
    with pytest.raises(TypeError, match="label_smoothing"):   # Keras 3 has none here either
        keras.losses.SparseCategoricalCrossentropy(label_smoothing=0.1)


def test_cross_entropy_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    t, z = _onehot(rng, (3, 4)), rng.normal(size=(3, 4))
    p = _probs(rng, (3, 4))
    modes = ("reverse", "numeric")
    adkit.check_grads(lambda q: np.sum(losses.categorical_crossentropy(
        t, q, label_smoothing=0.2)), (p,), modes=modes)
    adkit.check_grads(lambda q: np.sum(losses.categorical_crossentropy(
        t, q, from_logits=True, label_smoothing=0.2)), (z,), modes=modes)
    b = rng.integers(0, 2, (3, 4)).astype(float)
    adkit.check_grads(lambda q: np.sum(losses.binary_crossentropy(
        b, q, from_logits=True, label_smoothing=0.3)), (z,), modes=modes)
    ids = np.array([1, -1, 3])
    adkit.check_grads(lambda q: np.sum(losses.sparse_categorical_crossentropy(
        ids, q, from_logits=True, ignore_class=-1)), (z,), modes=modes)


# --- training with the options: fused logits path, compiled vs eager, save/load ----------

def _data(seed=0, n=48, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    ids = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    return x, np.minimum(ids, classes - 1)


def _classifier(activation="softmax", units=3):
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(units, activation=activation,
                                                                   kernel_initializer="ones")])


def test_softmax_model_with_smoothing_takes_the_fused_path_and_its_value():
    x, ids = _data()
    y = keras.utils.to_categorical(ids, 3)
    model = _classifier()
    model.compile("sgd", keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    assert model._fused_loss is not None          # computed from the logits, not clipped
    params = model.params
    logits = model.apply(params, x, logits=True)[0]
    want = np.mean(np_cce(y, np.asarray(logits, np.float64), 0.1, from_logits=True))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-5)
    # far past where clipped probabilities saturate, the fused loss stays exact
    big = x * 1e3
    logits = np.asarray(model.apply(params, big, logits=True)[0], np.float64)
    want = np.mean(np_cce(y, logits, 0.1, from_logits=True))
    assert model.evaluate(big, y, verbose=0) == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("loss, activation, units, targets", [
    (keras.losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax", 3, "onehot"),
    (keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), "linear", 3,
     "onehot"),
    (keras.losses.BinaryCrossentropy(label_smoothing=0.2), "sigmoid", 1, "binary"),
    (keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), "linear", 1,
     "binary"),
    (keras.losses.SparseCategoricalCrossentropy(ignore_class=-1), "softmax", 3, "ignored"),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1), "linear", 3,
     "ignored"),
])
def test_fit_with_options_lowers_the_loss_compiled_and_eager_alike(loss, activation, units,
                                                                   targets):
    x, ids = _data(seed=1)
    y = {"onehot": keras.utils.to_categorical(ids, 3),
         "binary": (ids > 0).astype("float32")[:, None],
         "ignored": np.where(np.arange(len(ids)) % 5 == 0, -1, ids)}[targets]
    histories = []
    for jit in ("auto", False):
        model = _classifier(activation, units)
        model.compile(keras.optimizers.SGD(0.1), loss, jit_compile=jit)
        histories.append(model.fit(x, y, batch_size=16, epochs=4, verbose=0,
                                   shuffle=False).history["loss"])
    compiled, eager = histories
    assert compiled[-1] < compiled[0]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_ignore_class_fit_loss_is_the_mean_over_valid_labels():
    x, ids = _data(seed=2, n=20)
    y = np.where(np.arange(20) % 4 == 0, -1, ids)
    model = _classifier("linear")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                    ignore_class=-1))
    z = np.asarray(model.predict(x, verbose=0), np.float64)
    want = np_sparse(y, z, True, ignore=-1).sum() / np.sum(y != -1)
    assert model.evaluate(x, y, batch_size=20, verbose=0) == pytest.approx(want, rel=1e-5)


def test_saved_model_keeps_its_loss_options(tmp_path):
    x, ids = _data(seed=3)
    y = keras.utils.to_categorical(ids, 3)
    model = _classifier()
    model.compile("adam", keras.losses.CategoricalCrossentropy(label_smoothing=0.3))
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "smoothed.adkit")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.loss.loss_object.label_smoothing == 0.3
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                             rel=1e-6)


def test_loss_objects_round_trip_through_their_config():
    for loss in (keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                 keras.losses.BinaryCrossentropy(label_smoothing=0.05, name="bce"),
                 keras.losses.SparseCategoricalCrossentropy(ignore_class=255)):
        config = loss.get_config()
        assert type(loss).from_config(config).get_config() == config
        stored = losses.serialize(loss.compiled())      # what a saved model holds
        assert stored["class_name"] == type(loss).__name__
        assert losses.deserialize(stored).get_config() == config
    summed = keras.losses.SparseCategoricalCrossentropy(reduction="sum", axis=1)
    assert losses.SparseCategoricalCrossentropy.from_config(summed.get_config()).reduction == "sum"


# --- device='opencl' ------------------------------------------------------------------------


@needs_opencl
def test_label_smoothing_trains_on_opencl_as_on_the_cpu():
    x, ids = _data(seed=4, n=32)
    y = keras.utils.to_categorical(ids, 3)
    histories = []
    for device in ("cpu", "opencl"):
        model = _classifier()
        model.compile("sgd", keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                      device=device)
        histories.append(model.fit(x, y, epochs=2, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


@needs_opencl
def test_ignore_class_is_refused_on_opencl_by_name():
    x, ids = _data(seed=5, n=16)
    model = _classifier("linear")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                    ignore_class=-1),
                  device="opencl")
    with pytest.raises(NotImplementedError, match=r"ignore_class=\.\.\.\) does not run on "
                                                  r"device='opencl'.*device='cpu'"):
        model.fit(x, np.where(ids == 0, -1, ids), epochs=1, verbose=0)
