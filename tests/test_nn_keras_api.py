"""Keras API details that real Keras code leans on: freezing a model used inside
another (transfer learning), ..."""

import re

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


def compiled_mlp(**compile_options):
    model = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(8, activation="relu"),
                              layers.Dropout(0.5), layers.Dense(3, activation="softmax")],
                             seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], **compile_options)
    return model


def test_keras_3_compile_options():
    eager = compiled_mlp(run_eagerly=True, steps_per_execution=4)
    assert eager.jit_compile is False
    eager.fit(X, Y, epochs=1, verbose=0)
    assert eager.trainer.compiled_step is None or \
        eager.trainer.compiled_step.program.stats.traces == 0
    with pytest.raises(ValueError, match="steps_per_execution must be a positive int"):
        compiled_mlp(steps_per_execution=0)


def test_validation_freq_and_batch_size():
    model = compiled_mlp()
    every_other = model.fit(X, Y, epochs=4, verbose=0, validation_split=0.25,
                            validation_freq=2, validation_batch_size=5).history
    assert len(every_other["loss"]) == 4 and len(every_other["val_loss"]) == 2
    listed = model.fit(X, Y, epochs=3, verbose=0, validation_data=(X, Y),
                       validation_freq=[1, 3]).history
    assert len(listed["val_loss"]) == 2
    with pytest.raises(ValueError, match="validation_freq must be a positive int"):
        model.fit(X, Y, epochs=1, verbose=0, validation_freq=0)


def test_history_holds_kerass_keys_and_verbose_2_prints_kerass_line(capsys):
    model = compiled_mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, Y, epochs=2, verbose=2, validation_split=0.25)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert len(history.epoch_seconds) == 2 and all(s > 0 for s in history.epoch_seconds)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"Epoch 2/2 - \d+s - loss: [0-9.]+ - accuracy: [0-9.]+ - "
                        r"val_loss: [0-9.]+ - val_accuracy: [0-9.]+", lines[-1])


def test_evaluate_and_predict_take_callbacks():
    model = compiled_mlp()
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            seen.append(("test_begin", self.model is model))

        def on_test_end(self, logs=None):
            seen.append(("test_end", sorted(logs)))

        def on_predict_begin(self, logs=None):
            seen.append(("predict_begin", None))

        def on_predict_end(self, logs=None):
            seen.append(("predict_end", None))

    plain = model.evaluate(X, Y, verbose=0)
    assert model.evaluate(X, Y, verbose=0, callbacks=[Watch()]) == plain
    np.testing.assert_array_equal(model.predict(X, callbacks=[Watch()]), model.predict(X))
    assert seen == [("test_begin", True), ("test_end", ["accuracy", "loss"]),
                    ("predict_begin", None), ("predict_end", None)]


class BatchWatch(keras.callbacks.Callback):
    """Records every per-batch hook of evaluate and predict, with what its logs hold."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_test_begin(self, logs=None):
        self.seen.append(("test_begin",))

    def on_test_batch_begin(self, batch, logs=None):
        self.seen.append(("test_batch_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.seen.append(("test_batch_end", batch, dict(logs)))

    def on_test_end(self, logs=None):
        self.seen.append(("test_end", dict(logs)))

    def on_predict_batch_begin(self, batch, logs=None):
        self.seen.append(("predict_batch_begin", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.seen.append(("predict_batch_end", batch, logs["outputs"]))


@pytest.mark.parametrize("source", ["arrays", "batches"])
def test_evaluate_and_predict_call_the_per_batch_hooks_as_keras(source):
    model = compiled_mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    data = (X, Y) if source == "arrays" else \
        (iter([(X[i:i + 24], Y[i:i + 24]) for i in range(0, 64, 24)]),)
    watch = BatchWatch()
    result = model.evaluate(*data, batch_size=24, callbacks=[watch], return_dict=True)
    ends = [e for e in watch.seen if e[0] == "test_batch_end"]
    assert [e[1] for e in ends] == [0, 1, 2]
    assert [e[0] for e in watch.seen[1:3]] == ["test_batch_begin", "test_batch_end"]
    # each batch's logs are the running results: the last ones are evaluate's
    assert ends[-1][2] == pytest.approx(result)
    first = model.evaluate(X[:24], Y[:24], return_dict=True)
    assert ends[0][2] == pytest.approx(first)
    watch = BatchWatch()
    inputs = X if source == "arrays" else iter([X[i:i + 24] for i in range(0, 64, 24)])
    out = model.predict(inputs, batch_size=24, callbacks=[watch])
    outputs = [e[2] for e in watch.seen if e[0] == "predict_batch_end"]
    assert [e[1] for e in watch.seen if e[0] == "predict_batch_begin"] == [0, 1, 2]
    np.testing.assert_array_equal(np.concatenate(outputs), out)


def test_fit_shows_its_validation_to_callbacks_as_an_evaluate():
    model = compiled_mlp()
    watch = BatchWatch()
    history = model.fit(X, Y, epochs=2, batch_size=16, validation_data=(X[:40], Y[:40]),
                        validation_batch_size=16, callbacks=[watch], verbose=0).history
    kinds = [e[0] for e in watch.seen]
    assert kinds.count("test_begin") == kinds.count("test_end") == 2
    assert kinds.count("test_batch_end") == 6          # 40 rows in batches of 16, twice
    last_end = [e for e in watch.seen if e[0] == "test_end"][-1][1]
    assert last_end["loss"] == pytest.approx(history["val_loss"][-1])


def test_train_on_batch_return_dict_summary_options_and_save_overwrite(tmp_path):
    model = compiled_mlp()
    out = model.train_on_batch(X[:8], Y[:8], return_dict=True)
    assert list(out) == ["loss", "accuracy"] and np.isfinite(out["loss"])
    loss, accuracy = model.train_on_batch(X[:8], Y[:8])        # Keras's [loss, *metrics]
    assert accuracy == pytest.approx(np.mean(model.predict(X[:8]).argmax(1) == Y[:8]),
                                     abs=0.13)                  # one step later: within 1/8
    lines = []
    model.summary(line_length=120, show_trainable=True, print_fn=lines.append)
    assert any("Total params" in line for line in lines)
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)


def test_calling_a_model_in_training_mode_draws_afresh():
    model = compiled_mlp()
    first, second = model(X, training=True), model(X, training=True)
    assert not np.array_equal(first, second)          # Dropout's masks differ
    np.testing.assert_array_equal(model(X), model(X))  # inference: no draws


def test_operators_and_indexing_on_keras_tensors_record_layers():
    inputs = keras.Input(shape=(4,))
    x = 3.0 * (inputs / 2.0 + 1.0) - inputs
    head = layers.Dense(1, name="head")
    outputs = head(-x[:, :2]) ** 2
    model = keras.Model(inputs, outputs, seed=0)
    # each op's layer is named after it (numbered from the second of a name on)
    names = [re.sub(r"_\d+$", "", layer.name) for layer in model.layers][1:]
    assert names == ["divide", "add", "multiply", "subtract", "get_item", "negative", "head",
                     "power"]
    x_np = RNG.random((5, 4)).astype(np.float32)
    kernel, bias = head.get_weights()
    expected = (-(3.0 * (x_np / 2.0 + 1.0) - x_np)[:, :2] @ kernel + bias) ** 2
    np.testing.assert_allclose(model.predict(x_np), expected, rtol=1e-5, atol=1e-6)


def test_a_users_layer_named_like_adkits_does_not_take_over_deserialization():
    from adkit.nn.layers import deserialize, serialize
    original = layers.Dropout(0.3, name="drop")

    class Dropout(layers.Layer):     # a user's class of the same name
        def call(self, inputs):
            return inputs

    restored = deserialize(serialize(original))
    assert type(restored) is layers.Dropout and restored.rate == 0.3
