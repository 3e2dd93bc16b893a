"""History: the per-epoch logs of a fit, which `fit` returns."""

from __future__ import annotations

import time

from .base import Callback


class History(Callback):
    """Per-epoch logs: history.history["loss"] is the list of epoch losses. history.history
    holds exactly Keras's keys; the wall-clock seconds of each epoch, which Keras does not
    keep, are in history.epoch_seconds."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.epoch_seconds: list[float] = []
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        self.epoch_seconds.append(time.perf_counter() - self._started)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
