"""Keras 3's initializer classes in adkit.nn.initializers: statistics of large draws
against the formulas (tolerances from the sampling error), orthogonality, seeds,
names and configs, layers taking them, and saved models that rebuild them."""

import math

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn import initializers as I
from adkit.nn.layers import Conv2D, Dense, deserialize

from keras_referee import real_keras  # noqa: F401  (a fixture)

N = 400 * 300  # entries in the big Dense-shaped draw
TRUNC = 0.87962566103423978  # std of a standard normal cut at +-2 (an independent constant)


def _std_of_cut_normal():
    """The std of N(0, 1) cut at +-2, from the normal density (independent of the code)."""
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    return math.sqrt(1 - 2 * 2 * phi2 / mass)


def test_the_truncation_constant_is_the_std_of_a_normal_cut_at_two():
    assert _std_of_cut_normal() == pytest.approx(TRUNC, rel=1e-12)


def _check_moments(w, mean, std):
    """Mean within 5 standard errors; std within 5 standard errors of a variance."""
    n = w.size
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(n) + 1e-12
    # the sample variance's relative standard error is about sqrt(2 / n) (a bit more for
    # heavy tails, less for the uniform): 5 of those
    assert w.std() == pytest.approx(std, rel=5 * math.sqrt(2 / n))


# (initializer, std as a function of fan_in, fan_out, bound or None)
VARIANCE_SCALING = [
    (I.GlorotUniform, lambda i, o: math.sqrt(2 / (i + o)), lambda i, o: math.sqrt(6 / (i + o))),
    (I.GlorotNormal, lambda i, o: math.sqrt(2 / (i + o)), lambda i, o: 2 * math.sqrt(2 / (i + o)) / TRUNC),
    (I.HeUniform, lambda i, o: math.sqrt(2 / i), lambda i, o: math.sqrt(6 / i)),
    (I.HeNormal, lambda i, o: math.sqrt(2 / i), lambda i, o: 2 * math.sqrt(2 / i) / TRUNC),
    (I.LecunUniform, lambda i, o: math.sqrt(1 / i), lambda i, o: math.sqrt(3 / i)),
    (I.LecunNormal, lambda i, o: math.sqrt(1 / i), lambda i, o: 2 * math.sqrt(1 / i) / TRUNC),
]


@pytest.mark.parametrize("cls,std,bound", VARIANCE_SCALING, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape,fan_in,fan_out", [((400, 300), 400, 300),
                                                  ((3, 3, 40, 50), 360, 450)])
def test_variance_scaling_presets_have_keras_moments_and_bounds(cls, std, bound, shape, fan_in,
                                                                fan_out):
    w = cls(seed=3)(shape, dtype="float64")
    assert w.shape == shape and w.dtype == np.float64
    _check_moments(w, 0.0, std(fan_in, fan_out))
    assert np.abs(w).max() <= bound(fan_in, fan_out) + 1e-12
    # the bound is reached (not a narrower distribution): within 1% of it
    assert np.abs(w).max() > 0.99 * bound(fan_in, fan_out)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform",
                                          "normal"])
def test_variance_scaling_follows_scale_mode_and_distribution(mode, distribution):
    shape, scale = (300, 200), 3.0
    n = {"fan_in": 300, "fan_out": 200, "fan_avg": 250}[mode]
    init = I.VarianceScaling(scale=scale, mode=mode, distribution=distribution, seed=1)
    w = init(shape)
    _check_moments(w.astype(np.float64), 0.0, math.sqrt(scale / n))
    if distribution == "uniform":
        assert np.abs(w).max() <= math.sqrt(3 * scale / n) * (1 + 1e-6)
    elif distribution in ("truncated_normal", "normal"):
        assert init.distribution == "truncated_normal"
        assert np.abs(w).max() <= 2 * math.sqrt(scale / n) / TRUNC * (1 + 1e-6)
    else:
        assert np.abs(w).max() > 3 * math.sqrt(scale / n)  # not cut: 4-sigma values exist


def test_random_normal_uniform_and_truncated_normal_follow_their_arguments():
    shape = (400, 300)
    _check_moments(I.RandomNormal(mean=1.5, stddev=0.3, seed=0)(shape, "float64"), 1.5, 0.3)
    u = I.RandomUniform(minval=-1.0, maxval=3.0, seed=0)(shape, "float64")
    _check_moments(u, 1.0, 4 / math.sqrt(12))
    assert u.min() >= -1.0 and u.max() < 3.0
    t = I.TruncatedNormal(mean=-2.0, stddev=0.5, seed=0)(shape, "float64")
    # Keras's stddev is the normal's before the cut at two of them
    _check_moments(t, -2.0, 0.5 * TRUNC)
    assert np.abs(t + 2.0).max() <= 1.0


def test_keras_defaults():
    assert I.RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert I.TruncatedNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.VarianceScaling().get_config() == {"seed": None, "scale": 1.0, "mode": "fan_in",
                                                "distribution": "truncated_normal",
                                                "input_axes": None, "output_axes": None}
    assert I.Orthogonal().gain == 1.0 and I.Identity().gain == 1.0 and I.Constant().value == 0.0


def test_variance_scaling_input_and_output_axes_set_the_fans():
    # a (4, 5, 6) weight whose inputs are axes 0 and 1 (20) and outputs axis 2 (6)
    w = I.VarianceScaling(1.0, "fan_in", "uniform", 0, input_axes=[0, 1], output_axes=[2])
    assert np.abs(w((4, 5, 6))).max() <= math.sqrt(3 / 20) * (1 + 1e-6)
    w = I.VarianceScaling(1.0, "fan_out", "uniform", 0, input_axes=[0, 1], output_axes=[2])
    assert np.abs(w((4, 5, 6))).max() > math.sqrt(3 / 20)


@pytest.mark.parametrize("shape", [(64, 256), (256, 64), (3, 3, 8, 16)])
def test_orthogonal_is_gain_times_a_semi_orthogonal_matrix(shape):
    q = I.Orthogonal(gain=2.5, seed=0)(shape, "float64").reshape(-1, shape[-1])
    small = min(q.shape)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, 2.5 ** 2 * np.eye(small), atol=1e-10)


def test_identity_zeros_ones_constant():
    np.testing.assert_array_equal(I.Identity(gain=3.0)((2, 3)), [[3, 0, 0], [0, 3, 0]])
    np.testing.assert_array_equal(I.Zeros()((2,)), [0, 0])
    np.testing.assert_array_equal(I.Ones()((2,)), [1, 1])
    np.testing.assert_array_equal(I.Constant(value=-0.5)((2, 2)), np.full((2, 2), -0.5))
    assert I.Ones()((2,)).dtype == np.float32 and I.Ones()((2,), dtype="float64").dtype == np.float64


def test_a_seeded_initializer_repeats_and_an_unseeded_one_follows_the_layer_rng():
    a, b = I.GlorotUniform(seed=7), I.GlorotUniform(seed=7)
    np.testing.assert_array_equal(a((5, 4)), a((5, 4)))
    np.testing.assert_array_equal(a((5, 4)), b((5, 4)))
    assert not np.array_equal(a((5, 4)), I.GlorotUniform(seed=8)((5, 4)))
    # seeded: the layer's generator is not used; unseeded: it is, and equals the function
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(a(rng, (5, 4), np.float32), a((5, 4)))
    unseeded = I.HeNormal()(np.random.default_rng(1), (5, 4), np.float32)
    np.testing.assert_array_equal(unseeded, I.he_normal(np.random.default_rng(1), (5, 4), np.float32))


def test_seeded_initializers_make_the_same_model_weights_whatever_the_model_seed():
    def build(seed):
        return keras.Sequential([Dense(3, input_shape=(4,),
                                       kernel_initializer=I.GlorotNormal(seed=5))], seed=seed)
    np.testing.assert_array_equal(build(0).get_weights()[0], build(1).get_weights()[0])


@pytest.mark.parametrize("name,cls", [("truncated_normal", I.TruncatedNormal),
                                      ("variance_scaling", I.VarianceScaling),
                                      ("constant", I.Constant), ("identity", I.Identity),
                                      ("HeNormal", I.HeNormal), ("glorot_uniform", None),
                                      ("Orthogonal", I.Orthogonal), ("normal", I.RandomNormal),
                                      ("uniform", I.RandomUniform), ("lecun_uniform", None)])
def test_names_keras_accepts(name, cls):
    init = I.get(name)
    if cls is None:
        assert init is getattr(I, name)   # the existing functions stay
    else:
        assert type(init) is cls
    layer = Dense(3, kernel_initializer=name)
    model = keras.Sequential([layer], seed=0)
    model.build((None, 3))
    assert layer.get_weights()[0].shape == (3, 3)


def test_unknown_names_and_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'.*GlorotUniform.*he_normal"):
        I.get("glorot")
    with pytest.raises(ValueError, match="mode must be one of.*fan_avg.*got 'fan'"):
        I.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="distribution must be one of.*got 'gauss'"):
        I.VarianceScaling(distribution="gauss")
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        I.VarianceScaling(scale=-1.0)
    with pytest.raises(ValueError, match="stddev must be >= 0"):
        I.RandomNormal(stddev=-1.0)
    with pytest.raises(ValueError, match="maxval .* must be >= minval"):
        I.RandomUniform(1.0, 0.0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        I.HeNormal(seed=1.5)
    with pytest.raises(ValueError, match="rank >= 2"):
        I.Orthogonal()((3,))
    with pytest.raises(ValueError, match="2-D matrices"):
        I.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match="unknown initializer class_name 'Nope'"):
        I.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="unknown initializer"):
        keras.Sequential([Dense(2, input_shape=(2,), kernel_initializer="nope")])


@pytest.mark.parametrize("init", [I.GlorotUniform(seed=0), I.VarianceScaling(2.0, "fan_out", "uniform", 3),
                                  I.RandomNormal(0.1, 0.2, 4), I.RandomUniform(-1, 1, 5),
                                  I.TruncatedNormal(0.0, 1.0, 6), I.Orthogonal(1.5, 7),
                                  I.Identity(2.0), I.Constant(0.25), I.Zeros(), I.Ones(),
                                  I.HeUniform(), I.LecunNormal(seed=2)], ids=repr)
def test_config_round_trips(init):
    config = I.serialize(init)
    assert config["class_name"] == type(init).__name__
    back = I.get(config)
    assert type(back) is type(init) and back.get_config() == init.get_config()
    assert back == init
    # Keras's form carries module and registered_name too: accepted
    assert I.get({"module": "keras.initializers", "registered_name": None, **config}) == init


def test_a_keras_style_function_initializer_works_in_a_layer():
    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype)
    layer = Dense(2, input_shape=(3,), kernel_initializer=halves)
    keras.Sequential([layer])
    np.testing.assert_array_equal(layer.get_weights()[0], np.full((3, 2), 0.5, np.float32))


def test_a_model_with_initializer_objects_saves_and_loads(tmp_path):
    model = keras.Sequential([
        Conv2D(2, 3, input_shape=(5, 5, 1), kernel_initializer=I.HeUniform(seed=1),
               bias_initializer=I.Constant(0.1)),
        keras.layers.Flatten(),
        Dense(2, kernel_initializer=I.VarianceScaling(0.5, "fan_avg", "untruncated_normal", 2),
              bias_initializer="ones")], seed=0)
    model.compile("sgd", "mse")
    path = tmp_path / "m.adkit"
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    inits = [I.get(layer.kernel_initializer) for layer in (loaded.layers[0], loaded.layers[2])]
    assert inits == [I.HeUniform(seed=1), I.VarianceScaling(0.5, "fan_avg", "untruncated_normal", 2)]
    # rebuilt from the config alone, the seeded kernel is drawn again exactly
    rebuilt = keras.Sequential([deserialize(c) for c in loaded.get_config()["layers"]], seed=9)
    np.testing.assert_array_equal(rebuilt.get_weights()[0], model.get_weights()[0])
    np.testing.assert_array_equal(rebuilt.get_weights()[1], np.full(2, 0.1, np.float32))


# ---------------------------------------------------------------- against Keras itself


@pytest.mark.parametrize("name", sorted(I.CLASSES))
def test_configs_and_statistics_match_keras(real_keras, name):
    ours, theirs = getattr(I, name)(), getattr(real_keras.initializers, name)()
    ours_config = ours.get_config()
    theirs_config = {k: v for k, v in theirs.get_config().items()}
    # Keras's Identity forgets its gain in its config; ours keeps it
    assert ours_config.keys() == theirs_config.keys() or name == "Identity"
    assert {k: v for k, v in ours_config.items() if k != "seed" and k in theirs_config} == \
        {k: v for k, v in theirs_config.items() if k != "seed"}
    shape = (200, 150)
    a = np.asarray(ours(shape), np.float64)
    b = np.asarray(theirs(shape), np.float64)
    if name in ("Zeros", "Ones", "Constant", "Identity"):
        np.testing.assert_array_equal(a, b)
        return
    # two independent draws of the same law: equal moments within sampling error
    se = b.std() / math.sqrt(a.size)
    assert abs(a.mean() - b.mean()) < 6 * se + 1e-12
    assert a.std() == pytest.approx(b.std(), rel=6 * math.sqrt(2 / a.size))
    assert np.abs(a).max() == pytest.approx(np.abs(b).max(), rel=0.02) or name in (
        "RandomNormal", "Orthogonal")


def test_keras_config_dicts_are_read(real_keras):
    for init in (real_keras.initializers.HeNormal(seed=3),
                 real_keras.initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=1)):
        config = real_keras.initializers.serialize(init)
        ours = I.get(config)
        assert type(ours).__name__ == type(init).__name__
        assert ours.get_config() == init.get_config()


def test_keras_snake_case_names_called_as_classes():
    # keras.initializers.he_normal is Keras 3's class: he_normal(seed=0) is HeNormal(seed=0)
    assert I.he_normal(seed=4) == I.HeNormal(seed=4)
    assert I.random_uniform(-1.0, 1.0, seed=2) == I.RandomUniform(-1.0, 1.0, 2)
    assert I.zeros() == I.Zeros() and I.truncated_normal(stddev=0.1) == I.TruncatedNormal(0.0, 0.1)
    layer = Dense(3, input_shape=(2,), kernel_initializer=keras.initializers.glorot_uniform(seed=42))
    keras.Sequential([layer])
    np.testing.assert_array_equal(layer.get_weights()[0], I.GlorotUniform(seed=42)((2, 3)))
    # called with a generator first they stay adkit's functions
    assert I.he_normal(np.random.default_rng(0), (2, 2), np.float32).shape == (2, 2)


def test_a_keras_style_initializer_subclass_works_in_a_layer():
    class Halves(I.Initializer):
        def __init__(self, value=0.5):
            self.value = value

        def __call__(self, shape, dtype=None):
            return np.full(shape, self.value, dtype=dtype)

        def get_config(self):
            return {"value": self.value}

    np.testing.assert_array_equal(Halves(2.0)((2,)), [2.0, 2.0])
    layer = Dense(2, input_shape=(3,), kernel_initializer=Halves(0.25))
    keras.Sequential([layer])
    np.testing.assert_array_equal(layer.get_weights()[0], np.full((3, 2), 0.25, np.float32))


def test_saving_a_model_with_a_function_initializer_names_it_as_code(tmp_path):
    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype)

    model = keras.Sequential([Dense(2, input_shape=(3,), kernel_initializer=halves)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="initializer .*halves.* is not one of adkit.nn.initializers.*could not name it"):
        model.save(tmp_path / "m.adkit")


def test_functions_and_classes_given_as_initializers_save_by_name(tmp_path):
    model = keras.Sequential([Dense(2, input_shape=(3,), kernel_initializer=I.he_normal,
                                    bias_initializer=I.Constant)], seed=0)
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.adkit")
    loaded = keras.models.load_model(tmp_path / "m.adkit")
    assert loaded.layers[0].kernel_initializer == "he_normal"
    assert I.get(loaded.layers[0].bias_initializer) == I.Constant()
