"""scipy.linalg.svd, svdvals, qr, pinv, lstsq, orth, eig and eigvals: NumPy's rules
under SciPy's names.

Each is the np.linalg function adkit already differentiates (adkit/rules/linalg.py),
called with SciPy's arguments and returning SciPy's conventions:
- svd returns the tuple (U, s, Vh), full_matrices=True by default (a square matrix, or
  compute_uv=False; the extra singular vectors of a non-square one are not unique);
- qr's modes are 'full' (NumPy's 'complete'), 'economic' ('reduced') and 'r', which
  returns the 1-tuple (R,) with R of shape (M, N) as SciPy's; pivoting=True permutes the
  columns as SciPy's geqp3 chose them at the point (piecewise constant, no derivative),
  then factors A[:, P];
- pinv's cutoff is atol + rtol * max(s) (SciPy's defaults), return_rank gives (B, rank);
- lstsq returns (x, residues, rank, s) with SciPy's residues (empty unless M > N and the
  rank is N) and cond as the relative cutoff;
- orth is SciPy's: the first rank columns of svd's U; eig and eigvals are np.linalg.eig
  for A v = w v (right eigenvectors; b=, left= and homogeneous_eigvals= are refused).
Singular vectors and Q's columns are fixed up to sign; the signs are taken from SciPy's
own factorization at the point, so values equal SciPy's (the eigh handler does the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sl

from ..table import NoRuleError
from ..tracer import primal
from .helpers import is_complex, ndim_of, shape_of
from .linalg import eig_p, lstsq_p, pinv, qr_p, svd_p
from .products import _mT
from .scipy_binding import bind, original


def _matrix(name: str, a: Any) -> None:
    if ndim_of(a) != 2:
        raise ValueError(f"scipy.linalg.{name} expects a 2-D array, got shape {shape_of(a)}")


def _column_signs(x: Any, reference: np.ndarray) -> Any:
    """+-1 per column k, so that x[:, k] * sign points the way reference[:, k] does."""
    return np.where(np.sum(primal(x) * reference, axis=-2) < 0, -1.0, 1.0)


def _svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
         lapack_driver="gesdd"):
    _matrix("svd", a)
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f'lapack_driver must be "gesdd" or "gesvd", not "{lapack_driver}"')
    if not compute_uv:
        return np.linalg.svd(a, compute_uv=False)
    m, n = shape_of(a)
    if full_matrices and m != n:
        raise NoRuleError(
            f"scipy.linalg.svd(a, full_matrices=True) of a non-square ({m} x {n}) traced "
            "matrix: the extra singular vectors are not unique, so they have no derivative; "
            "pass full_matrices=False")
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    if not is_complex(a):
        ref = original(sl.svd)(primal(a), full_matrices=False, lapack_driver=lapack_driver)[0]
        sign = _column_signs(u, ref)
        u, vh = u * sign, vh * sign[:, None]
    return u, s, vh


def _svdvals(a, overwrite_a=False, check_finite=True):
    _matrix("svdvals", a)
    return np.linalg.svd(a, compute_uv=False)


def _qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    if mode not in ("full", "qr", "r", "economic", "raw"):
        raise ValueError("Mode argument should be one of ['full', 'r', 'economic', 'raw']")
    _matrix("qr", a)
    m, n = shape_of(a)
    if mode == "raw":
        raise NoRuleError("scipy.linalg.qr(mode='raw') returns LAPACK's Householder "
                          "reflectors, which adkit does not differentiate; use "
                          "mode='economic' (or 'full' for a wide or square matrix)")
    if mode in ("full", "qr") and m > n:
        raise NoRuleError(
            f"scipy.linalg.qr(a, mode='full') of a tall ({m} x {n}) traced matrix: the last "
            f"{m - n} columns of Q are not unique, so they have no derivative; pass "
            "mode='economic' (Q of shape (M, N)) or mode='r'")
    perm = None
    if pivoting:
        perm = original(sl.qr)(primal(a), mode="r", pivoting=True)[1]
        a = a[:, perm]
    packed = qr_p(a)  # Q and R^T, as np.linalg.qr's 'reduced'
    q, r = packed[:m, :], _mT(packed[m:, :])
    if not is_complex(a):
        ref_r = original(sl.qr)(primal(a), mode="economic")[1]
        sign = np.where(np.diagonal(primal(r)) * np.diagonal(ref_r) < 0, -1.0, 1.0)
        q, r = q * sign, r * sign[:, None]
    if mode == "r" and m > n:  # SciPy's R has all M rows, zeros below the triangle
        r = np.concatenate([r, np.zeros((m - n, n))], axis=0)
    out = (r,) if mode == "r" else (q, r)
    return out + (perm,) if pivoting else out


def _pinv(a, *, atol=None, rtol=None, return_rank=False, check_finite=True):
    _matrix("pinv", a)
    s = np.linalg.svd(primal(a), compute_uv=False)
    atol = 0.0 if atol is None else atol
    rtol = max(shape_of(a)) * np.finfo(np.result_type(primal(a), 1.0)).eps \
        if rtol is None else rtol
    if atol < 0.0 or rtol < 0.0:
        raise ValueError("atol and rtol values must be positive.")
    largest = np.max(s, initial=0.0)
    cutoff = atol + largest * rtol
    rank = int(np.sum(s > cutoff))
    # np.linalg.pinv cuts at rcond * max(s); the same cut as SciPy's absolute one
    out = pinv(a, rcond=cutoff / largest if largest > 0 else 1.0)
    return (out, rank) if return_rank else out


def _lstsq(a, b, cond=None, overwrite_a=False, overwrite_b=False, check_finite=True,
           lapack_driver=None):
    _matrix("lstsq", a)
    b = b if hasattr(b, "shape") else np.asarray(b)
    m, n = shape_of(a)
    if ndim_of(b) not in (1, 2) or shape_of(b)[0] != m:
        raise ValueError(f"Shape mismatch: a and b should have the same number of rows "
                         f"({m} != {shape_of(b)[0] if ndim_of(b) else 'a scalar'}).")
    if lapack_driver not in (None, "gelsd", "gelsy", "gelss"):
        raise ValueError(f'LAPACK driver "{lapack_driver}" is not found')
    _, _, rank, s = original(sl.lstsq)(primal(a), primal(b), cond=cond,
                                       lapack_driver=lapack_driver)
    rcond = np.finfo(np.result_type(primal(a), primal(b), 1.0)).eps if cond is None else cond
    x = lstsq_p(a, b, rcond=rcond)
    residues = np.zeros((0,))
    if m > n and rank == n and lapack_driver != "gelsy":
        r = b - a @ x
        residues = np.sum(np.real(r * np.conj(r)) if is_complex(r) else r * r, axis=0)
    return x, residues, rank, s


def _orth(A, rcond=None):
    _matrix("orth", A)
    u, s, _ = _svd(A, full_matrices=False)
    s = primal(s)
    if rcond is None:
        rcond = np.finfo(s.dtype).eps * max(shape_of(A))
    rank = int(np.sum(s > np.max(s, initial=0.0) * rcond))
    return u[:, :rank]


def _eig(a, b=None, left=False, right=True, overwrite_a=False, overwrite_b=False,
         check_finite=True, homogeneous_eigvals=False):
    if b is not None or left or homogeneous_eigvals:
        raise NoRuleError("scipy.linalg.eig is differentiable for A v = w v with right "
                          "eigenvectors only; drop b=, left=True and homogeneous_eigvals=True "
                          "(for a symmetric generalized problem use scipy.linalg.eigh(a, b))")
    _matrix("eig", a)
    w, v = np.linalg.eig(a)
    w = w if is_complex(w) else w + 0j  # SciPy's eigenvalues are complex, real or not
    if not right:
        return w
    # each eigenvector is fixed up to a factor: LAPACK's unit norm and real largest
    # component leave a sign for a real one, taken from SciPy's own at the point
    ref = original(sl.eig)(primal(a))[1]
    real = ~np.iscomplexobj(primal(v)) or np.all(np.imag(ref) == 0, axis=0)
    sign = np.where(real & (np.real(np.sum(np.conj(ref) * primal(v), axis=0)) < 0), -1.0, 1.0)
    return w, v * sign


def _eigvals(a, b=None, overwrite_a=False, check_finite=True, homogeneous_eigvals=False):
    return _eig(a, b, right=False, homogeneous_eigvals=homogeneous_eigvals)


for _fn, _handler, _via in ((sl.svd, _svd, (svd_p,)), (sl.svdvals, _svdvals, (svd_p,)),
                            (sl.qr, _qr, (qr_p,)), (sl.pinv, _pinv, (pinv,)),
                            (sl.lstsq, _lstsq, (lstsq_p,)), (sl.orth, _orth, (svd_p,)),
                            (sl.eig, _eig, (eig_p,)), (sl.eigvals, _eigvals, (eig_p,))):
    bind(_fn, _handler, "scipy.linalg." + _fn.__name__, via=_via)
