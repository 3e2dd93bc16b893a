"""What a model with several inputs or outputs needs beside a single-array model:
batches of several arrays indexed together (`Rows`), per-output arguments of
compile (a value, a list, or a dict by output name: `per_output`), and per-output
entries in the logs (`OutputLoss`, `OutputMetric`, named as Keras names them:
`dense_1_loss`, `dense_1_accuracy`).

>>> rows = Rows([np.arange(4), np.arange(8).reshape(4, 2)])
>>> len(rows), [a.tolist() for a in rows[1:3].arrays]
(4, [[1, 2], [[2, 3], [4, 5]]])
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .losses import masked_weights, weighted_mean


class Rows:
    """Several arrays with the same number of rows (examples), sliced and indexed
    together: what the training loop batches for a model with several inputs or
    outputs."""

    def __init__(self, arrays: list) -> None:
        self.arrays = list(arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, rows: Any) -> "Rows":
        return Rows([a[rows] for a in self.arrays])

    def __repr__(self) -> str:
        return f"Rows({[getattr(a, 'shape', None) for a in self.arrays]})"


def per_output(value: Any, names: list[str], what: str, default: Any = None) -> list:
    """compile's `value` for each output: one value for every output, a list (one per
    output, in order) or a dict by output name (missing names get `default`)."""
    n = len(names)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"compile {what}: {unknown} name no output of the model; its "
                             f"outputs are {names}")
        return [value.get(k, default) for k in names]
    if isinstance(value, (list, tuple)) and n > 1:
        if len(value) != n:
            raise ValueError(f"compile {what}: got {len(value)} entries for the model's {n} "
                             f"outputs {names}; give one per output, or a dict by name")
        return list(value)
    if isinstance(value, (list, tuple)) and what == "loss_weights":
        if len(value) != 1:
            raise ValueError(f"compile loss_weights: got {len(value)} for the model's one "
                             "output")
        return list(value)
    return [value if value is not None else default] * n


class OutputLoss:
    """One output's loss, averaged over the examples seen: the `<output>_loss` entry of
    a multi-output model's logs (without weight penalties or loss weights, as Keras)."""

    def __init__(self, loss: Callable, index: int, name: str) -> None:
        self.loss, self.index, self.name = loss, index, name
        self.reset_state()

    #: compiled-metric updates hand it its output's Keras mask (metrics.update_compiled)
    takes_mask = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                     mask: Any = None) -> None:
        per_example = np.asarray(self.loss(y_true.arrays[self.index], y_pred[self.index]))
        # the batch's loss as the training loss weighs it (masked steps out), counted over
        # its entries
        weights = masked_weights(mask, per_example, sample_weight)
        self.total += float(weighted_mean(per_example, weights)) * per_example.size
        self.count += per_example.size

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0


class OutputMetric:
    """A metric on one output of a multi-output model, named `<output>_<metric>`."""

    def __init__(self, metric: Any, index: int, name: str) -> None:
        self.metric, self.index, self.name = metric, index, name

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if sample_weight is None:
            self.metric.update_state(y_true.arrays[self.index], y_pred[self.index])
        else:
            self.metric.update_state(y_true.arrays[self.index], y_pred[self.index],
                                     sample_weight=sample_weight)

    def result(self) -> float:
        return self.metric.result()

    def reset_state(self) -> None:
        self.metric.reset_state()

