"""scipy.linalg.block_diag, toeplitz, circulant, hankel and companion on traced values, and
solve_toeplitz as np.linalg.solve of the Toeplitz matrix (O(n^3) where SciPy's Levinson
recursion is O(n^2); the same solution, and derivatives from solve's rule).

Each matrix is its inputs rearranged: an index gather (toeplitz, circulant, hankel) or
blocks joined with zeros (block_diag), so the derivatives come from the indexing and
concatenation entries of the table, to any order. Shapes, batching and defaults are
SciPy 1.17's: toeplitz(c) uses r = conj(c), hankel(c) uses r = zeros, toeplitz and
circulant treat leading axes as a batch, hankel ravels (SciPy warns about that itself
on plain arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sl

from ..tracer import primal
from .helpers import ndim_of, shape_of
from .scipy_binding import bind


def _as_array(x: Any) -> Any:
    return x if hasattr(x, "shape") else np.asarray(x)


def _at_least_1d(x: Any) -> Any:
    x = _as_array(x)
    return np.reshape(x, (1,)) if ndim_of(x) == 0 else x


def _at_least_2d(x: Any) -> Any:
    x = _as_array(x)
    return np.reshape(x, (1,) * (2 - ndim_of(x)) + shape_of(x)) if ndim_of(x) < 2 else x


def _block_diag(*arrs):
    blocks = [_at_least_2d(a) for a in (arrs or ([],))]
    batch = np.broadcast_shapes(*(shape_of(b)[:-2] for b in blocks))
    blocks = [np.broadcast_to(b, batch + shape_of(b)[-2:]) if shape_of(b)[:-2] != batch else b
              for b in blocks]
    total = sum(shape_of(b)[-1] for b in blocks)
    rows, start = [], 0
    for b in blocks:
        height, width = shape_of(b)[-2:]
        left = np.zeros(batch + (height, start))
        right = np.zeros(batch + (height, total - start - width))
        rows.append(np.concatenate([left, b * 1.0, right], axis=-1))
        start += width
    return np.concatenate(rows, axis=-2)


def _toeplitz(c, r=None):
    c = _at_least_1d(c)
    r = np.conj(c) if r is None else _at_least_1d(r)
    batch = np.broadcast_shapes(shape_of(c)[:-1], shape_of(r)[:-1])
    c = np.broadcast_to(c, batch + shape_of(c)[-1:]) if shape_of(c)[:-1] != batch else c
    r = np.broadcast_to(r, batch + shape_of(r)[-1:]) if shape_of(r)[:-1] != batch else r
    n, m = shape_of(c)[-1], shape_of(r)[-1]
    values = np.concatenate([c[..., ::-1], r[..., 1:]], axis=-1)
    return values[..., (n - 1) - np.arange(n)[:, None] + np.arange(m)[None, :]]


def _circulant(c):
    c = _at_least_1d(c)
    n = shape_of(c)[-1]
    return c[..., (np.arange(n)[:, None] - np.arange(n)[None, :]) % n]


def _hankel(c, r=None):
    c = np.ravel(_as_array(c))
    r = np.zeros(shape_of(c)) if r is None else np.ravel(_as_array(r))
    n, m = shape_of(c)[0], shape_of(r)[0]
    values = np.concatenate([c, r[1:]])
    return values[np.arange(n)[:, None] + np.arange(m)[None, :]]


def _companion(a):
    a = _at_least_1d(a)
    n = shape_of(a)[-1]
    if n < 2:
        raise ValueError("The length of `a` along the last axis must be at least 2.")
    if np.any(primal(a)[..., 0] == 0):
        raise ValueError("The first coefficient(s) of `a` (i.e. elements of `a[..., 0]`) "
                         "must not be zero.")
    first_row = -a[..., 1:] / (1.0 * a[..., 0:1])
    below = np.broadcast_to(np.eye(n - 2, n - 1), shape_of(a)[:-1] + (n - 2, n - 1))
    return np.concatenate([first_row[..., None, :], below], axis=-2)


def _solve_toeplitz(c_or_cr, b, check_finite=True):
    c, r = c_or_cr if isinstance(c_or_cr, tuple) else (c_or_cr, None)
    c = _as_array(c)
    if ndim_of(c) > 1 or (r is not None and ndim_of(r) > 1):
        raise ValueError("scipy.linalg.solve_toeplitz on traced values takes a 1-D c (and r)")
    matrix = _toeplitz(c, None if r is None else r)
    return np.linalg.solve(matrix, _as_array(b))


for _fn, _handler in ((sl.block_diag, _block_diag), (sl.toeplitz, _toeplitz),
                      (sl.circulant, _circulant), (sl.hankel, _hankel),
                      (sl.solve_toeplitz, _solve_toeplitz), (sl.companion, _companion)):
    bind(_fn, _handler, "scipy.linalg." + _fn.__name__, via=())
