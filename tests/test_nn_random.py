"""adkit.nn.random, Keras 3's keras.random: the distributions (moments and ranges of
large samples), Keras's dtypes and arguments, seeds (an int repeats, a SeedGenerator
advances, None follows NumPy's global state), derivatives through the draws, and
draws inside a subclassed layer's call: new numbers every training step, the same in
a compiled step as in an eager one, without making the step run eagerly."""

import math
import warnings

import numpy as np
import pytest
from keras_referee import keras  # noqa: F401  (a fixture)

import adkit
import adkit.nn as ak
from adkit import numeric
from adkit.nn import layers, ops
from adkit.nn import random as krandom

N = 200_000


def test_normal_and_uniform_have_their_moments_and_keras_dtypes():
    z = krandom.normal((N,), mean=2.0, stddev=3.0, seed=1)
    assert z.dtype == np.float32 and z.shape == (N,)
    assert abs(z.mean() - 2.0) < 0.03 and abs(z.std() - 3.0) < 0.03
    u = krandom.uniform((400, 500), minval=-1.0, maxval=3.0, seed=2, dtype="float64")
    assert u.dtype == np.float64 and u.shape == (400, 500)
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.02
    assert abs(u.var() - 16 / 12) < 0.02


def test_truncated_normal_stays_within_two_standard_deviations():
    t = krandom.truncated_normal((N,), mean=1.0, stddev=0.5, seed=3)
    assert t.dtype == np.float32
    assert t.min() >= 0.0 and t.max() <= 2.0
    # the variance of a standard normal truncated to [-2, 2]
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    variance = 1 - 4 * phi2 / math.erf(math.sqrt(2.0))
    assert abs(t.std() - 0.5 * math.sqrt(variance)) < 0.005 and abs(t.mean() - 1.0) < 0.005


def test_randint_shuffle_categorical_and_the_other_distributions():
    r = krandom.randint((N,), 3, 7, seed=4)
    assert r.dtype == np.int32 and set(np.unique(r)) == {3, 4, 5, 6}
    assert krandom.randint((2,), 0, 5, dtype="int64", seed=4).dtype == np.int64
    x = np.arange(20.0).reshape(10, 2)
    s = krandom.shuffle(x, seed=5)
    assert sorted(map(tuple, s)) == sorted(map(tuple, x)) and not np.array_equal(s, x)
    s1 = krandom.shuffle(x, axis=1, seed=5)
    assert all(sorted(row) == sorted(orig) for row, orig in zip(s1, x))
    logits = np.log(np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]]))
    c = krandom.categorical(logits, 50_000, seed=6)
    assert c.shape == (2, 50_000) and c.dtype == np.int32
    np.testing.assert_allclose([np.mean(c[0] == k) for k in range(3)], [0.2, 0.5, 0.3], atol=0.01)
    np.testing.assert_allclose(np.mean(c[1] == 0), 0.9, atol=0.01)
    assert abs(krandom.gamma((N,), 3.0, seed=7).mean() - 3.0) < 0.03
    assert abs(krandom.beta((N,), 2.0, 6.0, seed=8).mean() - 0.25) < 0.01
    b = krandom.binomial((N,), 10, 0.3, seed=9)
    assert b.dtype == np.float32 and abs(b.mean() - 3.0) < 0.03


def test_dropout_zeroes_at_the_rate_and_scales_the_rest():
    x = np.full((400, 500), 2.0, np.float32)
    y = krandom.dropout(x, 0.3, seed=10)
    assert y.dtype == np.float32
    assert abs(np.mean(y == 0) - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], 2.0 / 0.7, rtol=1e-6)
    shared = krandom.dropout(x, 0.5, noise_shape=(None, 1), seed=11)
    assert all(len(set(row)) == 1 for row in shared)   # one draw per row
    assert krandom.dropout(x, 0.0) is x and not np.any(krandom.dropout(x, 1.0))


def test_an_int_seed_repeats_a_seed_generator_advances_none_follows_numpy():
    assert np.array_equal(krandom.normal((5,), seed=3), krandom.normal((5,), seed=3))
    assert not np.array_equal(krandom.normal((5,), seed=3), krandom.normal((5,), seed=4))
    g, h = krandom.SeedGenerator(42), krandom.SeedGenerator(42)
    first, second = krandom.uniform((4,), seed=g), krandom.uniform((4,), seed=g)
    assert not np.array_equal(first, second)
    assert np.array_equal(first, krandom.uniform((4,), seed=h))
    assert np.array_equal(second, krandom.uniform((4,), seed=h))
    assert krandom.SeedGenerator.from_config(g.get_config()).seed == 42
    state = np.random.get_state()
    try:
        np.random.seed(5)
        a = krandom.normal((3,))
        b = krandom.normal((3,))
        np.random.seed(5)
        assert np.array_equal(krandom.normal((3,)), a) and not np.array_equal(a, b)
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("call, error, match", [
    (lambda: krandom.normal((2,), seed="abc"), TypeError, "seed must be None, an int or"),
    (lambda: krandom.normal((2, -1)), ValueError, "negative length"),
    (lambda: krandom.normal("ab"), TypeError, "shape must be a tuple of ints"),
    (lambda: krandom.normal((2,), dtype="int32"), ValueError, "must be a float dtype"),
    (lambda: krandom.randint((2,), 5, 5), ValueError, "maxval .5. must exceed minval"),
    (lambda: krandom.randint((2,), 0, 5, dtype="float32"), ValueError, "integer dtype"),
    (lambda: krandom.dropout(np.ones(3), 1.5), ValueError, r"rate must be in \[0, 1\]"),
    (lambda: krandom.dropout(np.ones((2, 3)), 0.5, noise_shape=(1,)), ValueError,
     "one entry per axis"),
    (lambda: krandom.categorical(np.ones(3), 2), ValueError, "2-D"),
    (lambda: krandom.SeedGenerator(1.5), TypeError, "seed must be an int or None"),
])
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_shapes_and_dtypes_as_keras(keras):
    for name, args, kwargs in [("normal", ((2, 3),), {}), ("uniform", ((4,),), {"minval": -2.0}),
                               ("truncated_normal", ((3,),), {}), ("randint", ((5,), 0, 3), {}),
                               ("categorical", (np.zeros((2, 3), np.float32), 4), {}),
                               ("dropout", (np.ones((2, 3), np.float32), 0.5), {}),
                               ("shuffle", (np.arange(6.0, dtype=np.float32),), {}),
                               ("gamma", ((3,), 2.0), {}), ("beta", ((3,), 2.0, 3.0), {}),
                               ("binomial", ((3,), 5, 0.5), {})]:
        ours = getattr(krandom, name)(*args, seed=1, **kwargs)
        theirs = getattr(keras.random, name)(*args, seed=1, **kwargs)
        assert ours.shape == tuple(theirs.shape), name
        assert ours.dtype == np.dtype(str(theirs.dtype)), name


# --- derivatives through the draws -------------------------------------------------------------


def test_derivatives_flow_through_reparameterised_draws_and_dropout():
    x = np.random.default_rng(0).normal(size=(4, 5))

    def sample_loss(params):   # a fixed seed: the same noise at every evaluation
        mean, log_std = params[:5], params[5:]
        z = mean + np.exp(log_std) * krandom.normal((4, 5), seed=3, dtype="float64")
        return np.sum(np.tanh(z) * x)

    def dropped(v):
        return np.sum(krandom.dropout(v, 0.4, seed=2) ** 2)
    p = np.random.default_rng(1).normal(size=10)
    np.testing.assert_allclose(adkit.grad(sample_loss)(p), numeric.gradient(sample_loss, p),
                               rtol=1e-6)
    np.testing.assert_allclose(adkit.grad(dropped)(x), numeric.gradient(dropped, x), rtol=1e-6)
    mask = krandom.dropout(np.ones((4, 5)), 0.4, seed=2)
    np.testing.assert_allclose(adkit.grad(dropped)(x), 2 * x * mask ** 2, rtol=1e-12)


def test_a_compiled_function_drawing_from_the_global_generator_runs_eagerly():
    f = adkit.compile(lambda x: x + krandom.normal((3,), dtype="float64"))
    with pytest.warns(adkit.CompileWarning, match="global random generator"):
        a = f(np.zeros(3))
    assert not np.array_equal(a, f(np.zeros(3)))


def test_a_compiled_function_drawing_from_a_seed_generator_runs_eagerly():
    class Holder:   # a SeedGenerator kept in a user object, as a layer keeps it
        pass
    holder = Holder()
    holder.seed_generator = krandom.SeedGenerator(3)
    f = adkit.compile(lambda x: x + krandom.normal((3,), seed=holder.seed_generator,
                                                   dtype="float64"))
    with pytest.warns(adkit.CompileWarning, match="random generator holder.seed_generator"):
        a = f(np.zeros(3))
    b = f(np.zeros(3))
    again = krandom.SeedGenerator(3)
    np.testing.assert_array_equal(a, krandom.normal((3,), seed=again, dtype="float64"))
    np.testing.assert_array_equal(b, krandom.normal((3,), seed=again, dtype="float64"))


def test_a_seed_generator_copies_and_pickles_with_its_place_in_the_sequence():
    import copy
    import pickle
    g = krandom.SeedGenerator(9, name="noise")
    krandom.uniform((2,), seed=g)
    for twin in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert isinstance(twin, krandom.SeedGenerator) and twin.seed == 9 and twin.name == "noise"
        np.testing.assert_array_equal(krandom.uniform((3,), seed=twin),
                                      krandom.uniform((3,), seed=copy.deepcopy(g)))


# --- inside a subclassed layer's call -----------------------------------------------------------


class NoisyScale(layers.Layer):
    """inputs * w plus noise drawn with keras.random, in training only."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = krandom.SeedGenerator(1337) if seed == "generator" else seed

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, inputs, training=None):
        out = inputs * self.w
        if training:
            out = out + krandom.normal(ops.shape(out), stddev=0.5, seed=self.seed)
            out = krandom.dropout(out, 0.25, seed=self.seed)
        return out


class Sampling(layers.Layer):
    """The keras.io VAE's sampling layer: z_mean + exp(z_log_var / 2) * eps, always."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = krandom.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs[:, :2], inputs[:, 2:]
        batch, dim = ops.shape(z_mean)
        epsilon = krandom.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


X = np.random.default_rng(3).normal(size=(16, 4)).astype(np.float32)
Y = np.zeros((16, 4), np.float32)


def _losses_of_steps(seed, jit, steps=4):
    """Training losses of `steps` steps on one batch with learning rate 0: they differ
    from step to step only by the layer's noise."""
    model = ak.Sequential([NoisyScale(seed, input_shape=(4,))], seed=11)
    model.compile(optimizer=ak.optimizers.SGD(0.0), loss="mse", jit_compile=jit)
    with warnings.catch_warnings():
        warnings.simplefilter("error", adkit.CompileWarning)   # the step stays compiled
        return model.fit(X, Y, batch_size=16, epochs=steps, verbose=0,
                         shuffle=False).history["loss"]


@pytest.mark.parametrize("seed", [None, "generator"])
def test_every_training_step_draws_new_noise_compiled_as_eager(seed):
    compiled, eager = _losses_of_steps(seed, True), _losses_of_steps(seed, False)
    assert len(set(compiled)) == len(compiled), compiled   # new noise at every step
    np.testing.assert_allclose(compiled, eager, rtol=1e-6)
    np.testing.assert_allclose(_losses_of_steps(seed, True), compiled, rtol=1e-6)  # model seed


def test_an_int_seed_draws_the_same_noise_at_every_step():
    losses = _losses_of_steps(5, True)
    np.testing.assert_allclose(losses, losses[0], rtol=1e-6)


def test_a_sampling_layer_trains_and_draws_at_inference_from_its_seed_generator():
    inputs = np.random.default_rng(4).normal(size=(64, 4)).astype(np.float32)
    target = np.ones((64, 2), np.float32)
    model = ak.Sequential([layers.Dense(4, input_shape=(4,)), Sampling()], seed=2)
    model.compile(optimizer=ak.optimizers.Adam(0.05), loss="mse")
    history = model.fit(inputs, target, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    first, second = model.predict(inputs[:4]), model.predict(inputs[:4])
    assert first.shape == (4, 2) and not np.array_equal(first, second)


def test_set_random_seed_makes_unseeded_seed_generators_and_draws_repeat():
    from adkit.nn.seeding import set_global_seed
    runs, state = [], np.random.get_state()
    try:
        for _ in range(2):
            ak.utils.set_random_seed(21)
            g = krandom.SeedGenerator()
            runs.append((g.seed, krandom.normal((3,), seed=g), krandom.normal((3,))))
    finally:
        set_global_seed(None)
        np.random.set_state(state)
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


class ShuffledSteps(layers.Layer):
    """Shuffles the batch's rows in training: the loss of a row-dependent weighting
    changes with the order."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, inputs, training=None):
        out = inputs * self.w
        return krandom.shuffle(out) if training else out


def test_shuffle_inside_a_compiled_step_gives_a_new_order_every_step():
    x = np.random.default_rng(8).normal(size=(16, 4)).astype(np.float32)
    losses = []
    for jit in (True, False):
        model = ak.Sequential([ShuffledSteps(input_shape=(4,))], seed=3)
        model.compile(optimizer=ak.optimizers.SGD(0.0), loss="mse", jit_compile=jit)
        with warnings.catch_warnings():
            warnings.simplefilter("error", adkit.CompileWarning)
            losses.append(model.fit(x, x, batch_size=16, epochs=4, verbose=0,
                                    shuffle=False).history["loss"])
    assert len(set(losses[0])) == 4
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
