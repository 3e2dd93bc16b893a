from .flatten import flatten  # noqa: F401


def const_graph(*a, **k):
    raise NotImplementedError("shim gap: autograd.misc.const_graph (autograd internals) has no adkit equivalent")
