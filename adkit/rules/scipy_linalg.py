"""scipy.linalg: solvers, factorizations and matrix functions on traced matrices.

Most functions are compositions of np.linalg entries that already have rules
(inv, det, solve, norm, cholesky, eigh): scipy.linalg.solve_triangular is
np.linalg.solve on the triangle it reads, cho_solve two such solves, solve_banded
a solve with the dense matrix the bands describe. Their values agree with SciPy's
to rounding; their derivatives follow from the np.linalg rules, to any order.

Five have rules of their own here, written with differentiable operations:
- solve_sylvester(A, B, Q): X with AX + XB = Q. dX = sylv(A, B, dQ - dA X - X dB);
  the adjoint L of a cotangent G solves A^T L + L B^T = G, giving Q-bar = L,
  A-bar = -L X^T, B-bar = -X^T L.
- sqrtm(A): X with XX = A, so X dX + dX X = dA: dX = sylv(X, X, dA); A-bar =
  sylv(X^T, X^T, G). A real matrix with negative eigenvalues has a complex root
  (SciPy returns it), and its gradient is the real part (docs/complex.md).
Both are holomorphic in their matrices, so for complex matrices autograd's
convention (docs/complex.md) takes the same formulas with plain transposes: the
VJP multiplies by the derivative without conjugating.
- expm(A): the Frechet derivative is the top-right block of expm([[A, E], [0, A]])
  (Higham), and the adjoint is the Frechet derivative at A^T; scipy.linalg.expm_frechet
  returns that block (differentiable in A and E).
- logm(A): the Frechet derivative is the top-right block of logm([[A, E], [0, A]]), as
  for expm, and the adjoint is the one at A^T. Where a real A has a negative eigenvalue
  SciPy's principal logarithm is complex (the gradient is its real part); there SciPy's
  logm of the 4n x 4n block a second derivative needs reports itself inaccurate, so only
  the first derivative is checked (tests/test_rules_scipy_linalg_more.py).
- solve_continuous_lyapunov(A, Q) is solve_sylvester(A, A^H, Q); solve_discrete_lyapunov
  follows SciPy's two methods (a Kronecker solve below n = 10, the bilinear map to a
  continuous equation above), each a composition of entries.
- lu_factor(A) -> (lu, piv): with A = P L U and F = L^-1 P^T dA U^-1,
  dL = L tril(F, -1) and dU = triu(F) U; the adjoint is
  A-bar = P L^-T (tril(L^T G, -1) + triu(G U^T)) U^-T. piv is an integer array
  (no derivative); lu_solve unpacks L, U and the row swaps and solves, and lu returns
  SciPy's (P, L, U) (or (PL, U), or the row indices) of a square matrix from the same.
Parameters SciPy uses for speed only (overwrite_*, check_finite) are accepted
and ignored.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import scipy.linalg as sl

from ..table import NoRuleError, NoSympy, defprim
from ..tracer import primal
from .helpers import ndim_of, shape_of
from .linalg import _sym
from .products import _mT
from .scipy_binding import bind, original

_NO_SYMPY_SYLVESTER = NoSympy("the solution of a Sylvester equation has no closed form")
_NO_SYMPY_SQRTM = NoSympy("SymPy's matrix square root is not SciPy's principal one in general")
_NO_SYMPY_EXPM = NoSympy("SymPy's matrix exponential needs a Jordan form, not lambdified")
_NO_SYMPY_LOGM = NoSympy("SymPy's matrix logarithm needs a Jordan form, not lambdified")
_NO_SYMPY_LU = NoSympy("pivoting depends on the values; SymPy's LU does not pivot as LAPACK")


def _square(name: str, a: Any) -> None:
    s = shape_of(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"scipy.linalg.{name} expects a square matrix, got shape {s}")


def _real_only(name: str, *args: Any) -> None:
    for a in args:
        if np.iscomplexobj(primal(a)):
            raise NoRuleError(f"scipy.linalg.{name} is differentiable on real matrices only; "
                              "adkit's complex support does not reach it yet")


# --- compositions of np.linalg entries -----------------------------------------------------------


def _inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    if assume_a not in (None, "general", "gen"):
        raise NoRuleError(f"scipy.linalg.inv(assume_a={assume_a!r}) is not differentiable "
                          "in adkit; leave assume_a unset")
    return np.linalg.inv(a)


def _det(a, overwrite_a=False, check_finite=True):
    return np.linalg.det(a)


def _solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
           assume_a=None, transposed=False):
    # every assume_a gives the same solution; the symmetric kinds read one triangle
    kind = {None: "gen", "general": "gen", "symmetric": "sym", "hermitian": "her",
            "positive definite": "pos", "diagonal": "diagonal", "lower triangular": "lower",
            "upper triangular": "upper", "banded": "gen", "tridiagonal": "gen",
            }.get(assume_a, assume_a)
    if kind in ("sym", "her", "pos"):
        a = _sym(a, lower)
    elif kind in ("lower", "upper"):
        a = _triangle(a, kind == "lower")
    elif kind == "diagonal":
        a = a * np.eye(shape_of(a)[-1])
    elif kind != "gen":
        raise ValueError(f"{assume_a!r} is not a recognized matrix structure")
    return np.linalg.solve(_mT(a) if transposed else a, b)


def _norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    return np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims)


def _triangle(a: Any, lower: bool, unit_diagonal: bool = False) -> Any:
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        n = shape_of(a)[-1]
        t = t * (1.0 - np.eye(n)) + np.eye(n)
    return t


def _trans(trans: Any) -> int:
    codes = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}
    if trans not in codes:
        raise ValueError(f"trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return codes[trans]


def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                      check_finite=True):
    _square("solve_triangular", a)
    t = _triangle(a, lower, unit_diagonal)
    if _trans(trans):
        t = _mT(t)
    return np.linalg.solve(t, b)


def _cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    _square("cholesky", a)
    _real_only("cholesky", a)
    # SciPy reads the triangle it returns; so do np.linalg.cholesky's two spellings
    return np.linalg.cholesky(a) if lower else np.linalg.cholesky(a, upper=True)


def _cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    # SciPy leaves arbitrary values in the other triangle; here they are zeros
    return _cholesky(a, lower=lower), lower


def _cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    t = _triangle(c, lower)
    low = t if lower else _mT(t)
    return np.linalg.solve(_mT(low), np.linalg.solve(low, b))


def _solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    lower, upper = (int(v) for v in l_and_u)
    rows, n = shape_of(ab)
    if rows != lower + upper + 1:
        raise ValueError(f"invalid values for the number of lower and upper diagonals: "
                         f"l+u+1 ({lower + upper + 1}) does not equal ab.shape[0] ({rows})")
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    band = upper + i - j  # A[i, j] = ab[u + i - j, j] inside the band
    inside = (band >= 0) & (band < rows)
    dense = np.where(inside, ab[np.clip(band, 0, rows - 1), j], 0.0)
    return np.linalg.solve(dense, b)


def _eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
          type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    if type != 1 or subset_by_index is not None or subset_by_value is not None:
        raise NoRuleError("scipy.linalg.eigh is differentiable for the whole spectrum of "
                          "A v = w B v (type=1) only; drop type=, subset_by_index= and "
                          "subset_by_value=, and select eigenpairs from the result")
    _real_only("eigh", a, *(() if b is None else (b,)))
    if b is None:
        w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
    else:  # A v = w B v as C v' = w v', C = L^-1 A L^-T, B = L L^T, v = L^-T v'
        l_inv = np.linalg.inv(np.linalg.cholesky(_sym(b, lower)))
        w, v = np.linalg.eigh(l_inv @ _sym(a, lower) @ _mT(l_inv))
        v = _mT(l_inv) @ v
    if eigvals_only:
        return w
    # eigenvectors are defined up to sign: take SciPy's, so values match it exactly
    ref = original(sl.eigh)(primal(a), None if b is None else primal(b), lower=lower)[1]
    sign = np.where(np.sum(primal(v) * ref, axis=-2) < 0, -1.0, 1.0)
    return w, v * sign


# --- solve_sylvester, sqrtm, expm: rules of their own -------------------------------------------


def _sylvester_impl(a, b, q):
    # SciPy 1.17 solves a real A with complex eigenvalues against a complex B wrongly (it
    # takes A's real Schur form for a complex triangular one): solve in one common dtype
    dtype = np.result_type(a, b, q)
    return original(sl.solve_sylvester)(*(np.asarray(m, dtype) for m in (a, b, q)))


def _sylvester_jvp(tangents, ans, a, b, q):
    ta, tb, tq = tangents
    terms = ([] if tq is None else [tq]) + ([] if ta is None else [-(ta @ ans)]) + \
        ([] if tb is None else [-(ans @ tb)])
    return solve_sylvester_p(a, b, sum(terms[1:], terms[0]))


def _sylvester_adjoint(a, b, g):
    return solve_sylvester_p(_mT(a), _mT(b), g)


solve_sylvester_p = defprim(
    "scipy.linalg.solve_sylvester", _sylvester_impl, jvp_joint=_sylvester_jvp,
    batch_aware=False, sympy=_NO_SYMPY_SYLVESTER,
    vjp=(lambda ans, a, b, q: lambda g: -(_sylvester_adjoint(a, b, g) @ _mT(ans)),
         lambda ans, a, b, q: lambda g: -(_mT(ans) @ _sylvester_adjoint(a, b, g)),
         lambda ans, a, b, q: lambda g: _sylvester_adjoint(a, b, g)))


def _solve_sylvester(a, b, q):
    return solve_sylvester_p(a, b, q)


def _sqrtm_impl(a):
    # SciPy's principal root: real for a real matrix with one, complex otherwise
    return original(sl.sqrtm)(a)


sqrtm_p = defprim(
    "scipy.linalg.sqrtm", _sqrtm_impl, batch_aware=False, sympy=_NO_SYMPY_SQRTM,
    jvp=lambda g, ans, a: solve_sylvester_p(ans, ans, g),
    vjp=lambda ans, a: lambda g: solve_sylvester_p(_mT(ans), _mT(ans), g))


def _sqrtm(A, disp=None, blocksize=None):
    _square("sqrtm", A)
    if disp is False:
        return sqrtm_p(A), 0.0  # SciPy's (sqrtm, error estimate) form
    return sqrtm_p(A)


def _expm_frechet(a: Any, e: Any) -> Any:
    """d expm(a) in direction e: the top-right block of expm([[a, e], [0, a]])."""
    n = shape_of(a)[-1]
    zero = np.zeros((n, n))
    block = np.concatenate([np.concatenate([a, e], axis=1),
                            np.concatenate([zero, a * 1.0], axis=1)], axis=0)
    return expm_p(block)[:n, n:]


expm_p = defprim(
    "scipy.linalg.expm", lambda a: original(sl.expm)(a), batch_aware=False,
    sympy=_NO_SYMPY_EXPM,
    jvp=lambda g, ans, a: _expm_frechet(a, g),
    vjp=lambda ans, a: lambda g: _expm_frechet(_mT(a), g))


def _expm_frechet_public(A, E, method=None, compute_expm=True, check_finite=True):
    if method not in (None, "SPS", "blockEnlarge"):
        raise ValueError(f"Unknown implementation {method}")
    _square("expm_frechet", A)
    _real_only("expm_frechet", A, E)
    if shape_of(E) != shape_of(A):
        raise ValueError("expected A and E to be the same shape")
    frechet = _expm_frechet(A, E)
    return (expm_p(A), frechet) if compute_expm else frechet


def _expm(A):
    _square("expm", A)
    _real_only("expm", A)
    if ndim_of(A) != 2:
        raise NoRuleError("scipy.linalg.expm is differentiable on one matrix at a time; "
                          "call it in a loop over the stack")
    return expm_p(A)


def _logm_frechet(a: Any, e: Any) -> Any:
    """d logm(a) in direction e: the top-right block of logm([[a, e], [0, a]]), as for expm."""
    n = shape_of(a)[-1]
    block = np.concatenate([np.concatenate([a, e], axis=1),
                            np.concatenate([np.zeros((n, n)), a * 1.0], axis=1)], axis=0)
    return logm_p(block)[:n, n:]


def _logm_impl(a):
    # SciPy's principal logarithm: real for a real matrix with one, complex otherwise.
    # SciPy estimates 1-norms with draws from NumPy's global generator; the derivatives call
    # logm again and again, which must not move the caller's random stream (nor make
    # adkit.compile see a draw): the generator is put back as it was
    state = np.random.get_state()
    try:
        return original(sl.logm)(a)
    finally:
        np.random.set_state(state)


logm_p = defprim(
    "scipy.linalg.logm", _logm_impl, batch_aware=False, sympy=_NO_SYMPY_LOGM,
    jvp=lambda g, ans, a: _logm_frechet(a, g),
    vjp=lambda ans, a: lambda g: _logm_frechet(_mT(a), g))


#: SciPy 1.16+ marks an omitted disp with a sentinel (disp is deprecated)
_UNSET = inspect.signature(sl.logm).parameters["disp"].default


def _logm(A, disp=_UNSET):
    _square("logm", A)
    if ndim_of(A) != 2:
        raise ValueError(f"scipy.linalg.logm expects a 2-D square matrix, got shape "
                         f"{shape_of(A)}")
    if disp is not _UNSET:
        warnings.warn("The `disp` argument is deprecated and will be removed in SciPy "
                      "1.18.0.", DeprecationWarning, stacklevel=2)
    out = logm_p(A)
    if disp is False:  # SciPy's (logm, error estimate) form; the estimate has no derivative
        p = primal(A)
        err = np.linalg.norm(sl.expm(primal(out)) - p, 1) / np.linalg.norm(p, 1)
        return out, err
    return out


# --- Lyapunov equations: Sylvester equations ---------------------------------------------------


def _solve_continuous_lyapunov(a, q):
    _square("solve_continuous_lyapunov", a)
    return solve_sylvester_p(a, np.conj(_mT(a)), q)  # A X + X A^H = Q


def _solve_discrete_lyapunov(a, q, method=None):
    """A X A^H - X + Q = 0, by SciPy's own two methods (and its choice between them)."""
    _square("solve_discrete_lyapunov", a)
    n = shape_of(a)[-1]
    method = ("bilinear" if n >= 10 else "direct") if method is None else method
    if method.lower() == "direct":
        lhs = np.eye(n * n) - np.kron(a, np.conj(a))
        return np.reshape(np.linalg.solve(lhs, np.reshape(q, (-1,))), shape_of(q))
    if method.lower() != "bilinear":
        raise ValueError(f"Unknown solver {method}")
    eye = np.eye(n)
    a_h = np.conj(_mT(a))
    a_h_inv = np.linalg.inv(a_h + eye)
    b = (a_h - eye) @ a_h_inv
    c = 2.0 * (np.linalg.inv(a + eye) @ q) @ a_h_inv
    return _solve_continuous_lyapunov(np.conj(_mT(b)), -c)


# --- LU --------------------------------------------------------------------------------------


def _lu_parts(lu: Any) -> tuple:
    n = shape_of(lu)[-1]
    return np.tril(lu, -1) + np.eye(n), np.triu(lu)


def _permutation(piv: Any) -> np.ndarray:
    """perm with (P^T b) = b[perm] for LAPACK's row swaps piv (row i swapped with piv[i])."""
    perm = np.arange(len(piv))
    for i, p in enumerate(np.asarray(piv)):
        perm[i], perm[p] = perm[p], perm[i]
    return perm


def _lu_jvp(g, ans, a, piv):
    low, up = _lu_parts(ans)
    f = np.linalg.solve(low, g[_permutation(piv)]) @ np.linalg.inv(up)
    return low @ np.tril(f, -1) + np.triu(f) @ up


def _lu_vjp(ans, a, piv):
    low, up = _lu_parts(ans)
    perm = _permutation(piv)
    inverse = np.argsort(perm)

    def vjp(g):
        m = np.tril(_mT(low) @ g, -1) + np.triu(g @ _mT(up))
        return np.linalg.solve(_mT(low), _mT(np.linalg.solve(up, _mT(m))))[inverse]
    return vjp


# piv is passed in (computed once from the plain matrix), so the factor is a function of a
lu_p = defprim("scipy.linalg.lu_factor", lambda a, piv: original(sl.lu_factor)(a)[0],
               batch_aware=False, sympy=_NO_SYMPY_LU, jvp=(_lu_jvp, None), vjp=(_lu_vjp, None))


def _lu_factor(a, overwrite_a=False, check_finite=True):
    _square("lu_factor", a)
    _real_only("lu_factor", a)
    if ndim_of(a) != 2:
        raise NoRuleError("scipy.linalg.lu_factor is differentiable on one matrix at a "
                          "time; call it in a loop over the stack")
    piv = original(sl.lu_factor)(primal(a))[1]
    return lu_p(a, piv), piv


def _lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    lu, piv = lu_and_piv
    low, up = _lu_parts(lu)
    perm = _permutation(primal(piv))
    if _trans(trans) == 0:  # P L U x = b
        return np.linalg.solve(up, np.linalg.solve(low, b[perm]))
    w = np.linalg.solve(_mT(low), np.linalg.solve(_mT(up), b))  # U^T L^T P^T x = b
    return w[np.argsort(perm)]


def _lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    if ndim_of(a) != 2:
        raise ValueError(f"scipy.linalg.lu expects a 2-D array, got shape {shape_of(a)}")
    _real_only("lu", a)
    m, n = shape_of(a)
    if m != n:
        raise NoRuleError(f"scipy.linalg.lu of a non-square ({m} x {n}) traced matrix is not "
                          "differentiable in adkit; factor a square matrix (or use qr)")
    packed, piv = sl.lu_factor(a)  # adkit's rule for LAPACK's getrf, as SciPy's lu uses
    lower, upper = np.tril(packed, -1) + np.eye(n), np.triu(packed)
    perm = _permutation(primal(piv))  # P^T A = A[perm] = L U
    if permute_l:
        return lower[np.argsort(perm)], upper
    if p_indices:
        return np.argsort(perm).astype(np.int32), lower, upper
    return np.eye(n)[:, perm], lower, upper


_OWN_RULES = {sl.solve_sylvester: (solve_sylvester_p,), sl.sqrtm: (sqrtm_p, solve_sylvester_p),
              sl.expm: (expm_p,), sl.expm_frechet: (expm_p,), sl.lu_factor: (lu_p,),
              sl.lu: (lu_p,), sl.logm: (logm_p,),
              sl.solve_continuous_lyapunov: (solve_sylvester_p,),
              sl.solve_discrete_lyapunov: ()}
for _fn, _handler in ((sl.inv, _inv), (sl.det, _det), (sl.solve, _solve), (sl.norm, _norm), (sl.solve_triangular, _solve_triangular),
                      (sl.cholesky, _cholesky), (sl.cho_factor, _cho_factor),
                      (sl.cho_solve, _cho_solve), (sl.solve_banded, _solve_banded),
                      (sl.eigh, _eigh), (sl.solve_sylvester, _solve_sylvester),
                      (sl.sqrtm, _sqrtm), (sl.expm, _expm), (sl.lu_factor, _lu_factor),
                      (sl.lu_solve, _lu_solve), (sl.lu, _lu), (sl.logm, _logm),
                      (sl.expm_frechet, _expm_frechet_public),
                      (sl.solve_continuous_lyapunov, _solve_continuous_lyapunov),
                      (sl.solve_discrete_lyapunov, _solve_discrete_lyapunov)):
    bind(_fn, _handler, "scipy.linalg." + _fn.__name__, via=_OWN_RULES.get(_fn, ()))

# SciPy's other functions with rules: NumPy's under SciPy's names, and matrices built by indexing
from . import scipy_linalg_build, scipy_linalg_factor  # noqa: E402,F401
