"""The Layer contract: configuration in the object, parameters outside it.

A layer is a description (units, activation, ...). Its parameters are a dict of
arrays made by `init_params`, and `call(params, x, ctx)` is a pure function of
them, the input and the step's context (training flag, random generator,
non-trainable state such as BatchNormalization's moving averages). That is what
lets `adkit.grad` differentiate a model's loss with respect to its parameters
directly. Shapes exclude the batch axis, as in Keras.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import constraints as constraints_module
from .. import initializers
from .. import regularizers as regularizers_module

Shape = tuple  # of ints or None (unknown length), without the batch axis


class ShapeError(ValueError):
    """A layer cannot take the shape it is given."""


@dataclass
class Context:
    """What one forward pass knows besides parameters and input."""

    training: bool = False
    rng: np.random.Generator | None = None
    state: dict = field(default_factory=dict)       # layer name -> current state
    new_state: dict = field(default_factory=dict)   # layer name -> state after this pass

    def random(self, who: str) -> np.random.Generator:
        if self.rng is None:
            raise ValueError(f"{who} needs a random generator in training mode; pass rng= "
                             "to the forward pass (Model.fit does this for you)")
        return self.rng


class Layer:
    """Base class. Subclasses set their own __init__ arguments and override
    `compute_output_shape`, `init_params` (if they have weights) and `call`."""

    REGISTRY: ClassVar[dict[str, type]] = {}
    _counter: ClassVar = itertools.count(1)
    has_state: ClassVar[bool] = False
    #: True when the layer's kernels split a batch over the backend's own threads
    batch_parallel: ClassVar[bool] = False
    #: True when call() runs on the OpenCL backend's DeviceArrays (model.compile checks)
    runs_on_device: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Layer.REGISTRY[cls.__name__] = cls

    def __init__(self, *, name: str | None = None, input_shape: Shape | None = None,
                 trainable: bool = True, dtype: str = "float32") -> None:
        if name is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise ValueError(f"layer name {name!r} may use only letters, digits, '_', '.', '-'")
        self.name = name or f"{_snake(type(self).__name__)}_{next(Layer._counter)}"
        self.input_shape = None if input_shape is None else _as_shape(input_shape, self.name)
        self.trainable = trainable
        self.dtype = np.dtype(dtype)
        self.regularizers: dict[str, Any] = {}   # param name -> Regularizer
        self.constraints: dict[str, Any] = {}    # param name -> Constraint

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
        return {"kernel_regularizer": None if reg is None else reg.get_config(),
                "kernel_constraint": constraints_module.serialize(self.constraints.get(name))}

    def shape_error(self, input_shape: Shape, expected: str) -> ShapeError:
        return ShapeError(f"layer {self.name!r} ({type(self).__name__}) expects input of "
                          f"shape {expected} (batch axis excluded), got {tuple(input_shape)}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower().replace("2_d", "2d")


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
    """{"class_name", "config"} of a layer: what a saved model stores to rebuild it."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
