"""Keras's `keras.mixed_precision` and `keras.config`'s dtype policy.

Scripts written for GPUs often start with
`keras.mixed_precision.set_global_policy("mixed_float16")`. adkit.nn computes
float32 on the CPU, where float16 arithmetic is slower, not faster, and gives
no memory saving that matters. So a mixed policy is accepted, remembered, and
warned about once: layers keep computing in float32 (the variable dtype of a
mixed policy anyway). "float32" is the default and changes nothing; any other
name is refused with the list of valid ones.

>>> set_global_policy("float32"); global_policy().name
'float32'
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["DTypePolicy", "Policy", "set_global_policy", "global_policy", "dtype_policy",
           "set_dtype_policy", "LossScaleOptimizer"]

_MIXED = ("mixed_float16", "mixed_bfloat16")
_PLAIN = ("float32",)
_REDUCED = ("float16", "bfloat16", "float64")


class DTypePolicy:
    """A dtype policy by Keras's name; compute_dtype and variable_dtype are what adkit.nn
    uses under it (float32 for every accepted policy)."""

    def __init__(self, name: str = "float32") -> None:
        if not isinstance(name, str) or name not in _MIXED + _PLAIN:
            hint = (" adkit.nn builds float32 layers; give a layer dtype=... for another type"
                    if name in _REDUCED else "")
            raise ValueError(f"unknown or unsupported dtype policy {name!r}; valid: "
                             f"{', '.join(_PLAIN + _MIXED)}.{hint}")
        self.name = name

    @property
    def compute_dtype(self) -> str:
        return "float32"

    @property
    def variable_dtype(self) -> str:
        return "float32"

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "DTypePolicy":
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


Policy = DTypePolicy   # Keras 2's name
_policy = [DTypePolicy("float32")]
_warned: list[bool] = []


def set_global_policy(policy: str | DTypePolicy | None) -> None:
    """Set the global dtype policy (None means "float32")."""
    policy = DTypePolicy("float32" if policy is None else policy) \
        if not isinstance(policy, DTypePolicy) else policy
    if policy.name in _MIXED and not _warned:
        warnings.warn(f"dtype policy {policy.name!r}: adkit.nn computes in float32 on the CPU "
                      "(float16 there is slower, not faster); layers keep float32", stacklevel=2)
        _warned.append(True)
    _policy[0] = policy


def global_policy() -> DTypePolicy:
    """The global dtype policy."""
    return _policy[0]


set_dtype_policy = set_global_policy   # keras.config's names
dtype_policy = global_policy


def LossScaleOptimizer(inner_optimizer: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
    """Keras's loss-scaling wrapper; float32 training needs no loss scaling, so this is the
    inner optimizer itself."""
    return inner_optimizer
