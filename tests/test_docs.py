"""The documentation is true: its code runs and prints what it says, its numbers are the
generated ones, its links resolve, and every public name has a docstring.

Markdown conventions the tests read:
- in docs/adding_a_primitive.md, docs/complex.md and docs/opencl.md every ```python
  block runs, in order, in one namespace; in README.md the blocks right after a line
  `<!-- tested: tests/test_docs.py -->` run, each in a fresh namespace;
- a ```text block right after a block that runs is its expected stdout: numbers are
  compared to 6 significant digits (absolute 1e-9), everything else exactly, up to
  spaces;
- a ```python block whose first line is `# from PATH` is an excerpt of that file,
  not run: each of its lines must still be in PATH, in that order.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import math
import re
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MARKER = "<!-- tested: tests/test_docs.py -->"

# --- reading markdown -------------------------------------------------------------------


@dataclass
class Block:
    lang: str
    code: str
    line: int            # 1-based line of the opening fence
    marked: bool         # preceded by MARKER
    output: "Block | None" = None   # the ```text block right after it


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a markdown file, each python/console block with its output."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    closed = -1   # index of the previous block's closing fence
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        before = [l for l in lines[:start] if l.strip()]
        block = Block(m.group(1), "\n".join(body) + "\n", start + 1,
                      bool(before) and before[-1].strip() == MARKER)
        adjacent = found and not any(l.strip() for l in lines[closed + 1:start])
        if block.lang == "text" and adjacent and found[-1].output is None \
                and found[-1].lang in ("python", "console"):
            found[-1].output = block
        else:
            found.append(block)
        closed = i
        i += 1
    return found


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b")


def same_output(got: str, want: str) -> str | None:
    """None when got matches want (numbers to 6 digits, text up to spaces), else why not."""
    g_nums, w_nums = _NUMBER.findall(got), _NUMBER.findall(want)
    g_text = " ".join(_NUMBER.sub("#", got).split())
    w_text = " ".join(_NUMBER.sub("#", want).split())
    if g_text != w_text or len(g_nums) != len(w_nums):
        return f"printed\n{got}\nbut the document shows\n{want}"
    for g, w in zip(g_nums, w_nums):
        a, b = float(g), float(w)
        if not (a == b or (math.isnan(a) and math.isnan(b))
                or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)):
            return f"printed {g} where the document shows {w}:\n{got}"
    return None


def check_excerpt(block: Block, doc: Path) -> None:
    """Each line of an excerpt is in its source file, in order."""
    first, *rest = block.code.splitlines()
    source = ROOT / first.removeprefix("# from ").strip()
    assert source.is_file(), f"{doc.name}:{block.line}: excerpt of a missing file {source}"
    have = [l.rstrip() for l in source.read_text().splitlines()]
    at = 0
    for line in rest:
        if not line.strip() or line.strip() == "...":
            continue
        try:
            at = have.index(line.rstrip(), at) + 1
        except ValueError:
            pytest.fail(f"{doc.name}:{block.line}: the excerpt's line\n    {line}\nis not "
                        f"(or no longer in this order) in {source.relative_to(ROOT)}; "
                        "copy the current lines into the document")


def run_block(block: Block, namespace: dict, doc: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(block.code, f"{doc.name}:{block.line}", "exec"), namespace)
        except Exception as error:  # the document's code is broken: say where
            raise AssertionError(f"the python block at {doc.name}:{block.line} raised "
                                 f"{type(error).__name__}: {error}") from error
    if block.output is not None:
        why = same_output(out.getvalue(), block.output.code)
        assert why is None, f"{doc.name}:{block.line}: {why}"


def run_document(doc: Path, *, only_marked: bool, shared: bool) -> int:
    """Run a document's python blocks (see the module docstring); returns how many ran."""
    namespace: dict = {"__name__": f"doc_{doc.stem}"}
    ran = 0
    for block in blocks(doc):
        if block.lang != "python":
            continue
        if block.code.startswith("# from "):
            check_excerpt(block, doc)
            continue
        if only_marked and not block.marked:
            continue
        run_block(block, namespace if shared else {"__name__": f"doc_{doc.stem}"}, doc)
        ran += 1
    return ran


# --- the documents' code ----------------------------------------------------------------


def test_the_markdown_reader_pairs_code_with_its_output(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text(f"{MARKER}\n```python\nprint(1.0000001)\n```\n\n```text\n1\n```\n\n"
                   "```python\nx = 2\n```\ntext between\n```text\nunrelated\n```\n")
    b = blocks(doc)
    assert [(x.lang, x.marked, x.output is not None) for x in b] == \
        [("python", True, True), ("python", False, False), ("text", False, False)]
    assert same_output("a 1.0000001 b\n", "a  1 b") is None
    assert same_output("a 1.001 b", "a 1 b") is not None
    assert same_output("a 1 c", "a 1 b") is not None


def test_adding_a_primitive_runs_and_prints_what_it_says():
    ran = run_document(DOCS / "adding_a_primitive.md", only_marked=False, shared=True)
    assert ran >= 6


def test_complex_document_runs_and_prints_what_it_says():
    ran = run_document(DOCS / "complex.md", only_marked=False, shared=True)
    assert ran == 4


def test_readme_examples_run_and_print_what_they_say():
    ran = run_document(README, only_marked=True, shared=False)
    assert ran >= 6, "the README's tested blocks lost their marker"


def _opencl_reason() -> str:
    try:
        from adkit.kernels.runtime import OpenCLUnavailable, device
        device()
    except (ImportError, OpenCLUnavailable) as error:
        return str(error)
    return ""


def test_opencl_document_runs_on_a_device():
    why = _opencl_reason()
    if why:
        pytest.skip(f"docs/opencl.md trains on an OpenCL device: {why}")
    ran = run_document(DOCS / "opencl.md", only_marked=False, shared=True)
    assert ran >= 2


def test_readme_adkit_check_output_is_current():
    """The `adkit check` transcript in the README is what the command prints today."""
    shown = [b for b in blocks(README) if b.lang == "console" and b.marked]
    assert shown, "the README's tested `adkit check` transcript lost its marker"
    for block in shown:
        command = block.code.strip().removeprefix("$ ")
        assert command.startswith("adkit check "), command
        args = _shell_words(command.removeprefix("adkit "))
        done = subprocess.run([sys.executable, "-m", "adkit", *args], capture_output=True,
                              text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        why = same_output(done.stdout, block.output.code)
        assert why is None, f"README.md:{block.line}: {why}"


def _shell_words(command: str) -> list[str]:
    import shlex
    return shlex.split(command)


# --- the documents' numbers and links ----------------------------------------------------


def test_readme_coverage_numbers_are_the_generated_ones():
    from adkit import coverage
    generated = coverage.markdown()
    m = re.search(r"(\d+) NumPy/SciPy functions reach the table, (\d+) of them "
                  r"differentiable \((\d+) primitives\)", generated)
    assert m, "adkit.coverage.markdown() no longer states its summary line"
    text = " ".join(README.read_text().split())
    n_functions, n_differentiable, n_primitives = m.groups()
    shown = (f"**{n_functions}** NumPy/SciPy functions reach the table, {n_differentiable} "
             f"of them differentiable, through {n_primitives} primitives")
    assert shown in text, (f"README.md's coverage summary should read {shown!r} "
                           "(`python -m adkit coverage -o -` prints the current numbers)")


def test_readme_benchmark_table_has_the_date_and_machine_of_results_md():
    results = (ROOT / "benchmarks" / "results.md").read_text()
    date = re.search(r"^- date: (\d{4}-\d\d-\d\d)", results, re.M).group(1)
    machine = re.search(r"^- machine: ([^,]+), (\d+) logical cores", results, re.M)
    readme = README.read_text()
    assert date in readme, f"README's speed table should say it was measured on {date}"
    assert machine.group(1) in readme, f"README should name the machine {machine.group(1)!r}"
    # every adkit time in the README's table is a number of benchmarks/results.md
    table = readme[readme.index("| benchmark | adkit |"):]
    table = table[:table.index("\n\n")]
    adkit_cells = [row.split("|")[2] for row in table.splitlines()[2:]]
    for cell in adkit_cells:
        for value in re.findall(r"\d+(?:\.\d+)?", cell):
            assert _in_results(float(value), results), (
                f"the README's adkit time {value} is in no table of benchmarks/results.md")


def _in_results(value: float, results: str) -> bool:
    """value equals (to the README's rounding) a time printed in results.md, in its unit
    or converted to a larger one (ns to us, us to ms)."""
    for number in re.findall(r"(\d+(?:\.\d+)?) (ns|us|ms)", results):
        x = float(number[0])
        for scaled in (x, x / 1000 if number[1] != "ms" else x):
            if math.isclose(scaled, value, rel_tol=0.02, abs_tol=0.006):
                return True
    return False


def test_every_example_script_is_in_the_readme_table():
    readme = README.read_text()
    scripts = sorted(p.name for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
    missing = [s for s in scripts if f"(examples/{s})" not in readme]
    assert not missing, (f"examples missing from README.md's examples table: {missing}; add "
                         "one line each, taken from the script's docstring")


@pytest.mark.parametrize("doc", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    text = doc.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (doc.parent / target).exists():
            broken.append(target)
    assert not broken, f"{doc.name} links to missing files: {broken}"


# --- docstrings ----------------------------------------------------------------------


def _public_modules() -> list[types.ModuleType]:
    import adkit
    import adkit.nn
    mods = [adkit, adkit.nn]
    mods += [getattr(adkit.nn, n) for n in adkit.nn.__all__
             if isinstance(getattr(adkit.nn, n), types.ModuleType)]
    for name in ("adkit.forward", "adkit.reverse", "adkit.numeric", "adkit.symbolic",
                 "adkit.kernels", "adkit.nn.datasets.fashion_mnist", "adkit.nn.datasets.idx"):
        mods.append(importlib.import_module(name))
    return mods


def _public_names(mod: types.ModuleType) -> list[str]:
    """__all__, or for a module without one its own functions and classes."""
    names = getattr(mod, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, v in vars(mod).items() if not n.startswith("_")
            and (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", None) == mod.__name__]


def undocumented() -> list[str]:
    """Public functions and classes (not constants or modules) without a docstring."""
    missing = []
    for mod in _public_modules():
        for name in _public_names(mod):
            value = getattr(mod, name)
            if isinstance(value, types.ModuleType) or not callable(value):
                continue
            doc = value.__doc__ if inspect.isclass(value) else inspect.getdoc(value)
            if not (doc or "").strip():
                missing.append(f"{mod.__name__}.{name}")
    return sorted(set(missing))


def test_every_public_name_has_a_docstring():
    missing = undocumented()
    assert not missing, f"public names without a docstring: {missing}"
