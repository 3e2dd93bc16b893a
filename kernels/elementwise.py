"""Float32 elementwise maps, reductions, fused softmax-cross-entropy and dropout
masks on an OpenCL device: the kernels behind adkit.nn's activations, Dense
bias, losses and Dropout, with the semantics of nn/numpy_backend.py.

The one-line maps (activations and their derivatives, bias add, the
softmax-xent backward) are launch.elementwise kernels, built once per
(context, name). Reductions, softmax-xent and the dropout generator are raw
kernels in elementwise.cl. Every array is a C-contiguous float32
pyopencl.array.Array of `dev` (labels: int32 or int64); other dtypes are
rejected with a TypeError saying how to convert, never converted silently.

    >>> from adkit.kernels import device
    >>> dev = device(); x = dev.to_device(np.linspace(-2, 2, 6, dtype=np.float32))
    >>> dev.to_host(activation(dev, "relu", x))     # [0, 0, 0, .4, 1.2, 2]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .launch import F32, checked, elementwise
from .runtime import Device

try:
    import pyopencl as cl
    import pyopencl.array as cla
except ImportError:  # then there is no Device to pass either: device() says how to fix it
    cl = cla = None  # type: ignore[assignment]

__all__ = ["ACTIVATIONS", "BACKWARD_FROM", "activation", "activation_backward", "bias_add",
           "bias_grad", "reduce_sum", "reduce_max", "softmax_xent", "softmax_xent_backward",
           "dropout_mask", "dropout_mask_reference", "philox4x32_10"]


# name -> (forward body, backward body). Forward reads x, writes y; backward reads
# `v` (the value named in BACKWARD_FROM) and g, writes dx. Sigmoid is computed
# from exp(-|x|) (never overflows) rather than nn/activations.py's 0.5 tanh(x/2) + 0.5:
# OpenCL allows tanh a few ulp, and PoCL's tanh(-50) is not -1, so that form gave
# 3e-8 instead of ~0 in the far tail. Softplus is max(x, 0) + log1p(exp(-|x|))
# (= np.logaddexp(0, x), stable both ways).
ACTIVATIONS: dict[str, tuple[str, str]] = {
    # x < 0 ? 0 : x keeps NaN, as np.maximum(x, 0) does; the derivative at 0 is 0
    "relu": ("y[i] = x[i] < 0.0f ? 0.0f : x[i]",
             "dx[i] = v[i] > 0.0f ? g[i] : 0.0f"),
    "sigmoid": ("float e = exp(-fabs(x[i])); y[i] = (x[i] >= 0.0f ? 1.0f : e) / (1.0f + e)",
                "dx[i] = g[i] * v[i] * (1.0f - v[i])"),
    "tanh": ("y[i] = tanh(x[i])",
             "dx[i] = g[i] * (1.0f - v[i] * v[i])"),
    "softplus": ("y[i] = fmax(x[i], 0.0f) + log1p(exp(-fabs(x[i])))",
                 "float e = exp(-fabs(v[i])); "
                 "dx[i] = g[i] * ((v[i] >= 0.0f ? 1.0f : e) / (1.0f + e))"),
    "linear": ("y[i] = x[i]",
               "dx[i] = g[i]"),
}
#: What activation_backward's second argument must be, per activation: the
#: forward output "y" (cheaper: no transcendental for relu/sigmoid/tanh) or the
#: input "x" (softplus, whose derivative sigmoid(x) is not a function of y cheaply).
BACKWARD_FROM = {"relu": "y", "sigmoid": "y", "tanh": "y", "softplus": "x", "linear": "y"}

# (context, key) -> kernel. Contexts hash by their OpenCL handle; the key holds
# the context itself, so an entry cannot outlive it and be hit by a new one.
_CACHE: dict[tuple, Any] = {}


def _raw(dev: Device, name: str, options: tuple[str, ...], dtypes: list) -> Any:
    k = (dev.context, name, options)
    knl = _CACHE.get(k)
    if knl is None:
        knl = cl.Kernel(dev.program("elementwise.cl", options), name)
        knl.set_scalar_arg_dtypes(dtypes)
        _CACHE[k] = knl
    return knl


def _f32(dev: Device, x: Any, fn: str, name: str) -> Any:
    return checked(dev, x, name, fn, fix=f"pass {name}.copy()")


def _flat0(x: Any) -> Any:
    """x with offset 0 (raw kernels take the buffer itself); a copy only if it is a view."""
    return x if x.offset == 0 else x.copy()


def _check_name(fn: str, name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"{fn}: unknown activation {name!r}; choose one of "
                         f"{', '.join(ACTIVATIONS)}")


def _pow2_at_most(n: int) -> int:
    return 1 << (max(1, int(n)).bit_length() - 1)


def _group(dev: Device, want: int) -> int:
    """A power-of-two work-group size <= want and the device limit. A few fixed
    sizes only: PoCL compiles a kernel once per local size."""
    return _pow2_at_most(min(want, int(dev.info.max_work_group_size)))


# --- activations ------------------------------------------------------------------------

def activation(dev: Device, name: str, x: Any) -> Any:
    """name(x) elementwise, as a new float32 device array (relu, sigmoid, tanh, softplus,
    linear).

        >>> y = activation(dev, "sigmoid", x)
        >>> np.allclose(dev.to_host(y), 1 / (1 + np.exp(-dev.to_host(x))), atol=1e-6)
        True
    """
    _check_name("activation", name)
    x = _f32(dev, x, "activation", "x")
    y = dev.empty(x.shape, F32)
    if x.size:
        elementwise(dev, f"act_{name}", "float *y, const float *x", ACTIVATIONS[name][0])(
            y, x, queue=dev.queue)
    return y


def activation_backward(dev: Device, name: str, y_or_x: Any, g: Any) -> Any:
    """g times name'(x): the cotangent of the input. The second argument is the forward
    output y for relu, sigmoid, tanh and linear, the input x for softplus
    (BACKWARD_FROM says which). relu's derivative at 0 is 0.

        >>> y = activation(dev, "tanh", x)
        >>> dx = activation_backward(dev, "tanh", y, g)     # g * (1 - y**2)
    """
    _check_name("activation_backward", name)
    v = _f32(dev, y_or_x, "activation_backward", "y_or_x")
    g = _f32(dev, g, "activation_backward", "g")
    if v.shape != g.shape:
        raise ValueError(f"activation_backward: {BACKWARD_FROM[name]} has shape {v.shape} "
                         f"but g has shape {g.shape}; they must be equal")
    dx = dev.empty(g.shape, F32)
    if g.size:
        elementwise(dev, f"act_{name}_bwd", "float *dx, const float *v, const float *g",
            ACTIVATIONS[name][1])(dx, v, g, queue=dev.queue)
    return dx


# --- bias -------------------------------------------------------------------------------

def bias_add(dev: Device, x: Any, b: Any) -> Any:
    """x + b with b (shape (n,)) broadcast over the last axis of x (shape (..., n)).

        >>> y = bias_add(dev, x2d, b)          # x2d + b[None, :]
    """
    x = _f32(dev, x, "bias_add", "x")
    b = _f32(dev, b, "bias_add", "b")
    n = x.shape[-1] if x.ndim else 0
    if x.ndim == 0 or b.shape != (n,):
        raise ValueError(f"bias_add: b must have shape (x.shape[-1],) = ({n},) for x of "
                         f"shape {x.shape}, got {b.shape}")
    y = dev.empty(x.shape, F32)
    if x.size:
        elementwise(dev, "bias_add", "float *y, const float *x, const float *b, long cols",
            "y[i] = x[i] + b[i % cols]")(y, x, b, np.int64(n), queue=dev.queue)
    return y


def bias_grad(dev: Device, g: Any) -> Any:
    """The sum of g over every axis but the last: the cotangent of bias_add's b.

        >>> db = bias_grad(dev, g2d)           # g2d.sum(axis=0), shape (n,)
    """
    g = _f32(dev, g, "bias_grad", "g")
    if g.ndim == 0:
        raise ValueError("bias_grad: g must have at least one axis (the bias axis), "
                         "got a 0-d array")
    n = g.shape[-1]
    rows = math.prod(g.shape[:-1])
    return _reduce(dev, g.reshape(rows, n), 0, "sum", "bias_grad")


# --- reductions -------------------------------------------------------------------------

def reduce_sum(dev: Device, x: Any, axis: int) -> Any:
    """x summed along one axis (float32 accumulation), that axis removed, as np.sum.

        >>> s = reduce_sum(dev, x2d, 0)        # x2d.sum(axis=0)
    """
    return _reduce(dev, _f32(dev, x, "reduce_sum", "x"), axis, "sum", "reduce_sum")


def reduce_max(dev: Device, x: Any, axis: int) -> Any:
    """The maximum of x along one axis, that axis removed, as np.max (NaN propagates;
    an empty axis is a ValueError).

        >>> m = reduce_max(dev, x2d, 1)        # x2d.max(axis=1)
    """
    return _reduce(dev, _f32(dev, x, "reduce_max", "x"), axis, "max", "reduce_max")


def _reduce(dev: Device, x: Any, axis: int, op: str, fn: str) -> Any:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{fn}: axis must be an int, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for an array of shape "
                         f"{x.shape} ({x.ndim} axes)")
    axis = int(axis) % x.ndim
    pre, k, post = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    out_shape = x.shape[:axis] + x.shape[axis + 1:]
    if k == 0 and op == "max" and pre * post:
        raise ValueError(f"{fn}: axis {axis} of shape {x.shape} is empty; a maximum of "
                         "nothing is undefined (as in NumPy)")
    if pre * post == 0:
        return dev.empty(out_shape, F32)
    if k == 0:
        return dev.zeros(out_shape, F32)
    options = (f"-DOP_MAX={int(op == 'max')}",)
    x = _flat0(x)
    if post == 1:
        out = dev.empty(out_shape, F32)
        wg = _group(dev, 256 if k > 512 else 64)
        knl = _raw(dev, "reduce_last", options, [None, np.int64, None, None])
        out.add_event(knl(dev.queue, (pre * wg,), (wg,), x.data, k, out.data,
                          cl.LocalMemory(4 * wg)))
        return out
    return _reduce_mid(dev, x, pre, k, post, options).reshape(out_shape)


def _reduce_mid(dev: Device, x: Any, pre: int, k: int, post: int,
                options: tuple[str, ...]) -> Any:
    limit = int(dev.info.max_work_group_size)
    tx = _pow2_at_most(min(32, limit))
    ty = _pow2_at_most(min(8, limit // tx))
    knl = _raw(dev, "reduce_mid", options, [None, np.int64, np.int64, np.int64, None, None])
    col_groups = -(-post // tx)
    # Split k into chunks when the column groups alone would leave the device idle;
    # the partial results (pre, chunks, post) are reduced by a second pass.
    chunks = 1
    if col_groups * pre < 4 * int(dev.info.compute_units) and k > 64 * ty:
        chunks = min(-(-k // (16 * ty)), 256)
    chunk = -(-k // chunks)
    chunks = -(-k // chunk)
    part = dev.empty((pre, chunks, post), F32)
    part.add_event(knl(dev.queue, (col_groups * tx, chunks * ty, pre), (tx, ty, 1), x.data,
                       k, post, chunk, part.data, cl.LocalMemory(4 * tx * ty)))
    if chunks == 1:
        return part
    return _reduce_mid(dev, part, pre, chunks, post, options)


# --- softmax cross-entropy ----------------------------------------------------------------

def _labels(dev: Device, labels: Any, rows: int, fn: str) -> Any:
    dev.check(labels)
    if labels.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise TypeError(f"{fn}: labels have dtype {labels.dtype}; integer class indices "
                        "are needed, int32 or int64: convert with labels.astype(np.int32)")
    if labels.shape != (rows,):
        raise ValueError(f"{fn}: labels must have shape ({rows},), one per row, got "
                         f"{labels.shape}")
    return _flat0(labels)


def _label_t(labels: Any) -> str:
    return "int" if labels.dtype == np.dtype(np.int32) else "long"


def softmax_xent(dev: Device, logits: Any, labels: Any) -> tuple[Any, Any]:
    """(loss per row, softmax probabilities) of logits (rows, classes) and integer labels
    (rows,): loss = -log_softmax(logits)[label], stable for huge logits (row maximum,
    then log-sum-exp). A label outside [0, classes) gives that row loss NaN.

        >>> loss, probs = softmax_xent(dev, logits, labels)
        >>> dlogits = softmax_xent_backward(dev, probs, labels, g_rows)
    """
    z = _f32(dev, logits, "softmax_xent", "logits")
    if z.ndim != 2:
        raise ValueError(f"softmax_xent: logits must be 2-D (rows, classes), got shape "
                         f"{z.shape}; reshape to (-1, classes)")
    rows, c = z.shape
    labels = _labels(dev, labels, rows, "softmax_xent")
    loss, probs = dev.empty((rows,), F32), dev.empty((rows, c), F32)
    if rows == 0:
        return loss, probs
    if c == 0:
        raise ValueError("softmax_xent: logits have 0 classes; a softmax needs at least one")
    wg = _group(dev, 256 if c > 512 else 64)
    knl = _raw(dev, "softmax_xent", (f"-DLABEL_T={_label_t(labels)}",),
               [None, None, np.int32, None, None, None])
    evt = knl(dev.queue, (rows * wg,), (wg,), _flat0(z).data, labels.data, c, loss.data,
              probs.data, cl.LocalMemory(4 * wg))
    loss.add_event(evt)
    probs.add_event(evt)
    return loss, probs


def softmax_xent_backward(dev: Device, probs: Any, labels: Any, g_rows: Any) -> Any:
    """d(sum g_rows * loss)/d logits = g_rows[:, None] * (probs - onehot(labels)).
    A label outside [0, classes) makes its row NaN.

        >>> dlogits = softmax_xent_backward(dev, probs, labels, g_rows)
    """
    p = _f32(dev, probs, "softmax_xent_backward", "probs")
    if p.ndim != 2:
        raise ValueError(f"softmax_xent_backward: probs must be 2-D, got shape {p.shape}")
    rows, c = p.shape
    labels = _labels(dev, labels, rows, "softmax_xent_backward")
    g = _f32(dev, g_rows, "softmax_xent_backward", "g_rows")
    if g.shape != (rows,):
        raise ValueError(f"softmax_xent_backward: g_rows must have shape ({rows},), got "
                         f"{g.shape}")
    out = dev.empty((rows, c), F32)
    if out.size:
        lt = _label_t(labels)
        elementwise(dev, f"xent_bwd_{lt}",
            f"float *d, const float *p, const {lt} *lab, const float *g, long c",
            "long r = i / c; long t = lab[r]; "
            "d[i] = (t < 0 || t >= c) ? NAN : g[r] * (p[i] - (i - r * c == t ? 1.0f : 0.0f))")(
            out, p, labels, g, np.int64(c), queue=dev.queue)
    return out


# --- dropout ------------------------------------------------------------------------------

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
_LO = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter: tuple, key: tuple) -> tuple[np.ndarray, ...]:
    """Philox-4x32-10 (Salmon et al., SC 2011; Random123's constants) in NumPy, vectorised:
    counter is 4 uint32 arrays (or ints), key 2; returns the 4 output words.

        >>> [hex(int(w)) for w in philox4x32_10((0, 0, 0, 0), (0, 0))]
        ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint32) for c in counter)
    k0, k1 = (np.uint32(k) for k in key)
    with np.errstate(over="ignore"):
        for _ in range(10):
            p0 = _M0 * c0.astype(np.uint64)
            p1 = _M1 * c2.astype(np.uint64)
            hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & _LO).astype(np.uint32)
            hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & _LO).astype(np.uint32)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
            k0, k1 = k0 + _W0, k1 + _W1
    return c0, c1, c2, c3


def _dropout_params(shape: Any, rate: float, seed: int, step: int, fn: str):
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"{fn}: shape {shape} has a negative dimension")
    if not 0 <= rate < 1:
        raise ValueError(f"{fn}: rate must be in [0, 1), got {rate!r}")
    for name, v in (("seed", seed), ("step", step)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v < 2**64:
            raise ValueError(f"{fn}: {name} must be an int in [0, 2**64), got {v!r}")
    threshold = min(math.ceil(rate * (1 << 24)), (1 << 24) - 1) if rate > 0 else 0
    scale = np.float32(1.0 / (1.0 - rate))
    return shape, threshold, scale, int(seed), int(step)


def dropout_mask(dev: Device, shape: Any, rate: float, seed: int, step: int) -> Any:
    """A float32 mask of `shape`: 0 with probability ~rate, else 1/(1-rate) (inverted
    dropout), from Philox-4x32-10 keyed by seed, counter (element // 4, step). The same
    (seed, step) gives the same mask on every device and in dropout_mask_reference:
    element i is kept when the top 24 bits of word i % 4 are >= ceil(rate * 2**24).

        >>> m = dropout_mask(dev, (128, 64), 0.5, seed=1234, step=7)
        >>> (dev.to_host(m) == dropout_mask_reference((128, 64), 0.5, 1234, 7)).all()
        True
    """
    shape, threshold, scale, seed, step = _dropout_params(shape, rate, seed, step,
                                                          "dropout_mask")
    mask = dev.empty(shape, F32)
    n = mask.size
    if n == 0:
        return mask
    knl = _raw(dev, "dropout_philox", (),
               [None, np.uint64, np.uint32, np.uint32, np.uint32, np.uint32, np.uint32,
                np.float32])
    wg = _group(dev, 64)
    blocks = -(-n // 4)
    mask.add_event(knl(dev.queue, (-(-blocks // wg) * wg,), (wg,), mask.data, n,
                       seed & 0xFFFFFFFF, seed >> 32, step & 0xFFFFFFFF, step >> 32,
                       threshold, scale))
    return mask


def dropout_mask_reference(shape: Any, rate: float, seed: int, step: int) -> np.ndarray:
    """dropout_mask in NumPy, bit for bit (for tests and a NumPy backend).

        >>> dropout_mask_reference((2, 3), 0.5, seed=0, step=0).dtype
        dtype('float32')
    """
    shape, threshold, scale, seed, step = _dropout_params(shape, rate, seed, step,
                                                          "dropout_mask_reference")
    n = math.prod(shape)
    blocks = np.arange(-(-n // 4), dtype=np.uint64)
    words = philox4x32_10(((blocks & _LO).astype(np.uint32),
                           (blocks >> np.uint64(32)).astype(np.uint32),
                           np.uint32(step & 0xFFFFFFFF), np.uint32(step >> 32)),
                          (seed & 0xFFFFFFFF, seed >> 32))
    bits = np.stack(np.broadcast_arrays(*words), axis=1).reshape(-1)[:n]
    keep = (bits >> np.uint32(8)) >= np.uint32(threshold)
    return np.where(keep, scale, np.float32(0)).astype(np.float32).reshape(shape)
