"""`keras.utils.Progbar`: the progress bar custom training loops draw.

Values are averaged as Keras does: a value given at step `current` counts for the
steps since the previous update (`current - seen so far`, at least 1), so the bar
shows the mean per step; names in `stateful_metrics` (or all but those in
`stateless_metrics`) are shown as given, and the finishing update's values too. verbose=1
redraws one line (a new line each time when the stream is not a terminal),
verbose=2 prints one line when the bar finishes, verbose=0 prints nothing.

>>> bar = Progbar(4, verbose=2)
>>> bar.update(1, values=[("loss", 1.0)])
>>> bar.update(3, values=[("loss", 3.0)])   # counts for steps 2 and 3
>>> bar.update(4)  # doctest: +ELLIPSIS
4/4 - ...s - loss: 2.3333
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable

import numpy as np

__all__ = ["Progbar"]


class Progbar:
    """A progress bar with running averages, as Keras's keras.utils.Progbar."""

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1,
                 interval: float = 0.05, stateful_metrics: Iterable[str] | None = None,
                 stateless_metrics: Iterable[str] | None = None,
                 unit_name: str = "step") -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be "
                             "provided: the first lists the names shown as given (the rest "
                             "averaged), the second the names averaged (the rest shown as given)")
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._dynamic_display = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self._values: dict[str, Any] = {}
        self._values_order: list[str] = []
        self._seen_so_far = 0
        self._start = time.time()
        self._last_update = 0.0
        self._prev_width = 0

    def update(self, current: int, values: list[tuple[str, Any]] | None = None,
               finalize: bool | None = None) -> None:
        """Move the bar to step `current`, folding in (name, value) pairs; finalize
        (default: current >= target) ends the line."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            averaged = name in self.stateless_metrics if self.stateless_metrics is not None \
                else name not in self.stateful_metrics
            if not averaged or finalize:
                self._values[name] = [value, 1]
            else:
                steps = max(current - self._seen_so_far, 1)
                if name not in self._values:
                    self._values[name] = [value * steps, steps]
                else:
                    self._values[name][0] += value * steps
                    self._values[name][1] += steps
        self._seen_so_far = current
        now = time.time()
        if self.verbose == 1 and (finalize or now - self._last_update >= self.interval):
            self._draw(current, now, finalize)
        elif self.verbose == 2 and finalize:
            sys.stdout.write(f"{self._count(current)} - {now - self._start:.0f}s"
                             f"{self._metrics()}\n")
            sys.stdout.flush()
        self._last_update = now

    def add(self, n: int, values: list[tuple[str, Any]] | None = None) -> None:
        """Advance the bar by n steps."""
        self.update(self._seen_so_far + n, values)

    def _count(self, current: int) -> str:
        if self.target is None or self.target <= 0:
            return f"{current:7d}/Unknown"
        return f"{current:{len(str(self.target))}d}/{self.target}"

    def _metrics(self) -> str:
        parts = []
        for name in self._values_order:
            total, count = self._values[name]
            mean = float(np.mean(total)) / max(1, count)
            parts.append(f" - {name}: {mean:.4f}" if abs(mean) > 1e-3 else
                         f" - {name}: {mean:.4e}")
        return "".join(parts)

    def _draw(self, current: int, now: float, finalize: bool) -> None:
        line = self._count(current)
        if self.target:
            done = int(self.width * min(current / self.target, 1.0))
            line += " [" + "=" * done + "." * (self.width - done) + "]"
        elapsed = now - self._start
        if self.target and not finalize and current:
            line += f" - ETA: {elapsed / current * (self.target - current):.0f}s"
        else:
            line += f" - {elapsed:.0f}s"
        line += self._metrics()
        if self._dynamic_display:
            pad = " " * max(self._prev_width - len(line), 0)
            sys.stdout.write("\r" + line + pad + ("\n" if finalize else ""))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        self._prev_width = len(line)
