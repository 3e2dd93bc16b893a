"""ModelCheckpoint: save the model after each epoch, or when it improves."""

from __future__ import annotations

import os

from .monitoring import Monitoring


class ModelCheckpoint(Monitoring):
    """Save the model (atomically) after each epoch, or only when `monitor`
    improves with save_best_only. `filepath` may hold {epoch} and log names,
    e.g. "ckpt-{epoch:02d}-{val_loss:.3f}.adkit"."""

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto") -> None:
        super().__init__(monitor, 0.0, mode)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only

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
        self.model.save(path, include_optimizer=not self.save_weights_only)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")
