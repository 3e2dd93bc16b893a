"""Weight initialisers, by Keras name: each maps (rng, shape, dtype) to an array.

Fan-in and fan-out follow Keras: for a Dense kernel (in, out) they are the two
dimensions; for a convolution kernel (kh, kw, c_in, c_out) each is multiplied by
the receptive field kh * kw.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Initializer = Callable[[np.random.Generator, tuple, np.dtype], np.ndarray]


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _uniform(limit: float) -> Callable:
    return lambda rng, shape, dtype: rng.uniform(-limit, limit, shape).astype(dtype)


def _normal(std: float) -> Callable:
    # Keras truncates its "normal" initialisers at two standard deviations and
    # rescales so the variance is std**2; 0.8796 is the std of a N(0,1) cut at ±2.
    def draw(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
        scale = std / 0.87962566103423978
        out = rng.standard_normal(shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * scale).astype(dtype)
    return draw


def glorot_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fans(shape)
    return _uniform(np.sqrt(6.0 / (fan_in + fan_out)))(rng, shape, dtype)


def glorot_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Truncated normal with std sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return _normal(np.sqrt(2.0 / (fan_in + fan_out)))(rng, shape, dtype)


def he_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / fan_in) (He et al. 2015), for relu layers."""
    return _uniform(np.sqrt(6.0 / fans(shape)[0]))(rng, shape, dtype)


def he_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Truncated normal with std sqrt(2 / fan_in)."""
    return _normal(np.sqrt(2.0 / fans(shape)[0]))(rng, shape, dtype)


def lecun_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(3 / fan_in): variance 1 / fan_in."""
    return _uniform(np.sqrt(3.0 / fans(shape)[0]))(rng, shape, dtype)


def lecun_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """Truncated normal with std fan_in ** -1/2: the textbook's m^(-1/2) rule for
    the scaled tanh 1.7159 tanh(2x/3) on standardised data."""
    return _normal(fans(shape)[0] ** -0.5)(rng, shape, dtype)


def orthogonal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """A (semi-)orthogonal matrix, Keras's default for recurrent kernels."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return q.reshape(shape).astype(dtype)


def zeros(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """All zeros (rng is unused: every initializer takes one)."""
    return np.zeros(shape, dtype)


def ones(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """All ones (rng is unused: every initializer takes one)."""
    return np.ones(shape, dtype)


def random_normal(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """N(0, 0.05**2), Keras's RandomNormal default."""
    return (0.05 * rng.standard_normal(shape)).astype(dtype)


def random_uniform(rng: np.random.Generator, shape: tuple, dtype=np.float32) -> np.ndarray:
    """U(-0.05, 0.05), Keras's RandomUniform default."""
    return _uniform(0.05)(rng, shape, dtype)


ALL = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                               lecun_uniform, lecun_normal, orthogonal, zeros, ones,
                               random_normal, random_uniform)}


def get(identifier: str | Initializer) -> Initializer:
    """An initialiser from its Keras name, or a callable passed through."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ALL:
        return ALL[identifier.lower()]
    raise ValueError(f"unknown initializer {identifier!r}; valid names: {', '.join(sorted(ALL))}")


def name_of(init: Initializer) -> str:
    """The name under which `init` is saved in a model config."""
    name = getattr(init, "__name__", None)
    if ALL.get(name) is not init:
        raise ValueError(f"initializer {init!r} is not one of adkit.nn.initializers "
                         f"({', '.join(sorted(ALL))}), so a saved model could not name it; "
                         "initialise with a named one and set the weights afterwards")
    return name
