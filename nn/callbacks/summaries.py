"""What the TensorBoard callback records, as plain functions of a model: histograms
of its weights, of the loss's gradients and of each layer's output, and reading
back the JSON lines summaries it writes.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

import adkit

from ..layers.base import Context

JSONL = "summaries.jsonl"


def histogram(values: Any, bins: int = 30) -> dict[str, Any]:
    """Bin edges and counts (np.histogram) of the finite entries of `values`, with their
    min, max, mean and std, the entry count `size` and how many were nan or inf.

    >>> h = histogram(np.array([0.0, 1.0, 1.0, np.nan]), bins=2)
    >>> h["counts"], h["edges"], h["nonfinite"]
    ([1, 2], [0.0, 0.5, 1.0], 1)
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        counts, edges = np.zeros(bins, np.int64), np.linspace(0.0, 1.0, bins + 1)
        stats = dict.fromkeys(("min", "max", "mean", "std"), None)
    else:
        counts, edges = np.histogram(finite, bins=bins)
        stats = {"min": float(finite.min()), "max": float(finite.max()),
                 "mean": float(finite.mean()), "std": float(finite.std())}
    return {"edges": edges.tolist(), "counts": counts.tolist(), **stats,
            "size": int(flat.size), "nonfinite": int(flat.size - finite.size)}


def _walk(tree: dict, prefix: str) -> list[tuple[str, np.ndarray]]:
    """(prefix/key/..., array) for each array of a nested dict of parameters."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _walk(value, f"{prefix}/{key}")
        else:
            out.append((f"{prefix}/{key}", np.asarray(value)))
    return out


def weights(model: Any) -> dict[str, np.ndarray]:
    """"layer/param" -> array for every parameter of the model (model.params).

    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> sorted(weights(Sequential([Dense(2, input_shape=(3,), name="d")])))
    ['d/bias', 'd/kernel']
    """
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        out.update(_walk(model.params[layer.name], layer.name))
    return out


def loss_gradients(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """"layer/param" -> d loss / d param on the batch (x, y), for each trainable layer.

    The loss is model.loss_fn (mean loss plus weight penalties) in inference mode,
    dropout off, at the current parameters: `adkit.value_and_grad` of it, exactly
    as a training step takes it but without the step's random dropout mask.
    """
    step = adkit.value_and_grad(model.loss_fn, has_aux=True)
    (_, _), grads = step(model.params, x, y, None, False)
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        if layer.trainable:
            out.update(_walk(grads[layer.name], layer.name))
    return out


def layer_activations(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """layer name -> that layer's output on x, running model.layers one at a time in
    inference mode (what model.apply does, keeping every intermediate)."""
    out: dict[str, np.ndarray] = {}
    if hasattr(model, "layer_outputs"):   # a graph (adkit.nn.Model) runs its own nodes
        for name, parts in model.layer_outputs(x).items():
            out[name] = np.concatenate([np.asarray(p).ravel() for p in parts])
        return out
    ctx = Context(training=False, rng=None, state=model.state)
    for layer in model.layers:
        x = layer.call(model.params[layer.name], x, ctx)
        parts = x if isinstance(x, (tuple, list)) else (x,)
        out[layer.name] = np.concatenate([np.asarray(p).ravel() for p in parts])
    return out


def read_summaries(log_dir: str | os.PathLike) -> list[dict]:
    """The records of log_dir/summaries.jsonl, one dict per epoch, in epoch order."""
    with open(os.path.join(os.fspath(log_dir), JSONL)) as f:
        return [json.loads(line) for line in f if line.strip()]
