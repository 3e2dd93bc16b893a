"""The OpenCL backend of adkit.nn: NumpyBackend's operations on DeviceArrays, run by
the project's kernels (adkit.kernels) on one OpenCL device.

nn/backend.py's primitives call these methods with DeviceArrays when a model is
compiled with device="opencl", and everything between them (x @ W + b, the
losses' arithmetic, the rules' cotangent sums) runs on the device through
DeviceArray's NumPy protocols, so the layers are the same code on both backends
and adkit's tape records device values. The methods that are plain NumPy
arithmetic (softmax, log_softmax, the cross-entropies on one-hot targets) are
NumpyBackend's own, running on DeviceArrays; the rest call kernels.

    >>> from adkit.nn import backend
    >>> ocl = OpenCLBackend()
    >>> x = ocl.to_device(np.array([[-1.0, 2.0]], np.float32))
    >>> with backend.activate(ocl):
    ...     np.asarray(backend.relu(x))
    array([[0., 2.]], dtype=float32)
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import nullcontext
from typing import Any

import numpy as np

from adkit.kernels import conv as kconv
from adkit.kernels import elementwise as kew
from adkit.kernels import pool as kpool
from adkit.kernels.array import DeviceArray, contiguous, to_device
from adkit.kernels.launch import elementwise
from adkit.kernels.runtime import device as find_device

from .numpy_backend import NumpyBackend

__all__ = ["OpenCLBackend"]

#: how many recent max-pooling outputs keep their argmax for the backward pass
_ARGMAX_KEPT = 16


class OpenCLBackend(NumpyBackend):
    """One OpenCL device (`spec` as for adkit.kernels.device: None picks ADKIT_DEVICE,
    PYOPENCL_CTX, a GPU, then any device). Raises OpenCLUnavailable with the fix when
    there is no OpenCL platform."""

    name = "opencl"

    def __init__(self, spec: str | int | None = None) -> None:
        if isinstance(spec, str) and spec.strip().lower() in ("opencl", ""):
            spec = None
        self.device = find_device(spec)
        self._argmax: OrderedDict[int, tuple[DeviceArray, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<OpenCLBackend {self.device.info.spec} {self.device.info.name.strip()!r}>"

    # --- data ------------------------------------------------------------------------
    def to_device(self, host: Any) -> DeviceArray:
        """host on this backend's device (floats as float32, labels as int32): counted."""
        return to_device(host, self.device)

    def thread_limit(self, n: int) -> Any:
        return nullcontext()

    def step_scope(self, batch_parallel: bool) -> Any:
        return nullcontext()

    def _wrap(self, data: Any) -> DeviceArray:
        return DeviceArray(data, self.device)

    def _data(self, x: Any, what: str) -> Any:
        if not isinstance(x, DeviceArray):
            raise TypeError(f"{what}: the OpenCL backend takes DeviceArrays, got "
                            f"{type(x).__name__}; move host data with backend.to_device(x)")
        if x.device is not self.device:
            raise ValueError(f"{what}: a DeviceArray of {x.device.info.name.strip()!r} met "
                             f"the backend of {self.device.info.name.strip()!r}; copy it "
                             "explicitly with backend.to_device(np.asarray(x))")
        return contiguous(x)

    # --- convolution -------------------------------------------------------------------
    def im2col(self, x: Any, kernel_size: tuple, strides: tuple, padding: str) -> DeviceArray:
        return self._wrap(kconv.im2col(self.device, self._data(x, "im2col"), kernel_size,
                                       strides, padding))

    def col2im(self, cols: Any, x_shape: tuple, kernel_size: tuple, strides: tuple,
               padding: str) -> DeviceArray:
        return self._wrap(kconv.col2im(self.device, self._data(cols, "col2im"), x_shape,
                                       kernel_size, strides, padding))

    def conv2d(self, x: Any, kernel: Any, strides: tuple, padding: str) -> DeviceArray:
        return self._wrap(kconv.conv2d(self.device, self._data(x, "conv2d"),
                                       self._data(kernel, "conv2d"), strides, padding))

    def conv2d_backprop_input(self, g: Any, kernel: Any, x_shape: tuple, strides: tuple,
                              padding: str) -> DeviceArray:
        return self._wrap(kconv.conv2d_backprop_input(
            self.device, self._data(g, "conv2d_backprop_input"),
            self._data(kernel, "conv2d_backprop_input"), x_shape, strides, padding))

    def conv2d_backprop_kernel(self, x: Any, g: Any, kernel_shape: tuple, strides: tuple,
                               padding: str) -> DeviceArray:
        return self._wrap(kconv.conv2d_backprop_kernel(
            self.device, self._data(x, "conv2d_backprop_kernel"),
            self._data(g, "conv2d_backprop_kernel"), kernel_shape, strides, padding))

    # --- pooling ---------------------------------------------------------------------
    def max_pool2d_forward(self, x: Any, pool_size: tuple, strides: tuple,
                           padding: str) -> DeviceArray:
        y, argmax = kpool.max_pool2d_forward(self.device, self._data(x, "max_pool2d"),
                                             pool_size, strides, padding)
        out = self._wrap(y)
        # the kernel finds the argmax with the maximum: keep it for the backward pass
        self._argmax[id(out)] = (out, argmax)
        while len(self._argmax) > _ARGMAX_KEPT:
            self._argmax.popitem(last=False)
        return out

    def max_pool2d_argmax(self, x: Any, y: Any, pool_size: tuple, strides: tuple,
                          padding: str) -> Any:
        kept = self._argmax.get(id(y))
        if kept is not None and kept[0] is y:
            return kept[1]
        return kpool.max_pool2d_forward(self.device, self._data(x, "max_pool2d"), pool_size,
                                        strides, padding)[1]

    def max_pool2d_backward(self, g: Any, argmax: Any, x_shape: tuple, pool_size: tuple,
                            strides: tuple, padding: str) -> DeviceArray:
        return self._wrap(kpool.max_pool2d_backward(
            self.device, self._data(g, "max_pool2d_backward"), argmax, x_shape, pool_size,
            strides, padding))

    def max_pool2d_gather(self, h: Any, argmax: Any, pool_size: tuple, strides: tuple,
                          padding: str) -> DeviceArray:
        raise NotImplementedError(
            "forward-mode derivatives of max_pool2d (its JVP) have no OpenCL kernel yet; "
            "use reverse mode (adkit.grad) or the numpy backend")

    def avg_pool2d_forward(self, x: Any, pool_size: tuple, strides: tuple,
                           padding: str) -> DeviceArray:
        return self._wrap(kpool.avg_pool2d_forward(self.device, self._data(x, "avg_pool2d"),
                                                   pool_size, strides, padding))

    def avg_pool2d_backward(self, g: Any, x_shape: tuple, pool_size: tuple, strides: tuple,
                            padding: str) -> DeviceArray:
        return self._wrap(kpool.avg_pool2d_backward(
            self.device, self._data(g, "avg_pool2d_backward"), x_shape, pool_size, strides,
            padding))

    # --- activations ------------------------------------------------------------------
    def relu(self, x: Any) -> DeviceArray:
        return self._wrap(kew.activation(self.device, "relu", self._data(x, "relu")))

    def relu_backward(self, g: Any, y: Any) -> DeviceArray:
        return self._wrap(kew.activation_backward(self.device, "relu",
                                                  self._data(y, "relu_backward"),
                                                  self._data(g, "relu_backward")))

    # --- losses ------------------------------------------------------------------------
    def sparse_softmax_cross_entropy(self, logits: Any, labels: Any) -> DeviceArray:
        z = self._data(logits, "sparse_softmax_cross_entropy")
        classes = z.shape[-1]
        loss, _ = kew.softmax_xent(self.device, z.reshape(-1, classes),
                                   self._data(labels, "sparse_softmax_cross_entropy").reshape(-1))
        return self._wrap(loss.reshape(z.shape[:-1]))

    def one_hot(self, labels: Any, classes: int, dtype: Any) -> DeviceArray:
        lab = self._data(labels, "one_hot")
        out = self.device.empty(lab.shape + (classes,), np.float32)
        if out.size:
            lt = kew._label_t(lab)
            elementwise(self.device, f"one_hot_{lt}", f"float *out, const {lt} *lab, long c",
                    "out[i] = (lab[i / c] == i % c) ? 1.0f : 0.0f")(
                out, lab, np.int64(classes), queue=self.device.queue)
        return self._wrap(out)

    # --- dropout -----------------------------------------------------------------------
    def dropout_mask(self, shape: tuple, rate: float, rng: np.random.Generator,
                     dtype: Any) -> DeviceArray:
        """Philox-4x32-10 on the device, keyed by one draw from rng: the same mask as
        adkit.kernels.elementwise.dropout_mask_reference(shape, rate, seed, 0)."""
        seed = int(rng.integers(0, 2**63))
        return self._wrap(kew.dropout_mask(self.device, shape, rate, seed, 0))

