"""Gradient-descent loops over any nest of parameters, with autograd.misc.optimizers'
names, arguments and updates: sgd (with momentum), rmsprop and adam.

Each takes `grad(params, i)`, the gradient at step i (a nest shaped like params),
the starting parameters, an optional `callback(params, i, gradient)` called before
each update, and returns the parameters after num_iters steps:

>>> import numpy as np
>>> from adkit import grad
>>> loss = lambda p, i: np.sum((p["w"] - 3.0) ** 2)
>>> adam(grad(loss), {"w": np.zeros(2)}, num_iters=2000, step_size=0.01)["w"].round(4)
array([3., 3.])

These loops are plain NumPy on values, so they also differentiate: a gradient of a
function of their result with respect to step_size or the start is a meta-gradient.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .flatten import flatten

__all__ = ["unflatten_optimizer", "sgd", "rmsprop", "adam"]

Gradient = Callable[[Any, int], Any]
Callback = Callable[[Any, int, Any], Any]


def unflatten_optimizer(optimize: Callable) -> Callable:
    """An optimizer on flat vectors as one on nests of arrays: params, gradients and
    the callback's arguments keep params' structure."""
    @functools.wraps(optimize)
    def on_nests(grad: Gradient, x0: Any, callback: Callback | None = None,
                 *args: Any, **kwargs: Any) -> Any:
        flat_x0, unflatten = flatten(x0)

        def flat_grad(x: Any, i: int) -> Any:
            return flatten(grad(unflatten(x), i))[0]

        flat_callback = None
        if callback is not None:
            def flat_callback(x: Any, i: int, g: Any) -> Any:
                return callback(unflatten(x), i, unflatten(g))
        return unflatten(optimize(flat_grad, flat_x0, flat_callback, *args, **kwargs))

    return on_nests


@unflatten_optimizer
def sgd(grad: Gradient, x: Any, callback: Callback | None = None, num_iters: int = 200,
        step_size: float = 0.1, mass: float = 0.9) -> Any:
    """Stochastic gradient descent with momentum: the velocity is an exponential moving
    average of the negative gradients (weight `mass` on the old velocity)."""
    velocity = np.zeros(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + step_size * velocity
    return x


@unflatten_optimizer
def rmsprop(grad: Gradient, x: Any, callback: Callback | None = None, num_iters: int = 100,
            step_size: float = 0.1, gamma: float = 0.9, eps: float = 1e-8) -> Any:
    """Root-mean-square propagation: each step divided by a moving root mean square of
    the gradients (starting from ones, as autograd's)."""
    mean_square = np.ones(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        mean_square = gamma * mean_square + (1.0 - gamma) * g ** 2
        x = x - step_size * g / (np.sqrt(mean_square) + eps)
    return x


@unflatten_optimizer
def adam(grad: Gradient, x: Any, callback: Callback | None = None, num_iters: int = 100,
         step_size: float = 0.001, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> Any:
    """Adam (Kingma and Ba, 2015): moving averages of the gradient and its square,
    bias-corrected, step = step_size * m_hat / (sqrt(v_hat) + eps)."""
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * g ** 2
        m_hat = m / (1.0 - b1 ** (i + 1))
        v_hat = v / (1.0 - b2 ** (i + 1))
        x = x - step_size * m_hat / (np.sqrt(v_hat) + eps)
    return x
