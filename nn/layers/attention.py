"""Keras's MultiHeadAttention: scaled dot-product attention over several heads
(Vaswani et al. 2017), with Keras's weights, so weights interchange.

For query (batch, T, dq), value (batch, S, dv) and key (batch, S, dk) (key defaults
to value), each head n projects them, attends and the heads are projected back:

    Q_n = query @ Wq[:, n] + bq[n]     (T, key_dim)      Wq: (dq, heads, key_dim)
    K_n = key   @ Wk[:, n] + bk[n]     (S, key_dim)      Wk: (dk, heads, key_dim)
    V_n = value @ Wv[:, n] + bv[n]     (S, value_dim)    Wv: (dv, heads, value_dim)
    A_n = softmax(Q_n K_n^T / sqrt(key_dim))  over S, masked entries left out
    out = sum_n (A_n V_n) @ Wo[n] + bo                   Wo: (heads, value_dim, dq)

A layer called on several tensors and keyword arguments records them as one node
of a functional graph: its tensor inputs as the list [query, value, key,
attention_mask] (key repeated as value when only a mask is given), the flags
(use_causal_mask, return_attention_scores) as the node's call options, which a
saved model keeps (nn/layers/nodes.py). Keras masks on the inputs (from
Embedding(mask_zero=True) or Masking, nn/layers/masking.py) join attention_mask as in
Keras: a padded query or key step attends to nothing / is attended by nothing, and
the output carries the query's mask.

>>> import numpy as np
>>> from adkit.nn import Input, Model
>>> from adkit.nn.layers import MultiHeadAttention
>>> x = Input(shape=(5, 8))
>>> model = Model(x, MultiHeadAttention(num_heads=2, key_dim=3)(x, x), seed=0)
>>> model.count_params(), model.predict(np.ones((1, 5, 8), np.float32)).shape
(218, (1, 5, 8))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations, backend
from .. import constraints as constraints_module
from .. import regularizers as regularizers_module
from .base import Context, Layer, Shape, ShapeError
from .nodes import call_layer

#: the projections, in Keras's weight order, and the group Keras's .weights.h5 keeps each in
PROJECTIONS = {"query": "query_dense", "key": "key_dense", "value": "value_dense",
               "attention_output": "output_dense"}


def _positive_int(value: Any, what: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{who}: {what} must be a positive int, got {value!r}")
    return int(value)


def large_negative(dtype: Any) -> float:
    """What Keras's Softmax puts in masked entries before normalising (-1e9, or -3e4 in
    float16, whose range ends at 65504)."""
    return -3e4 if np.dtype(dtype) == np.float16 else -1e9


def masked_softmax(scores: Any, mask: Any, zero_masked: bool = True) -> Any:
    """softmax over the last axis with the entries where mask is False left out:
    masked scores become a large negative number. zero_masked: their weights are zeroed
    afterwards, as Keras's Softmax layer does (a row masked entirely is all zeros);
    else a row masked entirely spreads its weight evenly, as the fused dot-product
    attention Keras's MultiHeadAttention calls when it returns no scores."""
    if mask is None:
        return activations.softmax(scores, axis=-1)
    weights = activations.softmax(np.where(mask, scores, large_negative(scores.dtype)),
                                  axis=-1)
    return np.where(mask, weights, np.zeros((), weights.dtype)) if zero_masked else weights


def causal_mask(t: int, s: int) -> np.ndarray:
    """(1, t, s) boolean, True where query step i may see key step j <= i."""
    return (np.arange(t)[:, None] >= np.arange(s)[None, :])[None]


def _padding_mask(masks: Any) -> Any:
    """(batch, T, S) from the Keras masks [query, value, key, ...] of the inputs (padding
    from Embedding(mask_zero=True) or Masking), as Keras's MultiHeadAttention combines
    them; None when there are none."""
    if not isinstance(masks, list):
        return None
    combined = None
    for m, axis in zip(masks[:3], (-1, -2, -2)):
        if m is not None:
            part = np.expand_dims(m, axis)
            combined = part if combined is None else combined & part
    return combined


class _Projection:
    """A per-projection penalty or constraint: the kernel's and the bias's, applied to
    one projection's {"kernel", "bias"} dict (the model sees them under the projection)."""

    def __init__(self, kernel: Any, bias: Any) -> None:
        self.kernel, self.bias = kernel, bias

    def __call__(self, params: dict) -> Any:
        total = 0.0
        for part, fn in (("kernel", self.kernel), ("bias", self.bias)):
            if fn is not None and part in params:
                result = fn(params[part])
                if result is not None:
                    total = total + result
        return total


class MultiHeadAttention(Layer):
    """Keras's MultiHeadAttention over (batch, seq, features) inputs; call it as
    mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
    use_causal_mask=False). Weights (Keras's order): query, key, value and
    attention_output, each a kernel and (use_bias) a bias. attention_mask is
    (batch, T, S), True (or nonzero) where query step t may attend to key step s.
    The output is (batch, T, dq), or (batch, T, *output_shape); with
    return_attention_scores also the attention weights (batch, heads, T, S)."""

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True, output_shape: Any = None,
                 attention_axes: Any = None, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None,
                 use_gate: bool = False, sliding_window: Any = None,
                 flash_attention: Any = None, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        who = f"MultiHeadAttention {self.name!r}"
        self.num_heads = _positive_int(num_heads, "num_heads", who)
        self.key_dim = _positive_int(key_dim, "key_dim", who)
        self.value_dim = self.key_dim if value_dim is None else \
            _positive_int(value_dim, "value_dim", who)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if output_shape is not None:
            dims = (output_shape,) if isinstance(output_shape, (int, np.integer)) \
                else tuple(output_shape)
            output_shape = tuple(_positive_int(d, "output_shape", who) for d in dims)
        self.output_shape = output_shape or None
        axes = (attention_axes,) if isinstance(attention_axes, (int, np.integer)) \
            else attention_axes
        if axes is not None and tuple(axes) != (1,):
            raise ValueError(f"{who}: attention_axes={attention_axes!r} is not supported; "
                             "adkit.nn attends over the sequence axis of (batch, seq, "
                             "features) inputs only (attention_axes=None or (1,))")
        for name, value, default in (("use_gate", use_gate, False),
                                     ("sliding_window", sliding_window, None),
                                     ("activity_regularizer", activity_regularizer, None),
                                     ("flash_attention", flash_attention, None)):
            if value != default and not (name == "flash_attention" and value is False):
                raise ValueError(f"{who}: {name}={value!r} is not supported by adkit.nn; "
                                 f"leave it at {default!r}")
        self.seed = seed
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        kernel_reg = regularizers_module.get(kernel_regularizer)
        bias_reg = regularizers_module.get(bias_regularizer)
        kernel_con = constraints_module.get(kernel_constraint)
        bias_con = constraints_module.get(bias_constraint)
        self._options = {"kernel_regularizer": kernel_reg, "bias_regularizer": bias_reg,
                         "kernel_constraint": kernel_con, "bias_constraint": bias_con}
        for part in PROJECTIONS:
            if kernel_reg is not None or bias_reg is not None:
                self.regularizers[part] = _Projection(kernel_reg, bias_reg)
            if kernel_con is not None or bias_con is not None:
                self.constraints[part] = _Projection(kernel_con, bias_con)

    # --- the functional API: several tensors and keyword arguments -----------------------
    def __call__(self, query: Any, value: Any = None, key: Any = None, query_mask: Any = None,
                 value_mask: Any = None, key_mask: Any = None, attention_mask: Any = None,
                 return_attention_scores: bool = False, training: bool | None = None,
                 use_causal_mask: bool = False) -> Any:
        """mha(query, value, key=None, attention_mask=None, ...): on KerasTensors a node
        of a functional graph, on arrays the attention output (and the scores with
        return_attention_scores=True)."""
        who = f"MultiHeadAttention {self.name!r}"
        if value is None:
            raise TypeError(f"{who} is called as mha(query, value) (self-attention: "
                            "mha(x, x)), with key=, attention_mask= as keywords")
        for name, mask in (("query_mask", query_mask), ("value_mask", value_mask),
                           ("key_mask", key_mask)):
            if mask is not None:
                raise ValueError(f"{who}: {name}= is not supported; pass the combined mask "
                                 "as attention_mask (batch, T, S)")
        inputs = [query, value]
        if key is not None or attention_mask is not None:
            inputs.append(value if key is None else key)
        if attention_mask is not None:
            inputs.append(attention_mask)
        options = {}
        if use_causal_mask:
            options["use_causal_mask"] = True
        if return_attention_scores:
            options["return_attention_scores"] = True
        return call_layer(self, inputs, training, options)

    # --- shapes and weights --------------------------------------------------------------
    def _shapes(self, input_shapes: Any) -> list[Shape]:
        """[query, value, key, mask or None] shapes, checked."""
        kind = f"layer {self.name!r} (MultiHeadAttention)"
        if not isinstance(input_shapes, list) or not 2 <= len(input_shapes) <= 4:
            raise ShapeError(f"{kind} takes query and value (and key, attention_mask): call it "
                             "as mha(query, value) in a functional model, not on one tensor "
                             "(it cannot be a layer of a Sequential)")
        shapes = [tuple(s) for s in input_shapes] + [None] * (4 - len(input_shapes))
        query, value, key, mask = shapes
        key = value if key is None else key
        for name, s in (("query", query), ("value", value), ("key", key)):
            if len(s) != 2 or s[-1] is None:
                raise ShapeError(f"{kind}: {name} must be (batch, seq, features) with known "
                                 f"features, got shape {(None,) + s}")
        if value[0] is not None and key[0] is not None and value[0] != key[0]:
            raise ShapeError(f"{kind}: value and key must have the same sequence length, got "
                             f"shapes {(None,) + value} and {(None,) + key}")
        if mask is not None and (len(mask) != 2 or any(
                m is not None and d is not None and m != d
                for m, d in zip(mask, (query[0], value[0])))):
            raise ShapeError(f"{kind}: attention_mask must be (batch, T, S) = (None, "
                             f"{query[0]}, {value[0]}), got {(None,) + mask}")
        return [query, value, key, mask]

    def compute_output_shape(self, input_shapes: Any, use_causal_mask: bool = False,
                             return_attention_scores: bool = False) -> Any:
        query, value, _, _ = self._shapes(input_shapes)
        out = (query[0],) + (self.output_shape or (query[-1],))
        if return_attention_scores:
            return [out, (self.num_heads, query[0], value[0])]
        return out

    def init_params(self, rng: np.random.Generator, input_shape: Any) -> dict:
        query, value, key, _ = self._shapes(input_shape)
        heads = self.num_heads
        out = self.output_shape or (query[-1],)
        shapes = {"query": ((query[-1], heads, self.key_dim), (heads, self.key_dim)),
                  "key": ((key[-1], heads, self.key_dim), (heads, self.key_dim)),
                  "value": ((value[-1], heads, self.value_dim), (heads, self.value_dim)),
                  "attention_output": ((heads, self.value_dim) + out, out)}
        params = {}
        for part, (kernel, bias) in shapes.items():
            params[part] = {"kernel": self._weight(rng, self.kernel_initializer, kernel)}
            if self.use_bias:
                params[part]["bias"] = self._weight(rng, self.bias_initializer, bias)
        return params

    # --- the forward pass ----------------------------------------------------------------
    takes_mask = True   # the Keras masks of query, value and key (nn/layers/masking.py)

    def call(self, params: dict, x: Any, ctx: Context, use_causal_mask: bool = False,
             return_attention_scores: bool = False, mask: Any = None) -> Any:
        if not isinstance(x, (list, tuple)):
            raise ShapeError(f"layer {self.name!r} (MultiHeadAttention) takes query and value: "
                             "call it as mha(query, value) in a functional model (it cannot "
                             "be a layer of a Sequential)")
        xs = [a if hasattr(a, "shape") else np.asarray(a) for a in x]
        self._shapes([tuple(a.shape[1:]) for a in xs])
        query, value = xs[0], xs[1]
        key = xs[2] if len(xs) > 2 else value
        allowed = _padding_mask(mask)
        if len(xs) > 3:
            given = xs[3] != 0   # Keras casts the mask to bool
            allowed = given if allowed is None else allowed & given
        mask = allowed
        if use_causal_mask:
            causal = causal_mask(query.shape[1], value.shape[1])
            mask = causal if mask is None else mask & causal
        q = self._project(params["query"], query)
        k = self._project(params["key"], key)
        v = self._project(params["value"], value)
        q = q * np.asarray(1.0 / np.sqrt(self.key_dim), q.dtype)
        scores = np.einsum("bsnk,btnk->bnts", k, q)
        # Keras computes the weights with its Softmax layer only when it returns them or
        # has dropout; else with ops.dot_product_attention: a query step that may see no
        # key step gets zero weights in the first case, even weights in the second
        weights = masked_softmax(scores, None if mask is None else mask[:, None],
                                 zero_masked=return_attention_scores or self.dropout > 0)
        attended = weights
        if ctx.training and self.dropout > 0.0:
            attended = backend.dropout(weights, self.dropout,
                                       ctx.random(f"MultiHeadAttention {self.name!r}"))
        combined = np.einsum("bnts,bsnv->btnv", attended, v)
        output = params["attention_output"]
        y = np.einsum("btnv,nvo->bto", combined,
                      np.reshape(output["kernel"], (self.num_heads, self.value_dim, -1)))
        if self.use_bias:
            y = y + np.reshape(output["bias"], (-1,))
        if self.output_shape is not None and len(self.output_shape) > 1:
            y = np.reshape(y, tuple(y.shape[:2]) + self.output_shape)
        return [y, weights] if return_attention_scores else y

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The query's Keras mask, as Keras hands it on."""
        return mask[0] if isinstance(mask, list) else None

    def _project(self, params: dict, x: Any) -> Any:
        """(batch, seq, features) -> (batch, seq, heads, dim)."""
        y = np.einsum("bsf,fnd->bsnd", x, params["kernel"])
        return y + params["bias"] if self.use_bias else y

    # --- configuration -------------------------------------------------------------------
    def get_config(self) -> dict:
        def reg(r: Any) -> Any:
            return None if r is None else r.get_config()
        o = self._options
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_shape": None if self.output_shape is None else list(self.output_shape),
                "attention_axes": [1], "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "kernel_regularizer": reg(o["kernel_regularizer"]),
                "bias_regularizer": reg(o["bias_regularizer"]),
                "kernel_constraint": constraints_module.serialize(o["kernel_constraint"]),
                "bias_constraint": constraints_module.serialize(o["bias_constraint"]),
                "seed": self.seed}
