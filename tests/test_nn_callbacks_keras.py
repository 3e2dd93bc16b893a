"""Keras's LearningRateScheduler and BackupAndRestore callbacks, and validation_data
handed to callbacks (TensorBoard's histograms without histogram_data).

BackupAndRestore is tested as it is used: a training process is killed with
SIGKILL in the middle of fit, a new process resumes from the backup, and the final
weights equal those of a run that was never interrupted."""

import json
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import adkit
from adkit.nn import Sequential
from adkit.nn.callbacks import (BackupAndRestore, Callback, LearningRateScheduler,
                                TensorBoard)
from adkit.nn.callbacks.summaries import read_summaries
from adkit.nn.layers import Dense, Dropout


def regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]


def linear(optimizer="sgd"):
    model = Sequential([Dense(1, input_shape=(3,))], seed=0)
    model.compile(optimizer=optimizer, loss="mse")
    return model


# --- LearningRateScheduler -------------------------------------------------------------

def test_the_schedule_sets_each_epochs_rate_and_history_logs_it():
    x, y = regression()
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return 0.1 / (epoch + 1)

    model = linear()
    history = model.fit(x, y, batch_size=40, epochs=3, verbose=0,
                        callbacks=[LearningRateScheduler(schedule)])
    assert seen == [(0, 0.01), (1, 0.1), (2, 0.05)]
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    # the rate was used: one full-batch SGD step per epoch with those rates, by hand
    w = linear().get_weights()
    kernel, bias = (a.astype(np.float64) for a in w)
    for lr in (0.1, 0.05, 0.1 / 3):
        err = x @ kernel + bias - y
        kernel, bias = kernel - lr * 2 * x.T @ err / 40, bias - lr * 2 * err.mean(0)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-5)


def test_a_one_argument_schedule_and_verbose_output(capsys):
    model = linear()
    x, y = regression()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(
        lambda epoch: 0.5 ** epoch * 0.01, verbose=1)])
    out = capsys.readouterr().out
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.005." in out
    assert model.optimizer.learning_rate == pytest.approx(0.005)


@pytest.mark.parametrize("result", [None, "0.1", float("nan"), -1.0])
def test_a_schedule_returning_no_rate_is_refused(result):
    x, y = regression()
    with pytest.raises(ValueError, match="must return a finite float >= 0"):
        linear().fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: result)])


def test_a_scheduler_on_a_scheduled_optimizer_is_refused():
    from adkit.nn import optimizers, schedules
    model = linear(optimizers.SGD(schedules.StepDecay(0.1, 1, 0.5)))
    x, y = regression()
    with pytest.raises(ValueError, match="use one of the two"):
        model.fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: lr)])


# --- BackupAndRestore ---------------------------------------------------------------------

TRAINING = textwrap.dedent('''
    import os, signal, sys
    import numpy as np
    from adkit.nn import Sequential
    from adkit.nn.callbacks import BackupAndRestore, Callback
    from adkit.nn.layers import Dense, Dropout

    backup, out, save_freq, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    kill_epoch, kill_batch = (int(v) for v in kill_at.split(","))

    class KillMidFit(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if (self.model.trainer.run.epoch, batch) == (kill_epoch, kill_batch):
                os.kill(os.getpid(), signal.SIGKILL)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dropout(0.3),
                        Dense(3, activation="softmax")], seed=7)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callbacks = [BackupAndRestore(backup, save_freq=save_freq), KillMidFit()]
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=callbacks)
    np.savez(out, *model.get_weights(), epochs=np.array(history.epoch))
''')


def train(tmp_path, save_freq, kill_at, backup="backup"):
    script = tmp_path / "train.py"
    script.write_text(TRAINING)
    out = tmp_path / "weights.npz"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / backup), str(out),
                           str(save_freq), kill_at], capture_output=True, text=True,
                          timeout=300)
    return done, out


def final_weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: (len(k), k)) if k != "epochs"], \
            f["epochs"].tolist()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    done, out = train(folder, "epoch", "-1,-1")
    assert done.returncode == 0, done.stderr
    assert not (folder / "backup").exists()   # deleted once the fit finished
    return final_weights(out)[0]


@pytest.mark.parametrize("save_freq, kill_at, resumed_epochs", [
    ("epoch", "2,3", [2, 3]),   # killed in epoch 3: epochs 1 and 2 were backed up
    # 6 batches an epoch, a backup every 4: after batch 4 of epoch 1 and batch 2 of epoch 2;
    # killed after batch 5 of epoch 2, so the fit resumes at its batch 3
    (4, "1,4", [1, 2, 3]),
])
def test_a_killed_fit_resumes_to_the_uninterrupted_weights(tmp_path, uninterrupted, save_freq,
                                                            kill_at, resumed_epochs):
    done, out = train(tmp_path, save_freq, kill_at)
    assert done.returncode == -signal.SIGKILL, done.stderr
    state = json.loads((tmp_path / "backup" / "training_state.json").read_text())
    epoch = int(kill_at.split(",")[0])
    assert (state["epoch"], state["batch"]) == ((epoch, 0) if save_freq == "epoch" else (1, 2))
    done, out = train(tmp_path, save_freq, "-1,-1")   # the same command, run again
    assert done.returncode == 0, done.stderr
    weights, epochs = final_weights(out)
    assert epochs == resumed_epochs
    for got, want in zip(weights, uninterrupted):
        np.testing.assert_array_equal(got, want)
    assert not (tmp_path / "backup").exists()


def test_an_exception_keeps_the_backup_and_delete_checkpoint_false_keeps_it_too(tmp_path):
    x, y = regression()
    model = linear()

    class Fail(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    backup = tmp_path / "b"
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[BackupAndRestore(backup), Fail()])
    assert json.loads((backup / "training_state.json").read_text())["epoch"] == 2
    kept = tmp_path / "kept"
    linear().fit(x, y, epochs=2, verbose=0,
                 callbacks=[BackupAndRestore(kept, delete_checkpoint=False)])
    assert json.loads((kept / "training_state.json").read_text())["epoch"] == 2
    # a later fit restores the finished state and has no epoch left to run
    again = linear()
    history = again.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(kept)])
    assert history.epoch == []
    assert again.optimizer.iterations == 4


def test_bad_arguments_and_a_foreign_backup_are_refused(tmp_path):
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive int"):
        BackupAndRestore(tmp_path, save_freq=0)
    (tmp_path / "training_state.json").write_text("{not json")
    x, y = regression()
    with pytest.raises(ValueError, match="remove .* to start afresh"):
        linear().fit(x, y, verbose=0, callbacks=[BackupAndRestore(tmp_path)])


def test_backups_are_model_files_without_pickles(tmp_path):
    import zipfile
    x, y = regression()
    linear("adam").fit(x, y, epochs=1, verbose=0,
                       callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    state = json.loads((tmp_path / "training_state.json").read_text())
    with zipfile.ZipFile(tmp_path / state["model_file"]) as z:
        names = z.namelist()
        assert any(n.startswith("optimizer/") for n in names)
        for n in names:
            if n.endswith(".npy"):
                np.load(z.open(n), allow_pickle=False)


# --- validation_data for callbacks ----------------------------------------------------

def test_callbacks_get_validation_data_and_tensorboard_uses_it(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 3, 64)
    xv, yv = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dropout(0.2),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    board = TensorBoard(tmp_path, histogram_samples=16, bins=10, writer="json",
                        write_png=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # no "has no histogram_data"
        model.fit(x, y, epochs=1, verbose=0, validation_data=(xv, yv), callbacks=[board])
    held_x, held_y, held_w = board.validation_data
    np.testing.assert_array_equal(held_x, xv)
    assert held_w is None
    grads = adkit.grad(lambda p: model.loss_fn(p, xv[:16], yv[:16], None, False)[0])(
        model.params)
    hists = read_summaries(tmp_path)[-1]["histograms"]
    layer = model.layers[0].name
    counts = np.histogram(grads[layer]["kernel"].astype(np.float64), 10)[0]
    assert hists[f"gradients/{layer}/kernel"]["counts"] == counts.tolist()
    assert hists[f"activations/{layer}"]["size"] == 16 * 8


def test_keras_2_batch_hooks_are_called_for_training_batches():
    from adkit.nn.callbacks import LambdaCallback

    class LossHistory(Callback):
        def on_train_begin(self, logs=None):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs=None):
            self.per_batch_losses.append(logs.get("loss"))

    began = []
    x, y = regression(40)
    model = Sequential([Dense(1, input_shape=(3,))], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    history_cb = LossHistory()
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, shuffle=False,
              callbacks=[history_cb,
                         LambdaCallback(on_batch_begin=lambda b, logs: began.append(b))])
    assert len(history_cb.per_batch_losses) == 8 and began == [0, 1, 2, 3] * 2
    assert all(np.isfinite(history_cb.per_batch_losses))
