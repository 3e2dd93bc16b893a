"""Bad input gets an error that names the problem and the fix — never a silent wrong answer."""

import numpy as np
import pytest

import adkit
from adkit import grad, jvp, vjp


def test_grad_of_non_scalar_output_names_shape_and_alternatives():
    with pytest.raises(ValueError, match=r"shape \(3,\).*jacobian.*vjp"):
        grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        grad(lambda x: (x, x))(1.0)


def test_grad_of_complex_output_is_rejected():
    # autograd raises a TypeError too; the message names the ways forward
    with pytest.raises(TypeError, match="complex.*holomorphic_grad.*np.real"):
        grad(lambda x: np.sum(np.fft.fft(x)))(np.ones(4))


def test_missing_function_names_it_and_says_how_to_register():
    with pytest.raises(adkit.NoRuleError, match=r"np\.i0.*adkit\.primitive"):
        grad(lambda x: np.sum(np.i0(x)))(np.ones(2))
    with pytest.raises(adkit.NoRuleError, match=r"modf"):
        grad(lambda x: np.modf(x)[0])(1.5)


def test_no_object_array_fallback():
    with pytest.raises(TypeError):
        grad(lambda x: np.sum(np.frompyfunc(lambda a: a, 1, 1)(x)))(np.ones(2))


@pytest.mark.parametrize("argnums", [2, -3, (0, 2), ()])
def test_argnums_out_of_range(argnums):
    with pytest.raises((ValueError, TypeError), match="argnums"):
        grad(lambda x, y: x * y, argnums)(1.0, 2.0)


def test_argnums_wrong_type():
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda x: x, "0")(1.0)


def test_tangent_structure_shape_and_dtype_mismatches():
    f = lambda x: x * 2  # noqa: E731
    with pytest.raises(ValueError, match=r"shape \(2,\).*primal has shape \(3,\)"):
        jvp(f, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="float64.*float32|float32.*float64"):
        jvp(f, (np.ones(3, np.float32),), (np.ones(3),))
    with pytest.raises(ValueError, match="structure"):
        jvp(lambda p: p[0], ((1.0, 2.0),), ((1.0,),))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        jvp(lambda x, y: x, (1.0, 2.0), (1.0,))
    with pytest.raises(TypeError, match="tuples"):
        jvp(f, np.ones(3), np.ones(3))
    _, pull = vjp(f, np.ones(3))
    with pytest.raises(ValueError, match="cotangent.*shape"):
        pull(np.ones(4))


def test_boolean_arguments_are_rejected_clearly():
    # complex arguments are differentiated: tests/test_complex.py
    with pytest.raises(TypeError, match="boolean"):
        grad(lambda x: x * 1.0)(True)
    with pytest.raises(TypeError, match="str"):
        grad(lambda x: 1.0)("1.0")


def test_traced_value_into_plain_array_raises_with_working_spelling():
    def f(x):
        y = np.zeros(3)
        y[0] = x
        return np.sum(y)
    with pytest.raises(adkit.TracedConversionError, match=r"np\.zeros_like\(x, shape="):
        grad(f)(1.0)

    def g(x):
        y = np.zeros(3)
        y[:2] = x
        return np.sum(y)
    with pytest.raises(adkit.TracedConversionError, match="drop its derivative"):
        grad(g)(np.ones(2))

    def working(x):
        y = np.zeros_like(x, shape=(3,))
        y[0] = x
        return np.sum(y * np.array([2.0, 1.0, 1.0]))
    assert grad(working)(1.0) == 2.0


def test_float_and_math_functions_refuse_traced_values():
    import math
    with pytest.raises(adkit.TracedConversionError, match=r"np\.sin\(x\) rather than math\.sin"):
        grad(lambda x: math.sin(x))(1.0)
    with pytest.raises(adkit.TracedConversionError, match="float"):
        grad(lambda x: float(x))(1.0)
    with pytest.raises(adkit.TracedConversionError):
        grad(lambda x: x.item())(np.ones(1))


def test_plain_array_methods_cannot_see_traced_arguments():
    A = np.eye(2)
    with pytest.raises(adkit.TracedConversionError, match=r"np\.dot\(A, x\) or A @ x"):
        grad(lambda x: np.sum(A.dot(x)))(np.ones(2))


def test_escaped_traced_value_is_detected():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2
    grad(f)(1.0)
    with pytest.raises(ValueError, match="escaped"):
        leaked[0] * 3


def test_unsupported_keyword_arguments_say_what_to_do():
    with pytest.raises(TypeError, match="where.*np.where"):
        grad(lambda x: np.sum(x, where=x > 0))(np.ones(2))
    with pytest.raises(TypeError, match="where"):
        grad(lambda x: np.sum(np.add(x, 1, where=x > 0)))(np.ones(2))


def test_views_from_read_only_numpy_functions_refuse_writes():
    def f(x):
        b = np.broadcast_to(x, (2, 2))
        b[0, 0] = 1.0
        return np.sum(b)
    with pytest.raises(ValueError, match="read-only view"):
        grad(f)(np.ones(2))


def test_a_primitive_without_rules_says_to_add_them_not_to_switch_modes():
    @adkit.primitive
    def double(x):
        return 2 * x

    with pytest.raises(NotImplementedError, match=r"no differentiation rule .* in either mode; "
                                                  r"add one with adkit\.defvjp"):
        adkit.grad(double)(1.0)
    adkit.defjvp(double, lambda g, ans, x: 2 * g)   # one rule serves both modes
    assert adkit.jvp(double, (1.0,), (1.0,))[1] == 2.0
    assert adkit.grad(double)(1.0) == 2.0
