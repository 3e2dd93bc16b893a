"""Checking and preparing what users pass to the transforms: argnums, differentiable
leaves, tangents and cotangents. Errors here name the argument and the fix."""

from __future__ import annotations

import functools
import inspect
import numbers
from typing import Any, Callable

import numpy as np

from .pytree import leaf_paths, tree_flatten
from .tracer import BoxBase, primal
from .rules.helpers import dtype_of, is_duck_array


def accepts_argnum(transform: Callable) -> Callable:
    """transform(f, argnum=1), autograd's spelling, as transform(f, argnums=1)."""
    @functools.wraps(transform)
    def spelled(f: Callable, *args: Any, **kwargs: Any) -> Callable:
        if "argnum" in kwargs:
            if "argnums" in kwargs or args:
                raise TypeError(f"{transform.__name__}: give argnums, or argnum (autograd's "
                                "spelling), not both")
            kwargs["argnums"] = kwargs.pop("argnum")
        return transform(f, *args, **kwargs)
    return spelled


def normalize_argnums(argnums: Any, nargs: int, fname: str) -> tuple[tuple[int, ...], bool]:
    """(argnums as a tuple of non-negative ints, whether an int was given)."""
    single = isinstance(argnums, numbers.Integral)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, (tuple, list)) or not nums or \
            not all(isinstance(a, numbers.Integral) for a in nums):
        raise TypeError(f"{fname}: argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r}")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{fname}: argnums={argnums!r} is out of range for a call with "
                             f"{nargs} positional argument{'s' * (nargs != 1)} "
                             f"(valid: 0..{nargs - 1})")
        out.append(int(a) % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"{fname}: argnums={argnums!r} repeats an argument")
    return tuple(out), single


def differentiable(x: Any, where: str) -> Any:
    """A leaf ready to be traced: ints become floats; what cannot be, raises."""
    if type(x) is np.ndarray and x.dtype.kind == "f" or isinstance(x, BoxBase):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{where} is a boolean; booleans carry no derivative. Pass it "
                        "through a non-differentiated argument (see argnums)")
    if isinstance(x, numbers.Integral):
        return float(x)
    if isinstance(x, numbers.Real) and not isinstance(x, np.generic):
        return float(x)
    if type(x) is complex:
        return x   # differentiated under autograd's convention (docs/complex.md)
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        kind = x.dtype.kind
        if kind in "fc":
            return x
        if kind in "iu":
            return x.astype(np.float64)
        if kind == "b":
            raise TypeError(f"{where} is a boolean array; booleans carry no derivative")
        raise TypeError(f"{where} has dtype {x.dtype}; adkit differentiates floating-point "
                        "and complex arrays")
    if isinstance(x, (list, tuple, dict)) or x is None:
        return x
    if is_duck_array(x) and getattr(x, "dtype", None) is not None and x.dtype.kind in "fc":
        return x   # another library's float array that handles NumPy calls (a device array)
    raise TypeError(f"{where} is a {type(x).__name__}; adkit differentiates Python numbers, "
                    "NumPy arrays and tuples/lists/dicts of them")


def differentiable_leaves(arg: Any, where: str) -> tuple[list, Any, list]:
    """Flatten a differentiated argument: (prepared leaves, treedef, original leaves)."""
    leaves, td = tree_flatten(arg)
    try:
        return [differentiable(x, where) for x in leaves], td, leaves
    except TypeError:  # name the offending leaf: worth the cost only on the way out
        for x, path in zip(leaves, leaf_paths(td, where)):
            differentiable(x, path)
        raise


def check_like(values: list, others: list, td: Any, other_td: Any, what: str,
               where: str) -> list:
    """Tangents/cotangents must match the primals' structure, shapes and dtypes."""
    if td != other_td:
        raise ValueError(f"{what} for {where} have structure {other_td!r}, but the primals "
                         f"have {td!r}")
    out = []
    for v, o, path in zip(values, others, leaf_paths(td, where)):
        v_shape, o_shape = np.shape(primal(v)), np.shape(primal(o))
        if v_shape != o_shape:
            raise ValueError(f"{what} for {path} has shape {o_shape}, but the primal has "
                             f"shape {v_shape}")
        v_dt, o_dt = dtype_of(v), dtype_of(o)
        if o_dt.kind in "iu" and not isinstance(o, np.ndarray):
            o = float(o)
            o_dt = np.dtype(np.float64)
        if o_dt.kind not in "fc":
            raise TypeError(f"{what} for {path} has dtype {o_dt}; it must be floating-point "
                            f"like its primal ({v_dt})")
        if v_dt != o_dt and not _python_scalar(o):
            raise TypeError(f"{what} for {path} has dtype {o_dt}, but the primal has dtype "
                            f"{v_dt}; convert it with .astype({v_dt.name!r})")
        out.append(o)
    return out


def _python_scalar(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, np.generic)


def argument_names(f: Callable, nargs: int) -> list[str]:
    """Names for f's first nargs positional arguments: its parameters' (x1, x2), or
    a0, a1, ... when it takes *args or has no signature."""
    try:
        params = [p for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:nargs]]
    return names if len(names) == nargs else [f"a{i}" for i in range(nargs)]


def complex_argnums(args: tuple, argnums: tuple) -> list[int]:
    """The differentiated arguments (of argnums) with a complex leaf."""
    return [n for n in argnums
            if any(dtype_of(x).kind == "c" for x in tree_flatten(args[n])[0])]
