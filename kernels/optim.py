"""Fused optimizer updates on an OpenCL device: one kernel launch per parameter
tensor updates it and all its slots in place (optim.cl).

The rules are adkit.nn.optimizers' (Keras's), operation for operation, on flat
(any-shaped, C-contiguous) float32 device arrays of equal size: `w` the parameter,
`g` its gradient (only read), the rest the optimizer's slots, zero-initialised by
the caller. Gradient clipping, noise and schedules stay with the caller: pass the
learning rate of this step.

    >>> from adkit.kernels import device
    >>> dev = device()
    >>> w, g = dev.to_device(np.ones(3, np.float32)), dev.to_device(np.ones(3, np.float32))
    >>> m, v = dev.zeros(3), dev.zeros(3)
    >>> adam(dev, w, g, m, v, lr=0.1, step=1); dev.to_host(w)     # [0.9, 0.9, 0.9]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .launch import buffer_args, checked, launch
from .runtime import Device

__all__ = ["sgd", "adam", "rmsprop", "adadelta"]


def _arrays(dev: Device, where: str, w: Any, **named: Any) -> list:
    """[w, *named.values()] checked: float32, C-contiguous, same size as w."""
    out = [checked(dev, w, "w", where)]
    for name, a in named.items():
        a = checked(dev, a, name, where)
        if a.size != w.size:
            raise ValueError(f"{where}: {name} has {a.size} entries (shape {a.shape}) but w "
                             f"has {w.size} (shape {w.shape}); each slot matches its parameter")
        out.append(a)
    return out


def _run(dev: Device, where: str, name: str, arrays: list, scalars: list) -> Any:
    w = arrays[0]
    if w.size == 0:
        return w
    evt = launch(dev, "optim.cl", name, w.size, np.int32(w.size), *buffer_args(*arrays), *scalars)
    for a in arrays:
        if a is not arrays[1]:   # the gradient is only read
            a.add_event(evt)
    return w


def sgd(dev: Device, w: Any, g: Any, v: Any | None = None, lr: float = 0.01,
        momentum: float = 0.0, nesterov: bool = False) -> Any:
    """SGD in place: ``v = momentum * v - lr * g``, ``w += v`` (Nesterov: ``w += momentum
    * v - lr * g``); with momentum 0 (v may be None) ``w -= lr * g``. Returns w.

        >>> sgd(dev, w, g, v, lr=0.1, momentum=0.9, nesterov=True)
    """
    use = momentum > 0
    if use and v is None:
        raise ValueError(f"sgd: momentum={momentum} needs v, the momentum slot (zeros like w)")
    arrays = _arrays(dev, "sgd", w, g=g, **({"v": v} if use else {}))
    if not use:
        arrays.append(w)   # an unused buffer argument
    return _run(dev, "sgd", "sgd", arrays,
                [np.float32(lr), np.float32(momentum), np.int32(use), np.int32(bool(nesterov))])


def adam(dev: Device, w: Any, g: Any, m: Any, v: Any, lr: float = 0.001, beta_1: float = 0.9,
         beta_2: float = 0.999, epsilon: float = 1e-7, step: int = 1,
         v_hat: Any | None = None) -> Any:
    """Adam in place at step number `step` (1 on the first update): ``m = b1 m + (1 - b1) g``,
    ``v = b2 v + (1 - b2) g**2``, ``w -= lr sqrt(1 - b2**step) / (1 - b1**step) * m /
    (sqrt(v) + epsilon)``; with `v_hat` (AMSGrad) divide by ``v_hat = max(v_hat, v)``.

        >>> for t in range(1, 4): adam(dev, w, g, m, v, lr=1e-3, step=t)
    """
    if int(step) != step or step < 1:
        raise ValueError(f"adam: step must be the 1-based step number (>= 1), got {step!r}")
    ams = v_hat is not None
    arrays = _arrays(dev, "adam", w, g=g, m=m, v=v, **({"v_hat": v_hat} if ams else {}))
    if not ams:
        arrays.append(v)
    alpha = lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
    return _run(dev, "adam", "adam", arrays,
                [np.float32(alpha), np.float32(beta_1), np.float32(beta_2),
                 np.float32(epsilon), np.int32(ams)])


def rmsprop(dev: Device, w: Any, g: Any, v: Any, lr: float = 0.001, rho: float = 0.9,
            epsilon: float = 1e-7, momentum: float = 0.0, m: Any | None = None,
            average_gradient: Any | None = None) -> Any:
    """RMSprop in place: ``v = rho v + (1 - rho) g**2``, ``step = lr g / sqrt(v + epsilon)``
    (centered, when `average_gradient` a is given: ``a = rho a + (1 - rho) g`` and
    ``sqrt(v - a**2 + epsilon)``); momentum: ``m = momentum m + step``, ``w -= m``.

        >>> rmsprop(dev, w, g, v, lr=1e-3, momentum=0.9, m=m)
    """
    use = momentum > 0
    if use and m is None:
        raise ValueError(f"rmsprop: momentum={momentum} needs m, the momentum slot "
                         f"(zeros like w)")
    centered = average_gradient is not None
    named = {"v": v}
    if use:
        named["m"] = m
    if centered:
        named["average_gradient"] = average_gradient
    arrays = _arrays(dev, "rmsprop", w, g=g, **named)
    m_buf = arrays[3] if use else w
    a_buf = arrays[-1] if centered else w
    arrays = arrays[:3] + [m_buf, a_buf]
    return _run(dev, "rmsprop", "rmsprop", arrays,
                [np.float32(lr), np.float32(rho), np.float32(epsilon), np.float32(momentum),
                 np.int32(use), np.int32(centered)])


def adadelta(dev: Device, w: Any, g: Any, accumulated_grad: Any, accumulated_delta_var: Any,
             lr: float = 1.0, rho: float = 0.95, epsilon: float = 1e-7) -> Any:
    """Adadelta in place: ``E[g2] = rho E[g2] + (1 - rho) g**2``, ``d = sqrt((E[dx2] + eps)
    / (E[g2] + eps)) g``, ``E[dx2] = rho E[dx2] + (1 - rho) d**2``, ``w -= lr d``.

        >>> adadelta(dev, w, g, eg2, edx2, lr=1.0)
    """
    arrays = _arrays(dev, "adadelta", w, g=g, accumulated_grad=accumulated_grad,
                     accumulated_delta_var=accumulated_delta_var)
    return _run(dev, "adadelta", "adadelta", arrays,
                [np.float32(lr), np.float32(rho), np.float32(epsilon)])
