"""adkit.symbolic: expressions, exact derivatives, branches, and what it refuses."""

import warnings

import numpy as np
import pytest
import sympy as sp

import adkit
from adkit import symbolic
from adkit.table import ON_OBJECTS, PRIMITIVES, NoSympy, PerElement
from adkit.tracer import NondiffPrimitive


def test_expression_names_symbols_after_parameters():
    e = symbolic.expression(lambda x1, x2: np.sqrt(x1 * x1 + x2 * x2), 1.0, 2.0)
    x1, x2 = sp.symbols("x1 x2", real=True)
    assert e == sp.sqrt(x1 ** 2 + x2 ** 2)


def test_expression_of_arrays_is_a_sympy_array():
    e = symbolic.expression(lambda W, x: np.tanh(W @ x), np.ones((2, 3)), np.ones(3))
    assert isinstance(e, sp.NDimArray) and e.shape == (2,)
    W = sp.Symbol("W_1_2", real=True)
    assert W in e[1].free_symbols and W not in e[0].free_symbols


def test_constant_arguments_stay_numbers():
    e = symbolic.expression(lambda x, n: x ** n, 2.0, 3, argnums=0)
    assert e == sp.Symbol("x", real=True) ** 3


def test_sympy_slots_give_the_functions_symbolic_form():
    x = sp.Symbol("x", real=True)
    assert symbolic.expression(lambda x: np.log1p(x), 0.5) == sp.log(x + 1)
    assert symbolic.expression(lambda x: np.exp2(x), 0.5) == 2 ** x
    relu = symbolic.expression(lambda x: np.maximum(x, 0.0), 0.5)
    assert isinstance(relu, sp.Max) and float(relu.subs(x, -2)) == 0 and float(relu.subs(x, 3)) == 3


@pytest.mark.parametrize("f, x", [
    (lambda x: np.sum(np.sin(x) * np.exp(-x)), np.array([0.1, 0.7, 2.0])),
    (lambda x: np.prod(x) / np.sum(x ** 2), np.array([1.5, -0.5, 2.0])),
    (lambda x: np.sqrt(np.sum(x ** 2)) * np.mean(np.cumsum(x)), np.array([1.0, 2.0, -3.0])),
    (lambda x: np.einsum("ij,j->", x.reshape(2, 2), x[:2]), np.array([1.0, 2.0, 3.0, 4.0])),
])
def test_grad_is_exact(f, x):
    np.testing.assert_allclose(symbolic.grad(f)(x), adkit.grad(f)(x), rtol=1e-12)


def test_jacobian_and_hessian_shapes_follow_adkit():
    f = lambda x: np.outer(x, x)[:, 1:]  # noqa: E731
    x = np.array([1.0, 2.0, 3.0])
    J = symbolic.jacobian(f)(x)
    assert J.shape == (3, 2, 3)
    np.testing.assert_allclose(J, adkit.jacobian(f)(x))
    g = lambda x, y: np.sum(x ** 2 * y) + np.sum(y ** 3)  # noqa: E731
    H = symbolic.hessian(g, (0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    H_ad = adkit.hessian(g, (0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    for row, row_ad in zip(H, H_ad):
        for block, block_ad in zip(row, row_ad):
            np.testing.assert_allclose(block, block_ad, atol=1e-12)


def test_pytree_arguments_keep_their_structure():
    params = {"w": np.array([0.5, -1.0]), "b": 0.3}
    f = lambda p, x: np.tanh(np.dot(p["w"], x) + p["b"])  # noqa: E731
    g = symbolic.grad(f)(params, np.array([1.0, 2.0]))
    g_ad = adkit.grad(f)(params, np.array([1.0, 2.0]))
    assert set(g) == {"w", "b"}
    np.testing.assert_allclose(g["w"], g_ad["w"])
    np.testing.assert_allclose(g["b"], g_ad["b"])


def test_in_place_writes_are_traced():
    def f(x):
        y = np.zeros_like(x)
        y[0] = x[1] ** 2
        y[1:] += x[:-1] * 3.0
        return np.sum(y * x)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(symbolic.grad(f)(x), adkit.grad(f)(x))


def test_user_primitive_without_sympy_rule_is_traced_through_its_body():
    @adkit.primitive
    def softplus(x):
        return np.log1p(np.exp(x))
    adkit.defvjp(softplus, lambda ans, x: lambda g: g / (1 + np.exp(-x)))
    x = sp.Symbol("x", real=True)
    assert symbolic.expression(lambda x: softplus(x), 0.3) == sp.log(sp.exp(x) + 1)


def test_branches_are_followed_and_reported():
    def f(x):
        if x[0] > x[1]:
            return x[0] * x[1]
        return -x[1]
    t = symbolic.trace(f, np.array([2.0, 1.0]))
    assert t.output == sp.Symbol("x_0", real=True) * sp.Symbol("x_1", real=True)
    assert len(t.branches) == 1 and t.branches[0].startswith("np.greater in f")
    with pytest.warns(symbolic.BranchWarning, match="np.greater"):
        symbolic.expression(f, np.array([0.0, 1.0]))
    # the other branch at another point
    assert symbolic.grad(f)(np.array([0.0, 1.0])).tolist() == [0.0, -1.0]


def test_while_loops_follow_the_iterations_taken():
    def newton_sqrt(a):
        x = a
        while np.abs(x * x - a) > 1e-12:
            x = 0.5 * (x + a / x)
        return x
    g = symbolic.grad(newton_sqrt)(2.0)
    assert abs(g - 0.5 / np.sqrt(2.0)) < 1e-10


def test_branch_free_functions_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        symbolic.expression(lambda x: np.sum(np.exp(x)), np.ones(2))


def test_sort_and_max_follow_the_point():
    x = np.array([3.0, 1.0, 2.0])
    f = lambda x: np.sum(np.sort(x) * np.array([1.0, 2.0, 3.0])) + np.max(x) ** 2  # noqa: E731
    t = symbolic.trace(f, x)
    assert t.branches
    np.testing.assert_allclose(symbolic.grad(f)(x), adkit.grad(f)(x))


def test_float_of_a_traced_value_is_refused_not_mistraced():
    with pytest.raises(adkit.TracedConversionError, match="float"):
        symbolic.expression(lambda x: np.sin(float(x)), 1.0)


def test_what_symbolic_cannot_trace_raises_no_sympy_error():
    # closed-form eigenvectors are built for 2x2 matrices only
    with pytest.raises(symbolic.NoSympyError, match="np.linalg.eigh"):
        symbolic.expression(lambda x: np.sum(np.linalg.eigh(x)[1]), np.diag([1.0, 2.0, 3.0]))


def test_tracing_inside_an_engine_is_refused():
    with pytest.raises(ValueError, match="outermost"):
        adkit.grad(lambda x: symbolic.grad(lambda y: y * x)(2.0))(1.0)


def test_non_scalar_grad_names_jacobian():
    with pytest.raises(ValueError, match="jacobian"):
        symbolic.grad(lambda x: x * 2)(np.ones(2))


def test_size_with_and_without_cse():
    def mlp(w):
        h = np.tanh(w[:4].reshape(2, 2) @ np.array([0.5, -1.0]))
        return np.tanh(np.dot(w[4:], h)) ** 2
    t = symbolic.trace(mlp, np.linspace(-1, 1, 6))
    assert 0 < t.size(cse=True) <= t.size()


def test_every_differentiable_primitive_has_a_sympy_slot():
    """A new primitive must say how adkit.symbolic evaluates it, or that it cannot."""
    import adkit.rules.special  # noqa: F401  (the optional family joins the table)
    kinds = (str, PerElement, NoSympy)
    missing = [name for name, p in PRIMITIVES.items()
               if not isinstance(p, NondiffPrimitive) and not name.startswith("user:")
               and not (p.sympy is ON_OBJECTS or isinstance(p.sympy, kinds) or
                        callable(p.sympy))]
    assert not missing, (f"primitives without a SymPy slot: {missing}; give each a "
                         "sympy= rule in adkit/rules/ or NoSympy(reason)")
    unknown = [name for name, p in PRIMITIVES.items()
               if isinstance(p.sympy, str) and p.sympy is not ON_OBJECTS
               and not hasattr(sp, p.sympy)]
    assert not unknown, f"SymPy slots naming no SymPy function: {unknown}"


def test_boolean_masks_multiply_as_zeros_and_ones():
    f = lambda x: np.sum((x > 0) * x ** 2 + np.where(x < 1, x, 0.0))  # noqa: E731
    x = np.array([-0.5, 0.5, 2.0])
    np.testing.assert_allclose(symbolic.grad(f)(x), adkit.grad(f)(x))
