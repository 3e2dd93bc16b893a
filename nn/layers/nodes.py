"""Calling a layer: on symbolic tensors it records a node of a graph (the functional
API), on arrays it computes.

`Input(shape=...)` (adkit.nn.functional) makes a `KerasTensor`: a shape and dtype
with no values, plus the node that made it. Calling a layer on KerasTensors checks
the shapes, computes the output shape and returns new KerasTensors whose `node`
names the layer and its inputs; `Model(inputs, outputs)` walks those nodes back
from the outputs. No parameters are made here: they live in the model, as for
Sequential.

>>> from adkit.nn import Input
>>> from adkit.nn.layers import Dense
>>> h = Dense(4, name="hidden")(Input(shape=(3,)))
>>> h.shape, h.node.layer.name
((None, 4), 'hidden')
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import subclassing, weight_view
from ..seeding import fresh_seed
from .context import Context, ShapeError

Shape = tuple


class KerasTensor:
    """A symbolic tensor: what a layer gives when called on an Input (no values).

    shape includes the batch axis (None), as Keras shows it; `node` is the call that
    made it and `index` its position among that call's outputs."""

    def __init__(self, shape: Shape, dtype: Any, node: "Node", index: int = 0,
                 name: str | None = None) -> None:
        self.example_shape = tuple(shape)   # without the batch axis
        self.dtype = np.dtype(dtype)
        self.node = node
        self.index = index
        self.name = name or (node.layer.name if index == 0 else f"{node.layer.name}_{index}")

    @property
    def shape(self) -> tuple:
        """(None, *example_shape): the batch axis first, unknown."""
        return (None,) + self.example_shape

    @property
    def ndim(self) -> int:
        """The number of axes, batch axis included."""
        return len(self.shape)

    def __repr__(self) -> str:
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, "
                f"name={self.name!r}>")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self!r} is symbolic (it has no values): build a Model from it, "
                        "e.g. Model(inputs, outputs), and call model.predict(x)")


#: name -> the op that records an operator on KerasTensors as a layer (adkit.nn.ops
#: registers them; nodes cannot import ops, which builds on the layers)
SYMBOLIC_OPERATORS: dict[str, Any] = {}


def _recorded(op_name: str, reflected: bool = False) -> Any:
    """A KerasTensor operator that records op_name as a layer, as Keras 3 records
    Python's operators and indexing on symbolic tensors (reflected: other op self)."""
    def operator(self: KerasTensor, *other: Any) -> Any:
        op = SYMBOLIC_OPERATORS.get(op_name)
        if op is None:
            raise TypeError("arithmetic on KerasTensors needs adkit.nn.ops (import "
                            "adkit.nn); or combine them with layers, e.g. Add()([a, b])")
        return op(*other, self) if reflected else op(self, *other)
    return operator


for _method, _op, _reflected in (
        ("__add__", "add", False), ("__radd__", "add", True),
        ("__sub__", "subtract", False), ("__rsub__", "subtract", True),
        ("__mul__", "multiply", False), ("__rmul__", "multiply", True),
        ("__truediv__", "divide", False), ("__rtruediv__", "divide", True),
        ("__matmul__", "matmul", False), ("__rmatmul__", "matmul", True),
        ("__pow__", "power", False), ("__neg__", "negative", False),
        ("__getitem__", "get_item", False)):
    setattr(KerasTensor, _method, _recorded(_op, _reflected))
del _method, _op, _reflected


class Node:
    """One call of a layer in a graph: the layer, the tensors it was called on (one
    tensor or a list, as passed), the call's options (keyword arguments that are not
    tensors, e.g. MultiHeadAttention's use_causal_mask; passed to compute_output_shape
    and call) and the tensors it gave."""

    def __init__(self, layer: Any, inputs: Any, options: dict | None = None) -> None:
        self.layer = layer
        self.inputs = inputs
        self.options = dict(options or {})
        self.outputs: list[KerasTensor] = []

    @property
    def input_tensors(self) -> list[KerasTensor]:
        """The inputs as a flat list."""
        return list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]


def flat(structure: Any) -> list:
    """A tensor, a list/tuple of them or a dict of them, as a flat list (dict values in
    key order as given)."""
    if isinstance(structure, dict):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure]


def is_symbolic(x: Any) -> bool:
    """Whether x is a KerasTensor or a list/tuple holding one."""
    return any(isinstance(t, KerasTensor) for t in flat(x))


def call_layer(layer: Any, inputs: Any, training: bool | None = None,
               options: dict | None = None, first_call: bool = False) -> Any:
    """layer(inputs): a node on KerasTensors, a forward pass on arrays (see the module).
    options: the call's keyword arguments other than tensors, given to the layer's
    compute_output_shape and call (and kept in the node, so a saved model keeps them).
    first_call=True: this node becomes the layer's `input` / `output` even if the layer
    was called before (a Sequential's graph, traced again after add or pop)."""
    if is_symbolic(inputs):
        return _record(layer, inputs, options or {}, first_call)
    frame = subclassing.active_frame()
    if frame is not None:   # a sublayer called in a subclassed layer's call
        return frame.run(layer, inputs, training, options or {})
    alone = getattr(layer, "call_alone", None)
    if alone is not None and (layer._owner is None or layer._owner() is None):
        return alone(inputs, training, options or {})   # a subclassed layer in no model
    if training is None:   # Keras's default of the layer's call (True for augmentations)
        training = getattr(layer, "training_by_default", False)
    return _compute(layer, inputs, bool(training), options or {})


def input_shape_of(inputs: Any) -> Any:
    """The example shape of a KerasTensor, or a list of them for a list."""
    if isinstance(inputs, (list, tuple)):
        return [t.example_shape for t in inputs]
    return inputs.example_shape


def _record(layer: Any, inputs: Any, options: dict, first_call: bool = False) -> Any:
    tensors = flat(inputs)
    if isinstance(inputs, dict) or not all(isinstance(t, KerasTensor) for t in tensors):
        kinds = sorted({type(t).__name__ for t in tensors})
        raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) was called on "
                        f"{kinds}; call it on KerasTensors (from adkit.nn.Input or another "
                        "layer) or a list of them, not a mix with arrays")
    shape = input_shape_of(inputs)
    _check_built_shape(layer, shape)
    out_shape = layer.compute_output_shape(shape, **options)
    if getattr(layer, "_called_shape", None) is None:
        layer._called_shape = shape
    node = Node(layer, list(inputs) if isinstance(inputs, tuple) else inputs, options)
    multiple = isinstance(out_shape, list)
    shapes = out_shape if multiple else [out_shape]
    dtypes = getattr(layer, "output_dtypes", None) or [layer.dtype] * len(shapes)
    node.outputs = [KerasTensor(s, d, node, i) for i, (s, d) in enumerate(zip(shapes, dtypes))]
    if first_call or "_first_node" not in vars(layer):   # Keras's layer.input / layer.output
        layer._first_node = node
    return list(node.outputs) if multiple else node.outputs[0]


class NoSymbolicTensorError(AttributeError, ValueError):
    """layer.input / layer.output of a layer never called on KerasTensors (or the inputs
    of a Sequential not built yet): a ValueError as in Keras, and an AttributeError so
    that hasattr(layer, "output") is False."""


def first_call_tensors(layer: Any, what: str) -> Any:
    """Keras's `layer.input` (what="input") or `layer.output` (what="output"): the
    KerasTensor(s) of the layer's first call on KerasTensors (a list for several). A
    layer of a built Sequential has them from the Sequential's graph, traced here on
    first use."""
    node = vars(layer).get("_first_node")
    owner = None if getattr(layer, "_owner", None) is None else layer._owner()
    if node is None and getattr(owner, "params", None) is not None \
            and hasattr(owner, "_symbolic_graph"):
        owner._symbolic_graph()
        node = vars(layer).get("_first_node")
    if node is None:
        raise NoSymbolicTensorError(f"layer {layer.name!r} ({type(layer).__name__}) has never been "
                               f"called on KerasTensors and thus has no defined {what}; call it "
                               "on an adkit.nn.Input (the functional API), or build the "
                               "Sequential model holding it")
    if what == "input":
        return list(node.inputs) if isinstance(node.inputs, (list, tuple)) else node.inputs
    return list(node.outputs) if len(node.outputs) > 1 else node.outputs[0]


def _check_built_shape(layer: Any, shape: Any) -> None:
    """A layer called again (shared) must get the shapes it was first called with; one
    constructed with input_shape= must get that shape."""
    before = getattr(layer, "_called_shape", None)
    if before is not None and not _same_shapes(before, shape):
        raise ShapeError(f"layer {layer.name!r} ({type(layer).__name__}) was built for input "
                         f"shape {_show(before)} on its first call and is now called on "
                         f"{_show(shape)}; a shared layer takes inputs of one shape (use a "
                         "new layer for the other shape)")
    declared = layer.input_shape
    if declared is not None and not isinstance(shape, list) \
            and not _same_shapes(tuple(declared), shape):
        raise ShapeError(f"layer {layer.name!r} ({type(layer).__name__}) was constructed with "
                         f"input_shape={tuple(declared)} but is called on a tensor of shape "
                         f"{(None,) + tuple(shape)}")


def _same_shapes(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
            all(_same_shapes(x, y) for x, y in zip(a, b))
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _show(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_show(s) for s in shape) + "]"
    return str((None,) + tuple(shape))


def _compute(layer: Any, inputs: Any, training: bool, options: dict) -> Any:
    """The layer applied to arrays, with the weights of the built model holding it
    (a layer without weights needs none)."""
    x = [np.asarray(a) for a in inputs] if isinstance(inputs, (list, tuple)) \
        else np.asarray(inputs)
    owner = None if layer._owner is None else layer._owner()
    shape = [a.shape[1:] for a in x] if isinstance(x, list) else x.shape[1:]
    if owner is None and (layer.init_params(np.random.default_rng(0), shape)
                          or layer.has_state):
        owner = _stand_alone(layer, shape)
    params = getattr(owner, "params", None)
    state = getattr(owner, "state", None) or {}
    if params is not None and layer.name in params:
        weights = params[layer.name]
        if isinstance(owner, weight_view.StandaloneWeights):
            _check_built_shape(layer, shape)
    else:
        weights = layer.init_params(np.random.default_rng(0), shape)
        if weights or layer.has_state:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has weights, "
                             "which live in the model that holds it; build a model with it "
                             "(Sequential or Model), then call the layer or model(x)")
    ctx = Context(training=training, rng=np.random.default_rng(fresh_seed()) if training else None,
                  state=state)
    return layer.call(weights, x, ctx, **options)


def _stand_alone(layer: Any, shape: Any) -> Any:
    """Keras's layer called alone on arrays: on its first call it builds its own weights
    (seeded afresh), which it keeps for later calls (layer.weights, layer.kernel); a
    model that takes the layer later holds weights of its own."""
    holder = weight_view.StandaloneWeights(layer, shape,
                                           np.random.default_rng(fresh_seed()))
    layer.__dict__["_standalone"] = holder   # the owner reference is weak
    layer._owner = weakref.ref(holder)
    if getattr(layer, "_called_shape", None) is None:
        layer._called_shape = shape
    return holder
