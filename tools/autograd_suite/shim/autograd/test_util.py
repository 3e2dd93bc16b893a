"""autograd.test_util.check_grads with adkit's engines under test and
adkit.numeric (central differences with Richardson extrapolation) as referee.

Same signature and the same checks as autograd's: for each mode, a random
directional derivative (fwd) or a random vector-Jacobian inner product (rev)
against the numerical JVP, then recursively on the derivative map (order-1).
"""
from itertools import product

import numpy as np
import numpy.random as npr

import adkit
from adkit import numeric
from adkit.pytree import tree_flatten, tree_unflatten

from .wrap_util import get_name, unary_to_nary

TOL = 1e-6
RTOL = 1e-6


def scalar_close(a, b):
    return abs(a - b) < TOL or abs(a - b) / abs(a + b) < RTOL


def _leaves(x):
    return tree_flatten(x)


def _is_complex(v):
    return np.iscomplexobj(v)


def _randn_like(x):
    leaves, td = _leaves(x)
    out = []
    for v in leaves:
        shape = np.shape(v)
        r = npr.randn(*shape)
        if _is_complex(v):
            r = r + 1j * npr.randn(*shape)
        out.append(r if shape else r[()] if isinstance(r, np.ndarray) else r)
    return tree_unflatten(td, out)


def _axpy(a, x, y):
    lx, td = _leaves(x)
    ly, _ = _leaves(y)
    return tree_unflatten(td, [np.asarray(yi) + a * np.asarray(xi) if np.ndim(yi) else yi + a * xi
                               for xi, yi in zip(lx, ly)])


def _inner(x, y):
    lx, _ = _leaves(x)
    ly, _ = _leaves(y)
    return sum(np.real(np.vdot(np.ravel(a), np.ravel(b))) for a, b in zip(lx, ly))


def _covector(x):
    lx, td = _leaves(x)
    return tree_unflatten(td, [np.conj(v) for v in lx])


def _as_real_vector(y):
    ly, _ = _leaves(y)
    parts = []
    for v in ly:
        v = np.ravel(np.asarray(v))
        parts.append(np.real(v).astype(float))
        if _is_complex(v):
            parts.append(np.imag(v).astype(float))
    return np.concatenate(parts) if parts else np.zeros(0)


def _numerical_jvp(f, x, v):
    """The derivative of t -> f(x + t v) at 0, by adkit.numeric (central differences)."""
    return numeric.derivative(lambda t: _as_real_vector(f(_axpy(t, v, x))), 0.0,
                              method="central")


def _same_space(a, b):
    la, ta = _leaves(a)
    lb, tb = _leaves(b)
    assert len(la) == len(lb), f"VSpace mismatch: {ta} vs {tb}"
    for p, q in zip(la, lb):
        assert np.shape(p) == np.shape(q), f"VSpace mismatch: shape {np.shape(p)} vs {np.shape(q)}"
        assert _is_complex(p) == _is_complex(q), (
            f"VSpace mismatch: complex {_is_complex(p)} vs {_is_complex(q)} ({p!r} vs {q!r})")


def _inner_real(y, w):
    """<y_v, J v> where J v is given as the real vector of _as_real_vector."""
    return float(np.dot(_as_real_vector(y), w))


def check_vjp(f, x):
    y, pull = adkit.vjp(f, x)
    x_v, y_v = _randn_like(x), _randn_like(y)
    vjp_y = _covector(pull(_covector(y_v))[0])
    _same_space(vjp_y, x)
    vjv_exact = _inner(x_v, vjp_y)
    vjv_numeric = _inner_real(y_v, _numerical_jvp(f, x, x_v))
    assert scalar_close(vjv_numeric, vjv_exact), (
        "Derivative (VJP) check of {} failed with arg {}:\nanalytic: {}\nnumeric:  {}".format(
            get_name(f), x, vjv_exact, vjv_numeric))


def check_jvp(f, x):
    x_v = _randn_like(x)
    _, t = adkit.jvp(f, (x,), (x_v,))
    num = _numerical_jvp(f, x, x_v)
    check_equivalent_real(_as_real_vector(t), num)


def check_equivalent_real(a, b):
    assert np.shape(a) == np.shape(b), f"VSpace mismatch:\nx: {np.shape(a)}\ny: {np.shape(b)}"
    v = npr.randn(*np.shape(a))
    assert scalar_close(np.dot(a, v), np.dot(b, v)), f"Value mismatch:\nx: {a}\ny: {b}"


def check_equivalent(x, y):
    _same_space(x, y)
    check_equivalent_real(_as_real_vector(x), _as_real_vector(y))


@unary_to_nary
def check_grads(f, x, modes=["fwd", "rev"], order=2):
    assert all(m in ["fwd", "rev"] for m in modes)
    if "fwd" in modes:
        check_jvp(f, x)
        if order > 1:
            grad_f = lambda x, v: adkit.jvp(f, (x,), (v,))[1]
            grad_f.__name__ = f"jvp_{get_name(f)}"
            v = _randn_like(x)
            check_grads(grad_f, (0, 1), modes, order=order - 1)(x, v)
    if "rev" in modes:
        check_vjp(f, x)
        if order > 1:
            grad_f = lambda x, v: adkit.vjp(f, x)[1](v)[0]
            grad_f.__name__ = f"vjp_{get_name(f)}"
            v = _randn_like(f(x))
            check_grads(grad_f, (0, 1), modes, order=order - 1)(x, v)


def combo_check(fun, *args, **kwargs):
    _check_grads = lambda f: check_grads(f, *args, **kwargs)

    def _combo_check(*args, **kwargs):
        kwarg_key_vals = [[(k, x) for x in xs] for k, xs in kwargs.items()]
        for _args in product(*args):
            for _kwargs in product(*kwarg_key_vals):
                _check_grads(fun)(*_args, **dict(_kwargs))

    return _combo_check
