"""The text table `summary()` prints for any model, as Keras lays it out.

>>> lines = summary_lines("m", [("Layer (type)", "Param #"), ("d (Dense)", "8")], 8, 0)
>>> lines[0], lines[-3]
('Model: "m"', 'Total params: 8')
"""

from __future__ import annotations

from typing import Sequence


def summary_lines(name: str, rows: Sequence[Sequence[str]], trainable: int,
                  non_trainable: int) -> list[str]:
    """The summary of model `name`: its header row and one row per layer (equal
    lengths), ruled as Keras rules them, then the parameter totals."""
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(rows[0]))]
    rule = "=" * sum(widths)
    lines = [f'Model: "{name}"', rule]
    for i, r in enumerate(rows):
        lines.append("".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        lines.append(rule if i == 0 else "-" * sum(widths))
    lines[-1] = rule
    return lines + [f"Total params: {trainable + non_trainable:,}",
                    f"Trainable params: {trainable:,}", f"Non-trainable params: {non_trainable:,}"]
