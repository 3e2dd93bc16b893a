"""numpy.linalg: inverses, solves, determinants, decompositions, norms.

Primitives carry the rules for inv, det, slogdet, solve, cholesky, eigh, eig,
svd, qr, pinv, lstsq and the 2-norm; everything else (eigvalsh, eigvals,
svdvals, the other norms, cond, matrix_power, tensorsolve, tensorinv and the
np.linalg spellings of matmul, trace, ...) is a composition of primitives (so
eigvalsh, eigvals and svdvals compute the vectors their derivatives need). All
work on stacks of matrices (leading batch axes) wherever NumPy does.

A decomposition with several outputs is one primitive whose value packs them
into one array, e.g. eigh's (..., n+1, n) holds the eigenvalues in row 0 and
the eigenvectors below; the handler unpacks it with indexing, so reverse mode
gets one cotangent for all outputs and a single factorisation is computed.

Conventions:
- Exact derivatives of what NumPy computes. eigh, eigvalsh, cholesky and the
  hermitian=True variants of svd and pinv read one triangle of their argument
  (the lower one, or the upper one for UPLO='U' / upper=True), so their
  derivatives live on that triangle: an off-diagonal entry there counts twice,
  the other triangle gets 0. Along symmetric directions this is the same as the
  symmetrised derivative autograd/JAX give.
- Eigenvectors and singular vectors are differentiated in NumPy's own gauge:
  eigh and svd vectors are real unit vectors (their sign is locally constant);
  eig's are unit vectors whose largest component is real, as LAPACK returns
  them, so any function of them, phase-dependent or not, has its derivative
  (for a real matrix LAPACK may flip that component's sign: a jump, not a
  derivative).
- Degenerate spectra (repeated eigenvalues, repeated singular values) make the
  vector derivatives undefined: pairs closer than n*eps*max|value| contribute 0
  instead of 1/0 (so do zero singular values to the parts of U and V outside
  the range), giving finite, not meaningful, vector derivatives; the values'
  derivatives are unaffected (exact for symmetric functions of a degenerate
  group, such as its sum). pinv and lstsq assume the rank is locally constant.
- The 2-norm has derivative 0 at 0 (a subgradient); other norms follow abs, max
  and min (ties split evenly, as for np.max).
- slogdet's sign carries no derivative for a real matrix (it is piecewise
  constant); for a complex one it is det/|det|, differentiated. det, inv,
  solve, slogdet, eig, eigh, svd, cholesky, qr, pinv and lstsq accept complex
  matrices, arguments or intermediates (autograd's convention, docs/complex.md:
  the cotangent of a holomorphic f is g * f'(z), a real argument keeps the real
  part; eigh's and svd's vectors keep LAPACK's phases, see _lapack_gauge; the
  SymPy slots of the decompositions refuse complex matrices by name). det,
  slogdet, inv, solve and qr need a nonsingular (full-rank) matrix: their rules
  invert it.
- svd(full_matrices=True) of a non-square matrix and qr(mode='complete') of a
  tall one raise a TypeError: the extra columns are not unique, so they have no
  derivative; use full_matrices=False / mode='reduced'.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NoSympyError, no_sympy
from ..table import PRIMITIVES, defnondiff, defprim, handles
from ..tracer import primal
from .helpers import (batch_axes, batch_ndim, dtype_of, is_complex, lift, ndim_of,
                      normalize_axis, shape_of, unbroadcast)
from .indexing import getitem
from .products import _mT, einsum_p, matmul
from .reductions import expand_back, max_, min_, sum_
from .shapes import transpose


def _diag(v: Any) -> Any:
    """A stack of diagonal matrices from a stack of vectors."""
    return v[..., None, :] * np.eye(shape_of(v)[-1], dtype=bool)


def _tr_prod(x: Any, y: Any) -> Any:
    """trace(x @ y) over the last two axes (broadcasting leading ones)."""
    return np.einsum("...ij,...ji->...", x, y)


def _tol(v: Any, n: int) -> Any:
    """Below this a value or a gap between values counts as zero: n*eps*max|v|."""
    vp = np.abs(primal(v))
    return n * np.finfo(dtype_of(vp)).eps * np.max(vp, axis=-1, keepdims=True)


def _recip(v: Any, n: int) -> Any:
    """1/v, with 0 where v is (numerically) 0."""
    ok = np.abs(primal(v)) > _tol(v, n)
    return np.where(ok, 1.0 / np.where(ok, v, 1.0), 0.0)


def _inv_gaps(w: Any) -> Any:
    """F[..., i, j] = 1 / (w[j] - w[i]); 0 on the diagonal and for degenerate pairs."""
    d = w[..., None, :] - w[..., :, None]
    ok = np.abs(primal(d)) > _tol(w, shape_of(w)[-1])[..., None]
    return np.where(ok, 1.0 / np.where(ok, d, 1.0), 0.0)


def _sym(x: Any, lower: bool) -> Any:
    """The symmetric matrix LAPACK sees when it reads one triangle of x."""
    if lower:
        return np.tril(x) + _mT(np.tril(x, -1))
    return np.triu(x) + _mT(np.triu(x, 1))


def _sym_T(c: Any, lower: bool) -> Any:
    """The adjoint of _sym: a cotangent of the symmetric matrix back onto the triangle."""
    if lower:
        return np.tril(c) + np.tril(_mT(c), -1)
    return np.triu(c) + np.triu(_mT(c), 1)


def _mH(x: Any) -> Any:
    """The conjugate transpose over the last two axes."""
    return np.conj(_mT(x))


def _herm(x: Any, lower: bool) -> Any:
    """The Hermitian matrix LAPACK sees when it reads one triangle of a complex x (the
    imaginary part of the diagonal is ignored)."""
    t = np.tril(x, -1) if lower else np.triu(x, 1)
    return t + np.conj(_mT(t)) + _diag(np.real(np.diagonal(x, axis1=-2, axis2=-1)))


def _herm_T(c: Any, lower: bool) -> Any:
    """The adjoint of _herm under the complex convention's pairing Re sum(c * dx)."""
    t = c + np.conj(_mT(c))
    t = np.tril(t, -1) if lower else np.triu(t, 1)
    return t + _diag(np.real(np.diagonal(c, axis1=-2, axis2=-1)))


def _result(fn: Any, *example: Any) -> Any:
    """NumPy's result namedtuple (EighResult, ...), or a plain tuple on older NumPy."""
    t = type(fn(*example))
    return t if t is not tuple else (lambda *parts: parts)


_EYE2 = np.eye(2)
_EighResult = _result(np.linalg.eigh, _EYE2)
_EigResult = _result(np.linalg.eig, _EYE2)
_SVDResult = _result(np.linalg.svd, _EYE2)
_QRResult = _result(np.linalg.qr, _EYE2)
_SlogdetResult = _result(np.linalg.slogdet, _EYE2)


# --- SymPy counterparts (adkit.symbolic) ---------------------------------------------------------
# Exact expressions for small matrices, one matrix of a stack at a time: determinants by
# cofactor expansion, inverses and solves by the adjugate, Cholesky by its recurrence, QR
# from the Cholesky factor of the Gram matrix, pinv and lstsq from the normal equations
# (full rank), symmetric 2x2 eigenproblems as a rotation (svd through the smaller Gram
# matrix), general 2x2 ones by the quadratic formula. Choices NumPy makes by value (the
# signs of eigenvectors and of R's diagonal, the order of eig's eigenvalues, the sign of
# a determinant) are read from its answer at the point and recorded as branches. Beyond
# _SYM_LIMITS the rules raise NoSympyError: the expressions grow factorially (and have no
# closed form for eigenvalues beyond 4x4), and SymPy differentiates trees, not shared
# subexpressions, so even a 3x3 QR or svd takes tens of seconds.

#: the largest size (n of n x n; for qr, svd, pinv and lstsq the smaller dimension) with
#: exact expressions; chosen so that symbolic.grad of one stays within seconds
_SYM_LIMITS = {"det": 4, "slogdet": 4, "inv": 4, "solve": 4, "cholesky": 3, "qr": 2,
               "eigh": 2, "eig": 2, "svd": 2, "pinv": 2, "lstsq": 2}


def _sym_refuse(name: str, why: str) -> NoSympyError:
    return no_sympy(f"np.linalg.{name}", why)


def _sym_size(name: str, n: int) -> None:
    limit = _SYM_LIMITS[name]
    if n > limit:
        raise _sym_refuse(name, f"exact expressions are built up to size {limit} here, this "
                          f"is {n}: beyond, they and their derivatives grow too large")


def _sym_stack(batch: tuple, one: Any) -> np.ndarray:
    """one(index) (an expression, or an object array or nested list of them) for each
    index of the batch shape, stacked into one object array."""
    parts = {i: one(i) for i in np.ndindex(*batch)}
    first = next(iter(parts.values()))
    shape = np.shape(first) if isinstance(first, (np.ndarray, list)) else ()
    out = np.empty(batch + shape, dtype=object)
    for i, part in parts.items():
        out[i] = part
    return out


def _sym_objects(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=object)


def _sym_root(sp, u: Any) -> Any:
    """sqrt(u) of a quantity positive at the point, written sqrt(|u|) unless SymPy can
    tell u >= 0 by itself: equal near the point, and SymPy then knows the root is real
    (else re(), im() and abs() of the results grow into large expressions)."""
    u = sp.sympify(u)
    return sp.sqrt(u if u.is_nonnegative else sp.Abs(u))


def _sym_det(m: np.ndarray) -> Any:
    """Cofactor expansion along the first row (n! terms: small matrices only)."""
    n = m.shape[0]
    if n == 0:
        return 1
    if n == 1:
        return m[0, 0]
    rest = m[1:]
    return sum((-1) ** j * m[0, j] * _sym_det(np.delete(rest, j, axis=1)) for j in range(n))


def _sym_inv(sp, m: np.ndarray) -> np.ndarray:
    """adj(m) / det(m)."""
    n = m.shape[0]
    adj = np.empty((n, n), dtype=object)
    for i in range(n):
        minor_rows = np.delete(m, i, axis=0)
        for j in range(n):
            adj[j, i] = (-1) ** (i + j) * _sym_det(np.delete(minor_rows, j, axis=1))
    return adj * (1 / sp.sympify(_sym_det(m)))


def _sym_matrices(name: str, a: Any) -> np.ndarray:
    a = _sym_objects(a)
    _sym_size(name, a.shape[-1])
    return a


def _sym_inverse(sp, at, a):
    a = _sym_matrices("inv", a)
    return _sym_stack(a.shape[:-2], lambda i: _sym_inv(sp, a[i]))


def _sym_determinant(sp, at, a):
    a = _sym_matrices("det", a)
    return _sym_stack(a.shape[:-2], lambda i: _sym_det(a[i]))


def _sym_slogdet(sp, at, a):
    """(sign, log|det|): for a real matrix the sign is a constant and log|det| is
    log(sign * det); for a complex one the sign is det/|det|."""
    a = _sym_matrices("slogdet", a)
    sign = at.ans[..., 0]
    complex_ = np.iscomplexobj(at.values[0])
    if not complex_ and np.any(sign < 0):
        at.branch("sign of the determinant")

    def one(i):
        d = _sym_det(a[i])
        if complex_:
            abs2 = sp.re(d) ** 2 + sp.im(d) ** 2
            return [d / sp.sqrt(abs2), sp.log(abs2) / 2]
        return [sp.Integer(int(sign[i])), sp.log(int(sign[i]) * d)]
    return _sym_stack(a.shape[:-2], one)


def _sym_solve(sp, at, a, b):
    a, b = _sym_matrices("solve", a), _sym_objects(b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    return _sym_stack(batch, lambda i: _sym_inv(sp, a[i]) @ b[i])


def _sym_triangle(a: np.ndarray, lower: bool) -> np.ndarray:
    """The symmetric matrix built from one triangle (what LAPACK reads)."""
    n = a.shape[-1]
    s = np.empty(a.shape, dtype=a.dtype)
    for i in range(n):
        for j in range(n):
            s[..., i, j] = a[..., max(i, j), min(i, j)] if lower else a[..., min(i, j), max(i, j)]
    return s


def _sym_cholesky(sp, at, a, upper=False):
    _sym_real_only("cholesky", at)
    a = _sym_triangle(_sym_matrices("cholesky", a), not upper)
    n = a.shape[-1]

    def one(i):
        s, low = a[i], np.full((n, n), sp.Integer(0), dtype=object)
        for j in range(n):
            low[j, j] = _sym_root(sp, s[j, j] - sum(low[j, k] ** 2 for k in range(j)))
            for r in range(j + 1, n):
                low[r, j] = (s[r, j] - sum(low[r, k] * low[j, k] for k in range(j))) / low[j, j]
        return low.T if upper else low
    return _sym_stack(a.shape[:-2], one)


def _sym_unit(sp, v: np.ndarray) -> np.ndarray:
    return v / _sym_root(sp, sum(e * e for e in v))


def _sym_sym_eig(sp, s: np.ndarray, s_num: np.ndarray, v_num: np.ndarray):
    """Eigenvalues (ascending) and unit eigenvectors (columns, with NumPy's signs v_num)
    of a symmetric 1x1 or 2x2 matrix s (s_num at the point): mid -+ rad, and a rotation
    by t = atan2(s01, (s00 - s11) / 2) / 2, whose first column (cos t, sin t) belongs to
    the larger eigenvalue."""
    if s.shape[0] == 1:
        return np.array([s[0, 0]], dtype=object), \
            np.array([[sp.Integer(1 if v_num[0, 0] >= 0 else -1)]], dtype=object)
    mid, half = (s[0, 0] + s[1, 1]) / 2, (s[0, 0] - s[1, 1]) / 2
    rad = _sym_root(sp, half ** 2 + s[0, 1] ** 2)
    t = sp.atan2(s[0, 1], half) / 2
    t_num = np.arctan2(s_num[0, 1], (s_num[0, 0] - s_num[1, 1]) / 2) / 2
    rotation = np.array([[-np.sin(t_num), np.cos(t_num)], [np.cos(t_num), np.sin(t_num)]])
    signs = np.where(np.sum(rotation * v_num, axis=0) >= 0, 1, -1)
    vectors = np.array([[-sp.sin(t), sp.cos(t)], [sp.cos(t), sp.sin(t)]], dtype=object) * signs
    return np.array([mid - rad, mid + rad], dtype=object), vectors


def _sym_null_vector_2x2(m: np.ndarray, m_num: np.ndarray) -> tuple:
    """A null vector of the singular 2x2 matrix m: a row turned by 90 degrees (the longer
    one at the point), and its value."""
    rows = [np.array([m[0, 1], -m[0, 0]]), np.array([m[1, 1], -m[1, 0]])]
    nums = [np.array([m_num[0, 1], -m_num[0, 0]]), np.array([m_num[1, 1], -m_num[1, 0]])]
    best = int(np.argmax([np.linalg.norm(v) for v in nums]))
    return rows[best], nums[best]


def _sym_real_only(name: str, at: Any) -> None:
    """The exact expressions of these decompositions are written for real matrices."""
    if any(np.iscomplexobj(v) for v in at.values):
        raise _sym_refuse(name, "the exact expressions are written for real matrices; a "
                          "complex one is checked by the numeric referee")


def _sym_eigh(sp, at, a, UPLO="L"):
    _sym_real_only("eigh", at)
    a = _sym_triangle(_sym_objects(a), UPLO.upper() == "L")
    n = a.shape[-1]
    _sym_size("eigh", n)
    s_num = _sym_triangle(np.asarray(at.values[0]), UPLO.upper() == "L")
    at.branch("signs of the eigenvectors")

    def one(i):
        w, v = _sym_sym_eig(sp, a[i], s_num[i], at.ans[i][1:])
        return np.concatenate([w[None, :], v], axis=0)
    return _sym_stack(a.shape[:-2], one)


def _sym_svd(sp, at, a):
    """Through the symmetric eigenproblem of the smaller Gram matrix: its eigenvectors
    are V (or U), the other side is A V / s (or A^T U / s)."""
    _sym_real_only("svd", at)
    a = _sym_objects(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    _sym_size("svd", k)
    tall = n <= m
    a_num = np.asarray(at.values[0], dtype=float)
    at.branch("signs of the singular vectors")

    def one(i):
        x, x_num, ans = a[i], a_num[i], at.ans[i]
        u_num, v_num = ans[:m], ans[m + 1:]
        y, y_num = (x, x_num) if tall else (x.T, x_num.T)   # Gram = y^T y, k x k
        w, vecs = _sym_sym_eig(sp, y.T @ y, y_num.T @ y_num, (v_num if tall else u_num)[:, ::-1])
        w, vecs = w[::-1], vecs[:, ::-1]                      # descending
        s = np.array([_sym_root(sp, e) for e in w], dtype=object)
        other = (y @ vecs) / s
        u, v = (other, vecs) if tall else (vecs, other)
        return np.concatenate([u, s[None, :], v], axis=0)
    return _sym_stack(a.shape[:-2], one)


class _Cx:
    """A complex expression kept as its real and imaginary parts (real expressions), for
    eig: SymPy's re() and im() of a grown complex expression are slow and large, these
    parts stay small."""

    __slots__ = ("re", "im")

    def __init__(self, re: Any, im: Any = 0) -> None:
        self.re, self.im = re, im

    @staticmethod
    def of(x: Any) -> "_Cx":
        return x if isinstance(x, _Cx) else _Cx(x)

    def __add__(self, o):
        o = _Cx.of(o)
        return _Cx(self.re + o.re, self.im + o.im)

    def __sub__(self, o):
        o = _Cx.of(o)
        return _Cx(self.re - o.re, self.im - o.im)

    def __rsub__(self, o):
        return _Cx.of(o) - self

    def __neg__(self):
        return _Cx(-self.re, -self.im)

    def __mul__(self, o):
        o = _Cx.of(o)
        return _Cx(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)

    __radd__, __rmul__ = __add__, __mul__

    def conj(self) -> "_Cx":
        return _Cx(self.re, -self.im)

    def abs2(self) -> Any:
        return self.re * self.re + self.im * self.im

    def expr(self, sp) -> Any:
        return self.re + sp.I * self.im


def _sym_sqrt(sp, z: _Cx, z_num: complex, real: bool) -> _Cx:
    """The principal square root, by its real and imaginary parts (the side of the cut,
    and for a real z its sign, taken at the point)."""
    if real:
        return _Cx(_sym_root(sp, z.re)) if z_num.real >= 0 else _Cx(0, _sym_root(sp, -z.re))
    r = _sym_root(sp, z.abs2())
    return _Cx(_sym_root(sp, (r + z.re) / 2),
               (1 if z_num.imag >= 0 else -1) * _sym_root(sp, (r - z.re) / 2))


def _sym_eig(sp, at, a):
    """1x1 and 2x2: the quadratic's roots in LAPACK's order; unit eigenvectors whose
    largest component is real (LAPACK's gauge), with NumPy's sign of that component."""
    a = _sym_objects(a)
    n = a.shape[-1]
    _sym_size("eig", n)
    a_num = np.asarray(at.values[0]).astype(complex)
    real_in, real_out = not np.iscomplexobj(at.values[0]), not np.iscomplexobj(at.ans)
    at.branch("order of the eigenvalues and phases of the eigenvectors")
    parts = (lambda e: _Cx(e)) if real_in else (lambda e: _Cx(sp.re(e), sp.im(e)))

    def one(i):
        x, x_num, w_num, v_num = a[i], a_num[i], at.ans[i][0], at.ans[i][1:]
        if n == 1:
            return np.array([[x[0, 0]], [sp.Integer(1 if v_num[0, 0].real >= 0 else -1)]],
                            dtype=object)
        x = np.frompyfunc(parts, 1, 1)(x)
        mid, half = (x[0, 0] + x[1, 1]) * sp.Rational(1, 2), (x[0, 0] - x[1, 1]) * sp.Rational(1, 2)
        mid_num, half_num = (x_num[0, 0] + x_num[1, 1]) / 2, (x_num[0, 0] - x_num[1, 1]) / 2
        disc_num = half_num ** 2 + x_num[0, 1] * x_num[1, 0]
        root = _sym_sqrt(sp, half * half + x[0, 1] * x[1, 0], disc_num, real_in)
        root_num = np.sqrt(disc_num)
        cands = [(mid - root, mid_num - root_num), (mid + root, mid_num + root_num)]
        first = int(np.argmin([abs(c[1] - w_num[0]) for c in cands]))
        out = np.empty((3, 2), dtype=object)
        for k, (lam, lam_num) in enumerate((cands[first], cands[1 - first])):
            v, v_raw = _sym_null_vector_2x2(x - np.eye(2, dtype=int) * lam,
                                            x_num - lam_num * np.eye(2))
            if real_out:
                v = _sym_unit(sp, np.array([e.re for e in v], dtype=object)) * (
                    1 if np.dot(v_raw.real, v_num[:, k]) >= 0 else -1)
                out[0, k], out[1:, k] = lam.re, v
                continue
            # times conj(v_top) / |v_top| / |v|: unit length, v_top real and positive;
            # then NumPy's sign of v_top
            top = int(np.argmax(np.abs(v_num[:, k])))
            sign = 1 if v_num[top, k].real >= 0 else -1
            scale = sign / (_sym_root(sp, v[top].abs2()) * _sym_root(sp, v[0].abs2() + v[1].abs2()))
            out[0, k] = lam.expr(sp)
            out[1:, k] = [(e * v[top].conj() * scale).expr(sp) for e in v]
        return out
    return _sym_stack(a.shape[:-2], one)


def _sym_qr_of(sp, x: np.ndarray, signs: np.ndarray):
    """Q (m x k) and R (k x n), R's diagonal with the given signs, from the Gram matrix:
    R1 is the Cholesky factor of X1^T X1 (X1: the first k columns), Q = X1 R1^-1 and
    R2 = Q^T X2 = R1^-T X1^T X2. Unlike Gram-Schmidt, no column of Q enters another."""
    m, n = x.shape
    k = min(m, n)
    g = x[:, :k].T @ x
    r = np.full((k, n), sp.Integer(0), dtype=object)
    for j in range(k):
        for i in range(j):
            r[i, j] = (g[i, j] - sum(r[l, i] * r[l, j] for l in range(i))) / r[i, i]
        r[j, j] = _sym_root(sp, g[j, j] - sum(r[l, j] ** 2 for l in range(j)))
    t = np.full((k, k), sp.Integer(0), dtype=object)   # R1^-1, upper triangular
    for j in range(k):
        t[j, j] = 1 / r[j, j]
        for i in range(j - 1, -1, -1):
            t[i, j] = -sum(r[i, l] * t[l, j] for l in range(i + 1, j + 1)) / r[i, i]
    for j in range(k, n):
        r[:, j] = t.T @ g[:, j]
    return (x[:, :k] @ t) * signs, r * signs[:, None]


def _sym_qr(sp, at, a):
    _sym_real_only("qr", at)
    a = _sym_objects(a)
    m, n = a.shape[-2:]
    _sym_size("qr", min(m, n))
    at.branch("signs of R's diagonal")

    def one(i):
        r_diag = np.diagonal(at.ans[i][m:])
        q, r = _sym_qr_of(sp, a[i], np.where(r_diag >= 0, 1, -1))
        return np.concatenate([q, r.T], axis=0)
    return _sym_stack(a.shape[:-2], one)


def _sym_full_rank(name: str, a_num: np.ndarray, ans_rank: Any) -> None:
    k = min(a_num.shape[-2:])
    if np.any(ans_rank < k):
        raise _sym_refuse(name, "the matrix is rank-deficient at the point; its exact "
                          "expressions are written for full rank")


def _sym_pinv_of(sp, x: np.ndarray) -> np.ndarray:
    """The pseudo-inverse of a full-rank matrix: (X^T X)^-1 X^T, X^T (X X^T)^-1 or X^-1."""
    m, n = x.shape
    if m == n:
        return _sym_inv(sp, x)
    if m > n:
        return _sym_inv(sp, x.T @ x) @ x.T
    return x.T @ _sym_inv(sp, x @ x.T)


def _sym_pinv(sp, at, a, **kw):
    _sym_real_only("pinv", at)
    a = _sym_objects(a)
    _sym_size("pinv", min(a.shape[-2:]))
    _sym_full_rank("pinv", at.values[0], np.linalg.matrix_rank(at.ans))
    return _sym_stack(a.shape[:-2], lambda i: _sym_pinv_of(sp, a[i]))


def _sym_lstsq(sp, at, a, b, rcond=None):
    _sym_real_only("lstsq", at)
    a, b = _sym_objects(a), _sym_objects(b)
    a_num = np.asarray(at.values[0])
    _sym_size("lstsq", min(a.shape))
    s = np.linalg.svd(a_num, compute_uv=False)
    cut = (np.finfo(np.float64).eps * max(a.shape) if rcond is None else rcond) * s[0]
    _sym_full_rank("lstsq", a_num, np.sum(s > cut))
    return _sym_pinv_of(sp, a) @ b


def _sym_vector_norm(sp, at, x, axis=None, keepdims=False):
    x = _sym_objects(x)
    if np.iscomplexobj(at.values[0]):
        sq = np.frompyfunc(lambda z: sp.re(z) ** 2 + sp.im(z) ** 2, 1, 1)(x)
    else:
        sq = x * x
    total = np.sum(sq, axis=axis, keepdims=keepdims)
    return np.reshape(np.frompyfunc(lambda t: _sym_root(sp, t), 1, 1)(total), np.shape(at.ans))


# --- inverse, determinant, solve ---------------------------------------------------------------

inv = defprim("inv", np.linalg.inv, numpy=np.linalg.inv, sympy=_sym_inverse,
              jvp=lambda g, ans, a: -(ans @ g @ ans),
              vjp=lambda ans, a: lambda g: -(_mT(ans) @ g @ _mT(ans)))


def _det_vjp(ans, a):
    a_invT = _mT(np.linalg.inv(a))
    return lambda g: np.expand_dims(g * ans, (-2, -1)) * a_invT


det = defprim("det", np.linalg.det, numpy=np.linalg.det, sympy=_sym_determinant,
              jvp=lambda g, ans, a: ans * _tr_prod(np.linalg.inv(a), g), vjp=_det_vjp)


def _slogdet_impl(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.stack([sign, logabsdet], axis=-1)


def _slogdet_jvp(g, ans, a):
    t = _tr_prod(np.linalg.inv(a), g)
    if is_complex(a):  # sign = det/|det| moves with the phase: d sign = sign * i Im(t)
        return np.stack([ans[..., 0] * (1j * np.imag(t)), np.real(t)], axis=-1)
    t = np.real(t)
    return np.stack([np.zeros_like(t), t], axis=-1)  # the sign is piecewise constant


def _slogdet_vjp(ans, a):
    a_invT = _mT(np.linalg.inv(a))
    if is_complex(a):  # the adjoint of the JVP above under Re(c * da)
        return lambda g: (np.real(g[..., 1, None, None]) +
                          1j * np.imag(g[..., 0, None, None] * ans[..., 0, None, None])) * a_invT
    return lambda g: np.real(g[..., 1, None, None]) * a_invT


# packed: (..., 2) holding the sign and log|det|
slogdet_p = defprim("slogdet", _slogdet_impl, jvp=_slogdet_jvp, vjp=_slogdet_vjp,
                    sympy=_sym_slogdet)


@handles(np.linalg.slogdet, via=slogdet_p)
def _np_slogdet(a):
    p = slogdet_p(a)
    logabsdet = p[..., 1]
    if is_complex(a):  # a complex determinant's phase is differentiable
        return _SlogdetResult(p[..., 0], np.real(logabsdet))
    return _SlogdetResult(primal(p)[..., 0], logabsdet)


def _solve_jvp(tangents, ans, a, b):
    ta, tb = tangents
    nd = ndim_of(ans)
    rhs = None if tb is None else lift(tb, ndim_of(b), nd, batch_ndim(tb, b))
    if ta is not None:
        term = -(lift(ta, ndim_of(a), nd, batch_ndim(ta, a)) @ ans)
        rhs = term if rhs is None else rhs + term
    return np.linalg.solve(a, rhs)


# b is always a (stack of) matrices here; the handler makes a vector a column
solve_p = defprim(
    "solve", np.linalg.solve, jvp_joint=_solve_jvp, sympy=_sym_solve,
    vjp=(lambda ans, a, b: lambda g: unbroadcast(
            -(np.linalg.solve(_mT(a), g) @ _mT(ans)), shape_of(a), is_complex(a)),
         lambda ans, a, b: lambda g: unbroadcast(
            np.linalg.solve(_mT(a), g), shape_of(b), is_complex(b))))


@handles(np.linalg.solve, via=solve_p)
def _np_solve(a, b):
    b = b if hasattr(b, "shape") else np.asarray(b)
    if ndim_of(b) == 1:  # NumPy 2: a 1-D b is one vector, whatever a's stack
        return solve_p(a, b[:, None])[..., 0]
    return solve_p(a, b)


@handles(np.linalg.tensorsolve, via=solve_p)
def _np_tensorsolve(a, b, axes=None):
    b = b if hasattr(b, "shape") else np.asarray(b)
    an = ndim_of(a)
    if axes is not None:
        order = [k for k in range(an) if k not in [normalize_axis(x, an) for x in axes]]
        a = np.transpose(a, order + [normalize_axis(x, an) for x in axes])
    shape = shape_of(a)[ndim_of(b):]
    size = int(np.prod(shape, dtype=np.int64))
    x = _np_solve(np.reshape(a, (size, size)), np.ravel(b))
    return np.reshape(x, shape)


@handles(np.linalg.tensorinv, via=inv)
def _np_tensorinv(a, ind=2):
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    s = shape_of(a)
    size = int(np.prod(s[ind:], dtype=np.int64))
    return np.reshape(inv(np.reshape(a, (size, -1))), s[ind:] + s[:ind])


@handles(np.linalg.matrix_power, via=(matmul, inv))
def _np_matrix_power(a, n):
    n = int(n)
    if n == 0:
        return np.zeros_like(a) + np.eye(shape_of(a)[-1], dtype=dtype_of(a))
    if n < 0:
        a, n = inv(a), -n
    if n <= 3:  # NumPy's own order of products, so the value matches it exactly
        return a if n == 1 else a @ a if n == 2 else (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


# --- cholesky ------------------------------------------------------------------------------------

def _phi(x: Any) -> Any:
    """The lower triangle with the diagonal halved."""
    return np.tril(x) - 0.5 * (x * np.eye(shape_of(x)[-1], dtype=bool))


def _cholesky_jvp(g, ans, a, upper=False):
    if is_complex(a):   # A = L L^H from one triangle (real diagonal); L's diagonal is real
        low = _mH(ans) if upper else ans
        l_inv = np.linalg.inv(low)
        d = low @ _phi(l_inv @ _herm(g, not upper) @ _mH(l_inv))
        return _mH(d) if upper else d
    low = _mT(ans) if upper else ans
    l_inv = np.linalg.inv(low)
    d = low @ _phi(l_inv @ _sym(g, not upper) @ _mT(l_inv))
    return _mT(d) if upper else d


def _cholesky_vjp(ans, a, upper=False):
    if is_complex(a):  # the adjoint of the complex JVP under Re sum(c * dA)
        low = _mH(ans) if upper else ans
        l_inv = np.linalg.inv(low)

        def vjp_complex(g):
            g = _mH(g) if upper else g
            return _herm_T(_mT(l_inv) @ _phi(_mT(low) @ g) @ np.conj(l_inv), not upper)
        return vjp_complex
    low = _mT(ans) if upper else ans
    l_inv = np.linalg.inv(low)

    def vjp(g):
        g = _mT(g) if upper else g
        return _sym_T(_mT(l_inv) @ _phi(_mT(low) @ g) @ l_inv, not upper)
    return vjp


def _cholesky_impl(a, upper=False):  # NumPy 1 has no upper=
    return np.linalg.cholesky(a, upper=True) if upper else np.linalg.cholesky(a)


cholesky = defprim("cholesky", _cholesky_impl, jvp=_cholesky_jvp, vjp=_cholesky_vjp,
                   sympy=_sym_cholesky)


@handles(np.linalg.cholesky, via=cholesky)
def _np_cholesky(a, /, *, upper=False):
    return cholesky(a, upper=True) if upper else cholesky(a)


# --- eigh, eig -----------------------------------------------------------------------------------

def _eigh_impl(a, UPLO="L"):
    w, v = np.linalg.eigh(a, UPLO)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _eigh_jvp(g, ans, a, UPLO="L"):
    if is_complex(a):
        return _eigh_jvp_complex(g, ans, UPLO.upper() == "L")
    w, v = ans[..., 0, :], ans[..., 1:, :]
    m = _mT(v) @ _sym(g, UPLO.upper() == "L") @ v
    dv = v @ (_inv_gaps(w) * m)
    return np.concatenate([np.diagonal(m, axis1=-2, axis2=-1)[..., None, :], dv], axis=-2)


def _eigh_vjp(ans, a, UPLO="L"):
    if is_complex(a):
        return _eigh_vjp_complex(ans, UPLO.upper() == "L")
    w, v = ans[..., 0, :], ans[..., 1:, :]
    f = _inv_gaps(w)
    return lambda g: _sym_T(v @ (_diag(g[..., 0, :]) + f * (_mT(v) @ g[..., 1:, :])) @ _mT(v),
                            UPLO.upper() == "L")


# A complex Hermitian matrix: LAPACK (zheevd, after Householder tridiagonalisation)
# returns eigenvectors whose first row (UPLO="L"; the last for "U") is real. The
# derivatives keep that gauge, so phase-dependent functions of them are right too.
def _eigh_gauge_row(v: Any, lower: bool) -> int:
    return _lapack_gauge(v, 0 if lower else shape_of(v)[-2] - 1, "eigh")


def _lapack_gauge(v: Any, row: int, name: str) -> int:
    """row, after checking that row `row` of the unitary v is real: the gauge LAPACK's
    reference algorithms give, which the complex rules keep. Another LAPACK could
    choose otherwise; then the phases' derivatives would be wrong, so refuse."""
    r = np.asarray(primal(v))[..., row, :]
    if np.any(np.abs(np.imag(r)) > 100 * np.finfo(r.dtype).eps):
        raise TypeError(f"np.linalg.{name} of a complex matrix: this LAPACK returned "
                        f"singular/eigen vectors whose row {row} is not real, a gauge "
                        "adkit's rule does not know, so it cannot differentiate them")
    return row


def _eigh_jvp_complex(g, ans, lower):
    w, v = np.real(ans[..., 0, :]), ans[..., 1:, :]
    m = np.conj(_mT(v)) @ _herm(g, lower) @ v
    x = v @ (_inv_gaps(w) * m)
    r = _eigh_gauge_row(v, lower)
    c = np.imag(x[..., r, :]) / np.real(v[..., r, :])   # keeps row r of v real
    dv = x - 1j * (v * c[..., None, :])
    dw = np.real(np.diagonal(m, axis1=-2, axis2=-1)) + 0j
    return np.concatenate([dw[..., None, :], dv], axis=-2)


def _eigh_vjp_complex(ans, lower):
    w, v = np.real(ans[..., 0, :]), ans[..., 1:, :]
    f = _inv_gaps(w)
    r = _eigh_gauge_row(v, lower)
    hot = (np.arange(shape_of(v)[-2]) == r)[:, None]

    def vjp(g):
        gw, gv = np.real(g[..., 0, :]), g[..., 1:, :]
        beta = np.imag(np.sum(gv * v, axis=-2)) / np.real(v[..., r, :])
        gx = gv - 1j * (hot * beta[..., None, :])
        c = np.conj(v) @ (_diag(gw) + f * (_mT(v) @ gx)) @ _mT(v)
        return _herm_T(c, lower)
    return vjp


# packed: (..., n+1, n), eigenvalues in row 0, eigenvectors below
eigh_p = defprim("eigh", _eigh_impl, jvp=_eigh_jvp, vjp=_eigh_vjp, sympy=_sym_eigh)


@handles(np.linalg.eigh, via=eigh_p)
def _np_eigh(a, UPLO="L"):
    p = eigh_p(a, UPLO=UPLO)
    w = p[..., 0, :]
    return _EighResult(np.real(w) if is_complex(a) else w, p[..., 1:, :])


@handles(np.linalg.eigvalsh, via=eigh_p)
def _np_eigvalsh(a, UPLO="L"):
    return _np_eigh(a, UPLO)[0]


def _eig_impl(a):
    w, v = np.linalg.eig(a)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _eig_parts(ans):
    """w, V, V^-1, the gaps matrix, and where LAPACK made each column real (a one-hot)."""
    w, v = ans[..., 0, :], ans[..., 1:, :]
    n = shape_of(w)[-1]
    top = np.argmax(np.abs(primal(v)), axis=-2)
    return w, v, np.linalg.inv(v), _inv_gaps(w), np.arange(n)[:, None] == top[..., None, :]


def _eig_jvp(g, ans, a):
    w, v, v_inv, f, hot = _eig_parts(ans)
    m = v_inv @ g @ v
    x = v @ (f * m)
    # LAPACK's gauge: unit columns (Re v^H dv = 0) whose largest entry stays real
    c = -np.real(np.sum(np.conj(v) * x, axis=-2))
    if is_complex(v):
        c = c - 1j * (np.imag(np.sum(x * hot, axis=-2)) / np.real(np.sum(v * hot, axis=-2)))
    dv = x + v * c[..., None, :]
    return np.concatenate([np.diagonal(m, axis1=-2, axis2=-1)[..., None, :], dv], axis=-2)


def _eig_vjp(ans, a):
    w, v, v_inv, f, hot = _eig_parts(ans)

    def vjp(g):
        gv = g[..., 1:, :]
        beta = np.sum(gv * v, axis=-2)
        gx = gv - np.conj(v) * np.real(beta)[..., None, :]
        if is_complex(v):
            gx = gx - 1j * (hot * (np.imag(beta) / np.real(np.sum(v * hot, axis=-2)))[..., None, :])
        gm = _diag(g[..., 0, :]) + f * (_mT(v) @ gx)
        c = _mT(v_inv) @ gm @ _mT(v)
        return c if is_complex(a) else np.real(c)
    return vjp


# packed like eigh; complex unless every eigenvalue of a real matrix is real
eig_p = defprim("eig", _eig_impl, jvp=_eig_jvp, vjp=_eig_vjp, sympy=_sym_eig)


@handles(np.linalg.eig, via=eig_p)
def _np_eig(a):
    p = eig_p(a)
    return _EigResult(p[..., 0, :], p[..., 1:, :])


@handles(np.linalg.eigvals, via=eig_p)
def _np_eigvals(a):
    return _np_eig(a)[0]


# --- svd, qr -------------------------------------------------------------------------------------

def _svd_impl(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    v = np.conj(_mT(vh)) if np.iscomplexobj(vh) else _mT(vh)
    return np.concatenate([u, s[..., None, :], v], axis=-2)


def _svd_parts(ans, a):
    m, n = shape_of(a)[-2:]
    u, s, v = ans[..., :m, :], ans[..., m, :], ans[..., m + 1:, :]
    s = np.real(s) if is_complex(a) else s
    return m, n, u, s, v, _inv_gaps(s * s), _recip(s, max(m, n))


def _svd_jvp(g, ans, a):
    if is_complex(a):
        return _svd_jvp_complex(g, ans, a)
    m, n, u, s, v, f, s_inv = _svd_parts(ans, a)
    k = shape_of(s)[-1]
    gv = g @ v
    dp = _mT(u) @ gv
    du = u @ (f * (dp * s[..., None, :] + s[..., :, None] * _mT(dp)))
    dv = v @ (f * (s[..., :, None] * dp + _mT(dp) * s[..., None, :]))
    if m > k:  # the parts of dU and dV outside the spans of U and V
        du = du + (gv - u @ dp) * s_inv[..., None, :]
    if n > k:
        gtu = _mT(g) @ u
        dv = dv + (gtu - v @ _mT(dp)) * s_inv[..., None, :]
    ds = np.diagonal(dp, axis1=-2, axis2=-1)
    return np.concatenate([du, ds[..., None, :], dv], axis=-2)


def _svd_vjp(ans, a):
    if is_complex(a):
        return _svd_vjp_complex(ans, a)
    m, n, u, s, v, f, s_inv = _svd_parts(ans, a)
    k = shape_of(s)[-1]

    def vjp(g):
        gu, gs, gv = g[..., :m, :], g[..., m, :], g[..., m + 1:, :]
        j = f * (_mT(u) @ gu)
        kk = f * (_mT(v) @ gv)
        gp = _diag(gs) + (j + _mT(j)) * s[..., None, :] + s[..., :, None] * (kk + _mT(kk))
        c = u @ gp @ _mT(v)
        if m > k:
            c = c + ((gu - u @ (_mT(u) @ gu)) * s_inv[..., None, :]) @ _mT(v)
        if n > k:
            c = c + (u * s_inv[..., None, :]) @ _mT(gv - v @ (_mT(v) @ gv))
        return c
    return vjp


# A complex matrix: U S V^H, where each pair (u_k, v_k) may share any phase. LAPACK's
# gesdd (Householder bidiagonalisation) returns V with a real first row when m >= n, and U
# with a real first row when m < n; the rules keep that gauge: the derivative with no
# phase term (diag(V^H dV) = 0), then the phase i theta_k on both u_k and v_k that keeps
# the row real. The VJP is the adjoint under the pairing Re sum(c * dA).
def _svd_gauge(u: Any, v: Any, m: int, n: int) -> tuple[bool, Any]:
    """(whether V carries the gauge, the real row's values)."""
    on_v = m >= n
    _lapack_gauge(v if on_v else u, 0, "svd")
    return on_v, np.real((v if on_v else u)[..., 0, :])


def _svd_jvp_complex(g, ans, a):
    m, n, u, s, v, f, s_inv = _svd_parts(ans, a)
    k = shape_of(s)[-1]
    on_v, row = _svd_gauge(u, v, m, n)
    dp = np.conj(_mT(u)) @ g @ v
    dp_h = np.conj(_mT(dp))
    diag_dp = np.diagonal(dp, axis1=-2, axis2=-1)
    du = u @ (f * (dp * s[..., None, :] + s[..., :, None] * dp_h) +
              _diag(1j * np.imag(diag_dp) * s_inv))
    dv = v @ (f * (s[..., :, None] * dp + dp_h * s[..., None, :]))
    if m > k:
        du = du + (g @ v - u @ dp) * s_inv[..., None, :]
    if n > k:
        dv = dv + (np.conj(_mT(g)) @ u - v @ dp_h) * s_inv[..., None, :]
    theta = -np.imag((dv if on_v else du)[..., 0, :]) / row
    du = du + u * (1j * theta)[..., None, :]
    dv = dv + v * (1j * theta)[..., None, :]
    ds = np.real(diag_dp) + 0j
    return np.concatenate([du, ds[..., None, :], dv], axis=-2)


def _svd_vjp_complex(ans, a):
    m, n, u, s, v, f, s_inv = _svd_parts(ans, a)
    k = shape_of(s)[-1]
    on_v, row = _svd_gauge(u, v, m, n)
    hot = (np.arange(n if on_v else m) == 0)[:, None]

    def vjp(g):
        gu, gs, gv = g[..., :m, :], np.real(g[..., m, :]), g[..., m + 1:, :]
        beta = np.imag(np.sum(gu * u, axis=-2) + np.sum(gv * v, axis=-2)) / row
        if on_v:   # the phase's cotangent, onto the row it keeps real
            gv = gv - 1j * (hot * beta[..., None, :])
        else:
            gu = gu - 1j * (hot * beta[..., None, :])
        gu_p, gv_p = _mT(u) @ gu, _mT(v) @ gv
        fu, fv = f * gu_p, f * gv_p
        diag_u = np.diagonal(gu_p, axis1=-2, axis2=-1)
        gp = (_diag(gs + 1j * np.imag(diag_u) * s_inv) +
              (fu + np.conj(_mT(fu))) * s[..., None, :] +
              s[..., :, None] * (fv + np.conj(_mT(fv))))
        c = np.conj(u) @ gp @ _mT(v)
        if m > k:
            c = c + ((gu - np.conj(u) @ gu_p) * s_inv[..., None, :]) @ _mT(v)
        if n > k:
            c = c + (np.conj(u) * s_inv[..., None, :]) @ _mT(np.conj(gv) - v @ np.conj(gv_p))
        return c
    return vjp


# packed: (..., m+1+n, k) holding U, the singular values and V (not V^T)
svd_p = defprim("svd", _svd_impl, jvp=_svd_jvp, vjp=_svd_vjp, sympy=_sym_svd)


@handles(np.linalg.svd, via=(svd_p, eigh_p))
def _np_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    m, n = shape_of(a)[-2:]
    if compute_uv and full_matrices and m != n:
        raise TypeError(
            "np.linalg.svd(a, full_matrices=True) of a non-square traced matrix: the extra "
            "singular vectors are not unique, so they have no derivative; pass "
            "full_matrices=False")
    p = svd_p(a)
    s = np.real(p[..., m, :]) if is_complex(a) else p[..., m, :]
    if not compute_uv:
        return s
    v = p[..., m + 1:, :]
    return _SVDResult(p[..., :m, :], s, _mT(np.conj(v) if is_complex(a) else v))


def _svd_hermitian(a, compute_uv):
    """NumPy's own hermitian=True algorithm (from eigh), step by step."""
    w, u = _np_eigh(a)
    s = np.abs(w)
    order = np.argsort(primal(s), axis=-1)[..., ::-1]
    s = np.take_along_axis(s, order, axis=-1)
    if not compute_uv:
        return s
    sign = np.take_along_axis(np.sign(primal(w)), order, axis=-1)
    u = np.take_along_axis(u, order[..., None, :], axis=-1)
    vt = _mT(u * sign[..., None, :])
    return _SVDResult(u, s, np.conj(vt) if is_complex(a) else vt)


if hasattr(np.linalg, "svdvals"):
    @handles(np.linalg.svdvals, via=svd_p)
    def _np_svdvals(x, /):
        return _np_svd(x, compute_uv=False)


def _qr_impl(a):
    q, r = np.linalg.qr(a)
    return np.concatenate([q, _mT(r)], axis=-2)


def _qr_parts(ans, a):
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    q, r = ans[..., :m, :], _mT(ans[..., m:, :])
    r1 = r[..., :, :k]  # R = [R1 R2]; R1 square, R2 = Q^T A[..., k:] when n > m
    return m, n, k, q, r1, np.linalg.inv(r1)


# With C = Q^T dA1 R1^-1 (Q^H for a complex matrix), dR1 R1^-1 = C - Omega is upper
# triangular, Omega = Q^T dQ skew-symmetric: triu(C) + tril(C, -1)^T. A complex matrix:
# LAPACK's R has a real diagonal, which fixes Q's phases, so Q^H dQ = Omega is
# anti-Hermitian with diagonal i Im(C_kk): triu(C, 1) + Re diag(C) + tril(C, -1)^H.
def _qr_upper_real(c: Any) -> Any:
    low = np.tril(c, -1)
    return c - low + _mT(low)


def _qr_upper(c: Any) -> Any:
    return (np.triu(c, 1) + _diag(np.real(np.diagonal(c, axis1=-2, axis2=-1))) +
            _mH(np.tril(c, -1)))


def _qr_upper_T_real(h: Any) -> Any:
    """The adjoint of _qr_upper_real."""
    return np.triu(h) + np.tril(_mT(h), -1)


def _qr_upper_T(h: Any) -> Any:
    """The adjoint of _qr_upper under Re sum(c * dx)."""
    return (np.triu(h, 1) + _diag(np.real(np.diagonal(h, axis1=-2, axis2=-1))) +
            np.tril(_mH(h), -1))


def _qr_jvp(g, ans, a):
    m, n, k, q, r1, r1_inv = _qr_parts(ans, a)
    adjoint, upper = (_mH, _qr_upper) if is_complex(a) else (_mT, _qr_upper_real)
    d = g[..., :, :k] @ r1_inv
    c = upper(adjoint(q) @ d)
    dq = d - q @ c
    dr = c @ r1
    if n > k:
        dr = np.concatenate([dr, adjoint(dq) @ a[..., :, k:] + adjoint(q) @ g[..., :, k:]],
                            axis=-1)
    return np.concatenate([dq, _mT(dr)], axis=-2)


def _qr_vjp(ans, a):
    m, n, k, q, r1, r1_inv = _qr_parts(ans, a)
    a2 = a[..., :, k:] if n > k else None
    if is_complex(a):  # the adjoint under Re sum(c * dA) conjugates A's and Q's factors
        adjoint, upper_T, q_bar = _mH, _qr_upper_T, np.conj(q)
        a2 = None if a2 is None else np.conj(a2)
    else:
        adjoint, upper_T, q_bar = _mT, _qr_upper_T_real, q

    def vjp(g):
        gq, gr = g[..., :m, :], _mT(g[..., m:, :])
        if n > k:
            gr2 = gr[..., :, k:]
            gq = gq + a2 @ adjoint(gr2)
        h = gr[..., :, :k] @ _mT(r1) - _mT(q) @ gq
        c = (gq + q_bar @ upper_T(h)) @ _mT(r1_inv)
        return np.concatenate([c, q_bar @ gr2], axis=-1) if n > k else c
    return vjp


# packed: (..., m+n, k) holding Q and R^T
qr_p = defprim("qr", _qr_impl, jvp=_qr_jvp, vjp=_qr_vjp, sympy=_sym_qr)


@handles(np.linalg.qr, via=qr_p)
def _np_qr(a, mode="reduced"):
    m, n = shape_of(a)[-2:]
    if mode not in ("reduced", "complete", "r") or mode == "complete" and m > n:
        raise TypeError(
            f"np.linalg.qr(a, mode={mode!r}) is not supported on traced values"
            + (": the extra columns of Q are not unique, so they have no derivative"
               if mode == "complete" else "") + "; use mode='reduced' or mode='r'")
    p = qr_p(a)
    r = _mT(p[..., m:, :])
    return r if mode == "r" else _QRResult(p[..., :m, :], r)


# --- pinv, lstsq ---------------------------------------------------------------------------------
# d(A+) for A+ = pinv(A) of locally constant rank:
#   -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+

def _pinv_impl(a, **kw):
    return np.linalg.pinv(a, **kw)


def _pinv_jvp(g, ans, a, **kw):
    if is_complex(a):  # the same with conjugate transposes
        p, gh, ph = ans, _mH(g), _mH(ans)
        return (-(p @ g @ p) + p @ (ph @ (gh - (gh @ a) @ p))
                + (gh - p @ (a @ gh)) @ (ph @ p))
    p, gt = ans, _mT(g)
    return (-(p @ g @ p) + p @ (_mT(p) @ (gt - (gt @ a) @ p))
            + (gt - p @ (a @ gt)) @ (_mT(p) @ p))


def _pinv_vjp(ans, a, **kw):
    if is_complex(a):  # the adjoint of the complex JVP under Re sum(c * dA)
        p, pt, pc, ac = ans, _mT(ans), np.conj(ans), np.conj(a)

        def vjp_complex(g):
            gh = _mH(g)
            return (-(pt @ g @ pt) + (gh - ac @ (pc @ gh)) @ (pc @ pt)
                    + (pt @ pc) @ (gh - (gh @ pc) @ ac))
        return vjp_complex
    p, pt = ans, _mT(ans)

    def vjp(g):
        gt = _mT(g)
        return (-(pt @ g @ pt) + (gt - a @ (p @ gt)) @ (p @ pt)
                + (pt @ p) @ (gt - (gt @ p) @ a))
    return vjp


pinv = defprim("pinv", _pinv_impl, jvp=_pinv_jvp, vjp=_pinv_vjp, sympy=_sym_pinv)


@handles(np.linalg.pinv, via=pinv)
def _np_pinv(a, rcond=None, hermitian=False, **kw):
    if hermitian:  # NumPy's hermitian path reads the lower triangle (via eigh)
        a = _herm(a, True) if is_complex(a) else _sym(a, True)
    return pinv(a, rcond=rcond, hermitian=hermitian, **kw)


def _lstsq_pinv(a, rcond):
    """pinv(a) with lstsq's cutoff."""
    if rcond is None:
        rcond = np.finfo(np.float64).eps * max(shape_of(a)[-2:])
    return np.linalg.pinv(a, rcond=rcond)


def _column(x: Any) -> Any:
    return x[..., None] if ndim_of(x) == 1 else x


def _lstsq_jvp(tangents, ans, a, b, rcond=None):
    # x = A+ b, so dx = d(A+) b + A+ db, written to need no d(A+) matrix
    ta, tb = tangents
    p = _lstsq_pinv(a, rcond)
    x = _column(ans)
    vec = ndim_of(b) == 1
    out = None if tb is None else p @ (tb[..., None] if vec else tb)
    if ta is not None:
        t = _mH if is_complex(a) else _mT   # conjugate transposes if complex
        tat, pt = t(ta), t(p)
        r = _column(b) - a @ x
        z = pt @ x
        term = (-(p @ (ta @ x)) + p @ (pt @ (tat @ r)) + tat @ z - p @ (a @ (tat @ z)))
        out = term if out is None else out + term
    return out[..., 0] if vec else out


def _lstsq_vjp_a(ans, a, b, rcond=None):
    p = _lstsq_pinv(a, rcond)
    x = _column(ans)
    r = _column(b) - a @ x
    z = _mT(p) @ x

    def vjp(g):
        g = _column(g)
        y = _mT(p) @ g
        return -(y @ _mT(x)) + r @ _mT(p @ y) + z @ _mT(g - _mT(a) @ y)

    if is_complex(a):  # z = P^H x; the adjoint under Re sum(c * dA)
        z = _mH(p) @ x

        def vjp_complex(g):
            g = _column(g)
            y = _mT(p) @ g
            return (-(y @ _mT(x)) + np.conj(r) @ _mT(p @ np.conj(y)) +
                    np.conj(z) @ _mH(g - _mT(a) @ y))
        return vjp_complex
    return vjp


def _lstsq_vjp_b(ans, a, b, rcond=None):
    p = _lstsq_pinv(a, rcond)
    return lambda g: _mT(p) @ g if ndim_of(g) > 1 else g @ p


# the solution only; the handler adds residuals, rank and singular values
lstsq_p = defprim("lstsq", lambda a, b, rcond=None: np.linalg.lstsq(a, b, rcond=rcond)[0],
                  jvp_joint=_lstsq_jvp, vjp=(_lstsq_vjp_a, _lstsq_vjp_b), sympy=_sym_lstsq)


@handles(np.linalg.lstsq, via=(lstsq_p, pinv))
def _np_lstsq(a, b, rcond=None):
    b = b if hasattr(b, "shape") else np.asarray(b)
    _, resid, rank, sv = np.linalg.lstsq(primal(a), primal(b), rcond=rcond)
    x = lstsq_p(a, b, rcond=rcond)
    if np.size(resid):  # full column rank, more rows than columns: differentiable too
        r = _column(b) - a @ _column(x)
        resid = np.sum(np.real(r * np.conj(r)) if is_complex(r) else r * r, axis=0)
    return x, resid, rank, sv


# --- norms, cond ---------------------------------------------------------------------------------

def _recip0(x: Any) -> Any:
    """1/x, and 0 where x is 0 (so the 2-norm's derivatives at 0 are 0)."""
    zero = primal(x) == 0
    return np.where(zero, 0.0, 1.0 / np.where(zero, 1.0, x))


def _vnorm_impl(x, axis=None, keepdims=False):
    return np.sqrt(np.sum(np.real(x * np.conj(x)) if is_complex(x) else x * x,
                          axis=axis, keepdims=keepdims))


def _vnorm_jvp(g, ans, x, axis=None, keepdims=False):
    xg = np.real(np.conj(x) * g) if is_complex(x) else x * g
    return np.sum(xg, axis=batch_axes(axis, ndim_of(x), batch_ndim(g, x)),
                  keepdims=keepdims) * _recip0(ans)


def _vnorm_vjp(ans, x, axis=None, keepdims=False):
    xc = np.conj(x) if is_complex(x) else x
    return lambda g: expand_back(g * _recip0(ans), shape_of(x), axis, keepdims) * xc


# sqrt(sum |x|^2) over axis (None, an int or a tuple): the vector 2-norm and Frobenius norm
norm2 = defprim("vector_norm", _vnorm_impl, jvp=_vnorm_jvp, vjp=_vnorm_vjp,
                sympy=_sym_vector_norm)


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return norm2(x, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord == 0:  # a count: no derivative
        real = np.finfo(dtype_of(x)).dtype
        return np.sum(primal(x) != 0, axis=axis, keepdims=keepdims).astype(real)
    a = np.abs(x)
    if ord == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.sum(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, axis, keepdims):
    nd = ndim_of(x)
    row, col = (normalize_axis(k, nd) for k in axis)
    if row == col:
        raise ValueError("Duplicate axes given.")
    if ord in (None, "fro", "f"):
        return norm2(x, axis=(row, col), keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        s = _np_svd(np.moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        out = np.sum(s, axis=-1) if ord == "nuc" else \
            np.max(s, axis=-1) if ord == 2 else np.min(s, axis=-1)
    elif ord in (1, -1):
        sums = np.sum(np.abs(x), axis=row)
        pick = np.max if ord == 1 else np.min
        out = pick(sums, axis=col - (col > row))
    elif ord in (np.inf, -np.inf):
        sums = np.sum(np.abs(x), axis=col)
        pick = np.max if ord == np.inf else np.min
        out = pick(sums, axis=row - (row > col))
    else:
        raise ValueError("Invalid norm order for matrices.")
    if keepdims:
        shape = list(shape_of(x))
        shape[row] = shape[col] = 1
        out = np.reshape(out, tuple(shape))
    return out


_NORM_PRIMS = (norm2, sum_, max_, min_, svd_p)


@handles(np.linalg.norm, via=_NORM_PRIMS)
def _np_norm(x, ord=None, axis=None, keepdims=False):
    nd = ndim_of(x)
    if axis is None:
        if ord is None:
            return norm2(x, axis=None, keepdims=keepdims)
        if nd not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        axis = (int(axis),)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


if hasattr(np.linalg, "vector_norm"):
    @handles(np.linalg.vector_norm, via=_NORM_PRIMS)
    def _np_vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
        return _vector_norm(x, ord, axis, keepdims)

    @handles(np.linalg.matrix_norm, via=_NORM_PRIMS)
    def _np_matrix_norm(x, /, *, keepdims=False, ord="fro"):
        return _matrix_norm(x, ord, (-2, -1), keepdims)


@handles(np.linalg.cond, via=_NORM_PRIMS + (inv,))
def _np_cond(x, p=None):
    if p is None or p in (2, -2):
        s = _np_svd(x, compute_uv=False)
        return s[..., -1] / s[..., 0] if p == -2 else s[..., 0] / s[..., -1]
    return _matrix_norm(x, p, (-2, -1), False) * _matrix_norm(inv(x), p, (-2, -1), False)


defnondiff("matrix_rank", np.linalg.matrix_rank, numpy=np.linalg.matrix_rank)


# --- NumPy 2's np.linalg spellings of array functions --------------------------------------------

def _alias(name: str, via: Any):
    """Register a handler for np.linalg.<name> when it is not np.<name> itself."""
    fn = getattr(np.linalg, name, None)
    if fn is None or fn is getattr(np, name, None):
        return lambda handler: handler
    return handles(fn, via=via)


@_alias("matmul", matmul)
def _linalg_matmul(x1, x2, /):
    return matmul(x1, x2)


@_alias("outer", PRIMITIVES["multiply"])
def _linalg_outer(x1, x2, /):
    if ndim_of(x1) != 1 or ndim_of(x2) != 1:
        raise ValueError("Input arrays must be one-dimensional")
    return np.outer(x1, x2)


@_alias("cross", PRIMITIVES["multiply"])
def _linalg_cross(x1, x2, /, *, axis=-1):
    if shape_of(x1)[axis] != 3 or shape_of(x2)[axis] != 3:
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors")
    return np.cross(x1, x2, axis=axis)


@_alias("vecdot", einsum_p)
def _linalg_vecdot(x1, x2, /, *, axis=-1):
    x1, x2 = (np.moveaxis(x, axis, -1) for x in (x1, x2))  # a gufunc: axis is per operand
    if is_complex(x1):
        x1 = np.conj(x1)
    return np.einsum("...i,...i->...", x1, x2)


@_alias("tensordot", einsum_p)
def _linalg_tensordot(x1, x2, /, *, axes=2):
    return np.tensordot(x1, x2, axes=axes)


@_alias("trace", getitem)
def _linalg_trace(x, /, *, offset=0, dtype=None):
    return np.trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


@_alias("diagonal", getitem)
def _linalg_diagonal(x, /, *, offset=0):
    return np.diagonal(x, offset=offset, axis1=-2, axis2=-1)


@_alias("matrix_transpose", transpose)
def _linalg_matrix_transpose(x, /):
    return _mT(x)

