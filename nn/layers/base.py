"""The Layer contract: configuration in the object, parameters outside it.

A layer is a description (units, activation, ...). Its parameters are a dict of
arrays made by `init_params`, and `call(params, x, ctx)` is a pure function of
them, the input and the step's context (training flag, random generator,
non-trainable state such as BatchNormalization's moving averages). That is what
lets `adkit.grad` differentiate a model's loss with respect to its parameters
directly. Shapes exclude the batch axis, as in Keras.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter
from typing import Any, ClassVar, Iterator

import numpy as np

from .. import constraints as constraints_module
from .. import initializers
from .. import regularizers as regularizers_module
from .context import Context, ShapeError
from . import subclassing, weight_view
from .nodes import call_layer, first_call_tensors

Shape = tuple  # of ints or None (unknown length), without the batch axis


class Layer:
    """Base class. Subclasses set their own __init__ arguments and override
    `compute_output_shape`, `init_params` (if they have weights) and `call`."""

    REGISTRY: ClassVar[dict[str, type]] = {}
    has_state: ClassVar[bool] = False
    #: True when the layer's kernels split a batch over the backend's own threads
    batch_parallel: ClassVar[bool] = False
    #: True when call() runs on the OpenCL backend's DeviceArrays (model.compile checks)
    runs_on_device: ClassVar[bool] = False
    #: True when the input is a sequence of vectors (recurrent layers): Keras's
    #: input_dim=n with input_length=t then means input_shape=(t, n), else (n,)
    sequence_input: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a user's class named like one of adkit's (a test's ActivityRegularization) must
        # not take over deserialize for every model in the process
        earlier = Layer.REGISTRY.get(cls.__name__)
        if earlier is None or not _is_adkits(earlier) or _is_adkits(cls):
            Layer.REGISTRY[cls.__name__] = cls
        if subclassing.is_keras_style(cls):   # call(self, inputs): Keras's way (subclassing.py)
            subclassing.adapt(cls)

    def __init__(self, *, name: str | None = None, input_shape: Shape | None = None,
                 trainable: bool = True, dtype: str = "float32", input_dim: int | None = None,
                 input_length: int | None = None, batch_input_shape: Shape | None = None,
                 **unknown: Any) -> None:
        kind = type(self).__name__
        if unknown:
            raise TypeError(f"{kind} got unknown keyword arguments {sorted(unknown)}; see "
                            f"help(adkit.nn.layers.{kind}) for the ones it takes")
        if name is not None and (not isinstance(name, str)
                                 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name)):
            raise ValueError(f"layer name {name!r} may use only letters, digits, '_', '.', '-'")
        self.name = name or unique_name(snake_case(kind))
        self.input_shape = None
        shape = _keras_input_shape(self, input_shape, input_dim, input_length, batch_input_shape)
        if shape is not None:
            self.input_shape = _as_shape(shape, self.name)
        self.trainable = trainable
        self.dtype = np.dtype(dtype)
        self.regularizers: dict[str, Any] = {}   # param name -> Regularizer
        self.constraints: dict[str, Any] = {}    # param name -> Constraint
        self._owner: Any = None                  # weakref to the model holding the weights

    # --- the functional core -------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        return {}

    def init_state(self, input_shape: Shape) -> dict:
        return {}

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.call")

    def penalty(self, params: dict) -> Any:
        """Sum of this layer's weight penalties (0.0 when it has none)."""
        total = 0.0
        for pname, reg in self.regularizers.items():
            if reg is not None:
                total = total + reg(params[pname])
        return total

    # --- configuration -------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def _weight(self, rng: np.random.Generator, initializer: Any, shape: tuple) -> np.ndarray:
        return initializers.get(initializer)(rng, shape, self.dtype)

    def _set_kernel_options(self, kernel_regularizer: Any, kernel_constraint: Any,
                            names: tuple = ("kernel",)) -> None:
        for n in names:
            self.regularizers[n] = regularizers_module.get(kernel_regularizer)
            self.constraints[n] = constraints_module.get(kernel_constraint)

    def _kernel_options_config(self, name: str = "kernel") -> dict:
        reg = self.regularizers.get(name)
        return {"kernel_regularizer": None if reg is None else regularizers_module.config_of(reg),
                "kernel_constraint": constraints_module.serialize(self.constraints.get(name))}

    def shape_error(self, input_shape: Shape, expected: str) -> ShapeError:
        return ShapeError(f"layer {self.name!r} ({type(self).__name__}) expects input of "
                          f"shape {expected} (batch axis excluded), got {tuple(input_shape)}")

    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        """On KerasTensors (adkit.nn.Input): record a node of a functional graph; on
        arrays: the layer's output, with the weights of the model holding it."""
        return call_layer(self, inputs, training)

    def add_weight(self, shape: Any = None, initializer: Any = None, dtype: Any = None,
                   trainable: bool = True, regularizer: Any = None, constraint: Any = None,
                   name: str | None = None, **ignored: Any) -> Any:
        """Keras's add_weight, for layers written by subclassing (in build, or in
        __init__): a Variable whose value the model holds (nn/layers/subclassing.py)."""
        return subclassing.add_weight(self, shape, initializer, dtype, trainable,
                                      regularizer, constraint, name, **ignored)

    @property
    def input(self) -> Any:
        """The KerasTensor(s) the layer was first called on (Keras's layer.input)."""
        return first_call_tensors(self, "input")

    @property
    def output(self) -> Any:
        """The KerasTensor(s) the layer's first call gave (Keras's layer.output), e.g. for
        a feature extractor: Model(model.inputs, model.layers[-2].output)."""
        return first_call_tensors(self, "output")

    # --- weights, held by the model -----------------------------------------
    def _attach(self, owner: Any) -> None:
        """Called by the model that takes this layer. The owner keeps the weights; it has
        `weight_slots()` -> [("params/<layer>/<key>" or "state/<layer>/<key>", array)]."""
        self._owner = weakref.ref(owner)

    def _weight_slots(self, what: str) -> list[tuple[str, np.ndarray]]:
        owner = None if self._owner is None else self._owner()
        if owner is None or getattr(owner, "params", None) is None:
            where = "is in no model" if owner is None else "is in a model that is not built yet"
            raise ValueError(f"{what}: layer {self.name!r} ({type(self).__name__}) {where}; its "
                             "weights live in the model that holds it, once that model is built "
                             "(give the first layer input_shape=..., call model.build(shape), "
                             "or fit)")
        mine = (f"params/{self.name}/", f"state/{self.name}/")
        slots = getattr(owner, "current_weight_slots", owner.weight_slots)()
        return [(path, w) for path, w in slots if path.startswith(mine)]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of this layer's weights in Keras's order: parameters (Dense: kernel,
        bias), then state (BatchNormalization: moving_mean, moving_variance).

        >>> from adkit.nn import Sequential
        >>> from adkit.nn.layers import Dense
        >>> layer = Dense(2, input_shape=(3,)); model = Sequential([layer], seed=0)
        >>> [w.shape for w in layer.get_weights()]
        [(3, 2), (2,)]
        """
        return [w.copy() for _, w in self._weight_slots("get_weights")]

    def set_weights(self, weights: list) -> None:
        """Copy `weights` (in get_weights order) into the model holding this layer; every
        count, shape and dtype is checked before anything changes.

        >>> from adkit.nn import Sequential
        >>> from adkit.nn.layers import Dense
        >>> layer = Dense(1, use_bias=False, input_shape=(2,)); model = Sequential([layer])
        >>> layer.set_weights([np.ones((2, 1))]); layer.get_weights()[0].ravel()
        array([1., 1.], dtype=float32)
        """
        slots = self._weight_slots("set_weights")
        who = f"set_weights on layer {self.name!r} ({type(self).__name__})"
        expected = ", ".join(f"{path.split('/', 2)[2]} {w.shape}" for path, w in slots) or "none"
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
            raise TypeError(f"{who}: pass a list of arrays ({expected}), got "
                            f"{type(weights).__name__}")
        if len(weights) != len(slots):
            raise ValueError(f"{who}: got {len(weights)} arrays, the layer has {len(slots)}: "
                             f"{expected}")
        arrays = []
        for (path, w), new in zip(slots, weights):
            key = path.split("/", 2)[2]
            a = np.asarray(new)
            if a.shape != w.shape:
                raise ValueError(f"{who}: {key} has shape {w.shape}, got {a.shape}")
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{who}: {key} must hold real numbers, got dtype {a.dtype}")
            arrays.append(a)
        for (_, w), a in zip(slots, arrays):
            np.copyto(w, a, casting="unsafe")

    # --- Keras's weight attributes (views of the holder's arrays) -----------------
    @property
    def weights(self) -> list:
        """Keras's `layer.weights`: this layer's weights in get_weights order, as views of
        the live arrays (writing one writes the model's weight) with Keras's Variable
        methods (numpy, assign, name, path); [] until the model holding the layer is
        built or the layer has been called alone on arrays."""
        return weight_view.views(self, weight_view.built_slots(self) or [])

    @property
    def trainable_weights(self) -> list:
        """The weights fit updates: the parameters of a trainable layer (no state)."""
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list:
        """The weights fit leaves alone: state, and a frozen layer's parameters."""
        return [w for w in self.weights if not w.trainable]

    variables = property(lambda self: self.weights, doc="Keras's layer.variables: weights.")
    trainable_variables = property(lambda self: self.trainable_weights,
                                   doc="Keras's layer.trainable_variables.")
    non_trainable_variables = property(lambda self: self.non_trainable_weights,
                                       doc="Keras's layer.non_trainable_variables.")

    @property
    def built(self) -> bool:
        """Whether the layer's weights exist (its model is built, or it was called alone);
        a subclassed layer's build may also set it, as in Keras."""
        return bool(self.__dict__.get("_built_flag")) or \
            weight_view.built_slots(self) is not None

    @built.setter
    def built(self, value: bool) -> None:
        self.__dict__["_built_flag"] = bool(value)

    def count_params(self) -> int:
        """The number of values in the layer's weights, state included (Keras's count);
        ValueError, as in Keras, before the layer is built."""
        slots = weight_view.built_slots(self)
        if slots is None:
            raise ValueError(f"count_params: layer {self.name!r} ({type(self).__name__}) is "
                             "not built yet; build the model holding it (or call the layer "
                             "on data) first")
        return sum(w.size for _, w in slots)

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: Keras's weight attributes by key
        # (layer.kernel, layer.bias, bn.moving_mean, normalizer.mean)
        if name.startswith("_") or "name" not in self.__dict__:
            raise AttributeError(name)
        prop = getattr(type(self), name, None)
        if isinstance(prop, property):   # its getter raised AttributeError: raise its message
            return prop.fget(self)
        found = weight_view.named_weight(self, name)
        if found is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return found

    def __repr__(self) -> str:
        # a constructor that raised leaves no name: the traceback must still print
        name = getattr(self, "name", None)
        return f"<{type(self).__name__} {name!r}>" if name else f"<{type(self).__name__}>"


_names_lock = threading.Lock()
_name_counts: Counter = Counter()


def _is_adkits(cls: type) -> bool:
    """Whether cls is one of adkit.nn's own layer classes."""
    return cls.__module__.startswith(("adkit.nn.", "nn."))


def unique_name(prefix: str) -> str:
    """Keras's automatic names: `prefix` the first time, then `prefix_1`, `prefix_2`, ...

    >>> reset_names(); unique_name("dense"), unique_name("dense"), unique_name("conv2d")
    ('dense', 'dense_1', 'conv2d')
    """
    with _names_lock:
        n = _name_counts[prefix]
        _name_counts[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Start automatic layer names afresh (what keras.backend.clear_session does to them).

    >>> reset_names(); unique_name("dense")
    'dense'
    """
    with _names_lock:
        _name_counts.clear()


def snake_case(name: str) -> str:
    """A class name as Keras writes it in layer names (keras.src.utils.naming.to_snake_case).

    >>> snake_case("Conv2D"), snake_case("MaxPooling2D"), snake_case("SimpleRNN")
    ('conv2d', 'max_pooling2d', 'simple_rnn')
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras_input_shape(layer: Layer, input_shape: Any, input_dim: Any, input_length: Any,
                       batch_input_shape: Any) -> Any:
    """input_shape from Keras's other spellings: input_dim=n (plus input_length=t on
    recurrent layers) and batch_input_shape=(batch, ...)."""
    given = [k for k, v in (("input_shape", input_shape), ("input_dim", input_dim),
                            ("batch_input_shape", batch_input_shape)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"layer {layer.name!r}: pass one of input_shape, input_dim and "
                         f"batch_input_shape, got {' and '.join(given)}")
    if input_length is not None and (input_dim is None or not layer.sequence_input):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): input_length goes "
                         "with input_dim on a recurrent layer; give input_shape=(timesteps, "
                         "features) instead")
    if input_dim is not None:
        if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)):
            raise TypeError(f"layer {layer.name!r}: input_dim must be an int (the number of "
                            f"input features), got {input_dim!r}")
        return (input_length, input_dim) if layer.sequence_input else (input_dim,)
    if batch_input_shape is not None:
        if isinstance(batch_input_shape, (int, str)) or len(batch_input_shape) < 2:
            raise ValueError(f"layer {layer.name!r}: batch_input_shape is (batch, *shape), "
                             f"got {batch_input_shape!r}")
        return tuple(batch_input_shape)[1:]
    return input_shape


def _as_shape(shape: Any, who: str) -> Shape:
    if isinstance(shape, int):
        shape = (shape,)
    try:
        out = tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"layer {who!r}: input_shape must be a tuple of ints (batch axis "
                        f"excluded), got {shape!r}") from None
    if any(s is not None and s <= 0 for s in out):
        raise ValueError(f"layer {who!r}: input_shape {out} has a dimension <= 0")
    return out


def deserialize(config: dict) -> Layer:
    """A layer from {"class_name", "config"}; only classes defined in adkit.nn.layers."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = Layer.REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown layer class {name!r} in model config; known: "
                         f"{', '.join(sorted(Layer.REGISTRY))}")
    if not isinstance(config.get("config"), dict):
        raise ValueError(f"layer {name!r} in model config has no 'config' dict")
    return cls.from_config(config["config"])


def serialize(layer: Layer) -> dict:
    """{"class_name", "config"} of a layer: what a saved model stores to rebuild it
    (initializer, regularizer and constraint objects as their {"class_name", "config"})."""
    config = {k: _serialized_option(k, v) for k, v in layer.get_config().items()}
    return {"class_name": type(layer).__name__, "config": config}


def _serialized_option(key: str, value: Any) -> Any:
    if isinstance(value, initializers.Initializer) or (key.endswith("_initializer")
                                                       and callable(value)):
        return initializers.serialize(value)
    if isinstance(value, regularizers_module.Regularizer):
        return regularizers_module.serialize(value)
    if isinstance(value, constraints_module.Constraint):
        return constraints_module.serialize(value)
    return value


def nested(layer: Layer) -> Iterator[Layer]:
    """The layer and the layers it wraps (Bidirectional's two directions, a nested model's
    layers)."""
    todo = [layer]
    while todo:
        current = todo.pop()
        yield current
        todo.extend(v for v in vars(current).values() if isinstance(v, Layer))
        todo.extend(getattr(current, "inner_layers", ()))   # a nested model's layers


def check_channels_last(data_format: Any, who: str) -> None:
    """ValueError unless data_format is Keras's default, channels_last (the only image
    layout adkit.nn has)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{who}: adkit.nn lays images out channels_last (batch, height, "
                         f"width, channels) only; got data_format={data_format!r}")


def check_seed(value: Any, who: str) -> int | None:
    """Keras's seed= of a layer that draws random numbers: an int, or None."""
    if value is not None and (isinstance(value, bool) or
                              not isinstance(value, (int, np.integer))):
        raise TypeError(f"{who}: seed must be an int or None, got {value!r}")
    return None if value is None else int(value)
