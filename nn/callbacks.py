"""Callbacks, Keras names: hooks the training loop calls at epoch and batch ends.

`logs` dicts hold plain floats: "loss", each metric, and "val_"-prefixed ones at
epoch ends when there is validation data.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from typing import Any, Callable

import numpy as np

from .files import atomic_write


class Callback:
    """Base class; override the hooks you need."""

    model: Any = None
    params: dict = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """Per-epoch logs: history.history["loss"] is the list of epoch losses."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


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


def _monitor_mode(monitor: str, mode: str) -> Callable[[float, float], bool]:
    """better(current, best) for a monitored quantity."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        maximise = any(k in monitor for k in ("acc", "auc", "precision", "recall", "f1"))
        mode = "max" if maximise else "min"
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


class _Monitoring(Callback):
    def __init__(self, monitor: str, min_delta: float, mode: str) -> None:
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self._better = _monitor_mode(monitor, mode)
        self.best: float | None = None

    def _value(self, logs: dict | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} monitors {self.monitor!r}, which is not in the "
                          f"logs (available: {', '.join(logs or {}) or 'none'}); pass "
                          "validation_data for val_ quantities", RuntimeWarning, stacklevel=3)
        return value

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        # a minimised quantity must drop by min_delta, a maximised one rise by it
        shifted = value + self.min_delta if self._better(-1.0, 0.0) else value - self.min_delta
        return self._better(shifted, self.best)


class EarlyStopping(_Monitoring):
    """Stop when `monitor` has not improved by min_delta for `patience` epochs
    (patience=0 stops at the first epoch without improvement, as in Keras)."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__(monitor, min_delta, mode)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = self.baseline, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping "
                  f"(best {self.monitor} {self.best:.4g} at epoch {self.best_epoch + 1})")


class ModelCheckpoint(_Monitoring):
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


class ReduceLROnPlateau(_Monitoring):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau factor must be in (0, 1), got {factor!r}")
        super().__init__(monitor, min_delta, mode)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.cooldown_left, self.best = 0, 0, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._value(logs)
        if value is None:
            return
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.current_learning_rate()
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        if self.cooldown_left > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.model.optimizer
            if callable(opt.learning_rate):
                raise TypeError("ReduceLROnPlateau cannot change a learning-rate schedule; "
                                "use a float learning rate with it")
            old = float(opt.learning_rate)
            new = max(old * self.factor, self.min_lr)
            if new < old:
                opt.learning_rate = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau learning rate {old:.3g} -> {new:.3g}")
            self.cooldown_left, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Append one CSV row per epoch (epoch and every log), flushed each epoch."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._keys: list[str] | None = None

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
            self._writer = csv.DictWriter(self._file, ["epoch"] + self._keys,
                                          delimiter=self.separator, extrasaction="ignore")
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()


class JSONLogger(Callback):
    """Rewrite a JSON file after each epoch with the whole history so far, atomically."""

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = os.fspath(filename)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.records: list[dict] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.records.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        if self.model is not None and not self.model.is_chief:
            return
        with atomic_write(self.filename) as f:
            f.write(json.dumps({"epochs": self.records}, indent=1))


class LambdaCallback(Callback):
    """A callback from plain functions: LambdaCallback(on_epoch_end=lambda e, logs: ...)."""

    def __init__(self, **hooks: Callable) -> None:
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class CallbackList:
    """Calls every callback in turn."""

    def __init__(self, callbacks: list[Callback], model: Any, params: dict) -> None:
        self.callbacks = callbacks
        for c in callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be adkit.nn.callbacks.Callback instances, "
                                f"got {type(c).__name__}")
            c.set_model(model)
            c.set_params(params)

    def __getattr__(self, hook: str) -> Callable:
        def call_all(*args: Any) -> None:
            for c in self.callbacks:
                getattr(c, hook)(*args)
        return call_all


from .summaries import TensorBoard  # noqa: E402,F401  (its own module; Keras users look here)
