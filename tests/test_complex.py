"""Complex arguments and outputs under autograd's convention (docs/complex.md): for
f(z) = u(x, y) + i v(x, y), grad(f)(z) = du/dx - i du/dy. Every transform, and the
rules on complex inputs, checked against differences along x and y (complexcheck)."""

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from complexcheck import C, check_complex, numeric_gradient

import adkit
from adkit import numeric

Z3, W3, ZS = C(3, seed=1), C(3, seed=2), C(seed=3)
A = C(3, 3, seed=4) + 3 * np.eye(3)
B = C(3, 2, seed=5)


# --- the transforms ---------------------------------------------------------------------------

def test_grad_is_du_dx_minus_i_du_dy():
    # |z|^2 = x^2 + y^2: 2x - 2iy = 2 conj(z), autograd's answer
    assert adkit.grad(lambda z: np.abs(z) ** 2)(1 + 2j) == pytest.approx(2 - 4j)
    g = adkit.grad(lambda z: np.sum(np.real(z) * np.imag(z)))(Z3)
    np.testing.assert_allclose(g, np.imag(Z3) - 1j * np.real(Z3))
    assert adkit.grad(lambda z: np.real(z ** 2))(1 + 1j) == pytest.approx(2 + 2j)


def test_gradient_has_the_argument_type():
    assert type(adkit.grad(lambda z: np.abs(z))(1 + 1j)) is complex
    g = adkit.grad(lambda z: np.abs(z))(np.complex128(1 + 1j))
    assert isinstance(g, np.complex128)
    g = adkit.grad(lambda z: np.sum(np.abs(z)))(Z3.astype(np.complex64))
    assert g.dtype == np.complex64 and g.shape == (3,)


def test_value_and_grad_and_mixed_real_complex_arguments():
    def f(z, x):
        return np.sum(np.abs(z * x) ** 2)
    x = np.array([0.5, -1.0, 2.0])
    value, (gz, gx) = adkit.value_and_grad(f, (0, 1))(Z3, x)
    assert value == pytest.approx(f(Z3, x))
    np.testing.assert_allclose(gz, 2 * np.conj(Z3) * x ** 2)
    np.testing.assert_allclose(gx, 2 * np.abs(Z3) ** 2 * x)
    assert gx.dtype == np.float64


def test_grad_of_a_complex_output_raises_a_type_error_naming_the_fixes():
    with pytest.raises(TypeError, match=r"complex.*holomorphic_grad.*np\.real"):
        adkit.grad(lambda z: z ** 2)(1 + 1j)
    with pytest.raises(TypeError, match="holomorphic_grad"):
        adkit.value_and_grad(lambda z: np.sum(z))(Z3)


def test_holomorphic_grad_is_the_complex_derivative():
    assert adkit.holomorphic_grad(lambda z: z ** 2)(1 + 1j) == pytest.approx(2 + 2j)
    g = adkit.holomorphic_grad(lambda z: np.sum(np.sin(z) * np.exp(z)))(Z3)
    np.testing.assert_allclose(g, np.cos(Z3) * np.exp(Z3) + np.sin(Z3) * np.exp(Z3))
    g, aux = adkit.holomorphic_grad(lambda z: (z ** 3, "aux"), has_aux=True)(ZS)
    assert g == pytest.approx(3 * ZS ** 2) and aux == "aux"
    # f'' by nesting: jacobian of a holomorphic gradient is holomorphic
    h = adkit.jacobian(adkit.holomorphic_grad(lambda z: z ** 4))(ZS)
    assert h == pytest.approx(12 * ZS ** 2)


def test_holomorphic_grad_warns_for_a_real_argument_as_autograd_does():
    with pytest.warns(UserWarning, match="real.*x \\+ 0j"):
        g = adkit.holomorphic_grad(lambda x: np.exp(1j * x))(0.3)
    assert g == pytest.approx(np.real(1j * np.exp(0.3j)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert adkit.holomorphic_grad(lambda z: np.exp(1j * z))(0.3 + 0j) == \
            pytest.approx(1j * np.exp(0.3j))


def test_jvp_is_the_directional_derivative():
    # conj is not holomorphic: its JVP along v is conj(v)
    out, t = adkit.jvp(np.conj, (ZS,), (1j,))
    assert out == np.conj(ZS) and t == pytest.approx(-1j)
    _, t = adkit.jvp(lambda z: z ** 2, (Z3,), (W3,))
    np.testing.assert_allclose(t, 2 * Z3 * W3)


@pytest.mark.parametrize("fun", [np.real, np.imag, np.abs, np.angle])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_jvp_of_a_real_function_of_a_complex_value_has_a_real_tangent(fun, dtype):
    z, v = Z3.astype(dtype), W3.astype(dtype)
    out, t = adkit.jvp(fun, (z,), (v,))
    assert t.dtype == out.dtype == fun(z).dtype and t.dtype.kind == "f"
    h = 1e-6
    num = (fun(Z3 + h * W3) - fun(Z3 - h * W3)) / (2 * h)
    np.testing.assert_allclose(t, num, rtol=1e-3 if dtype == np.complex64 else 1e-7)
    # the same through a traced intermediate and for a complex scalar
    _, t = adkit.jvp(lambda z: fun(z * 1.0) + 1.0, (z,), (v,))
    assert t.dtype == out.dtype
    _, t = adkit.jvp(fun, (ZS,), (1j,))
    assert np.isrealobj(t)


@pytest.mark.parametrize("fun", [np.real, np.abs])
def test_a_real_valued_gradient_of_a_complex_argument_keeps_its_complex_type(fun):
    # grad of Re(z)^2 is 2 Re(z) - 0i: still complex when differentiated again or compiled
    def L(z):
        return np.sum(fun(z) ** 2)
    g = adkit.grad(L)
    v = W3.astype(np.complex64)
    for z in (Z3, Z3.astype(np.complex64)):
        assert g(z).dtype == z.dtype
        assert adkit.compile(g)(z).dtype == z.dtype
        out, t = adkit.jvp(g, (z,), (v.astype(z.dtype),))
        assert out.dtype == t.dtype == z.dtype
        assert adkit.hvp(L, (z,), (v.astype(z.dtype),)).dtype == z.dtype
    np.testing.assert_allclose(adkit.compile(g)(Z3), g(Z3))
    num = (g(Z3 + 1e-6 * W3) - g(Z3 - 1e-6 * W3)) / 2e-6
    np.testing.assert_allclose(adkit.hvp(L, (Z3,), (W3,)), num, rtol=1e-6)


def test_vjp_takes_and_returns_complex_cotangents():
    out, pull = adkit.vjp(lambda z: z ** 2, Z3)
    (c,) = pull(np.ones(3, complex))
    np.testing.assert_allclose(c, 2 * Z3)
    with pytest.raises(TypeError, match="dtype"):
        pull(np.ones(3))   # a complex output's cotangent is complex


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_convention(mode):
    jac = adkit.jacobian
    # holomorphic: f'(z) on the diagonal
    np.testing.assert_allclose(jac(lambda z: z ** 2, mode=mode)(Z3), np.diag(2 * Z3))
    # real output of a complex argument: rows are gradients, as autograd's jacobian
    np.testing.assert_allclose(jac(lambda z: np.abs(z) ** 2, mode=mode)(Z3),
                               np.diag(2 * np.conj(Z3)))
    # complex output of a real argument: df/dx
    x = np.array([0.3, 0.5])
    np.testing.assert_allclose(jac(lambda x: np.exp(1j * x), mode=mode)(x),
                               np.diag(1j * np.exp(1j * x)))
    # mixed arguments
    jz, jx = jac(lambda z, x: z * x, (0, 1), mode=mode)(Z3, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(jz, np.diag([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(jx, np.diag(Z3))


def test_forward_derivative_of_a_complex_scalar_matches_jacobian():
    from adkit.forward import derivative
    assert derivative(lambda z: z ** 3)(ZS) == pytest.approx(3 * ZS ** 2)
    assert derivative(lambda z: np.abs(z) ** 2)(ZS) == pytest.approx(2 * np.conj(ZS))


def _hessian_f(z):
    return np.sum(np.abs(z) ** 4 + np.real(z ** 3) * np.imag(z) + np.real(np.exp(z) * np.conj(z)))


def _real_hessian(f, z):
    """The real 2n x 2n second derivative of f(x + iy) by adkit.numeric's differences."""
    n = np.size(z)
    xy = np.concatenate([np.real(z).ravel(), np.imag(z).ravel()])
    return numeric.hessian(lambda v: f((v[:n] + 1j * v[n:]).reshape(np.shape(z))), xy)


def test_hessian_of_a_complex_argument_is_d2u_dx_dx_minus_i_d2u_dx_dy():
    # autograd's hessian is jacobian(jacobian(f)): entry (i, j) = dRe g_i/dx_j - i dRe g_i/dy_j
    # for g = grad(f), i.e. d2u/dx_i dx_j - i d2u/dx_i dy_j; checked against differences of u
    H = adkit.hessian(_hessian_f)(Z3)
    R = _real_hessian(_hessian_f, Z3)
    assert H.shape == (3, 3) and H.dtype == np.complex128
    np.testing.assert_allclose(H, R[:3, :3] - 1j * R[:3, 3:], rtol=1e-6, atol=1e-6)
    # every way of composing the two engines gives the same numbers
    for inner, outer in [("reverse", "forward"), ("reverse", "reverse"), ("forward", "forward"),
                         ("forward", "reverse")]:
        inner_grad = adkit.jacobian(_hessian_f, mode=inner)
        np.testing.assert_allclose(adkit.jacobian(inner_grad, mode=outer)(Z3), H, rtol=1e-12,
                                   err_msg=f"{outer} over {inner}")
    np.testing.assert_allclose(adkit.compile(adkit.hessian(_hessian_f))(Z3), H, rtol=1e-12)
    # a complex scalar: the real part of a holomorphic f gives f''(z)
    z = 0.7 - 0.4j
    assert adkit.hessian(lambda z: np.real(z ** 3))(z) == pytest.approx(6 * z)
    assert adkit.hessian(lambda z: np.abs(z) ** 2)(np.complex64(z)).dtype == np.complex64


def test_hessian_of_a_complex_argument_gives_autograds_numbers():
    # autograd 1.9.1's hessian raises on complex z (its jacobian cannot reshape the two basis
    # vectors 1, 1j of each complex output); the rows it pulls back for the basis vector 1 are
    # these (tools/autograd_suite/reference/complex_hessian_ref.py and .out, 16 digits)
    z = np.array([1 + 0.5j, -0.3 + 0.7j, 0.4 - 1.1j])
    np.testing.assert_allclose(np.diag(adkit.hessian(_hessian_f)(z)),
                               [23.80815705772091 - 4.639544635792573j,
                                3.077309088640676 + 5.280199219962178j,
                                7.206523817577976 + 14.142544426182933j], rtol=1e-13)
    g = lambda z: np.real(np.sin(z) * z) + np.abs(z) ** 3  # noqa: E731
    assert adkit.hessian(g)(0.7 - 0.4j) == pytest.approx(5.533839560664488 + 2.069610469620120j,
                                                         rel=1e-13)


def test_hessian_of_mixed_real_and_complex_arguments_is_jacobian_of_grad():
    def f(z, x):
        return np.sum(np.abs(z * x) ** 2 * x + np.real(z) * x)
    x = np.array([1.0, 2.0, 3.0])
    H = adkit.hessian(f, (0, 1))(Z3, x)
    J = adkit.jacobian(adkit.grad(f, (0, 1)), (0, 1), mode="reverse")(Z3, x)
    for r in range(2):
        for c in range(2):
            np.testing.assert_allclose(H[r][c], J[r][c], rtol=1e-12)
    assert H[1][1].dtype == np.float64 and H[0][0].dtype == np.complex128
    # the real-argument row against the complex column: d2u/dx dRe z - i d2u/dx dIm z
    R = numeric.hessian(lambda v: f(v[:3] + 1j * v[3:6], v[6:]),
                        np.concatenate([np.real(Z3), np.imag(Z3), x]))
    np.testing.assert_allclose(H[1][0], R[6:, :3] - 1j * R[6:, 3:6], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H[1][1], R[6:, 6:], rtol=1e-6, atol=1e-6)


def test_the_real_2n_by_2n_hessian_and_hvp_of_complex_arguments():
    f = _hessian_f
    x, y = np.real(Z3), np.imag(Z3)
    H = adkit.hessian(lambda x, y: f(x + 1j * y), (0, 1))(x, y)
    assert H[0][0].shape == (3, 3) and H[0][0].dtype == np.float64
    np.testing.assert_allclose(np.block([list(row) for row in H]), _real_hessian(f, Z3),
                               rtol=1e-6, atol=1e-6)
    # the complex Hessian holds the x-x and x-y blocks of it
    np.testing.assert_allclose(adkit.hessian(f)(Z3), H[0][0] - 1j * H[0][1], rtol=1e-12)
    v = W3
    num = (adkit.grad(f)(Z3 + 1e-6 * v) - adkit.grad(f)(Z3 - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(adkit.hvp(f, (Z3,), (v,)), num, rtol=1e-6)


def test_pytrees_of_complex_leaves():
    params = {"z": Z3, "s": (ZS, 2.0)}
    g = adkit.grad(lambda p: np.sum(np.abs(p["z"] * p["s"][0] * p["s"][1]) ** 2))(params)
    assert g["z"].dtype == complex and type(g["s"][0]) is complex and type(g["s"][1]) is float


def test_numeric_gradient_referee_agrees_on_a_non_holomorphic_function():
    f = lambda z: np.sum(np.real(z) ** 2 * np.imag(z) + np.abs(z))  # noqa: E731
    np.testing.assert_allclose(adkit.grad(f)(Z3), numeric_gradient(f, Z3), rtol=1e-8)


# --- the rules on complex inputs ---------------------------------------------------------------

ELEMENTWISE = ["exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos",
               "arctan", "arcsinh", "arccosh", "arctanh", "sqrt", "square", "reciprocal",
               "expm1", "log1p", "log2", "log10", "exp2", "conj", "conjugate", "real", "imag",
               "abs", "absolute", "angle", "negative", "positive", "sinc", "sign"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise(name):
    fn = getattr(np, name)
    check_complex(fn, Z3 + 0.1)
    check_complex(fn, ZS)


@pytest.mark.parametrize("fun,args", [
    (lambda z: z ** 3, (Z3,)),
    (lambda z, w: z ** w, (Z3 + 2, W3)),
    (lambda z, y: np.power(z, y), (Z3 + 2, np.array([0.5, 1.5, 2.0]))),
    (lambda z, w: np.float_power(z, w), (Z3 + 2, W3)),
    (lambda z, w: z * w, (Z3, W3)),
    (lambda z, w: z / w, (Z3, W3 + 2)),
    (lambda z, w: z - w + z, (Z3, W3)),
    (lambda z, x: z * x, (Z3, np.array([0.3, 0.4, 0.5]))),
    (lambda z: np.where(np.real(z) > 0, z, z * z), (Z3,)),
], ids=["cube", "power", "power-real-y", "float_power", "multiply", "divide", "add-sub",
        "mixed", "where"])
def test_arithmetic(fun, args):
    check_complex(fun, *args)


@pytest.mark.parametrize("fun,args", [
    (np.dot, (A, B)), (np.matmul, (A, B)), (lambda a, b: np.einsum("ij,jk->ik", a, b), (A, B)),
    (np.outer, (Z3, W3)), (np.inner, (Z3, W3)), (np.vdot, (Z3, W3)),
    (lambda a, b: np.tensordot(a, b, 1), (A, B)), (np.kron, (Z3, W3)), (np.trace, (A,)),
    (np.cross, (Z3, W3)), (lambda a: a.T @ a, (A,)),
], ids=["dot", "matmul", "einsum", "outer", "inner", "vdot", "tensordot", "kron", "trace",
        "cross", "T"])
def test_products(fun, args):
    check_complex(fun, *args)


@pytest.mark.parametrize("fun,args", [
    (lambda a: np.sum(a, axis=0), (A,)), (np.mean, (A,)), (lambda a: np.prod(a, axis=1), (A,)),
    (np.cumsum, (Z3,)), (np.cumprod, (Z3,)), (np.var, (Z3,)), (lambda a: np.std(a, 0), (A,)),
    (np.linalg.norm, (Z3,)), (lambda a: np.linalg.norm(a, "fro"), (A,)),
    (lambda a: np.linalg.norm(a, 1), (Z3,)), (lambda a: a[1:, 0] * a[0, 1], (A,)),
    (lambda a, b: np.concatenate([a, b]), (Z3, W3)),
], ids=["sum", "mean", "prod", "cumsum", "cumprod", "var", "std", "norm", "norm-fro",
        "norm-1", "index", "concatenate"])
def test_reductions_and_shapes(fun, args):
    check_complex(fun, *args)


@pytest.mark.parametrize("fun,args", [
    (np.linalg.inv, (A,)), (np.linalg.solve, (A, B)), (np.linalg.det, (A,)),
    (lambda a: np.linalg.slogdet(a)[1], (A,)), (lambda a: np.linalg.slogdet(a)[0], (A,)),
    (lambda a: np.linalg.eig(a)[0], (A,)), (np.linalg.eigvals, (A,)),
    (lambda a: np.linalg.matrix_power(a, 3), (A,)),
    (lambda a: np.linalg.eigh(a)[0], (A,)), (np.linalg.eigvalsh, (A,)),
    # eigenvectors, phase and all: the derivative keeps LAPACK's gauge (a real row)
    (lambda a: np.linalg.eigh(a)[1], (A,)), (lambda a: np.linalg.eigh(a, "U")[1], (A,)),
    (lambda a: np.abs(np.linalg.eigh(a)[1]) ** 2, (C(4, 4, seed=9),)),
    (lambda a: np.linalg.eigh(a)[1], (np.stack([A, A.T]),)),
], ids=["inv", "solve", "det", "slogdet-log", "slogdet-sign", "eig", "eigvals",
        "matrix_power", "eigh-values", "eigvalsh", "eigh-vectors", "eigh-upper",
        "eigh-abs-vectors", "eigh-batched"])
def test_linalg(fun, args):
    check_complex(fun, *args)


@pytest.mark.parametrize("fun,args", [
    (np.fft.fft, (Z3,)), (lambda a: np.fft.ifft(a, n=5), (Z3,)), (np.fft.fft2, (A,)),
    (lambda a: np.fft.fftn(a, norm="ortho"), (A,)), (np.fft.irfft, (Z3,)),
    (np.fft.irfftn, (A,)), (np.fft.hfft, (Z3,)), (np.fft.fftshift, (Z3,)),
], ids=["fft", "ifft", "fft2", "fftn", "irfft", "irfftn", "hfft", "fftshift"])
def test_fft(fun, args):
    check_complex(fun, *args)


POSITIVE = A @ A.conj().T + np.eye(3)
TALL, WIDE = C(4, 2, seed=7), C(2, 4, seed=6)
L = np.linalg


@pytest.mark.parametrize("fun,args", [
    (L.cholesky, (POSITIVE,)), (lambda a: L.cholesky(a, upper=True), (POSITIVE,)),
    (L.cholesky, (np.stack([POSITIVE, POSITIVE.T]),)),
    (lambda a: L.qr(a)[0], (A,)), (lambda a: L.qr(a)[1], (A,)),
    (lambda a: L.qr(a)[0], (TALL,)), (lambda a: L.qr(a)[1], (TALL,)),
    (lambda a: L.qr(a)[0], (WIDE,)), (lambda a: L.qr(a)[1], (WIDE,)),
    (L.pinv, (TALL,)), (L.pinv, (WIDE,)), (lambda a: L.pinv(a, hermitian=True), (POSITIVE,)),
    (lambda a, b: L.lstsq(a, b, rcond=None)[0], (TALL, C(4, seed=8))),
    (lambda a, b: L.lstsq(a, b, rcond=None)[0], (TALL, C(4, 2, seed=9))),
    (lambda a, b: L.lstsq(a, b, rcond=None)[0], (WIDE, C(2, seed=8))),
    (lambda a, b: L.lstsq(a, b, rcond=None)[1], (TALL, C(4, seed=8))),
    (lambda a, b: L.lstsq(a, b, rcond=None)[0], (np.real(TALL), C(4, seed=8))),
], ids=["cholesky", "cholesky-upper", "cholesky-batched", "qr-q", "qr-r", "qr-tall-q",
        "qr-tall-r", "qr-wide-q", "qr-wide-r", "pinv-tall", "pinv-wide", "pinv-hermitian",
        "lstsq", "lstsq-matrix", "lstsq-wide", "lstsq-residuals", "lstsq-real-a"])
def test_factorizations_and_least_squares(fun, args):
    check_complex(fun, *args)


def test_cholesky_reads_the_lower_triangle_and_a_real_diagonal():
    g = adkit.grad(lambda a: np.sum(np.abs(L.cholesky(a)) ** 2))(POSITIVE)
    assert np.all(np.triu(g, 1) == 0) and np.all(np.imag(np.diag(g)) == 0)


SVD_SHAPES = [(3, 3), (4, 2), (2, 4), (1, 3), (3, 1)]


@pytest.mark.parametrize("shape", SVD_SHAPES, ids=str)
@pytest.mark.parametrize("part", ["s", "u", "vh", "product"])
def test_svd(shape, part):
    # U and V, phases included: the derivative keeps LAPACK's gauge (V's first row real
    # for m >= n, U's for m < n)
    def f(a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return {"s": s, "u": u, "vh": vh, "product": (u * s) @ vh}[part]
    check_complex(f, C(*shape, seed=sum(shape)))


@pytest.mark.parametrize("fun,a", [
    (lambda a: np.linalg.svd(a)[0], np.stack([C(3, 3, seed=1), C(3, 3, seed=2)])),
    (lambda a: np.linalg.svd(a + a.conj().T, hermitian=True)[2], A),
    (lambda a: np.linalg.norm(a, 2), B), (lambda a: np.linalg.norm(a, "nuc"), B),
], ids=["batched", "hermitian", "norm-2", "norm-nuc"])
def test_svd_users(fun, a):
    check_complex(fun, a)


def test_svd_values_match_numpy_types():
    u, s, vh = np.linalg.svd(A)
    out = adkit.jvp(lambda a: np.linalg.svd(a), (A,), (B @ B.T.conj(),))
    (tu, ts, tvh) = out[1]
    assert out[0][1].dtype == np.float64 and ts.dtype == np.float64
    np.testing.assert_allclose(out[0][2], vh)
    np.testing.assert_allclose(out[0][0], u)
    assert tu.dtype == tvh.dtype == np.complex128


def test_eigh_reads_one_triangle_and_a_real_diagonal_as_lapack_does():
    # the upper triangle and the diagonal's imaginary part do not move the eigenvalues
    g = adkit.grad(lambda a: np.sum(np.linalg.eigvalsh(a) ** 3))(A)
    assert np.all(np.triu(g, 1) == 0) and np.all(np.imag(np.diag(g)) == 0)
    g = adkit.grad(lambda a: np.sum(np.linalg.eigvalsh(a, "U") ** 3))(A)
    assert np.all(np.tril(g, -1) == 0)
    w = np.linalg.eigvalsh(A)
    # the sum of the eigenvalues is the trace, sum Re(a_ii)
    np.testing.assert_allclose(adkit.grad(lambda a: np.sum(np.linalg.eigvalsh(a)))(A),
                               np.eye(3), atol=1e-14)
    assert w.dtype == np.float64 and adkit.jvp(
        np.linalg.eigvalsh, (A,), (W3[:, None] * W3,))[1].dtype == np.float64


# --- check_grads ---------------------------------------------------------------------------------

def test_check_grads_compares_complex_arguments_and_outputs_in_real_coordinates():
    report = adkit.check_grads(lambda z: np.fft.fft(z) * np.conj(z), (Z3,))
    assert report.ok and set(report.modes) == {"forward", "reverse", "numeric", "symbolic"}
    assert "dz[0].imag" in str(report) or "dz[1].imag" in str(report) or \
        "dz[2].imag" in str(report)
    assert adkit.check_grads(lambda z: np.sum(np.abs(np.sin(z)) ** 2), (Z3,), order=2).ok


def test_check_grads_catches_a_wrong_complex_rule():
    wrong = adkit.primitive(np.exp)   # conjugated derivative: right only on the real line
    adkit.defvjp(wrong, lambda ans, x: lambda g: g * np.conj(ans))
    adkit.defjvp(wrong, lambda g, ans, x: g * np.conj(ans))
    with pytest.raises(AssertionError, match="disagree"):
        adkit.check_grads(lambda z: np.sum(np.abs(wrong(z)) ** 2 * np.real(z)), (Z3,),
                          modes=("reverse", "numeric"))


def test_check_grads_converts_user_derivatives_in_the_complex_convention():
    f = lambda z: np.sum(np.abs(z) ** 2 * np.cos(z)).real  # noqa: E731
    report = adkit.check_grads(f, (Z3,), modes=("reverse", "numeric",
                                                ("user", adkit.grad(f))))
    assert report.ok and "user" in report.modes
    g = lambda x: np.exp(1j * x)  # noqa: E731
    report = adkit.check_grads(g, (np.array([0.3, 0.4]),),
                               modes=("numeric", ("user", adkit.jacobian(g))))
    assert report.ok
    bad = lambda z: np.conj(adkit.grad(f)(z))  # noqa: E731
    with pytest.raises(AssertionError, match="disagree"):
        adkit.check_grads(f, (Z3,), modes=("numeric", ("user", bad)))


def test_check_grads_complex_step_referee():
    x = np.array([0.3, 1.4])
    report = adkit.check_grads(lambda x: np.sum(np.sin(x) * np.exp(x)), (x,),
                               modes=("reverse", "numeric", "complex_step"))
    assert report.ok and "complex_step" in report.modes
    # skipped, with the reason, where it refuses
    report = adkit.check_grads(lambda x: np.sum(np.abs(x)), (x,),
                               modes=("reverse", "numeric", "complex_step"))
    assert "complex_step" not in report.modes and any(
        "complex_step: skipped" in n and "imaginary part" in n for n in report.notes)
    report = adkit.check_grads(lambda z: np.sum(np.abs(z)), (Z3,),
                               modes=("reverse", "numeric", "complex_step"))
    assert any("needs real arguments" in n for n in report.notes)
    # it is asked for by name: a non-analytic f it cannot see (abs(x) * x) would fool it
    assert "complex_step" not in adkit.checks.MODES


def test_check_grads_on_a_complex_hermitian_eigenproblem():
    a = C(2, 2, seed=4) + 3 * np.eye(2)
    report = adkit.check_grads(lambda a: np.abs(np.linalg.eigh(a)[1]) ** 2, (a,))
    assert report.ok and "numeric" in report.modes
    assert any("symbolic: skipped" in n and "complex one" in n for n in report.notes)


def test_a_lapack_with_another_gauge_is_refused_not_differentiated_wrongly(monkeypatch):
    original = np.linalg.svd

    def rotated(a, *args, **kwargs):   # the same SVD, every pair's phase turned
        u, s, vh = original(a, *args, **kwargs)
        if isinstance(a, np.ndarray):
            phase = np.exp(0.3j * np.arange(1, np.shape(s)[-1] + 1))
            u, vh = u * phase, vh * np.conj(phase)[:, None]
        return u, s, vh

    monkeypatch.setattr(np.linalg, "svd", rotated)
    with pytest.raises(TypeError, match=r"np.linalg.svd of a complex matrix.*gauge"):
        adkit.grad(lambda a: np.sum(np.real(np.linalg.svd(a)[0])))(A)


A2 = C(2, 2, seed=4) + 3 * np.eye(2)


@pytest.mark.parametrize("fun,a", [
    (L.cholesky, A2 @ A2.conj().T + np.eye(2)), (lambda a: L.qr(a)[1], A2),
    (L.pinv, C(3, 2, seed=1)), (lambda a: L.lstsq(a, np.ones(3), rcond=None)[0], C(3, 2)),
    (lambda a: L.svd(a)[1], A2), (L.eigvals, A2), (L.det, A2), (L.inv, A2),
    (lambda a: L.slogdet(a)[0], A2), (lambda a: L.solve(a, np.ones(2)), A2),
], ids=["cholesky", "qr", "pinv", "lstsq", "svd", "eigvals", "det", "inv", "slogdet-sign",
        "solve"])
def test_check_grads_on_complex_linalg(fun, a):
    # in real coordinates; the symbolic referee joins where its expressions take complex
    # matrices (det, inv, solve, slogdet, eig) and says why where not
    report = adkit.check_grads(fun, (a,))
    assert report.ok and {"forward", "reverse", "numeric"} <= set(report.modes)
    assert "symbolic" in report.modes or any("complex one" in n for n in report.notes)


# --- random complex programs (hypothesis) --------------------------------------------------------
# Chains of holomorphic and non-holomorphic steps on two complex vectors z and w; after
# each step the value is rescaled smoothly (|t| < 2), so chains stay bounded and away from
# branch cuts. Each drawn chain is checked by check_complex (differences along x and y,
# forward against reverse, vjp, jvp, both Jacobians, second order).

_M0 = C(3, 3, seed=11)
PROGRAM_STEPS = {
    "exp": lambda t, w: np.exp(0.5 * t),
    "sin": lambda t, w: np.sin(t),
    "cosh": lambda t, w: np.cosh(0.5 * t),
    "square": lambda t, w: 0.5 * t * t,
    "times-w": lambda t, w: t * w,
    "plus-conj-w": lambda t, w: t + np.conj(w),
    "conj": lambda t, w: np.conj(t),
    "real": lambda t, w: np.real(t) * (1 + 0.5j),
    "imag": lambda t, w: np.imag(t) - 0.5j * np.real(t),
    "abs2": lambda t, w: np.abs(t) ** 2 + 1j * np.real(w * t),
    "log": lambda t, w: np.log(4.0 + t / (1.0 + np.abs(t) ** 2)),
    "divide": lambda t, w: t / (2.0 + np.conj(t) * t),
    "matvec": lambda t, w: _M0 @ t,
    "fft": lambda t, w: np.fft.fft(t) / 3,
    "cumsum": lambda t, w: np.cumsum(t) * 0.5,
    "reverse": lambda t, w: t[::-1] * 1j,
    "outer": lambda t, w: np.einsum("ij->j", np.outer(t, w)) * 0.3,
    "solve": lambda t, w: np.linalg.solve(3 * np.eye(3) + 0.2 * np.outer(t, np.conj(t)), w),
    "vdot": lambda t, w: t * np.vdot(t, w),
    "power": lambda t, w: (t + 3.0) ** (0.5 + 0.2j),
}


def _program(steps: list) -> Any:
    def program(z, w):
        t = z
        for name in steps:
            t = PROGRAM_STEPS[name](t, w)
            t = 2 * t / np.sqrt(1.0 + np.abs(t) ** 2)
        return t
    return program


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(steps=st.lists(st.sampled_from(sorted(PROGRAM_STEPS)), min_size=1, max_size=5),
       seed=st.integers(0, 2 ** 16))
def test_random_complex_programs(steps, seed):
    z, w = C(3, seed=seed), C(3, seed=seed + 1)
    check_complex(_program(steps), z, w, rtol=1e-5)


def test_symbolic_refuses_complex_arguments_and_takes_their_parts():
    from adkit import symbolic
    f = lambda z: np.abs(z) ** 2 * np.real(z)  # noqa: E731
    with pytest.raises(TypeError, match=r"argument 0 is complex.*x \+ 1j \* y"):
        symbolic.grad(f)(1 + 2j)
    gx, gy = symbolic.grad(lambda x, y: f(x + 1j * y), argnums=(0, 1))(1.0, 2.0)
    assert gx - 1j * gy == pytest.approx(adkit.grad(f)(1 + 2j), rel=1e-12)
