"""adkit.nn's compiled training step (nn/compiled_step.py): compile(jit_compile=...) picks
it, a compiled fit trains exactly as the eager one (same per-batch losses, same weights,
same dropout masks and BatchNormalization statistics, every optimizer), it falls back to
the eager step with a reason where it does not apply, and jit_compile is saved with the
model. Also: a Sequential holding a nested model trains only the nested model's
trainable layers and applies its constraints."""

import warnings

import numpy as np
import pytest

import adkit
from adkit import CompileWarning
from adkit.nn import Input, Model, Sequential, load_model, optimizers, schedules
from adkit.nn.callbacks import LambdaCallback, TerminateOnNaN
from adkit.nn.layers import (LSTM, BatchNormalization, Concatenate, Conv2D, Dense, Dropout,
                             Embedding, Flatten, MaxPooling2D)
from adkit.nn.layers.base import Layer

RNG = np.random.default_rng(0)


def _mlp(dtype):
    return [Dense(12, activation="relu", input_shape=(6,), dtype=dtype), Dropout(0.3, dtype=dtype),
            BatchNormalization(dtype=dtype), Dense(3, activation="softmax", dtype=dtype)]


def _cnn(dtype):
    return [Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1), dtype=dtype),
            MaxPooling2D(dtype=dtype), Dropout(0.25, dtype=dtype), Flatten(dtype=dtype),
            Dense(3, activation="softmax", dtype=dtype)]


def _lstm(dtype):
    return [LSTM(5, input_shape=(4, 3), dtype=dtype), Dense(3, activation="softmax", dtype=dtype)]


NETS = {"mlp": (_mlp, (6,)), "cnn": (_cnn, (8, 8, 1)), "lstm": (_lstm, (4, 3))}


def _data(shape, n=70, dtype="float64", classes=3):
    x = RNG.normal(size=(n,) + shape).astype(dtype)
    y = RNG.integers(0, classes, n)
    return x, y


def _fit(layers, x, y, jit, optimizer="adam", loss="sparse_categorical_crossentropy",
         epochs=2, batch_size=16, **fit_kwargs):
    """(per-batch losses, model) of a fit with jit_compile=jit; batch_size 16 of 70 examples
    leaves a last batch of 6: two signatures, two programs."""
    model = Sequential(layers, seed=3)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=jit)
    losses = []
    record = LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                        callbacks=[record], **fit_kwargs)
    return np.array(losses), model, history


def _assert_compiled(model):
    step = model.trainer.compiled_step
    assert model.trainer.eager_reason is None
    assert step is not None and not step.eager_reasons, getattr(step, "eager_reasons", None)
    assert step.program.stats.replays > 0 and step.program.stats.eager_calls == 0


def _assert_same_training(a, b, tol):
    (la, ma, ha), (lb, mb, hb) = a, b
    np.testing.assert_allclose(la, lb, rtol=tol, atol=tol)
    for wa, wb in zip(ma.get_weights(), mb.get_weights()):   # params and layer state
        np.testing.assert_allclose(wa, wb, rtol=tol, atol=tol)
    np.testing.assert_allclose(ha.history["accuracy"], hb.history["accuracy"], atol=1e-12)


# --- compiled == eager ----------------------------------------------------------------------

@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_compiled_fit_trains_as_the_eager_fit(net, dtype, tol):
    build, shape = NETS[net]
    x, y = _data(shape, dtype=dtype)
    on = _fit(build(dtype), x, y, jit="auto")
    off = _fit(build(dtype), x, y, jit=False)
    _assert_compiled(on[1])
    assert off[1].trainer.compiled_step is None
    assert off[1].trainer.eager_reason == "compile(jit_compile=False)"
    _assert_same_training(on, off, tol)
    assert on[1].trainer.compiled_step.program.stats.traces == 2   # full batches, the last one


OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.05),
    "momentum": lambda: optimizers.SGD(0.05, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(0.01),
    "amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "rmsprop": lambda: optimizers.RMSprop(0.01),
    "rmsprop centered momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "adadelta": lambda: optimizers.Adadelta(),
    "adamax": lambda: optimizers.Adamax(0.01),
    "nadam": lambda: optimizers.Nadam(0.01),
    "rprop": lambda: optimizers.Rprop(0.01),
    "clipnorm": lambda: optimizers.SGD(0.5, clipnorm=0.05),
    "clipvalue": lambda: optimizers.Adam(0.01, clipvalue=0.01),
    "global_clipnorm": lambda: optimizers.RMSprop(0.01, global_clipnorm=0.05),
    "schedule": lambda: optimizers.SGD(
        schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_steps_the_same_compiled(name):
    x, y = _data((6,))
    on = _fit(_mlp("float64"), x, y, jit=True, optimizer=OPTIMIZERS[name]())
    off = _fit(_mlp("float64"), x, y, jit=False, optimizer=OPTIMIZERS[name]())
    _assert_compiled(on[1])
    _assert_same_training(on, off, 1e-10)
    assert on[1].optimizer.iterations == off[1].optimizer.iterations == 10
    for k, v in off[1].optimizer.variables().items():
        np.testing.assert_allclose(on[1].optimizer.variables()[k], v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_pure_step_is_apply_gradients_without_writes(name):
    """Optimizer.pure_step returns what apply_gradients writes, and writes nothing."""
    rng = np.random.default_rng(1)
    params = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    eager, pure = OPTIMIZERS[name](), OPTIMIZERS[name]()
    expected, current = [p.copy() for p in params], [p.copy() for p in params]
    for _ in range(3):
        grads = [rng.normal(size=p.shape) for p in params]
        eager.apply_gradients(expected, grads)
        frozen = [p.copy() for p in current]
        consts = pure.begin_step(current)
        new, slots = pure.pure_step(current, grads, pure._slots, consts)
        for p, before in zip(current, frozen):
            np.testing.assert_array_equal(p, before)
        pure.finish_step(current, new, slots)
    for a, b in zip(current, expected):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("clip", [{"clipnorm": 0.05}, {"global_clipnorm": 0.05}])
def test_pure_clipping_of_float32_gradients_rounds_as_the_eager_one(clip):
    """The norm is taken in float64 and the factor rounded to float32 in both forms, so
    the clipped float32 steps are equal to the last bit."""
    rng = np.random.default_rng(2)
    for _ in range(50):
        params = [rng.normal(size=(7, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
        grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
        eager, pure = optimizers.SGD(0.5, **clip), optimizers.SGD(0.5, **clip)
        expected, current = [p.copy() for p in params], [p.copy() for p in params]
        eager.apply_gradients(expected, grads)
        consts = pure.begin_step(current)
        new, slots = pure.pure_step(current, grads, pure._slots, consts)
        pure.finish_step(current, new, slots)
        for a, b in zip(current, expected):
            np.testing.assert_array_equal(a, b)


def test_compiled_gradient_matches_finite_differences():
    """One compiled SGD step moves each weight by -lr times the loss gradient; the gradient,
    read back from the step, agrees with adkit.numeric's central differences of the loss."""
    x, y = _data((6,), n=16)
    model = Sequential([Dense(4, activation="tanh", input_shape=(6,), dtype="float64"),
                        Dense(3, activation="softmax", dtype="float64")], seed=0)
    model.compile(optimizer=optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)   # staged
    before = [w.copy() for w in model.weights]
    model.train_on_batch(x, y)   # replayed
    _assert_compiled(model)
    step = [b - w for b, w in zip(before, model.weights)]
    params = model.params

    def loss_at(flat):
        trial, k = {}, 0
        for layer in model.layers:
            trial[layer.name] = {}
            for name, w in params[layer.name].items():
                trial[layer.name][name] = flat[k:k + w.size].reshape(w.shape)
                k += w.size
        return model.loss_fn(trial, x, y, None, training=False)[0]
    flat = np.concatenate([b.ravel() for b in before])
    numeric = adkit.numeric.gradient(loss_at, flat)
    np.testing.assert_allclose(np.concatenate([s.ravel() for s in step]), numeric,
                               rtol=1e-6, atol=1e-8)


def test_dropout_masks_are_the_eager_ones_and_change_every_step():
    x = np.ones((8, 6))
    y = np.zeros(8, np.int64)
    model = Sequential([Dropout(0.5, input_shape=(6,), dtype="float64"),
                        Dense(3, activation="softmax", dtype="float64")], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    eager = Sequential([Dropout(0.5, input_shape=(6,), dtype="float64"),
                        Dense(3, activation="softmax", dtype="float64")], seed=0)
    eager.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=False)
    losses = [(model.train_on_batch(x, y), eager.train_on_batch(x, y)) for _ in range(4)]
    _assert_compiled(model)
    assert [a for a, _ in losses] == [b for _, b in losses]
    assert len({a for a, _ in losses}) == 4   # a new mask each step, not one frozen in


def test_sample_and_class_weights_and_validation_compiled():
    x, y = _data((6,))
    w = RNG.uniform(0.5, 2.0, len(x))
    kw = dict(sample_weight=w, validation_split=0.2)
    on = _fit(_mlp("float64"), x, y, jit=True, **kw)
    off = _fit(_mlp("float64"), x, y, jit=False, **kw)
    _assert_compiled(on[1])
    _assert_same_training(on, off, 1e-10)
    np.testing.assert_allclose(on[2].history["val_loss"], off[2].history["val_loss"], rtol=1e-10)
    on = _fit(_mlp("float64"), x, y, jit=True, class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    off = _fit(_mlp("float64"), x, y, jit=False, class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    _assert_same_training(on, off, 1e-10)


def test_functional_model_with_two_inputs_and_outputs_compiled():
    def build():
        a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
        h = Dense(5, activation="relu", name="h")(Concatenate()([a, b]))
        out1 = Dense(3, activation="softmax", name="cls")(h)
        out2 = Dense(1, name="reg")(h)
        model = Model([a, b], [out1, out2], seed=1)
        return model
    xa, xb = RNG.normal(size=(40, 3)), RNG.normal(size=(40, 2))
    y1, y2 = RNG.integers(0, 3, 40), RNG.normal(size=(40, 1))
    runs = []
    for jit in (True, False):
        model = build()
        model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"],
                      loss_weights=[1.0, 0.5], jit_compile=jit)
        history = model.fit([xa, xb], [y1, y2], batch_size=8, epochs=2, verbose=0)
        runs.append((model, history))
    _assert_compiled(runs[0][0])
    np.testing.assert_allclose(runs[0][1].history["loss"], runs[1][1].history["loss"],
                               rtol=1e-10)
    for wa, wb in zip(runs[0][0].get_weights(), runs[1][0].get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-12)


def test_a_nan_loss_stops_before_the_update_compiled():
    x, y = _data((6,), n=32)
    x[20] = np.nan   # the second batch of 16
    for jit in (True, False):
        model = Sequential(_mlp("float64"), seed=3)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        after_first = []
        keep = LambdaCallback(on_train_batch_end=lambda b, logs: after_first.append(
            model.get_weights()) if b == 0 else None)
        with pytest.warns(RuntimeWarning, match="TerminateOnNaN: the loss became nan"):
            model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False,
                      callbacks=[keep, TerminateOnNaN()])
        assert model.stop_training
        for a, b in zip(model.get_weights(), after_first[0]):
            np.testing.assert_array_equal(a, b)   # the NaN batch changed nothing


def test_compiled_steps_update_weights_and_slots_in_place():
    # the program takes the trainable weights and the optimizer's slots as donated
    # arguments: from its first replay on, it writes the new values into those arrays
    from adkit.pytree import tree_flatten
    x, y = _data((6,), n=64)
    model = Sequential([Dense(300, activation="relu", input_shape=(6,)),
                        Dense(3, activation="softmax")], seed=5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seen: list = []
    keep = LambdaCallback(on_train_batch_end=lambda b, logs: seen.append((
        [id(w) for w in tree_flatten(model.params)[0]],
        [id(s) for slots in model.optimizer._slots for s in slots],
        [s.copy() for slots in model.optimizer._slots for s in slots])))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[keep])
    _assert_compiled(model)
    assert seen[0][0] == seen[3][0]                    # the model's arrays stay its arrays
    assert seen[1][1] == seen[2][1] == seen[3][1]      # replays rewrite the same slots
    assert not np.array_equal(seen[1][2][0], seen[2][2][0])   # with new values


# --- where it does not apply ----------------------------------------------------------------

@pytest.mark.parametrize("make,reason", [
    (lambda: optimizers.ESGD(0.01), "Hessian-vector products"),
    (lambda: optimizers.SGD(0.01, gradient_noise=0.1, seed=0), "gradient_noise"),
])
def test_optimizers_that_cannot_be_staged_step_eagerly_with_a_reason(make, reason):
    x, y = _data((6,), n=32)
    model = Sequential(_mlp("float64"), seed=3)
    model.compile(optimizer=make(), loss="sparse_categorical_crossentropy")   # "auto": quiet
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert reason in model.trainer.eager_reason and model.trainer.compiled_step is None
    model.compile(optimizer=make(), loss="sparse_categorical_crossentropy", jit_compile=True)
    with pytest.warns(CompileWarning, match=reason):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)


def test_a_user_optimizer_with_only_an_in_place_rule_steps_eagerly():
    class HalfStep(optimizers.SGD):
        def _update(self, p, g, slots, lr):
            p -= 0.5 * lr * g
    reason = HalfStep(0.1).pure_step_refusal()
    assert "HalfStep defines _update" in reason and "_rule" in reason


class _DoubledInScratch(Layer):
    """2 * x written into a scratch buffer of its own, as a hand-tuned layer might: fine on
    the plain input data an eager step gives it, not stageable (a staged value cannot be
    stored into a plain array)."""

    def call(self, params, x, ctx):
        out = np.empty(np.shape(x), self.dtype)
        np.multiply(x, 2.0, out=out)
        return out


def test_a_step_adkit_compile_cannot_stage_warns_and_trains_as_eager():
    """The program is refused, a CompileWarning names why, and training goes on eagerly
    with the same results."""
    x, y = _data((6,))

    def layers():
        return [_DoubledInScratch(input_shape=(6,), dtype="float64")] + _mlp("float64")[1:]
    with pytest.warns(CompileWarning, match="runs eagerly for this batch shape: .*out=") as seen:
        on = _fit(layers(), x, y, jit=True)
    assert all("out=" in str(w.message) for w in seen if w.category is CompileWarning)
    off = _fit(layers(), x, y, jit=False)
    assert len(on[1].trainer.compiled_step.eager_reasons) == 2   # both batch shapes
    _assert_same_training(on, off, 1e-12)


class _Scaled(Layer):
    """Multiplies by a Python float attribute that the test changes between fits."""

    def __init__(self, factor=0.5, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, params, x, ctx):
        return x * self.factor


def test_layer_attributes_and_trainable_changed_between_fits_are_seen():
    """A program bakes in what the layers' and the optimizer's Python reads: changing a
    layer's attribute (a custom factor, a Dropout rate, an activation), an optimizer's
    hyperparameter or the learning rate, or freezing a layer between fits trains as the
    eager step does, and the optimizer keeps the state of the weights it still updates
    (freezing raised: 'holds state for 4 parameters but got 2')."""
    x, y = _data((6,))
    changes = [lambda m: None, lambda m: setattr(m.layers[1], "factor", 3.0),
               lambda m: setattr(m.layers[2], "rate", 0.5),
               lambda m: setattr(m.layers[0], "activation", np.tanh),
               lambda m: setattr(m.layers[0], "trainable", False),
               lambda m: setattr(m.layers[0], "trainable", True),
               lambda m: setattr(m.optimizer, "beta_1", 0.5),
               lambda m: setattr(m.optimizer, "epsilon", 0.1),
               lambda m: setattr(m.optimizer, "clipnorm", 0.05),
               lambda m: setattr(m.optimizer, "learning_rate", 0.05)]

    def train(jit):
        m = Sequential([Dense(8, activation="relu", input_shape=(6,), dtype="float64"),
                        _Scaled(dtype="float64"), Dropout(0.2, dtype="float64"),
                        Dense(3, activation="softmax", dtype="float64")], seed=0)
        m.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  jit_compile=jit)
        losses = []
        for change in changes:
            change(m)
            with warnings.catch_warnings():
                warnings.simplefilter("error", CompileWarning)
                losses.append(m.fit(x, y, batch_size=16, epochs=1, verbose=0,
                                    shuffle=False).history["loss"][0])
        return losses, m.get_weights()
    (losses, weights), (eager_losses, eager_weights) = train(True), train(False)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-12)
    for a, b in zip(weights, eager_weights):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert len(set(np.round(losses, 6))) == len(losses)   # every change made a difference


class _ChangingDraws(Layer):
    """Draws one more or one fewer random number on every call (its output ignores them):
    no plan of draws fits it."""

    calls = 0

    def call(self, params, x, ctx):
        if ctx.training:
            _ChangingDraws.calls += 1
            x = x + 0.0 * np.sum(ctx.random(self.name).random(_ChangingDraws.calls % 2 + 1))
        return x


def test_layers_whose_draws_change_step_eagerly():
    x, y = _data((6,))

    def layers():
        return [_ChangingDraws(input_shape=(6,), dtype="float64")] + _mlp("float64")[1:]
    with pytest.warns(CompileWarning, match="differs from the one the plan recorded"):
        on = _fit(layers(), x, y, jit=True)
    off = _fit(layers(), x, y, jit=False)
    assert on[1].trainer.compiled_step.eager_reasons
    _assert_same_training(on, off, 1e-12)


class _SeededNoise(Layer):
    """Adds noise from a generator seeded by a number it draws: the seed, a Python int,
    is a guard that fails on every step."""

    def call(self, params, x, ctx):
        if not ctx.training:
            return x
        seed = int(ctx.random(self.name).integers(0, 2 ** 31))
        return x + 0.01 * np.random.default_rng(seed).normal(size=np.shape(x))


def test_a_step_whose_guards_fail_every_time_stops_staging():
    x, y = _data((6,))

    def layers():
        return [_SeededNoise(input_shape=(6,), dtype="float64")] + _mlp("float64")[1:]
    with pytest.warns(CompileWarning, match="staged again on each of the last steps"):
        on = _fit(layers(), x, y, jit=True, epochs=3)
    off = _fit(layers(), x, y, jit=False, epochs=3)
    step = on[1].trainer.compiled_step
    assert len(step.eager_reasons) == 2 and step.program.stats.traces == 6   # 3 per shape
    _assert_same_training(on, off, 1e-10)


def test_embedding_steps_compiled():
    x = RNG.integers(0, 50, (80, 4))
    y = RNG.integers(0, 2, 80)

    def layers():
        return [Embedding(50, 3, input_shape=(4,), dtype="float64"), Flatten(dtype="float64"),
                Dense(2, activation="softmax", dtype="float64")]
    for batch_size in (32, 8):   # 8 x 4 indices: few enough that a plain conversion pins them
        on = _fit(layers(), x, y, jit=True, batch_size=batch_size)
        off = _fit(layers(), x, y, jit=False, batch_size=batch_size)
        _assert_compiled(on[1])
        shapes = 1 if len(x) % batch_size == 0 else 2   # full batches and the last one
        assert on[1].trainer.compiled_step.program.stats.traces == shapes
        _assert_same_training(on, off, 1e-10)


def test_jit_compile_is_checked():
    model = Sequential(_mlp("float64"), seed=0)
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
        model.compile(optimizer="sgd", loss="mse", jit_compile="yes")
    model.compile(optimizer="sgd", loss="mse")
    assert model.jit_compile == "auto"


def test_jit_compile_is_saved_with_the_model(tmp_path):
    x, y = _data((6,), n=32)
    model = Sequential(_mlp("float64"), seed=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=False)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.compile_config()["jit_compile"] is False
    model.save(tmp_path / "m.adkit")
    loaded = load_model(tmp_path / "m.adkit")
    assert loaded.jit_compile is False
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert loaded.trainer.compiled_step is None


# --- nested models --------------------------------------------------------------------------

@pytest.mark.parametrize("jit", [True, False])
def test_a_nested_models_frozen_layers_stay_and_its_constraints_hold(jit):
    inner = Sequential([Dense(4, input_shape=(3,), name="frozen", dtype="float64"),
                        Dense(4, name="held", kernel_constraint="non_neg", dtype="float64")],
                       name="inner", seed=1)
    inner.layers[0].trainable = False
    outer = Sequential([inner, Dense(1, name="out", dtype="float64")], seed=2)
    outer.compile(optimizer=optimizers.SGD(0.1), loss="mse", jit_compile=jit)
    frozen = [w.copy() for w in inner.layers[0].get_weights()]
    held = inner.layers[1].get_weights()[0].copy()
    x = RNG.normal(size=(64, 3))
    outer.fit(x, x.sum(1, keepdims=True), epochs=3, verbose=0)
    for before, after in zip(frozen, inner.layers[0].get_weights()):
        np.testing.assert_array_equal(before, after)
    kernel = inner.layers[1].get_weights()[0]
    assert (kernel >= 0).all() and not np.array_equal(kernel, np.maximum(held, 0))
    assert list(outer.trainable_part(outer.params)["inner"]) == ["held"]


def test_ctrl_c_during_a_compiled_step_leaves_a_whole_step(monkeypatch):
    # Ctrl-C while the program runs (it writes the weights and slots in place) is held
    # until the step is whole: the optimizer counts it and the layer state takes it too
    import os
    import signal
    from adkit.nn.compiled_step import CompiledStep
    x, y = _data((6,), n=64)
    model = Sequential(_mlp("float64"), seed=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    calls, before = [], []
    run = CompiledStep.__call__

    def interrupted(self, *args, **kwargs):
        before.append((model.get_weights(), {k: {n: v.copy() for n, v in s.items()}
                                             for k, s in model.state.items()}))
        result = run(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:    # a replay: the program has written the weights
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(CompiledStep, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    _assert_compiled(model)
    weights, state = before[2]
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
    assert model.optimizer.iterations == 3          # the interrupted step was counted
    assert any(not np.array_equal(v, state[k][n])   # and its BatchNormalization statistics kept
               for k, s in model.state.items() for n, v in s.items())


def test_a_configuration_that_changes_every_step_runs_eagerly_after_a_few():
    # a layer counting its calls in an attribute: each step's configuration is new, so
    # each would stage (and keep) a program of its own
    class Counting(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = 0

        def call(self, params, x, ctx):
            self.calls += 1
            return x * 2.0

    x = np.random.default_rng(0).random((256, 4)).astype(np.float32)
    model = Sequential([Counting(input_shape=(4,)), Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    with pytest.warns(adkit.CompileWarning, match="configuration changed .*attribute 'calls'"):
        history = model.fit(x, x.sum(1, keepdims=True), epochs=2, batch_size=16, verbose=0)
    stats = model.trainer.compiled_step.program.stats
    assert stats.traces <= 9 and stats.entries <= 9
    assert np.all(np.isfinite(history.history["loss"]))
