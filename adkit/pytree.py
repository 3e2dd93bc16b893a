"""Nested tuples, lists and dicts of arrays ("pytrees"): flatten to leaves and back.

Gradients mirror their arguments, so a function of `(w1, b1, w2, b2)` or of
`{"dense": {"w": w, "b": b}}` gets a gradient of exactly that structure.
None is an empty subtree (it has no leaves), as in JAX.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class TreeDef(NamedTuple):
    """The structure of a pytree with its leaves taken out."""

    kind: Any          # None for a leaf, "none" for None, else the container type
    meta: Any          # dict keys, or namedtuple type
    children: tuple    # TreeDefs of the children
    num_leaves: int

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind is dict:
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children))
            return "{" + inner + "}"
        return f"{getattr(self.kind, '__name__', self.kind)}({inner})"


LEAF = TreeDef(None, None, (), 1)
NONE = TreeDef("none", None, (), 0)


def tree_flatten(tree: Any) -> tuple[list, TreeDef]:
    """Leaves in a fixed order (dicts by insertion order) and the structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list) -> TreeDef:
    if tree is None:
        return NONE
    t = type(tree)
    if t is tuple or t is list or (isinstance(tree, tuple) and hasattr(tree, "_fields")):
        children = tuple(_flatten(c, leaves) for c in tree)
        meta = t if t not in (tuple, list) else None
        return TreeDef(t, meta, children, sum(c.num_leaves for c in children))
    if t is dict:
        keys = tuple(tree)
        children = tuple(_flatten(tree[k], leaves) for k in keys)
        return TreeDef(dict, keys, children, sum(c.num_leaves for c in children))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves: list) -> Any:
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td: TreeDef, it) -> Any:
    if td.kind is None:
        return next(it)
    if td.kind == "none":
        return None
    children = [_unflatten(c, it) for c in td.children]
    if td.kind is dict:
        return dict(zip(td.meta, children))
    if td.kind is tuple:
        return tuple(children)
    if td.kind is list:
        return children
    return td.kind(*children)  # namedtuple


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    """fn applied leaf by leaf to trees of the same structure."""
    leaves, td = tree_flatten(tree)
    others = []
    for r in rest:
        r_leaves, r_td = tree_flatten(r)
        if r_td != td:
            raise ValueError(f"tree structures differ: {td!r} and {r_td!r}")
        others.append(r_leaves)
    return tree_unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """Readable paths of the leaves, e.g. "[1]['w']", for error messages."""
    if treedef.kind is None:
        return [prefix or "<root>"]
    if treedef.kind == "none":
        return []
    keys = treedef.meta if treedef.kind is dict else range(len(treedef.children))
    out: list[str] = []
    for k, child in zip(keys, treedef.children):
        out += leaf_paths(child, f"{prefix}[{k!r}]")
    return out
