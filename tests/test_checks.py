"""adkit.check_grads: agreement, disagreement tables, other libraries' gradients, bad points."""

import numpy as np
import pytest

import adkit
from adkit import PointError, check_grads


def test_smooth_function_agrees_in_every_mode():
    report = check_grads(lambda x1, x2: np.sqrt(x1 * x1 + x2 * x2), (1.0, 2.0))
    assert report.ok
    assert report.modes == ["forward", "reverse", "numeric", "symbolic"]
    assert len(report.comparisons) == 6
    text = str(report)
    assert "numeric vs symbolic" in text and ("df / dx1" in text or "df / dx2" in text)


def test_second_order_adds_forward_over_reverse():
    x = np.array([0.3, 0.7, -0.2])
    report = check_grads(lambda x: np.sum(np.tanh(x) ** 3) * x[0], (x,), order=2)
    assert "forward-over-reverse" in report.modes and report.ok
    np.testing.assert_allclose(report.derivatives["symbolic"],
                               report.derivatives["forward-over-reverse"], atol=1e-12)


def test_vector_outputs_compare_full_jacobians_and_weighted_hessians():
    f = lambda x, A: A @ np.sin(x)  # noqa: E731
    args = (np.array([0.1, 0.2, 0.3]), np.arange(6.0).reshape(2, 3))
    assert check_grads(f, args).derivatives["reverse"].shape == (2, 3 + 6)
    report = check_grads(f, args, argnums=0, order=2)
    assert report.derivatives["reverse"].shape == (3, 3)


def test_pytree_arguments_are_labelled_by_path():
    params = {"w": np.array([0.5, -0.3]), "b": 0.1}
    report = check_grads(lambda p: np.tanh(np.sum(p["w"] ** 2) + p["b"]), (params,))
    assert report.ok and report.derivatives["reverse"].shape == (1, 3)


def test_a_wrong_user_gradient_is_reported_with_a_table():
    wrong = lambda x: np.diag(np.cos(x) + 1e-4)  # noqa: E731
    with pytest.raises(AssertionError) as info:
        check_grads(np.sin, (np.array([0.1, 0.5]),), modes=("reverse", "numeric", ("mine", wrong)))
    message = str(info.value)
    assert "reverse vs mine" in message and "<-- disagree" in message
    assert "reverse vs numeric" in message  # the agreeing pair is shown too
    assert "df[0] / dx[0]" in message or "df[1] / dx[1]" in message


def test_a_wrong_primitive_rule_is_caught_by_the_referees():
    @adkit.primitive
    def cube(x):
        return x ** 3
    adkit.defvjp(cube, lambda ans, x: lambda g: g * 3.0 * x)  # should be 3 x**2
    with pytest.raises(AssertionError, match="reverse vs numeric"):
        check_grads(lambda x: np.sum(cube(x)), (np.array([1.5, 2.0]),))


def test_gradients_from_another_library_can_be_checked():
    from scipy.optimize import rosen, rosen_der, rosen_hess
    x = np.array([1.3, 0.7, 0.8, 1.9])
    assert check_grads(rosen, (x,), modes=("reverse", "numeric", ("scipy", rosen_der))).ok
    assert check_grads(rosen, (x,), order=2,
                       modes=("reverse", "symbolic", ("scipy", rosen_hess))).ok


def test_user_modes_carry_their_own_tolerance():
    grad32 = lambda x: (2 * x).astype(np.float32) * np.float32(1 + 1e-7)  # noqa: E731
    x = np.array([0.3, 1.7])
    f = lambda x: np.sum(x ** 2)  # noqa: E731
    with pytest.raises(AssertionError):
        check_grads(f, (x,), modes=("reverse", ("float32", grad32)))
    assert check_grads(f, (x,), modes=("reverse", ("float32", grad32, 1e-5))).ok


def test_point_outside_the_domain_is_named():
    with pytest.raises(PointError, match="outside f's domain"):
        check_grads(np.log, (-1.0,))


def test_infinite_derivative_is_named_not_called_a_disagreement():
    with pytest.raises(PointError, match="derivative does not exist"):
        check_grads(np.sqrt, (0.0,))


@pytest.mark.parametrize("f, x", [
    (np.abs, 0.0),
    (lambda x: np.max(x), np.array([1.0, 1.0])),
    (lambda x: np.maximum(x[0], x[1]) * 2.0, np.array([0.5, 0.5])),
])
def test_kinks_are_reported_as_kinks(f, x):
    with pytest.raises(PointError, match="kink"):
        check_grads(f, (x,))


def test_smooth_point_near_nothing_special_passes_the_kink_check():
    assert check_grads(np.abs, (0.3,)).ok


def test_a_jump_in_the_second_derivative_is_allowed_for_then_named():
    relu_x = lambda x: np.maximum(x, 0.0) * x  # noqa: E731  (C¹: f'' jumps from 0 to 2)
    report = check_grads(relu_x, (0.0,))
    assert report.ok and any("f'' jumps" in n for n in report.notes)
    with pytest.raises(PointError, match="f'' jumps by 2"):
        check_grads(relu_x, (0.0,), order=2)
    assert check_grads(relu_x, (0.5,), order=2).ok  # SymPy's DiracDelta is 0 off the kink


def test_value_dependent_branches_are_noted():
    report = check_grads(lambda x: x ** 2 if x > 0 else -x, (1.5,))
    assert any("branch" in n for n in report.notes)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="order"):
        check_grads(np.sin, (1.0,), order=3)
    with pytest.raises(ValueError, match="unknown mode 'jax'"):
        check_grads(np.sin, (1.0,), modes=("reverse", "jax"))
    with pytest.raises(ValueError, match="at least two modes"):
        check_grads(np.sin, (1.0,), modes=("reverse",))
    with pytest.raises(TypeError, match="no float argument"):
        check_grads(lambda n: n, (3,))


@pytest.mark.parametrize("f, x, first", [
    (np.std, 3.5, 0.0), (lambda x: np.power(x, 0.0), 0.0, 0.0), (lambda x: x ** 1.0, 0.0, 1.0),
    (lambda x: np.std(x, axis=1), np.array([[1.0], [2.0]]), 0.0),
])
@pytest.mark.parametrize("order", [1, 2])
def test_a_derivative_that_exists_is_not_called_absent(f, x, first, order):
    # std of one element is constant, x**0 is 1 everywhere: derivatives exist at these points
    report = check_grads(f, (x,), order=order)
    assert report.ok
    expected = first if order == 1 else 0.0
    for mode, d in report.derivatives.items():
        if mode != "numeric":
            np.testing.assert_array_equal(d, np.full_like(d, expected), err_msg=mode)


def test_a_mode_giving_nan_where_the_slope_is_finite_is_a_disagreement():
    @adkit.primitive
    def twice(x):
        return 2.0 * x
    adkit.defvjp(twice, lambda ans, x: lambda g: g * np.nan)   # a broken reverse rule
    adkit.defjvp(twice, lambda g, ans, x: 2.0 * g)
    with pytest.raises(AssertionError, match="disagree") as info:
        check_grads(twice, (1.0,))
    assert not isinstance(info.value, PointError)
    assert any("settle on a finite value" in n for n in info.value.report.notes)


@pytest.mark.parametrize("f", [np.sqrt, np.cbrt, lambda x: np.abs(x) ** 1.5 * np.sign(x)])
def test_infinite_slopes_are_still_named_as_such(f):
    order = 2 if f not in (np.sqrt, np.cbrt) else 1   # |x|^1.5: f' exists, f'' is infinite
    with pytest.raises(PointError, match="derivative does not exist"):
        check_grads(f, (0.0,), order=order)


def test_empty_arguments_have_nothing_to_compare():
    report = check_grads(lambda x: np.sum(np.sin(x)), (np.array([]),), order=2)
    assert report.ok and report.comparisons == [] and "no elements" in report.notes[0]
