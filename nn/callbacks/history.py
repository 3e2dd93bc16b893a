"""History: the per-epoch logs of a fit, which `fit` returns."""

from __future__ import annotations

from .base import Callback


class History(Callback):
    """Per-epoch logs: history.history["loss"] is the list of epoch losses."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
