"""Keras's masks: which time steps of a sequence are padding, carried along a model.

A mask is a (batch, timesteps) boolean array, True at the steps that count. It is
made by `Masking(mask_value)` (steps whose every feature equals mask_value) or by
`Embedding(mask_zero=True)` (index 0), and travels with the tensor through the
layers Keras lets it pass (Dense, Dropout, Activation, normalisations,
TimeDistributed, ...: `passes_mask`). Recurrent layers use it (a masked step keeps
the previous state and output, nn/layers/recurrent.py) and hand it on only when they
return sequences; merges (Add, Concatenate, ...) combine their inputs' masks with
AND. Any other layer ends it, as in Keras.

The forward passes of Sequential (nn/layers/fusion.py) and of the functional Model
call each layer through `call_masked`, which gives a layer the mask when it has a
`mask` argument (`takes_mask`) and returns the mask of its output. With no mask
made anywhere, nothing changes: the mask stays None and each layer is called as
before.

>>> import numpy as np
>>> Masking(mask_value=0.0).compute_mask(np.array([[[1.0], [0.0], [2.0]]]), None)
array([[ True, False,  True]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Context, Layer, Shape

#: layers whose output keeps its input's mask (Keras's supports_masking with the default
#: compute_mask), by class name: a subclass may change the time axis, so it is not taken
PASS_MASK = frozenset({
    "Dense", "Activation", "Dropout", "BatchNormalization", "LayerNormalization",
    "GroupNormalization", "UnitNormalization", "Rescaling", "TimeDistributed",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "Softmax", "ReLU", "LeakyReLU", "PReLU", "ELU", "Identity"})

#: merges whose output mask is the AND of their inputs' masks (Keras's base merge)
MERGE_MASK = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                        "Concatenate"})


class Masking(Layer):
    """Marks as padding every time step whose features all equal mask_value: those
    steps become zeros, and the layers after it that use masks skip them (recurrent
    layers carry their state over them). Input (batch, timesteps, features)."""

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise TypeError(f"Masking {self.name!r}: mask_value must be a number, got "
                            f"{mask_value!r}")
        self.mask_value = float(mask_value)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise self.shape_error(input_shape, "(timesteps, features): a sequence of "
                                   "feature vectors")
        return tuple(input_shape)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """(batch, timesteps): True where some feature differs from mask_value."""
        return np.any(x != self.mask_value, axis=-1)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        keep = np.any(x != self.mask_value, axis=-1, keepdims=True)
        return np.where(keep, x, np.zeros((), x.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}


def takes_mask(layer: Layer) -> bool:
    """Whether the layer's call has a `mask` argument (recurrent layers, Bidirectional)."""
    return bool(getattr(layer, "takes_mask", False))


def output_mask(layer: Layer, x: Any, mask: Any) -> Any:
    """The mask of the layer's output, given its input x and the input's mask (a list of
    masks for a list of inputs), as Keras computes it."""
    compute = getattr(layer, "compute_mask", None)
    if compute is not None:
        return compute(x, mask)
    kind = type(layer).__name__
    # a layer written as Keras code says so itself (self.supports_masking = True)
    if kind in PASS_MASK or getattr(layer, "supports_masking", False) is True:
        return mask
    if kind in MERGE_MASK and isinstance(mask, list):
        present = [m for m in mask if m is not None]
        if not present:
            return None
        combined = present[0]
        for m in present[1:]:
            combined = combined & m
        return combined
    return None


def has_mask(mask: Any) -> bool:
    """Whether a mask, or any mask in a list of them, is given."""
    if isinstance(mask, list):
        return any(m is not None for m in mask)
    return mask is not None


def call_masked(layer: Layer, params: dict, x: Any, ctx: Context, mask: Any,
                options: dict | None = None) -> tuple[Any, Any]:
    """(the layer's output, its mask): the layer called with the input's mask where it
    takes one. A layer that makes masks (compute_mask) is asked even with no mask in."""
    options = options or {}
    if has_mask(mask) and takes_mask(layer):
        y = layer.call(params, x, ctx, mask=mask, **options)
    else:
        y = layer.call(params, x, ctx, **options)
    if not has_mask(mask) and getattr(layer, "compute_mask", None) is None:
        return y, None
    return y, output_mask(layer, x, mask)
