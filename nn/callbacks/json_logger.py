"""JSONLogger: the whole history so far, rewritten atomically after each epoch."""

from __future__ import annotations

import json
import os

from ..files import atomic_write
from .base import Callback


class JSONLogger(Callback):
    """Rewrite a JSON file after each epoch with the whole history so far, atomically."""

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = os.fspath(filename)
        self.records: list[dict] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.records = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.records.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        if self.model is not None and not self.model.is_chief:
            return
        with atomic_write(self.filename) as f:
            f.write(json.dumps({"epochs": self.records}, indent=1))
