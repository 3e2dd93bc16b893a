"""The default LSTM (tanh, sigmoid gates, no peepholes) as few NumPy operations per step.

`forward` and `backward` are the forward pass and the backpropagation through time
of `LSTM` when its fused operation (implementation=2) meets Keras's default
activations. They compute what `LSTM._step` and `LSTM._step_back` compute, up to
float rounding, in about half the NumPy calls and memory traffic: at the sizes of
a typical model (batch 128, 128 units) each call costs microseconds of dispatch and
allocation besides its arithmetic, and under adkit.compile each is a line of the
generated program (the LSTM's training step went from ~1,650 to ~940 statements).
This differentiable form runs when a derivative is traced on the values (a
Hessian, grad of grad, forward mode); a first-order gradient, eager or compiled,
runs the same arithmetic as two opaque operations (lstm_kernel.py: ~100
statements for the whole training step).

* One tanh gives all four gates: the sigmoid is σ(z) = ½ tanh(½ z) + ½, so the
  gate columns of the kernels and the bias are halved once per call (`_scale`),
  and `tanh(z) * ½ + ½` on the gate rows gives i, f and o. Halving is exact in binary
  floating point, so this is the same arithmetic as the sigmoid's.
* The recurrence runs transposed, on (units, batch) arrays, and each step is ONE
  matmul: z = W^T [h; x_t; 1] with W = [recurrent kernel; kernel; bias], so the
  input projection and the bias come with the recurrent product (OpenBLAS does
  that faster than h R alone plus an add), and the gates are contiguous row
  blocks.
* The forward pass keeps, per step, the derivative of the four pre-activations
  times their partners in the chain rule (`slope`), so the backward step is
  dz = [dc, dc, dc, dh] * slope: two operations. The ¼ of the sigmoid's
  derivative (and 1 for tanh's) is `scale ** 2`, applied to the recurrent kernel
  and to the parameter cotangents once per call instead of to dz at every step.
* The parameter cotangents come from one matmul over all timesteps at the end,
  the stacked [h; x_t; 1] of every step times dz, not three per step.
* Step 0 starts from a zero state, so it has no recurrent matmul and its
  backward step none either.

Everything is NumPy without in-place writes, so the backward pass is itself
differentiable (forward mode transposes it; higher orders trace it).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np


class Residuals(NamedTuple):
    """What `backward` needs from `forward`."""

    operands: list     # [h_prev; x_t (; 1)] of each step, (units + features (+ 1), batch)
    steps: list        # (slope, carry, forget gate) of each step, transposed
    scale: np.ndarray  # the pre-activation scale (½ on gate rows, 1 on the block's)


@functools.lru_cache(maxsize=32)
def _scale(units: int, dtype: np.dtype) -> np.ndarray:
    """The pre-activation scale over the (i, f, block, o) columns: ½ on the gates', 1 on
    the block's, so that tanh(scale * z) * ½ + ½ is σ(z) on the gates."""
    scale = np.full(4 * units, 0.5, dtype)
    scale[2 * units:3 * units] = 1
    scale.flags.writeable = False  # shared by every call
    return scale


def forward(x: Any, kernel: Any, recurrent: Any, bias: Any, go_backwards: bool,
            return_sequences: bool, residuals: bool = True) -> tuple[Any, Residuals | None]:
    """(output, residuals for `backward`, or None when residuals=False) of an LSTM over
    x (batch, timesteps, features) with Keras's (i, f, c, o) weight layout.

    >>> rng = np.random.default_rng(0)
    >>> out, _ = forward(rng.random((2, 5, 3)), rng.random((3, 16)), rng.random((4, 16)),
    ...                  None, go_backwards=False, return_sequences=True)
    >>> out.shape
    (2, 5, 4)
    """
    n, steps = x.shape[0], x.shape[1]
    u = recurrent.shape[0]
    dtype = np.result_type(x.dtype, kernel.dtype)
    scale = _scale(u, dtype)
    inputs = np.transpose(x, (1, 2, 0))  # (steps, features, batch)
    if go_backwards:
        inputs = inputs[::-1]
    weights = [recurrent, kernel]
    if bias is not None:
        inputs = np.concatenate([inputs, np.ones((steps, 1, n), dtype)], axis=1)
        weights.append(np.reshape(bias, (1, -1)))
    weights = np.transpose(np.concatenate(weights) * scale)  # (4 units, units + features...)
    h = c = None
    outputs, operands, kept = [], [], []
    for k in range(steps):
        if h is None:  # the state starts at zero
            z = weights[:, u:] @ inputs[k]
            operand = np.concatenate([np.zeros((u, n), dtype), inputs[k]]) if residuals else None
        else:
            operand = np.concatenate([h, inputs[k]])
            z = weights @ operand
        th = np.tanh(z)
        # σ on the gate rows by scalars: a (4 units, 1) column would broadcast row by row
        i_f = th[:2 * u] * 0.5 + 0.5
        i, f, block, o = i_f[:u], i_f[u:], th[2 * u:3 * u], th[3 * u:] * 0.5 + 0.5
        c_prev = c
        c = i * block if c_prev is None else i * block + f * c_prev
        squashed = np.tanh(c)
        h = o * squashed
        outputs.append(h)
        if residuals:
            if c_prev is None:
                c_prev = np.zeros_like(c)
            # d(tanh(scale z))/d(scale z) times what each pre-activation multiplies in c and h
            slope = np.concatenate([block, c_prev, i, squashed]) * (1 - th * th)
            carry = o - h * squashed  # dc/dc_prev's path through h: o (1 - tanh(c)^2)
            operands.append(operand)
            kept.append((slope, carry, f))
    out = np.transpose(np.stack(outputs), (2, 0, 1)) if return_sequences else outputs[-1].T
    return out, (Residuals(operands, kept, scale) if residuals else None)


def backward(saved: Residuals, g: Any, kernel: Any, recurrent: Any, bias: Any,
             go_backwards: bool, return_sequences: bool, wanted: set) -> list:
    """Cotangents of (x, kernel, recurrent_kernel, bias) from the output's cotangent g;
    each only if its argument number is in wanted (else None).

    >>> rng = np.random.default_rng(0)
    >>> x, k, r = rng.random((2, 5, 3)), rng.random((3, 16)), rng.random((4, 16))
    >>> out, saved = forward(x, k, r, None, False, False)
    >>> dx, dk, dr, db = backward(saved, np.ones_like(out), k, r, None, False, False, {0, 1, 2})
    >>> dx.shape, dk.shape, dr.shape, db
    ((2, 5, 3), (3, 16), (4, 16), None)
    """
    operands, kept, scale = saved
    steps, n = len(kept), operands[0].shape[1]
    scale2 = scale * scale  # the chain rule's factor for scale * z
    recurrent_back = recurrent * scale2
    g = np.transpose(g, (1, 2, 0) if return_sequences else (1, 0))  # (steps,) units, batch
    dh = g[-1] if return_sequences else g
    dc = None
    dzs = [None] * steps
    for k in range(steps - 1, -1, -1):
        slope, carry, f = kept[k]
        dc = dh * carry if dc is None else dc + dh * carry
        dz = np.concatenate([dc, dc, dc, dh]) * slope
        dzs[k] = dz
        if k:
            dh = recurrent_back @ dz
            if return_sequences:
                dh = dh + g[k - 1]
            dc = dc * f
    dz = np.concatenate(dzs, axis=1)  # (4 units, steps * batch)
    grads: list = [None, None, None, None]
    if 0 in wanted:
        dx = np.reshape((kernel * scale2) @ dz, (-1, steps, n))  # (features, steps, batch)
        if go_backwards:
            dx = dx[:, ::-1]
        grads[0] = np.transpose(dx, (2, 1, 0))
    if wanted & {1, 2, 3}:  # the rows of W = [recurrent; kernel; bias], in one matmul
        product = (np.concatenate(operands, axis=1) @ np.transpose(dz)) * scale2
        u, features = recurrent.shape[0], kernel.shape[0]
        if 2 in wanted:
            grads[2] = product[:u]
        if 1 in wanted:
            grads[1] = product[u:u + features]
        if bias is not None and 3 in wanted:
            grads[3] = product[u + features]
    return grads
