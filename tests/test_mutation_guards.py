"""Guards found by mutation testing: each test here kills a fault (a changed constant,
operator or argument in adkit's own code) that the rest of the suite let pass when
Keras, JAX, PyTorch and autograd are absent, as on CI. Every value is checked against
an independent referee written here from the published formula (Keras's docs and
source, the papers), or against finite differences; none copies adkit's output.

The script that finds them, and the list of faults tried, are in the report
notes/S8-mutants.md (not part of the package)."""

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn import losses

EPS = 1e-7   # Keras's backend epsilon


# --- losses: the epsilon floors that only matter at the edges ----------------------------

def test_mape_with_zero_targets_divides_by_the_epsilon_floor():
    # Keras: 100 * mean(|t - p| / max(|t|, epsilon)); a zero target is not a nan or inf
    t = np.array([[0.0, 2.0, -4.0], [0.0, 0.0, 1.0]])
    p = np.array([[0.5, 1.0, -5.0], [-1e-8, 0.0, 3.0]])
    want = 100 * np.mean(np.abs(t - p) / np.maximum(np.abs(t), EPS), axis=-1)
    got = losses.mean_absolute_percentage_error(t, p)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12)


# --- adkit.numeric: the error estimate is what its docstring promises ---------------------

@pytest.mark.parametrize("method, h", [("forward", 1e-3), ("backward", 1e-3), ("central", 1e-2),
                                       ("complex_step", 1e-2)])
def test_error_estimate_is_twice_the_leading_truncation_error(method, h):
    # At a step where truncation dominates rounding, the estimate 2 |D(h) - D(2h)| / (2^p - 1)
    # is twice the true error to leading order (the factor 2 is the stated safety margin):
    # an estimate that shrinks below the true error, or grows far above it, is wrong.
    from adkit import numeric
    x = 0.3
    d, info = numeric.derivative(np.exp, x, method=method, h=h, full_output=True)
    true_error = abs(d - np.exp(x))
    assert true_error > 1e3 * np.finfo(float).eps   # truncation, not rounding, at this h
    assert 1.8 < info.error / true_error < 2.2, (method, info.error, true_error)


@pytest.mark.parametrize("method, stencil, sum_abs_weights", [
    ("forward", (0, 1, 2), 2.0), ("backward", (0, -1, -2), 2.0), ("central", (-2, -1, 1, 2), 1.0)])
def test_error_estimate_of_an_exact_difference_is_the_documented_rounding_term(
        method, stencil, sum_abs_weights):
    # f linear and h a power of two: every f(x + k h) and every difference is exact, so the
    # truncation part is 0 and the estimate is the rounding term alone,
    # 2 eps max|f| sum|w| (sum|w| = 2/h for one-sided differences, 2/(2h) central).
    from adkit import numeric
    f = lambda x: 3.0 * x + 1.0   # noqa: E731
    x, h = 0.5, 2.0 ** -10
    d, info = numeric.derivative(f, x, method=method, h=h, full_output=True)
    assert d == 3.0
    fmax = max(abs(f(x + k * h)) for k in stencil)
    want = 2 * np.finfo(float).eps * fmax * sum_abs_weights / h
    assert info.error == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("x", [0.1, 3.7, -1234.5678, 1e-3])
def test_steps_are_exactly_representable_at_x(x):
    # the step f sees is (x + h) - x: the reported h must be exactly that, default or given
    from adkit import numeric
    for h in (None, 1e-3):
        _, info = numeric.derivative(np.sin, x, h=h, full_output=True)
        assert (x + info.h) - x == info.h
        _, info = numeric.gradient(lambda v: np.sum(np.sin(v)), np.array([x, 2 * x]), h=h,
                                   full_output=True)
        np.testing.assert_array_equal((np.array([x, 2 * x]) + info.h) - np.array([x, 2 * x]),
                                      info.h)


def test_probability_losses_clip_to_keras_epsilon_at_zero_and_one():
    # Keras clips probabilities to [epsilon, 1 - epsilon] before the log: a certain wrong
    # answer costs -log(1e-7), about 16.1, not inf, and not -log(1e-6)
    onehot = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    probs = np.array([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0]])
    q = np.clip(probs, EPS, 1 - EPS)
    np.testing.assert_allclose(losses.categorical_crossentropy(onehot, probs),
                               -np.sum(onehot * np.log(q), axis=-1), rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(np.array([0, 1]), probs),
                               [-np.log(EPS), -np.log(1 - EPS)], rtol=1e-12)
    t, p = np.array([[1.0, 0.0, 1.0, 0.0]]), np.array([[0.0, 1.0, 1.0, 0.0]])
    qb = np.clip(p, EPS, 1 - EPS)
    bce = -(t * np.log(qb) + (1 - t) * np.log(1 - qb))
    np.testing.assert_allclose(losses.binary_crossentropy(t, p), np.mean(bce, axis=-1),
                               rtol=1e-12)
    p_t = t * p + (1 - t) * (1 - p)
    np.testing.assert_allclose(losses.binary_focal_crossentropy(t, p, gamma=0.5),
                               np.mean((1 - p_t) ** 0.5 * bce, axis=-1), rtol=1e-12)


def test_kl_divergence_clips_zero_targets_to_epsilon():
    # Keras: sum(t log(t / p)) with t and p clipped to [epsilon, 1]; a zero target
    # contributes epsilon log(epsilon / p), not nan
    t = np.array([[0.0, 0.25, 0.75], [1.0, 0.0, 0.0]])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.0, 0.4]])
    tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    got = losses.kl_divergence(t, p)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, np.sum(tc * np.log(tc / pc), axis=-1), rtol=1e-12)


def test_cosine_similarity_of_tiny_vectors_uses_the_norm_floor():
    # Keras's l2_normalize divides by max(|x|, epsilon): a vector shorter than epsilon
    # is scaled by 1 / epsilon, not normalised to length 1
    t = np.array([[3e-8, 4e-8], [1.0, 0.0]])
    p = np.array([[1.0, 0.0], [2e-8, 0.0]])
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), EPS)  # noqa: E731
    np.testing.assert_allclose(losses.cosine_similarity(t, p),
                               -np.sum(unit(t) * unit(p), axis=-1), rtol=1e-12)


def test_a_keras_mask_makes_the_loss_the_mean_over_the_valid_entries():
    # Keras's masked loss (a sequence output after Masking or Embedding(mask_zero=True)):
    # masked entries weigh 0 and the batch loss is the mean over the valid ones
    rng = np.random.default_rng(3)
    per = rng.uniform(size=(3, 5))
    mask = rng.random((3, 5)) < 0.6
    mask[0, 0] = True
    got = losses.weighted_mean(per, losses.masked_weights(mask, per))
    assert float(got) == pytest.approx(per[mask].mean(), rel=1e-6)
    sw = rng.uniform(0.5, 2.0, size=3)
    got = losses.weighted_mean(per, losses.masked_weights(mask, per, sw))
    assert float(got) == pytest.approx(np.sum(per * mask * sw[:, None]) / mask.sum(), rel=1e-6)


# --- initializers ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, scale, n", [
    (lambda: keras.initializers.HeNormal(seed=1), 2.0, 200),
    (lambda: keras.initializers.GlorotNormal(seed=2), 1.0, 250),
    (lambda: keras.initializers.VarianceScaling(0.5, "fan_out", "truncated_normal", seed=3),
     0.5, 300)])
def test_truncated_normal_draws_stay_within_two_of_their_standard_deviations(make, scale, n):
    # Keras's truncated normal: a normal of stddev sqrt(scale / n) / 0.87962566103423978,
    # with draws beyond two of those standard deviations redrawn (variance scale / n after)
    w = np.asarray(make()((200, 300)), dtype=np.float64)
    sigma = np.sqrt(scale / n) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * sigma
    assert np.abs(w).max() > 1.9 * sigma      # cut at 2 sigma, not below
    assert w.var() == pytest.approx(scale / n, rel=0.03)


def test_small_truncated_normal_weights_are_cut_too():
    # a few draws at a time, so that the redraw loop is not needed for most of them
    for seed in range(30):
        w = np.asarray(keras.initializers.TruncatedNormal(stddev=0.5, seed=seed)((3, 4)))
        assert np.abs(w).max() <= 2 * 0.5, seed
        w = np.asarray(keras.initializers.HeNormal(seed=seed)((3, 4)), dtype=np.float64)
        assert np.abs(w).max() <= 2 * np.sqrt(2 / 3) / 0.87962566103423978, seed


# --- activations ----------------------------------------------------------------------------

def test_hard_sigmoid_is_keras_2s_piecewise_line():
    # adkit keeps Keras 2's hard_sigmoid, clip(0.2 x + 0.5, 0, 1) (its docstring says why)
    x = np.linspace(-4.0, 4.0, 33)
    np.testing.assert_allclose(keras.activations.hard_sigmoid(x),
                               np.clip(0.2 * x + 0.5, 0.0, 1.0), rtol=0, atol=1e-15)


# --- layers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("noise_shape", [None, (None, 1)])
def test_dropout_is_the_identity_at_inference_and_inverted_in_training(noise_shape):
    x = np.arange(1, 201, dtype=np.float32).reshape(25, 8)
    layer = keras.layers.Dropout(0.25, noise_shape=noise_shape, seed=4)
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(layer(x), x)              # a direct call is inference
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dropout(0.25, noise_shape=noise_shape)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    y = np.asarray(layer(x, training=True))
    kept = y != 0
    # inverted dropout (Keras): the kept entries are scaled by 1 / (1 - rate)
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)
    assert 0.5 < kept.mean() < 0.95


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("channels, filters", [(3, 2), (2, 3)])
def test_conv2d_input_gradient_with_unit_strides_matches_finite_differences(padding, channels,
                                                                            filters):
    # unit strides with filters <= channels take the flipped-kernel correlation path, the
    # others the scatter: both against central differences, with an even kernel width
    # (uneven 'same' padding) so an off-by-one pad shows
    import adkit
    from adkit import numeric
    from adkit.nn import backend
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5, 6, channels))
    kernel = rng.normal(size=(3, 2, channels, filters))
    out_shape = np.shape(backend.conv2d(x, kernel, (1, 1), padding))
    g = rng.normal(size=out_shape)
    f = lambda v: np.sum(g * backend.conv2d(v, kernel, (1, 1), padding))  # noqa: E731
    np.testing.assert_allclose(adkit.grad(f)(x), numeric.gradient(f, x), rtol=1e-6, atol=1e-7)
