"""A shim named `autograd` that runs autograd's tests/examples on adkit.

autograd.numpy -> the real numpy, autograd.scipy.* -> the real scipy.*,
autograd's transforms -> adkit's. Lives outside the adkit repository.
"""
import sys
import types
import builtins as _b

import numpy
import numpy.random, numpy.linalg, numpy.fft
import scipy, scipy.special, scipy.stats, scipy.linalg, scipy.signal, scipy.integrate

import adkit

_this = sys.modules[__name__]

_misc_scipy = types.ModuleType("autograd.scipy.misc")
_misc_scipy.logsumexp = scipy.special.logsumexp

_ALIASES = {
    "numpy": numpy, "numpy.random": numpy.random, "numpy.linalg": numpy.linalg,
    "numpy.fft": numpy.fft,
    "scipy": scipy, "scipy.special": scipy.special, "scipy.stats": scipy.stats,
    "scipy.linalg": scipy.linalg, "scipy.signal": scipy.signal,
    "scipy.integrate": scipy.integrate, "scipy.misc": _misc_scipy,
}
for _d in ("norm", "multivariate_normal", "t", "beta", "gamma", "chi2", "poisson", "dirichlet"):
    _ALIASES["scipy.stats." + _d] = getattr(scipy.stats, _d)
for _k, _v in _ALIASES.items():
    sys.modules["autograd." + _k] = _v
setattr(_this, "numpy", numpy)
setattr(_this, "scipy", scipy)

from .wrap_util import unary_to_nary  # noqa: E402
from .builtins import dict, isinstance, list, tuple, type  # noqa: E402,F401


def _ones_like(x):
    return numpy.ones_like(numpy.asarray(adkit_primal(x)))


def adkit_primal(x):
    from adkit.tracer import primal
    return primal(x)


@unary_to_nary
def grad(fun, x):
    return adkit.grad(fun)(x)


@unary_to_nary
def elementwise_grad(fun, x):
    if hasattr(adkit, "elementwise_grad"):
        return adkit.elementwise_grad(fun)(x)
    # adkit before 9b5bbef: the vjp with a cotangent of ones (what elementwise_grad is)
    out, pull = adkit.vjp(fun, x)
    if numpy.iscomplexobj(adkit_primal(out)):
        raise TypeError("Elementwise_grad only applies to real-output functions.")
    return pull(numpy.ones_like(adkit_primal(out)))[0]


@unary_to_nary
def deriv(fun, x):
    return adkit.jvp(fun, (x,), (numpy.ones_like(x),))[1]


@unary_to_nary
def jacobian(fun, x):
    return adkit.jacobian(fun)(x)


@unary_to_nary
def holomorphic_grad(fun, x):
    return adkit.holomorphic_grad(fun)(x)


@unary_to_nary
def hessian(fun, x):
    return adkit.hessian(fun)(x)


@unary_to_nary
def _make_vjp(fun, x):
    out, pull = adkit.vjp(fun, x)
    return (lambda g: pull(g)[0]), out


make_vjp = _make_vjp


@unary_to_nary
def make_jvp(fun, x):
    return lambda v: adkit.jvp(fun, (x,), (v,))


@unary_to_nary
def value_and_grad(fun, x):
    return adkit.value_and_grad(fun)(x)


@unary_to_nary
def grad_and_aux(fun, x):
    return adkit.grad(fun, has_aux=True)(x)


@unary_to_nary
def make_hvp(fun, x):
    out, pull = adkit.vjp(adkit.grad(fun), x)
    return (lambda v: pull(v)[0]), out


def grad_named(fun, argname):
    import inspect
    return grad(fun, inspect.getfullargspec(fun).args.index(argname))


def hessian_tensor_product(fun, argnum=0):
    fun_grad = grad(fun, argnum)

    def vector_dot_grad(*args, **kwargs):
        args, vector = args[:-1], args[-1]
        return numpy.tensordot(fun_grad(*args, **kwargs), vector, numpy.ndim(vector))

    return grad(vector_dot_grad, argnum)


hessian_vector_product = hessian_tensor_product


def tensor_jacobian_product(fun, argnum=0):
    def vector_dot_fun(*args, **kwargs):
        args, vector = args[:-1], args[-1]
        return numpy.tensordot(vector, fun(*args, **kwargs), axes=numpy.ndim(vector))

    return jacobian(vector_dot_fun, argnum)


vector_jacobian_product = tensor_jacobian_product


def make_ggnvp(f, g=lambda x: 1.0 / 2 * numpy.sum(x**2, axis=-1), f_argnum=0):
    @unary_to_nary
    def _make_ggnvp(f, x):
        f_vjp, f_x = _make_vjp(f)(x)
        g_hvp, grad_g_x = _make_vjp(grad(g))(f_x)
        f_jvp, _ = _make_vjp(f_vjp)(numpy.zeros_like(grad_g_x))

        def ggnvp(v):
            return f_vjp(g_hvp(f_jvp(v)))

        return ggnvp

    return _make_ggnvp(f, f_argnum)


def checkpoint(fun):
    return adkit.checkpoint(fun)


def primitive(fun):
    return adkit.primitive(fun)
