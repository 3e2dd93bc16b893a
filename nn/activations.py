"""Activation functions by Keras 3 name, written with NumPy on traced values.

Each works on plain arrays and on adkit's traced values alike, so its
derivative comes from the same table of rules as everything else, to any
order. Names, arguments and defaults are Keras 3's (keras.activations), with
one exception kept on purpose: hard_sigmoid is Keras 2's clip(0.2 x + 0.5, 0, 1)
(Keras 3 changed it to relu6(x + 3) / 6, which hard_silu here does use).

At a kink the derivative is Keras's on its JAX backend: relu and relu6 take 0 at
their corners; leaky_relu, elu, selu and hard_tanh the inner side's slope; where
Keras clips with maximum/minimum (relu's max_value other than 6, sparse_sigmoid)
the tie's average, as NumPy's maximum does here.

    >>> x = np.array([-2.0, 0.0, 3.0])
    >>> get("swish") is silu, relu(x, max_value=2.0)
    (True, array([0., 0., 2.]))
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Any, Callable, Mapping

import numpy as np

from adkit import stop_gradient

from . import custom_objects, scipy_lazy
from . import backend


def _takes_sequences(fn: Callable) -> Callable:
    """fn with Python numbers, lists and integer arrays taken as float64 arrays, as Keras
    converts its inputs to tensors; arrays of floats, traced values and device arrays pass
    as they are."""
    @functools.wraps(fn)
    def wrapper(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, (list, tuple, int, float)) or (
                isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind not in "fc"):
            x = np.asarray(x, dtype=np.float64)
        return fn(x, *args, **kwargs)
    return wrapper


def linear(x: Any) -> Any:
    """x unchanged (the identity; the default of Dense)."""
    return x


@_takes_sequences
def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x), written through tanh so it never overflows."""
    return 0.5 * np.tanh(0.5 * x) + 0.5


@_takes_sequences
def hard_sigmoid(x: Any) -> Any:
    """clip(0.2 x + 0.5, 0, 1): the piecewise-linear sigmoid of Keras 2 (Keras 3's is
    relu6(x + 3) / 6; see hard_silu)."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


@_takes_sequences
def tanh(x: Any) -> Any:
    """The hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x), in (-1, 1)."""
    return np.tanh(x)


@_takes_sequences
def scaled_tanh(x: Any) -> Any:
    """1.7159 tanh(2x/3): LeCun's recommended symmetric sigmoid, f(±1) ≈ ±1."""
    return 1.7159 * np.tanh(x * (2.0 / 3.0))


@_takes_sequences
def relu(x: Any, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Any:
    """max(x, 0) by default, one backend primitive (its derivative at 0 is 0, as in
    Keras). Keras's arguments: x for x > threshold (else 0), capped at max_value, and
    negative_slope * (x - threshold) below the threshold.

    >>> relu(np.array([-2.0, 1.0, 8.0]), negative_slope=0.5, max_value=6.0)
    array([-1.,  1.,  6.])
    """
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return backend.relu(x)
    if negative_slope < 0:
        raise ValueError(f"relu: negative_slope must be >= 0, got {negative_slope!r}")
    if max_value is not None and max_value < 0:
        raise ValueError(f"relu: max_value must be >= 0 or None, got {max_value!r}")
    if max_value is None and threshold == 0.0:
        return leaky_relu(x, negative_slope)
    # Keras's ReLU.static_call, term by term (so the derivatives at the corners agree)
    if threshold != 0.0:
        y = np.where(x > threshold, x, 0.0)
    elif max_value == 6:
        y, max_value = relu6(x), None
    else:
        y = backend.relu(x)
    if max_value is not None:
        y = np.minimum(np.maximum(y, 0.0), max_value)
    if negative_slope != 0.0:
        y = y - negative_slope * backend.relu(threshold - x)
    return y


@_takes_sequences
def leaky_relu(x: Any, negative_slope: float = 0.2) -> Any:
    """x for x >= 0, negative_slope * x below (Keras 3's default slope 0.2; the
    LeakyReLU layer's is 0.3)."""
    return np.where(x >= 0, x, negative_slope * x)


@_takes_sequences
def relu6(x: Any) -> Any:
    """min(max(x, 0), 6); derivative 0 at both corners."""
    return np.clip(x, 0.0, 6.0)


@_takes_sequences
def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along `axis`, shifted by the maximum: one primitive of the
    backend (nn/backend.py), so it also runs on a device."""
    return backend.softmax(x, axis=axis)


@_takes_sequences
def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along `axis`, without overflow: one backend primitive."""
    return backend.log_softmax(x, axis=axis)


@_takes_sequences
def softplus(x: Any) -> Any:
    """log(1 + e^x), stable for large |x|."""
    return np.logaddexp(0.0, x)


@_takes_sequences
def softsign(x: Any) -> Any:
    """x / (1 + |x|), in (-1, 1)."""
    return x / (1.0 + np.abs(x))


@_takes_sequences
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, alpha (e^x - 1) otherwise (Clevert et al. 2016)."""
    negative = np.expm1(np.where(x > 0, 0.0, x))
    return np.where(x > 0, x, negative if alpha == 1.0 else alpha * negative)


#: SELU's constants (Klambauer et al. 2017), as Keras writes them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@_takes_sequences
def selu(x: Any) -> Any:
    """scale * elu(x, alpha) with Klambauer et al.'s alpha ≈ 1.6733, scale ≈ 1.0507:
    self-normalising with lecun_normal weights (and AlphaDropout)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


@_takes_sequences
def celu(x: Any, alpha: float = 1.0) -> Any:
    """max(x, 0) + alpha (e^(min(x, 0) / alpha) - 1): ELU made continuously differentiable."""
    return np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha)


@_takes_sequences
def exponential(x: Any) -> Any:
    """e^x."""
    return np.exp(x)


@_takes_sequences
def silu(x: Any) -> Any:
    """x * sigmoid(x) (also called swish)."""
    return x * sigmoid(x)


swish = silu


@_takes_sequences
def gelu(x: Any, approximate: bool = False) -> Any:
    """x * Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt 2)), Keras 3's
    default; approximate=True is the tanh form
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + np.tanh(inner))
    try:
        cdf = scipy_lazy.special().erf(x * (1.0 / math.sqrt(2.0)))
    except NotImplementedError as e:   # an OpenCL DeviceArray, which has no erf kernel
        raise NotImplementedError(
            "gelu: the exact form needs erf, which the OpenCL device does not compute; use "
            "gelu(x, approximate=True) (the tanh form) there, or train on device='cpu'") from e
    return 0.5 * x * (1.0 + cdf)


@_takes_sequences
def mish(x: Any) -> Any:
    """x * tanh(softplus(x)) (Misra 2019)."""
    return x * np.tanh(softplus(x))


@_takes_sequences
def hard_silu(x: Any) -> Any:
    """x * relu6(x + 3) / 6, the piecewise form of silu (also called hard_swish)."""
    return x * (np.clip(x + 3.0, 0.0, 6.0) * (1.0 / 6.0))


hard_swish = hard_silu


@_takes_sequences
def hard_tanh(x: Any) -> Any:
    """clip(x, -1, 1); derivative 1 at both corners (as Keras's)."""
    return np.where(x > 1.0, 1.0, np.where(x < -1.0, -1.0, x))


@_takes_sequences
def log_sigmoid(x: Any) -> Any:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-x)


@_takes_sequences
def tanh_shrink(x: Any) -> Any:
    """x - tanh(x)."""
    return x - np.tanh(x)


@_takes_sequences
def soft_shrink(x: Any, threshold: float = 0.5) -> Any:
    """x - threshold above threshold, x + threshold below -threshold, 0 between."""
    return np.where(x > threshold, x - threshold, np.where(x < -threshold, x + threshold, 0.0))


@_takes_sequences
def hard_shrink(x: Any, threshold: float = 0.5) -> Any:
    """x where |x| > threshold, else 0."""
    return np.where(np.abs(x) > threshold, x, 0.0)


@_takes_sequences
def sparse_plus(x: Any) -> Any:
    """0 for x <= -1, (x + 1)^2 / 4 between, x for x >= 1: a softplus with flat pieces."""
    return np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, 0.25 * (x + 1.0) * (x + 1.0)))


@_takes_sequences
def sparse_sigmoid(x: Any) -> Any:
    """0 for x <= -1, (x + 1) / 2 between, 1 for x >= 1."""
    return 0.5 * np.minimum(np.maximum(x + 1.0, 0.0), 2.0)


@_takes_sequences
def squareplus(x: Any, b: float = 4) -> Any:
    """(x + sqrt(x^2 + b)) / 2, a smooth relu (So & Le 2021); b >= 0."""
    if b < 0:
        raise ValueError(f"squareplus: b must be >= 0, got {b!r}")
    return 0.5 * (x + np.sqrt(x * x + b))


@_takes_sequences
def sparsemax(x: Any, axis: int = -1) -> Any:
    """The Euclidean projection of x onto the probability simplex along `axis` (Martins &
    Astudillo 2016): max(x - tau, 0), tau such that the entries sum to 1; unlike softmax
    it gives exact zeros. Its derivative is the projection's, diag(s) - s s^T / |s| on
    the support s. (Keras 3.15's own sparsemax computes tau from the sum of the running
    sums, so its outputs need not sum to 1 once the support has two entries or more;
    this is the paper's.)

    >>> sparsemax(np.array([2.0, 1.0, -1.0]))
    array([1., 0., 0.])
    """
    values = np.asarray(stop_gradient(x))
    # tau from the values sorted in descending order: the support is the largest k
    # entries with 1 + k z_k > z_1 + ... + z_k
    z = -np.sort(-values, axis=axis)
    ranks = np.arange(1, values.shape[axis] + 1, dtype=values.dtype).reshape(
        [-1 if a == axis % values.ndim else 1 for a in range(values.ndim)])
    in_support = 1 + ranks * z > np.cumsum(z, axis=axis)
    k = np.sum(in_support, axis=axis, keepdims=True).astype(values.dtype)
    tau = (np.sum(np.where(in_support, z, 0.0), axis=axis, keepdims=True) - 1) / k
    support = values > tau
    # the same tau, written with x on the support so the derivative flows through it
    tau_x = (np.sum(np.where(support, x, 0.0), axis=axis, keepdims=True) - 1) / k
    return np.where(support, x - tau_x, 0.0)


@_takes_sequences
def glu(x: Any, axis: int = -1) -> Any:
    """a * sigmoid(b), a and b the two halves of x along `axis` (the gated linear unit;
    it halves that axis, so it is a function here, not a layer activation by name)."""
    n = np.shape(x)[axis]
    if n % 2:
        raise ValueError(f"glu: axis {axis} of x must have an even length to split in "
                         f"halves, got shape {np.shape(x)}")
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


@_takes_sequences
def threshold(x: Any, threshold: float, default_value: float) -> Any:
    """x where x > threshold, else default_value (it needs both arguments, so it is a
    function here, not a layer activation by name)."""
    return np.where(x > threshold, x, default_value)


#: the activations a layer takes by name, Keras 3's names (swish and hard_swish are
#: aliases; a layer saves the function's own name, as Keras does)
ALL: dict[str, Callable] = {f.__name__: f for f in (
    linear, sigmoid, hard_sigmoid, tanh, scaled_tanh, relu, softmax, softplus, softsign, elu,
    selu, celu, exponential, leaky_relu, relu6, log_softmax, silu, gelu, mish, hard_silu,
    hard_tanh, log_sigmoid, tanh_shrink, soft_shrink, hard_shrink, sparse_plus,
    sparse_sigmoid, squareplus, sparsemax)}
ALL["swish"] = silu
ALL["hard_swish"] = hard_silu


def get(identifier: str | Mapping | Callable | None) -> Callable:
    """An activation from its Keras name (None means linear), Keras's serialized form of
    one ({"class_name": "function", "config": name, ...}), or a function as it is.

    >>> get("gelu") is gelu, get(None) is linear
    (True, True)
    >>> get({"module": "keras.activations", "class_name": "function", "config": "relu6"})
    <function relu6 at 0x...>
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Mapping):
        if identifier.get("class_name") == "function" and isinstance(identifier.get("config"),
                                                                     str):
            return get(identifier["config"])
        if _layers is not None and isinstance(identifier.get("config"), Mapping):
            return _layers.deserialize(identifier)   # a layer as the activation
        raise ValueError(f"activation config {dict(identifier)!r} is not Keras's form of a "
                         "built-in activation, {'class_name': 'function', 'config': name}, "
                         "nor a layer's {'class_name', 'config'}")
    if isinstance(identifier, str):
        if identifier.lower() in ALL:
            return ALL[identifier.lower()]
        custom = custom_objects.lookup(identifier)
        if custom is not None:
            return get(custom)
        close = difflib.get_close_matches(identifier.lower(), ALL, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown activation {identifier!r}{hint}; valid names: "
                         f"{', '.join(ALL)}")
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a function, got {type(identifier).__name__}")


class LayerCodec:
    """How activations given as layers (Dense(activation=LeakyReLU(0.2)), as Keras
    allows) are saved and rebuilt; adkit.nn.layers installs one with `use_layers`, so
    this module needs no import of the layers (which import it)."""

    def serialize(self, layer: Any) -> dict | None:
        """{"class_name", "config"} of a weightless layer, None for anything else."""
        raise NotImplementedError

    def deserialize(self, config: Mapping) -> Callable:
        """The layer a serialize() dict describes (ValueError for anything else)."""
        raise NotImplementedError


_layers: LayerCodec | None = None


def use_layers(codec: LayerCodec) -> None:
    """Save and rebuild activations that are layers with `codec` (adkit.nn.layers calls
    this once, when it is imported)."""
    global _layers
    _layers = codec


def name_of(fn: Callable) -> str | dict:
    """What a model config stores for an activation: its name, or for a weightless
    layer used as one (Dense(activation=LeakyReLU(0.2))) its {"class_name", "config"}."""
    name = getattr(fn, "__name__", None)
    if ALL.get(name) is fn:
        return name
    config = None if _layers is None else _layers.serialize(fn)
    if config is not None:
        return config
    raise ValueError(f"activation {fn!r} is not one of adkit.nn.activations "
                     f"({', '.join(ALL)}) nor a layer without weights, so a saved model "
                     "could not name it")


def serialize(fn: Callable) -> str | dict:
    """keras.activations.serialize: an activation's name (swish saves as silu).

    >>> serialize(get("swish"))
    'silu'
    """
    return name_of(fn)


def deserialize(name: str | Mapping) -> Callable:
    """keras.activations.deserialize: the activation of that name (or serialized form).

    >>> deserialize("relu6") is relu6
    True
    """
    if not isinstance(name, (str, Mapping)):
        raise TypeError(f"deserialize takes an activation's name, got {type(name).__name__}")
    return get(name)
