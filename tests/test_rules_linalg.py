"""numpy.linalg rules, checked in every mode to second order (see ruletest.check), on single
matrices and stacks; NumPy's values unchanged; the conventions at degenerate points; float32;
and clear errors where there is no derivative."""

import numpy as np
import pytest

import adkit
from adkit.forward import Dual
from adkit.table import FUNCTIONS, PRIMITIVES
from ruletest import EXERCISED, R, Rpos, check

L = np.linalg


def gen(n, *stack, seed):
    """A well-conditioned general matrix (or stack)."""
    return R(*stack, n, n, seed=seed) + n * np.eye(n)


def spd(n, *stack, seed):
    a = R(*stack, n, n, seed=seed)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def sym(n, *stack, seed):
    a = R(*stack, n, n, seed=seed)
    return a + np.swapaxes(a, -1, -2)


def signfix(v):
    """Vectors times the sign of their first entry: invariant to the sign LAPACK picks."""
    return v * np.sign(v[..., :1, :])


def usv(u, s, vt):
    return (u * s[..., None, :]) @ vt


A, AS = gen(3, seed=1), gen(3, 2, seed=2)        # a matrix and a stack of two
P, PS = spd(3, seed=3), spd(4, 2, seed=4)        # symmetric positive definite
N = R(3, 3, seed=5)                               # no structure: only one triangle is read
T, W, TS = R(5, 3, seed=6), R(3, 5, seed=7), R(2, 4, 3, seed=8)   # tall, wide, stack
ROT = R(3, 3, seed=9) + np.array([[0, 3.0, 0], [-3.0, 0, 0], [0, 0, 0]])  # complex eigenvalues
ROTS = np.stack([ROT, R(3, 3, seed=10) + np.array([[0, 0, 0], [0, 0, 2.0], [0, -2.0, 0]])])
assert np.iscomplexobj(L.eigvals(ROT)) and not np.iscomplexobj(L.eigvals(sym(3, seed=11)))
b3, B32 = R(3, seed=12), R(3, 2, seed=13)
IM = R(3, 3, seed=14)                             # imaginary parts of complex intermediates

CASES = [
    # inverse, determinant, solve
    ("inv", lambda a: L.inv(a), A), ("inv-stack", lambda a: L.inv(a), AS),
    ("det", lambda a: L.det(a), A), ("det-stack", lambda a: L.det(a), AS),
    ("slogdet", lambda a: L.slogdet(a)[1], A),
    ("slogdet-stack", lambda a: L.slogdet(a)[0] * L.slogdet(a)[1], AS - 4 * np.eye(3)),
    ("solve-vector", lambda a, b: L.solve(a, b), A, b3),
    ("solve-matrix", lambda a, b: L.solve(a, b), A, B32),
    ("solve-stack-vector", lambda a, b: L.solve(a, b), AS, b3),
    ("solve-stack-matrix", lambda a, b: L.solve(a, b), AS, R(2, 3, 2, seed=15)),
    ("solve-stack-b", lambda a, b: L.solve(a, b), A, R(2, 3, 2, seed=16)),
    ("solve-stack-a", lambda a, b: L.solve(a, b), AS, B32),
    ("tensorsolve", lambda a, b: L.tensorsolve(a, b),
     R(2, 3, 6, seed=17) + 6 * np.eye(6).reshape(2, 3, 6), R(2, 3, seed=18)),
    ("tensorsolve-axes", lambda a, b: L.tensorsolve(a, b, axes=(0,)),
     R(6, 2, 3, seed=19) + 6 * np.eye(6).reshape(6, 2, 3), R(2, 3, seed=20)),
    ("tensorinv", lambda a: L.tensorinv(a, ind=1),
     R(6, 2, 3, seed=21) + 6 * np.eye(6).reshape(6, 2, 3)),
    ("matrix_power-0", lambda a: L.matrix_power(a, 0) * a, A),
    ("matrix_power-1", lambda a: L.matrix_power(a, 1), A),
    ("matrix_power-3", lambda a: L.matrix_power(a, 3), AS / 3),
    ("matrix_power-6", lambda a: L.matrix_power(a, 6), A / 3),
    ("matrix_power-neg", lambda a: L.matrix_power(a, -3), AS),
    # cholesky, eigh (only the lower, or upper, triangle is read)
    ("cholesky", lambda a: L.cholesky(a), P), ("cholesky-stack", lambda a: L.cholesky(a), PS),
    ("cholesky-triangle", lambda a: L.cholesky(a), P + np.triu(R(3, 3, seed=22), 1)),
    ("cholesky-upper", lambda a: L.cholesky(a, upper=True), PS + np.tril(R(4, 4, seed=23), -1)),
    ("eigh-values", lambda a: L.eigh(a)[0], sym(4, seed=24)),
    ("eigh-triangle", lambda a: L.eigh(a)[0] + L.eigh(a)[1] ** 2, N),
    ("eigh-vectors", lambda a: signfix(L.eigh(a).eigenvectors), sym(3, 2, seed=25)),
    ("eigh-upper", lambda a: signfix(L.eigh(a, UPLO="U")[1]) * L.eigh(a, "U")[0], N),
    ("eigvalsh", lambda a: L.eigvalsh(a), PS), ("eigvalsh-upper", lambda a: L.eigvalsh(a, "U"), N),
    # eig: complex outputs, LAPACK's gauge (unit vectors, largest entry real)
    ("eig-real-spectrum", lambda a: L.eig(a)[1] * L.eig(a)[0], sym(3, seed=11) + 0.3 * N),
    ("eig-complex-values", lambda a: L.eig(a).eigenvalues, ROT),
    ("eig-complex-vectors", lambda a: L.eig(a)[1], ROT),
    ("eig-stack", lambda a: np.abs(L.eig(a)[1]) ** 2 * L.eig(a)[0][..., None, :], ROTS),
    ("eigvals", lambda a: L.eigvals(a) ** 2, ROTS),
    # svd
    ("svd-values", lambda a: L.svd(a, full_matrices=False)[1], T),
    ("svd-tall", lambda a: signfix(L.svd(a, full_matrices=False)[0]), T),
    ("svd-wide", lambda a: signfix(np.swapaxes(L.svd(a, full_matrices=False)[2], -1, -2)), W),
    ("svd-stack", lambda a: (lambda u, s, vt: usv(u ** 2, s, vt ** 2))(*L.svd(a, False)), TS),
    ("svd-square-full", lambda a: usv(signfix(L.svd(a)[0]), *L.svd(a)[1:]), A),
    ("svd-no-uv", lambda a: L.svd(a, compute_uv=False), W),
    ("svd-hermitian", lambda a: usv(*L.svd(a, hermitian=True)), sym(3, seed=26)),
    ("svd-hermitian-no-uv", lambda a: L.svd(a, compute_uv=False, hermitian=True), N),
    ("svdvals", lambda a: L.svdvals(a), TS),
    # qr
    ("qr-tall", lambda a: L.qr(a)[0] * 2.0 + L.qr(a)[1].sum(), T),
    ("qr-square", lambda a: L.qr(a).Q @ L.qr(a).R ** 2, A),
    ("qr-wide", lambda a: L.qr(a)[0].sum() + L.qr(a)[1], W),
    ("qr-stack", lambda a: L.qr(a)[0] ** 2 @ L.qr(a)[1], TS),
    ("qr-r", lambda a: L.qr(a, mode="r"), W),
    ("qr-complete-wide", lambda a: L.qr(a, "complete")[0], W),
    # pinv, lstsq
    ("pinv-tall", lambda a: L.pinv(a), T),
    ("pinv-wide-stack", lambda a: L.pinv(a), np.swapaxes(TS, -1, -2)),
    ("pinv-rank-1", lambda u, v: L.pinv(u[:, None] * v), R(3, seed=27), R(4, seed=28)),
    ("pinv-hermitian", lambda a: L.pinv(a, hermitian=True), N + 3 * np.eye(3)),
    ("lstsq", lambda a, b: L.lstsq(a, b)[0], T, R(5, seed=29)),
    ("lstsq-matrix", lambda a, b: L.lstsq(a, b)[0], T, R(5, 2, seed=30)),
    ("lstsq-underdetermined", lambda a, b: L.lstsq(a, b)[0], W, R(3, seed=31)),
    ("lstsq-residuals", lambda a, b: L.lstsq(a, b)[1], T, R(5, 2, seed=32)),
    # norms and cond
    ("norm", lambda x: L.norm(x), TS), ("norm-vector", lambda x: L.norm(x), b3),
    ("norm-axis", lambda x: L.norm(x, axis=1, keepdims=True), T),
    *[(f"norm-vector-{o}", lambda x, o=o: L.norm(x, ord=o, axis=-1), T)
      for o in (2, 1, np.inf, -np.inf, 3, -1.5)],
    ("norm-vector-0.5", lambda x: L.norm(x, 0.5), Rpos(4, seed=33)),
    *[(f"norm-matrix-{o}", lambda x, o=o: L.norm(x, ord=o), T)
      for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf)],
    ("norm-matrix-axes", lambda x: L.norm(x, "nuc", axis=(2, 0), keepdims=True), TS),
    ("norm-matrix-1-axes", lambda x: L.norm(x, 1, axis=(-1, 0)), TS),
    ("norm-matrix-inf-axes", lambda x: L.norm(x, np.inf, axis=(0, 1), keepdims=True), TS),
    ("vector_norm", lambda x: L.vector_norm(x, axis=(0, 2)), TS),
    ("vector_norm-ord", lambda x: L.vector_norm(x, ord=3, keepdims=True), TS),
    ("matrix_norm", lambda x: L.matrix_norm(x), TS),
    ("matrix_norm-2", lambda x: L.matrix_norm(x, ord=2, keepdims=True), TS),
    *[(f"cond-{p}", lambda a, p=p: L.cond(a, p), AS)
      for p in (None, 2, -2, 1, np.inf, "fro", "nuc")],
    # complex intermediates (the argument is real, the matrix complex)
    ("complex-inv", lambda a, b: L.inv(a + 1j * b), A, IM),
    ("complex-det", lambda a, b: L.det(a + 1j * b), AS, IM),
    ("complex-slogdet", lambda a, b: L.slogdet(a + 1j * b)[1], A, IM),
    ("complex-solve", lambda a, b: L.solve(a + 1j * b, b[0]), A, IM),
    ("complex-eig", lambda a, b: L.eig(a + 1j * b)[1], A, IM),
    ("complex-norm", lambda a, b: L.norm(a + 1j * b, axis=0), A, IM),
    # NumPy 2's np.linalg spellings
    ("linalg.matmul", lambda a, b: L.matmul(a, b), AS, b3),
    ("linalg.outer", lambda a, b: L.outer(a, b), b3, R(4, seed=34)),
    ("linalg.cross", lambda a, b: L.cross(a, b, axis=0), B32, R(3, 2, seed=35)),
    ("linalg.vecdot", lambda a, b: L.vecdot(a, b, axis=1), AS, A),
    ("linalg.tensordot", lambda a, b: L.tensordot(a, b, axes=1), T, B32),
    ("linalg.trace", lambda a: L.trace(a, offset=1), AS),
    ("linalg.diagonal", lambda a: L.diagonal(a, offset=-1), AS),
    ("linalg.matrix_transpose", lambda a: L.matrix_transpose(a) * a, AS),
    ("linalg.multi_dot", lambda a, b: L.multi_dot([a, b, a.T]), T, A),
]


@pytest.mark.parametrize("fun,args", [pytest.param(c[1], c[2:], id=c[0]) for c in CASES])
def test_rules(fun, args):
    check(fun, *args)


def _values(out):
    if isinstance(out, (tuple, list)):
        return [v for o in out for v in _values(o)]
    return [out.value if isinstance(out, Dual) else out]


@pytest.mark.parametrize("fun,args", [pytest.param(c[1], c[2:], id=c[0]) for c in CASES])
def test_values_are_numpys(fun, args):
    traced = fun(*[Dual(a, np.zeros_like(a)) for a in args])
    np.testing.assert_allclose(traced.value, fun(*args), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("fun,args", [
    (L.eigh, (PS,)), (L.eig, (ROTS,)), (lambda a: L.svd(a, full_matrices=False), (TS,)),
    (lambda a: L.svd(a, hermitian=True), (sym(3, seed=26),)), (L.qr, (W,)), (L.slogdet, (AS,)),
    (L.lstsq, (T, R(5, 2, seed=36))), (L.lstsq, (T[:3], b3))], ids=lambda v: "")
def test_tuple_results_match_numpy(fun, args):
    plain, traced = fun(*args), fun(*[Dual(a, np.zeros_like(a)) for a in args])
    assert type(plain) is type(traced)
    for p, t in zip(_values(plain), _values(traced)):
        np.testing.assert_allclose(t, p, rtol=1e-12, atol=1e-13)


def test_slogdet_sign_and_lstsq_rank_carry_no_derivative():
    sign, _ = L.slogdet(Dual(AS, np.ones_like(AS)))
    assert not isinstance(sign, Dual)
    _, _, rank, sv = L.lstsq(Dual(T, np.ones_like(T)), R(5, 2, seed=36))
    assert rank == 3 and not isinstance(sv, Dual)
    g = adkit.grad(lambda a: L.matrix_rank(a) * np.sum(a))(A)
    assert np.allclose(g, 3.0)


def test_degenerate_points_give_finite_derivatives():
    g = adkit.grad
    assert np.allclose(g(lambda x: L.norm(x))(np.zeros(3)), 0)
    assert np.allclose(adkit.hessian(lambda x: L.norm(x))(np.zeros(2)), 0)
    jac = adkit.jacobian(lambda x: L.norm(x, axis=0), mode="forward")(np.zeros((2, 2)))
    assert np.allclose(jac, 0)
    # repeated eigenvalues and singular values: the values' derivatives are exact,
    # the vectors' are finite
    assert np.allclose(g(lambda x: np.sum(L.eigvalsh(x)))(np.eye(3)), np.eye(3))
    assert np.all(np.isfinite(g(lambda x: np.sum(L.eigh(x)[1] ** 2 @ np.arange(3.0)))(np.eye(3))))
    assert np.all(np.isfinite(g(lambda x: np.sum(np.abs(L.eig(x)[1])))(np.eye(3))))
    assert np.all(np.isfinite(g(lambda x: np.sum(L.svd(x, False)[0] ** 2 @ np.arange(2.0)))(
        np.outer([1.0, 2.0, 3.0], [1.0, 1.0]))))
    assert np.allclose(g(lambda x: L.norm(x, "nuc"))(np.eye(3)), np.eye(3))
    assert np.allclose(g(lambda x: L.norm(x, 2))(np.eye(2)), np.eye(2) / 2)  # ties split, as max
    assert np.all(np.isfinite(adkit.hessian(lambda x: np.sum(L.svd(x, False)[1]))(np.eye(2))))


def test_one_triangle_is_read():
    # eigh and cholesky read the lower triangle; off-diagonal entries there count twice
    g = adkit.grad(lambda a: np.sum(L.eigvalsh(a) ** 2))(N)  # = |sym(a)|_F^2
    s = np.tril(N) + np.tril(N, -1).T
    assert np.allclose(g, np.tril(4 * s, -1) + np.diag(2 * np.diag(s)))
    g = adkit.grad(lambda a: np.sum(L.cholesky(a, upper=True)))(P)
    assert np.allclose(np.tril(g, -1), 0)


FLOAT32 = [
    lambda a: L.det(a), lambda a: L.slogdet(a)[1], lambda a: L.inv(a), lambda a: L.solve(a, a[0]),
    lambda a: L.cholesky(a @ a.T), lambda a: L.eigh(a)[0], lambda a: np.abs(L.eig(a)[1]),
    lambda a: L.svd(a)[1], lambda a: L.qr(a)[1], lambda a: L.pinv(a),
    lambda a: L.lstsq(a, a[:, 0])[0],
    lambda a: L.norm(a) + L.norm(a, "nuc") + L.norm(a, 1) + L.norm(a[0], 3), lambda a: L.cond(a),
]


@pytest.mark.parametrize("k", range(len(FLOAT32)))
def test_float32_stays_float32(k):
    def f(a):
        return np.sum(FLOAT32[k](a) * 1.5)
    x32 = A.astype(np.float32)
    g = adkit.grad(f)(x32)
    assert g.dtype == np.float32 and np.allclose(g, adkit.grad(f)(A), rtol=1e-2, atol=1e-3)
    assert adkit.jacobian(f, mode="forward")(x32).dtype == np.float32
    assert adkit.hessian(f)(x32).dtype == np.float32


@pytest.mark.parametrize("fun", [
    lambda a: L.svd(a[:, :2]), lambda a: L.qr(a[:, :2], mode="complete"),
    lambda a: L.qr(a, mode="raw")])   # complex matrices: tests/test_complex.py
def test_no_derivative_raises_type_error(fun):
    with pytest.raises(TypeError, match="np.linalg"):
        adkit.grad(lambda a: np.sum(np.abs(fun(a)[0])))(A)


def test_every_public_linalg_function_has_a_rule():
    names = [n for n in dir(L) if not n.startswith("_") and n not in ("LinAlgError", "test")]
    assert [n for n in names if getattr(L, n) not in FUNCTIONS] == []


def test_every_linalg_primitive_is_exercised():
    names = {"inv", "det", "slogdet", "solve", "cholesky", "eigh", "eig", "svd", "qr", "pinv",
             "lstsq", "vector_norm"}
    assert names <= set(PRIMITIVES)
    if len(EXERCISED) < 20:
        pytest.skip("run the whole file to check that every rule is exercised")
    assert names - EXERCISED == set()
