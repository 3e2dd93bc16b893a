"""The default LSTM's forward and backward pass as two opaque operations on plain arrays.

fused_lstm.py writes the default LSTM (tanh, sigmoid gates, no peepholes) as
NumPy code without in-place writes, so that adkit can differentiate it again.
That is needed only when a derivative trace is on its values (a Hessian, grad
of grad, forward mode). For the common case, a first-order gradient in an eager
or compiled training step, this module runs the same arithmetic as two
primitives whose bodies only ever see plain arrays:

* `lstm_forward(x, kernel, recurrent_kernel, bias)` -> [output, residuals],
  and `lstm_output(...)`, the output alone (inference);
* `lstm_backward(residuals, g, kernel, recurrent_kernel, bias)` -> [dx, dkernel,
  drecurrent_kernel, dbias].

Under adkit.compile each is ONE statement of the generated program (instead of
~16 per timestep), and `part` takes an entry of their results. The bodies write
into preallocated arrays (the operands [h; x_t; 1] and the per-step residuals of
all timesteps, the cotangents of the pre-activations), and split the batch over
the NumPy backend's threads (nn/numpy_backend.py `_by_images`, the BLAS held to
one thread meanwhile): every sample's recurrence is independent, the parameter
cotangents are sums over the parts. On 2 cores, batch 128 of 28 steps and 128
units (float32), the forward and backward pass of one batch took 13.4 ms split in
two, against 16.9-22 ms on the whole batch with a 2-threaded BLAS and 22 ms on one
thread (min of 10, with the second core idle; with it busy the split gains
nothing). The residuals are kept per part, so the backward pass splits the batch as
its forward pass did; a part works on contiguous arrays of its own.

The arithmetic is fused_lstm's (see its docstring: one tanh for all four gates
through σ(z) = ½ tanh(½ z) + ½, the recurrence transposed with one matmul per step,
the parameter cotangents in one matmul over all timesteps). Splitting the batch
changes only the order in which the parameter cotangents are summed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import adkit
from adkit import primitive, stop_gradient

from ..numpy_backend import _by_images
from .fused_lstm import _scale

__all__ = ["lstm_forward", "lstm_output", "lstm_backward", "part", "Saved", "underived"]


class Saved(NamedTuple):
    """What LSTM's fused forward rule keeps when it ran lstm_forward: that call's
    residuals (a plain list of parts, or the value adkit.compile stages for it)."""

    residuals: Any


def underived(*values: Any) -> bool:
    """Whether no derivative is traced on any of these values: each is a plain array
    (or None), or a value adkit.compile stages (which stop_gradient leaves as it is).
    Only then may the opaque primitives run; under a derivative trace (a Hessian,
    grad of grad, forward mode) fused_lstm's differentiable code must.

    >>> underived(np.ones(2), None)
    True
    >>> adkit.grad(lambda x: x * underived(x))(2.0)   # x is traced here: False
    0.0
    """
    return all(v is None or type(v) is np.ndarray or stop_gradient(v) is v for v in values)


class _Part(NamedTuple):
    """One part of the batch's residuals: rows start:stop of the batch."""

    start: int
    stop: int
    operands: np.ndarray  # (units + features (+ 1), steps, part): [h_prev; x_t (; 1)]
    kept: np.ndarray      # (steps, 6 units, part): slope (4 units), carry, forget gate


def _weights(kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray | None,
             dtype: np.dtype) -> np.ndarray:
    """W^T = ([recurrent; kernel; bias] * scale)^T, (4 units, units + features (+ 1))."""
    rows = [recurrent, kernel] if bias is None else [recurrent, kernel, bias[None]]
    return np.transpose(np.concatenate(rows).astype(dtype, copy=False)
                        * _scale(recurrent.shape[0], dtype))


def _work_bytes(x: np.ndarray, units: int, dtype: np.dtype) -> int:
    """Bytes of operands and residuals of a whole batch: how much work is worth threads."""
    n, steps, features = x.shape
    return n * steps * (7 * units + features + 1) * dtype.itemsize


def _run_forward(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray,
                 bias: np.ndarray | None, go_backwards: bool, return_sequences: bool,
                 keep: bool) -> tuple[np.ndarray, list]:
    """(output, [_Part per part of the batch] or [] when keep is False)."""
    n, steps = x.shape[0], x.shape[1]
    units = recurrent.shape[0]
    dtype = np.result_type(x.dtype, kernel.dtype)
    weights = _weights(kernel, recurrent, bias, dtype)
    out = np.empty((n, steps, units) if return_sequences else (n, units), dtype)

    blocks = max(n // MIN_PART_ROWS, 1)   # a part has whole blocks of rows

    def run(first: int, end: int) -> _Part | None:
        start, stop = n * first // blocks, n * end // blocks
        operands, kept = _forward_part(x[start:stop], weights, units, bias is not None,
                                       go_backwards, out[start:stop], keep)
        return _Part(start, stop, operands, kept) if keep else None

    parts = _by_images(blocks, _work_bytes(x, units, dtype), run)
    return out, parts if keep else []


#: the fewest rows of the batch a thread gets: each NumPy call of the time loop works on
#: (units, rows) arrays, and a call too short does not pay the GIL hand-off between
#: threads (at 64 rows a part, 128 units, two threads ran the forward pass 1.6x faster
#: than one; at 16 rows a call is ~2 us of arithmetic beside ~1 us of dispatch)
MIN_PART_ROWS = 32
#: timesteps whose backward-pass factors are computed together (see _forward_part)
CHUNK_STEPS = 4


def _forward_part(x: np.ndarray, weights: np.ndarray, u: int, has_bias: bool,
                  go_backwards: bool, out: np.ndarray, keep: bool) -> tuple:
    """Run the recurrence on x (part, steps, features), writing the output into out;
    (operands, kept) for the backward pass.

    The time loop does only what the recurrence needs, nine NumPy calls a step: each
    call holds the GIL for its dispatch, and on two threads many small calls measured
    slower than on one. The tanh of the pre-activations of CHUNK_STEPS steps at a time
    stay in a buffer from which `_residuals` computes the backward pass's factors of
    those steps in a few calls, while they are still in cache (over the whole sequence
    at once, 4 MB per part, the same calls took twice as long)."""
    n, steps, features = x.shape
    dtype = weights.dtype
    operands = np.empty((u + features + has_bias, steps, n), dtype)
    inputs = np.transpose(x, (2, 1, 0))  # (features, steps, part)
    operands[u:u + features] = inputs[:, ::-1] if go_backwards else inputs
    if has_bias:
        operands[u + features] = 1
    operands[:u, 0] = 0  # the state starts at zero
    chunk = CHUNK_STEPS if keep else 1
    th_chunk = np.empty((chunk, 4 * u, n), dtype)    # tanh(scale z) of the chunk's steps
    c_all = np.empty((steps, u, n), dtype)           # the cell states
    squashed_all = np.empty((steps, u, n), dtype)    # tanh(c)
    kept = np.empty((steps, 6 * u, n), dtype) if keep else None
    gates = np.empty((4 * u, n), dtype)   # σ on the gate rows (the block's rows unused)
    scratch = np.empty((u, n), dtype)
    h = np.empty((u, n), dtype)
    for k in range(steps):
        th = th_chunk[k % chunk]
        if k == 0:  # zero state: no recurrent product
            np.matmul(weights[:, u:], operands[u:, 0], out=th)
        else:
            np.matmul(weights, operands[:, k], out=th)
        np.tanh(th, out=th)
        np.multiply(th, 0.5, out=gates)
        gates += 0.5
        i, f, block, o = gates[:u], gates[u:2 * u], th[2 * u:3 * u], gates[3 * u:]
        c = c_all[k]
        np.multiply(i, block, out=c)
        if k:
            np.multiply(f, c_all[k - 1], out=scratch)
            c += scratch
        np.tanh(c, out=squashed_all[k])
        np.multiply(o, squashed_all[k], out=operands[:u, k + 1] if k + 1 < steps else h)
        if keep and (k % chunk == chunk - 1 or k + 1 == steps):
            first = k - k % chunk
            _residuals(th_chunk[:k + 1 - first], c_all[first - 1] if first else None,
                       c_all[first:k + 1], squashed_all[first:k + 1], kept[first:k + 1])
    if out.ndim == 3:   # the sequence: h of each step is in the next step's operand
        out[:, :steps - 1] = np.transpose(operands[:u, 1:], (2, 1, 0))
        out[:, -1] = h.T
    else:
        out[...] = h.T
    return operands, kept


def _residuals(th: np.ndarray, c_before: np.ndarray | None, c: np.ndarray,
               squashed: np.ndarray, kept: np.ndarray) -> None:
    """Write into kept (steps, 6 units, part), per step: the slope (fused_lstm.forward's:
    d tanh(scale z) / d(scale z) times what each pre-activation multiplies in c and h),
    the carry o (1 - tanh(c)^2) = dc/dc_prev's path through h, and the forget gate f;
    from the tanh of the pre-activations (th, overwritten), the cell state before the
    first step (None: zero), the steps' cell states and their tanh."""
    u = c.shape[1]
    slope, carry, forget = kept[:, :4 * u], kept[:, 4 * u:5 * u], kept[:, 5 * u:]
    slope[:, :u] = th[:, 2 * u:3 * u]            # block input: i's partner
    if c_before is None:                           # c_prev: f's partner
        slope[0, u:2 * u] = 0
    else:
        slope[0, u:2 * u] = c_before
    slope[1:, u:2 * u] = c[:-1]
    np.multiply(th[:, :u], 0.5, out=slope[:, 2 * u:3 * u])   # i: the block's partner
    slope[:, 2 * u:3 * u] += 0.5
    slope[:, 3 * u:] = squashed                    # tanh(c): o's partner
    np.multiply(th[:, u:2 * u], 0.5, out=forget)
    forget += 0.5
    np.multiply(squashed, squashed, out=carry)
    np.subtract(1, carry, out=carry)
    o = th[:, 3 * u:] * 0.5
    o += 0.5
    carry *= o
    np.multiply(th, th, out=th)
    np.subtract(1, th, out=th)
    slope *= th


def _run_backward(parts: list, g: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray,
                  bias: np.ndarray | None, go_backwards: bool, return_sequences: bool,
                  want_x: bool, want_params: bool) -> list:
    """[dx, dkernel, drecurrent_kernel, dbias] (None where not wanted or no bias)."""
    u, features = recurrent.shape[0], kernel.shape[0]
    dtype = parts[0].kept.dtype
    scale2 = _scale(u, dtype) ** 2   # the chain rule's factor for scale * z
    recurrent_back = recurrent.astype(dtype, copy=False) * scale2
    kernel_back = kernel.astype(dtype, copy=False) * scale2 if want_x else None
    n, steps = parts[-1].stop, parts[0].kept.shape[0]
    dx = np.empty((n, steps, features), dtype) if want_x else None

    def run(index: int, _stop: int) -> np.ndarray | None:
        p = parts[index]
        return _backward_part(p, g[p.start:p.stop], recurrent_back, kernel_back,
                              go_backwards, dx[p.start:p.stop] if want_x else None,
                              want_params)

    # one thread per part of the forward pass (its residuals are that part's)
    products = _by_images(len(parts), sum(p.kept.nbytes for p in parts), _each(run))
    products = [p for chunk in products for p in chunk]
    grads: list = [dx, None, None, None]
    if want_params:
        product = products[0]
        for more in products[1:]:
            product = product + more
        product *= scale2
        grads[1] = product[u:u + features]
        grads[2] = product[:u]
        if bias is not None:
            grads[3] = product[u + features]
    return grads


def _each(run: Any) -> Any:
    """A (start, stop) part function running `run` on each index of its range."""
    return lambda start, stop: [run(i, i + 1) for i in range(start, stop)]


def _backward_part(p: _Part, g: np.ndarray, recurrent_back: np.ndarray,
                   kernel_back: np.ndarray | None, go_backwards: bool,
                   dx: np.ndarray | None, want_params: bool) -> np.ndarray | None:
    """Backpropagation through time for one part; writes dx (part, steps, features) and
    returns the (unscaled) cotangent of [recurrent; kernel; bias], or None."""
    operands, kept = p.operands, p.kept
    steps, n = kept.shape[0], kept.shape[2]
    u = recurrent_back.shape[0]
    dtype = kept.dtype
    gt = np.transpose(g, (1, 2, 0)) if g.ndim == 3 else None   # (steps, units, part)
    dz = np.empty((4 * u, steps, n), dtype)
    dz_gates = dz.reshape(4, u, steps, n)   # a view: dz is contiguous
    dh = np.array(gt[-1] if gt is not None else g.T, dtype)
    dh_next = np.empty_like(dh)
    dc = np.zeros((u, n), dtype)
    scratch = np.empty((u, n), dtype)
    for k in range(steps - 1, -1, -1):
        slope, carry, f = kept[k, :4 * u], kept[k, 4 * u:5 * u], kept[k, 5 * u:]
        np.multiply(dh, carry, out=scratch)
        dc += scratch
        # dz = [dc, dc, dc, dh] * slope
        np.multiply(slope[:3 * u].reshape(3, u, n), dc, out=dz_gates[:3, :, k])
        np.multiply(slope[3 * u:], dh, out=dz[3 * u:, k])
        if k:
            dh, dh_next = np.matmul(recurrent_back, dz[:, k], out=dh_next), dh
            if gt is not None:
                dh += gt[k - 1]
            dc *= f
    flat = dz.reshape(4 * u, steps * n)
    if dx is not None:
        dxt = np.reshape(kernel_back @ flat, (kernel_back.shape[0], steps, n))
        dx[...] = np.transpose(dxt[:, ::-1] if go_backwards else dxt, (2, 1, 0))
    if not want_params:
        return None
    return operands.reshape(operands.shape[0], steps * n) @ flat.T


# --- the primitives: what adkit.compile records as one statement each ---------------------

@primitive
def lstm_forward(x, kernel, recurrent_kernel, bias, *, go_backwards, return_sequences):
    """[output, residuals for lstm_backward] of the default LSTM over x (batch, steps,
    features), Keras's (i, f, c, o) weight layout; bias may be None."""
    out, parts = _run_forward(x, kernel, recurrent_kernel, bias, go_backwards,
                              return_sequences, keep=True)
    return [out, parts]


@primitive
def lstm_output(x, kernel, recurrent_kernel, bias, *, go_backwards, return_sequences):
    """The default LSTM's output alone (no residuals kept)."""
    return _run_forward(x, kernel, recurrent_kernel, bias, go_backwards, return_sequences,
                        keep=False)[0]


@primitive
def lstm_backward(residuals, g, kernel, recurrent_kernel, bias, *, go_backwards,
                  return_sequences, want_x, want_params):
    """[dx, dkernel, drecurrent_kernel, dbias] from lstm_forward's residuals and the
    output's cotangent g; dx only if want_x, the others only if want_params (else None)."""
    return _run_backward(residuals, g, kernel, recurrent_kernel, bias, go_backwards,
                         return_sequences, want_x, want_params)


@primitive
def part(results, index):
    """Entry `index` of a list one of the primitives above returned."""
    return results[index]
