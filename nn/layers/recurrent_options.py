"""The Keras arguments of SimpleRNN, LSTM and GRU that are not the recurrence itself:
their checks, and the dropout masks of a training step.

Keras's recurrent dropout (Gal & Ghahramani 2016) draws ONE mask for the inputs and
one for the recurrent state per call, and uses them at every time step. LSTM and GRU
with implementation=1 (which Keras switches to whenever recurrent_dropout > 0) draw
one mask per gate (LSTM: i, f, c, o; GRU: z, r, h), stacked on a leading axis here;
otherwise one mask serves every gate. The masks come from the step's generator, as
Dropout's do, so a compiled training step draws new ones each step.

>>> import numpy as np
>>> from adkit.nn.layers import Context
>>> masks = dropout_masks(0.5, 0.5, 4, (2, 3), 5, np.float32,
...                       Context(training=True, rng=np.random.default_rng(0)), "LSTM 'l'")
>>> masks.inputs.shape, masks.state.shape
((4, 2, 3), (4, 2, 5))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import backend
from .context import Context


class DropoutMasks(NamedTuple):
    """The masks of one call: inputs (batch, features) and state (batch, units), each
    with a leading gate axis when drawn per gate, or None where that rate is 0."""

    inputs: Any
    state: Any


def rate(value: Any, name: str, who: str) -> float:
    """A dropout rate, checked: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 <= value < 1:
        raise ValueError(f"{who}: {name} must be a number in [0, 1) (the fraction of units "
                         f"to drop), got {value!r}")
    return float(value)


def use_cudnn(value: Any, who: str) -> str | bool:
    """Keras's use_cudnn: "auto" or False run the same code here; True is refused."""
    if value is True:
        raise ValueError(f"{who}: use_cudnn=True asks for NVIDIA's cuDNN, which adkit.nn "
                         "does not have; use use_cudnn='auto' (the default) or False")
    if value != "auto" and value is not False:
        raise ValueError(f"{who}: use_cudnn must be 'auto' or False, got {value!r}")
    return value


def dropout_masks(dropout: float, recurrent_dropout: float, gates: int | None,
                  input_shape: tuple, units: int, dtype: Any, ctx: Context,
                  who: str) -> DropoutMasks | None:
    """The masks for one call of a recurrent layer over inputs of (batch, features) =
    input_shape per step, or None when this pass does not drop (inference, or both
    rates 0). gates: draw one mask per gate (a leading axis of that size), or None
    for one mask shared by the gates."""
    if not ctx.training or (dropout == 0 and recurrent_dropout == 0):
        return None
    rng = ctx.random(who)
    lead = () if gates is None else (gates,)
    draw = backend.get_backend().dropout_mask
    inputs = draw(lead + tuple(input_shape), dropout, rng, dtype) if dropout else None
    state = draw(lead + (input_shape[0], units), recurrent_dropout, rng, dtype) \
        if recurrent_dropout else None
    return DropoutMasks(inputs, state)


def gate_input(value: Any, mask: Any, gate: int) -> Any:
    """value times the mask of one gate (a per-gate mask) or the shared one."""
    if mask is None:
        return value
    return value * (mask[gate] if np.ndim(mask) == 3 else mask)


def project(value: Any, weights: Any, mask: Any, units: int) -> Any:
    """value @ weights with value dropped out first: weights has one block of `units`
    columns per gate, and a per-gate mask drops value differently for each block."""
    if mask is None:
        return value @ weights
    if np.ndim(mask) == 2:
        return (value * mask) @ weights
    blocks = weights.shape[1] // units
    return np.concatenate([(value * mask[g]) @ weights[:, g * units:(g + 1) * units]
                           for g in range(blocks)], axis=1)
