"""docs/coverage.md, generated from the primitive table itself.

`python -m adkit coverage` prints it; `python -m adkit coverage --out
docs/coverage.md` regenerates the file, and a test fails when the committed
file is out of date, so the document can never drift from the code.
"""

from __future__ import annotations

import importlib
from typing import Iterable

from .rules.scipy_binding import FAMILIES
from .table import COVERAGE, ON_OBJECTS, PRIMITIVES, NoSympy, PerElement
from .tracer import NondiffPrimitive, Primitive

YES, NO = "yes", "—"


def _has_jvp(p: Primitive) -> bool:
    return p.jvp_joint is not None or any(r is not None for r in _first(p.jvps))


def _has_vjp(p: Primitive) -> bool:
    return any(r is not None for r in _first(p.vjps))


def _first(rules) -> list:
    try:
        return [rules[i] for i in range(min(len(rules), 4))]
    except (IndexError, TypeError):
        return []


def sympy_description(p: Primitive) -> str:
    """How adkit.symbolic evaluates the primitive (see table.defprim)."""
    rule = p.sympy
    if isinstance(rule, NoSympy):
        return f"none: {rule.reason}"
    if rule is ON_OBJECTS:
        return "same NumPy code"
    if isinstance(rule, str):
        return f"sympy.{rule}"
    if isinstance(rule, PerElement):
        return "SymPy formula"
    return "SymPy rule" if rule is not None else "not yet"


def row(name: str, prims: Iterable[Primitive]) -> tuple[str, str, str, str]:
    prims = list(prims)
    if prims and all(isinstance(p, NondiffPrimitive) for p in prims):
        return name, "no derivative", "no derivative", "constant at the point"
    if not prims:  # a composition of other entries
        return name, YES + " (composed)", YES + " (composed)", "via parts"
    fwd = YES if all(_has_jvp(p) for p in prims) else NO
    rev = YES if all(_has_vjp(p) for p in prims) else NO
    sym = ", ".join(sorted({sympy_description(p) for p in prims}))
    return name, fwd, rev, sym


def _load_all() -> None:
    """Optional families (SciPy's modules) join the table when importable."""
    for rules in FAMILIES.values():
        try:
            importlib.import_module(rules)
        except ImportError:  # pragma: no cover - SciPy absent
            pass


#: the document's sections, in order: NumPy's, then SciPy's modules
SECTIONS = ("numpy", "numpy.linalg", "numpy.fft", *FAMILIES)


def _family(name: str) -> str:
    if name.startswith("scipy."):
        return ".".join(name.split(".")[:2])
    return ("numpy.linalg" if name.startswith("np.linalg.") else
            "numpy.fft" if name.startswith("np.fft.") else "numpy")


def markdown() -> str:
    _load_all()
    rows = sorted(row(name, prims) for name, prims in COVERAGE.items())
    families: dict[str, list] = {}
    for r in rows:
        families.setdefault(_family(r[0]), []).append(r)
    diff = sum(1 for r in rows if r[1] != "no derivative")
    built_in = sum(not name.startswith("user:") for name in PRIMITIVES)  # not users' own
    lines = [
        "# Coverage: the NumPy functions adkit differentiates",
        "",
        "Generated from the primitive table by `python -m adkit coverage`; do not edit.",
        "",
        f"{len(rows)} NumPy/SciPy functions reach the table, {diff} of them differentiable "
        f"({built_in} primitives). *forward*: a JVP rule (dual numbers, batched "
        "tangents); *reverse*: a VJP rule (the tape); *symbolic*: how adkit.symbolic "
        "evaluates it on SymPy expressions (*same NumPy code*: NumPy's own function on "
        "object arrays of expressions; *SymPy formula/rule*: written for SymPy; *none*: "
        "no exact counterpart, tracing such a function raises NoSympyError; *constant at "
        "the point*: evaluated on numbers and recorded as a branch). *(composed)*: the function is a composition of other "
        "entries, so both modes follow from theirs. *no derivative*: the output is "
        "integer, boolean or piecewise constant; it works on traced values and carries no "
        "derivative.",
        "",
        "SciPy code differentiates as written, whatever the import order (`from "
        "scipy.special import logsumexp` at the top of a module included): the SciPy "
        "functions listed below are bound to their rules once, at the first "
        "differentiation after their module is imported (adkit/rules/scipy_binding.py). "
        "scipy.stats methods are differentiable in the point and every parameter except "
        "the counts of the discrete families (k, loc, binom's n); the shape parameters of "
        "the cdf/sf family of t, beta, gamma, chi2, invgamma and nbinom's n (incomplete "
        "beta/gamma functions, also scipy.special's gammainc, "
        "gammaincc, betainc and stdtr) once, by quadrature, and multivariate_normal with "
        "allow_singular=True on its support. A SciPy function without an entry raises an "
        "error naming it.",
        "",
        "Complex inputs follow autograd's convention (grad of u + iv is du/dx - i du/dy; "
        "a real input gets a real gradient): the elementwise functions, arithmetic, "
        "products, reductions, norms, every np.linalg rule and the FFTs are checked on "
        "complex values against differences along the real and imaginary directions "
        "(tests/test_complex.py). [complex.md](complex.md) says what each transform "
        "returns, `hessian` included (the Jacobian of the gradient). scipy.linalg's sqrtm "
        "and solve_sylvester take complex matrices; its cholesky, eigh, expm and lu_factor "
        "refuse them.",
        "",
    ]
    for family in SECTIONS:
        if family not in families:
            continue
        lines += [f"## {family}", "", "| function | forward | reverse | symbolic |",
                  "|---|---|---|---|"]
        lines += [f"| `{n}` | {f} | {r} | {s} |" for n, f, r, s in families[family]]
        lines.append("")
    return "\n".join(lines)
