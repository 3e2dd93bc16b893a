"""CSVLogger: one CSV row per epoch."""

from __future__ import annotations

import csv
import os
from typing import IO

from .base import Callback


class CSVLogger(Callback):
    """Append one CSV row per epoch (epoch and every log), flushed each epoch."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._keys: list[str] | None = None
        self._file: IO | None = None          # open from on_train_begin to on_train_end
        self._writer: csv.DictWriter | None = None
        self._header_written = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._file = None
        if self.model is not None and not self.model.is_chief:
            return  # data-parallel training: rank 0 writes the log
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._header_written = bool(exists)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._file is None:
            return
        if self._writer is None:
            self._keys = sorted(logs)
            # as Keras: validation columns from the start, even when the first epochs
            # (validation_freq > 1) or the whole fit have no validation ("NA" then)
            if not any(k.startswith("val_") for k in self._keys):
                self._keys += [f"val_{k}" for k in self._keys]
            self._writer = csv.DictWriter(self._file, ["epoch"] + self._keys,
                                          delimiter=self.separator, extrasaction="ignore")
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
