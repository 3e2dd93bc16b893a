"""Arguments the convolution layers share, read and checked as Keras reads them, and the
dilated kernel that dilation_rate stands for.

A kernel of size k dilated by d reads every d-th input over (k - 1) * d + 1 positions:
the same as an undilated kernel of that size with zeros between the taps. The layers
build that kernel (a product with a 0/1 matrix, so its derivative is the matching
selection) and hand it to the ordinary convolution, which keeps Keras's geometry for
every padding and costs d times the arithmetic along each dilated axis.

    >>> dilate_kernel(np.ones((2, 1, 1, 1)), (2, 1))[:, 0, 0, 0]
    array([1., 0., 1.])
    >>> int_tuple(3, 2, "kernel_size", "Conv2D 'c'")
    (3, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient

__all__ = ["int_tuple", "effective_size", "dilate_kernel", "check_strides_with_dilation",
           "refuse_groups", "refuse_activity_regularizer"]


def int_tuple(value: Any, rank: int, what: str, who: str) -> tuple[int, ...]:
    """`value` as `rank` positive ints (Keras's standardize_tuple): an int means the same
    along every axis; a list or tuple must have `rank` entries.

    >>> int_tuple([5], 1, "strides", "Conv1D 'c'")
    (5,)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values: tuple = (value,) * rank
    else:
        values = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else ()
    if len(values) != rank or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                      and v > 0 for v in values):
        shape = "a positive int" + ("" if rank == 1 else f" or {rank} of them")
        raise ValueError(f"{who}: {what} must be {shape}, got {value!r}")
    return tuple(int(v) for v in values)


def effective_size(kernel_size: tuple, dilation_rate: tuple) -> tuple[int, ...]:
    """The span of a dilated kernel along each axis: (k - 1) * d + 1.

    >>> effective_size((3, 2), (2, 1))
    (5, 2)
    """
    return tuple((k - 1) * d + 1 for k, d in zip(kernel_size, dilation_rate))


def check_strides_with_dilation(strides: tuple, dilation_rate: tuple, who: str) -> None:
    """Keras refuses strides > 1 together with dilation_rate > 1; so does adkit."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{who}: strides > 1 together with dilation_rate > 1 is not "
                         f"supported (as in Keras); got strides={strides} and "
                         f"dilation_rate={dilation_rate}. Use one of them")


def refuse_groups(groups: Any, who: str) -> None:
    """Grouped convolutions are not implemented: groups must be 1 (Keras's default)."""
    if groups != 1:
        raise ValueError(f"{who}: groups={groups!r} (grouped convolution) is not implemented "
                         "in adkit.nn; use groups=1, or DepthwiseConv2D for one group per "
                         "channel")


def refuse_activity_regularizer(value: Any, who: str) -> None:
    """A penalty on a layer's outputs is a layer of its own in adkit (as Dense says)."""
    if value is not None:
        raise ValueError(f"{who}: activity_regularizer is not supported; put "
                         "adkit.nn.layers.ActivityRegularization(l1, l2) after the layer")


def _spread(size: int, rate: int, dtype: Any) -> np.ndarray:
    """The (effective size, size) 0/1 matrix that puts tap i at position i * rate."""
    s = np.zeros(((size - 1) * rate + 1, size), dtype)
    s[np.arange(size) * rate, np.arange(size)] = 1
    return s


def dilate_kernel(kernel: Any, dilation_rate: tuple) -> Any:
    """`kernel` (spatial axes first, one per rate) with rate - 1 zeros between its taps
    along each spatial axis; differentiable in the kernel.

    >>> dilate_kernel(np.arange(1.0, 5.0).reshape(2, 2, 1, 1), (1, 2))[..., 0, 0]
    array([[1., 0., 2.],
           [3., 0., 4.]])
    """
    if all(d == 1 for d in dilation_rate):
        return kernel
    shape, dtype = np.shape(stop_gradient(kernel)), stop_gradient(kernel).dtype
    for axis, rate in enumerate(dilation_rate):
        if rate > 1:
            moved = np.moveaxis(kernel, axis, -1)
            kernel = np.moveaxis(np.matmul(moved, _spread(shape[axis], rate, dtype).T), -1, axis)
    return kernel
