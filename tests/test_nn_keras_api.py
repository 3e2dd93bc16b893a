"""Keras API details that real Keras code leans on: freezing a model used inside
another (transfer learning), ..."""

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn import layers

RNG = np.random.default_rng(11)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = RNG.integers(0, 3, 64)


def transfer_model():
    base = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(16, activation="relu")],
                            name="base", seed=0)
    inputs = keras.Input(shape=(8,))
    outputs = layers.Dense(3, activation="softmax", name="head")(base(inputs, training=False))
    return base, keras.Model(inputs, outputs, seed=0)


def test_freezing_a_base_model_after_building_the_outer_one():
    base, model = transfer_model()
    base.trainable = False                      # Keras's transfer-learning recipe
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = [w.copy() for w in base.get_weights()]
    head = model.get_layer("head").get_weights()[0].copy()
    model.fit(X, Y, epochs=2, verbose=0)
    for before, after in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(head, model.get_layer("head").get_weights()[0])
    assert all(not layer.trainable for layer in base.layers)
    # fine-tuning: unfreeze, recompile, and the base trains
    base.trainable = True
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    assert not np.array_equal(frozen[0], base.get_weights()[0])


def test_model_trainable_sets_every_layers_flag():
    model = keras.Sequential([layers.Dense(4, input_shape=(8,)), layers.Dense(1)], seed=0)
    model.trainable = False
    assert not model.trainable and not any(layer.trainable for layer in model.layers)
    model.trainable = True
    assert all(layer.trainable for layer in model.layers)
