"""scipy.fft on traced values, by numpy.fft's rules.

scipy.fft's transforms are uarray multimethods, not Python functions, so they cannot be
bound the way adkit/rules/scipy_binding.py binds SciPy's functions. uarray asks the
backends registered with scipy.fft.register_backend before SciPy's own (SciPy installs its
backend with try_last=True), so adkit registers one: a call holding a traced value goes to
the numpy.fft function of the same name (same values: both are pocketfft, with the same
norm= conventions), any other call returns NotImplemented and reaches SciPy's backend
untouched. overwrite_x= and workers= do not change values and are dropped; plan= is
refused. Every spelling works, `from scipy.fft import fft` included.

Real transforms (dct, dst, ...) and the fht have no rule: they raise NoRuleError naming
the function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from ..table import COVERAGE, NoRuleError
from .scipy_binding import holds_traced

#: scipy.fft transforms with a numpy.fft namesake: (x, n or s, axis or axes, norm) leading
_SAME_AS_NUMPY = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2",
                  "irfft2", "fftn", "ifftn", "rfftn", "irfftn")
_NO_EFFECT_ON_VALUES = ("overwrite_x", "workers")


class _AdkitBackend:
    """The uarray backend that sends traced calls of scipy.fft to numpy.fft's rules."""

    __ua_domain__ = "numpy.scipy.fft"

    @staticmethod
    def __ua_function__(method: Any, args: tuple, kwargs: dict) -> Any:
        if not (holds_traced(args) or (kwargs and holds_traced(kwargs.values()))):
            return NotImplemented
        name = getattr(method, "__name__", str(method))
        if name not in _SAME_AS_NUMPY:
            raise NoRuleError(
                f"scipy.fft.{name} received a traced value, but adkit differentiates "
                f"scipy.fft only for {', '.join(_SAME_AS_NUMPY)} (by numpy.fft's rules). "
                "Write the transform with those, or pass adkit.stop_gradient(x) if no "
                "derivative should flow through it.")
        if kwargs.get("plan") is not None:
            raise NoRuleError(f"scipy.fft.{name}(..., plan=...) is not supported on traced "
                              "values; drop plan= (it does not change the result)")
        # positional overwrite_x and workers follow norm; none of them changes the values
        kwargs = {k: v for k, v in kwargs.items()
                  if k not in _NO_EFFECT_ON_VALUES and k != "plan"}
        return getattr(np.fft, name)(*args[:4], **kwargs)


scipy.fft.register_backend(_AdkitBackend)
for _name in _SAME_AS_NUMPY:
    COVERAGE[f"scipy.fft.{_name}"] = ()
