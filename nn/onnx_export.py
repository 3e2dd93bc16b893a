"""Export a Sequential model to ONNX, for inference in onnxruntime and other runtimes.

Each layer becomes a few standard ONNX operators (opset 17) with the model's
weights as initializers: Dense is MatMul + Add, Conv2D is Conv, the pooling
layers MaxPool and AveragePool (padding left out of the average, as here),
BatchNormalization its inference-time scale and shift, Flatten and Reshape
keep their meaning on channels-last tensors, Dropout and the noise layers vanish
(inference). Keras 3's activation layers become Relu, LeakyRelu, Clip, Elu, PRelu
and Softmax; LayerNormalization ONNX's own op over trailing axes and a few
reductions over others, as RMSNormalization, UnitNormalization and
GroupNormalization (channels last) are.
ONNX's convolutions and pooling read channels-first images while adkit.nn's are
channels-last (Keras's layout), so the graph transposes into NCHW before the
first spatial layer and back only where a layer needs the channels last (Flatten,
Reshape, Dense, softmax). "same" padding is Keras's, with the odd row at the
bottom (adkit.kernels.window), written as explicit pads.

A layer or activation without an ONNX form here is refused by name before
anything is written. The batch axis is dynamic. The onnx package is an optional
dependency (`pip install 'adkit[onnx]'`).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from adkit.kernels.window import window

from . import activations
from .files import atomic_write
from .layers.base import Layer
from .layers.conv import AveragePooling2D, Conv2D, MaxPooling2D
from .layers.conv_options import effective_size
from .layers.core import Activation, Dense, Dropout, Flatten, Reshape
from .layers.activation_layers import ELU, PReLU, LeakyReLU, ReLU, Softmax
from .layers.normalization import (BatchNormalization, GroupNormalization, LayerNormalization,
                                   RMSNormalization, UnitNormalization, full_axes)

__all__ = ["export_onnx", "OPSET", "SUPPORTED"]

#: the ONNX operator set the graph is written for (onnxruntime has run it since 1.13)
OPSET = 17
#: IR version 8 is the one that goes with opset 17
IR_VERSION = 8

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("export_onnx needs the onnx package: pip install 'adkit[onnx]' "
                          "(or pip install onnx)") from None
    return onnx


class _Graph:
    """The nodes and initializers written so far, and the current tensor's name, shape
    (batch axis excluded, channels-last as adkit sees it) and layout."""

    def __init__(self, onnx: Any, dtype: np.dtype, shape: tuple) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list = []
        self.initializers: list = []
        self.names: set[str] = set()
        self.x, self.shape, self.channels_first = "input", tuple(shape), False

    def name(self, hint: str) -> str:
        name, i = hint, 1
        while name in self.names:
            name, i = f"{hint}_{i}", i + 1
        self.names.add(name)
        return name

    def constant(self, hint: str, value: Any, dtype: Any = None) -> str:
        name = self.name(hint)
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """Append one node reading `inputs`; its output becomes the current tensor."""
        out = self.name(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        self.x = out
        return out

    def to_nchw(self, hint: str) -> None:
        if not self.channels_first:
            self.op("Transpose", [self.x], f"{hint}/to_nchw", perm=_TO_NCHW)
            self.channels_first = True

    def to_nhwc(self, hint: str) -> None:
        if self.channels_first:
            self.op("Transpose", [self.x], f"{hint}/to_nhwc", perm=_TO_NHWC)
            self.channels_first = False


# ---------------------------------------------------------------- activations

def _scaled_tanh(g: _Graph, hint: str) -> None:
    g.op("Mul", [g.x, g.constant(f"{hint}/two_thirds", 2.0 / 3.0)], f"{hint}/scale_in")
    g.op("Tanh", [g.x], f"{hint}/tanh")
    g.op("Mul", [g.x, g.constant(f"{hint}/lecun", 1.7159)], hint)


def _softmax(g: _Graph, hint: str) -> None:
    g.to_nhwc(hint)   # over the last (channels) axis, as adkit computes it
    g.op("Softmax", [g.x], hint, axis=-1)


def _log_softmax(g: _Graph, hint: str) -> None:
    g.to_nhwc(hint)
    g.op("LogSoftmax", [g.x], hint, axis=-1)


def _unary(op_type: str, **attrs: Any) -> Callable[[_Graph, str], None]:
    def write(g: _Graph, hint: str) -> None:
        g.op(op_type, [g.x], hint, **attrs)
    return write


def _clip(low: float, high: float) -> Callable[[_Graph, str], None]:
    def write(g: _Graph, hint: str) -> None:
        g.op("Clip", [g.x, g.constant(f"{hint}/min", low), g.constant(f"{hint}/max", high)],
             hint)
    return write


def _times_input(*ops: tuple) -> Callable[[_Graph, str], None]:
    """x * f(x), f a chain of (op_type, attrs) unary nodes: silu, mish."""
    def write(g: _Graph, hint: str) -> None:
        x = g.x
        for op_type, attrs in ops:
            g.op(op_type, [g.x], f"{hint}/{op_type.lower()}", **attrs)
        g.op("Mul", [x, g.x], hint)
    return write


def _gelu(g: _Graph, hint: str) -> None:
    # opset 17 has no Gelu (it came in 20): 0.5 x (1 + erf(x / sqrt 2))
    x = g.x
    g.op("Mul", [x, g.constant(f"{hint}/inv_sqrt2", 1.0 / np.sqrt(2.0))], f"{hint}/scale")
    g.op("Erf", [g.x], f"{hint}/erf")
    g.op("Add", [g.x, g.constant(f"{hint}/one", 1.0)], f"{hint}/add")
    g.op("Mul", [g.x, g.constant(f"{hint}/half", 0.5)], f"{hint}/half_mul")
    g.op("Mul", [x, g.x], hint)


def _log_sigmoid(g: _Graph, hint: str) -> None:
    g.op("Neg", [g.x], f"{hint}/neg")
    g.op("Softplus", [g.x], f"{hint}/softplus")
    g.op("Neg", [g.x], hint)


def _tanh_shrink(g: _Graph, hint: str) -> None:
    x = g.x
    g.op("Tanh", [x], f"{hint}/tanh")
    g.op("Sub", [x, g.x], hint)


def _squareplus(g: _Graph, hint: str) -> None:
    x = g.x
    g.op("Mul", [x, x], f"{hint}/square")
    g.op("Add", [g.x, g.constant(f"{hint}/b", 4.0)], f"{hint}/add_b")
    g.op("Sqrt", [g.x], f"{hint}/sqrt")
    g.op("Add", [x, g.x], f"{hint}/add_x")
    g.op("Mul", [g.x, g.constant(f"{hint}/half", 0.5)], hint)


def _sparse_plus(g: _Graph, hint: str) -> None:
    # (clip(x, -1, 1) + 1)^2 / 4 + relu(x - 1): the three pieces of sparse_plus at once
    x = g.x
    _clip(-1.0, 1.0)(g, f"{hint}/clip")
    g.op("Add", [g.x, g.constant(f"{hint}/one", 1.0)], f"{hint}/shift")
    g.op("Mul", [g.x, g.x], f"{hint}/square")
    quadratic = g.op("Mul", [g.x, g.constant(f"{hint}/quarter", 0.25)], f"{hint}/quarter_mul")
    g.op("Sub", [x, g.constant(f"{hint}/one_again", 1.0)], f"{hint}/minus_one")
    g.op("Relu", [g.x], f"{hint}/linear_part")
    g.op("Add", [quadratic, g.x], hint)


def _sparse_sigmoid(g: _Graph, hint: str) -> None:
    _clip(-1.0, 1.0)(g, f"{hint}/clip")
    g.op("Add", [g.x, g.constant(f"{hint}/one", 1.0)], f"{hint}/shift")
    g.op("Mul", [g.x, g.constant(f"{hint}/half", 0.5)], hint)


def _sparsemax(g: _Graph, hint: str) -> None:
    # max(x - tau, 0) over the last axis, tau from the descending sort as the paper has it
    g.to_nhwc(hint)
    x, n = g.x, int(g.shape[-1])
    z = g.op("TopK", [x, g.constant(f"{hint}/n", [n], dtype=np.int64)], f"{hint}/sorted",
             axis=-1, largest=1, sorted=1)
    g.nodes[-1].output.append(g.name(f"{hint}/sorted_indices"))   # TopK's second output
    running = g.op("CumSum", [z, g.constant(f"{hint}/axis", -1, dtype=np.int64)],
                   f"{hint}/running")
    g.op("Mul", [z, g.constant(f"{hint}/ranks", np.arange(1, n + 1))], f"{hint}/rank_z")
    g.op("Add", [g.x, g.constant(f"{hint}/one", 1.0)], f"{hint}/one_plus")
    g.op("Greater", [g.x, running], f"{hint}/in_support")
    support = g.op("Cast", [g.x], f"{hint}/support", to=g.onnx.helper.np_dtype_to_tensor_dtype(
        g.dtype))
    k = g.op("ReduceSum", [support, g.constant(f"{hint}/last", [-1], dtype=np.int64)],
             f"{hint}/k", keepdims=1)
    g.op("Mul", [support, z], f"{hint}/support_z")
    g.op("ReduceSum", [g.x, g.constant(f"{hint}/last_again", [-1], dtype=np.int64)],
         f"{hint}/support_sum", keepdims=1)
    g.op("Sub", [g.x, g.constant(f"{hint}/one_again", 1.0)], f"{hint}/minus_one")
    tau = g.op("Div", [g.x, k], f"{hint}/tau")
    g.op("Sub", [x, tau], f"{hint}/shifted")
    g.op("Relu", [g.x], hint)


_ACTIVATIONS: dict[str, Callable[[_Graph, str], None]] = {
    "linear": lambda g, hint: None,
    "relu": _unary("Relu"), "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"),
    "softplus": _unary("Softplus"), "softsign": _unary("Softsign"),
    "elu": _unary("Elu", alpha=1.0),
    "hard_sigmoid": _unary("HardSigmoid", alpha=0.2, beta=0.5),   # Keras 2's, as here
    "scaled_tanh": _scaled_tanh,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    # (ONNX's Selu defaults are these constants too, rounded to float32 as attributes are)
    "selu": _unary("Selu", alpha=activations.SELU_ALPHA, gamma=activations.SELU_SCALE),
    "celu": _unary("Celu", alpha=1.0),
    "exponential": _unary("Exp"),
    "leaky_relu": _unary("LeakyRelu", alpha=0.2),
    "relu6": _clip(0.0, 6.0),
    "hard_tanh": _clip(-1.0, 1.0),
    "hard_silu": _unary("HardSwish"),   # x * max(0, min(1, x / 6 + 1 / 2)), Keras 3's
    "silu": _times_input(("Sigmoid", {})),
    "mish": _times_input(("Softplus", {}), ("Tanh", {})),
    "gelu": _gelu,
    "log_sigmoid": _log_sigmoid,
    "tanh_shrink": _tanh_shrink,
    "soft_shrink": _unary("Shrink", lambd=0.5, bias=0.5),
    "hard_shrink": _unary("Shrink", lambd=0.5, bias=0.0),
    "squareplus": _squareplus,
    "sparse_plus": _sparse_plus,
    "sparse_sigmoid": _sparse_sigmoid,
    "sparsemax": _sparsemax,
}


def _activation_name(layer: Layer) -> str:
    fn = layer.activation
    name = getattr(fn, "__name__", None)
    if activations.ALL.get(name) is not fn or name not in _ACTIVATIONS:
        raise ValueError(f"export_onnx: layer {layer.name!r} ({type(layer).__name__}) uses the "
                         f"activation {name or fn!r}, which has no ONNX form here; supported: "
                         f"{', '.join(_ACTIVATIONS)}")
    return name


def _activate(g: _Graph, layer: Layer) -> None:
    name = _activation_name(layer)
    _ACTIVATIONS[name](g, f"{layer.name}/{name}")


# ---------------------------------------------------------------- layers

def _dense(g: _Graph, layer: Dense, params: dict, state: dict) -> None:
    g.to_nhwc(layer.name)
    g.op("MatMul", [g.x, g.constant(f"{layer.name}/kernel", params["kernel"])],
         f"{layer.name}/matmul")
    if layer.use_bias:
        g.op("Add", [g.x, g.constant(f"{layer.name}/bias", params["bias"])], f"{layer.name}/add")
    _activate(g, layer)


def _conv2d(g: _Graph, layer: Conv2D, params: dict, state: dict) -> None:
    pads = _spatial_pads(g, effective_size(layer.kernel_size, layer.dilation_rate),
                         layer.strides, layer.padding)
    g.to_nchw(layer.name)
    inputs = [g.x, g.constant(f"{layer.name}/kernel", np.transpose(params["kernel"], (3, 2, 0, 1)))]
    if layer.use_bias:
        inputs.append(g.constant(f"{layer.name}/bias", params["bias"]))
    g.op("Conv", inputs, f"{layer.name}/conv", kernel_shape=list(layer.kernel_size),
         strides=list(layer.strides), pads=pads, dilations=list(layer.dilation_rate))
    _activate(g, layer)


def _spatial_pads(g: _Graph, size: tuple, strides: tuple, padding: str) -> list[int]:
    h, w = g.shape[0], g.shape[1]
    geo = window((1, h, w, g.shape[2]), size, strides, padding)
    return [geo.top, geo.left, geo.bottom, geo.right]


def _max_pool(g: _Graph, layer: MaxPooling2D, params: dict, state: dict) -> None:
    pads = _spatial_pads(g, layer.pool_size, layer.strides, layer.padding)
    g.to_nchw(layer.name)
    g.op("MaxPool", [g.x], layer.name, kernel_shape=list(layer.pool_size),
         strides=list(layer.strides), pads=pads)


def _average_pool(g: _Graph, layer: AveragePooling2D, params: dict, state: dict) -> None:
    pads = _spatial_pads(g, layer.pool_size, layer.strides, layer.padding)
    g.to_nchw(layer.name)
    g.op("AveragePool", [g.x], layer.name, kernel_shape=list(layer.pool_size),
         strides=list(layer.strides), pads=pads, count_include_pad=0)


def _batch_norm(g: _Graph, layer: BatchNormalization, params: dict, state: dict) -> None:
    # inference: gamma (x - mean) / sqrt(var + eps) + beta = x * scale + shift
    mean = state["moving_mean"].astype(np.float64)
    scale = 1.0 / np.sqrt(state["moving_variance"].astype(np.float64) + layer.epsilon)
    if layer.scale:
        scale = scale * params["gamma"]
    shift = -mean * scale + (params["beta"] if layer.center else 0.0)
    (axis,) = full_axes(layer.axis, g.shape, f"BatchNormalization {layer.name!r}")
    if axis != len(g.shape):   # not the channels: in adkit's layout, 1s elsewhere
        g.to_nhwc(layer.name)
        where = [n if a == axis else 1 for a, n in enumerate(g.shape, start=1)]
        scale, shift = scale.reshape(where), shift.reshape(where)
    elif g.channels_first:   # (C,) broadcast over NCHW needs (C, 1, 1)
        scale, shift = scale[:, None, None], shift[:, None, None]
    g.op("Mul", [g.x, g.constant(f"{layer.name}/scale", scale)], f"{layer.name}/mul")
    g.op("Add", [g.x, g.constant(f"{layer.name}/shift", shift)], f"{layer.name}/add")


def _flatten(g: _Graph, layer: Flatten, params: dict, state: dict) -> None:
    g.to_nhwc(layer.name)
    g.op("Flatten", [g.x], layer.name, axis=1)


def _reshape(g: _Graph, layer: Reshape, params: dict, state: dict) -> None:
    g.to_nhwc(layer.name)
    shape = g.constant(f"{layer.name}/shape", [0, *layer.target_shape], dtype=np.int64)
    g.op("Reshape", [g.x, shape], layer.name)


def _dropout(g: _Graph, layer: Dropout, params: dict, state: dict) -> None:
    pass   # inference


def _activation(g: _Graph, layer: Activation, params: dict, state: dict) -> None:
    _activate(g, layer)


def _refuse(layer: Layer, why: str) -> ValueError:
    return ValueError(f"export_onnx: layer {layer.name!r} ({type(layer).__name__}) {why}")


def _relu_layer(g: _Graph, layer: ReLU, params: dict, state: dict) -> None:
    hint = layer.name
    if layer.threshold != 0.0 or (layer.negative_slope != 0.0 and layer.max_value is not None):
        raise _refuse(layer, "has no ONNX form here with a threshold, or with both "
                      "negative_slope and max_value; export ReLU with one of max_value and "
                      "negative_slope")
    if layer.negative_slope != 0.0:
        g.op("LeakyRelu", [g.x], hint, alpha=layer.negative_slope)
    elif layer.max_value is not None:
        _clip(0.0, layer.max_value)(g, hint)
    else:
        g.op("Relu", [g.x], hint)


def _leaky_relu_layer(g: _Graph, layer: LeakyReLU, params: dict, state: dict) -> None:
    g.op("LeakyRelu", [g.x], layer.name, alpha=layer.negative_slope)


def _elu_layer(g: _Graph, layer: ELU, params: dict, state: dict) -> None:
    g.op("Elu", [g.x], layer.name, alpha=layer.alpha)


def _prelu_layer(g: _Graph, layer: PReLU, params: dict, state: dict) -> None:
    g.to_nhwc(layer.name)   # alpha has the channels-last shape of one example
    g.op("PRelu", [g.x, g.constant(f"{layer.name}/alpha", params["alpha"])], layer.name)


def _softmax_layer(g: _Graph, layer: Softmax, params: dict, state: dict) -> None:
    axes = full_axes(layer.axis, g.shape, f"Softmax {layer.name!r}")
    if len(axes) != 1:
        raise _refuse(layer, f"normalises over several axes {layer.axis}, which ONNX's "
                      "Softmax does not; export a Softmax over one axis")
    g.to_nhwc(layer.name)
    g.op("Softmax", [g.x], layer.name, axis=axes[0])


def _layer_norm(g: _Graph, layer: LayerNormalization, params: dict, state: dict) -> None:
    if layer.rms_scaling:
        raise _refuse(layer, "uses Keras's deprecated rms_scaling=True, which has no ONNX "
                      "form here; use RMSNormalization")
    axes = full_axes(layer.axis, g.shape, f"LayerNormalization {layer.name!r}")
    g.to_nhwc(layer.name)
    shape = tuple(g.shape[a - 1] for a in axes)
    gamma = params["gamma"] if layer.scale else np.ones(shape)
    beta = params["beta"] if layer.center else np.zeros(shape)
    if axes == tuple(range(axes[0], len(g.shape) + 1)):   # trailing axes: ONNX's own op
        g.op("LayerNormalization", [g.x, g.constant(f"{layer.name}/gamma", gamma),
                                    g.constant(f"{layer.name}/beta", beta)],
             layer.name, axis=axes[0], epsilon=layer.epsilon)
        return
    _standardise(g, axes, layer.epsilon, layer.name)
    where = [g.shape[a - 1] if a in axes else 1 for a in range(1, len(g.shape) + 1)]
    g.op("Mul", [g.x, g.constant(f"{layer.name}/gamma", gamma.reshape(where))],
         f"{layer.name}/scale")
    g.op("Add", [g.x, g.constant(f"{layer.name}/beta", beta.reshape(where))], layer.name)


def _standardise(g: _Graph, axes: tuple, epsilon: float, hint: str) -> None:
    """(x - mean) / sqrt(var + epsilon) of the current tensor over `axes` (batch first)."""
    x = g.x
    mean = g.op("ReduceMean", [x], f"{hint}/mean", axes=list(axes), keepdims=1)
    centred = g.op("Sub", [x, mean], f"{hint}/centred")
    g.op("Mul", [centred, centred], f"{hint}/square")
    g.op("ReduceMean", [g.x], f"{hint}/variance", axes=list(axes), keepdims=1)
    g.op("Add", [g.x, g.constant(f"{hint}/epsilon", epsilon)], f"{hint}/add_epsilon")
    g.op("Sqrt", [g.x], f"{hint}/std")
    g.op("Div", [centred, g.x], f"{hint}/standardised")


def _group_norm(g: _Graph, layer: GroupNormalization, params: dict, state: dict) -> None:
    (axis,) = full_axes(layer.axis, g.shape, f"GroupNormalization {layer.name!r}")
    if axis != len(g.shape):
        raise _refuse(layer, f"groups axis {layer.axis}, not the channels (last) one, which "
                      "is the one exported here")
    g.to_nhwc(layer.name)
    channels = int(g.shape[-1])
    groups = channels if layer.groups == -1 else layer.groups
    # (batch, everything else, groups, channels per group), standardised over axes 1 and 3
    grouped = g.constant(f"{layer.name}/grouped_shape", [0, -1, groups, channels // groups],
                         dtype=np.int64)
    g.op("Reshape", [g.x, grouped], f"{layer.name}/grouped")
    _standardise(g, (1, 3), layer.epsilon, layer.name)
    back = g.constant(f"{layer.name}/shape", [0, *g.shape], dtype=np.int64)
    g.op("Reshape", [g.x, back], f"{layer.name}/ungrouped")
    if layer.scale:
        g.op("Mul", [g.x, g.constant(f"{layer.name}/gamma", params["gamma"])],
             f"{layer.name}/scale")
    if layer.center:
        g.op("Add", [g.x, g.constant(f"{layer.name}/beta", params["beta"])],
             f"{layer.name}/shift")


def _reduce_over(g: _Graph, layer: Layer, op_type: str, hint: str) -> tuple[str, tuple]:
    """op_type (ReduceMean, ReduceSumSquare) of the current tensor over the layer's axes,
    kept; (its name, the axes)."""
    axes = full_axes(layer.axis, g.shape, f"{type(layer).__name__} {layer.name!r}")
    return g.op(op_type, [g.x], hint, axes=list(axes), keepdims=1), axes


def _rms_norm(g: _Graph, layer: RMSNormalization, params: dict, state: dict) -> None:
    g.to_nhwc(layer.name)
    x = g.x
    g.op("Mul", [x, x], f"{layer.name}/square")
    _, axes = _reduce_over(g, layer, "ReduceMean", f"{layer.name}/mean_square")
    g.op("Add", [g.x, g.constant(f"{layer.name}/epsilon", layer.epsilon)], f"{layer.name}/add")
    g.op("Sqrt", [g.x], f"{layer.name}/rms")
    g.op("Div", [x, g.x], f"{layer.name}/normalised")
    where = [g.shape[a - 1] if a in axes else 1 for a in range(1, len(g.shape) + 1)]
    scale = np.reshape(params["scale"], where)
    g.op("Mul", [g.x, g.constant(f"{layer.name}/scale", scale)], layer.name)


def _unit_norm(g: _Graph, layer: UnitNormalization, params: dict, state: dict) -> None:
    g.to_nhwc(layer.name)
    x = g.x
    _reduce_over(g, layer, "ReduceSumSquare", f"{layer.name}/sum_square")
    g.op("Max", [g.x, g.constant(f"{layer.name}/floor", 1e-24)], f"{layer.name}/floor")
    g.op("Sqrt", [g.x], f"{layer.name}/norm")
    g.op("Div", [x, g.x], layer.name)


#: the layers export_onnx writes, by class name (a subclass may compute something else,
#: so it is not taken for its base; Keras's own keys are class names too), and how
SUPPORTED: dict[str, Callable] = {
    "Dense": _dense, "Conv2D": _conv2d, "MaxPooling2D": _max_pool,
    "AveragePooling2D": _average_pool, "BatchNormalization": _batch_norm, "Flatten": _flatten,
    "Reshape": _reshape, "Dropout": _dropout, "Activation": _activation,
    "ReLU": _relu_layer, "LeakyReLU": _leaky_relu_layer, "ELU": _elu_layer,
    "PReLU": _prelu_layer, "Softmax": _softmax_layer, "LayerNormalization": _layer_norm,
    "RMSNormalization": _rms_norm, "UnitNormalization": _unit_norm,
    "GroupNormalization": _group_norm,
}
# what predict does with these in inference: nothing (noise and penalties act in training)
SUPPORTED.update(dict.fromkeys(
    ("GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
     "SpatialDropout2D", "SpatialDropout3D", "ActivityRegularization", "Identity"), _dropout))
# likewise the image augmentations (RandomCrop resizes in inference: not among them)
SUPPORTED.update(dict.fromkeys(
    ("RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast",
     "RandomBrightness"), _dropout))


def _writer(layer: Layer) -> Callable:
    kind = type(layer).__name__
    writer = SUPPORTED.get(kind)
    if writer is None:
        raise ValueError(f"export_onnx: layer {layer.name!r} ({kind}) has no ONNX export "
                         f"yet; exportable layers: {', '.join(sorted(SUPPORTED))}")
    if hasattr(layer, "activation") and not isinstance(layer, Softmax):   # its own axis
        _activation_name(layer)
    return writer


def _dims(shape: tuple) -> list:
    """ONNX dims of (batch, *shape): the batch axis and unknown lengths symbolic."""
    return ["batch"] + [f"dim{i + 1}" if d is None else int(d) for i, d in enumerate(shape)]


def export_onnx(model: Any, path: str | os.PathLike) -> None:
    """Write `model` (a built Sequential of the SUPPORTED layers) as an ONNX file at
    `path`, atomically; the graph takes "input" of shape model.input_shape (batch axis first)
    and gives "output", what model.predict gives.

    >>> import tempfile, os; from adkit.nn import Sequential; from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(2, activation="relu", input_shape=(3,))], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> model.export_onnx(path); os.path.getsize(path) > 0
    True
    """
    onnx = _onnx()
    model._require_built("export_onnx")
    writers = [_writer(layer) for layer in model.layers]   # refuse before writing anything
    dtype = np.dtype(model.layers[0].dtype)
    shape = tuple(model.example_input_shape)
    g = _Graph(onnx, dtype, shape)
    g.names.add("input")
    for layer, write in zip(model.layers, writers):
        write(g, layer, model.params[layer.name], model.state.get(layer.name, {}))
        g.shape = tuple(layer.compute_output_shape(g.shape))
    g.to_nhwc("output")
    g.op("Identity", [g.x], "output")
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    graph = onnx.helper.make_graph(
        g.nodes, str(getattr(model, "name", "model")),
        [onnx.helper.make_tensor_value_info("input", elem, _dims(shape))],
        [onnx.helper.make_tensor_value_info("output", elem, _dims(g.shape))],
        initializer=g.initializers)
    _write_checked(onnx, graph, path)


def _write_checked(onnx: Any, graph: Any, path: str | os.PathLike) -> None:
    """Wrap a graph in a model of adkit's opset and IR version, check it with onnx's full
    checker, and write it atomically (nothing is written for a graph the checker refuses)."""
    proto = onnx.helper.make_model(graph, producer_name="adkit.nn",
                                   opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    with atomic_write(path, "wb") as f:
        f.write(proto.SerializeToString())
