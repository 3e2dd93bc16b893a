"""scipy.linalg on traced matrices, checked in every mode to second order (ruletest.check,
against central differences of SciPy's own functions), with values equal to SciPy's."""

import numpy as np
import pytest

sl = pytest.importorskip("scipy.linalg", reason="SciPy is not installed")

import adkit  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402
from ruletest import R, check  # noqa: E402
from complexcheck import C as complex_array, check_complex, numeric_gradient  # noqa: E402

A = R(3, 3, seed=11)
B = R(3, 2, seed=12)
C = R(2, 2, seed=13) + 2.0 * np.eye(2)
I3 = np.eye(3)


def _spd(a):
    return a @ a.T + I3


def _well(a):  # diagonally dominant: LU and triangular solves stay well conditioned
    return a + 4.0 * I3


def _signed(v):
    """Eigenvectors with a fixed sign (the first row positive), so differences are smooth."""
    return v * np.sign(v[:1, :])


CASES = {
    "inv": (lambda a: sl.inv(a), A),
    "det": (lambda a: sl.det(a), A),
    "solve": (lambda a, b: sl.solve(a, b), A, B),
    "solve vector transposed": (lambda a, b: sl.solve(a, b[:, 0], transposed=True), A, B),
    "solve positive definite": (lambda a, b: sl.solve(_spd(a), b, assume_a="pos"), A, B),
    "solve symmetric upper": (lambda a, b: sl.solve(a + 4 * I3, b, assume_a="sym"), A, B),
    "solve lower triangular": (lambda a, b: sl.solve(_well(a), b, assume_a="lower triangular"),
                               A, B),
    "norm": (lambda a: sl.norm(a), A),
    "norm axis": (lambda a: sl.norm(a, ord=1, axis=0), A),
    "solve_triangular lower": (lambda a, b: sl.solve_triangular(_well(a), b, lower=True), A, B),
    "solve_triangular upper": (lambda a, b: sl.solve_triangular(_well(a), b[:, 0]), A, B),
    "solve_triangular trans": (lambda a, b: sl.solve_triangular(_well(a), b, trans="T"), A, B),
    "solve_triangular unit": (lambda a, b: sl.solve_triangular(a, b, trans=1, lower=True,
                                                               unit_diagonal=True), A, B),
    "cholesky upper": (lambda a: sl.cholesky(_spd(a)), A),
    "cholesky lower": (lambda a: sl.cholesky(_spd(a), lower=True), A),
    "cho_factor+cho_solve": (lambda a, b: sl.cho_solve(sl.cho_factor(_spd(a)), b), A, B),
    "cho_solve lower": (lambda a, b: sl.cho_solve(sl.cho_factor(_spd(a), lower=True), b[:, 1]),
                        A, B),
    "sqrtm": (lambda a: sl.sqrtm(_spd(a)), A),
    "sqrtm nonsymmetric": (lambda a: sl.sqrtm(_well(a)), A),
    # a negative eigenvalue: SciPy's principal root is complex; the gradient is its real part
    "sqrtm complex root": (lambda a: sl.sqrtm(a), np.array([[1.0, 2.0, 0.3], [3.0, 4.0, 0.1],
                                                            [0.2, -0.5, 2.0]])),
    "expm": (lambda a: sl.expm(a), A),
    "logm": (lambda a: sl.logm(_spd(a)), A),  # more in test_rules_scipy_linalg_more.py
    "solve_sylvester": (lambda a, b, q: sl.solve_sylvester(_well(a), b, q), A, C, B),
    "lu_factor": (lambda a: sl.lu_factor(a)[0], A),
    "lu_solve": (lambda a, b: sl.lu_solve(sl.lu_factor(a), b), A, B),
    "lu_solve trans": (lambda a, b: sl.lu_solve(sl.lu_factor(a), b[:, 0], trans=1), A, B),
    "eigh values": (lambda a: sl.eigh(a + a.T, eigvals_only=True), A),
    "eigh vectors": (lambda a: _signed(sl.eigh(a + a.T)[1]), A),
    "eigh upper": (lambda a: sl.eigh(a, lower=False)[0], A),
    "eigh generalized": (lambda a, s: sl.eigh(a + a.T, _spd(s))[0], A, R(3, 3, seed=14)),
    "eigh generalized vectors": (lambda a: _signed(sl.eigh(a + a.T, _spd(A))[1]), A),
    "solve_banded": (lambda ab, b: sl.solve_banded((1, 1), ab + np.array([[0.0], [4.0], [0.0]]),
                                                   b), R(3, 4, seed=15), R(4, seed=16)),
    "solve_banded (2, 0)": (lambda ab, b: sl.solve_banded((2, 0), ab + np.array([[4.0], [0], [0]]),
                                                          b), R(3, 4, seed=17), R(4, 2, seed=18)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_scipy_linalg(name):
    fun, *args = CASES[name]
    check(fun, *args)
    out, _ = adkit.jvp(fun, tuple(args), tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*args), rtol=1e-9, atol=1e-12)


def test_lu_factor_pivots_are_scipys_and_plain():
    def f(a):
        lu, piv = sl.lu_factor(a)
        assert not isinstance(piv, adkit.reverse.Var)
        np.testing.assert_array_equal(piv, sl.lu_factor(A)[1])
        return lu
    adkit.jacobian(f)(A)


def test_expm_of_a_generator_matches_its_series_derivative():
    # d/dt expm(t M) = M expm(t M)
    m = R(3, 3, seed=19)
    d = adkit.jacobian(lambda t: sl.expm(t * m))(0.7)
    np.testing.assert_allclose(d, m @ sl.expm(0.7 * m), rtol=1e-10)


def test_sqrtm_with_negative_eigenvalues_is_scipys_complex_root():
    # sqrtm(-I) = iI; X dX + dX X = dA gives dX = -i dA / 2, so d sum(Im X) / dA = -1/2
    a = -np.eye(2)
    out, _ = adkit.jvp(sl.sqrtm, (a,), (np.ones((2, 2)),))
    np.testing.assert_allclose(out, sl.sqrtm(a))
    assert out.dtype == np.complex128
    g = adkit.grad(lambda a: np.sum(np.imag(sl.sqrtm(a))))(a)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, -0.5 * np.ones((2, 2)))


# complex matrices, under autograd's convention (tests/complexcheck.py: differences along the
# real and imaginary directions, forward against reverse, vjp, jvp, both Jacobians, second order)
AC = complex_array(3, 3, seed=21) + 3.0 * I3
AH = complex_array(3, 3, seed=22) @ complex_array(3, 3, seed=22).conj().T + I3
BC, QC = complex_array(2, 2, seed=23) + 2.0 * np.eye(2), complex_array(3, 2, seed=24)
COMPLEX_CASES = {
    "sqrtm": (lambda a: sl.sqrtm(a), AC),
    "sqrtm hermitian": (lambda a: sl.sqrtm(a), AH),
    "sqrtm real and complex": (lambda a, b: sl.sqrtm(a + 1j * b), AH.real, AH.imag),
    "solve_sylvester": (lambda a, b, q: sl.solve_sylvester(a, b, q), AC, BC, QC),
    # real and complex arguments (cast here: SciPy 1.17 itself gets the mixed case wrong, see
    # the test below)
    "solve_sylvester real a": (lambda a, b, q: sl.solve_sylvester(a + 0j, b, q), _well(A), BC, QC),
}


@pytest.mark.parametrize("name", list(COMPLEX_CASES))
def test_scipy_linalg_complex(name):
    fun, *args = COMPLEX_CASES[name]
    check_complex(fun, *args)
    out, _ = adkit.jvp(fun, tuple(args), tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(out, fun(*(np.asarray(a, complex) for a in args)),
                               rtol=1e-9, atol=1e-12)


def test_solve_sylvester_of_real_matrices_with_complex_eigenvalues_and_a_complex_q():
    # SciPy 1.17.1 reads a real Schur form (2 x 2 blocks for complex eigenvalues) as a complex
    # triangular one when Q is complex; the adjoint of a complex cotangent is such a solve.
    # If the last assert starts failing SciPy has fixed it, and the cast in _sylvester_impl
    # can go.
    a, b = _well(A), C  # real, each with complex eigenvalues
    assert np.iscomplexobj(np.linalg.eigvals(a)) and np.iscomplexobj(np.linalg.eigvals(b))
    x, _ = adkit.jvp(sl.solve_sylvester, (a, b, QC), (a, b, QC))
    np.testing.assert_allclose(a @ x + x @ b, QC, atol=1e-12)
    plain = sl.solve_sylvester(a, b, QC)
    assert not np.allclose(a @ plain + plain @ b, QC)

    w = complex_array(3, 2, seed=25)

    def loss(solve):
        return lambda a, b, q: np.sum(np.real(solve(a, b, q) * np.conj(w)))
    reference = loss(lambda a, b, q: sl.solve_sylvester(a + 0j, b + 0j, q))
    grads = adkit.grad(loss(sl.solve_sylvester), (0, 1, 2))(a, b, QC)
    for k, x in enumerate((a, b, QC)):
        def along(v, k=k):
            return reference(*[v if i == k else y for i, y in enumerate((a, b, QC))])
        assert grads[k].dtype == x.dtype
        np.testing.assert_allclose(grads[k], numeric_gradient(along, x), rtol=1e-6, atol=1e-8)


def test_complex_matrices_elsewhere_are_refused_by_name():
    with pytest.raises(NoRuleError, match="scipy.linalg.expm.*real matrices"):
        adkit.jacobian(sl.expm)(AC)


def test_eigh_subsets_are_refused():
    with pytest.raises(NoRuleError, match="subset_by_index"):
        adkit.grad(lambda a: np.sum(sl.eigh(a, subset_by_index=[0, 1])[0]))(_spd(A))


def test_every_scipy_linalg_primitive_is_exercised():
    # runs last in this file: every rule registered for scipy.linalg went through check()
    from adkit.table import PRIMITIVES
    from ruletest import EXERCISED
    if len(EXERCISED) < 10:
        pytest.skip("run the whole file to check that every rule is exercised")
    names = {n for n in PRIMITIVES if n.startswith("scipy.linalg.")}
    assert names and not names - EXERCISED, names - EXERCISED
