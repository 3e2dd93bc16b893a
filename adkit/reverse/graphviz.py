"""The tape's Wengert list as a Graphviz DOT digraph (render it with `dot -Tpng`).

One DOT node per tape entry, labelled with the entry and the shape of its value;
one edge per traced argument, from the parent entry to the entry that used it.
Inputs (watched values) are drawn as boxes, and the entries named as outputs
are filled and outlined in bold, so the way from inputs to outputs stands out.

>>> import numpy as np
>>> from adkit.reverse import Tape
>>> with Tape() as tape:
...     x = tape.watch(np.array([1.0, 2.0]))
...     y = np.sum(x * x)
>>> print(tape.to_dot([y]))
digraph wengert {
  rankdir=TB;
  node [fontname="monospace", shape=ellipse];
  v0 [label="v0 = input\\nshape (2,)", shape=box];
  v1 [label="v1 = multiply\\nshape (2,)"];
  v2 [label="v2 = sum\\nshape ()", style="filled,bold", fillcolor="#ffd27f", penwidth=2];
  v0 -> v1;
  v0 -> v1;
  v1 -> v2;
}
"""

from __future__ import annotations

from typing import Any, Sequence

from ..tracer import BoxBase

__all__ = ["tape_to_dot"]

_OUTPUT_STYLE = 'style="filled,bold", fillcolor="#ffd27f", penwidth=2'


def tape_to_dot(nodes: Sequence[Any], outputs: Any = ()) -> str:
    """A DOT digraph of the Wengert list `nodes` (a Tape's entries).

    outputs: the entries to highlight, given as traced values returned by the
    recorded code, as tape nodes, or as entry indices; one such value, or an
    iterable of them. A traced value that carries no tape entry (it did not
    depend on any watched input) has nothing to highlight and is skipped.
    """
    highlighted = {_index_of(o, nodes) for o in _as_list(outputs)}
    highlighted.discard(None)
    lines = ["digraph wengert {", "  rankdir=TB;",
             '  node [fontname="monospace", shape=ellipse];']
    for node in nodes:
        op = node.prim.name if node.prim is not None else "input"
        label = _escape(f"v{node.index} = {op}") + "\\nshape " + _escape(str(tuple(node.shape)))
        attrs = [f'label="{label}"']
        if node.prim is None:
            attrs.append("shape=box")
        if node.index in highlighted:
            attrs.append(_OUTPUT_STYLE)
        lines.append(f"  v{node.index} [{', '.join(attrs)}];")
    for node in nodes:
        for parent in node.parents:  # one edge per use: x * x draws two
            lines.append(f"  v{parent.index} -> v{node.index};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _as_list(outputs: Any) -> list:
    # A traced array is itself iterable, and iterating it would record new
    # indexing entries on the tape: take a single value as a one-element list.
    if outputs is None:
        return []
    if isinstance(outputs, (BoxBase, int)) or hasattr(outputs, "parents"):
        return [outputs]
    return list(outputs)


def _index_of(output: Any, nodes: Sequence[Any]) -> int | None:
    if isinstance(output, BoxBase):
        # a value on a tape (reverse.Var): its trace keeps the Wengert list; this module
        # stays below the tape, which imports it for Tape.to_dot
        if not isinstance(getattr(output._trace, "nodes", None), list):
            raise TypeError(f"to_dot: a {type(output).__name__} is not a value on a tape")
        node = output._node
        if node is None:  # a constant: not on the tape
            return None
    elif isinstance(output, int) and not isinstance(output, bool):
        if not 0 <= output < len(nodes):
            raise ValueError(f"to_dot: output index {output} is not an entry of this tape "
                             f"(it has {len(nodes)} entries)")
        return output
    elif hasattr(output, "parents") and hasattr(output, "index"):
        node = output
    else:
        raise TypeError(f"to_dot: outputs must be traced values, tape nodes or entry indices, "
                        f"got {type(output).__name__}")
    i = node.index
    if not (0 <= i < len(nodes) and nodes[i] is node):
        raise ValueError(f"to_dot: output v{i} was not recorded on this tape")
    return i


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
