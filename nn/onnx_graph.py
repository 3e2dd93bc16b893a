"""Export a functional Model (adkit.nn.Model) to ONNX: the graph's nodes in
topological order, each layer written by adkit.nn.onnx_export's writer for it, and
the merge layers as ONNX's own operators (Sum, Sub, Mul, Mean, Max, Min, Concat;
Dot of vectors as Mul + ReduceSum, after LpNormalization when normalize=True).

Each tensor of the graph keeps its ONNX name and layout: convolutions leave their
outputs channels-first, as in a Sequential export, and a merge brings its inputs
to one layout first (an elementwise merge takes them as they are when they agree,
Concatenate and Dot read channels-last). The ONNX inputs and outputs are named
after the model's (`model.input_names`, `model.output_names`). Nested models are
refused by name; export the inner model on its own, or rebuild the graph flat.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .onnx_export import _dims, _Graph, _onnx, _write_checked, _writer
from .layers.input_layer import InputLayer
from .layers.merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,
                           Subtract, _Merge)
from .layers.nested import ModelLayer

__all__ = ["export_graph_onnx"]

#: elementwise merges whose ONNX operator takes any number of inputs
_VARIADIC = {Add: "Sum", Average: "Mean", Maximum: "Max", Minimum: "Min"}


def export_graph_onnx(model: Any, path: str | os.PathLike) -> None:
    """Write a functional `model` as an ONNX file at `path`, atomically; what
    onnxruntime computes from it is what model.predict gives (a list for several
    outputs, in the model's order).

    >>> import tempfile, os; from adkit.nn import Input, Model
    >>> from adkit.nn.layers import Add, Dense
    >>> inp = Input(shape=(3,)); model = Model(inp, Dense(2)(Add()([inp, inp])), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> model.export_onnx(path); os.path.getsize(path) > 0
    True
    """
    onnx = _onnx()
    for layer in model.layers:   # refuse before writing anything
        if isinstance(layer, ModelLayer):
            raise ValueError(f"export_onnx: layer {layer.name!r} is a nested model, which has "
                             "no ONNX export yet; export it on its own, or build the graph "
                             "from its layers")
        if not isinstance(layer, (_Merge, InputLayer)):
            _writer(layer)
    dtype = np.dtype(model.inputs[0].dtype)
    g = _Graph(onnx, dtype, model.inputs[0].example_shape)
    # id(tensor) -> (ONNX name, channels-last shape without batch, channels_first)
    where: dict[int, tuple[str, tuple, bool]] = {}
    g.names.update(model.output_names)   # reserved: internal tensors take other names
    graph_inputs = []
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    for t, name in zip(model.inputs, model.input_names):
        g.names.add(name)
        where[id(t)] = (name, t.example_shape, False)
        graph_inputs.append(onnx.helper.make_tensor_value_info(name, elem,
                                                               _dims(t.example_shape)))
    for node in model.nodes:
        layer = node.layer
        if id(node.outputs[0]) in where:
            continue   # an Input
        sources = [where[id(t)] for t in node.input_tensors]
        if isinstance(layer, _Merge):
            _merge(g, layer, sources)
        else:
            g.x, g.shape, g.channels_first = sources[0]
            _writer(layer)(g, layer, model.params[layer.name], model.state.get(layer.name, {}))
        where[id(node.outputs[0])] = (g.x, tuple(node.outputs[0].example_shape),
                                      g.channels_first)
    graph_outputs = []
    for t, name in zip(model.outputs, model.output_names):
        g.x, g.shape, g.channels_first = where[id(t)]
        g.to_nhwc(name)
        g.nodes.append(onnx.helper.make_node("Identity", [g.x], [name], name=name))
        graph_outputs.append(onnx.helper.make_tensor_value_info(name, elem,
                                                                _dims(t.example_shape)))
    graph = onnx.helper.make_graph(g.nodes, str(model.name), graph_inputs, graph_outputs,
                                   initializer=g.initializers)
    _write_checked(onnx, graph, path)


def _merge(g: _Graph, layer: _Merge, sources: list[tuple[str, tuple, bool]]) -> None:
    """Write one merge layer reading `sources`; its output becomes g's current tensor."""
    same_layout = len({first for _, _, first in sources}) == 1
    keep_layout = same_layout and not isinstance(layer, (Concatenate, Dot))
    names = []
    for i, (name, shape, first) in enumerate(sources):
        g.x, g.shape, g.channels_first = name, shape, first
        if not keep_layout:
            g.to_nhwc(f"{layer.name}/in{i}")
        names.append(g.x)
    hint = layer.name
    if type(layer) in _VARIADIC:
        g.op(_VARIADIC[type(layer)], names, hint)
    elif isinstance(layer, Subtract):
        g.op("Sub", names, hint)
    elif isinstance(layer, Multiply):
        current = names[0]
        for i, other in enumerate(names[1:]):
            current = g.op("Mul", [current, other], f"{hint}/mul{i}")
    elif isinstance(layer, Concatenate):
        rank = len(sources[0][1])
        g.op("Concat", names, hint, axis=layer._example_axis(rank) + 1)
    elif isinstance(layer, Dot):
        _dot(g, layer, names, [s for _, s, _ in sources])
    else:
        raise ValueError(f"export_onnx: merge layer {layer.name!r} ({type(layer).__name__}) "
                         "has no ONNX export yet")


def _dot(g: _Graph, layer: Dot, names: list[str], shapes: list[tuple]) -> None:
    if any(len(s) != 1 for s in shapes):
        raise ValueError(f"export_onnx: Dot layer {layer.name!r} on inputs of shapes "
                         f"{[(None,) + s for s in shapes]}; ONNX export covers Dot of vectors "
                         "(batch, n) only")
    if layer.normalize:
        names = [g.op("LpNormalization", [n], f"{layer.name}/l2_{i}", axis=1, p=2)
                 for i, n in enumerate(names)]
    product = g.op("Mul", names, f"{layer.name}/mul")
    axes = g.constant(f"{layer.name}/axes", [1], dtype=np.int64)
    g.op("ReduceSum", [product, axes], layer.name, keepdims=1)
