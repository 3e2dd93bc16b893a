"""Keras 3 parity of adkit.nn.optimizers: weight_decay on every optimizer, AdamW, Lion,
Adam(amsgrad=True), the cosine and polynomial schedules. Each update is checked
against a NumPy re-implementation of Keras's formula written here, over several
steps; the compiled training step against the eager one; saved models resume
exactly; bad input is refused by name. Where Keras is installed, trajectories on
the same gradients and schedule values are compared with Keras itself."""

import json
import math

import numpy as np
import pytest
from opencl_support import needs_opencl

import adkit.nn as keras
from adkit.nn import optimizers as O
from adkit.nn import schedules as S
from adkit.nn.layers import Dense

from keras_referee import real_keras  # noqa: F401  (a fixture)

STEPS = 6


def gradients(shape=(3, 2), steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(steps)]


W0 = np.random.default_rng(1).normal(size=(3, 2))


# ---------------------------------------------------------------- NumPy references

def ref_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=None, lr_at=None):
    w, m, v, vhat = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    out = []
    for t, g in enumerate(grads, start=1):
        rate = lr_at(t - 1) if lr_at else lr
        if wd is not None:
            w = w - w * wd * rate
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        alpha = rate * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        if amsgrad:
            vhat = np.maximum(vhat, v)
            w = w - m * alpha / (np.sqrt(vhat) + eps)
        else:
            w = w - m * alpha / (np.sqrt(v) + eps)
        out.append(w.copy())
    return out


def ref_lion(w, grads, lr, b1=0.9, b2=0.99, wd=None):
    w, m, out = w.copy(), np.zeros_like(w), []
    for g in grads:
        if wd is not None:
            w = w - w * wd * lr
        w = w - lr * np.sign(m * b1 + g * (1 - b1))
        m = m * b2 + g * (1 - b2)
        out.append(w.copy())
    return out


def ref_sgd(w, grads, lr, momentum=0.0, wd=None, clipnorm=None):
    w, v, out = w.copy(), np.zeros_like(w), []
    for g in grads:
        if clipnorm is not None:
            n = np.sqrt((g * g).sum())
            g = g * clipnorm / max(n, clipnorm)
        if wd is not None:
            w = w - w * wd * lr
        v = momentum * v - lr * g
        w = w + v
        out.append(w.copy())
    return out


def ref_rmsprop(w, grads, lr, rho=0.9, eps=1e-7, wd=None):
    w, a, out = w.copy(), np.zeros_like(w), []
    for g in grads:
        if wd is not None:
            w = w - w * wd * lr
        a = rho * a + (1 - rho) * g * g
        w = w - lr * g / np.sqrt(a + eps)
        out.append(w.copy())
    return out


def ref_ftrl(w, grads, lr, power=-0.5, init=0.1, l1=0.0, l2=0.0, shrink=0.0, beta=0.0):
    """McMahan et al.'s per-coordinate FTRL-Proximal, Keras's variant, one entry at a time."""
    w = w.copy()
    n, z, out = np.full_like(w, init), np.zeros_like(w), []
    for g in grads:
        for i in np.ndindex(w.shape):
            gi = g[i] + 2 * shrink * w[i]
            n_new = n[i] + g[i] ** 2
            sigma = (n_new ** -power - n[i] ** -power) / lr
            z[i] += gi - sigma * w[i]
            n[i] = n_new
            if abs(z[i]) <= l1:
                w[i] = 0.0
            else:
                w[i] = -(z[i] - np.sign(z[i]) * l1) / (n_new ** -power / lr + 2 * (l2 + beta / (2 * lr)))
        out.append(w.copy())
    return out


def ref_adafactor(w, grads, lr, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0):
    """Shazeer & Stern's factored second moment for a matrix: row sums R and column sums
    C of the squared gradients, V = R C^T / sum(R) (the same as Keras's means)."""
    w = w.copy()
    rows, cols = np.zeros(w.shape[0]), np.zeros(w.shape[1])
    out = []
    for t, g in enumerate(grads, start=1):
        beta = 1 - t ** decay
        sq = g * g + eps1
        rows = beta * rows + (1 - beta) * sq.sum(axis=1) / w.shape[1]
        cols = beta * cols + (1 - beta) * sq.sum(axis=0) / w.shape[0]
        v = np.outer(rows, cols) / rows.mean()
        u = g / np.sqrt(v)
        u = u / max(1.0, np.sqrt((u * u).mean()) / clip)
        step = min(lr, 1 / math.sqrt(t))
        w = w - max(eps2, np.sqrt((w * w).mean())) * step * u
        out.append(w.copy())
    return out


def ref_adafactor_vector(w, grads, lr, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0):
    """A vector keeps the full second moment."""
    w, v, out = w.copy(), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        beta = 1 - t ** decay
        v = beta * v + (1 - beta) * (g * g + eps1)
        u = g / np.sqrt(v)
        u = u / max(1.0, np.sqrt((u * u).mean()) / clip)
        w = w - max(eps2, np.sqrt((w * w).mean())) * min(lr, 1 / math.sqrt(t)) * u
        out.append(w.copy())
    return out


def trajectory(opt, grads, w=W0):
    w = w.copy()
    out = []
    for g in grads:
        opt.apply_gradients([w], [g])
        out.append(w.copy())
    return out


CASES = [
    ("AdamW defaults", lambda: O.AdamW(0.05), lambda: ref_adam(W0, gradients(), 0.05, wd=0.004)),
    ("AdamW wd 0.3", lambda: O.AdamW(0.05, weight_decay=0.3, beta_1=0.8, beta_2=0.95, epsilon=1e-4),
     lambda: ref_adam(W0, gradients(), 0.05, 0.8, 0.95, 1e-4, wd=0.3)),
    ("AdamW amsgrad", lambda: O.AdamW(0.05, weight_decay=0.1, amsgrad=True),
     lambda: ref_adam(W0, gradients(), 0.05, amsgrad=True, wd=0.1)),
    ("Adam amsgrad", lambda: O.Adam(0.05, amsgrad=True),
     lambda: ref_adam(W0, gradients(), 0.05, amsgrad=True)),
    ("Adam weight_decay", lambda: O.Adam(0.05, weight_decay=0.2),
     lambda: ref_adam(W0, gradients(), 0.05, wd=0.2)),
    ("Lion", lambda: O.Lion(0.01), lambda: ref_lion(W0, gradients(), 0.01)),
    ("Lion wd", lambda: O.Lion(0.01, beta_1=0.5, beta_2=0.9, weight_decay=0.5),
     lambda: ref_lion(W0, gradients(), 0.01, 0.5, 0.9, wd=0.5)),
    ("SGD momentum wd", lambda: O.SGD(0.1, momentum=0.9, weight_decay=0.05),
     lambda: ref_sgd(W0, gradients(), 0.1, 0.9, wd=0.05)),
    ("SGD clipnorm wd", lambda: O.SGD(0.1, weight_decay=0.05, clipnorm=0.5),
     lambda: ref_sgd(W0, gradients(), 0.1, wd=0.05, clipnorm=0.5)),
    ("RMSprop wd", lambda: O.RMSprop(0.01, weight_decay=0.1),
     lambda: ref_rmsprop(W0, gradients(), 0.01, wd=0.1)),
    ("Ftrl", lambda: O.Ftrl(0.5), lambda: ref_ftrl(W0, gradients(), 0.5)),
    ("Adafactor", lambda: O.Adafactor(0.3), lambda: ref_adafactor(W0, gradients(), 0.3)),
    ("Adafactor args", lambda: O.Adafactor(0.05, -0.5, 1e-20, 1e-2, 0.5),
     lambda: ref_adafactor(W0, gradients(), 0.05, -0.5, 1e-20, 1e-2, 0.5)),
    ("Ftrl l1 l2", lambda: O.Ftrl(0.5, -0.7, 0.2, 0.3, 0.1, 0.05, 0.2),
     lambda: ref_ftrl(W0, gradients(), 0.5, -0.7, 0.2, 0.3, 0.1, 0.05, 0.2)),
]


@pytest.mark.parametrize("make,reference", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_updates_follow_keras_formulas_over_several_steps(make, reference):
    ours = trajectory(make(), gradients())
    for step, (a, b) in enumerate(zip(ours, reference())):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


def test_weight_decay_uses_the_scheduled_rate_of_the_step():
    schedule = S.CosineDecay(0.1, decay_steps=4, warmup_target=0.2, warmup_steps=2)
    ours = trajectory(O.AdamW(schedule, weight_decay=0.5), gradients())
    reference = ref_adam(W0, gradients(), None, wd=0.5, lr_at=schedule)
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_weight_decay_alone_shrinks_the_weights_geometrically():
    w = np.array([2.0, -4.0])
    opt = O.SGD(0.5, weight_decay=0.1)
    for _ in range(3):
        opt.apply_gradients([w], [np.zeros(2)])
    np.testing.assert_allclose(w, np.array([2.0, -4.0]) * 0.95 ** 3, rtol=1e-14)


def test_adafactor_on_a_vector_keeps_the_full_moment_and_factors_a_matrix():
    w = W0[:, 0].copy()
    ours = trajectory(O.Adafactor(0.3), gradients(shape=(3,)), w)
    for a, b in zip(ours, ref_adafactor_vector(w, gradients(shape=(3,)), 0.3)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    opt = O.Adafactor()
    opt.apply_gradients([np.ones((4, 5)), np.ones(3)], [np.ones((4, 5)), np.ones(3)])
    shapes = {k: v.shape for k, v in opt.variables().items()}
    assert shapes == {"iterations": (), "r/0": (4,), "c/0": (5,), "velocity/0": (4, 5),
                      "r/1": (), "c/1": (), "velocity/1": (3,)}
    fresh = O.Adafactor()
    fresh.set_variables(opt.variables())   # restored before any step: shapes from velocity
    assert fresh.variables()["c/0"].shape == (5,)


def test_ftrl_l1_strength_makes_weights_exactly_zero():
    w = W0.copy()
    opt = O.Ftrl(0.5, l1_regularization_strength=100.0)
    for g in gradients():
        opt.apply_gradients([w], [g])
    assert np.all(w == 0.0)


def test_keras_calling_conventions_apply_gradients_with_pairs_and_apply():
    grads = gradients(steps=3)
    w1, w2, w3 = W0.copy(), W0.copy(), W0.copy()
    a, b, c = O.AdamW(0.1), O.AdamW(0.1), O.AdamW(0.1)
    for g in grads:
        a.apply_gradients([w1], [g])
        b.apply_gradients(zip([g], [w2]))
        c.apply([g], [w3])
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(w1, w3)
    with pytest.raises(TypeError, match=r"or one iterable of \(gradient, parameter\) pairs"):
        O.SGD().apply_gradients([w1])


def test_keras_defaults():
    adamw = O.AdamW()
    assert (adamw.learning_rate, adamw.weight_decay, adamw.beta_1, adamw.beta_2, adamw.epsilon,
            adamw.amsgrad) == (0.001, 0.004, 0.9, 0.999, 1e-7, False)
    lion = O.Lion()
    assert (lion.learning_rate, lion.beta_1, lion.beta_2, lion.weight_decay) == (0.001, 0.9, 0.99, None)
    assert O.Adam().weight_decay is None and O.SGD().get_config()["weight_decay"] is None
    assert type(O.get("adamw")) is O.AdamW and type(O.get("Lion")) is O.Lion
    ftrl = O.Ftrl()
    assert (ftrl.learning_rate, ftrl.learning_rate_power, ftrl.initial_accumulator_value,
            ftrl.l1_regularization_strength, ftrl.beta) == (0.001, -0.5, 0.1, 0.0, 0.0)


# ---------------------------------------------------------------- configs

@pytest.mark.parametrize("opt", [O.AdamW(0.01, weight_decay=0.2, amsgrad=True, clipnorm=1.0),
                                 O.Lion(S.CosineDecayRestarts(0.1, 5), beta_1=0.7),
                                 O.SGD(S.PolynomialDecay(0.1, 10, power=2.0), weight_decay=0.01),
                                 O.Adam(S.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=3))],
                         ids=lambda o: type(o).__name__)
def test_configs_round_trip_through_json(opt):
    config = json.loads(json.dumps(O.serialize(opt)))
    back = O.get(config)
    assert type(back) is type(opt) and back.get_config() == opt.get_config()
    assert trajectory(back, gradients())[-1] == pytest.approx(trajectory(opt, gradients())[-1])


def test_keras_base_arguments_are_taken_at_their_defaults_and_refused_otherwise():
    opt = O.Adam(use_ema=False, ema_momentum=0.99, loss_scale_factor=None,
                 gradient_accumulation_steps=None, ema_overwrite_frequency=None)
    assert type(opt) is O.Adam
    with pytest.raises(NotImplementedError, match="use_ema=True is not supported"):
        O.AdamW(use_ema=True)
    with pytest.raises(NotImplementedError, match="gradient_accumulation_steps=4"):
        O.SGD(gradient_accumulation_steps=4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta_3'"):
        O.Lion(beta_3=0.5)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="learning_rate must be a finite float in"):
        O.AdamW(-0.1)
    with pytest.raises(ValueError, match="weight_decay must be a finite float in"):
        O.SGD(weight_decay=-1.0)
    with pytest.raises(ValueError, match="AdamW: weight_decay must be a float >= 0.*got None"):
        O.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match=r"Lion: beta_1 must be a finite float in \(0, 1\]"):
        O.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match=r"unknown optimizer 'lamb'; valid names: .*'adamw'.*'ftrl'.*'lion'"):
        O.get("lamb")
    with pytest.raises(ValueError, match=r"Ftrl: learning_rate_power must be a finite float in \[-inf, 0\]"):
        O.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="Ftrl: learning_rate must be > 0"):
        O.Ftrl(0.0)
    with pytest.raises(ValueError, match="l1_regularization_strength must be a finite float"):
        O.Ftrl(l1_regularization_strength=-1.0)


def test_new_optimizers_and_weight_decay_are_refused_by_name_on_opencl():
    with pytest.raises(NotImplementedError, match="Lion has no OpenCL kernel.*device='cpu'"):
        O.Lion().require_device_support()
    with pytest.raises(NotImplementedError, match="Ftrl has no OpenCL kernel"):
        O.Ftrl().require_device_support()
    with pytest.raises(NotImplementedError, match="Adafactor has no OpenCL kernel"):
        O.Adafactor().require_device_support()
    with pytest.raises(NotImplementedError, match="AdamW: weight_decay run on the host only"):
        O.AdamW().require_device_support()
    with pytest.raises(NotImplementedError, match="SGD: weight_decay run on the host only"):
        O.SGD(weight_decay=0.1).require_device_support()
    O.AdamW(weight_decay=0.0).require_device_support()   # no decay: Adam's kernel


@needs_opencl
def test_compile_on_opencl_names_lion():
    model = keras.Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="Lion has no OpenCL kernel"):
        model.compile(optimizer="lion", loss="mse", device="opencl")
    with pytest.raises(ValueError, match="weight_decay run on the host only"):
        model.compile(optimizer="adamw", loss="mse", device="opencl")


# ---------------------------------------------------------------- in training

def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    return x, (x @ rng.normal(size=(5, 2))).astype(np.float32)


def make_optimizer(name):
    return {"AdamW": lambda: O.AdamW(S.CosineDecay(0.01, 20, warmup_target=0.05, warmup_steps=4),
                                     weight_decay=0.1),
            "Lion": lambda: O.Lion(0.003, weight_decay=0.5),
            "Adam amsgrad": lambda: O.Adam(0.02, amsgrad=True, weight_decay=0.01),
            "SGD": lambda: O.SGD(S.PolynomialDecay(0.05, 16, power=2.0), momentum=0.9,
                                 weight_decay=0.01, clipnorm=1.0),
            "RMSprop": lambda: O.RMSprop(S.CosineDecayRestarts(0.01, 4), weight_decay=0.05),
            "Ftrl": lambda: O.Ftrl(0.2, l1_regularization_strength=0.001, beta=0.1),
            "Adafactor": lambda: O.Adafactor(0.05, weight_decay=0.01)}[name]()


NAMES = ["AdamW", "Lion", "Adam amsgrad", "SGD", "RMSprop", "Ftrl", "Adafactor"]


def trained(name, jit_compile, epochs=3):
    x, y = data()
    model = keras.Sequential([Dense(8, input_shape=(5,), activation="tanh"), Dense(2)], seed=0)
    model.compile(make_optimizer(name), "mse", jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, shuffle=False)
    return model, history.history["loss"]


@pytest.mark.parametrize("name", NAMES)
def test_compiled_and_eager_training_agree_and_lower_the_loss(name):
    compiled, loss_c = trained(name, True)
    eager, loss_e = trained(name, False)
    # the compiled model's steps were one staged program, replayed (schedules included)
    stats = compiled.trainer.compiled_step.program.stats
    assert (stats.traces, stats.eager_calls) == (1, 0) and stats.replays == 11
    assert eager.trainer.compiled_step is None
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loss_c, loss_e, rtol=1e-6)
    assert loss_c[-1] < loss_c[0]


@pytest.mark.parametrize("name", ["AdamW", "Lion", "SGD", "Ftrl", "Adafactor"])
def test_a_saved_model_resumes_with_its_optimizer_state(tmp_path, name):
    x, y = data()
    straight, _ = trained(name, True, epochs=4)
    first, _ = trained(name, True, epochs=2)
    first.save(tmp_path / "m.adkit")
    loaded = keras.models.load_model(tmp_path / "m.adkit")
    assert type(loaded.optimizer) is type(straight.optimizer)
    assert loaded.optimizer.get_config() == first.optimizer.get_config()
    assert loaded.optimizer.iterations == first.optimizer.iterations == 8
    loaded.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- schedules

def cosine(step, lr, decay_steps, alpha=0.0, target=None, warmup=0):
    if target is None:
        t = min(step, decay_steps)
        return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t / decay_steps)) + alpha)
    t = min(step, decay_steps + warmup)
    if t < warmup:
        return lr + (target - lr) * t / warmup
    t -= warmup
    return target * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t / decay_steps)) + alpha)


def sgdr(step, lr, first, t_mul, m_mul, alpha):
    """Periods first, first*t_mul, ... found by walking them (not Keras's closed form)."""
    start, length, i = 0.0, float(first), 0
    while step >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    frac = (step - start) / length
    return lr * ((1 - alpha) * m_mul ** i * 0.5 * (1 + math.cos(math.pi * frac)) + alpha)


def poly(step, lr, decay_steps, end, power, cycle):
    if cycle:
        decay_steps = decay_steps * max(1, math.ceil(step / decay_steps))
    step = min(step, decay_steps)
    return (lr - end) * (1 - step / decay_steps) ** power + end


STEPS_TO_CHECK = [0, 1, 3, 7, 10, 11, 25, 40, 99]


@pytest.mark.parametrize("kwargs", [dict(), dict(alpha=0.1), dict(target=0.5, warmup=5),
                                    dict(alpha=0.2, target=0.3, warmup=3)], ids=str)
def test_cosine_decay_against_its_formula(kwargs):
    s = S.CosineDecay(0.1, 20, alpha=kwargs.get("alpha", 0.0),
                      warmup_target=kwargs.get("target"), warmup_steps=kwargs.get("warmup", 0))
    for step in STEPS_TO_CHECK:
        assert s(step) == pytest.approx(cosine(step, 0.1, 20, **kwargs), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("t_mul,m_mul,alpha", [(2.0, 1.0, 0.0), (1.0, 0.5, 0.1), (1.5, 0.8, 0.05)])
def test_cosine_decay_restarts_against_walking_the_periods(t_mul, m_mul, alpha):
    s = S.CosineDecayRestarts(0.2, 4, t_mul=t_mul, m_mul=m_mul, alpha=alpha)
    for step in range(60):
        assert s(step) == pytest.approx(sgdr(step, 0.2, 4, t_mul, m_mul, alpha), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("power,cycle", [(1.0, False), (2.0, False), (0.5, True), (1.0, True)])
def test_polynomial_decay_against_its_formula(power, cycle):
    s = S.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=power, cycle=cycle)
    for step in STEPS_TO_CHECK:
        assert s(step) == pytest.approx(poly(step, 0.1, 10, 0.01, power, cycle), rel=1e-12)


def test_schedule_errors_and_configs():
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        S.CosineDecay(0.1, 0)
    with pytest.raises(ValueError, match="needs warmup_steps > 0"):
        S.CosineDecay(0.1, 10, warmup_target=1.0)
    with pytest.raises(ValueError, match="first_decay_steps must be > 0"):
        S.CosineDecayRestarts(0.1, -1)
    with pytest.raises(ValueError, match="initial_learning_rate must be a finite float >= 0"):
        S.PolynomialDecay(-0.1, 10)
    with pytest.raises(ValueError, match="bad config for CosineDecay"):
        S.get({"class_name": "CosineDecay", "config": {"decay_steps": 3}})
    for s in (S.CosineDecay(0.1, 10, 0.1, warmup_target=0.2, warmup_steps=2),
              S.CosineDecayRestarts(0.1, 5, 1.5, 0.9, 0.01), S.PolynomialDecay(0.1, 7, cycle=True)):
        back = S.get(json.loads(json.dumps(S.serialize(s))))
        assert back == s and [back(t) for t in range(12)] == [s(t) for t in range(12)]
    # keras.optimizers.schedules is the same module
    assert keras.optimizers.schedules.CosineDecay is S.CosineDecay


# ---------------------------------------------------------------- against Keras itself


KERAS_CASES = [
    ("AdamW", dict(learning_rate=0.05, weight_decay=0.3)),
    ("AdamW", dict(learning_rate=0.05, weight_decay=0.1, amsgrad=True, clipnorm=0.5)),
    ("Adam", dict(learning_rate=0.05, amsgrad=True, weight_decay=0.2)),
    ("Lion", dict(learning_rate=0.01, beta_1=0.8, weight_decay=0.5)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("RMSprop", dict(learning_rate=0.01, weight_decay=0.1, global_clipnorm=1.0)),
    ("Adagrad", dict(learning_rate=0.1, weight_decay=0.1)),
    ("Adafactor", dict(learning_rate=0.3, weight_decay=0.1, clip_threshold=0.5)),
    ("Ftrl", dict(learning_rate=0.5, l1_regularization_strength=0.01, l2_regularization_strength=0.1,
                  l2_shrinkage_regularization_strength=0.05, beta=0.2, learning_rate_power=-0.7)),
]


@pytest.mark.parametrize("name,kwargs", KERAS_CASES, ids=lambda v: str(v))
def test_trajectories_match_keras_on_the_same_gradients(real_keras, name, kwargs):
    grads = [g.astype(np.float32) for g in gradients(steps=8)]
    w = W0.astype(np.float32)
    ours = trajectory(getattr(O, name)(**kwargs), grads, w)
    theirs_opt = getattr(real_keras.optimizers, name)(**kwargs)
    v = real_keras.Variable(w)
    theirs = []
    for g in grads:
        theirs_opt.apply_gradients([(g, v)])
        theirs.append(np.asarray(v.value))
    # float32 both sides, each rounding its own way (Keras writes m += (g - m) * (1 - b1)):
    # Adam's m / sqrt(v) magnifies that where m is near 0 (seen: 1.7e-6 after 8 steps)
    atol = 4e-6 if name.startswith("Adam") else 1e-6
    for step, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=atol, err_msg=f"step {step}")


@pytest.mark.parametrize("name", ["AdamW", "Lion", "Adam", "SGD"])
def test_keras_optimizer_configs_are_read(real_keras, name):
    theirs = getattr(real_keras.optimizers, name)(learning_rate=0.25, weight_decay=0.125)
    ours = O.get(real_keras.optimizers.serialize(theirs))
    assert type(ours) is getattr(O, name)
    assert ours.learning_rate == 0.25 and ours.weight_decay == 0.125


@pytest.mark.parametrize("make", [
    lambda k: k.CosineDecay(0.1, 20),
    lambda k: k.CosineDecay(0.1, 20, alpha=0.1, warmup_target=0.5, warmup_steps=5),
    lambda k: k.CosineDecayRestarts(0.2, 4),
    lambda k: k.CosineDecayRestarts(0.2, 4, t_mul=1.5, m_mul=0.8, alpha=0.05),
    lambda k: k.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0),
    lambda k: k.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=0.5, cycle=True),
], ids=["cosine", "cosine warmup", "sgdr", "sgdr t_mul", "poly", "poly cycle"])
def test_schedules_match_keras(real_keras, make):
    theirs = make(real_keras.optimizers.schedules)
    ours = make(S)
    for step in range(0, 60, 3):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6, abs=1e-7)
    back = S.get(real_keras.optimizers.schedules.serialize(theirs))
    assert back == ours


@pytest.mark.parametrize("make", [
    lambda k: k.ExponentialDecay(0.1, 10, 0.5, staircase=True, name="exp"),
    lambda k: k.InverseTimeDecay(0.1, 10, 0.5),
    lambda k: k.PiecewiseConstantDecay([5, 20], [0.1, 0.05, 0.01]),
], ids=["exponential", "inverse time", "piecewise"])
def test_keras_configs_of_the_older_schedules_are_read(real_keras, make):
    theirs = make(real_keras.optimizers.schedules)
    ours = S.get(real_keras.optimizers.schedules.serialize(theirs))
    assert ours == make(S)
    for step in range(0, 40, 3):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6)


def test_schedules_take_keras_name_argument():
    assert S.ExponentialDecay(0.1, 10, 0.5, name="decay").get_config()["name"] == "decay"
    assert S.PiecewiseConstantDecay([1], [1.0, 0.5]).name == "PiecewiseConstant"


# ---------------------------------------------------------------- exclude_from_weight_decay

@pytest.mark.parametrize("jit", [True, False])
def test_excluded_weights_get_no_decay_by_name_and_by_array(jit):
    # zero inputs and a hidden layer without bias: both kernels get zero gradients, so
    # they change by the decay alone; the output bias learns (its gradient is not 0)
    x, y = np.zeros((8, 5), np.float32), np.full((8, 2), 3.0, np.float32)

    def run(decay, exclude):
        model = keras.Sequential([Dense(3, input_shape=(5,), name="hidden", use_bias=False),
                                  Dense(2, name="out", bias_initializer="ones")], seed=0)
        opt = O.AdamW(0.1, weight_decay=decay)
        if exclude:
            opt.exclude_from_weight_decay(var_names=["bias"],
                                          var_list=[model.params["out"]["kernel"]])
        model.compile(opt, "mse", jit_compile=jit)
        before = {k: v.copy() for k, v in model.weight_slots()}
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return before, {k: v.copy() for k, v in model.weight_slots()}

    before, after = run(0.5, exclude=True)
    np.testing.assert_allclose(after["params/hidden/kernel"],
                               before["params/hidden/kernel"] * 0.95 ** 2, rtol=1e-6)
    np.testing.assert_array_equal(after["params/out/kernel"], before["params/out/kernel"])
    _, undecayed = run(0.0, exclude=False)
    np.testing.assert_allclose(after["params/out/bias"], undecayed["params/out/bias"], rtol=1e-6)
    _, decayed = run(0.5, exclude=False)
    assert not np.allclose(decayed["params/out/bias"], undecayed["params/out/bias"], rtol=1e-6)


def test_exclude_from_weight_decay_errors():
    opt = O.AdamW()
    opt.apply_gradients([np.ones(2)], [np.ones(2)])
    with pytest.raises(ValueError, match="before the first step"):
        opt.exclude_from_weight_decay(var_names=["bias"])
    lone = O.AdamW()
    lone.exclude_from_weight_decay(var_names=["bias"])
    with pytest.raises(ValueError, match="compile a model with this optimizer first, or pass var_list"):
        lone.apply_gradients([np.ones(2)], [np.ones(2)])
