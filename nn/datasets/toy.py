"""Small synthetic data sets for examples and tests, generated from a seed."""

from __future__ import annotations

import numpy as np

__all__ = ["make_moons"]


def make_moons(n_samples: int = 500, noise: float = 0.1,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles in the plane, like sklearn.datasets.make_moons.

    Returns X of shape (n_samples, 2) and labels y in {0., 1.} of shape (n_samples,),
    shuffled so that the classes are not in blocks.

    >>> X, y = make_moons(4, noise=0.0)
    >>> X.shape, sorted(y.tolist())
    ((4, 2), [0.0, 0.0, 1.0, 1.0])
    """
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    # The upper moon is the half unit circle; the lower one is the same arc
    # flipped upside down and shifted right by 1 and down by 0.5.
    outer = np.column_stack([np.cos(t_outer), np.sin(t_outer)])
    inner = np.column_stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    order = rng.permutation(n_samples)
    return X[order], y[order]
