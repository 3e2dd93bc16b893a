"""adkit.nn Sequential: gradients against the numeric referee, training, and
behaviour on bad input (shapes, labels, names, nan, files, interrupts)."""

import json
import os
import signal
import tracemalloc
import zipfile

import numpy as np
import pytest

import adkit
from adkit import nn
from adkit.nn import Sequential, load_model
from adkit.nn.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                             Dropout, Flatten, MaxPooling2D, ShapeError)
from adkit.nn.utils import to_categorical


def blobs(n=200, seed=0, classes=3, dim=2):
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(classes) / classes
    centres = 5.0 * np.stack([np.cos(angles), np.sin(angles)] + [np.zeros(classes)] * (dim - 2), 1)
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.normal(size=(n, dim))
    return x.astype(np.float32), y


def small_cnn(dtype="float32", seed=0, final="softmax"):
    return Sequential([
        Conv2D(2, (2, 2), input_shape=(6, 6, 1), dtype=dtype), Activation("relu", dtype=dtype),
        Conv2D(3, (3, 3), strides=(1, 1), padding="same", dtype=dtype), Activation("tanh", dtype=dtype),
        MaxPooling2D((2, 2), dtype=dtype), Flatten(dtype=dtype),
        Dense(3, dtype=dtype), Activation(final, dtype=dtype)], seed=seed)


# --- derivatives against an independent referee -----------------------------------------

def assert_matches_central_differences(f, params):
    """adkit's reverse-mode gradient vs central differences with a small fixed step.

    relu and max-pooling make the loss piecewise smooth; a kink can lie inside
    the wider steps of check_grads' Richardson referee, so the referee here is
    plain central differences at h = 1e-6 (error ~1e-9 on smooth pieces).
    """
    from adkit import numeric
    exact = adkit.grad(f)(params)
    approx = numeric.gradient(f, params, method="central", h=1e-6)
    for lname in params:
        for k in params[lname]:
            np.testing.assert_allclose(exact[lname][k], approx[lname][k], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{lname}/{k}")

@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "mse"])
def test_training_loss_gradient_matches_finite_differences(loss):
    model = small_cnn("float64")
    model.compile(optimizer="sgd", loss=loss)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 6, 1))
    ids = rng.integers(0, 3, 4)
    y = ids if loss.startswith("sparse") else to_categorical(ids, 3, dtype="float64")
    f = lambda params: model.loss_fn(params, x, y, training=False)[0]
    assert_matches_central_differences(f, model.params)


def test_gradient_through_batchnorm_and_average_pooling_matches_finite_differences():
    model = Sequential([Conv2D(2, (3, 3), input_shape=(5, 5, 2), dtype="float64"),
                        BatchNormalization(dtype="float64"), Activation("softplus", dtype="float64"),
                        AveragePooling2D((2, 2), padding="same", dtype="float64"),
                        Flatten(dtype="float64"), Dense(1, activation="sigmoid", dtype="float64")],
                       seed=3)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 5, 5, 2)), rng.integers(0, 2, (5, 1)).astype(float)
    f = lambda params: model.loss_fn(params, x, y, training=True)[0]
    adkit.check_grads(f, (model.params,), modes=("reverse", "numeric"), rtol=1e-6)


def test_fused_logits_loss_equals_loss_on_probabilities():
    model = small_cnn()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6, 6, 1)).astype(np.float32)
    y = to_categorical(rng.integers(0, 3, 8), 3)
    fused = float(model.loss_fn(model.params, x, y, training=False)[0])
    probs = model.predict(x)
    plain = float(np.mean(nn.losses.categorical_crossentropy(y, probs)))
    assert fused == pytest.approx(plain, rel=1e-5)


def test_fused_loss_stays_finite_where_probabilities_saturate():
    model = Sequential([Dense(2, input_shape=(1,), activation="softmax")], seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    params = {model.layers[0].name: {"kernel": np.array([[300.0, -300.0]], np.float32),
                                     "bias": np.zeros(2, np.float32)}}
    loss, g = adkit.value_and_grad(lambda p: model.loss_fn(p, np.ones((1, 1), np.float32),
                                                           np.array([[0.0, 1.0]], np.float32))[0])(params)
    assert float(loss) == pytest.approx(600.0, rel=1e-5)
    assert np.all(np.isfinite(g[model.layers[0].name]["kernel"]))


def test_regularizer_penalises_kernel_not_bias():
    model = Sequential([Dense(3, input_shape=(2,), kernel_regularizer=nn.regularizers.l2(0.5),
                              bias_initializer="ones")], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 2), np.float32), np.zeros((4, 3), np.float32)
    layer = model.params[model.layers[0].name]
    loss = float(model.loss_fn(model.params, x, y)[0])
    assert loss == pytest.approx(1.0 + 0.5 * float(np.sum(layer["kernel"] ** 2)), rel=1e-6)


# --- training -----------------------------------------------------------------------------

def test_fit_learns_a_separable_problem_and_reports_history():
    x, y = blobs(300)
    model = Sequential([Dense(16, activation="relu", input_shape=(2,)),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=30, verbose=0, validation_split=0.2)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    loss, acc = model.evaluate(x, y)
    assert acc > 0.9
    assert model.metrics_names == ["loss", "accuracy"]


def test_fit_is_reproducible_from_the_seed_including_dropout():
    x, y = blobs(64)
    def run():
        m = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dropout(0.5),
                        Dense(3, activation="softmax")], seed=7)
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return m.get_weights()
    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_dropout_only_in_training():
    model = Sequential([Dropout(0.5, input_shape=(1000,))], seed=0)
    x = np.ones((2, 1000), np.float32)
    np.testing.assert_array_equal(model.predict(x), x)
    out, _ = model.apply(model.params, x, training=True, rng=np.random.default_rng(0))
    assert set(np.unique(out)) == {0.0, 2.0}
    assert abs(np.mean(out == 0) - 0.5) < 0.05


def test_batchnorm_updates_moving_statistics_in_fit_only():
    rng = np.random.default_rng(0)
    x = (3.0 + 2.0 * rng.normal(size=(256, 4))).astype(np.float32)
    model = Sequential([BatchNormalization(momentum=0.5, input_shape=(4,)), Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    model.predict(x)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, np.zeros((256, 1), np.float32), batch_size=64, epochs=3, verbose=0)
    state = model.state[model.layers[0].name]
    np.testing.assert_allclose(state["moving_mean"], 3.0, atol=0.4)
    np.testing.assert_allclose(state["moving_variance"], 4.0, rtol=0.3)


def test_max_norm_constraint_holds_after_training():
    x, y = blobs(128)
    model = Sequential([Dense(8, input_shape=(2,), kernel_constraint=nn.constraints.max_norm(0.5)),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer=nn.optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, verbose=0)
    kernel = model.params[model.layers[0].name]["kernel"]
    assert np.all(np.linalg.norm(kernel, axis=0) <= 0.5 + 1e-5)


def test_esgd_trains_with_hessian_vector_products():
    x, y = blobs(128)
    model = Sequential([Dense(8, activation="tanh", input_shape=(2,)),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="esgd", loss="sparse_categorical_crossentropy")
    first = model.evaluate(x, y)
    model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    assert model.evaluate(x, y) < first


def test_memory_stays_flat_across_epochs():
    x, y = blobs(512)
    model = Sequential([Dense(32, activation="relu", input_shape=(2,)),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    tracemalloc.start()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    after_one = tracemalloc.get_traced_memory()[0]
    model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    after_four = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_four - after_one < 64 * 1024, (after_one, after_four)


def test_summary_counts_the_textbook_cnn_parameters_like_keras():
    lines = []
    nn.zoo.textbook_cnn(seed=0).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 600,810" in text          # Keras's mnist_cnn prints the same
    assert "(None, 26, 26, 32)" in text and "(None, 12, 12, 32)" in text


# --- callbacks ------------------------------------------------------------------------------

def test_early_stopping_restores_best_weights_and_reduce_lr_on_plateau(tmp_path):
    x, y = blobs(128)
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer=nn.optimizers.SGD(learning_rate=0.1),
                  loss="sparse_categorical_crossentropy")
    seen = []
    # a monitored value that improves, then gets worse: best at epoch index 1
    values = iter([3.0, 1.0, 2.0, 2.5, 2.7, 2.8])
    marker = nn.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: (logs.__setitem__("score", next(values)),
                                      seen.append(model.get_weights())))
    stop = nn.callbacks.EarlyStopping(monitor="score", patience=1, restore_best_weights=True)
    plateau = nn.callbacks.ReduceLROnPlateau(monitor="score", patience=1, factor=0.5)
    log = tmp_path / "log.csv"
    model.fit(x, y, epochs=6, verbose=0, callbacks=[marker, stop, plateau,
                                                    nn.callbacks.CSVLogger(log)])
    assert len(seen) == 3 and stop.stopped_epoch == 2
    for a, b in zip(model.get_weights(), seen[1]):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    rows = log.read_text().strip().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 4


def test_model_checkpoint_saves_best_only_atomically(tmp_path):
    x, y = blobs(64)
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "best-{epoch:02d}.adkit"
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
              callbacks=[nn.callbacks.ModelCheckpoint(str(path), save_best_only=True)])
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["best-01.adkit", "best-02.adkit", "best-03.adkit"]
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())


def test_json_logger_writes_history(tmp_path):
    x, y = blobs(64)
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[nn.callbacks.JSONLogger(tmp_path / "h.json")])
    records = json.loads((tmp_path / "h.json").read_text())["epochs"]
    assert [r["epoch"] for r in records] == [0, 1] and "accuracy" in records[0]


# --- bad input --------------------------------------------------------------------------------

def test_layer_shape_mismatch_names_the_layer_and_shapes():
    with pytest.raises(ShapeError, match=r"conv2d_\d+.*\(height, width, channels\).*\(4,\)"):
        Sequential([Dense(4, input_shape=(3,)), Conv2D(2, (3, 3))])
    with pytest.raises(ShapeError, match=r"max_pooling2d_\d+.*at least 5x5.*\(4, 4, 1\)"):
        Sequential([MaxPooling2D((5, 5), input_shape=(4, 4, 1))])


def test_data_shape_mismatch_names_the_first_layer_and_both_shapes():
    model = small_cnn()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ShapeError, match=r"expects input of shape \(6, 6, 1\).*\(10, 28, 28, 1\)"):
        model.fit(np.zeros((10, 28, 28, 1)), np.zeros((10, 3)), verbose=0)
    with pytest.raises(ValueError, match="x has 10 examples but y has 9"):
        model.fit(np.zeros((10, 6, 6, 1)), np.zeros((9, 3)), verbose=0)
    with pytest.raises(ValueError, match=r"labels have shape \(10, 4\).*outputs \(10, 3\)"):
        model.fit(np.zeros((10, 6, 6, 1)), np.zeros((10, 4)), verbose=0)


def test_labels_of_the_wrong_kind_say_which_loss_to_use():
    model = small_cnn()
    x = np.zeros((6, 6, 6, 1), np.float32)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy.*to_categorical"):
        model.fit(x, np.arange(6) % 3, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="one-hot.*categorical_crossentropy.*argmax"):
        model.fit(x, to_categorical(np.arange(6) % 3, 3), verbose=0)
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\)"):
        model.fit(x, np.arange(6), verbose=0)


@pytest.mark.parametrize("kwargs, valid", [
    ({"optimizer": "adamm", "loss": "mse"}, "adam"),
    ({"optimizer": "sgd", "loss": "mean_squared_eror"}, "mean_squared_error"),
    ({"optimizer": "sgd", "loss": "mse", "metrics": ["acuracy"]}, "accuracy"),
])
def test_unknown_names_list_the_valid_ones(kwargs, valid):
    model = Sequential([Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match=valid):
        model.compile(**kwargs)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="relu.*softmax|softmax.*relu"):
        Activation("rellu")


def test_nan_loss_stops_training_and_keeps_the_last_good_weights():
    x, y = blobs(64)
    x[40] = np.nan
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.warns(RuntimeWarning, match=r"epoch 1, batch 2"):
        history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert model.stop_training and len(history.epoch) <= 1


def test_save_and_load_round_trip_resumes_training_identically(tmp_path):
    x, y = blobs(96)
    def fresh():
        m = Sequential([Dense(8, activation="relu", input_shape=(2,)), Dropout(0.2),
                        BatchNormalization(), Dense(3, activation="softmax")], seed=3)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m
    a = fresh()
    a.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    a.save(tmp_path / "m.adkit")
    b = load_model(tmp_path / "m.adkit")
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert b.metrics_names == ["loss", "accuracy"]
    a.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    b.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def _saved(tmp_path):
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "good.adkit"
    model.save(path)
    return path


def _rewrite(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = edit(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item.filename, data)


@pytest.mark.parametrize("damage, message", [
    ("garbage", "not a zip"),
    ("truncated", "not a zip|unreadable|truncated"),
    ("foreign zip", "no model.json"),
    ("wrong format", "format field"),
    ("newer version", "newer adkit"),
    ("unknown layer", "unknown layer class 'Exec'"),
    ("pickled array", "dtype object"),
    ("wrong shape", "shape"),
])
def test_load_model_refuses_bad_files_without_executing_them(tmp_path, damage, message):
    good = _saved(tmp_path)
    bad = tmp_path / "bad.adkit"
    def config_edit(fn):
        return lambda name, data: (json.dumps(fn(json.loads(data))).encode()
                                   if name == "model.json" else data)
    if damage == "garbage":
        bad.write_bytes(os.urandom(300))
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "foreign zip":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("hello.txt", "hi")
    elif damage == "wrong format":
        _rewrite(good, bad, config_edit(lambda c: {**c, "format": "keras"}))
    elif damage == "newer version":
        _rewrite(good, bad, config_edit(lambda c: {**c, "version": 99}))
    elif damage == "unknown layer":
        def edit(c):
            c["model"]["layers"][0]["class_name"] = "Exec"
            return c
        _rewrite(good, bad, config_edit(edit))
    elif damage == "pickled array":
        import io
        buf = io.BytesIO()
        np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        _rewrite(good, bad, lambda name, data: buf.getvalue() if name.endswith("kernel.npy") else data)
    elif damage == "wrong shape":
        import io
        buf = io.BytesIO()
        np.save(buf, np.zeros((5, 5), np.float32))
        _rewrite(good, bad, lambda name, data: buf.getvalue() if name.endswith("kernel.npy") else data)
    with pytest.raises(nn.ModelFileError, match=message):
        load_model(bad)


def test_keyboard_interrupt_leaves_model_usable_and_checkpoint_intact(tmp_path):
    x, y = blobs(256)
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "ckpt.adkit"

    class Interrupt(nn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and len(seen) == 0 and batch == 3 and path.exists():
                seen.append(batch)
                raise KeyboardInterrupt
    seen = []
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                  callbacks=[nn.callbacks.ModelCheckpoint(str(path)), Interrupt()])
    assert seen == [3]
    assert np.all(np.isfinite(model.predict(x)))
    restored = load_model(path)
    assert restored.predict(x).shape == (256, 3)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)   # still trainable


def test_ctrl_c_during_an_update_waits_for_the_update_to_finish():
    from adkit.nn.training import interrupts_deferred as _interrupts_deferred
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with _interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)
    assert finished == [True]


def test_bidirectional_lstm_model_saves_and_loads(tmp_path):
    from adkit.nn.layers import LSTM, Bidirectional
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5, 3)).astype(np.float32), rng.integers(0, 2, 16)
    model = Sequential([Bidirectional(LSTM(4), input_shape=(5, 3)), Dense(2, activation="softmax")],
                       seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "bi.adkit")
    again = load_model(tmp_path / "bi.adkit")
    np.testing.assert_array_equal(model.predict(x), again.predict(x))
    assert model.count_params() == again.count_params() == 2 * 4 * (4 * (3 + 4 + 1)) + 18


MALLOC_PROBE = """
import ctypes, sys
import numpy as np
from adkit import nn
from adkit.nn.layers import Dense

libc = ctypes.CDLL("libc.so.6")
if not hasattr(libc, "mallinfo2"):
    print("no-mallinfo2"); sys.exit()
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def mmapped():
    # glibc's own mmap threshold never exceeds 32 MB: untuned, 64 MB come from mmap
    before = libc.mallinfo2().hblkhd
    p = libc.malloc(64 << 20)
    grew = libc.mallinfo2().hblkhd - before >= 64 << 20
    libc.free(p)
    return grew

seen = []
probe = nn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(mmapped()))
model = nn.Sequential([Dense(1, input_shape=(2,))], seed=0)
model.compile(optimizer="sgd", loss="mse")
x = np.ones((8, 2), np.float32)
if sys.argv[1] == "tune":
    nn.tune(malloc=True)
model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, callbacks=[probe])
print("during", all(seen), any(seen), "after", mmapped())
"""


@pytest.mark.parametrize("how, during", [("default", True), ("tune", False),
                                         ("env", False)])
def test_malloc_tuning_is_opt_in_and_undone_when_fit_ends(how, during):
    """glibc keeps freed blocks for reuse (no fresh mmap for a 64 MB block) only when asked,
    by nn.tune(malloc=True) or ADKIT_MALLOC_TUNING=1, only while fit runs."""
    import subprocess
    import sys
    env = {**os.environ, "ADKIT_MALLOC_TUNING": "1" if how == "env" else "0"}
    run = subprocess.run([sys.executable, "-c", MALLOC_PROBE, how], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    if "no-mallinfo2" in run.stdout:
        pytest.skip("needs glibc >= 2.33 (mallinfo2) to see where malloc takes memory from")
    assert run.stdout.split() == ["during", str(during), str(during), "after", "True"]


def test_tune_returns_the_settings_it_replaced_and_checks_its_argument():
    previous = nn.tune(malloc=True)
    try:
        assert nn.tune(malloc=False) == {"malloc": True}
        with pytest.raises(TypeError, match="malloc"):
            nn.tune(malloc="yes")
    finally:
        nn.tune(**previous)


def _blas_threads():
    from threadpoolctl import threadpool_info
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_threads_are_limited_inside_fit_and_restored_after_it():
    """A strategy's share of the cores (MPI ranks on one machine) holds the BLAS to that
    many threads during fit; the counts are back when fit ends, also when it raises."""
    from adkit.nn.strategies import SingleProcess
    from adkit.nn.training import Trainer
    before = _blas_threads()
    if not before or max(before) < 2:
        pytest.skip("needs a BLAS running more than one thread (threadpoolctl finds none)")

    class OneCore(SingleProcess):
        threads = 1

    x, y = blobs(64)
    model = Sequential([Dense(8, activation="relu", input_shape=(2,)),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.trainer = Trainer(model, OneCore())
    seen = []
    probe = nn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
        _blas_threads()))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[probe])
    assert seen and all(max(s) == 1 for s in seen)
    assert _blas_threads() == before

    def fail(batch, logs):
        raise RuntimeError("stop")
    with pytest.raises(RuntimeError, match="stop"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                  callbacks=[nn.callbacks.LambdaCallback(on_train_batch_end=fail)])
    assert _blas_threads() == before


def test_cnn_fit_leaves_the_blas_thread_count_as_it_found_it():
    before = _blas_threads()
    model = small_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(32, 6, 6, 1)).astype(np.float32)
    model.fit(x, np.arange(32) % 3, batch_size=8, epochs=1, verbose=0)
    assert _blas_threads() == before


def test_train_on_batch_under_data_parallelism_says_to_use_fit():
    from adkit.nn.training import Trainer

    class TwoRanks:   # what the loop reads of a DataParallel, without MPI
        rank, size, is_chief, threads = 0, 2, True, None

    model = Sequential([Dense(1, input_shape=(2,))], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.trainer = Trainer(model, TwoRanks())
    with pytest.raises(ValueError, match="train with fit"):
        model.train_on_batch(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32))


def test_saved_files_get_ordinary_permissions(tmp_path):
    path = _saved(tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_last_batch_of_one_example_trains():
    x, y = blobs(33)
    model = Sequential([Dense(3, activation="softmax", input_shape=(2,))], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_unknown_device_names_the_valid_ones_and_the_environment(monkeypatch):
    model = Sequential([Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match="unknown device 'tpu'; use 'cpu' or 'opencl'"):
        model.compile(optimizer="sgd", loss="mse", device="tpu")
    monkeypatch.setenv("ADKIT_DEVICE", "gpu0")
    with pytest.raises(ValueError, match=r"unknown device 'gpu0' \(from ADKIT_DEVICE='gpu0'\)"):
        model.compile(optimizer="sgd", loss="mse")
    model.compile(optimizer="sgd", loss="mse", device="cpu")


class _LeastSquares:
    """A model that is not a Sequential: y = x @ w + b with the hooks the training loop
    reads (TrainableModel), no layers at all. A functional Model reuses the loop the same way."""

    def __init__(self, features: int) -> None:
        from adkit.nn import optimizers
        self.seed = 0
        self.params = {"linear": {"w": np.zeros((features, 1)), "b": np.zeros(1)}}
        self.state: dict = {}
        self.layers: list = []
        self.optimizer = optimizers.SGD(learning_rate=0.1)
        self.compiled_metrics: list = []
        self.metrics_names = ["loss"]
        self.stop_training = False
        self.history = None

    def apply(self, params, x, *, training=False):
        return x @ params["linear"]["w"] + params["linear"]["b"], {}

    def loss_fn(self, params, x, y, rng=None, training=True):
        out, state = self.apply(params, x)
        return np.mean((out - y) ** 2), (out, state)

    def trainable_part(self, tree):
        return tree

    def prepare_data(self, x, y, where):
        return np.asarray(x, np.float64), None if y is None else np.asarray(y, np.float64)

    def final_outputs(self, out):
        return out

    def empty_output(self):
        return np.zeros((0, 1))

    def apply_constraints(self):
        pass


def test_the_training_loop_trains_any_model_with_its_hooks():
    from adkit.nn.training import Trainer
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.25
    model = _LeastSquares(3)
    trainer = Trainer(model)
    history = trainer.fit(x, y, batch_size=32, epochs=30, verbose=0, validation_split=0.25)
    assert history.history["loss"][-1] < 1e-6 < history.history["loss"][0]
    # against the closed form, on the 3/4 of the data fit trained on
    design = np.hstack([x[:192], np.ones((192, 1))])
    exact = np.linalg.lstsq(design, y[:192], rcond=None)[0]
    np.testing.assert_allclose(model.params["linear"]["w"], exact[:3], atol=1e-4)
    np.testing.assert_allclose(model.params["linear"]["b"], exact[3], atol=1e-4)
    assert trainer.evaluate(x, y) == pytest.approx(np.mean((trainer.predict(x) - y) ** 2))
    assert np.isfinite(trainer.train_on_batch(x[:8], y[:8])["loss"])
