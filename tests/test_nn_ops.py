"""adkit.nn.ops, Keras 3's keras.ops: each op's value against a NumPy formula written
here (several shapes and axes) and, where Keras 3 is installed, against keras.ops on
the same inputs; derivatives of the ops with content against finite differences
(adkit.numeric); control flow as Python; a subclassed layer written with keras.ops
trained in a Sequential (compiled and eager agree); errors that name the problem."""

import math
import warnings

import numpy as np
import pytest
from keras_referee import keras  # noqa: F401  (a fixture)

import adkit
import adkit.nn as ak
from adkit import numeric
from adkit.nn import layers, ops

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4)).astype(np.float32)
X3 = RNG.normal(size=(2, 3, 4)).astype(np.float32)
P = (np.abs(X) / np.abs(X).sum(-1, keepdims=True)).astype(np.float32)
ONE_HOT = np.eye(4, dtype=np.float32)[[0, 1, 3]]
IDS = np.array([0, 2, 2, 1, 0])
D5 = RNG.normal(size=(5, 3)).astype(np.float32)
IMG = RNG.normal(size=(2, 6, 6, 3)).astype(np.float32)
KER = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
HEADS = np.repeat(X3[:, :, None, :], 2, axis=2)


def _sig(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


def _lse(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis)


def _softmax(x, axis=-1):
    return np.exp(x - _lse(x, axis, keepdims=True))


def _segments(data, ids, n, reduce, empty):
    return np.stack([reduce(data[ids == i], axis=0) if np.any(ids == i)
                     else np.full(data.shape[1:], empty) for i in range(n)])


def _top2(x):
    order = np.argsort(-x, axis=-1, kind="stable")[..., :2]
    return np.take_along_axis(x, order, -1), order


def _attention(q, k, v):
    logits = np.einsum("bthd,bshd->bhts", q, k) / math.sqrt(q.shape[-1])
    t = q.shape[1]
    logits = np.where(np.tril(np.ones((t, t), bool)), logits, -np.inf)
    return np.einsum("bhts,bshd->bthd", _softmax(logits), v)


def _conv_loop(x, k, stride):
    n, h, w, _ = x.shape
    kh, kw, _, co = k.shape
    out = np.zeros((n, (h - kh) // stride + 1, (w - kw) // stride + 1, co))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j] = np.einsum("nhwc,hwco->no", patch, k)
    return out


# (op, args, kwargs, a NumPy formula of the same value, independent of adkit's code)
CASES = [
    ("max", (X,), dict(axis=1), lambda: X.max(1)),
    ("max", (X,), dict(axis=0, keepdims=True, initial=0.5), lambda: np.maximum(X.max(0, keepdims=True), .5)),
    ("min", (X3,), dict(axis=(0, 2)), lambda: X3.min((0, 2))),
    ("sum", (X3,), dict(axis=[0, 2]), lambda: X3.sum((0, 2))),
    ("mean", (np.arange(6).reshape(2, 3),), {}, lambda: np.float32(2.5)),
    ("var", (X,), dict(axis=-1), lambda: ((X - X.mean(-1, keepdims=True)) ** 2).mean(-1)),
    ("std", (X3,), dict(axis=(1, 2), keepdims=True), lambda: X3.std((1, 2), keepdims=True)),
    ("prod", (X,), dict(axis=0), lambda: X[0] * X[1] * X[2]),
    ("argmax", (X,), dict(axis=1), lambda: X.argmax(1).astype(np.int32)),
    ("argmin", (X,), {}, lambda: np.int32(X.argmin())),
    ("argsort", (X,), {}, lambda: np.argsort(X, -1).astype(np.int32)),
    ("sort", (X,), dict(axis=0), lambda: np.sort(X, 0)),
    ("split", (X, 2), dict(axis=1), lambda: [X[:, :2], X[:, 2:]]),
    ("split", (X, [1, 3]), dict(axis=1), lambda: [X[:, :1], X[:, 1:3], X[:, 3:]]),
    ("repeat", (X, 2), dict(axis=0), lambda: X[[0, 0, 1, 1, 2, 2]]),
    ("repeat", (X, 2), {}, lambda: np.ravel(np.stack([X.ravel(), X.ravel()], 1))),
    ("take", (X, np.array([0, 2])), dict(axis=1), lambda: X[:, [0, 2]]),
    ("take", (X, np.array([0, 5])), {}, lambda: X.ravel()[[0, 5]]),
    ("where", (X > 0, X, -X), {}, lambda: np.abs(X)),
    ("clip", (X, -0.5, 0.5), {}, lambda: np.minimum(np.maximum(X, -.5), .5)),
    ("expand_dims", (X, 1), {}, lambda: X[:, None, :]),
    ("expand_dims", (X, (0, 3)), {}, lambda: X[None, :, :, None]),
    ("squeeze", (X[None],), {}, lambda: X),
    ("squeeze", (X[None, :, None],), dict(axis=2), lambda: X[None]),
    ("transpose", (X3,), {}, lambda: X3.T),
    ("transpose", (X3,), dict(axes=(1, 0, 2)), lambda: np.einsum("abc->bac", X3)),
    ("reshape", (X, (2, -1)), {}, lambda: X.reshape(2, 6)),
    ("convert_to_tensor", ([1.0, 2.0],), {}, lambda: np.array([1, 2], np.float32)),
    ("convert_to_tensor", (3,), {}, lambda: np.int32(3)),
    ("convert_to_tensor", (X,), dict(dtype="float16"), lambda: X.astype(np.float16)),
    ("cast", (X, "int32"), {}, lambda: np.trunc(X).astype(np.int32)),
    ("shape", (X3,), {}, lambda: (2, 3, 4)),
    ("dtype", (X,), {}, lambda: "float32"),
    ("slice", (X3, (0, 1, 1), (2, 2, 2)), {}, lambda: X3[:, 1:3, 1:3]),
    ("slice_update", (X, (1, 1), np.ones((2, 2), np.float32)), {},
     lambda: np.block([[X[:1, :]], [X[1:, :1], np.ones((2, 2)), X[1:, 3:]]]).astype(np.float32)),
    ("top_k", (X, 2), {}, lambda: (_top2(X)[0], _top2(X)[1].astype(np.int32))),
    ("in_top_k", (np.array([0, 1, 3]), X, 2), {},
     lambda: np.array([np.sum(X[i] > X[i, t]) < 2 for i, t in enumerate([0, 1, 3])])),
    ("one_hot", (np.array([0, 2, -1, 1]), 3), {},
     lambda: np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0]], np.float32)),
    ("one_hot", (np.array([[0, 2], [1, 1]]), 3), dict(axis=1),
     lambda: np.eye(3, dtype=np.float32)[[[0, 2], [1, 1]]].transpose(0, 2, 1)),
    ("one_hot", (np.array([0, 2]), 3), dict(dtype="int32"), lambda: np.eye(3, dtype=np.int32)[[0, 2]]),
    ("multi_hot", (np.array([[0, 2], [1, 1]]), 4), {},
     lambda: np.array([[1, 0, 1, 0], [0, 1, 0, 0]], np.float32)),
    ("multi_hot", (np.array([0, 2]), 4), {}, lambda: np.array([1, 0, 1, 0], np.float32)),
    ("segment_sum", (D5, IDS), dict(num_segments=4), lambda: _segments(D5, IDS, 4, np.sum, 0)),
    ("segment_max", (D5, IDS), dict(num_segments=4),
     lambda: _segments(D5, IDS, 4, np.max, -np.inf).astype(np.float32)),
    ("logsumexp", (X,), dict(axis=1), lambda: _lse(X, 1)),
    ("logsumexp", (X3,), dict(axis=(0, 2), keepdims=True), lambda: _lse(X3, (0, 2), True)),
    ("erf", (X,), {}, lambda: np.vectorize(math.erf)(X)),
    ("erfinv", (X / 4,), {}, None),   # checked through math.erf(erfinv(x)) = x
    ("rsqrt", (np.abs(X) + 0.1,), {}, lambda: 1 / np.sqrt(np.abs(X) + 0.1)),
    ("moments", (X3, (0, 1)), {}, lambda: (X3.mean((0, 1)), X3.var((0, 1)))),
    ("moments", (X3, [2]), dict(keepdims=True), lambda: (X3.mean(2, keepdims=True), X3.var(2, keepdims=True))),
    ("normalize", (X,), {}, lambda: X / np.sqrt((X ** 2).sum(-1, keepdims=True))),
    ("normalize", (X,), dict(axis=0, order=1), lambda: X / np.abs(X).sum(0)),
    ("norm", (X,), {}, lambda: np.sqrt((X ** 2).sum())),
    ("norm", (X,), dict(axis=1, ord=1), lambda: np.abs(X).sum(1)),
    ("relu", (X,), {}, lambda: X * (X > 0)),
    ("relu6", (X * 5,), {}, lambda: np.minimum(np.maximum(X * 5, 0), 6)),
    ("sigmoid", (X,), {}, lambda: _sig(X)),
    ("hard_sigmoid", (X * 4,), {}, lambda: np.minimum(np.maximum(X * 4 / 6 + 0.5, 0), 1)),
    ("softplus", (X,), {}, lambda: np.log1p(np.exp(X))),
    ("softsign", (X,), {}, lambda: X / (1 + np.abs(X))),
    ("silu", (X,), {}, lambda: X * _sig(X)),
    ("swish", (X,), {}, lambda: X * _sig(X)),
    ("log_sigmoid", (X,), {}, lambda: np.log(_sig(X))),
    ("leaky_relu", (X,), {}, lambda: np.where(X > 0, X, 0.2 * X)),
    ("gelu", (X,), {},
     lambda: 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X ** 3)))),
    ("gelu", (X,), dict(approximate=False), lambda: 0.5 * X * (1 + np.vectorize(math.erf)(X / math.sqrt(2)))),
    ("elu", (X,), dict(alpha=0.5), lambda: np.where(X > 0, X, 0.5 * np.expm1(X))),
    ("selu", (X,), {}, lambda: 1.0507009873554805 * np.where(X > 0, X, 1.6732632423543772 * np.expm1(X))),
    ("softmax", (X,), {}, lambda: np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
    ("softmax", (X3,), dict(axis=(1, 2)), lambda: np.exp(X3) / np.exp(X3).sum((1, 2), keepdims=True)),
    ("softmax", (X,), dict(axis=0), lambda: np.exp(X) / np.exp(X).sum(0)),
    ("log_softmax", (X,), {}, lambda: X - np.log(np.exp(X).sum(-1, keepdims=True))),
    ("celu", (X,), {}, lambda: np.where(X > 0, X, np.expm1(X))),
    ("glu", (X,), {}, lambda: X[:, :2] * _sig(X[:, 2:])),
    ("hard_silu", (X,), {}, lambda: X * np.clip(X + 3, 0, 6) / 6),
    ("squareplus", (X,), {}, lambda: (X + np.sqrt(X ** 2 + 4)) / 2),
    ("binary_crossentropy", ((X > 0).astype(np.float32), _sig(X).astype(np.float32)), {},
     lambda: -((X > 0) * np.log(_sig(X)) + (X <= 0) * np.log(1 - _sig(X)))),
    ("binary_crossentropy", ((X > 0).astype(np.float32), X), dict(from_logits=True),
     lambda: -((X > 0) * np.log(_sig(X)) + (X <= 0) * np.log(1 - _sig(X)))),
    ("categorical_crossentropy", (ONE_HOT, P), {}, lambda: -np.log(P[[0, 1, 2], [0, 1, 3]])),
    ("categorical_crossentropy", (ONE_HOT, X), dict(from_logits=True),
     lambda: -np.log(_softmax(X)[[0, 1, 2], [0, 1, 3]])),
    ("sparse_categorical_crossentropy", (np.array([0, 1, 3]), P), {},
     lambda: -np.log(P[[0, 1, 2], [0, 1, 3]])),
    ("sparse_categorical_crossentropy", (np.array([0, 1, 3]), X), dict(from_logits=True),
     lambda: -np.log(_softmax(X)[[0, 1, 2], [0, 1, 3]])),
    ("conv", (IMG, KER), {}, lambda: _conv_loop(IMG, KER, 1)),
    ("conv", (IMG, KER), dict(strides=(3, 3)), lambda: _conv_loop(IMG, KER, 3)),
    ("max_pool", (IMG, (2, 2)), dict(strides=(2, 2)),
     lambda: IMG.reshape(2, 3, 2, 3, 2, 3).max((2, 4))),
    ("average_pool", (IMG, (3, 3)), dict(strides=3),
     lambda: IMG.reshape(2, 2, 3, 2, 3, 3).mean((2, 4))),
    ("max_pool", (IMG.transpose(0, 3, 1, 2), (2, 2)), dict(strides=2, data_format="channels_first"),
     lambda: IMG.reshape(2, 3, 2, 3, 2, 3).max((2, 4)).transpose(0, 3, 1, 2)),
    ("zeros", ((2, 3),), {}, lambda: np.zeros((2, 3), np.float32)),
    ("ones", ((2,),), dict(dtype="int32"), lambda: np.ones(2, np.int32)),
    ("full", ((2,), 3), {}, lambda: np.full(2, 3, np.float32)),
    ("arange", (5,), {}, lambda: np.arange(5, dtype=np.int32)),
    ("arange", (0, 1, 0.25), {}, lambda: np.array([0, .25, .5, .75], np.float32)),
    ("linspace", (0, 1, 5), {}, lambda: np.array([0, .25, .5, .75, 1], np.float32)),
    ("eye", (3,), dict(k=1), lambda: np.diag(np.ones(2, np.float32), 1)),
    ("tri", (3,), {}, lambda: np.tril(np.ones((3, 3), np.float32))),
    ("identity", (2,), {}, lambda: np.eye(2, dtype=np.float32)),
    ("zeros_like", (X,), {}, lambda: 0 * X),
    ("full_like", (X, 2), {}, lambda: 0 * X + 2),
    ("stack", ([X, X],), dict(axis=1), lambda: np.concatenate([X[:, None], X[:, None]], 1)),
    ("concatenate", ([X, X],), dict(axis=1), lambda: np.hstack([X, X])),
    ("unstack", (X,), dict(axis=1), lambda: [X[:, i] for i in range(4)]),
    ("size", (X,), {}, lambda: 12),
    ("ndim", (X3,), {}, lambda: 3),
    ("pad", (X, ((1, 0), (0, 2))), {}, lambda: np.block([[np.zeros((1, 6))], [X, np.zeros((3, 2))]]).astype(np.float32)),
    ("pad", (X, ((1, 1), (1, 1))), dict(mode="reflect"), lambda: X[[1, 0, 1, 2, 1]][:, [1, 0, 1, 2, 3, 2]]),
    ("tile", (X, (1, 2)), {}, lambda: np.hstack([X, X])),
    ("roll", (X, 1), dict(axis=1), lambda: X[:, [3, 0, 1, 2]]),
    ("flip", (X,), dict(axis=0), lambda: X[::-1]),
    ("take_along_axis", (X, np.argsort(X, axis=1)), dict(axis=1), lambda: np.sort(X, 1)),
    ("divide_no_nan", (X, np.where(X > 0, X, 0)), {}, lambda: (X > 0).astype(np.float32)),
    ("cumsum", (X,), dict(axis=1), lambda: np.stack([X[:, :i + 1].sum(1) for i in range(4)], 1)),
    ("count_nonzero", (X > 0,), dict(axis=1), lambda: (X > 0).sum(1).astype(np.int32)),
    ("median", (X,), dict(axis=1), lambda: np.sort(X, 1)[:, 1:3].mean(1)),
    ("median", (X3,), dict(axis=(0, 2), keepdims=True), lambda: np.median(X3, (0, 2), keepdims=True)),
    ("median", (X3[:, :, :3],), {}, lambda: np.float32(np.median(X3[:, :, :3]))),
    ("quantile", (X3, 0.3), dict(axis=1), lambda: np.quantile(X3, 0.3, axis=1)),
    ("quantile", (X3, np.array([0.1, 0.9])), dict(axis=(0, 2), keepdims=True),
     lambda: np.quantile(X3, [0.1, 0.9], axis=(0, 2), keepdims=True)),
    ("percentile", (X, 75), {}, lambda: np.float32(np.percentile(X, 75))),
    ("quantile", (X, 0.3), dict(axis=0, method="nearest"), lambda: np.quantile(X, 0.3, axis=0, method="nearest")),
    ("trapezoid", (X,), {}, lambda: (X[:, 1:] + X[:, :-1]).sum(1) / 2),
    ("trapezoid", (X,), dict(x=np.array([0.0, 1.0, 3.0]), axis=0),
     lambda: (X[1] + X[0]) / 2 + (X[2] + X[1])),
    ("ptp", (X,), dict(axis=0), lambda: X.max(0) - X.min(0)),
    ("average", (X,), dict(axis=1, weights=np.arange(1.0, 5.0)), lambda: (X @ np.arange(1.0, 5.0)) / 10),
    ("swapaxes", (X3, 0, 2), {}, lambda: X3.transpose(2, 1, 0)),
    ("moveaxis", (X3, 0, -1), {}, lambda: X3.transpose(1, 2, 0)),
    ("matmul", (X, X.T), {}, lambda: np.einsum("ik,jk->ij", X, X)),
    ("einsum", ("ij,kj->ik", X, X), {}, lambda: X @ X.T),
    ("scatter", (np.array([[0, 1], [0, 1], [1, 0]]), np.array([1.0, 2.0, 5.0], np.float32), (2, 2)), {},
     lambda: np.array([[0, 3], [5, 0]], np.float32)),
    ("batch_normalization", (X, X.mean(0), X.var(0), 1), dict(offset=np.ones(4, np.float32), scale=2 * np.ones(4, np.float32)),
     lambda: (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-3) * 2 + 1),
    ("layer_normalization", (X,), {}, lambda: (X - X.mean(-1, keepdims=True)) / np.sqrt(X.var(-1, keepdims=True) + 1e-7)),
    ("layer_normalization", (X3, np.arange(3.0), np.ones(3)), dict(axis=1),
     lambda: (X3 - X3.mean(1, keepdims=True)) / np.sqrt(X3.var(1, keepdims=True) + 1e-7) * np.arange(3.0)[:, None] + 1),
    ("layer_normalization", (X3,), dict(axis=[1, 2], rms_scaling=True), lambda: X3 / np.sqrt(X3.var((1, 2), keepdims=True) + 1e-7)),
    ("rms_normalization", (X3, 2.0), dict(axis=(1, 2)), lambda: 2 * X3 / np.sqrt((X3 ** 2).mean((1, 2), keepdims=True) + 1e-7)),
    ("cdist", (X, X[:2]), {}, lambda: np.sqrt(((X[:, None] - X[None, :2]) ** 2).sum(-1))),
    ("psnr", (P, P * 0.9, 1.0), {}, lambda: -10 * np.log10(np.mean((0.1 * P) ** 2))),
    ("round", (X * 3,), {}, lambda: np.rint(X * 3)),
    ("nonzero", (X > 0,), {}, lambda: tuple(i.astype(np.int32) for i in np.where(X > 0))),
    ("where", (X > 0,), {}, lambda: tuple(i.astype(np.int32) for i in np.where(X > 0))),
    ("saturate_cast", (X * 300, "int8"), {}, lambda: np.trunc(np.clip(X * 300, -128, 127)).astype(np.int8)),
    ("array_split", (X, 3), dict(axis=1), lambda: [X[:, :2], X[:, 2:3], X[:, 3:]]),
    ("threshold", (X, 0.1, -1.0), {}, lambda: np.where(X > 0.1, X, -1)),
    ("dot_product_attention", (HEADS, HEADS, HEADS), dict(is_causal=True), lambda: _attention(HEADS, HEADS, HEADS)),
    ("segment_min", (D5, IDS), dict(num_segments=4), lambda: _segments(D5, IDS, 4, np.min, np.inf).astype(np.float32)),
    ("segment_prod", (D5, IDS), dict(num_segments=4), lambda: _segments(D5, IDS, 4, np.prod, 1).astype(np.float32)),
    ("scatter_update", (np.zeros((3, 2), np.float32), np.array([[0], [2], [0]]), np.arange(6.0, dtype=np.float32).reshape(3, 2)), {},
     lambda: np.array([[4, 5], [0, 0], [2, 3]], np.float32)),
    ("scatter_update", (np.ones((2, 2), np.float32), np.array([[0, 1], [0, 1]]), np.array([1.0, 2.0], np.float32)), dict(reduction="add"),
     lambda: np.array([[1, 4], [1, 1]], np.float32)),
    ("depth_to_space", (IMG[:, :2, :2, :].repeat(4, axis=3), 2), {},
     lambda: _depth_to_space(IMG[:, :2, :2, :].repeat(4, axis=3), 2)),
    ("space_to_depth", (IMG, 3), {}, lambda: _space_to_depth(IMG, 3)),
    ("depth_to_space", (np.transpose(IMG[:, :2, :2, :].repeat(4, axis=3), (0, 3, 1, 2)), 2), dict(data_format="channels_first"),
     lambda: _depth_to_space_first(np.transpose(IMG[:, :2, :2, :].repeat(4, axis=3), (0, 3, 1, 2)), 2)),
    ("nanargmax", (np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, 0.0]]),), dict(axis=1), lambda: np.array([2, 1], np.int32)),
    ("corrcoef", (D5.T,), {}, lambda: np.corrcoef(D5.T.astype(np.float64))),
    ("unique", (np.array([3, 1, 3, 2], np.int32),), dict(size=5), lambda: np.array([1, 2, 3, 1, 1])),
    ("histogram", (X.ravel(),), dict(bins=4), lambda: np.histogram(X.ravel(), 4)),
    ("geomspace", (1, 1000, 4), {}, lambda: np.array([1, 10, 100, 1000], np.float32)),
    ("hamming", (5,), {}, lambda: (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(5) / 4)).astype(np.float32)),
    ("kaiser", (4, 2.0), {}, lambda: np.kaiser(4, 2.0).astype(np.float32)),
]


def _depth_to_space(x, b):
    """out[n, h*b + i, w*b + j, c] = x[n, h, w, (i*b + j) * c_out + c] (TensorFlow's DCR)."""
    n, h, w, c = x.shape
    co = c // (b * b)
    out = np.zeros((n, h * b, w * b, co), x.dtype)
    for i in range(b):
        for j in range(b):
            out[:, i::b, j::b, :] = x[..., (i * b + j) * co:(i * b + j + 1) * co]
    return out


def _space_to_depth(x, b):
    n, h, w, c = x.shape
    out = np.zeros((n, h // b, w // b, c * b * b), x.dtype)
    for i in range(b):
        for j in range(b):
            out[..., (i * b + j) * c:(i * b + j + 1) * c] = x[:, i::b, j::b, :]
    return out


def _depth_to_space_first(x, b):
    """channels_first: out[n, c, h*b + i, w*b + j] = x[n, c*b*b + i*b + j, h, w]."""
    n, c, h, w = x.shape
    out = np.zeros((n, c // (b * b), h * b, w * b), x.dtype)
    for i in range(b):
        for j in range(b):
            out[:, :, i::b, j::b] = x[:, i * b + j::b * b]
    return out
IDS_OF = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def _leaves(v):
    if isinstance(v, (tuple, list)):
        return [w for u in v for w in _leaves(u)]
    return [v]


def _same(ours, theirs, rtol, what):
    a, b = _leaves(ours), _leaves(theirs)
    assert len(a) == len(b), f"{what}: {len(a)} results, expected {len(b)}"
    for u, w in zip(a, b):
        if isinstance(w, (str, int, tuple)) and not isinstance(w, np.generic):
            assert u == w, what
            continue
        u, w = np.asarray(u), np.asarray(w)
        assert u.shape == w.shape, f"{what}: shape {u.shape}, expected {w.shape}"
        np.testing.assert_allclose(u.astype(np.float64), w.astype(np.float64), rtol=rtol,
                                   atol=rtol, err_msg=what)


@pytest.mark.parametrize("name, args, kwargs, formula", CASES, ids=IDS_OF)
def test_values_follow_numpy_formulas(name, args, kwargs, formula):
    out = getattr(ops, name)(*args, **kwargs)
    if formula is None:   # erfinv: the inverse of math.erf
        np.testing.assert_allclose(np.vectorize(math.erf)(out), args[0], rtol=1e-5, atol=1e-6)
        return
    _same(out, formula(), 2e-5, name)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")   # Keras's own
@pytest.mark.parametrize("name, args, kwargs, formula", CASES, ids=IDS_OF)
def test_values_and_dtypes_match_keras(keras, name, args, kwargs, formula):
    ours = getattr(ops, name)(*args, **kwargs)
    theirs = getattr(keras.ops, name)(*args, **kwargs)
    _same(ours, theirs, 2e-5, name)
    for u, w in zip(_leaves(ours), _leaves(theirs)):
        if hasattr(w, "dtype"):
            assert np.asarray(u).dtype == np.dtype(str(w.dtype)), \
                f"{name}: dtype {np.asarray(u).dtype}, Keras gives {w.dtype}"


def test_the_ops_cover_keras_common_names(keras):
    """The ops a custom layer reaches for exist under Keras's names (the rest raise
    AttributeError naturally)."""
    wanted = {"matmul", "tanh", "softmax", "cast", "shape", "one_hot", "top_k", "convert_to_tensor",
              "stop_gradient", "segment_sum", "logsumexp", "erf", "erfinv", "rsqrt", "moments",
              "normalize", "norm", "relu", "gelu", "silu", "sigmoid", "expand_dims", "squeeze",
              "take", "where", "cond", "while_loop", "fori_loop", "scan", "einsum", "slice",
              "slice_update", "scatter", "conv", "max_pool", "average_pool", "binary_crossentropy",
              "categorical_crossentropy", "sparse_categorical_crossentropy", "in_top_k"}
    assert wanted <= set(dir(keras.ops)) and wanted <= set(dir(ops))
    present = [n for n in dir(keras.ops) if not n.startswith("_") and hasattr(ops, n)]
    assert len(present) >= 310
    for name in ("solve", "inv", "det", "cholesky", "qr", "svd", "eigh", "norm"):
        assert hasattr(ops.linalg, name) and hasattr(keras.ops.linalg, name)


SPD = (lambda a: a @ a.T + 3 * np.eye(3))(RNG.normal(size=(3, 3)))


def test_linalg_against_numpy_and_keras(keras):
    b = RNG.normal(size=(3, 2))
    np.testing.assert_allclose(SPD @ ops.linalg.solve(SPD, b), b, rtol=1e-10)
    np.testing.assert_allclose(ops.linalg.inv(SPD) @ SPD, np.eye(3), atol=1e-12)
    lower = ops.linalg.cholesky(SPD)
    np.testing.assert_allclose(lower @ lower.T, SPD, rtol=1e-12)
    np.testing.assert_allclose(ops.linalg.cholesky(SPD, upper=True), lower.T)
    u, s, vh = ops.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose((u * s) @ vh, X, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.linalg.det(SPD), np.prod(np.linalg.eigvalsh(SPD)), rtol=1e-12)
    for name in ("solve", "inv", "det", "cholesky", "solve_triangular"):
        args = (SPD, b) if name in ("solve", "solve_triangular") else (SPD,)
        _same(getattr(ops.linalg, name)(*args), getattr(keras.ops.linalg, name)(*args), 1e-5, name)


# --- derivatives against finite differences ---------------------------------------------------


XD = RNG.normal(size=(3, 4))
WEIGHTS = RNG.normal(size=(3, 4))


def _check_grad(f, x=XD, rtol=1e-6):
    np.testing.assert_allclose(adkit.grad(f)(x), numeric.gradient(f, x), rtol=rtol, atol=1e-8)


DERIVATIVES = {
    "top_k values": lambda x: np.sum(ops.top_k(x, 2)[0] * WEIGHTS[:, :2]),
    "segment_sum": lambda x: np.sum(ops.segment_sum(x, np.array([1, 0, 1]), 3) ** 2 * WEIGHTS),
    "segment_max": lambda x: np.sum(ops.segment_max(x, np.array([1, 0, 1]), 2) * WEIGHTS[:2]),
    "logsumexp": lambda x: np.sum(ops.logsumexp(x, axis=0) * WEIGHTS[0]),
    "moments": lambda x: np.sum(ops.moments(x, axes=[1])[0] * WEIGHTS[:, 0])
    + np.sum(ops.moments(x, axes=[1])[1] * WEIGHTS[:, 1]),
    "normalize": lambda x: np.sum(ops.normalize(x) * WEIGHTS),
    "normalize order 1": lambda x: np.sum(ops.normalize(x, axis=0, order=1) * WEIGHTS),
    "softmax": lambda x: np.sum(ops.softmax(x) * WEIGHTS),
    "softmax axes": lambda x: np.sum(ops.softmax(x, axis=(0, 1)) * WEIGHTS),
    "log_softmax": lambda x: np.sum(ops.log_softmax(x, axis=0) * WEIGHTS),
    "gelu": lambda x: np.sum(ops.gelu(x) * WEIGHTS),
    "silu": lambda x: np.sum(ops.silu(x) * WEIGHTS),
    "log_sigmoid": lambda x: np.sum(ops.log_sigmoid(x) * WEIGHTS),
    "softplus": lambda x: np.sum(ops.softplus(x) * WEIGHTS),
    "hard_sigmoid": lambda x: np.sum(ops.hard_sigmoid(2 * x) * WEIGHTS),
    "elu": lambda x: np.sum(ops.elu(x, 0.7) * WEIGHTS),
    "binary_crossentropy": lambda x: np.sum(ops.binary_crossentropy(
        (WEIGHTS > 0) * 1.0, ops.sigmoid(x))),
    "binary_crossentropy logits": lambda x: np.sum(ops.binary_crossentropy(
        (WEIGHTS > 0) * 1.0, x, from_logits=True)),
    "categorical_crossentropy": lambda x: np.sum(ops.categorical_crossentropy(
        ops.softmax(WEIGHTS), ops.softmax(x))),
    "categorical_crossentropy logits": lambda x: np.sum(ops.categorical_crossentropy(
        ops.softmax(WEIGHTS), x, from_logits=True)),
    "sparse_categorical_crossentropy logits": lambda x: np.sum(
        ops.sparse_categorical_crossentropy(np.array([0, 3, 1]), x, from_logits=True)),
    "slice_update": lambda x: np.sum(ops.slice_update(x, (1, 0), x[:2, :2] ** 2) * WEIGHTS),
    "scatter": lambda x: np.sum(ops.scatter(np.array([[0], [2], [0]]), x, (4, 4)) ** 2),
    "layer_normalization": lambda x: np.sum(ops.layer_normalization(x, WEIGHTS[0]) * WEIGHTS),
    "rms_normalization": lambda x: np.sum(ops.rms_normalization(x) * WEIGHTS),
    "erf erfinv rsqrt": lambda x: np.sum(ops.erf(x) + ops.erfinv(x / 4) + ops.rsqrt(x * x + 1)),
    "norm": lambda x: ops.norm(x) + np.sum(ops.linalg.norm(x, axis=1)),
    "take, where, clip": lambda x: np.sum(ops.take(x, np.array([2, 0]), axis=1) ** 2)
    + np.sum(ops.where(x > 0, x, 2 * x) * WEIGHTS) + np.sum(ops.clip(x, -0.5, 0.5) ** 2),
    "max with initial": lambda x: np.sum(ops.max(x, axis=1, initial=0.1) * WEIGHTS[:, 0]),
    "sort, median, cumsum, prod, std": lambda x: np.sum(ops.sort(x, axis=0) * WEIGHTS)
    + np.sum(ops.median(x, axis=1) * WEIGHTS[:, 0]) + np.sum(ops.median(x, axis=0) * WEIGHTS[0])
    + np.sum(ops.cumsum(x, axis=1) * WEIGHTS) + np.sum(ops.prod(x, axis=0) * WEIGHTS[0])
    + np.sum(ops.std(x, axis=1) * WEIGHTS[:, 1]),
    "segment_min, scatter_update": lambda x: np.sum(ops.segment_min(
        x, np.array([0, 0, 1]), 2) * WEIGHTS[:2]) + np.sum(ops.scatter_update(
            x, np.array([[0], [2], [0]]), x[::-1] ** 2) * WEIGHTS),
    "depth_to_space, pad reflect": lambda x: np.sum(ops.depth_to_space(
        x.reshape(1, 1, 3, 4), 2) ** 3) + np.sum(ops.pad(x, ((1, 1), (1, 1)), mode="reflect") ** 2),
    "quantile, percentile, trapezoid": lambda x: np.sum(ops.quantile(x, np.array([0.2, 0.7]), axis=1)
                                                        * WEIGHTS[:2, :3])
    + ops.percentile(x, 40) + np.sum(ops.trapezoid(x, x=np.array([0.0, 0.5, 2.0]), axis=0) * WEIGHTS[0]),
    "divide_no_nan, corrcoef, cdist": lambda x: np.sum(ops.divide_no_nan(WEIGHTS, x))
    + np.sum(ops.corrcoef(x) * WEIGHTS[:, :3]) + np.sum(ops.cdist(x, x[:2] + 1)),
    "dot_product_attention": lambda x: np.sum(ops.dot_product_attention(
        x.reshape(1, 3, 1, 4), x.reshape(1, 3, 1, 4), x.reshape(1, 3, 1, 4)) * WEIGHTS[None, :, None]),
}


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_derivatives_match_finite_differences(name):
    _check_grad(DERIVATIVES[name])


def test_conv_and_pooling_derivatives_match_finite_differences():
    img, ker = RNG.normal(size=(1, 5, 5, 2)), RNG.normal(size=(2, 2, 2, 3))
    w = RNG.normal(size=(1, 4, 4, 3))
    _check_grad(lambda k: np.sum(ops.conv(img, k) * w), ker)
    _check_grad(lambda x: np.sum(ops.conv(x, ker, padding="same")[:, :4, :4] * w), img)
    _check_grad(lambda x: np.sum(ops.average_pool(x, (2, 2), strides=1) * w[..., :2]), img)
    _check_grad(lambda x: np.sum(ops.max_pool(x, (2, 2), strides=1) * w[..., :2]), img)


def test_top_k_sends_no_derivative_to_the_entries_left_out():
    g = adkit.grad(lambda x: np.sum(ops.top_k(x, 1)[0]))(np.array([[1.0, 3.0, 2.0]]))
    np.testing.assert_array_equal(g, [[0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(adkit.grad(lambda x: np.sum(ops.stop_gradient(x) * x))(
        np.array([2.0, 3.0])), [2.0, 3.0])


# --- control flow ------------------------------------------------------------------------------


def test_control_flow_runs_as_python_and_differentiates():
    assert ops.cond(True, lambda: 1, lambda: 2) == 1 and ops.cond(0, lambda: 1, lambda: 2) == 2
    assert ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0) == 12
    assert ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + i), (0, 0)) == (4, 6)
    assert ops.while_loop(lambda i: True, lambda i: i + 1, 0, maximum_iterations=5) == 5
    assert ops.fori_loop(0, 4, lambda i, v: v + i, 10) == 16
    assert ops.switch(7, [lambda a: a, lambda a: -a], 3) == -3
    carry, ys = ops.scan(lambda c, x: (c + x, c * x), 0.0, np.array([1.0, 2.0, 3.0]), reverse=True)
    assert carry == 6.0 and list(ys) == [5.0, 6.0, 0.0]
    np.testing.assert_allclose(ops.map(lambda r: r * 2, X), 2 * X)
    np.testing.assert_allclose(ops.associative_scan(np.add, X, axis=1), np.cumsum(X, axis=1),
                               rtol=1e-6)

    def power_by_loop(x):
        return ops.fori_loop(0, 3, lambda i, v: v * x, np.ones_like(x)).sum() + \
            ops.scan(lambda c, r: (c * r, c), 1.0, x)[0] + \
            ops.while_loop(lambda v, k: k < 2, lambda v, k: (np.sin(v), k + 1), (x, 0))[0].sum()
    _check_grad(power_by_loop, RNG.normal(size=4))


@pytest.mark.parametrize("name, f", [
    ("top_k", lambda x, y: np.sum(ops.top_k(x, 2)[0] ** 2)),
    ("one_hot", lambda x, y: np.sum(ops.one_hot(y, 5) * x ** 2)),
    ("take", lambda x, y: np.sum(ops.take(x, y, axis=1) ** 2) + np.sum(ops.take(x, y) ** 3)),
    ("take_along_axis", lambda x, y: np.sum(ops.take_along_axis(x, y[:, None], axis=1) ** 2)),
    ("in_top_k", lambda x, y: np.sum(x ** 2 * ops.in_top_k(y, x, 2)[:, None])),
    ("median", lambda x, y: np.sum(ops.median(x, axis=0) ** 2)),
    ("sparse_categorical_crossentropy", lambda x, y: np.sum(
        ops.sparse_categorical_crossentropy(y, x, from_logits=True))),
])
def test_indices_that_change_with_the_data_stay_in_the_compiled_program(name, f):
    """A compiled gradient is staged once although the indices (top_k's, labels) change
    at every call, and it gives the eager gradient."""
    g = adkit.compile(adkit.grad(f))
    rng = np.random.default_rng(5)
    for _ in range(4):
        x, y = rng.normal(size=(3, 5)), rng.integers(0, 5, size=3)
        np.testing.assert_allclose(g(x, y), adkit.grad(f)(x, y), rtol=1e-12)
    assert (g.stats.traces, g.stats.replays) == (1, 3), name


def test_ops_trace_under_compile_and_custom_gradient():
    f = adkit.compile(lambda x: np.sum(ops.top_k(ops.softmax(x), 2)[0] * ops.one_hot(
        np.array([0, 1, 1]), 2)))
    x = RNG.normal(size=(3, 4))
    expected = np.sum(_top2(_softmax(x))[0] * np.eye(2)[[0, 1, 1]])
    assert f(x) == pytest.approx(expected) and f(2 * x) == pytest.approx(
        np.sum(_top2(_softmax(2 * x))[0] * np.eye(2)[[0, 1, 1]]))

    @ops.custom_gradient
    def clipped_identity(x):
        return x, lambda g: np.clip(g, -1.0, 1.0)
    np.testing.assert_array_equal(adkit.grad(lambda x: np.sum(3.0 * clipped_identity(x)))(
        np.zeros(2)), [1.0, 1.0])


# --- bad input gets a clear error --------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.cast(X, "flot32"), TypeError, "unknown dtype 'flot32'"),
    (lambda: ops.top_k(X, 9), ValueError, "k must be an int from 0 to the last axis's length 4"),
    (lambda: ops.one_hot(np.array([0.5]), 3), TypeError, "integer class labels"),
    (lambda: ops.slice(X, (2, 0), (2, 2)), ValueError, "does not fit"),
    (lambda: ops.slice(X, (0,), (2, 2)), ValueError, "one entry per axis"),
    (lambda: ops.segment_sum(D5, IDS[:3]), ValueError, "one segment id per row"),
    (lambda: ops.segment_sum(D5, IDS.astype(float)), ValueError, "1-D array of integers"),
    (lambda: ops.normalize(X, order=0), ValueError, "order must be an int >= 1"),
    (lambda: ops.moments(X, [0], synchronized=True), ValueError, "synchronized=False"),
    (lambda: ops.conv(X, KER), ValueError, "4-D input"),
    (lambda: ops.conv(IMG, KER, dilation_rate=2), ValueError, "dilation_rate=1"),
    (lambda: ops.max_pool(IMG, 2, data_format="channels_middle"), ValueError, "data_format"),
    (lambda: ops.binary_crossentropy(X, X[:2]), ValueError, "same shape"),
    (lambda: ops.where(X > 0, X), ValueError, "both x1 and x2"),
    (lambda: ops.unstack(X, num=2), ValueError, "num=2"),
    (lambda: ops.linalg.inv(X), ValueError, "square matrix"),
    (lambda: ops.convert_to_tensor(X, sparse=True), ValueError, "sparse"),
    (lambda: ops.while_loop(lambda a, b: a < 1, lambda a, b: a + 1, (0, 0)), ValueError,
     "returned 1 values for 2 loop variables"),
])
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_keras_names_missing_here_raise_attribute_error():
    with pytest.raises(AttributeError):
        ops.stft  # noqa: B018
    assert ak.ops is ops


# --- a subclassed layer written with keras.ops, trained ----------------------------------------


class GatedAttentionPool(layers.Layer):
    """Scores each step with keras.ops, softmax over steps, pools, gates with silu:
    the kind of layer Keras code writes with keras.ops."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.score = self.add_weight(shape=(input_shape[-1],), initializer="random_normal",
                                     name="score")
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs):
        logits = ops.einsum("btf,f->bt", inputs, self.score)
        weights = ops.expand_dims(ops.softmax(logits, axis=-1), -1)
        pooled = ops.sum(weights * inputs, axis=1)
        top = ops.top_k(logits, 2)[0]
        hidden = ops.matmul(pooled, self.kernel) + ops.mean(top, axis=-1, keepdims=True)
        return ops.silu(ops.layer_normalization(hidden))


SEQ = RNG.normal(size=(32, 5, 3)).astype(np.float32)
TARGET = np.tanh(SEQ.sum(axis=(1, 2)))[:, None].astype(np.float32)


def _pool_model(jit):
    model = ak.Sequential([GatedAttentionPool(6, input_shape=(5, 3)), layers.Dense(1)], seed=4)
    model.compile(optimizer=ak.optimizers.Adam(0.02), loss="mse", jit_compile=jit)
    return model


def test_a_layer_written_with_keras_ops_trains_compiled_and_eager_alike():
    histories = []
    for jit in (True, False):
        model = _pool_model(jit)
        with warnings.catch_warnings():   # top_k's indices change every step: the compiled
            warnings.simplefilter("error", adkit.CompileWarning)   # step must not restage
            histories.append(model.fit(SEQ, TARGET, epochs=25, batch_size=8, verbose=0,
                                       shuffle=False).history["loss"])
    assert histories[0][-1] < 0.6 * histories[0][0]
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


def test_the_layers_gradient_matches_finite_differences():
    model = _pool_model(True)
    params = {k: {n: np.asarray(a, np.float64) for n, a in v.items()}
              for k, v in model.params.items()}
    name = model.layers[0].name

    def loss_of_score(score):
        p = {**params, name: {**params[name], "score": score}}
        return np.mean((model.apply(p, SEQ.astype(np.float64))[0] - TARGET) ** 2)

    score = params[name]["score"]
    np.testing.assert_allclose(adkit.grad(loss_of_score)(score),
                               numeric.gradient(loss_of_score, score), rtol=1e-6)


# --- ops on a functional model's symbolic tensors ----------------------------------------------


def _functional_with_ops(seed=0):
    inputs = ak.Input((4,))
    x = ops.expand_dims(inputs, -1)                     # (None, 4, 1)
    x = ops.squeeze(ops.relu(x), -1)
    both = ops.concatenate([x, ops.sqrt(ops.abs(inputs))], axis=-1)
    return ak.Model(inputs, layers.Dense(1, name="out")(both), seed=seed)


def test_ops_on_symbolic_tensors_become_layers_of_the_model():
    model = _functional_with_ops()
    names = [layer.name for layer in model.layers]   # Keras's op names, numbered if repeated
    assert names[1].startswith("expand_dims") and names[2].startswith("relu")
    assert model.count_params() == 9 and ops.shape(ak.Input((4, 2))) == (None, 4, 2)
    x = RNG.normal(size=(6, 4)).astype(np.float32)
    kernel, bias = model.get_layer("out").get_weights()
    expected = np.concatenate([np.maximum(x, 0), np.sqrt(np.abs(x))], -1) @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_functional_model_with_ops_trains_compiled_and_eager_alike():
    x = RNG.normal(size=(32, 4)).astype(np.float32)
    y = (np.abs(x).sum(1, keepdims=True)).astype(np.float32)
    histories = []
    for jit in (True, False):
        model = _functional_with_ops(seed=1)
        model.compile(optimizer=ak.optimizers.Adam(0.05), loss="mse", jit_compile=jit)
        histories.append(model.fit(x, y, epochs=20, batch_size=8, verbose=0,
                                   shuffle=False).history["loss"])
    assert histories[0][-1] < 0.5 * histories[0][0]
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


def test_symbolic_ops_that_cannot_be_recorded_say_so(tmp_path):
    with pytest.raises(TypeError, match="top_k gives several arrays"):
        ops.top_k(ak.Input((4,)), 2)
    with pytest.raises(ValueError, match="Lambda layer 'relu.*save the weights"):
        model = ak.Model(inp := ak.Input((3,)), layers.Dense(1)(ops.relu(inp)))
        model.save(tmp_path / "m.keras")
