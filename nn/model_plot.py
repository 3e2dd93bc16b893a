"""A model's layer graph drawn as Graphviz DOT, as Keras's keras.utils.plot_model
and model_to_dot.

Keras builds a pydot graph and needs pydot and Graphviz for any output. Here
`model_to_dot` returns the DOT text itself (a str, not a pydot.Dot), which needs
nothing; `plot_model` writes it as is for a ``.dot``/``.gv`` file and otherwise runs
Graphviz's ``dot`` program to draw it, raising ImportError naming what to install
when that program is missing.

>>> from adkit.nn import Input, Sequential
>>> from adkit.nn.layers import Dense
>>> model = Sequential([Input((4,)), Dense(2, name="hidden"), Dense(1, name="out")])
>>> print(model_to_dot(model, show_shapes=True))  # doctest: +NORMALIZE_WHITESPACE
digraph model {
  rankdir=TB;
  node [shape=record, fontname="Helvetica"];
  n0 [label="{Dense (hidden)|(None, 2)}"];
  n1 [label="{Dense (out)|(None, 1)}"];
  n0 -> n1;
}
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

__all__ = ["model_to_dot", "plot_model"]

_TEXT_SUFFIXES = (".dot", ".gv")


def _graph(model: Any) -> tuple[list, list[tuple[int, int]], list]:
    """(layers, edges as (from index, to index), each layer's first output tensors or
    None) of a functional or Sequential model."""
    nodes = getattr(model, "nodes", None)
    if nodes:  # functional: one box per layer, one edge per tensor a layer reads
        layers: list = []
        outputs: list = []
        for node in nodes:
            if all(node.layer is not seen for seen in layers):
                layers.append(node.layer)
                outputs.append(list(node.outputs))
        index = {id(layer): i for i, layer in enumerate(layers)}
        edges = []
        for node in nodes:
            for tensor in node.input_tensors:
                edge = (index[id(tensor.node.layer)], index[id(node.layer)])
                if edge not in edges:
                    edges.append(edge)
        return layers, edges, outputs
    layers = list(getattr(model, "layers", None) or [])
    if not layers:
        raise ValueError(f"plot_model: {type(model).__name__} has no layers to draw; pass a "
                         "Sequential or functional model (a subclassed model has no graph until "
                         "it is built from Inputs)")
    return layers, [(i, i + 1) for i in range(len(layers) - 1)], [_output_of(x) for x in layers]


def _output_of(layer: Any) -> list | None:
    """The output tensors of the layer's first call, None if it was never called."""
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return None
    return list(output) if isinstance(output, (list, tuple)) else [output]


def _escape(text: str) -> str:
    return "".join("\\" + c if c in '{}|<>"\\' else c for c in text)


def _label(layer: Any, outputs: list | None, show_shapes: bool, show_dtype: bool, show_layer_names: bool,
           show_layer_activations: bool, show_trainable: bool) -> str:
    title = type(layer).__name__
    if show_layer_names:
        title += f" ({layer.name})"
    parts = [title]
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None:
        parts.append("activation: " + getattr(activation, "__name__", str(activation)))
    if show_trainable:
        parts.append(f"trainable: {getattr(layer, 'trainable', True)}")
    if show_shapes:
        parts.append("?" if outputs is None else ", ".join(str(tuple(o.shape)) for o in outputs))
    if show_dtype:
        parts.append("?" if outputs is None else ", ".join(str(o.dtype) for o in outputs))
    return "{" + "|".join(_escape(p) for p in parts) + "}"


def model_to_dot(model: Any, show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = True, rankdir: str = "TB",
                 expand_nested: bool = False, dpi: int = 200, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False,
                 **kwargs: Any) -> str:
    """The DOT text of the model's layer graph: one box per layer (class name, and
    name, output shape, dtype, activation, trainable as asked), one arrow per
    connection. expand_nested and subgraph are accepted; a nested model is drawn as
    one box."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' (top to bottom) or 'LR' (left to right), got "
                         f"{rankdir!r}")
    layers, edges, outputs = _graph(model)
    lines = ["digraph model {", f"  rankdir={rankdir};",
             '  node [shape=record, fontname="Helvetica"];']
    for i, (layer, output) in enumerate(zip(layers, outputs)):
        label = _label(layer, output, show_shapes, show_dtype, show_layer_names,
                       show_layer_activations, show_trainable)
        lines.append(f'  n{i} [label="{label}"];')
    lines += [f"  n{a} -> n{b};" for a, b in edges]
    return "\n".join(lines + ["}"])


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = False, rankdir: str = "TB",
               expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False,
               **kwargs: Any) -> None:
    """Draw the model's layer graph into to_file, as Keras's keras.utils.plot_model:
    a ``.dot`` or ``.gv`` file gets the DOT text (nothing to install); any other
    suffix (png, svg, pdf, ...) is drawn by Graphviz's ``dot`` program, and without
    it an ImportError says how to install it."""
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable)
    path = os.fspath(to_file)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in _TEXT_SUFFIXES:
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot + "\n")
        return
    program = shutil.which("dot")
    if program is None:
        raise ImportError(f"plot_model needs Graphviz's `dot` program to draw {path!r}, and it "
                          "is not on PATH: install Graphviz (apt install graphviz, brew install "
                          "graphviz or conda install graphviz); or pass to_file='model.dot' to "
                          "write the graph as DOT text, which needs nothing")
    fmt = suffix.lstrip(".") or "png"
    result = subprocess.run([program, f"-T{fmt}", f"-Gdpi={int(dpi)}", "-o", path],
                            input=dot, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"plot_model: Graphviz could not write {path!r} as {fmt}: "
                         f"{result.stderr.strip()}")
