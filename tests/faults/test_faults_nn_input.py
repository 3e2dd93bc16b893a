"""Hostile input and injected faults in adkit.nn (second pass): bad arguments get an error
naming the problem and the fix; a failed compile, an interrupted fit or a failed save
leaves the model and the files as they were."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn import files as files_module
from adkit.nn.keras_weights import WeightsFileError
from adkit.nn.models import load_model


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n)


def _model(jit_compile="auto", seed=0):
    model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)),
                              keras.layers.Dense(3, activation="softmax")], seed=seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


# --- arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, what", [
    (lambda m, x, y: m.fit(x, verbose=0), "fit"),
    (lambda m, x, y: m.evaluate(x, verbose=0), "evaluate"),
    (lambda m, x, y: m.train_on_batch(x, None), "train_on_batch"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, None), verbose=0), "fit validation_data"),
])
def test_array_data_without_targets_is_refused_by_name(call, what):
    # before: "'NoneType' object is not subscriptable" from inside the batching
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=rf"^{what}: y \(the targets\) is missing.*\(x, y\)"):
        call(model, x, y)


@pytest.mark.parametrize("split", ["0.2", None, [0.2]])
def test_a_validation_split_that_is_not_a_number_is_refused(split):
    # before: TypeError "'<=' not supported between instances of 'float' and 'str'"
    x, y = _data()
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\)"):
        _model().fit(x, y, validation_split=split, verbose=0)


@pytest.mark.parametrize("callbacks", [keras.callbacks.EarlyStopping,
                                       keras.callbacks.EarlyStopping(), "EarlyStopping"])
def test_callbacks_that_are_not_a_list_are_refused(callbacks):
    # before: "'type' object is not iterable"; a lone instance: "... is not iterable"
    x, y = _data()
    with pytest.raises(TypeError, match=r"callbacks must be a list of Callback instances"):
        _model().fit(x, y, callbacks=callbacks, verbose=0)


# --- a failed compile changes nothing ---------------------------------------------------

def test_a_compile_that_fails_on_its_device_leaves_a_new_model_uncompiled():
    # before: the optimizer was set and the loss was not, so fit said "for loss None"
    x, y = _data()
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="opencl:99"):
        model.compile("adam", "mse", device="opencl:99")
    assert model.optimizer is None and model.loss is None
    with pytest.raises(ValueError, match="compile the model first"):
        model.fit(x, np.zeros((64, 3)), verbose=0)


@pytest.mark.parametrize("bad", [dict(metrics=["no_such_metric"]),
                                 dict(device="opencl:99"),
                                 dict(weighted_metrics="accuracy")])
def test_a_failed_recompile_keeps_the_working_compile(bad):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    optimizer, loss, trainer = model.optimizer, model.loss, model.trainer
    with pytest.raises((ValueError, TypeError)):
        model.compile(optimizer="sgd", loss="mse", **bad)
    assert model.optimizer is optimizer and model.loss is loss and model.trainer is trainer
    assert model.metrics_names == ["loss", "accuracy"]
    history = model.fit(x, y, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and "accuracy" in history


def test_a_compile_where_pyopencl_cannot_be_imported_leaves_the_model_uncompiled():
    # in a child process: modules imported while pyopencl is missing would keep that
    script = textwrap.dedent("""
        import sys
        sys.modules["pyopencl"] = None
        import numpy as np
        import adkit.nn as keras
        model = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
        try:
            model.compile("adam", "mse", device="opencl")
        except Exception as e:
            assert "pyopencl cannot be imported" in str(e), e
        else:
            raise AssertionError("compile(device='opencl') worked without pyopencl")
        assert model.optimizer is None and model.loss is None
        model.compile("adam", "mse")   # the CPU still works
        x = np.ones((8, 4), "float32")
        assert np.isfinite(model.fit(x, np.zeros((8, 3)), verbose=0).history["loss"][0])
        print("ok")
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# --- interrupted fits ----------------------------------------------------------------------

@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_an_interrupt_from_a_callback_leaves_whole_steps_and_a_model_that_trains(jit_compile):
    x, y = _data(256)
    model = _model(jit_compile)
    seen = {}

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                seen["weights"] = [w.copy() for w in self.model.get_weights()]
                seen["iterations"] = int(self.model.optimizer.iterations)
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[Interrupt()])
    assert seen["iterations"] == 5 == int(model.optimizer.iterations)
    for a, b in zip(seen["weights"], model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(model.predict(x, verbose=0)))
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_ctrl_c_mid_fit_leaves_exactly_the_finished_steps(jit_compile):
    """A real SIGINT at an arbitrary moment of a long fit: the weights are those of a
    fresh model trained on exactly the steps the optimizer counted (no half-applied
    update), the SIGINT handler is Python's again, and the model trains on."""
    x, y = _data(100_000, seed=1)
    model = _model(jit_compile)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))

    class StartTheClock(keras.callbacks.Callback):   # once the first step has run
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                timer.start()

    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                      callbacks=[StartTheClock()])
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGINT) is handler
    steps = int(model.optimizer.iterations)
    assert 0 < steps < len(x) // 8
    replay = _model(jit_compile)
    replay.fit(x[:steps * 8], y[:steps * 8], batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(replay.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert np.isfinite(model.fit(x[:64], y[:64], verbose=0).history["loss"][0])


# --- saving: faults mid-write ------------------------------------------------------------

def _writers(model, folder):
    return {
        "save": (os.path.join(folder, "m.adkit"), model.save),
        "save_weights": (os.path.join(folder, "w.adkit"), model.save_weights),
        "save_weights_h5": (os.path.join(folder, "w.weights.h5"), model.save_weights),
        "export_onnx": (os.path.join(folder, "m.onnx"), model.export_onnx),
    }


class _FailingFile:
    """A file whose first write raises `error` (a full disk, Ctrl-C)."""

    def __init__(self, f, error):
        self._f, self._error = f, error

    def write(self, data):
        raise self._error

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "Ctrl-C"])
@pytest.mark.parametrize("writer", ["save", "save_weights", "save_weights_h5", "export_onnx"])
def test_a_failed_write_keeps_the_old_file_whole_and_leaves_no_temporary(
        tmp_path, monkeypatch, writer, error):
    if writer == "save_weights_h5":
        pytest.importorskip("h5py", reason="the .weights.h5 format needs h5py (pip install h5py)")
    if writer == "export_onnx":
        pytest.importorskip("onnx", reason="export_onnx needs onnx (pip install onnx)")
    x, y = _data()
    model = _model()
    model.fit(x, y, verbose=0)
    path, write = _writers(model, str(tmp_path))[writer]
    write(path)
    before = open(path, "rb").read()
    model.fit(x, y, verbose=0)   # new weights, so a new file would differ
    real_fdopen = os.fdopen
    monkeypatch.setattr(files_module.os, "fdopen",
                        lambda *a, **k: _FailingFile(real_fdopen(*a, **k), error))
    # before: the .weights.h5 writer turned Ctrl-C into h5py's "File close failed" OSError
    with pytest.raises(type(error)):
        write(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]


def test_saving_onto_a_folder_names_the_folder(tmp_path):
    # before: IsADirectoryError naming adkit's temporary '.tmp-xxxxxxxx-dir' -> 'dir'
    model = _model()
    (tmp_path / "dir").mkdir()
    for write in (model.save, model.save_weights):
        with pytest.raises(IsADirectoryError, match=r"'.*dir': it is a folder"):
            write(str(tmp_path / "dir"))
    assert os.listdir(tmp_path) == ["dir"] and os.listdir(tmp_path / "dir") == []


def test_saving_into_a_folder_without_write_permission_names_the_folder(tmp_path, monkeypatch):
    # root ignores permissions, so the refusal is injected where the temporary is made
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(kwargs["dir"], ".tmp-x"))
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"no permission to create files in folder"):
        _model().save(str(tmp_path / "m.adkit"))
    assert os.listdir(tmp_path) == []


# --- loading what is not a weights file ----------------------------------------------------

def test_loading_from_a_folder_names_it(tmp_path):
    # before: load_weights raised open()'s bare IsADirectoryError
    with pytest.raises(IsADirectoryError, match=r"is a folder.*model\.weights\.h5"):
        _model().load_weights(str(tmp_path))
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a model file"):
        load_model(str(tmp_path))


@pytest.mark.parametrize("content, said", [(b"", r"is empty \(0 bytes\)"),
                                           (os.urandom(64), "is not an HDF5 file"),
                                           (b"\x80\x04\x95" + b"\x00" * 40, "is not an HDF5 file")],
                         ids=["empty", "random bytes", "a pickle"])
def test_a_weights_h5_file_that_is_not_hdf5_says_so(tmp_path, content, said):
    # before: "is not an adkit.nn model file (not a readable zip archive) ... save
    # models with model.save(path)", about a file the user named .weights.h5
    path = tmp_path / "m.weights.h5"
    path.write_bytes(content)
    model = _model()
    model.build((None, 4))
    weights = model.get_weights()
    with pytest.raises(WeightsFileError, match=rf"{said}.*write it again with save_weights"):
        model.load_weights(str(path))
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_makes_its_missing_folder_as_keras_does(tmp_path):
    # before: FileNotFoundError at the end of the first epoch, its training lost
    x, y = _data()
    path = tmp_path / "runs" / "a" / "ckpt-{epoch:02d}.adkit"
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(str(path))])
    assert sorted(os.listdir(tmp_path / "runs" / "a")) == ["ckpt-01.adkit", "ckpt-02.adkit"]
    np.testing.assert_allclose(load_model(str(tmp_path / "runs" / "a" / "ckpt-02.adkit"))
                               .predict(x, verbose=0), model.predict(x, verbose=0))


def test_set_weights_with_a_bad_array_last_changes_no_weight():
    # before: the first arrays were copied in, then NumPy's "Cannot cast array data from
    # dtype('<U32')" stopped it: a model half old, half new
    model = _model()
    model.build((None, 4))
    weights = model.get_weights()
    new = [w + 1 for w in weights[:-1]] + [weights[-1].astype(str)]
    with pytest.raises(TypeError, match=r"set_weights: .*bias holds float32, got an array of <U"):
        model.set_weights(new)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_batch_callback_reads_the_current_weights_while_training_on_an_opencl_device():
    # before: the host copies were brought up to date only at epoch ends, so a callback's
    # get_weights() mid-epoch on device="opencl" silently returned stale weights
    from opencl_support import NO_OPENCL
    if NO_OPENCL:
        pytest.skip(NO_OPENCL)
    x, y = _data(256)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((int(self.model.optimizer.iterations), self.model.get_weights()))
            if batch == 5:
                raise KeyboardInterrupt

    model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)),
                              keras.layers.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="opencl")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0, callbacks=[Record()])
    assert [n for n, _ in seen] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(seen[-1][1], model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(seen[0][1], seen[1][1]))
    host = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(4,)),
                             keras.layers.Dense(3, activation="softmax")], seed=0)
    host.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    host.fit(x[:16 * 6], y[:16 * 6], batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(host.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("length, error, said", [
    (0, ValueError, r"the Empty is empty \(its __len__ is 0\)"),
    (-1, TypeError, r"__len__ must return its number of batches, an int >= 1"),
    ("4", TypeError, r"__len__ must return its number of batches, an int >= 1"),
])
def test_a_sequence_whose_length_is_no_count_of_batches_is_named(length, error, said):
    # before: "ran out of data after 0 of the 0 batches", Python's "__len__() should
    # return >= 0" and "'str' object cannot be interpreted as an integer"
    x, y = _data()

    class Empty(keras.utils.Sequence):
        def __len__(self):
            return length

        def __getitem__(self, i):
            return x[:8], y[:8]

    model = _model()
    for call in (lambda: model.fit(Empty(), verbose=0), lambda: model.predict(Empty(), verbose=0),
                 lambda: model.evaluate(Empty(), verbose=0)):
        with pytest.raises(error, match=said):
            call()
