"""The default LSTM (tanh, sigmoid gates, no peepholes) as few NumPy operations per step.

`forward` and `backward` are the forward pass and the backpropagation through time
of `LSTM` when its fused operation (implementation=2) meets Keras's default
activations. They compute what `LSTM._step` and `LSTM._step_back` compute, up to
float rounding, but count operations: each one costs about as much Python dispatch
as arithmetic at these sizes (batch 128, 128 units), and under adkit.compile each is
a line of the generated program.

* One tanh gives all four gates: the sigmoid is σ(z) = ½ tanh(½ z) + ½, so the
  gate columns of the kernels and the bias are halved once per call (`_scales`),
  and `tanh(z) * scale + shift` is (i, f, block, o). Halving is exact in binary
  floating point, so this is the same arithmetic as the sigmoid's.
* The bias is folded into the input projection, one matmul for every timestep:
  the input gets a column of ones and the kernel the bias as an extra row. The
  same matmul then gives the bias's cotangent.
* The forward pass keeps, per step, the derivative of the four pre-activations
  times their partners in the chain rule (`slope`), so the backward step is
  dz = [dc, dc, dc, dh] * slope: two operations. The ¼ of the sigmoid's
  derivative (and 1 for tanh's) is `scale ** 2`, applied to the recurrent kernel
  and to the parameter cotangents once per call instead of to dz at every step.
* The parameter cotangents come from one matmul over all timesteps at the end
  (inputs and previous outputs stacked as rows, times dz), not three per step.
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

    inputs: Any       # (features [+ 1 row of ones], steps * batch): column k * batch + b
    outputs: list     # h of each step, transposed (units, batch), in reading order
    steps: list       # (slope, carry, forget gate) of each step, transposed
    scale: np.ndarray  # the pre-activation scale (½ on gate rows, 1 on the block's), a column


@functools.lru_cache(maxsize=32)
def _scales(units: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), columns over the (i, f, block, o) rows: tanh(scale * z) * scale +
    shift is σ on the gate rows and tanh on the block's."""
    scale = np.full((4 * units, 1), 0.5, dtype)
    scale[2 * units:3 * units] = 1
    shift = np.full((4 * units, 1), 0.5, dtype)
    shift[2 * units:3 * units] = 0
    scale.flags.writeable = shift.flags.writeable = False  # shared by every call
    return scale, shift


def forward(x: Any, kernel: Any, recurrent: Any, bias: Any, go_backwards: bool,
            return_sequences: bool, residuals: bool = True) -> tuple[Any, Residuals | None]:
    """(output, residuals for `backward`, or None when residuals=False) of an LSTM over
    x (batch, timesteps, features) with Keras's (i, f, c, o) weight layout.

    The recurrence runs transposed, on (units, batch) arrays: the gates are then
    contiguous row blocks, and OpenBLAS multiplies R^T h^T faster than h R.

    >>> rng = np.random.default_rng(0)
    >>> out, _ = forward(rng.random((2, 5, 3)), rng.random((3, 16)), rng.random((4, 16)),
    ...                  None, go_backwards=False, return_sequences=True)
    >>> out.shape
    (2, 5, 4)
    """
    n, steps = x.shape[0], x.shape[1]
    u = recurrent.shape[0]
    dtype = np.result_type(x.dtype, kernel.dtype)
    scale, shift = _scales(u, dtype)
    inputs = np.transpose(x, (2, 1, 0))  # (features, steps, batch)
    if go_backwards:
        inputs = inputs[:, ::-1]
    if bias is not None:
        inputs = np.concatenate([inputs, np.ones((1, steps, n), dtype)])
        kernel = np.concatenate([kernel, np.reshape(bias, (1, -1))])
    inputs = np.reshape(inputs, (-1, steps * n))
    # every step's input projection, (steps, 4 units, batch): one matmul per step, in one call
    zx = np.matmul(np.transpose(kernel) * scale,
                   np.transpose(np.reshape(inputs, (-1, steps, n)), (1, 0, 2)))
    recurrent = np.transpose(recurrent) * scale
    h = c = None
    outputs, kept = [], []
    for k in range(steps):
        z = zx[k] if h is None else zx[k] + recurrent @ h
        th = np.tanh(z)
        gates = th * scale + shift
        i, f, block, o = gates[:u], gates[u:2 * u], gates[2 * u:3 * u], gates[3 * u:]
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
            kept.append((slope, carry, f))
    out = np.transpose(np.stack(outputs), (2, 0, 1)) if return_sequences else outputs[-1].T
    return out, (Residuals(inputs, outputs, kept, scale) if residuals else None)


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
    inputs, outputs, kept, scale = saved
    steps, n = len(kept), outputs[0].shape[1]
    scale2 = np.reshape(scale * scale, (-1,))  # the chain rule's factor for scale * z
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
    dz = np.concatenate(dzs, axis=1)  # (4 units, steps * batch), columns like inputs'
    grads: list = [None, None, None, None]
    if 0 in wanted:
        dx = np.reshape((kernel * scale2) @ dz, (-1, steps, n))  # (features, steps, batch)
        if go_backwards:
            dx = dx[:, ::-1]
        grads[0] = np.transpose(dx, (2, 1, 0))
    # kernel (and bias) and recurrent kernel in one matmul: inputs and previous outputs
    # stacked as rows, step 0's previous output zero
    blocks = []
    if 1 in wanted or (bias is not None and 3 in wanted):
        blocks.append(inputs)
    if 2 in wanted:
        blocks.append(np.concatenate([np.zeros_like(outputs[0])] + outputs[:-1], axis=1))
    if blocks:
        rows = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        product = (rows @ np.transpose(dz)) * scale2
        features = kernel.shape[0]
        if 1 in wanted:
            grads[1] = product[:features]
        if bias is not None and 3 in wanted:
            grads[3] = product[features]
        if 2 in wanted:
            grads[2] = product[-recurrent.shape[0]:]
    return grads
