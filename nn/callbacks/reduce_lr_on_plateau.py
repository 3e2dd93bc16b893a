"""ReduceLROnPlateau: lower the learning rate when a monitored quantity stalls."""

from __future__ import annotations

from .monitoring import Monitoring


class ReduceLROnPlateau(Monitoring):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau factor must be in (0, 1), got {factor!r}")
        super().__init__(monitor, min_delta, mode)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.on_train_begin()   # the counters, reset again by every fit

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
