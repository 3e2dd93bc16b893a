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
        check_callable(f, transform.__name__)
        if "argnum" in kwargs:
            if "argnums" in kwargs or args:
                raise TypeError(f"{transform.__name__}: give argnums, or argnum (autograd's "
                                "spelling), not both")
            kwargs["argnums"] = kwargs.pop("argnum")
        return transform(f, *args, **kwargs)
    return spelled


def check_callable(f: Any, fname: str) -> None:
    """TypeError, when a transform is made, unless f can be called (else the mistake
    would surface later as "'int' object is not callable" from inside adkit)."""
    if not callable(f):
        raise TypeError(f"{fname} takes the function to differentiate first, got "
                        f"{type(f).__name__} {f!r:.60}; e.g. {fname}(lambda x: np.sum(x ** 2))")


def _is_index(a: Any) -> bool:
    return isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))


def normalize_argnums(argnums: Any, nargs: int, fname: str) -> tuple[tuple[int, ...], bool]:
    """(argnums as a tuple of non-negative ints, whether an int was given)."""
    single = _is_index(argnums)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, (tuple, list)) or not nums or not all(_is_index(a) for a in nums):
        raise TypeError(f"{fname}: argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r}")
    if nargs == 0:
        raise ValueError(f"{fname}: f was called with no positional arguments, but {fname} "
                         f"differentiates with respect to positional ones (argnums="
                         f"{argnums!r}); pass the value to differentiate positionally, e.g. "
                         f"{fname}(f)(x) rather than {fname}(f)(x=x) (keyword arguments "
                         "are passed through, not differentiated)")
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
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{where} is a masked array; adkit does not carry masks through "
                        "derivatives, so masked entries would count as present and the "
                        "gradient would be wrong. Pass plain data: x.filled(0.0) (masked "
                        "entries as 0), x.compressed() (the unmasked entries), or x.data with "
                        "the mask as another argument (np.where(mask, 0.0, x) inside f)")
    if isinstance(x, np.matrix):
        raise TypeError(f"{where} is a np.matrix, whose * is a matrix product and whose "
                        "reductions keep two axes; adkit's rules follow ndarray semantics. "
                        "Pass np.asarray(x) and write matrix products with @")
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


def non_number(value: Any) -> str | None:
    """What an output leaf is, when it has no derivative (a bool, string, None, object
    array, ...); None for a number or an array of numbers. Answering 0 for such an
    output would hide a bug in f (JAX and autograd refuse it too)."""
    v = primal(value)
    if isinstance(v, BoxBase):  # a staged value (adkit.compile): check the value it stands for
        v = v._value
    if isinstance(v, (bool, np.bool_)) or not (
            isinstance(v, numbers.Number) or is_duck_array(v) or
            isinstance(v, np.ndarray) and v.dtype.kind in "fciu"):
        return f"a value of type {type(v).__name__}" + (
            f" with dtype {v.dtype}" if isinstance(v, np.ndarray) else "") + f" ({v!r:.60})"
    return None


def check_outputs(out: Any, values: list, td: Any, fname: str) -> None:
    """TypeError naming the output leaf of f that has no derivative (see non_number);
    f returning None (a missing return statement) is refused too."""
    if out is None:
        raise TypeError(f"{fname} needs f to return numbers or arrays of them, but it "
                        "returned None (does f end without a return statement?)")
    for i, value in enumerate(values):
        what = non_number(value)
        if what is not None:
            path = leaf_paths(td, "f's output")[i]
            raise TypeError(f"{fname} needs f to return numbers or arrays of them (or "
                            f"tuples/lists/dicts of them), but {path} is {what}, which has "
                            "no derivative. Return the float quantities to differentiate.")


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
