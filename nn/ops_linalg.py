"""Keras 3's `keras.ops.linalg`: NumPy's and SciPy's linear algebra under Keras's names,
argument names and defaults (svd(x, full_matrices=True, compute_uv=True),
cholesky(x, upper=False), solve_triangular(a, b, lower=False)), differentiable through
adkit's rules for numpy.linalg and scipy.linalg.

>>> import numpy as np
>>> float(det(np.array([[2.0, 0.0], [0.0, 3.0]])))
6.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import scipy_lazy


def _float(x: Any) -> Any:
    x = x if isinstance(x, np.ndarray) or hasattr(x, "_trace") else np.asarray(x)
    return x.astype(np.float32) if x.dtype.kind in "biu" else x


def _square(x: Any, who: str) -> Any:
    x = _float(x)
    s = np.shape(x)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"linalg.{who}: x must be a square matrix (or a stack of them), "
                         f"got shape {s}")
    return x


def cholesky(x: Any, upper: bool = False) -> Any:
    """The Cholesky factor L of a positive-definite x = L L^T (upper: L^T)."""
    factor = np.linalg.cholesky(_square(x, "cholesky"))
    return np.swapaxes(factor, -1, -2) if upper else factor


def cholesky_inverse(x: Any, upper: bool = False) -> Any:
    """The inverse of A from its Cholesky factor x (A = x x^T, or x^T x if upper)."""
    x = _square(x, "cholesky_inverse")
    t = np.swapaxes(x, -1, -2)
    return np.linalg.inv(t @ x if upper else x @ t)


def det(x: Any) -> Any:
    """The determinant."""
    return np.linalg.det(_square(x, "det"))


def slogdet(x: Any) -> tuple[Any, Any]:
    """(sign, log|det|)."""
    return tuple(np.linalg.slogdet(_square(x, "slogdet")))


def logdet(x: Any) -> Any:
    """log det(x) of a positive-definite x."""
    return np.linalg.slogdet(_square(x, "logdet"))[1]


def eig(x: Any) -> tuple[Any, Any]:
    """(eigenvalues, eigenvectors) of a general square matrix."""
    return tuple(np.linalg.eig(_square(x, "eig")))


def eigh(x: Any) -> tuple[Any, Any]:
    """(eigenvalues ascending, eigenvectors) of a symmetric matrix."""
    return tuple(np.linalg.eigh(_square(x, "eigh")))


def inv(x: Any) -> Any:
    """The inverse matrix."""
    return np.linalg.inv(_square(x, "inv"))


def solve(a: Any, b: Any) -> Any:
    """x with a @ x = b."""
    return np.linalg.solve(_square(a, "solve"), _float(b))


def solve_triangular(a: Any, b: Any, lower: bool = False) -> Any:
    """x with a @ x = b for a triangular a (upper unless lower)."""
    return scipy_lazy.linalg().solve_triangular(_square(a, "solve_triangular"), _float(b),
                                         lower=lower)


def qr(x: Any, mode: str = "reduced") -> tuple[Any, Any]:
    """(q, r) with x = q r, mode 'reduced' or 'complete'."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    return tuple(np.linalg.qr(_float(x), mode=mode))


def svd(x: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """(u, s, vh) with x = u diag(s) vh, or s alone without compute_uv."""
    out = np.linalg.svd(_float(x), full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def lstsq(a: Any, b: Any, rcond: Any = None) -> Any:
    """The least-squares solution x of a @ x = b (the solution only, as Keras)."""
    return np.linalg.lstsq(_float(a), _float(b), rcond=rcond)[0]


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """The vector or matrix norm (NumPy's ord and axis; integers give float32)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return np.linalg.norm(_float(x), ord=ord, axis=axis, keepdims=keepdims)


def pinv(x: Any, rcond: float = 1e-15) -> Any:
    """The Moore-Penrose pseudo-inverse."""
    return np.linalg.pinv(_float(x), rcond=rcond)


def matrix_rank(x: Any, tol: Any = None) -> Any:
    """The number of singular values above tol."""
    return np.linalg.matrix_rank(np.asarray(x), tol=tol)
