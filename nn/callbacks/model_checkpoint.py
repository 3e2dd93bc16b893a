"""ModelCheckpoint: save the model after each epoch, or when it improves."""

from __future__ import annotations

import os

from .monitoring import Monitoring


class ModelCheckpoint(Monitoring):
    """Save the model (atomically) after each epoch, or only when `monitor`
    improves with save_best_only. `filepath` may hold {epoch} and log names,
    e.g. "ckpt-{epoch:02d}-{val_loss:.3f}.keras". save_weights_only writes what
    model.save_weights writes (Keras 3's layout for "*.weights.h5");
    initial_value_threshold: save only once `monitor` beats it (Keras 3's)."""

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, 0.0, mode)
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: save_freq={save_freq!r} is not supported; "
                             "checkpoints are written at epoch ends (save_freq='epoch')")
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.initial_value_threshold = initial_value_threshold

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.initial_value_threshold is not None:
            self.best = float(self.initial_value_threshold)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not self._improved(value):
                return
            self.best = value
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint filepath {self.filepath!r} names {e}, which is "
                             f"not among epoch and the logs ({', '.join(logs)})") from None
        folder = os.path.dirname(path)
        if folder:   # as Keras 3: a checkpoint folder that is missing is made, not an
            os.makedirs(folder, exist_ok=True)   # error after the first epoch's training
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")
