"""Tape.to_dot(): the Wengert list as a Graphviz DOT digraph."""

import re
import shutil
import subprocess

import numpy as np
import pytest

import adkit
from adkit.reverse import Tape
from adkit.reverse.graphviz import tape_to_dot
from adkit.reverse.tape import _var


def _norm_tape():
    with Tape() as tape:
        x1, x2 = tape.watch(1.0), tape.watch(2.0)
        y = np.sqrt(x1 * x1 + x2 * x2)
    return tape, (x1, x2), y


def _node_lines(dot):
    return {m.group(1): m.group(0) for m in re.finditer(r"^\s*(v\d+) \[.*\];$", dot, re.M)}


def test_one_node_per_entry_and_one_edge_per_use():
    tape, _, y = _norm_tape()
    dot = tape.to_dot([y])
    assert dot.startswith("digraph wengert {\n") and dot.endswith("}\n")
    nodes = _node_lines(dot)
    assert sorted(nodes, key=lambda v: int(v[1:])) == [f"v{i}" for i in range(6)]
    assert 'label="v5 = sqrt\\nshape ()"' in nodes["v5"]
    assert 'label="v0 = input\\nshape ()"' in nodes["v0"] and "shape=box" in nodes["v0"]
    edges = re.findall(r"^\s*(v\d+) -> (v\d+);$", dot, re.M)
    # x1 * x1 uses v0 twice: two edges
    assert sorted(edges) == sorted([("v0", "v2"), ("v0", "v2"), ("v1", "v3"), ("v1", "v3"),
                                    ("v2", "v4"), ("v3", "v4"), ("v4", "v5")])
    assert dot.count("{") == dot.count("}") == 1


def test_outputs_are_highlighted():
    tape, (x1, _), y = _norm_tape()
    styled = [v for v, line in _node_lines(tape.to_dot([y])).items() if "fillcolor" in line]
    assert styled == ["v5"]
    assert "fillcolor" not in tape.to_dot()
    # a single value, a node, or an index name the same entry
    assert tape.to_dot(y) == tape.to_dot([y]) == tape.to_dot([y.node]) == tape.to_dot(5)
    both = _node_lines(tape.to_dot([x1, y]))
    assert "fillcolor" in both["v0"] and "fillcolor" in both["v5"]


def test_array_output_records_nothing_new():
    with Tape() as tape:
        x = tape.watch(np.array([1.0, 2.0, 3.0]))
        y = np.exp(x) * 2.0
        n = len(tape.entries)
        dot = tape.to_dot(y)  # not iterated element by element
        assert len(tape.entries) == n
    assert "shape (3,)" in dot and "fillcolor" in _node_lines(dot)[f"v{y.node.index}"]


def test_constants_are_skipped_and_strangers_refused():
    tape, _, _ = _norm_tape()
    constant = _var(3.0, None, tape)  # a traced value that depends on no input
    assert "fillcolor" not in tape.to_dot([constant])
    with Tape() as tape2:
        c = tape2.watch(1.0) * 2.0  # v1 of another tape
    with pytest.raises(ValueError, match="not recorded on this tape"):
        tape.to_dot([c])
    with pytest.raises(ValueError, match="not an entry"):
        tape.to_dot([17])
    with pytest.raises(TypeError):
        tape.to_dot(["v5"])
    with pytest.raises(TypeError, match="not a value on a tape"):
        tape.to_dot([adkit.forward.Dual(1.0, 1.0)])


def test_labels_are_escaped():
    class Prim:
        name = 'odd"name\\'

    class Entry:
        def __init__(self, index, prim, parents):
            self.index, self.prim, self.parents, self.shape = index, prim, parents, (2,)

    a = Entry(0, None, ())
    b = Entry(1, Prim(), (a,))
    dot = tape_to_dot([a, b], [b])
    assert 'label="v1 = odd\\"name\\\\\\nshape (2,)"' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_accepts_it(tmp_path):
    tape, _, y = _norm_tape()
    svg = subprocess.run(["dot", "-Tsvg"], input=tape.to_dot([y]), capture_output=True,
                         text=True, check=True).stdout
    assert "<svg" in svg and "v5 = sqrt" in svg
