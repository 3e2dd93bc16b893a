"""The Keras masks of a model's outputs for one batch, for the compiled metrics: Keras
hands an output's mask (from Masking or Embedding(mask_zero=True) upstream) to its
metrics, and the metrics that average one value per example or step (MeanMetricWrapper:
the accuracies, mae, mse, ...) weigh the masked steps 0. The threshold metrics
(Precision, Recall, AUC, the confusion counts, F-scores) ignore masks, as Keras's do.

The masks come from an inference-mode forward pass, run only for models that make
masks (so a plain model pays nothing); a compiled training step replays a program that
does not hand them out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layers.context import Context
from .layers.fusion import apply_layers
from .layers.masking import Masking


def _all_layers(model: Any) -> list:
    found, todo = [], list(getattr(model, "layers", []))
    while todo:
        layer = todo.pop()
        found.append(layer)
        todo.extend(getattr(layer, "layers", []) or [])
        inner = getattr(layer, "model", None)
        if inner is not None:
            todo.extend(getattr(inner, "layers", []) or [])
    return found


def makes_masks(model: Any) -> bool:
    """Whether some layer of the model (nested models included) starts a Keras mask."""
    # by class name: the doctests import this package a second time, as `nn`
    return any(any(c.__name__ == Masking.__name__ for c in type(layer).__mro__)
               or getattr(layer, "mask_zero", False) is True for layer in _all_layers(model))


def output_masks(model: Any, params: dict, x: Any) -> list | None:
    """The mask of each model output for the batch x (None for an output without one),
    or None when no output has a mask.

    >>> import adkit.nn as keras
    >>> m = keras.Sequential([keras.Input((3, 1)), keras.layers.Masking(), keras.layers.Dense(1)])
    >>> output_masks(m, m.params, np.array([[[1.0], [0.0], [2.0]]]))[0]
    array([[ True, False,  True]])
    """
    if not makes_masks(model):
        return None
    ctx = Context(training=False, rng=None, state=model.state)
    forward = getattr(model, "_forward", None)
    if forward is not None:
        forward(params, x, ctx, logits=False)
    else:
        apply_layers(model.layers, params, x, ctx)
    masks = [None if m is None else np.asarray(m, dtype=bool) for m in ctx.output_masks]
    return None if all(m is None for m in masks) else masks
