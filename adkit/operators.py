"""autograd's differential operators, by autograd's names and calling conventions, on
adkit's engines: code written against `autograd` ports by changing its imports.

Each operator takes `fun` and `argnum` (an int, or a tuple of ints for several
arguments at once) and returns a function with fun's arguments:

    make_vjp(fun, argnum)(*args)         -> (vjp, value); vjp(g) is g's cotangent
    make_jvp(fun, argnum)(*args)(v)      -> (value, directional derivative along v)
    make_hvp(fun, argnum)(*args)         -> (hvp, gradient); hvp(v) is the Hessian times v
    make_ggnvp(f, g, f_argnum)(*args)(v) -> the Gauss-Newton matrix J_f' H_g J_f times v
    deriv(fun, argnum)(*args)            -> the forward derivative along ones (elementwise)
    grad_and_aux(fun, argnum)(*args)     -> (gradient, aux) for fun returning (value, aux)
    grad_named(fun, argname)(*args)      -> the gradient with respect to a named argument
    multigrad_dict(fun)(*args)           -> {argument name: gradient} for every argument
    tensor_jacobian_product(fun, argnum)(*args, v)  -> v contracted with the Jacobian
    hessian_tensor_product(fun, argnum)(*args, v)   -> the Hessian contracted with v

(`vector_jacobian_product` and `hessian_vector_product` are autograd's other names for
the last two.) adkit's own transforms (grad, jacobian, ...) take autograd's positional
argnum too: `grad(fun, 1)`.

>>> import numpy as np
>>> vjp, value = make_vjp(lambda x: np.sin(x) * 2.0)(np.array([0.0, 1.0]))
>>> vjp(np.array([1.0, 1.0]))
array([2.        , 1.08060461])
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from .arguments import normalize_argnums
from .api import grad, jvp, vjp
from .tracer import primal

__all__ = ["make_vjp", "make_jvp", "make_hvp", "make_ggnvp", "deriv", "grad_and_aux",
           "grad_named", "multigrad_dict", "tensor_jacobian_product",
           "vector_jacobian_product", "hessian_tensor_product", "hessian_vector_product"]


def of_argnum(fun: Callable, argnum: Any, args: tuple, kwargs: dict, who: str) -> tuple:
    """fun as a function of its argnum'th argument(s) alone, and their values in args."""
    nums, single = normalize_argnums(argnum, len(args), who)

    def unary(x: Any) -> Any:
        replaced = list(args)
        for n, value in zip(nums, (x,) if single else x):
            replaced[n] = value
        return fun(*replaced, **kwargs)

    return unary, (args[nums[0]] if single else tuple(args[n] for n in nums))


def _operator(build: Callable) -> Callable:
    """An autograd operator from build(unary_fun, x, *options): what it returns for the
    argument(s) at argnum."""
    @functools.wraps(build)
    def operator(fun: Callable, argnum: Any = 0, *options: Any, **option_kwargs: Any) -> Callable:
        @functools.wraps(fun)
        def at_args(*args: Any, **kwargs: Any) -> Any:
            unary, x = of_argnum(fun, argnum, args, kwargs, build.__name__)
            return build(unary, x, *options, **option_kwargs)
        return at_args
    return operator


@_operator
def make_vjp(fun: Callable, x: Any) -> tuple[Callable, Any]:
    """(vjp, fun(x)): vjp(g) is the cotangent of x for the output cotangent g."""
    value, pull = vjp(fun, x)
    return (lambda g: pull(g)[0]), value


@_operator
def make_jvp(fun: Callable, x: Any) -> Callable:
    """A function of a tangent v of x giving (fun(x), the derivative of fun along v)."""
    return lambda v: jvp(fun, (x,), (v,))


@_operator
def make_hvp(fun: Callable, x: Any) -> tuple[Callable, Any]:
    """(hvp, grad fun(x)): hvp(v) is the Hessian of a scalar fun at x times v."""
    return make_vjp(grad(fun))(x)


@_operator
def deriv(fun: Callable, x: Any) -> Any:
    """The forward derivative of fun along a tangent of ones: f' for elementwise f."""
    tangent = np.ones_like(primal(x), dtype=np.result_type(primal(x), float))
    return jvp(fun, (x,), (tangent,))[1]


@_operator
def grad_and_aux(fun: Callable, x: Any) -> tuple[Any, Any]:
    """(gradient, aux) of a fun returning (scalar value, aux)."""
    return grad(fun, has_aux=True)(x)


def make_ggnvp(f: Callable, g: Callable = lambda y: 0.5 * np.sum(y ** 2, axis=-1),
               f_argnum: Any = 0) -> Callable:
    """Products with the generalised Gauss-Newton matrix of g(f(x)): J_f(x)' H_g(f(x)) J_f(x).

    make_ggnvp(f, g)(x) returns a function of a tangent v of x; g defaults to half the
    squared norm, for which the matrix is J_f' J_f.
    """
    @_operator
    def ggnvp_at(f: Callable, x: Any) -> Callable:
        f_vjp, f_x = make_vjp(f)(x)
        g_hvp, _ = make_hvp(g)(f_x)
        return lambda v: f_vjp(g_hvp(jvp(f, (x,), (v,))[1]))

    return ggnvp_at(f, f_argnum)


def grad_named(fun: Callable, argname: str) -> Callable:
    """The gradient with respect to the argument called argname."""
    names = list(inspect.signature(fun).parameters)
    if argname not in names:
        raise ValueError(f"grad_named: {getattr(fun, '__name__', fun)!r} has no argument "
                         f"{argname!r}; its arguments are {names}")
    return grad(fun, names.index(argname))


def multigrad_dict(fun: Callable) -> Callable:
    """The gradients with respect to all of fun's arguments (defaults included), as a
    dict from argument name to gradient."""
    signature = inspect.signature(fun)

    @functools.wraps(fun)
    def gradients(*args: Any, **kwargs: Any) -> dict:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()

        def of_arguments(values: dict) -> Any:
            call = signature.bind_partial()
            call.arguments.update(values)
            return fun(*call.args, **call.kwargs)

        return grad(of_arguments)(dict(bound.arguments))

    return gradients


def tensor_jacobian_product(fun: Callable, argnum: Any = 0) -> Callable:
    """f(*args, v): v contracted with the Jacobian of fun over all of fun's output axes
    (a vector-Jacobian product for a vector-valued fun)."""
    def contracted(*args: Any, **kwargs: Any) -> Any:
        *args, v = args
        return np.tensordot(v, fun(*args, **kwargs), axes=np.ndim(v))
    return grad(contracted, argnum)


def hessian_tensor_product(fun: Callable, argnum: Any = 0) -> Callable:
    """f(*args, v): the Hessian of a scalar fun contracted with v over all of v's axes."""
    fun_grad = grad(fun, argnum)

    def gradient_along(*args: Any, **kwargs: Any) -> Any:
        *args, v = args
        return np.tensordot(fun_grad(*args, **kwargs), v, axes=np.ndim(v))
    return grad(gradient_along, argnum)


vector_jacobian_product = tensor_jacobian_product
hessian_vector_product = hessian_tensor_product
