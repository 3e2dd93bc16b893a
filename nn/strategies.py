"""How a training loop spreads its work over processes: `SingleProcess` (the
default) or `distributed.DataParallel` (MPI ranks, `compile(distribute="mpi")`).

Both answer the same calls, so the loop in nn/training.py has one code path:
which rows of a batch this process takes (`shard`), how gradients, losses and
layer state are combined (`reduce_gradients`, `sum`, `average_state`), and who
shows progress and writes files (`is_chief`). In a single process each is the
identity.

>>> strategy = get(None)
>>> strategy.shard(10), strategy.sum([1.5]), strategy.is_chief
(slice(0, 10, None), [1.5], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import distributed


class SingleProcess:
    """Training in this process alone: every collective is the identity."""

    rank = 0
    size = 1
    is_chief = True
    threads: int | None = None   # the whole machine: no share to keep to
    #: what the loop is doing, for messages (DataParallel names its collectives with it)
    context = ""

    def setup(self, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        """Nothing to agree on with other processes."""

    def shard(self, n: int) -> slice:
        """All n examples of a batch."""
        return slice(0, n)

    def reduce_gradients(self, grads: list, weight: float) -> list:
        """The gradients as they are (weight is 1: the shard is the whole batch)."""
        return grads

    def reduce_list(self, arrays: list, weight: float) -> list:
        """The arrays as they are."""
        return arrays

    def sum(self, values: list[float], what: str = "") -> list[float]:
        """The values as they are."""
        return list(values)

    def average_state(self, state: dict, weight: float) -> None:
        """Nothing to average."""

    def gather_rows(self, a: Any, what: str = "") -> Any:
        """The rows as they are."""
        return a

    def any(self, flag: bool) -> bool:
        """The flag as it is."""
        return bool(flag)

    def fail(self, error: BaseException) -> None:
        """No other process waits for this one."""


def get(distribute: Any) -> SingleProcess | distributed.DataParallel:
    """The strategy for compile's `distribute`: None (one process), "mpi" or a
    DataParallel instance."""
    return distributed.get(distribute) or SingleProcess()
