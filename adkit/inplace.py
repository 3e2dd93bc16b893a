"""In-place writes on traced arrays, with NumPy's aliasing semantics.

`x[i] = v` and `x += y` never modify an array: they compute the new value
functionally (index_update, add, ...; the rules call `assign` here) and
*rebind* the box `x` to it, so every reference to that box sees the write, as
with an ndarray. Views are honoured too: when a primitive returned a NumPy
view of its input (x[0:2], x.T, x.reshape(...)), the result box remembers its
base; writing into the view writes back into the base, and writing into a
base refreshes its live views.
The raw arrays underneath are never mutated, so values captured by the tape
stay correct.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .tracer import BoxBase


def assign(box: BoxBase, new: Any) -> BoxBase:
    """Make `box` hold `new`, writing through to the array it is a view of, if any."""
    record = getattr(box, "_viewof", None)
    base = record[0]() if record is not None else None
    if base is not None:
        _, prim, rest, kwargs = record
        if prim.writeback is None:
            raise ValueError(
                f"cannot write into the result of np.{prim.name}: NumPy makes it a "
                "read-only view. Copy it first (y = np.copy(...)) and write into the copy")
        assign(base, prim.writeback(base, new, *rest, **kwargs))
        return box  # a live view of its base: refreshed by the base's write
    _rebind(box, new)
    _refresh_views(box)
    return box


def note_view(out: BoxBase, base: Any, prim, rest: tuple, kwargs: dict) -> None:
    """Record that `out` is a NumPy view of `base` made by prim(base, *rest, **kwargs)."""
    if not isinstance(base, BoxBase) or not isinstance(out, BoxBase):
        return
    out._viewof = (weakref.ref(base), prim, rest, kwargs)
    views = getattr(base, "_views", None)
    if views is None:
        base._views = views = []
    elif len(views) > 16:
        views[:] = [r for r in views if r() is not None]
    views.append(weakref.ref(out))


def shares_memory(out: Any, base: Any) -> bool:
    """Whether NumPy returned a view (at the bottom level, where values are plain)."""
    while isinstance(out, BoxBase):
        out = out._value
    while isinstance(base, BoxBase):
        base = base._value
    return (isinstance(out, np.ndarray) and out.base is not None
            and isinstance(base, np.ndarray) and np.may_share_memory(out, base))


def _rebind(box: BoxBase, new: Any) -> None:
    if isinstance(new, BoxBase):
        if type(new) is not type(box):
            box.__class__ = type(new)
        box._value = new._value
        box._trace = new._trace
        box._tangent = getattr(new, "_tangent", None)
        box._node = getattr(new, "_node", None)
    else:
        box._value = new
        box._tangent = None
        box._node = None


def _refresh_views(box: BoxBase) -> None:
    views = getattr(box, "_views", None)
    if not views:
        return
    live = [w for w in (r() for r in views) if w is not None]
    box._views = [weakref.ref(w) for w in live]
    for view in live:
        _, prim, rest, kwargs = view._viewof
        _rebind(view, prim(box, *rest, **kwargs))
        _refresh_views(view)
