"""scipy.linalg's svd, svdvals, qr, pinv, lstsq, logm, the Lyapunov solvers and the matrices
built from vectors (block_diag, toeplitz, circulant, hankel): every mode to second order
(ruletest.check: central differences of SciPy's own functions, SymPy where the rules have a
counterpart), values equal to SciPy's, SciPy's return conventions, refusals by name."""

import numpy as np
import pytest

sl = pytest.importorskip("scipy.linalg", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import R, check  # noqa: E402

A = R(3, 3, seed=31)
TALL = R(4, 3, seed=32)
WIDE = R(3, 4, seed=33)
B = R(4, 2, seed=34)
I3 = np.eye(3)


NONSYMMETRIC = np.array([[2.0, 0.5, -0.3], [0.1, 1.5, 0.4], [-0.2, 0.3, 1.0]])


def _spd(a):
    return a @ a.T + I3


def _signed(u):  # a column's sign is fixed by SciPy at the point; differences need it smooth
    return u * np.sign(u[:1, :])


CASES = {
    "svd square": (lambda a: sl.svd(a)[1], A),
    "svd U": (lambda a: _signed(sl.svd(a)[0]), A),
    "svd Vh": (lambda a: _signed(sl.svd(a)[2].T), A),
    "svd tall economic": (lambda a: _signed(sl.svd(a, full_matrices=False)[0]), TALL),
    "svd wide economic": (lambda a: _signed(sl.svd(a, full_matrices=False)[2].T), WIDE),
    "svd compute_uv=False": (lambda a: sl.svd(a, compute_uv=False), TALL),
    "svdvals": (lambda a: sl.svdvals(a), WIDE),
    "qr full": (lambda a: sl.qr(a)[0] @ np.diag([1.0, 2.0, 3.0]) + sl.qr(a)[1], A),
    "qr full wide": (lambda a: sl.qr(a)[1], WIDE),
    "qr economic": (lambda a: sl.qr(a, mode="economic")[0], TALL),
    "qr r tall": (lambda a: sl.qr(a, mode="r")[0], TALL),
    "qr pivoting": (lambda a: sl.qr(a, mode="economic", pivoting=True)[1], TALL),
    "pinv": (lambda a: sl.pinv(a), A),
    "pinv tall": (lambda a: sl.pinv(a), TALL),
    "pinv wide atol": (lambda a: sl.pinv(a, atol=1e-3, rtol=1e-8), WIDE),
    "lstsq tall": (lambda a, b: sl.lstsq(a, b)[0], TALL, B),
    "lstsq residues": (lambda a, b: sl.lstsq(a, b)[1], TALL, B),
    "lstsq vector": (lambda a, b: sl.lstsq(a, b[:, 0])[0], TALL, B),
    "lstsq wide": (lambda a, b: sl.lstsq(a, b[:3], cond=1e-10)[0], WIDE, B),
    "logm spd": (lambda a: sl.logm(_spd(a)), A),
    "logm nonsymmetric": (lambda a: sl.logm(NONSYMMETRIC + 0.1 * a), A),
    "solve_continuous_lyapunov": (lambda a, q: sl.solve_continuous_lyapunov(a - 3.0 * I3, q),
                                  A, R(3, 3, seed=35)),
    "solve_discrete_lyapunov": (lambda a, q: sl.solve_discrete_lyapunov(0.3 * a, q),
                                A, R(3, 3, seed=36)),
    "solve_discrete_lyapunov bilinear": (
        lambda a, q: sl.solve_discrete_lyapunov(0.3 * a, q, method="bilinear"),
        A, R(3, 3, seed=37)),
    "lu P L U": (lambda a: np.stack(sl.lu(a)[1:]), A),
    "lu permute_l": (lambda a: sl.lu(a, permute_l=True)[0], A),
    "eig values": (lambda a: sl.eig(a)[0], A),
    "eigvals": (lambda a: sl.eigvals(a), R(3, 3, seed=50)),
    "eig vectors": (lambda a: _signed(sl.eig(_spd(a))[1]), A),
    "orth": (lambda a: _signed(sl.orth(a)), TALL),
    "expm_frechet": (lambda a, e: np.stack(sl.expm_frechet(a, e)), A, R(3, 3, seed=51)),
    "solve_toeplitz": (lambda c, r, b: sl.solve_toeplitz((c + np.array([4.0, 0, 0]), r), b),
                       R(3, seed=52), R(3, seed=53), R(3, 2, seed=54)),
    "solve_toeplitz symmetric": (lambda c, b: sl.solve_toeplitz(c + np.array([4.0, 0, 0]), b),
                                 R(3, seed=55), R(3, seed=56)),
    "block_diag": (lambda a, v: sl.block_diag(a, v[:2], 2.0, a[:1, :2]), A, R(3, seed=38)),
    "toeplitz": (lambda c, r: sl.toeplitz(c, r), R(3, seed=39), R(4, seed=40)),
    "toeplitz c only": (lambda c: sl.toeplitz(c), R(4, seed=41)),
    "toeplitz batch": (lambda c, r: sl.toeplitz(c, r), R(2, 3, seed=42), R(2, 2, seed=43)),
    "companion": (lambda a: sl.companion(a), R(4, seed=57) + np.array([3.0, 0, 0, 0])),
    "companion batch": (lambda a: sl.companion(a), R(2, 3, seed=58) + np.array([3.0, 0, 0])),
    "circulant": (lambda c: sl.circulant(c), R(4, seed=44)),
    "circulant batch": (lambda c: sl.circulant(c), R(2, 3, seed=45)),
    "hankel": (lambda c, r: sl.hankel(c, r), R(3, seed=46), R(4, seed=47)),
    "hankel c only": (lambda c: sl.hankel(c), R(4, seed=48)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_scipy_linalg_more(name):
    fun, *args = CASES[name]
    check(fun, *args)
    out, _ = adkit.jvp(fun, tuple(args), tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*args), rtol=1e-9, atol=1e-12)


def test_logm_with_a_negative_eigenvalue_is_complex_and_differentiable_once():
    # SciPy's principal logarithm is complex; the gradient is its real part (docs/complex.md).
    # Second order is not checked: SciPy's logm of the 4n x 4n block it needs, with the
    # negative eigenvalue four times over, reports itself inaccurate.
    a = np.array([[-1.0, 0.3, 0.1], [0.2, 2.0, 0.4], [0.1, -0.5, 1.5]])
    check(lambda a: sl.logm(a), a, order=1)
    assert np.iscomplexobj(adkit.jvp(sl.logm, (a,), (a,))[0])


def _traced_values(fun, *args):
    """fun's outputs on traced args (first-order jvp, zero tangents), as plain arrays."""
    out, _ = adkit.jvp(lambda *a: list(fun(*a)), args, tuple(np.zeros_like(a) for a in args))
    return out


@pytest.mark.parametrize("call", [
    lambda a: sl.svd(a), lambda a: sl.svd(a, full_matrices=False),
    lambda a: sl.qr(a), lambda a: sl.qr(a, mode="economic"), lambda a: sl.qr(a, mode="r"),
    lambda a: sl.qr(a, pivoting=True), lambda a: sl.pinv(a, return_rank=True),
    lambda a: sl.lstsq(a, np.arange(3.0)), lambda a: sl.lstsq(a[:, :2], np.ones((3, 2))),
    lambda a: sl.lu(a), lambda a: sl.lu(a, permute_l=True), lambda a: sl.lu(a, p_indices=True),
    lambda a: sl.eig(a), lambda a: sl.eig(a + a.T), lambda a: (sl.eigvals(a),),
    lambda a: (sl.orth(a[:, :2] @ a[:2]),), lambda a: sl.expm_frechet(a, a.T),
], ids=["svd", "svd economic", "qr", "qr economic", "qr r", "qr pivoting", "pinv rank",
        "lstsq", "lstsq tall", "lu", "lu permute_l", "lu p_indices", "eig", "eig real",
        "eigvals", "orth rank 2", "expm_frechet"])
def test_values_and_return_conventions_are_scipys(call):
    want = call(A)
    got = _traced_values(call, A)
    assert type(want) is tuple and len(got) == len(want)
    for g, w in zip(got, want):
        if w is None or np.ndim(w) == 0 and not isinstance(w, np.ndarray):
            assert g == w
            continue
        assert np.shape(g) == np.shape(w) and np.result_type(g) == np.result_type(w)
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_pinv_rank_follows_scipys_cutoff():
    low_rank = TALL[:, :2] @ WIDE[:2, :3]  # rank 2
    b, rank = sl.pinv(low_rank, return_rank=True)
    jac = adkit.jacobian(lambda a: sl.pinv(a, atol=1e-8))(low_rank)
    assert rank == 2 and np.all(np.isfinite(jac))
    got = adkit.jvp(lambda a: sl.pinv(a, atol=1e-8), (low_rank,), (low_rank,))[0]
    np.testing.assert_allclose(got, b, atol=1e-12)


def test_logm_is_the_inverse_of_expm():
    # d/dt logm(expm(t M)) = M wherever logm is the principal branch
    m = 0.3 * R(3, 3, seed=49)
    d = adkit.jacobian(lambda t: sl.logm(sl.expm(t * m)))(1.0)
    np.testing.assert_allclose(d, m, rtol=1e-8, atol=1e-10)


def test_logm_leaves_the_global_random_stream_alone():
    # SciPy's logm draws from np.random to estimate norms; its derivatives call it many times
    np.random.seed(5)
    adkit.hessian(lambda a: np.sum(sl.logm(_spd(a))))(A)
    assert np.random.random() == np.random.RandomState(5).random_sample()


def test_lyapunov_solutions_satisfy_their_equations():
    a, q = A - 3.0 * I3, _spd(A)
    x = adkit.jvp(lambda a: sl.solve_continuous_lyapunov(a, q), (a,), (a,))[0]
    np.testing.assert_allclose(a @ x + x @ a.T, q, atol=1e-10)
    a = 0.3 * A
    x = adkit.jvp(lambda a: sl.solve_discrete_lyapunov(a, q), (a,), (a,))[0]
    np.testing.assert_allclose(a @ x @ a.T - x + q, 0.0, atol=1e-10)


def test_refusals_name_the_argument_and_the_fix():
    with pytest.raises(NoRuleError, match=r"svd\(a, full_matrices=True\).*full_matrices=False"):
        adkit.grad(lambda a: np.sum(sl.svd(a)[0]))(TALL)
    with pytest.raises(NoRuleError, match=r"mode='full'.*mode='economic'"):
        adkit.grad(lambda a: np.sum(sl.qr(a)[1]))(TALL)
    with pytest.raises(NoRuleError, match="mode='raw'"):
        adkit.grad(lambda a: np.sum(sl.qr(a, mode="raw")[1]))(A)
    with pytest.raises(ValueError, match="Mode argument"):
        adkit.grad(lambda a: np.sum(sl.qr(a, mode="thin")[1]))(A)
    with pytest.raises(ValueError, match="Shape mismatch"):
        adkit.grad(lambda a: np.sum(sl.lstsq(a, np.ones(5))[0]))(TALL)
    with pytest.raises(ValueError, match="Unknown solver"):
        adkit.grad(lambda a: np.sum(sl.solve_discrete_lyapunov(a, I3, method="schur")))(A)
    with pytest.raises(ValueError, match="square"):
        adkit.grad(lambda a: np.sum(sl.logm(a)))(TALL)
    with pytest.raises(NoRuleError, match="non-square.*qr"):
        adkit.grad(lambda a: np.sum(sl.lu(a)[2]))(TALL)
    with pytest.raises(NoRuleError, match="left=True"):
        adkit.grad(lambda a: np.sum(np.real(sl.eig(a, left=True)[0])))(A)


def test_functions_without_rules_are_named_publicly():
    # scipy.linalg's batch decorator hides the function's own code: the error names the
    # public function, not scipy.linalg._decomp_schur.schur
    with pytest.raises(adkit.TracedConversionError, match=r"^scipy\.linalg\.schur "):
        adkit.grad(lambda a: np.sum(sl.schur(a)[0]))(A)


def test_plain_calls_stay_scipys():
    np.testing.assert_array_equal(sl.toeplitz([1, 2, 3]), [[1, 2, 3], [2, 1, 2], [3, 2, 1]])
    assert sl.block_diag(np.ones((1, 1)), [[2, 3]]).tolist() == [[1, 0, 0], [0, 2, 3]]
    assert sl.qr(np.eye(2), mode="r")[0].shape == (2, 2)
