"""TerminateOnNaN: stop training when the loss stops being finite (on by default in fit)."""

from __future__ import annotations

import warnings

import numpy as np

from .base import Callback


class TerminateOnNaN(Callback):
    """Stop when the loss stops being finite. On by default in fit. The check runs
    before the step's update, so the model keeps the last good weights."""

    def __init__(self) -> None:
        self.stopped_at: tuple[int, int] | None = None

    def check(self, epoch: int, batch: int, loss: float) -> bool:
        """True (and the model told to stop) when `loss` is nan or inf."""
        if np.isfinite(loss):
            return False
        self.stopped_at = (epoch, batch)
        self.model.stop_training = True
        warnings.warn(f"TerminateOnNaN: the loss became {loss} at epoch {epoch + 1}, batch "
                      f"{batch + 1}; training stopped and that step's update was not applied, "
                      "so the weights are the last good ones. Lower the learning rate, clip "
                      "gradients (clipnorm=) or check the data for nan/inf.",
                      RuntimeWarning, stacklevel=2)
        return True
