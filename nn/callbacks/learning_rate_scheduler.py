"""LearningRateScheduler: the learning rate of each epoch from a function of the epoch."""

from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

from .base import Callback


class LearningRateScheduler(Callback):
    """Before each epoch, set the optimizer's learning rate to `schedule(epoch, lr)`
    (epoch counted from 0, lr the current rate; a one-argument `schedule(epoch)`,
    Keras 2's older form, works too); each epoch's rate is logged as
    "learning_rate", as Keras 3 logs it. verbose=1 prints each change.

    >>> import numpy as np
    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> from adkit.nn.callbacks import LearningRateScheduler
    >>> model = Sequential([Dense(1, input_shape=(2,))], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
    >>> history = model.fit(np.ones((4, 2)), np.ones(4), epochs=3, verbose=0, callbacks=[halve])
    >>> history.history["learning_rate"]
    [0.01, 0.005, 0.0025]
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler needs a function schedule(epoch, lr) -> "
                            f"new lr, got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        current = optimizer.learning_rate
        if callable(current):
            raise ValueError(f"LearningRateScheduler: the optimizer's learning_rate is the "
                             f"schedule {current!r}, which sets the rate every step; use one "
                             "of the two (a float learning_rate with this callback, or the "
                             "schedule alone)")
        try:
            lr = self.schedule(epoch, float(current))
        except TypeError as error:   # Keras 2's schedule(epoch)
            try:
                lr = self.schedule(epoch)
            except TypeError:
                raise error from None
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) \
                or lr < 0:
            raise ValueError(f"LearningRateScheduler: schedule({epoch}, {float(current)}) "
                             f"returned {lr!r}; it must return a finite float >= 0")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.current_learning_rate())
