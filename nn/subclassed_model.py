"""Models written by subclassing Model, the Keras way: layers made in __init__, the
forward pass in call(self, inputs, training=None).

>>> import numpy as np
>>> from adkit.nn import Model
>>> from adkit.nn.layers import Dense
>>> class TwoLayers(Model):
...     def __init__(self):
...         super().__init__(seed=0)
...         self.hidden = Dense(8, activation="relu")
...         self.out = Dense(1)
...     def call(self, inputs):
...         return self.out(self.hidden(inputs))
>>> model = TwoLayers()
>>> model.predict(np.zeros((2, 3))).shape
(2, 1)

Such a model has no graph until it sees data (or `model.build(input_shape)`), as in
Keras: then it becomes a functional Model of one layer, `SubclassedCall`, whose call
is the model's `call` (run as a subclassed layer, nn/layers/subclassing.py, so the
layers it calls compute with the model's parameters), and a `compile` given before
that is applied then. Its weights save and load (save_weights / load_weights); the
model itself is code, so `model.save` refuses it and names those two.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .layers.base import Layer, snake_case, unique_name
from .summary_table import summary_lines
from .seeding import fresh_seed

#: Model's methods that need the graph: run on a subclassed model, they build it first
#: from the data they are given
_DATA_METHODS = ("fit", "evaluate", "predict", "train_on_batch", "__call__")

#: the functional API's Model class and Input function, registered by nn/functional.py
#: (which imports this module, so this one does not import it)
FUNCTIONAL: dict[str, Any] = {}


def register(model_class: type, input_function: Callable) -> None:
    """Called by nn/functional.py: the Model class and Input a graph is built from."""
    FUNCTIONAL.update(Model=model_class, Input=input_function)


class SubclassedCall(Layer):
    """A subclassed model's call as the one layer of its graph."""

    def __init__(self, model: Any, dtype: Any = "float32") -> None:
        super().__init__(name="call", dtype=dtype)
        self.model = model
        self.attribute_owner = model   # the sublayers are the model's attributes

    def call(self, inputs: Any, training: Any = None) -> Any:
        call = type(self.model).call
        if "training" in _parameter_names(call):
            return call(self.model, inputs, training=training)
        return call(self.model, inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "model_class": type(self.model).__qualname__}

    @classmethod
    def from_config(cls, config: dict) -> "SubclassedCall":
        raise TypeError(f"the file holds a subclassed model ({config.get('model_class')}), "
                        "whose layers are code: build the model from its class and read "
                        "the weights with model.load_weights(path)")


def _refusing_save(model: Any, *args: Any, **kwargs: Any) -> None:
    raise TypeError(f"model {model.name!r} is a subclassed model ({type(model).__name__}): "
                    "its layers are code, which model files never hold. Save its weights "
                    "with model.save_weights(path), and rebuild it from its class with "
                    "model.load_weights(path)")


def _parameter_names(fn: Callable) -> tuple:
    code = fn.__code__
    return code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]


def is_subclass_with_call(cls: type) -> bool:
    """True for a subclass of Model that defines call (Keras's subclassing API)."""
    return any("call" in vars(base) for base in cls.__mro__ if base.__name__ != "Model")


def adapt_class(cls: type) -> None:
    """Wrap Model's data methods (those cls does not define itself) and compile, build
    and summary so that an instance waiting for its first data builds itself first."""
    model_class = FUNCTIONAL["Model"]
    for name in _DATA_METHODS:
        if name not in vars(cls):
            setattr(cls, name, _building_first(getattr(model_class, name)))
    if "save" not in vars(cls):
        cls.save = _refusing_save
    for name, wrapper in (("compile", _compile), ("build", _build), ("summary", _summary),
                          ("get_layer", _get_layer)):
        if name not in vars(cls):
            setattr(cls, name, wrapper(getattr(model_class, name)))


def start(model: Any, name: str | None, seed: int | None) -> None:
    """Model.__init__ with no inputs and outputs: a subclassed model without its graph."""
    if not is_subclass_with_call(type(model)):
        raise TypeError("Model needs inputs and outputs (Model(inputs, outputs), the "
                        "functional API), or subclass it and define call(self, inputs), "
                        "as in Keras")
    model.name = name or unique_name(snake_case(type(model).__name__))
    model.seed = fresh_seed() if seed is None else int(seed)
    model._init_training_attributes()
    model._waiting = {"compile": None}
    # what is set after this is the user's: its layers are the model's, in that order
    model._framework_attributes = frozenset(vars(model)) | {"_framework_attributes"}


def waiting(model: Any) -> bool:
    """True while a subclassed model has not built its graph."""
    return model.__dict__.get("_waiting") is not None


def build_for(model: Any, example: Any) -> None:
    """Build a waiting model for inputs like example (an array or a list of arrays)."""
    Input, Model = FUNCTIONAL["Input"], FUNCTIONAL["Model"]
    arrays = example if isinstance(example, (list, tuple)) else [example]
    try:
        shapes = [np.shape(a)[1:] for a in arrays]
    except Exception:
        shapes = None
    if shapes is None or not all(isinstance(a, np.ndarray) or np.ndim(a) > 0 for a in arrays):
        raise ValueError(f"model {model.name!r} is subclassed and not built yet; call "
                         "model.build(input_shape) first, or pass arrays (its input shape "
                         "comes from the first data it sees)")
    inputs = [Input(shape=s, dtype=_input_dtype(a)) for s, a in zip(shapes, arrays)]
    _make_graph(model, Model, inputs if isinstance(example, (list, tuple)) else inputs[0])


def _input_dtype(array: Any) -> Any:
    dtype = np.asarray(array).dtype
    return dtype if dtype.kind in "iub" else "float32"


def _make_graph(model: Any, model_class: type, inputs: Any) -> None:
    pending = model._waiting["compile"]
    framework = model.__dict__.get("_framework_attributes", frozenset())
    model._user_attributes = [k for k in vars(model) if k not in framework]
    outputs = SubclassedCall(model)(inputs)
    model_class._setup(model, inputs, outputs, model.name, model.seed)
    model._waiting = None
    model_class.build(model)
    if pending is not None:
        model_class.compile(model, *pending[0], **pending[1])


def _building_first(method: Callable) -> Callable:
    def on_data(self: Any, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        if waiting(self):
            build_for(self, x)
        return method(self, x, *args, **kwargs)
    on_data.__name__, on_data.__doc__ = method.__name__, method.__doc__
    return on_data


def _compile(method: Callable) -> Callable:
    def compile(self: Any, *args: Any, **kwargs: Any) -> None:
        if waiting(self):   # applied when the graph exists
            self._waiting["compile"] = (args, kwargs)
            self.optimizer = kwargs.get("optimizer", args[0] if args else "rmsprop")
            return
        method(self, *args, **kwargs)
    compile.__doc__ = method.__doc__
    return compile


def _build(method: Callable) -> Callable:
    def build(self: Any, input_shape: Any = None, weights: Any = None) -> None:
        if waiting(self):
            Input, Model = FUNCTIONAL["Input"], FUNCTIONAL["Model"]
            if input_shape is None:
                raise ValueError(f"model {model_name(self)}: build needs the input shape")
            shapes = input_shape if isinstance(input_shape, list) else [input_shape]
            inputs = [Input(shape=tuple(s)[1:]) for s in shapes]   # Keras: batch first
            _make_graph(self, Model, inputs if isinstance(input_shape, list) else inputs[0])
            if weights is None:
                return
        method(self, input_shape, weights)
    build.__doc__ = method.__doc__
    return build


def _summary(method: Callable) -> Callable:
    def summary(self: Any, *args: Any, print_fn: Callable | None = None,
                **kwargs: Any) -> None:
        """Keras's summary of a subclassed model: one row per layer it keeps, named and in
        the order of its attributes (tracked_layers), with its parameter count; the
        output shapes are the call's business, so they show as "?"."""
        if waiting(self):
            raise ValueError(f"model {model_name(self)} is subclassed and not built yet: "
                             "call model.build(input_shape), or fit/predict, first")
        print_fn = print if print_fn is None else print_fn
        call = self.layers[-1]
        params, state = self.params[call.name], self.state.get(call.name, {})
        rows = [("Layer (type)", "Output Shape", "Param #")]
        trainable = non_trainable = 0
        sublayers = call.__dict__.get("_sublayers", {})
        keys = {id(getattr(layer, "model", layer)): key for key, layer in sublayers.items()}
        for layer in tracked_layers(self):
            key = keys.get(id(layer))
            n = _size(params.get(key, {})) if key is not None else 0
            n_state = _size(state.get(key, {})) if key is not None else 0
            trainable += n if layer.trainable else 0
            non_trainable += n_state + (0 if layer.trainable else n)
            rows.append((f"{layer.name} ({type(layer).__name__})", "?", f"{n + n_state:,}"))
        own = {k: v for k, v in params.items() if k not in sublayers}
        trainable += _size(own)
        for line in summary_lines(self.name, rows, trainable, non_trainable):
            print_fn(line)
    return summary


def _get_layer(method: Callable) -> Callable:
    def get_layer(self: Any, name: str | None = None, index: int | None = None) -> Any:
        """The layer the model keeps called `name`, or at position `index` of
        tracked_layers (Keras's get_layer on a subclassed model)."""
        if waiting(self):
            raise ValueError(f"model {model_name(self)} is subclassed and not built yet: "
                             "call model.build(input_shape), or fit/predict, first")
        if (name is None) == (index is None):
            raise ValueError("get_layer: pass a layer name or an index, not both nor neither")
        layers = tracked_layers(self)
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model "
                                 f"keeps {len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; the model keeps "
                         f"{[layer.name for layer in layers]}")
    get_layer.__doc__ = method.__doc__
    return get_layer


def tracked_layers(model: Any) -> list:
    """The layers (and models) a subclassed model keeps as attributes, in the order they
    were set, lists, tuples and dicts flattened: what Keras's `model.layers` lists for
    such a model (here `model.layers` stays the graph: [input, call])."""
    found: list = []
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if isinstance(value, Layer) or (hasattr(value, "weight_slots")
                                        and hasattr(value, "layers")):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
    attributes = vars(model)
    for name in attributes.get("_user_attributes", ()):
        visit(attributes.get(name))
    return found


def _size(tree: Any) -> int:
    """The number of entries of the arrays in a nest of dicts."""
    if isinstance(tree, dict):
        return sum(_size(v) for v in tree.values())
    return int(np.size(tree))


def model_name(model: Any) -> str:
    return repr(getattr(model, "name", type(model).__name__))
