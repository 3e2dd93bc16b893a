"""Hostile input to the core transforms (second pass): every one gets a clear adkit error
naming the problem and the fix, never a zero derivative for something that has none, a
wrong gradient through a NumPy subclass, or a NumPy traceback from deep inside."""

import threading

import numpy as np
import pytest

import adkit
from adkit import elementwise_grad, grad, hessian, jacobian, jvp, value_and_grad, vjp
from adkit.forward import jacobian as forward_jacobian
from adkit.numeric import gradient as numeric_gradient

TRANSFORMS = {
    "grad": lambda f: grad(f),
    "value_and_grad": lambda f: value_and_grad(f),
    "elementwise_grad": lambda f: elementwise_grad(f),
    "jacobian": lambda f: jacobian(f),
    "hessian": lambda f: hessian(f),
    "forward_jacobian": lambda f: forward_jacobian(f),
}


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("not_a_function", [3, "np.sin", None, np.ones(2)])
def test_a_non_callable_is_refused_when_the_transform_is_made(name, not_a_function):
    # before: the transform was made, and the call failed with "'int' object is not callable"
    with pytest.raises(TypeError, match=r"takes the function to differentiate first.*lambda"):
        TRANSFORMS[name](not_a_function)


def test_jvp_and_vjp_refuse_a_non_callable_by_name():
    with pytest.raises(TypeError, match=r"^jvp takes the function"):
        jvp(3, (1.0,), (1.0,))
    with pytest.raises(TypeError, match=r"^vjp takes the function"):
        vjp("f", 1.0)


@pytest.mark.parametrize("call", [lambda g: g(), lambda g: g(x=1.0)],
                         ids=["no arguments", "keyword only"])
def test_differentiating_with_no_positional_argument_says_to_pass_one(call):
    # before: "argnums=0 is out of range ... (valid: 0..-1)"
    def f(*, x=2.0):
        return x ** 2
    with pytest.raises(ValueError, match=r"no positional arguments.*grad\(f\)\(x\) rather "
                                         r"than grad\(f\)\(x=x\)"):
        call(grad(f))


@pytest.mark.parametrize("argnums", [True, False, (0, True)])
def test_a_boolean_argnums_is_refused(argnums):
    # before: True counted as 1 ("out of range") and False as 0 (silently argument 0)
    with pytest.raises(TypeError, match="argnums must be an int"):
        grad(lambda x, y: x * y, argnums)(1.0, 2.0)


@pytest.mark.parametrize("name", ["jacobian", "forward_jacobian", "elementwise_grad"])
@pytest.mark.parametrize("output, shown", [
    (lambda x: "s", "type str"),
    (lambda x: x > 0, "dtype bool"),
    (lambda x: np.array([object()]), "dtype object"),
    (lambda x: [x[0], "label"], r"output\[1\] is a value of type str"),
])
def test_an_output_with_no_derivative_is_refused_not_answered_with_zeros(name, output, shown):
    # before: jacobian(lambda x: "s") returned array([0., 0.]) and a bool output a bool zero
    with pytest.raises(TypeError, match=rf"needs f to return numbers.*{shown}.*no derivative"):
        TRANSFORMS[name](output)(np.ones(2))


@pytest.mark.parametrize("name", ["jacobian", "forward_jacobian", "elementwise_grad"])
def test_an_output_of_none_is_refused_with_the_likely_cause(name):
    # before: jacobian returned None and elementwise_grad zeros
    def no_return(x):
        x * 2
    with pytest.raises(TypeError, match=r"returned None \(does f end without a return"):
        TRANSFORMS[name](no_return)(np.ones(2))


@pytest.mark.parametrize("f", [lambda x: None, lambda x: "s", lambda x: (x, None, "s")])
def test_jvp_and_vjp_refuse_outputs_with_no_derivative(f):
    # before: jvp answered (None, None), vjp ("s", a pull-back that failed in NumPy)
    with pytest.raises(TypeError, match=r"^jvp needs f to return numbers"):
        jvp(f, (1.0,), (1.0,))
    with pytest.raises(TypeError, match=r"^vjp needs f to return numbers"):
        vjp(f, 1.0)


def test_integer_outputs_still_have_a_zero_derivative():
    # a constant count is a number: its derivative is 0, as before
    np.testing.assert_array_equal(jacobian(lambda x: np.ones(2, int))(np.ones(2)), 0)
    assert grad(lambda x: 3)(1.0) == 0.0


def _masked():
    return np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])


@pytest.mark.parametrize("name", ["grad", "value_and_grad", "elementwise_grad", "jacobian",
                                  "hessian", "forward_jacobian"])
def test_a_masked_array_is_refused_with_the_spellings_that_work(name):
    # before: value_and_grad(np.sum)(x) gave the value 4 (the mask obeyed) and the
    # gradient [1, 1, 1] (the mask ignored): silently wrong
    f = (lambda x: np.sum(x ** 2)) if name in ("grad", "value_and_grad", "hessian") else \
        (lambda x: x ** 2)
    with pytest.raises(TypeError, match=r"argument 0 is a masked array.*x\.filled\(0\.0\)"):
        TRANSFORMS[name](f)(_masked())
    with pytest.raises(TypeError, match=r"primal 0 is a masked array"):
        jvp(f, (_masked(),), (np.ones(3),))


def test_the_masked_array_spelling_the_message_gives_is_right():
    x = _masked()
    g = grad(lambda v: np.sum(v ** 2))(x.filled(0.0))
    np.testing.assert_allclose(g, numeric_gradient(lambda v: np.sum(v ** 2), x.filled(0.0)))
    # with the mask as its own argument the masked entry's derivative is 0
    mask = np.ma.getmaskarray(x)
    g = grad(lambda v, m: np.sum(np.where(m, 0.0, v) ** 2))(x.data, mask)
    np.testing.assert_allclose(g, [2.0, 0.0, 6.0])


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_a_numpy_matrix_is_refused_with_asarray_as_the_fix():
    # before: grad(lambda x: np.sum(np.multiply(x, x)))(m) failed inside NumPy's matrix
    # class ("shapes (1,2) and (1,2) not aligned"); other rules met matrix semantics silently
    m = np.matrix([[1.0, 2.0]])
    for transform in (grad, elementwise_grad, jacobian, hessian):
        with pytest.raises(TypeError, match=r"np\.matrix.*np\.asarray\(x\).*@"):
            transform(lambda x: np.sum(np.multiply(x, x)))(m)
    np.testing.assert_allclose(grad(lambda x: np.sum(np.multiply(x, x)))(np.asarray(m)),
                               [[2.0, 4.0]])


def test_read_only_and_strided_inputs_are_differentiated_and_left_alone():
    x = np.arange(12.0).reshape(3, 4)[:, ::2]
    x.flags.writeable = False
    f = lambda v: np.sum(np.sin(v) * v)   # noqa: E731
    np.testing.assert_allclose(grad(f)(x), numeric_gradient(f, np.array(x)), rtol=1e-6)
    assert not x.flags.writeable


def test_an_exception_or_interrupt_inside_f_leaves_the_next_call_correct():
    f = lambda x: np.sum(x ** 3)   # noqa: E731
    x = np.array([1.0, 2.0])

    def interrupted(v):
        v * 2.0
        raise KeyboardInterrupt

    def nested_failure(v):
        return grad(lambda u: u[0] * (1 // 0))(v)   # raises inside a nested trace

    for bad, exc in ((interrupted, KeyboardInterrupt), (nested_failure, ZeroDivisionError)):
        for transform in (grad, jacobian, hessian):
            with pytest.raises(exc):
                transform(bad)(x)
            np.testing.assert_allclose(grad(f)(x), 3 * x ** 2)
            np.testing.assert_allclose(hessian(f)(x), np.diag(6 * x))
            np.testing.assert_allclose(jvp(f, (x,), (np.ones(2),))[1], np.sum(3 * x ** 2))


def test_threads_differentiating_at_once_each_get_their_own_answer():
    errors = []

    def worker(k: int) -> None:
        x = np.full(3, float(k))
        want = np.sin(x) + x * np.cos(x)
        try:
            for _ in range(30):
                got = grad(lambda v: np.sum(np.sin(v) * v))(x)
                if not np.allclose(got, want):
                    errors.append((k, got, want))
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_arbitrary_python_object_argument_names_its_type():
    import datetime
    import decimal
    for value in (datetime.datetime(2020, 1, 1), decimal.Decimal("1.5"), {1.0}, object()):
        with pytest.raises(TypeError, match=rf"argument 0 is a {type(value).__name__}"):
            grad(lambda x: 1.0)(value)
    with pytest.raises(TypeError, match=r"dtype datetime64"):
        grad(lambda x: 1.0)(np.array(["2020-01-01"], dtype="datetime64[D]"))
    assert adkit.grad(lambda x: x * x)(2 ** 40) == 2.0 ** 41


def test_the_other_entry_points_refuse_a_non_callable_by_their_own_name():
    # before: checkpoint said "custom_vjp takes a function", hvp "grad takes ...", and
    # check_grads and the numeric referee failed with "'int' object is not callable"
    from adkit import numeric
    for make, name in ((lambda: adkit.checkpoint(3), "checkpoint"),
                       (lambda: adkit.hvp(3, (1.0,), (1.0,)), "hvp"),
                       (lambda: adkit.check_grads(3, (1.0,)), "check_grads"),
                       (lambda: numeric.gradient(3, np.ones(2)), "gradient"),
                       (lambda: numeric.jacobian(3, np.ones(2)), "jacobian")):
        with pytest.raises(TypeError, match=rf"^{name}"):
            make()


def test_check_grads_refuses_an_output_that_is_not_a_number():
    # before: NumPy's "ufunc 'isfinite' not supported for the input types"
    def no_return(x):
        np.sum(x)
    with pytest.raises(TypeError, match=r"check_grads: f returned NoneType.*return statement"):
        adkit.check_grads(no_return, (np.ones(2),))
    with pytest.raises(TypeError, match=r"check_grads: f returned str"):
        adkit.check_grads(lambda x: "s", (np.ones(2),))


def test_the_numeric_referee_refuses_a_masked_array():
    # before: numeric.gradient(np.sum, masked) answered [1, 1]: np.asarray dropped the
    # mask, so f saw every entry, where the masked one's derivative is 0 (f ignores it)
    from adkit import numeric
    with pytest.raises(TypeError, match=r"gradient: x is a masked array.*x\.filled\(0\.0\)"):
        numeric.gradient(lambda v: np.sum(v), _masked())
