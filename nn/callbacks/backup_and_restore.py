"""BackupAndRestore: resume a fit that was interrupted (killed, preempted, Ctrl-C)
where its last backup left it, as Keras's callback of that name.

A backup is the model file `model.save` writes (weights, layer state and optimizer
state: adkit's zip of .npy arrays, no pickle) plus `training_state.json`, which says
where the fit was (the epoch, the batches of it done, the batch-order generator's
state at the start of that epoch) and which model file holds it. The model files
alternate between two names and the JSON is written last, each atomically
(nn/files.atomic_write), so a kill at any moment leaves the previous backup whole.

On the next fit with a callback on the same folder, on_train_begin reads the
backup back: weights and optimizer state are restored, and fit continues at the
saved epoch (and, with save_freq=N, at the saved batch of it, with the same order
of batches), so a run with the same seed ends with the same weights as one that
was never interrupted. Data from a generator restarts where the new generator
starts; arrays and Sequences are read at the right place.
"""

from __future__ import annotations

import json
import os
from ..files import atomic_write
from ..model_file import open_model_file, save_model
from .base import Callback

STATE_FILE = "training_state.json"
MODEL_FILES = ("checkpoint-a.adkit", "checkpoint-b.adkit")
FORMAT = "adkit.nn.BackupAndRestore"


class BackupAndRestore(Callback):
    """Back up the training state to `backup_dir` at every epoch end (save_freq=
    "epoch") or every `save_freq` batches (an int), and restore it when a fit starts
    (see the module docstring). delete_checkpoint: remove the backup once the fit
    ends without being interrupted (finished all epochs, or stopped by a callback).

    >>> import os, tempfile, numpy as np
    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> from adkit.nn.callbacks import BackupAndRestore
    >>> folder = os.path.join(tempfile.mkdtemp(), "backup")
    >>> model = Sequential([Dense(1, input_shape=(2,))], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> _ = model.fit(np.ones((4, 2)), np.ones(4), epochs=2, verbose=0,
    ...               callbacks=[BackupAndRestore(folder)])
    >>> os.path.exists(folder)   # the fit finished: the backup is gone
    False
    """

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int = "epoch",
                 delete_checkpoint: bool = True) -> None:
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir, the folder to keep the "
                             "training state in")
        if save_freq != "epoch" and (isinstance(save_freq, bool)
                                     or not isinstance(save_freq, int) or save_freq <= 0):
            raise ValueError(f"BackupAndRestore save_freq must be 'epoch' or a positive int "
                             f"(batches between backups), got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.delete_checkpoint = save_freq, bool(delete_checkpoint)
        self._batches_since_save = 0
        self._next_file = 0

    @property
    def state_path(self) -> str:
        """The JSON file that says where the last backup left the fit."""
        return os.path.join(self.backup_dir, STATE_FILE)

    # --- restore -------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._batches_since_save = 0
        if not os.path.exists(self.state_path):
            return
        state = self._read_state()
        model_path = os.path.join(self.backup_dir, state["model_file"])
        model = self.model
        with open_model_file(model_path) as f:
            # by position, as load_weights: layer names may differ from the killed run's
            stored = [name for name in f.arrays if not name.startswith("optimizer/")]
            shapes = [tuple(f.arrays[name].shape) for name in stored]
            if shapes != [w.shape for _, w in model.weight_slots()]:
                raise ValueError(f"BackupAndRestore: the backup {model_path!r} is of another "
                                 f"model (its weights have shapes {shapes}); remove "
                                 f"{self.backup_dir!r} or pass another backup_dir")
            weights = [f.read(name) for name in stored]
            optimizer_state = {name[len("optimizer/"):]: f.read(name)
                               for name in f.arrays if name.startswith("optimizer/")}
        model.set_weights(weights)
        if optimizer_state:
            model.optimizer.set_variables(optimizer_state)
        run = model.trainer.run
        run.epoch, run.skip_batches = int(state["epoch"]), int(state["batch"])
        run.epoch_order_state = state["order_state"]
        self._next_file = 1 - MODEL_FILES.index(state["model_file"])

    def _read_state(self) -> dict:
        try:
            with open(self.state_path) as f:
                state = json.load(f)
            if state.get("format") != FORMAT or state["model_file"] not in MODEL_FILES:
                raise ValueError("not a BackupAndRestore state file")
            int(state["epoch"]), int(state["batch"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"BackupAndRestore: cannot read {self.state_path!r} ({e}); "
                             f"remove {self.backup_dir!r} to start afresh") from None
        return state

    # --- back up -------------------------------------------------------------------------
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            run = self.model.trainer.run
            self._save(run.epoch, run.batch, run.epoch_order_state)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            run = self.model.trainer.run
            # the next epoch begins with the order generator as it is now
            self._save(epoch + 1, 0, run.order_rng.bit_generator.state)

    def _save(self, epoch: int, batch: int, order_state: dict | None) -> None:
        self._batches_since_save = 0
        model = self.model
        if not model.is_chief:
            return
        model.trainer.placement.to_host()   # a device's weights, copied back first
        os.makedirs(self.backup_dir, exist_ok=True)
        name = MODEL_FILES[self._next_file]
        save_model(model, os.path.join(self.backup_dir, name), include_optimizer=True)
        state = {"format": FORMAT, "epoch": epoch, "batch": batch, "order_state": order_state,
                 "model_file": name}
        with atomic_write(self.state_path) as f:
            json.dump(state, f)
        self._next_file = 1 - self._next_file

    # --- clean up ------------------------------------------------------------------------
    def on_train_end(self, logs: dict | None = None) -> None:
        run = self.model.trainer.run
        finished = run is not None and (run.epoch >= run.epochs or self.model.stop_training)
        if self.delete_checkpoint and finished and self.model.is_chief:
            self._delete()

    def _delete(self) -> None:
        for name in (STATE_FILE,) + MODEL_FILES:   # the state first: no backup without it
            path = os.path.join(self.backup_dir, name)
            if os.path.exists(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)
        except OSError:   # the folder holds other files, or is gone: leave it
            pass
