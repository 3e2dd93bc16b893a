"""A stack of layers applied in order, with runs of a CNN's layers computed as one.

Keras's convolutional examples spell a block as Conv2D, Activation("relu"),
MaxPooling2D, three layers whose outputs are each a full pass over the largest
arrays of the network. Applied as a stack, two runs are rewritten; each gives the
same values, bit for bit, and the same derivatives as the layers one by one:

- a Conv2D without an activation of its own, then Activation("relu"): the relu is
  applied in the convolution's own pass over its output (conv2d(..., activation="relu")).
- a relu (Conv2D's own, or an Activation after it), then MaxPooling2D: the pooling
  comes first and the relu after it, on an output a window's size smaller. relu is
  non-decreasing, so the largest entry of a window is the same either way; the
  gradient of a window goes to its first largest entry, and where that entry is not
  positive relu's derivative zeroes it in both orders.

For the textbook CNN's second block, (128, 24, 24, 32) float32, that leaves out the
relu's pass over 9.4 MB and its derivative's over 28 MB, for passes over 2.4 and 7 MB.
The layers, their parameters and weight files are unchanged; only the order of the
operations differs.

    >>> block = [Conv2D(2, 3, name="c"), Activation("relu"), MaxPooling2D()]
    >>> [type(layer).__name__ for layer in runs(block)[0]]
    ['Conv2D', 'Activation', 'MaxPooling2D']
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import activations, backend
from .base import Context, Layer
from .conv import Conv2D, MaxPooling2D
from .core import Activation
from .masking import call_masked

__all__ = ["apply_layers", "runs"]


def _is_relu_layer(layer: Layer) -> bool:
    return type(layer) is Activation and layer.activation is activations.relu


def _relu_run(layers: Sequence[Layer], i: int) -> int:
    """How many layers from i on form a Conv2D whose output goes through a relu:
    1 (Conv2D(activation="relu")), 2 (Conv2D, Activation("relu")) or 0 (neither)."""
    conv = layers[i]
    if type(conv) is not Conv2D:
        return 0
    if conv.activation is activations.relu:
        return 1
    if (conv.activation is activations.linear and i + 1 < len(layers)
            and _is_relu_layer(layers[i + 1])):
        return 2
    return 0


def runs(layers: Sequence[Layer]) -> list[tuple[Layer, ...]]:
    """The layers grouped as apply_layers computes them: a fused run is one tuple of
    several layers, every other layer a tuple of its own."""
    groups, i = [], 0
    while i < len(layers):
        n = _relu_run(layers, i)
        if n and i + n < len(layers) and type(layers[i + n]) is MaxPooling2D:
            n += 1
        groups.append(tuple(layers[i:i + max(n, 1)]))
        i += max(n, 1)
    return groups


def _fused(group: tuple, params: dict, x: Any, ctx: Context) -> Any:
    conv = group[0]
    if type(group[-1]) is MaxPooling2D:
        pooled = group[-1].call(params[group[-1].name], conv.convolve(params[conv.name], x), ctx)
        return backend.relu(pooled)
    return conv.convolve(params[conv.name], x, activation="relu")


def apply_layers(layers: Sequence[Layer], params: dict, x: Any, ctx: Context,
                 logits: bool = False) -> Any:
    """x through every layer in order (a Sequential's forward pass), fused runs as one;
    logits=True stops before the last layer's activation (which no run then takes in).
    A Keras mask (Masking, Embedding(mask_zero=True)) goes along (nn/layers/masking.py)."""
    done = 0
    mask = None
    for group in runs(layers):
        done += len(group)
        if len(group) > 1 and not (logits and done == len(layers)):
            x, mask = _fused(group, params, x, ctx), None
            continue
        for i, layer in enumerate(group, done - len(group)):
            if logits and i == len(layers) - 1:
                x = layer.pre_activation(params[layer.name], x, ctx)
            else:
                x, mask = call_masked(layer, params[layer.name], x, ctx, mask)
    ctx.output_masks = [mask]
    return x
