"""autograd.misc's helpers on adkit: `flatten` (a pytree of arrays as one vector and back)
and `optimizers` (sgd, rmsprop, adam over pytrees of parameters)."""

from .flatten import flatten, flatten_func

__all__ = ["flatten", "flatten_func"]
