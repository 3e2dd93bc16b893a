"""keras.mixed_precision / keras.config's dtype policy (nn/mixed_precision.py)."""

import warnings

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn import mixed_precision


@pytest.fixture(autouse=True)
def float32_after():
    yield
    mixed_precision.set_global_policy("float32")


def test_a_gpu_scripts_mixed_policy_is_accepted_and_layers_stay_float32():
    with pytest.warns(UserWarning, match="computes in float32 on the CPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    assert keras.config.dtype_policy().compute_dtype == "float32"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    optimizer = keras.mixed_precision.LossScaleOptimizer(keras.optimizers.Adam())
    model.compile(optimizer, "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 3))
    history = model.fit(x, (x[:, 0] > 0).astype(int), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # said once only
        keras.config.set_dtype_policy("mixed_bfloat16")


def test_other_policies_are_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="'float16'; valid: float32, mixed_float16, "
                                         "mixed_bfloat16.*layer dtype="):
        keras.mixed_precision.set_global_policy("float16")
    with pytest.raises(ValueError, match="unknown or unsupported dtype policy 'half'"):
        keras.mixed_precision.Policy("half")
    assert keras.mixed_precision.global_policy().name == "float32"
    policy = keras.mixed_precision.DTypePolicy.from_config({"name": "float32"})
    keras.mixed_precision.set_global_policy(policy)
    assert keras.config.dtype_policy() is policy
    keras.mixed_precision.set_global_policy(None)
    assert keras.mixed_precision.global_policy().get_config() == {"name": "float32"}
