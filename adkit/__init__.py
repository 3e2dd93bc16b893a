"""adkit: automatic differentiation of plain Python + NumPy code.

Forward mode on dual numbers, reverse mode on a tape, both dispatching through
one table of NumPy primitives; nest them freely.

>>> import numpy as np, adkit
>>> adkit.grad(lambda x: np.sqrt(x[0] ** 2 + x[1] ** 2))(np.array([1.0, 2.0]))
array([0.4472136 , 0.89442719])
"""

from .api import grad, hessian, hvp, jacobian, jvp, stop_gradient, value_and_grad, vjp
from .arraybox import TracedConversionError
from .checks import PointError, check_grads
from .extend import defjvp, defvjp, primitive
from .table import NoRuleError

__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "jacobian", "hessian", "hvp", "jvp", "vjp",
           "stop_gradient", "primitive", "defjvp", "defvjp", "NoRuleError",
           "TracedConversionError", "check_grads", "PointError"]
