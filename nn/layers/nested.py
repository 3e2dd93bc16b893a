"""A model used as a layer of another model (Keras's nested models), and `model(x)`.

`ModelLayer` wraps a Sequential or a functional Model: its parameters are the
inner model's parameter tree (the same arrays, so training the outer model trains
the inner one), its forward pass the inner model's `apply`. Calling a model on
KerasTensors wraps it once (`as_layer`), so calling it twice shares its weights.

Model classes register here (`MODEL_CLASSES`) so a saved outer model can rebuild
the inner one from its config without this module importing them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..seeding import fresh_seed
from . import subclassing
from .base import Context, Layer, ShapeError
from .nodes import call_layer, is_symbolic

#: class name -> function(config) building an unbuilt model of that class from its
#: get_config() (filled by adkit.nn.functional for Sequential and Model)
MODEL_CLASSES: dict[str, Callable[[dict], Any]] = {}


class ModelLayer(Layer):
    """A model (Sequential or Model) as one layer of an outer model."""

    def __init__(self, model: Any, name: str | None = None, trainable: bool = True,
                 dtype: str | None = None) -> None:
        super().__init__(name=name or model.name, trainable=trainable,
                         dtype=dtype or _first_dtype(model))
        self.model = model
        if not trainable:
            self.trainable = False
        inner = list(model.layers)
        self.has_state = any(layer.has_state for layer in inner)
        self.runs_on_device = all(layer.runs_on_device for layer in inner)
        self.batch_parallel = any(layer.batch_parallel for layer in inner)
        self._fresh_state: dict = {}

    @property
    def trainable(self) -> bool:
        """The wrapped model's trainable flag: `model.trainable = False` freezes it here."""
        model = self.__dict__.get("model")
        return True if model is None else getattr(model, "trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        # Layer.__init__ sets it before the model is here: __init__ applies it then
        if "model" in self.__dict__ and bool(value) != self.trainable:
            self.model.trainable = bool(value)

    # Keras's outer.get_layer("base") is the base model itself: its input, output and
    # layers are the base's own graph's (what Grad-CAM and feature extractors read)
    @property
    def input(self) -> Any:
        """The wrapped model's input KerasTensor(s), as Keras's nested model gives."""
        return self.model.input

    @property
    def output(self) -> Any:
        """The wrapped model's output KerasTensor(s), as Keras's nested model gives."""
        return self.model.output

    @property
    def layers(self) -> list[Layer]:
        """The wrapped model's layers."""
        return self.model.layers

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The wrapped model's layer called `name` (or at `index`)."""
        return self.model.get_layer(name, index)

    @property
    def inner_layers(self) -> list[Layer]:
        """The wrapped model's layers (load_model's weight probe reaches them here)."""
        return list(self.model.layers)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.model.output_shape_for(input_shape)

    def init_params(self, rng: np.random.Generator, input_shape: Any) -> dict:
        if self.model.params is not None:
            return self.model.params   # shared: the same arrays in both models
        # initialised as the model itself would be, from its own seed
        params, self._fresh_state = self.model.fresh_weights(input_shape)
        return params

    def init_state(self, input_shape: Any) -> dict:
        return self.model.state if self.model.params is not None else self._fresh_state

    def adopt(self, input_shape: Any, params: dict, state: dict) -> None:
        """Make the inner model hold the outer model's arrays for it (after a build)."""
        build = getattr(self.model, "build_for_example", self.model.build)   # Sequential's
        build(input_shape, weights=(params, state))

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        before = ctx.state.get(self.name, {})
        out, new_state = self.model.apply(params, x, training=ctx.training, rng=ctx.rng,
                                          state=before)
        if new_state:
            ctx.new_state[self.name] = {**before, **new_state}
        return out

    def penalty(self, params: dict) -> Any:
        total = 0.0
        for layer in self.model.layers:
            if layer.name in params:
                total = total + layer.penalty(params[layer.name])
        return total

    def trainable_part(self, tree: dict) -> dict:
        """The inner model's trainable entries of its part of a params or grads tree."""
        return self.model.trainable_part(tree)

    def apply_constraints(self) -> None:
        self.model.apply_constraints()

    def get_config(self) -> dict:
        return {**super().get_config(),
                "model": {"class_name": type(self.model).__name__,
                          "config": self.model.get_config()}}

    @classmethod
    def from_config(cls, config: dict) -> "ModelLayer":
        spec = config.get("model")
        build = MODEL_CLASSES.get(spec.get("class_name")) if isinstance(spec, dict) else None
        if build is None or not isinstance(spec.get("config"), dict):
            raise ValueError(f"nested model {config.get('name')!r}: unknown model class "
                             f"{spec.get('class_name') if isinstance(spec, dict) else spec!r}; "
                             f"known: {sorted(MODEL_CLASSES)}")
        rest = {k: v for k, v in config.items() if k not in ("model", "input_shape")}
        return cls(build(spec["config"]), **rest)


class NestedState(dict):
    """A model's layer state (layer name -> dict of arrays) in which a nested model's
    entry stays the nested model's own state dict: `update` (what the training loop
    calls after a step) writes into that dict instead of replacing it, so the inner
    model sees the moving averages its BatchNormalization layers gained."""

    def __init__(self, state: dict, nested: set[str]) -> None:
        super().__init__(state)
        self.nested = nested

    def update(self, other: Any = (), **more: Any) -> None:
        for name, value in dict(other, **more).items():
            if name in self.nested and isinstance(self.get(name), dict):
                self[name].update(value)
            else:
                self[name] = value


def stack_shapes(model: Any, input_shape: Any) -> list:
    """A Sequential's input shape, then each of its layers' output shapes."""
    if isinstance(input_shape, list):
        raise ShapeError(f"model {model.name!r} (Sequential) takes one input, got "
                         f"{len(input_shape)}")
    expected = model.example_input_shape or model.layers[0].input_shape
    if expected is not None and (len(expected) != len(input_shape) or any(
            e is not None and g is not None and e != g for e, g in zip(expected, input_shape))):
        raise ShapeError(f"model {model.name!r} (Sequential) takes input of shape "
                         f"{(None,) + tuple(expected)}, but is called on a tensor of shape "
                         f"{(None,) + tuple(input_shape)}")
    shapes = [tuple(input_shape)]
    for layer in model.layers:
        shapes.append(tuple(layer.compute_output_shape(shapes[-1])))
    return shapes


def _first_dtype(model: Any) -> str:
    return model.layers[0].dtype.name if model.layers else "float32"


def as_layer(model: Any, first: bool = False) -> ModelLayer:
    """The one ModelLayer of `model` (made on first use), so every call shares it.
    first=True: it starts a Sequential, so it declares the model's input shape (which
    lets the Sequential build at once)."""
    layer = getattr(model, "_layer", None)
    if layer is None:
        layer = model._layer = ModelLayer(model)
    shape = None
    if first:
        declared = getattr(model, "example_input_shape", None)
        shape = declared if declared is not None or not model.layers \
            else model.layers[0].input_shape
    layer.input_shape = None if isinstance(shape, list) else shape
    return layer


def call_model(model: Any, x: Any, training: bool = False) -> Any:
    """model(x): on KerasTensors, a node of an outer graph (the model as a layer); on
    arrays, the model's outputs (inference mode unless training=True)."""
    if is_symbolic(x):
        return call_layer(as_layer(model), x)
    frame = subclassing.active_frame()
    if frame is not None:   # a model kept in a subclassed layer, called in its call
        return frame.run(as_layer(model), x, training, {})
    x, _ = model.prepare_data(x, None, "model(x)")
    # fresh draws at each call, as Keras's (set_random_seed makes them repeat)
    rng = np.random.default_rng(fresh_seed()) if training else None
    out, _ = model.apply(model.params, x, training=bool(training), rng=rng)
    return model.final_structure(out) if hasattr(model, "final_structure") else out

