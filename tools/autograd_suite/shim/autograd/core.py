from .extend import primitive, defvjp, defjvp  # noqa: F401
from . import make_vjp as _mv


def make_vjp(fun, x):
    return _mv(fun)(x)


primitive_with_deprecation_warnings = primitive

# autograd's internal registry of VJP makers; adkit keeps its rules in its own
# table. An empty dict lets test modules that import it be collected.
primitive_vjps = {}


def vspace(x):
    raise NotImplementedError("shim gap: autograd.core.vspace (autograd internals) has no adkit equivalent")
