"""autograd.builtins: Python's containers; isinstance/type look through traced values
(autograd's notrace_primitive), which adkit does with adkit.tracer.primal."""
import builtins as _b

from adkit.tracer import primal

tuple, list, dict = _b.tuple, _b.list, _b.dict


def isinstance(x, cls):
    return _b.isinstance(primal(x), cls)


def type(x):
    return _b.type(primal(x))
