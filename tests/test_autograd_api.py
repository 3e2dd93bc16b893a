"""autograd's API by autograd's names: the differential operators (adkit/operators.py),
adkit.misc (flatten, optimizers), adkit.test_util (check_grads, combo_check),
adkit.builtins and adkit.extend's autograd spellings (argnums=, "same",
def*_argnum, notrace_primitive).

Derivatives are checked against adkit.numeric (finite differences) or closed forms;
with autograd installed, the same calls are compared with autograd's answers.
"""

import numpy as np
import pytest

import adkit
from adkit import numeric
from adkit.misc import flatten, flatten_func
from adkit.misc.optimizers import adam, rmsprop, sgd
from adkit.pytree import tree_flatten
from adkit.test_util import check_grads, combo_check

RNG = np.random.default_rng(3)
X = RNG.normal(size=3)
Y = RNG.normal(size=3)


def f(x, y):
    return np.sum(np.sin(x) * y ** 2) + np.prod(np.cos(y))


def _numerically(derivative, fun, argnum, *args):
    def of(v):
        replaced = list(args)
        replaced[argnum] = v
        return fun(*replaced)
    return derivative(of, args[argnum])


def numeric_grad(fun, argnum, *args):
    return _numerically(numeric.gradient, fun, argnum, *args)


def numeric_hessian(fun, argnum, *args):
    return _numerically(numeric.hessian, fun, argnum, *args)


# --- differential operators ------------------------------------------------------------------


def test_make_vjp_returns_the_vjp_then_the_value():
    vjp, value = adkit.make_vjp(f, 1)(X, Y)
    assert value == pytest.approx(f(X, Y))
    np.testing.assert_allclose(vjp(2.0), 2.0 * numeric_grad(f, 1, X, Y), rtol=1e-7)


def test_make_vjp_of_several_arguments_gives_a_tuple():
    vjp, _ = adkit.make_vjp(f, (0, 1))(X, Y)
    gx, gy = vjp(1.0)
    np.testing.assert_allclose(gx, numeric_grad(f, 0, X, Y), rtol=1e-7)
    np.testing.assert_allclose(gy, numeric_grad(f, 1, X, Y), rtol=1e-7)


def test_make_jvp_is_the_directional_derivative():
    v = RNG.normal(size=3)
    value, tangent = adkit.make_jvp(f)(X, Y)(v)
    assert value == pytest.approx(f(X, Y))
    assert tangent == pytest.approx(numeric_grad(f, 0, X, Y) @ v, rel=1e-7)


def test_make_hvp_returns_hessian_products_and_the_gradient():
    v = RNG.normal(size=3)
    hvp, gradient = adkit.make_hvp(f, 1)(X, Y)
    np.testing.assert_allclose(gradient, numeric_grad(f, 1, X, Y), rtol=1e-7)
    np.testing.assert_allclose(hvp(v), numeric_hessian(f, 1, X, Y) @ v, rtol=1e-5, atol=1e-8)


def test_make_ggnvp_is_jacobian_transpose_times_hessian_of_g_times_jacobian():
    def net(w):
        return np.tanh(np.outer(w, w) @ np.arange(1.0, 4.0))

    def g(y):
        return np.sum(np.log1p(y ** 2))

    v = RNG.normal(size=3)
    J = numeric.jacobian(net, X)
    H = numeric.hessian(g, net(X))
    np.testing.assert_allclose(adkit.make_ggnvp(net, g)(X)(v), J.T @ H @ J @ v,
                               rtol=1e-5, atol=1e-8)
    # default g: half the squared norm, whose Hessian is the identity
    np.testing.assert_allclose(adkit.make_ggnvp(net)(X)(v), J.T @ J @ v, rtol=1e-6, atol=1e-9)


def test_deriv_is_the_elementwise_derivative():
    np.testing.assert_allclose(adkit.deriv(np.tanh)(X), 1 / np.cosh(X) ** 2, rtol=1e-12)
    assert adkit.deriv(lambda t: t ** 3)(2.0) == pytest.approx(12.0)


def test_grad_and_aux():
    g, aux = adkit.grad_and_aux(lambda x, y: (f(x, y), "aux"), 1)(X, Y)
    assert aux == "aux"
    np.testing.assert_allclose(g, numeric_grad(f, 1, X, Y), rtol=1e-7)


def test_grad_named_and_its_error():
    np.testing.assert_allclose(adkit.grad_named(f, "y")(X, Y), numeric_grad(f, 1, X, Y),
                               rtol=1e-7)
    with pytest.raises(ValueError, match=r"no argument 'z'.*\['x', 'y'\]"):
        adkit.grad_named(f, "z")


def test_multigrad_dict_differentiates_every_argument_defaults_included():
    def h(x, y, scale=2.0):
        return scale * f(x, y)

    grads = adkit.multigrad_dict(h)(X, y=Y)
    assert list(grads) == ["x", "y", "scale"]
    np.testing.assert_allclose(grads["x"], 2 * numeric_grad(f, 0, X, Y), rtol=1e-7)
    np.testing.assert_allclose(grads["y"], 2 * numeric_grad(f, 1, X, Y), rtol=1e-7)
    assert grads["scale"] == pytest.approx(f(X, Y))


def test_tensor_jacobian_and_hessian_tensor_products():
    def vec(x):
        return np.sin(np.outer(x, x))

    V = RNG.normal(size=(3, 3))
    J = numeric.jacobian(vec, X)                       # (3, 3, 3)
    np.testing.assert_allclose(adkit.tensor_jacobian_product(vec)(X, V),
                               np.tensordot(V, J, axes=2), rtol=1e-6, atol=1e-9)
    assert adkit.vector_jacobian_product is adkit.tensor_jacobian_product
    v = RNG.normal(size=3)
    np.testing.assert_allclose(adkit.hessian_tensor_product(f, 1)(X, Y, v),
                               numeric_hessian(f, 1, X, Y) @ v, rtol=1e-5, atol=1e-8)
    assert adkit.hessian_vector_product is adkit.hessian_tensor_product


def test_operators_name_a_bad_argnum():
    with pytest.raises(ValueError, match="make_vjp: argnums=5 is out of range"):
        adkit.make_vjp(f, 5)(X, Y)


# --- adkit.misc ------------------------------------------------------------------------------


def test_flatten_orders_dict_keys_and_round_trips():
    params = {"w": np.arange(4.0).reshape(2, 2), "b": 3.0, "layers": [np.ones(2), (5.0,)]}
    vector, unflatten = flatten(params)
    np.testing.assert_array_equal(vector, [3.0, 1.0, 1.0, 5.0, 0.0, 1.0, 2.0, 3.0])
    back = unflatten(vector)
    assert list(back) == ["w", "b", "layers"]           # the caller's key order
    np.testing.assert_array_equal(back["w"], params["w"])
    assert back["b"] == 3.0 and np.shape(back["b"]) == ()
    assert isinstance(back["layers"][1], tuple)
    with pytest.raises(ValueError, match="expected a vector of 8 entries, got shape"):
        unflatten(np.zeros(3))
    with pytest.raises(TypeError, match="a leaf of type str"):
        flatten({"a": "text"})


def test_unflatten_and_flatten_differentiate():
    params = {"w": RNG.normal(size=(2, 2)), "b": RNG.normal(size=2)}
    vector, unflatten = flatten(params)

    def loss(v):
        p = unflatten(v)
        return np.sum(np.tanh(p["w"] @ p["b"]) ** 2)

    np.testing.assert_allclose(adkit.grad(loss)(vector), numeric.gradient(loss, vector),
                               rtol=1e-7)
    flat_loss, _, flat_x = flatten_func(lambda p, s: {"out": s * p["w"]}, params)
    np.testing.assert_allclose(flat_loss(flat_x, 2.0), 2.0 * params["w"].ravel())


def _reference_adam(grad, x, num_iters, step_size, b1=0.9, b2=0.999, eps=1e-8):
    m, v = np.zeros_like(x), np.zeros_like(x)
    for i in range(num_iters):
        g = grad(x, i)
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * g ** 2 + b2 * v
        x = x - step_size * (m / (1 - b1 ** (i + 1))) / (np.sqrt(v / (1 - b2 ** (i + 1))) + eps)
    return x


def test_adam_matches_the_update_written_out_and_keeps_the_nest():
    target = np.array([1.0, -2.0, 0.5])

    def objective(p, i):
        return np.sum((p["a"] - target) ** 2) + np.sum(p["b"] ** 4)

    start = {"a": np.zeros(3), "b": np.ones(2)}
    seen = []
    out = adam(adkit.grad(objective), start, callback=lambda p, i, g: seen.append(i),
               num_iters=50, step_size=0.05)
    assert seen == list(range(50))
    flat_start, unflatten = flatten(start)
    flat_grad = adkit.grad(lambda v, i: objective(unflatten(v), i))
    expected = unflatten(_reference_adam(flat_grad, flat_start, 50, 0.05))
    np.testing.assert_allclose(out["a"], expected["a"], rtol=1e-12)
    np.testing.assert_allclose(out["b"], expected["b"], rtol=1e-12)


@pytest.mark.parametrize("optimizer, kwargs", [(sgd, {"step_size": 0.1, "num_iters": 500}),
                                               (rmsprop, {"step_size": 0.01, "num_iters": 800}),
                                               (adam, {"step_size": 0.05, "num_iters": 800})])
def test_optimizers_reach_the_minimum_of_a_quadratic(optimizer, kwargs):
    A = np.array([[3.0, 0.5], [0.5, 1.0]])
    b = np.array([1.0, -1.0])
    out = optimizer(adkit.grad(lambda x, i: 0.5 * x @ A @ x - b @ x), np.zeros(2), **kwargs)
    np.testing.assert_allclose(out, np.linalg.solve(A, b), atol=2e-2)


def test_a_meta_gradient_through_sgd():
    def final_loss(step):
        x = sgd(adkit.grad(lambda x, i: np.sum(x ** 2)), np.ones(2), num_iters=5,
                step_size=step)
        return np.sum(x ** 2)
    assert adkit.grad(final_loss)(0.1) == pytest.approx(numeric.derivative(final_loss, 0.1),
                                                        rel=1e-7)


# --- adkit.test_util -------------------------------------------------------------------------


def test_check_grads_passes_on_right_rules_to_third_order():
    check_grads(f, modes=["fwd", "rev"], order=3)(X, Y)
    check_grads(f, (0, 1), order=2)(X, Y)
    check_grads(lambda z: z * np.conj(z) * z, order=2)(0.3 + 0.2j)
    check_grads(lambda d: d["a"] * np.sum(d["b"] ** 2), order=2)({"a": 0.3, "b": np.ones(2)})


@pytest.mark.parametrize("modes", [["fwd"], ["rev"]])
def test_check_grads_catches_a_rule_off_by_a_tenth_of_a_percent(modes):
    @adkit.primitive
    def wrong_sin(x):
        return np.sin(x)
    adkit.defvjp(wrong_sin, lambda ans, x: lambda g: g * np.cos(x) * 1.001)
    with pytest.raises(AssertionError, match="derivative .* check of wrong_sin failed"):
        check_grads(wrong_sin, modes=modes, order=1)(X)


def test_check_grads_catches_a_wrong_second_derivative():
    @adkit.primitive
    def cube(x):
        return x ** 3
    # right first derivative, written with a function whose own derivative is wrong
    adkit.defvjp(cube, lambda ans, x: lambda g: g * 3 * np.abs(x) * x)
    check_grads(cube, order=1)(np.array([0.5, 0.7]))
    check_grads(cube, order=2)(np.array([0.5, 0.7]))   # |x| x has derivative 2|x|: right
    with pytest.raises(AssertionError):
        check_grads(cube, order=2)(np.array([-0.5, 0.7]))   # 3|x|x != 3x^2 at x<0


def test_combo_check_covers_every_combination():
    calls = []

    def fun(x, axis):
        calls.append(axis)
        return np.sum(np.cumsum(x, axis=axis) ** 2)

    combo_check(fun, [0], order=1)([np.ones((2, 3)), np.arange(6.0).reshape(2, 3)],
                                   axis=[0, 1])
    assert {0, 1} <= set(calls)


def test_check_grads_names_bad_modes():
    with pytest.raises(ValueError, match="modes are a list of 'fwd' and 'rev'"):
        check_grads(f, modes=["forward"])
    with pytest.raises(ValueError, match="order must be a positive int"):
        check_grads(f, order=0)


# --- adkit.builtins and adkit.extend ---------------------------------------------------------


def test_builtins_isinstance_and_type_see_through_traced_values():
    from adkit.builtins import isinstance as ag_isinstance
    from adkit.builtins import type as ag_type

    def fun(x):
        assert ag_isinstance(x, np.ndarray) and ag_type(x) is np.ndarray
        return np.sum(x ** 2)
    np.testing.assert_allclose(adkit.grad(fun)(X), 2 * X)
    assert adkit.jvp(lambda t: t * 2 if ag_type(t) is float else 0.0, (1.0,), (1.0,))[1] == 2.0


def test_defvjp_argnums_places_the_rules():
    @adkit.primitive
    def scaled_sin(a, x):
        return a * np.sin(x)
    adkit.defvjp(scaled_sin, lambda ans, a, x: lambda g: g * a * np.cos(x), argnums=[1])
    np.testing.assert_allclose(adkit.grad(lambda x: np.sum(scaled_sin(2.0, x)))(X),
                               2 * np.cos(X))
    with pytest.raises(NotImplementedError, match="argument 0"):
        adkit.grad(lambda a: np.sum(scaled_sin(a, X)))(2.0)
    with pytest.raises(ValueError, match="one non-negative int per rule"):
        adkit.defvjp(scaled_sin, None, argnums=[0, 1])


def test_defjvp_same_is_the_function_on_the_tangent():
    @adkit.primitive
    def flip(x, axis):
        return np.flip(x, axis) * 3.0
    adkit.defjvp(flip, "same")
    m = RNG.normal(size=(2, 3))
    t = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(adkit.jvp(lambda m: flip(m, 1), (m,), (t,))[1],
                               np.flip(t, 1) * 3.0)
    # the VJP comes from transposing it
    np.testing.assert_allclose(adkit.grad(lambda m: np.sum(flip(m, 0) * t))(m),
                               np.flip(t, 0) * 3.0)


def test_def_argnum_rules_serve_every_argument():
    from adkit.extend import defjvp_argnum, defvjp_argnum

    @adkit.primitive
    def sum_of_squares(*xs):
        return sum(x * x for x in xs)
    defvjp_argnum(sum_of_squares, lambda i, ans, args, kwargs: lambda g: 2 * g * args[i])
    assert adkit.grad(sum_of_squares, (0, 1, 2))(1.0, 2.0, 3.0) == (2.0, 4.0, 6.0)
    assert adkit.jvp(lambda x: sum_of_squares(x, 2 * x), (1.0,), (1.0,))[1] == 10.0

    @adkit.primitive
    def sum_of_cubes(*xs):
        return sum(x ** 3 for x in xs)
    defjvp_argnum(sum_of_cubes, lambda i, g, ans, args, kwargs: 3 * g * args[i] ** 2)
    assert adkit.grad(sum_of_cubes, (0, 1))(1.0, 2.0) == (3.0, 12.0)


def test_notrace_primitive_runs_on_values():
    from adkit.extend import notrace_primitive

    @notrace_primitive
    def n_rows(x):
        assert type(x) is np.ndarray
        return x.shape[0]
    np.testing.assert_allclose(adkit.grad(lambda x: np.sum(x) * n_rows(x))(np.ones(3)),
                               3 * np.ones(3))


# --- beside autograd itself ------------------------------------------------------------------


def test_same_answers_as_autograd():
    autograd = pytest.importorskip("autograd", reason="the cross-check runs autograd: "
                                   "pip install autograd")
    import autograd.misc.optimizers as ag_optimizers
    import autograd.numpy as anp
    from autograd.misc import flatten as ag_flatten

    def g(x, y):
        return anp.sum(anp.sin(x) * y ** 2) + anp.prod(anp.cos(y))

    v = RNG.normal(size=3)
    ag_vjp, ag_value = autograd.make_vjp(g, 1)(X, Y)
    vjp, value = adkit.make_vjp(f, 1)(X, Y)
    assert value == pytest.approx(ag_value, rel=1e-14)
    np.testing.assert_allclose(vjp(1.5), ag_vjp(1.5), rtol=1e-13)
    np.testing.assert_allclose(adkit.make_hvp(f)(X, Y)[0](v), autograd.make_hvp(g)(X, Y)[0](v),
                               rtol=1e-12)
    np.testing.assert_allclose(adkit.make_ggnvp(np.sin)(X)(v),
                               autograd.make_ggnvp(anp.sin)(X)(v), rtol=1e-12)
    params = {"w": np.arange(4.0).reshape(2, 2), "b": 3.0, "layers": [np.ones(2), (5.0,)]}
    np.testing.assert_array_equal(flatten(params)[0], ag_flatten(params)[0])
    for name in ("sgd", "rmsprop", "adam"):
        ours = getattr(adkit.misc.optimizers, name)(
            adkit.grad(lambda p, i: np.sum(np.sin(p["a"]) * p["b"])),
            {"a": np.ones(2), "b": np.full(2, 0.5)}, num_iters=30)
        theirs = getattr(ag_optimizers, name)(
            autograd.grad(lambda p, i: anp.sum(anp.sin(p["a"]) * p["b"])),
            {"a": np.ones(2), "b": np.full(2, 0.5)}, num_iters=30)
        for key in ("a", "b"):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacobian", "hessian",
                                       "elementwise_grad"])
def test_transforms_take_autograds_argnum_keyword(transform):
    by_keyword = getattr(adkit, transform)(f, argnum=1)(X, Y)
    by_position = getattr(adkit, transform)(f, 1)(X, Y)
    keyword_leaves, position_leaves = tree_flatten(by_keyword)[0], tree_flatten(by_position)[0]
    assert len(keyword_leaves) == len(position_leaves)
    for a, b in zip(keyword_leaves, position_leaves):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(adkit.grad(f, argnum=1)(X, Y), numeric_grad(f, 1, X, Y),
                               rtol=1e-7)
    with pytest.raises(TypeError, match="give argnums, or argnum"):
        getattr(adkit, transform)(f, 0, argnum=1)
