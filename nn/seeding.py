"""Where adkit.nn's seeds come from when the user gives none.

A model, SeedGenerator or layer built without `seed=` draws its seed here:
from the operating system's entropy (a different model each run), until
`adkit.nn.utils.set_random_seed(n)` fixes the sequence, after which the same
script builds the same models, as Keras's `keras.utils.set_random_seed` does.

>>> set_global_seed(1); a = fresh_seed(); set_global_seed(1)
>>> a == fresh_seed()
True
>>> set_global_seed(None)
"""

from __future__ import annotations

import numpy as np

__all__ = ["set_global_seed", "fresh_seed"]

#: the generator unseeded builds draw from; None: the operating system's entropy
_generator: np.random.Generator | None = None


def set_global_seed(seed: int | None) -> None:
    """Draw every later `fresh_seed()` from a generator seeded with `seed` (None: go back
    to the operating system's entropy)."""
    global _generator
    _generator = None if seed is None else np.random.default_rng(seed)


def fresh_seed(bits: int = 32) -> int:
    """A seed in [0, 2**bits) for something built without one."""
    if _generator is None:
        return int(np.random.SeedSequence().entropy % 2**bits)
    return int(_generator.integers(2**bits))
