"""Keras's Attention (Luong-style, dot-product) and AdditiveAttention (Bahdanau-style).

Both are called on a list [query, value] or [query, value, key] (key defaults to
value), query (batch, Tq, dim), value (batch, Tv, dv), key (batch, Tv, dim):

    scores  = query @ key^T                          Attention, score_mode="dot"
            * scale                                  (use_scale: one weight, starts at 1)
    scores  = w * sum(tanh(scale * (q_i + k_j)))     Attention, score_mode="concat"
    scores  = sum(scale * tanh(q_i + k_j))           AdditiveAttention (scale: (dim,))
    weights = softmax(scores) over Tv, masked steps lowered by 1e9 first
    output  = weights @ value                        (batch, Tq, dv)

mask=[query_mask, value_mask] (each (batch, T) booleans, either may be None): value
steps that are masked get no weight; query steps that are masked give zeros. Without
mask=, the Keras masks of query and value (Embedding(mask_zero=True), Masking; see
masking.py) serve, as in Keras.
use_causal_mask=True lets query step i see key steps j <= i only. As in Keras, a
query step whose every key step is masked spreads its weight as if none were.

>>> import numpy as np
>>> q, v = np.zeros((1, 2, 3)), np.arange(6.0).reshape(1, 2, 3)
>>> Attention()([q, v])   # all scores 0: the mean of the value steps
array([[[1.5, 2.5, 3.5],
        [1.5, 2.5, 3.5]]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations, backend
from .attention import causal_mask
from .base import Context, Layer, Shape, ShapeError
from .nodes import call_layer

SCORE_MODES = ("dot", "concat")


class _ScoreAttention(Layer):
    """What Attention and AdditiveAttention share: inputs, masks and the weighted sum."""

    def __init__(self, use_scale: bool, dropout: float = 0.0, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__} {self.name!r}: dropout must be in [0, 1), "
                             f"got {dropout!r}")
        self.use_scale = bool(use_scale)
        self.dropout = float(dropout)
        self.seed = seed

    def __call__(self, inputs: Any, mask: Any = None, training: bool | None = None,
                 return_attention_scores: bool = False, use_causal_mask: bool = False) -> Any:
        """layer([query, value]) or layer([query, value, key], mask=[query_mask,
        value_mask]): on KerasTensors a node of a functional graph, on arrays the output
        (and the attention weights with return_attention_scores=True)."""
        kind = f"{type(self).__name__} {self.name!r}"
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError(f"{kind} is called on a list [query, value] or [query, value, "
                             f"key], got {type(inputs).__name__}"
                             + (f" of {len(inputs)}" if isinstance(inputs, (list, tuple))
                                else ""))
        tensors = list(inputs)
        options: dict = {}
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
                raise ValueError(f"{kind}: mask is a list [query_mask, value_mask], got "
                                 f"{mask!r}")
            if len(tensors) == 2:
                tensors.append(tensors[1])   # the key, so the masks have fixed places
            for name, m in zip(("query_mask", "value_mask"), mask):
                if m is not None:
                    tensors.append(m)
                    options[name] = True
        if use_causal_mask:
            options["use_causal_mask"] = True
        if return_attention_scores:
            options["return_attention_scores"] = True
        return call_layer(self, tensors, training, options)

    # --- shapes --------------------------------------------------------------------------
    def _shapes(self, input_shapes: Any, query_mask: bool, value_mask: bool) -> list:
        """[query, value, key, query mask or None, value mask or None] shapes, checked."""
        kind = f"layer {self.name!r} ({type(self).__name__})"
        masks = int(query_mask) + int(value_mask)
        if not isinstance(input_shapes, list) or not 2 <= len(input_shapes) - masks <= 3 \
                or (masks and len(input_shapes) - masks != 3):
            raise ShapeError(f"{kind} is called on a list [query, value] or [query, value, "
                             "key] in a functional model (it cannot be a layer of a "
                             "Sequential)")
        shapes = [tuple(s) for s in input_shapes]
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) - masks == 3 else value
        rest = iter(shapes[len(shapes) - masks:])
        q_mask = next(rest) if query_mask else None
        v_mask = next(rest) if value_mask else None
        for name, s in (("query", query), ("value", value), ("key", key)):
            if len(s) != 2 or s[-1] is None:
                raise ShapeError(f"{kind}: {name} must be (batch, steps, features) with known "
                                 f"features, got shape {(None,) + s}")
        if not _agree(value[0], key[0]):
            raise ShapeError(f"{kind}: value and key must have the same number of steps, got "
                             f"shapes {(None,) + value} and {(None,) + key}")
        if query[-1] != key[-1]:
            raise ShapeError(f"{kind}: query and key must have the same number of features "
                             f"(their scores combine them), got shapes {(None,) + query} and "
                             f"{(None,) + key}")
        for name, m, steps in (("query_mask", q_mask, query[0]),
                               ("value_mask", v_mask, value[0])):
            if m is not None and (len(m) != 1 or not _agree(m[0], steps)):
                raise ShapeError(f"{kind}: {name} must be (batch, {steps}), got "
                                 f"{(None,) + m}")
        return [query, value, key, q_mask, v_mask]

    def compute_output_shape(self, input_shapes: Any, query_mask: bool = False,
                             value_mask: bool = False, use_causal_mask: bool = False,
                             return_attention_scores: bool = False) -> Any:
        query, value, key, _, _ = self._shapes(input_shapes, query_mask, value_mask)
        out = (query[0], value[-1])
        return [out, (query[0], key[0])] if return_attention_scores else out

    # --- the forward pass ----------------------------------------------------------------
    takes_mask = True   # the Keras masks of query and value (nn/layers/masking.py)

    def call(self, params: dict, x: Any, ctx: Context, query_mask: bool = False,
             value_mask: bool = False, use_causal_mask: bool = False,
             return_attention_scores: bool = False, mask: Any = None) -> Any:
        if not isinstance(x, (list, tuple)):
            raise ShapeError(f"layer {self.name!r} ({type(self).__name__}) is called on a list "
                             "[query, value] or [query, value, key] (it cannot be a layer of "
                             "a Sequential)")
        xs = [a if hasattr(a, "shape") else np.asarray(a) for a in x]
        self._shapes([tuple(a.shape[1:]) for a in xs], query_mask, value_mask)
        masks = int(query_mask) + int(value_mask)
        query, value = xs[0], xs[1]
        key = xs[2] if len(xs) - masks == 3 else value
        rest = iter(xs[len(xs) - masks:])
        q_mask = (next(rest) != 0) if query_mask else _keras_mask(mask, 0)
        v_mask = (next(rest) != 0) if value_mask else _keras_mask(mask, 1)
        if v_mask is not None:
            v_mask = v_mask[:, None, :]
        scores = self.scores(params, query, key)
        allowed = v_mask
        if use_causal_mask:
            causal = causal_mask(query.shape[1], key.shape[1])
            allowed = causal if allowed is None else allowed & causal
        if allowed is not None:
            lowered = 65504.0 if scores.dtype == np.float16 else 1.0e9
            scores = np.where(allowed, scores, scores - np.asarray(lowered, scores.dtype))
        weights = activations.softmax(scores, axis=-1)
        if ctx.training and self.dropout > 0.0:
            weights = backend.dropout(weights, self.dropout,
                                      ctx.random(f"{type(self).__name__} {self.name!r}"))
        output = weights @ value
        if q_mask is not None:
            output = np.where(q_mask[:, :, None], output, np.zeros((), output.dtype))
        return [output, weights] if return_attention_scores else output

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The query's Keras mask, as Keras hands it on."""
        return _keras_mask(mask, 0)

    def scores(self, params: dict, query: Any, key: Any) -> Any:
        """(batch, Tq, Tv) scores of every query step against every key step."""
        raise NotImplementedError(f"{type(self).__name__} must define scores(params, query, "
                                  "key): the (batch, Tq, Tv) attention scores")

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout,
                "seed": self.seed}


def _keras_mask(masks: Any, i: int) -> Any:
    """The Keras mask (from Embedding(mask_zero=True) or Masking) of input i, or None."""
    return masks[i] if isinstance(masks, list) and len(masks) > i else None


def _agree(a: Any, b: Any) -> bool:
    return a is None or b is None or a == b


class Attention(_ScoreAttention):
    """Dot-product attention, Keras's Attention layer: scores query @ key^T (times a
    learned scalar with use_scale=True), or with score_mode="concat" a learned scalar
    times sum(tanh(scale * (q + k))) over features. Weights (Keras's order): scale,
    concat_score_weight, each of shape () and starting at 1, when present."""

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(use_scale, dropout=dropout, seed=seed, **kwargs)
        if score_mode not in SCORE_MODES:
            raise ValueError(f"Attention {self.name!r}: score_mode must be one of "
                             f"{SCORE_MODES}, got {score_mode!r}")
        self.score_mode = score_mode

    def init_params(self, rng: np.random.Generator, input_shape: Any) -> dict:
        params = {}
        if self.use_scale:
            params["scale"] = np.ones((), self.dtype)
        if self.score_mode == "concat":
            params["concat_score_weight"] = np.ones((), self.dtype)
        return params

    def scores(self, params: dict, query: Any, key: Any) -> Any:
        if self.score_mode == "dot":
            s = query @ np.swapaxes(key, -2, -1)
            return s * params["scale"] if self.use_scale else s
        pairs = query[:, :, None, :] + key[:, None, :, :]
        if self.use_scale:
            pairs = params["scale"] * pairs
        return params["concat_score_weight"] * np.sum(np.tanh(pairs), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "score_mode": self.score_mode}


class AdditiveAttention(_ScoreAttention):
    """Additive attention, Keras's AdditiveAttention layer: scores sum(scale *
    tanh(q + k)) over features, scale a learned (dim,) vector (glorot_uniform) with
    use_scale=True (the default), else 1."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(use_scale, dropout=dropout, seed=seed, **kwargs)

    def init_params(self, rng: np.random.Generator, input_shape: Any) -> dict:
        if not self.use_scale:
            return {}
        return {"scale": self._weight(rng, "glorot_uniform", (input_shape[0][-1],))}

    def scores(self, params: dict, query: Any, key: Any) -> Any:
        t = np.tanh(query[:, :, None, :] + key[:, None, :, :])
        return np.sum(params["scale"] * t if self.use_scale else t, axis=-1)
