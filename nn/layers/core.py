"""Dense, Activation, Dropout, Flatten, Reshape and Embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from adkit import stop_gradient

from .. import activations, backend
from .base import Context, Layer, Shape, _as_shape, check_seed
from .noise import _float_dtype, _noise_shape


class _Activated(Layer):
    """A layer ending in an activation; the model may ask for the pre-activation
    so the loss can be computed from logits (stable cross-entropy)."""

    activation: Any

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define pre_activation(params, "
                                  "x, ctx): the layer's output before its activation")

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return self.activation(self.pre_activation(params, x, ctx))


class Dense(_Activated):
    """y = activation(x @ kernel + bias) on the last axis."""

    runs_on_device = True

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"Dense units must be a positive int, got {units!r}")
        if activity_regularizer is not None:
            raise ValueError(f"Dense {self.name!r}: activity_regularizer is not supported; put "
                             "adkit.nn.layers.ActivityRegularization(l1, l2) after the layer")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self._set_kernel_options(kernel_regularizer, kernel_constraint)
        if use_bias:   # with no bias there is nothing to regularize or constrain
            self._set_kernel_options(bias_regularizer, bias_constraint, names=("bias",))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise self.shape_error(input_shape, "(..., features) with known features")
        return tuple(input_shape[:-1]) + (self.units,)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        params = {"kernel": self._weight(rng, self.kernel_initializer, (input_shape[-1], self.units))}
        if self.use_bias:
            params["bias"] = self._weight(rng, self.bias_initializer, (self.units,))
        return params

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        y = x @ params["kernel"]
        return y + params["bias"] if self.use_bias else y

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": activations.name_of(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, **self._kernel_options_config(),
                **_bias_options_config(self)}


def _bias_options_config(layer: Layer) -> dict:
    options = layer._kernel_options_config("bias")
    return {"bias_regularizer": options["kernel_regularizer"],
            "bias_constraint": options["kernel_constraint"]}


class Activation(_Activated):
    """Applies an activation function by name: Activation("relu")."""

    runs_on_device = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def pre_activation(self, params: dict, x: Any, ctx: Context) -> Any:
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.name_of(self.activation)}


class Dropout(Layer):
    """Zeroes a fraction `rate` of the inputs in training and scales the rest by
    1 / (1 - rate), so inference needs no rescaling (inverted dropout).

    noise_shape (Keras's): the shape of the keep-or-drop mask, batch axis included,
    broadcast over the input; None entries take the input's size. (batch, 1,
    features) on a sequence drops the same features at every step. seed is kept in
    the config; the mask comes from the model's generator (Sequential(seed=...)),
    as for every random layer.

    >>> Dropout(0.5, noise_shape=(None, 1, 4)).call(
    ...     {}, np.ones((1, 2, 4), np.float32), Context(training=False)).shape
    (1, 2, 4)
    """

    runs_on_device = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}")
        who = f"Dropout {self.name!r}"
        if noise_shape is not None:
            if isinstance(noise_shape, (int, str)) or not all(
                    d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                  and d > 0) for d in noise_shape):
                raise ValueError(f"{who}: noise_shape is a tuple of positive ints or None "
                                 f"(batch axis included), e.g. (None, 1, 8); got "
                                 f"{noise_shape!r}")
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = check_seed(seed, who)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        if not ctx.training or self.rate == 0.0:
            return x
        rng = ctx.random(f"Dropout {self.name!r}")
        if self.noise_shape is None:
            return backend.dropout(x, self.rate, rng)
        shape = _noise_shape(self.noise_shape, np.shape(stop_gradient(x)),
                             f"Dropout {self.name!r}")
        return x * backend.get_backend().dropout_mask(shape, self.rate, rng, _float_dtype(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}


class Lambda(Layer):
    """A function of the inputs as a layer, Keras's Lambda: Lambda(lambda t: t / 255.0).
    No weights; the function is traced like any other code, so it differentiates and
    compiles. output_shape (a tuple, or a function of the input shape) is needed only
    where the input shape has unknown dimensions; else one call on zeros finds it.
    arguments: keyword arguments for the function.

    A model holding a Lambda saves its weights (save_weights) but not itself: the
    function is code, which adkit's model files never hold (Keras's safe mode refuses to
    load one too).

    >>> Lambda(lambda t: t[:, :2] * 2.0).compute_output_shape((5,))
    (2,)
    """

    saves_config = False

    def __init__(self, function: Any, output_shape: Any = None, arguments: dict | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda layer {self.name!r}: function must be callable, got "
                            f"{type(function).__name__}")
        self.function = function
        self.output_shape = output_shape
        self.arguments = dict(arguments or {})

    def compute_output_shape(self, input_shape: Any) -> Any:
        if callable(self.output_shape):
            return tuple(self.output_shape(input_shape))
        if self.output_shape is not None:
            return tuple(self.output_shape)
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if any(s is None for shape in shapes for s in shape):
            raise self.shape_error(input_shape, "with every dimension known, or pass "
                                   "output_shape=")
        probes = [np.zeros((1,) + tuple(shape), self.dtype) for shape in shapes]
        out = self.function(probes if isinstance(input_shape, list) else probes[0],
                            **self.arguments)
        return tuple(np.shape(out)[1:])

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return self.function(x, **self.arguments)

    def get_config(self) -> dict:
        f = self.function
        return {**super().get_config(),
                "function": f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', f)}",
                "output_shape": None if self.output_shape is None or callable(
                    self.output_shape) else list(self.output_shape)}

    @classmethod
    def from_config(cls, config: dict) -> "Lambda":
        raise ValueError(f"a saved Lambda layer ({config.get('name')!r}, function "
                         f"{config.get('function')}) cannot be rebuilt from a file: its "
                         "function is code, which adkit's model files never hold; build the "
                         "model in code and load_weights into it")


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    runs_on_device = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if any(s is None for s in input_shape):
            raise self.shape_error(input_shape, "with every dimension known")
        return (int(np.prod(input_shape)),)

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.reshape(x, (x.shape[0], -1))


class Reshape(Layer):
    """Reshape each example to target_shape (batch axis kept)."""

    runs_on_device = True

    def __init__(self, target_shape: tuple, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if int(np.prod(input_shape)) != int(np.prod(self.target_shape)):
            raise self.shape_error(input_shape, f"with {int(np.prod(self.target_shape))} "
                                   f"elements to reshape to {self.target_shape}")
        return self.target_shape

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        return np.reshape(x, (x.shape[0],) + self.target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Embedding(Layer):
    """Integer indices (batch, ...) -> vectors (batch, ..., output_dim). mask_zero=True
    makes index 0 padding: the output carries a mask, False where the index is 0, that
    the recurrent layers after it skip (nn/layers/masking.py); input_dim then counts
    index 0 too (vocabulary size + 1), as in Keras."""

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer: str = "random_uniform",
                 embeddings_regularizer: Any = None, mask_zero: bool = False,
                 **kwargs: Any) -> None:
        input_length = kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        if input_length is not None and self.input_shape is None:
            # Keras 2's spelling for a first layer that reads sequences of that length
            self.input_shape = _as_shape((input_length,), self.name)
        if input_dim <= 0 or output_dim <= 0:
            raise ValueError(f"Embedding dims must be positive, got {input_dim}, {output_dim}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer
        self._set_kernel_options(embeddings_regularizer, None, names=("embeddings",))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) + (self.output_dim,)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return {"embeddings": self._weight(rng, self.embeddings_initializer,
                                           (self.input_dim, self.output_dim))}

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        # arrays (and adkit.compile's staged indices, which np.asarray would pin) as they are
        idx = x if hasattr(x, "dtype") else np.asarray(x)
        if not np.issubdtype(idx.dtype, np.integer):
            if not np.all(np.equal(np.mod(idx, 1), 0)):
                raise TypeError(f"Embedding {self.name!r} needs integer indices, got {idx.dtype} "
                                "values with fractions")
            idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.input_dim):
            raise ValueError(f"Embedding {self.name!r}: indices must be in [0, {self.input_dim}), "
                             f"got range [{idx.min()}, {idx.max()}]; raise input_dim")
        return params["embeddings"][idx]

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """With mask_zero: True where the index is not 0 (else no mask)."""
        return x != 0 if self.mask_zero else None

    def get_config(self) -> dict:
        reg = self.regularizers.get("embeddings")
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer,
                "embeddings_regularizer": None if reg is None else reg.get_config(),
                "mask_zero": self.mask_zero}
