"""adkit: automatic differentiation of plain Python + NumPy code.

Forward mode on dual numbers, reverse mode on a tape, both dispatching through
one table of NumPy primitives; nest them freely.

>>> import numpy as np, adkit
>>> adkit.grad(lambda x: np.sqrt(x[0] ** 2 + x[1] ** 2))(np.array([1.0, 2.0]))
array([0.4472136 , 0.89442719])
"""

import importlib
from typing import Any

from .api import grad, hessian, hvp, jacobian, jvp, stop_gradient, value_and_grad, vjp
from .arraybox import TracedConversionError
from .checks import PointError, check_grads
from .compile import CompileWarning
from .compile import compile  # noqa: A004 - adkit.compile, as jax.jit (shadows the builtin here only)
from .custom import checkpoint, custom_vjp, fixed_point
from .extend import defjvp, defvjp, primitive
from .operators import (deriv, grad_and_aux, grad_named, hessian_tensor_product,
                        hessian_vector_product, make_ggnvp, make_hvp, make_jvp, make_vjp,
                        multigrad_dict, tensor_jacobian_product, vector_jacobian_product)
from .reverse.api import elementwise_grad, holomorphic_grad
from .table import NoRuleError

# The one place the version is written: pyproject.toml reads it from here
# (`[tool.setuptools.dynamic]`), so the installed metadata always agrees.
__version__ = "0.1.0"

#: Subpackages reachable as attributes (``adkit.nn.Sequential``), imported on first
#: access (PEP 562) so that ``import adkit`` does not load adkit.nn, adkit.kernels,
#: PyOpenCL or SymPy.
_LAZY_SUBMODULES = ("nn", "kernels", "numeric", "symbolic", "misc", "test_util", "builtins")

__all__ = ["grad", "value_and_grad", "jacobian", "hessian", "hvp", "jvp", "vjp",
           "stop_gradient", "holomorphic_grad", "primitive", "defjvp", "defvjp", "NoRuleError",
           "TracedConversionError", "check_grads", "PointError", "custom_vjp", "checkpoint",
           "fixed_point", "compile", "CompileWarning", "elementwise_grad",
           # autograd's differential operators by autograd's names (adkit/operators.py)
           "make_vjp", "make_jvp", "make_hvp", "make_ggnvp", "deriv", "grad_and_aux",
           "grad_named", "multigrad_dict", "tensor_jacobian_product",
           "vector_jacobian_product", "hessian_tensor_product", "hessian_vector_product"]


def __getattr__(name: str) -> Any:
    """Import a subpackage of ``_LAZY_SUBMODULES`` the first time it is read."""
    if name in _LAZY_SUBMODULES:
        # import_module binds the submodule as an attribute of this package, so this
        # function runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names plus the lazily imported subpackages, for completion."""
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
