"""Keras 3's regularizer and constraint classes: penalties against plain formulas, their
gradients against finite differences, penalties reaching the training loss,
constraints holding after every step (eager and compiled), configs and saved models."""


import numpy as np
import pytest

import adkit
import adkit.nn as keras
from adkit import numeric
from adkit.nn import constraints as C
from adkit.nn import regularizers as R
from adkit.nn.layers import Dense

from keras_referee import real_keras  # noqa: F401  (a fixture)

W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def orthogonal_penalty(w, factor, mode):
    """Keras's formula written out with loops (rows or columns as unit vectors)."""
    vecs = [w[i] for i in range(w.shape[0])] if mode == "rows" else \
        [w[:, j] for j in range(w.shape[1])]
    vecs = [v / np.linalg.norm(v) for v in vecs]
    n = len(vecs)
    total = sum(abs(vecs[i] @ vecs[j]) for i in range(n) for j in range(n) if i != j)
    return factor * 0.5 * total / (n * (n - 1) / 2)


@pytest.mark.parametrize("reg,value", [
    (R.L1(0.3), 0.3 * np.abs(W).sum()),
    (R.L2(0.3), 0.3 * (W ** 2).sum()),
    (R.L1L2(l1=0.2, l2=0.1), 0.2 * np.abs(W).sum() + 0.1 * (W ** 2).sum()),
    (R.L1(), 0.01 * np.abs(W).sum()),
    (R.L2(), 0.01 * (W ** 2).sum()),
    (R.L1L2(), 0.0),
    (R.OrthogonalRegularizer(0.5, "rows"), orthogonal_penalty(W, 0.5, "rows")),
    (R.OrthogonalRegularizer(0.5, "columns"), orthogonal_penalty(W, 0.5, "columns")),
], ids=repr)
def test_penalties_follow_keras_formulas(reg, value):
    assert float(reg(W)) == pytest.approx(value, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.3), R.L1L2(0.2, 0.1),
                                 R.OrthogonalRegularizer(0.5, "rows"),
                                 R.OrthogonalRegularizer(0.5, "columns")], ids=repr)
def test_penalty_gradients_match_finite_differences(reg):
    ours = adkit.grad(lambda w: reg(w))(W)
    reference = numeric.gradient(lambda w: float(reg(w)), W)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-8)


def test_the_penalty_reaches_the_training_loss_of_kernel_and_bias_both_ways():
    x, y = np.random.default_rng(0).normal(size=(16, 3)), np.zeros((16, 2))
    plain = keras.Sequential([Dense(2, input_shape=(3,), name="d")], seed=1)
    reg = keras.Sequential([Dense(2, input_shape=(3,), name="d",
                                  kernel_regularizer=R.L2(0.5))], seed=1)
    for m in (plain, reg):
        m.compile("sgd", "mse")
    kernel = reg.get_weights()[0]
    diff = reg.evaluate(x, y, verbose=0) - plain.evaluate(x, y, verbose=0)
    assert float(np.squeeze(diff)) == pytest.approx(0.5 * float((kernel.astype(np.float64) ** 2).sum()),
                                                    rel=1e-5)


@pytest.mark.parametrize("jit", [True, False])
def test_a_kernel_regularizer_shrinks_the_kernel_the_same_eager_and_compiled(jit):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = x @ np.ones((4, 1), np.float32)

    def trained(reg, jit_compile):
        m = keras.Sequential([Dense(1, input_shape=(4,), kernel_regularizer=reg)], seed=3)
        m.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit_compile)
        m.fit(x, y, epochs=20, batch_size=8, verbose=0)
        return m.get_weights()[0]

    free, shrunk = trained(None, jit), trained(R.L1L2(l1=0.01, l2=0.2), jit)
    assert np.linalg.norm(shrunk) < np.linalg.norm(free)
    np.testing.assert_allclose(trained(R.L2(0.2), jit), trained(R.L2(0.2), not jit), rtol=1e-5)


# ---------------------------------------------------------------- constraints

def test_constraints_follow_keras_formulas():
    eps = 1e-7
    norms = np.sqrt((W ** 2).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(C.UnitNorm()(W.copy()), W / (eps + norms), rtol=1e-12)
    np.testing.assert_allclose(C.MaxNorm(1.0)(W.copy()),
                               W * np.clip(norms, 0, 1.0) / (eps + norms), rtol=1e-12)
    desired = 0.5 * np.clip(norms, 0.9, 1.7) + 0.5 * norms
    np.testing.assert_allclose(C.MinMaxNorm(0.9, 1.7, rate=0.5)(W.copy()),
                               W * desired / (eps + norms), rtol=1e-12)
    rows = np.sqrt((W ** 2).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(C.UnitNorm(axis=1)(W.copy()), W / (eps + rows), rtol=1e-12)
    np.testing.assert_array_equal(C.NonNeg()(W.copy()), np.maximum(W, 0))


def test_a_constraint_projects_in_place_and_returns_the_weight():
    w = W.copy()
    out = C.UnitNorm()(w)
    assert out is w
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-6)


def test_a_keras_style_constraint_returning_a_new_array_is_written_back():
    class ClipToHalf(C.Constraint):
        def __call__(self, w):
            return np.clip(w, -0.5, 0.5)

    w = W.copy()
    ClipToHalf()(w)
    np.testing.assert_array_equal(w, np.clip(W, -0.5, 0.5))
    w = W.copy()
    C.get(lambda v: v * 2)(w)
    np.testing.assert_array_equal(w, 2 * W)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("constraint,check", [
    (C.UnitNorm(), lambda k: np.allclose(np.linalg.norm(k, axis=0), 1.0, atol=1e-5)),
    (C.MinMaxNorm(0.5, 0.8), lambda k: np.all((np.linalg.norm(k, axis=0) > 0.5 - 1e-5)
                                              & (np.linalg.norm(k, axis=0) < 0.8 + 1e-5))),
    ("unit_norm", lambda k: np.allclose(np.linalg.norm(k, axis=0), 1.0, atol=1e-5)),
], ids=["UnitNorm", "MinMaxNorm", "unit_norm"])
def test_constraints_hold_after_every_step(jit, constraint, check):
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = 5 * x[:, :2]
    kernels = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kernels.append(self.model.get_weights()[0].copy())

    m = keras.Sequential([Dense(2, input_shape=(3,), kernel_constraint=constraint)], seed=0)
    m.compile(keras.optimizers.Adam(0.1), "mse", jit_compile=jit)
    m.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Record()])
    assert len(kernels) == 8 and all(check(k) for k in kernels)


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        R.L2(-0.1)
    with pytest.raises(ValueError, match="mode must be 'rows' or 'columns'"):
        R.OrthogonalRegularizer(mode="diag")
    with pytest.raises(ValueError, match="2-D kernel"):
        R.OrthogonalRegularizer()(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="unknown regularizer 'l3'.*l1_l2.*L1L2"):
        R.get("l3")
    with pytest.raises(ValueError, match="max_value .* must be >= min_value"):
        C.MinMaxNorm(2.0, 1.0)
    with pytest.raises(ValueError, match="rate must be in"):
        C.MinMaxNorm(rate=2.0)
    with pytest.raises(ValueError, match="axis must be an int"):
        C.UnitNorm(axis="rows")
    with pytest.raises(ValueError, match="unknown constraint 'unit'.*unit_norm"):
        C.get("unit")


@pytest.mark.parametrize("reg", [R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.2),
                                 R.OrthogonalRegularizer(0.4, "columns")], ids=repr)
def test_regularizer_configs_round_trip(reg):
    assert R.get(R.serialize(reg)) == reg
    assert R.get(reg.get_config()) == reg            # the bare form layers store
    assert R.get(type(reg).__name__).__class__ is type(reg)


@pytest.mark.parametrize("c", [C.UnitNorm(axis=[0, 1]), C.MinMaxNorm(0.1, 2.0, 0.5, 1),
                               C.MaxNorm(3.0), C.NonNeg()], ids=repr)
def test_constraint_configs_round_trip(c):
    assert C.get(C.serialize(c)) == c
    assert C.get(type(c).__name__).__class__ is type(c)


def test_a_model_with_them_saves_and_loads(tmp_path):
    model = keras.Sequential([
        Dense(4, input_shape=(3,), kernel_regularizer=R.OrthogonalRegularizer(0.1),
              kernel_constraint=C.MinMaxNorm(0.2, 0.9, 0.5)),
        Dense(1, kernel_regularizer=R.L1(0.05), kernel_constraint=C.UnitNorm())], seed=0)
    model.compile("adam", "mse")
    x = np.random.default_rng(1).normal(size=(8, 3))
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    model.save(tmp_path / "m.adkit")
    loaded = keras.models.load_model(tmp_path / "m.adkit")
    assert loaded.layers[0].regularizers["kernel"] == R.OrthogonalRegularizer(0.1)
    assert loaded.layers[0].constraints["kernel"] == C.MinMaxNorm(0.2, 0.9, 0.5)
    assert loaded.layers[1].regularizers["kernel"] == R.L1(0.05)
    assert loaded.layers[1].constraints["kernel"] == C.UnitNorm()
    assert loaded.evaluate(x, x[:, :1], verbose=0) == pytest.approx(
        model.evaluate(x, x[:, :1], verbose=0), rel=1e-6)


def test_an_unsavable_function_is_refused_when_saving(tmp_path):
    model = keras.Sequential([Dense(1, input_shape=(2,),
                                    kernel_constraint=lambda w: np.clip(w, -1, 1))])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="is code, which a saved model never holds"):
        model.save(tmp_path / "m.adkit")


# ---------------------------------------------------------------- against Keras itself


@pytest.mark.parametrize("name,args", [("L1", (0.3,)), ("L2", (0.3,)), ("L1L2", (0.2, 0.1)),
                                       ("OrthogonalRegularizer", (0.5, "columns"))])
def test_penalties_and_configs_match_keras(real_keras, name, args):
    ours, theirs = getattr(R, name)(*args), getattr(real_keras.regularizers, name)(*args)
    w = real_keras.ops.convert_to_tensor(W.astype(np.float32))
    assert float(ours(W)) == pytest.approx(float(theirs(w)), rel=1e-5)
    back = R.get(real_keras.regularizers.serialize(theirs))   # Keras keeps float32 factors
    assert type(back) is type(ours)
    for key, value in ours.get_config().items():
        assert back.get_config()[key] == (pytest.approx(value, rel=1e-6)
                                          if isinstance(value, float) else value)


@pytest.mark.parametrize("name,args", [("UnitNorm", (1,)), ("MaxNorm", (1.5, 0)),
                                       ("MinMaxNorm", (0.9, 1.7, 0.5, 0)), ("NonNeg", ())])
def test_constraints_match_keras(real_keras, name, args):
    ours, theirs = getattr(C, name)(*args), getattr(real_keras.constraints, name)(*args)
    w = W.astype(np.float32)
    np.testing.assert_allclose(ours(w.copy()), np.asarray(theirs(w)), rtol=1e-6)
    assert ours.get_config() == theirs.get_config()


# ---------------------------------------------------------------- Dense's bias options

def test_dense_bias_regularizer_and_constraint():
    x = np.zeros((4, 3))
    layer = Dense(2, input_shape=(3,), bias_initializer="ones",
                  bias_regularizer=R.L1L2(l1=0.25, l2=0.5), bias_constraint=C.NonNeg())
    model = keras.Sequential([layer])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    # output = bias = 1 everywhere, target 1: the loss is the penalty alone
    assert model.evaluate(x, np.ones((4, 2)), verbose=0) == pytest.approx(2 * 0.25 + 2 * 0.5)
    # a step: mse gradient 0, penalty gradient 0.25 + 2 * 0.5 * 1 = 1.25 per entry; lr 1 would
    # take the bias to -0.25, the constraint clips it to 0
    model.fit(x, np.ones((4, 2)), batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(layer.get_weights()[1], [0.0, 0.0])
    config = layer.get_config()
    assert R.get(config["bias_regularizer"]) == R.L1L2(0.25, 0.5)
    assert C.get(config["bias_constraint"]) == C.NonNeg()
    rebuilt = Dense.from_config(config)
    assert rebuilt.regularizers["bias"] == R.L1L2(0.25, 0.5)


def test_dense_without_bias_takes_bias_options_and_ignores_them():
    layer = Dense(2, input_shape=(3,), use_bias=False, bias_regularizer="l2")
    keras.Sequential([layer]).compile("sgd", "mse")
    assert "bias" not in layer.regularizers


def test_dense_activity_regularizer_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match="activity_regularizer is not supported.*ActivityRegularization"):
        Dense(2, activity_regularizer=R.L1(0.01))


def test_a_function_regularizer_trains_and_is_refused_by_name_when_saving(tmp_path):
    def tiny_l2(w):
        return 0.5 * np.sum(w * w)

    model = keras.Sequential([Dense(1, input_shape=(2,), kernel_regularizer=tiny_l2)], seed=0)
    model.compile("sgd", "mse")
    x = np.zeros((4, 2))
    kernel = model.get_weights()[0].astype(np.float64)
    assert model.evaluate(x, np.zeros((4, 1)), verbose=0) == pytest.approx(
        0.5 * float((kernel ** 2).sum()), rel=1e-5)
    with pytest.raises(ValueError, match="regularizer .*tiny_l2.* is code"):
        model.save(tmp_path / "m.adkit")
