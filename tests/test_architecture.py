"""DESIGN.md's layering, held by a test: imports run one way, and no module imports itself
back through others.

The imports are read from the source with `ast`, function-local ones included (an import
inside a function is still a dependency, only a later one), so an arrow against the
layering fails here, not in review:

    kernels/         knows nothing of nn/ nor of differentiation (adkit's core)
    adkit/ core      knows nothing of nn/ or kernels/
    nn/              uses adkit's public API (and kernels/), not the core's internals
    adkit.numeric    a referee: knows nothing of the engines, nor of the table
    adkit.symbolic   a referee: uses the table's SymPy slots, never the engines
    CLI modules      import nn/ and kernels/ only inside the command that needs them

and no two modules of adkit (core, nn or kernels) import each other, directly or
through others.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: directory -> the package it is imported as (pyproject maps nn/ and kernels/ under adkit)
PACKAGES = {"adkit": "adkit", "nn": "adkit.nn", "kernels": "adkit.kernels"}

#: the command line sits on top: it may import nn/ and kernels/, inside its commands
CLI = {"adkit.__main__", "adkit.demo", "adkit.check_command", "adkit.coverage",
       "adkit.expression"}

#: differentiation machinery a referee must not use (the referees check it)
ENGINES = ("adkit.forward", "adkit.reverse", "adkit.api", "adkit.extend", "adkit.checks")
#: ...and, for the numeric referee, the table and tracing as well: it knows only functions
TRACING = ("adkit.tracer", "adkit.table", "adkit.rules", "adkit.dispatch", "adkit.arraybox",
           "adkit.scope", "adkit.inplace", "adkit.symbolic")

#: the core modules nn/ may import: adkit's public API, not its internals
PUBLIC_CORE = {"adkit", "adkit.extend", "adkit.pytree", "adkit.errors", "adkit.checks",
               "adkit.numeric", "adkit.symbolic"}

#: import edges that close a cycle on purpose: (importer, imported) -> why it must stay
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}


class Import(NamedTuple):
    importer: str
    imported: str
    line: int
    local: bool   # inside a function (or class body): runs when called, not on import

    def __str__(self) -> str:
        where = "inside a function" if self.local else "at the top"
        return f"{self.importer} -> {self.imported} (line {self.line}, {where})"


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the three packages under root, by its import name."""
    found = {}
    for directory, package in PACKAGES.items():
        for path in sorted((root / directory).rglob("*.py")):
            parts = path.relative_to(root / directory).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package,) + parts)] = path
    return found


def _resolve(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: dict) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parent = module.split(".")[:len(module.split(".")) - node.level + is_package]
            base = ".".join(parent + ([node.module] if node.module else []))
        # `from pkg import sub` imports the submodule; `from mod import name` the module
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                 for alias in node.names]
    # a name of ours that is no module (a file not written yet) fails on import, not here
    return list(dict.fromkeys(n for n in names if n in modules))


def _import_nodes(node: ast.AST, local: bool = False):
    """(import node, whether it sits inside a function or class body), in source order."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, local
        else:
            yield from _import_nodes(child, local or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)))


@functools.lru_cache(maxsize=None)
def imports(root: Path = ROOT) -> tuple[Import, ...]:
    """Every import of one of our modules by another, top-level and function-local."""
    modules = module_files(root)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, local in _import_nodes(tree):
            for target in _resolve(node, module, path.name == "__init__.py", modules):
                if target != module:
                    found.append(Import(module, target, node.lineno, local))
    return tuple(found)


def _in(module: str, prefixes: tuple | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer(module: str) -> str:
    if _in(module, "adkit.kernels"):
        return "kernels"
    if _in(module, "adkit.nn"):
        return "nn"
    return "cli" if module in CLI else "core"


def upward_imports(found: tuple[Import, ...]) -> list[str]:
    """Each import against DESIGN.md's layering, with the rule it breaks."""
    bad = []
    for imp in found:
        src, dst = layer(imp.importer), layer(imp.imported)
        if src == "kernels" and dst != "kernels":
            bad.append(f"{imp}: kernels/ knows nothing of nn/ or of differentiation")
        elif src == "core" and dst in ("nn", "kernels"):
            bad.append(f"{imp}: adkit's core knows nothing of nn/ or kernels/")
        elif src == "nn" and dst in ("core", "cli") and imp.imported not in PUBLIC_CORE:
            bad.append(f"{imp}: nn/ uses adkit's public API ({', '.join(sorted(PUBLIC_CORE))}), "
                       "not the core's internals")
        elif src == "cli" and dst in ("nn", "kernels") and not imp.local:
            bad.append(f"{imp}: the command line imports nn/ and kernels/ inside the "
                       "command that needs them, so `import adkit` stays light")
    for referee, forbidden in (("adkit.numeric", ENGINES + TRACING), ("adkit.symbolic", ENGINES)):
        for path in _paths_from(referee, found, forbidden):
            bad.append(f"{' -> '.join(path)}: {referee} is a referee; it must not use "
                       f"{path[-1]}")
    return bad


def _paths_from(start: str, found: tuple[Import, ...], forbidden: tuple) -> list[list[str]]:
    """Import chains from `start` to a forbidden module (one per forbidden module reached)."""
    graph: dict[str, set] = {}
    for imp in found:
        graph.setdefault(imp.importer, set()).add(imp.imported)
    paths, seen, todo = [], {start}, [[start]]
    while todo:
        path = todo.pop(0)
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt in seen:
                continue
            seen.add(nxt)
            if _in(nxt, forbidden):
                paths.append(path + [nxt])
            else:
                todo.append(path + [nxt])
    return paths


def cycles(found: tuple[Import, ...]) -> list[list[str]]:
    """The import cycles: groups of modules that each reach the others (Tarjan's SCCs)."""
    graph: dict[str, set] = {}
    for imp in found:
        if (imp.importer, imp.imported) not in ALLOWED_CYCLE_EDGES:
            graph.setdefault(imp.importer, set()).add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def _describe(group: list[str], found: tuple[Import, ...]) -> str:
    """The cycle group as one shortest loop through its first module, import by import."""
    edges: dict[str, list[Import]] = {}
    for imp in found:
        if imp.importer in group and imp.imported in group:
            edges.setdefault(imp.importer, []).append(imp)
    start = group[0]
    paths: dict[str, list[Import]] = {start: []}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for imp in edges.get(v, ()):
            if imp.imported == start:
                loop = paths[v] + [imp]
                return (f"import cycle among {len(group)} modules ({', '.join(group)}); "
                        "one loop:\n    " + "\n    ".join(map(str, loop)))
            if imp.imported not in paths:
                paths[imp.imported] = paths[v] + [imp]
                todo.append(imp.imported)
    raise AssertionError(f"{group} is not a cycle")


# --- the tree as it is ------------------------------------------------------------------------


def test_the_graph_is_read_from_every_module():
    found = imports()
    modules = module_files(ROOT)
    assert {"adkit.tracer", "adkit.nn.backend", "adkit.kernels.window"} <= set(modules)
    # a top-level and a function-local import are both seen
    assert any(i.importer == "adkit.nn.backend" and i.imported == "adkit.kernels.window"
               for i in found)
    assert any(i.importer == "adkit.__main__" and _in(i.imported, "adkit.nn") and i.local
               for i in found)


def test_imports_run_one_way():
    bad = upward_imports(imports())
    assert not bad, "imports against DESIGN.md's layering:\n  " + "\n  ".join(bad)


def test_no_import_cycles():
    found = imports()
    groups = cycles(found)
    assert not groups, "\n".join(_describe(g, found) for g in groups)


def test_errors_is_a_leaf_and_its_exceptions_keep_their_public_paths():
    """Any module can raise adkit's exceptions without importing the module that catches
    them; users keep importing them from where they always did."""
    assert not [str(i) for i in imports() if i.importer == "adkit.errors"]
    import adkit
    from adkit import arraybox, checks, errors, extend, symbolic, table, tracer
    assert adkit.NoRuleError is table.NoRuleError is errors.NoRuleError
    assert adkit.TracedConversionError is arraybox.TracedConversionError \
        is errors.TracedConversionError
    assert adkit.PointError is checks.PointError is errors.PointError
    assert symbolic.NoSympyError is errors.NoSympyError
    assert extend.UserPrimitive is tracer.UserPrimitive
    assert issubclass(errors.NoRuleError, TypeError) and issubclass(errors.PointError, ValueError)
    assert issubclass(errors.TracedConversionError, ValueError)
    assert issubclass(errors.NoSympyError, NotImplementedError)


#: NumPy's private names the library may use, and why
NUMPY_PRIVATE_ALLOWED = {
    "_NoValue": "NumPy hands it to __array_function__ overrides for arguments the caller "
                "left out, so a handler with NumPy's signature must recognise it",
}


def _private_numpy_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in ("np", "numpy") and node.attr.startswith("_") \
                and not node.attr.startswith("__") and node.attr not in NUMPY_PRIVATE_ALLOWED:
            found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
        modules = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                   [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for module in modules:
            parts = module.split(".")
            if parts[0] == "numpy" and any(p.startswith("_") for p in parts[1:]):
                found.append(f"{path.name}:{node.lineno} import {module}")
    return found


def test_no_private_numpy_names():
    """NumPy's private modules and attributes change between releases without notice
    (the error-state context variable did): the library uses the public API."""
    bad = [use for path in module_files(ROOT).values() for use in _private_numpy_uses(path)]
    assert not bad, "private NumPy names:\n  " + "\n  ".join(bad)


def test_the_private_numpy_check_sees_attributes_and_imports(tmp_path):
    planted = tmp_path / "m.py"
    planted.write_text("import numpy as np\nfrom numpy._core._ufunc_config import x\n"
                       "def f(a=np._NoValue):\n    return np._CopyMode.ALWAYS, np.__version__\n")
    assert _private_numpy_uses(planted) == ["m.py:2 import numpy._core._ufunc_config",
                                            "m.py:4 np._CopyMode"]


def test_import_adkit_stays_light():
    """`import adkit` loads the engines and the table, nothing of nn/, kernels/, the
    referees or the heavy optional libraries (those load on first use)."""
    code = "import sys, adkit; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout.split())
    assert "adkit.tracer" in loaded and "adkit.reverse.tape" in loaded
    heavy = ("adkit.nn", "adkit.kernels", "adkit.symbolic", "adkit.numeric", "sympy", "scipy",
             "pyopencl", "matplotlib", "mpi4py", "tqdm", "pooch", "threadpoolctl")
    assert not {m for m in loaded if _in(m, heavy)}


def test_the_kernels_window_geometry_loads_no_opencl():
    """nn's NumPy backend reads the geometry from adkit.kernels.window: that must not
    start PyOpenCL (adkit.kernels loads its runtime lazily)."""
    code = ("import sys, adkit.nn.numpy_backend; "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout.split())
    assert "adkit.kernels.window" in loaded
    assert not {m for m in loaded if _in(m, ("pyopencl", "adkit.kernels.runtime"))}


# --- the checker itself fails on what it must catch ----------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name in ("adkit/__init__.py", "nn/__init__.py", "kernels/__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize("name, text, rule", [
    ("kernels/conv.py", "from ..nn.numpy_backend import window\n", "kernels/ knows nothing"),
    ("kernels/conv.py", "def f():\n    import adkit.nn.layers\n", "kernels/ knows nothing"),
    ("kernels/conv.py", "from adkit.rules import helpers\n", "kernels/ knows nothing"),
    ("adkit/tracer.py", "def f():\n    from .kernels import array\n", "core knows nothing"),
    ("adkit/tracer.py", "def f():\n    from adkit.kernels.array import contiguous\n",
     "core knows nothing"),
    ("adkit/dispatch.py", "import adkit.nn\n", "core knows nothing"),
    ("adkit/__main__.py", "from adkit.nn.train import train\n", "inside the command"),
    ("nn/losses.py", "from adkit.rules.helpers import is_duck_array\n", "public API"),
    ("adkit/numeric.py", "def f():\n    from .reverse.api import grad\n", "referee"),
    ("adkit/numeric.py", "from .table import PRIMITIVES\n", "referee"),
])
def test_a_planted_upward_import_fails(tmp_path, name, text, rule):
    root = _tree(tmp_path, {name: text, "adkit/reverse/api.py": "", "adkit/table.py": "",
                            "adkit/rules/helpers.py": "", "kernels/array.py": "",
                            "nn/numpy_backend.py": "", "nn/layers.py": "", "nn/train.py": ""})
    bad = upward_imports(imports(root))
    assert len(bad) == 1 and rule in bad[0], bad


def test_symbolic_reaching_an_engine_through_another_module_fails(tmp_path):
    root = _tree(tmp_path, {"adkit/symbolic.py": "from . import helper\n",
                            "adkit/helper.py": "def f():\n    from .forward import jvp\n",
                            "adkit/forward/__init__.py": "", "adkit/table.py": "",
                            "adkit/numeric.py": ""})
    bad = upward_imports(imports(root))
    assert bad == ["adkit.symbolic -> adkit.helper -> adkit.forward: adkit.symbolic is a "
                   "referee; it must not use adkit.forward"]


def test_a_planted_cycle_fails_even_through_a_function_local_import(tmp_path):
    root = _tree(tmp_path, {"adkit/a.py": "from . import b\n",
                            "adkit/b.py": "from .c import x\n",
                            "adkit/c.py": "def f():\n    from .a import y\n",
                            "adkit/d.py": "from . import a\n"})
    found = imports(root)
    assert cycles(found) == [["adkit.a", "adkit.b", "adkit.c"]]
    assert _describe(cycles(found)[0], found).endswith(
        "one loop:\n    adkit.a -> adkit.b (line 1, at the top)\n    adkit.b -> adkit.c (line 1, "
        "at the top)\n    adkit.c -> adkit.a (line 2, inside a function)")
