"""autograd.builtins on adkit: `isinstance` and `type` that see through traced values to
the values they carry, and Python's containers under autograd's names.

Code written for autograd says `from autograd.builtins import isinstance, type` where a
traced array must still count as an ndarray; with adkit, import them from here.

>>> import numpy as np, adkit
>>> adkit.grad(lambda x: x.sum() if isinstance(x, np.ndarray) else x)(np.ones(2))
array([1., 1.])
"""

from __future__ import annotations

import builtins as _python
from typing import Any

from .tracer import primal

__all__ = ["isinstance", "type", "tuple", "list", "dict"]

tuple, list, dict = _python.tuple, _python.list, _python.dict


def isinstance(value: Any, classes: Any) -> bool:  # noqa: A001 - autograd's name
    """Python's isinstance of the value a traced value carries (of value itself if plain)."""
    return _python.isinstance(primal(value), classes)


def type(value: Any) -> _python.type:  # noqa: A001 - autograd's name
    """The type of the value a traced value carries (of value itself if plain)."""
    return _python.type(primal(value))
