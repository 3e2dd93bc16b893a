"""check_grads: every way of differentiating a function, compared pairwise at a point.

The modes are adkit's two engines ("forward", "reverse"), its two referees
("numeric": Richardson-extrapolated differences with an error estimate;
"symbolic": SymPy), and any gradient a user brings, from adkit or another
library: `modes=("reverse", "numeric", ("torch", torch_grad, 1e-6))`.

All of them see f as a function of one flat vector (the differentiated
arguments' leaves, in order) with a flat output, so one table compares them.
Two modes agree when their difference is within the sum of their error
estimates: the numeric one's own estimate, and a relative tolerance (rtol) for
the exact ones. Order 2 compares Hessians of the output weighted by a fixed
random vector (the output itself when it is a scalar).

Complex arguments and outputs are compared in real terms: each complex element is
two real coordinates (its real and imaginary parts, labelled .real and .imag), so
every mode differentiates the same real function; a user mode returns adkit's
convention (docs/complex.md) and is converted. "complex_step" (numeric's
method="complex_step", exact to rounding) is a referee to ask for by name, for a
real-analytic f of real arguments; it is skipped, with a note, where it refuses.

Before blaming a mode, check_grads asks whether the point is the problem: f
not finite there (outside its domain), a derivative that does not exist
(sqrt at 0: infinite), or a kink (abs at 0: the one-sided derivatives
differ). Each raises PointError, which names the problem, instead of a false
disagreement.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .arguments import argument_names, check_callable
from .errors import PointError
from .pytree import leaf_paths, tree_flatten, tree_unflatten

__all__ = ["check_grads", "GradCheckReport", "GradCheckError", "PointError"]

ENGINES = ("forward", "reverse")
MODES = ("forward", "reverse", "numeric", "symbolic")
# referees to ask for by name: not in the default MODES, since a non-analytic f (np.abs,
# np.real of the perturbed value) fools it where it cannot tell
OPT_IN = ("complex_step",)


class GradCheckError(AssertionError):
    """Two modes disagree; .report holds every mode's derivatives and the table."""

    def __init__(self, report: "GradCheckReport") -> None:
        super().__init__("derivatives disagree\n" + str(report))
        self.report = report


@dataclass
class Comparison:
    """One pair of modes: their largest disagreement and whether it is within tolerance."""

    a: str
    b: str
    max_abs: float
    max_rel: float
    where: str
    ok: bool


@dataclass
class GradCheckReport:
    """What check_grads compared. str(report) is the table."""

    order: int
    modes: list[str]
    derivatives: dict[str, np.ndarray]
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def __str__(self) -> str:
        what = "Hessian" if self.order == 2 else "first derivatives"
        lines = [f"check_grads, {what} ({len(self.modes)} modes: {', '.join(self.modes)})"]
        w = max([len(f"{c.a} vs {c.b}") for c in self.comparisons] + [10])
        lines.append(f"  {'pair':<{w}}  {'max abs err':>11}  {'max rel err':>11}  where")
        for c in self.comparisons:
            mark = "" if c.ok else "   <-- disagree"
            lines.append(f"  {c.a + ' vs ' + c.b:<{w}}  {c.max_abs:11.3g}  {c.max_rel:11.3g}"
                         f"  {c.where}{mark}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__


def check_grads(f: Callable, args: Any, *, order: int = 1,
                modes: Sequence[Any] = MODES, argnums: Any = None,
                rtol: float = 1e-9, atol: float = 0.0, kink_check: bool = True,
                seed: int = 0) -> GradCheckReport:
    """Compare the derivatives of f at args in every mode, pairwise.

    args: the arguments, a tuple (a single non-tuple value is one argument).
    order: 1 compares Jacobians (gradients for a scalar f), 2 Hessians.
    modes: names from ("forward", "reverse", "numeric", "symbolic") and/or
        user derivatives as (label, fn) or (label, fn, rtol): fn(*args) returns
        the derivative of the given order with respect to the arguments in
        argnums, shaped like adkit's (out.shape + arg.shape; a tuple for
        several arguments; order 2: the Hessian of a scalar f).
    argnums: which arguments to differentiate (default: every float argument).
    rtol, atol: tolerance of the exact modes (the numeric mode brings its own
        error estimate).

    Raises AssertionError with the table when two modes disagree, PointError
    when the point is outside f's domain or f is not differentiable there;
    returns the report otherwise.

    >>> report = check_grads(lambda x: np.sum(np.sin(x) ** 2), (np.array([0.3, 1.2]),))
    >>> report.ok, len(report.comparisons)
    (True, 6)
    """
    check_callable(f, "check_grads")
    if order not in (1, 2):
        raise ValueError(f"check_grads: order must be 1 or 2, got {order!r}")
    with np.errstate(all="ignore"):  # points outside the domain are reported below
        return _check(f, args, order, modes, argnums, rtol, atol, kink_check, seed)


def _check(f, args, order, modes, argnums, rtol, atol, kink_check, seed) -> GradCheckReport:
    problem = _Problem(f, args, argnums)
    if problem.x0.size == 0:   # an empty Jacobian: every mode agrees on it
        return GradCheckReport(order, [], {}, [], ["the differentiated arguments have no "
                                                   "elements: there is nothing to compare"])
    y0 = problem.F(problem.x0)
    if not np.all(np.isfinite(y0)):
        bad = np.flatnonzero(~np.isfinite(y0))
        raise PointError(
            f"f is not finite at the point (output {problem.out_label(bad[0])} = "
            f"{y0[bad[0]]}): the point is outside f's domain (e.g. the log or sqrt of a "
            "negative number, a division by zero), so no derivative exists there. "
            "Choose a point inside the domain.")
    G = problem.F if order == 1 else problem.scalarized(seed)
    named = _normalize_modes(modes)
    derivs: dict[str, np.ndarray] = {}
    errors: dict[str, np.ndarray] = {}
    numeric_steps: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for label, how, mode_rtol in named:
        try:
            d, err, steps = _derive(how, G, problem, order)
        except _Skipped as skip:
            notes.append(f"{label}: skipped, {skip}")
            continue
        if order == 2 and how == "forward" and "reverse" in {n for n, *_ in named}:
            derivs["forward-over-reverse"] = _fwd_over_rev(G, problem.x0)
            errors["forward-over-reverse"] = None
        derivs[label] = d
        errors[label] = err if err is not None else mode_rtol
        if steps is not None:
            numeric_steps[label] = steps
        if how == "symbolic":
            notes += [f"symbolic: {b}" for b in _symbolic_branches(G, problem.x0)]
    if len(derivs) < 2:
        raise ValueError(f"check_grads needs at least two modes to compare, got "
                         f"{list(derivs)}" + (f" ({'; '.join(notes)})" if notes else ""))
    _check_point(derivs, problem, order, kink_check, notes)
    if kink_check and order == 1 and numeric_steps:
        _allow_for_curvature_jumps(problem, errors, numeric_steps, notes)
    scale = max(float(np.max(np.abs(d), initial=0.0)) for d in derivs.values())
    comparisons = [_compare(a, b, derivs, errors, rtol, atol, scale, problem, order)
                   for a, b in itertools.combinations(derivs, 2)]
    report = GradCheckReport(order, list(derivs), derivs, comparisons, notes)
    if not report.ok:
        raise GradCheckError(report)
    return report


# --- f as a function of one flat vector --------------------------------------------------


class _Problem:
    def __init__(self, f: Callable, args: Any, argnums: Any) -> None:
        self.f = f
        self.args = list(args) if isinstance(args, tuple) else [args]
        if argnums is None:
            argnums = tuple(i for i, a in enumerate(self.args) if _is_float_tree(a))
            if not argnums:
                raise TypeError("check_grads: no float argument to differentiate; pass the "
                                "point as floats or float arrays (or give argnums)")
        self.argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        self.single = isinstance(argnums, int) or len(self.argnums) == 1
        self.parts = []  # (argnum, treedef, shapes, which leaves are complex)
        names = argument_names(f, len(self.args))
        flat, self.in_labels = [], []
        for n in self.argnums:
            leaves, td = tree_flatten(self.args[n])
            leaves = [np.asarray(x, dtype=complex if np.iscomplexobj(x) else float)
                      for x in leaves]
            cplx = [x.dtype.kind == "c" for x in leaves]
            self.parts.append((n, td, [x.shape for x in leaves], cplx))
            for leaf, path, c in zip(leaves, leaf_paths(td, names[n]), cplx):
                labels = [path + _index(i, leaf.shape) for i in np.ndindex(leaf.shape)]
                if c:  # a complex element is two real coordinates (module docstring)
                    flat += [leaf.real.ravel(), leaf.imag.ravel()]
                    labels = [a + ".real" for a in labels] + [a + ".imag" for a in labels]
                else:
                    flat.append(leaf.ravel())
                self.in_labels += labels
        self.x0 = np.concatenate(flat) if flat else np.zeros(0)
        self.complex_in = any(c for *_, cplx in self.parts for c in cplx)
        out = f(*self.args)
        if out is None or np.asarray(out).dtype.kind not in "iufc":
            raise TypeError(f"check_grads: f returned {type(out).__name__} {out!r:.60}; it "
                            "must return a number or an array of numbers"
                            + (" (does f end without a return statement?)" if out is None else ""))
        self.out_shape = np.shape(out)
        self.complex_out = np.iscomplexobj(out)

    def unflatten(self, x: Any) -> list:
        args, start = list(self.args), 0
        for n, td, shapes, cplx in self.parts:
            leaves = []
            for shape, c in zip(shapes, cplx):
                size = int(np.prod(shape, dtype=int))
                leaf = x[start:start + size]
                if c:
                    leaf = leaf + 1j * x[start + size:start + 2 * size]
                    start += size
                leaves.append(np.reshape(leaf, shape))
                start += size
            args[n] = tree_unflatten(td, leaves)
        return args

    def F(self, x: Any) -> Any:
        out = np.reshape(self.f(*self.unflatten(x)), (-1,))
        if self.complex_out:  # a complex output is its real parts, then its imaginary parts
            return np.concatenate([np.real(out), np.imag(out)])
        return out

    def scalarized(self, seed: int) -> Callable:
        if self.out_shape == ():
            return lambda x: self.F(x)[0]
        n_out = int(np.prod(self.out_shape)) * (2 if self.complex_out else 1)
        w = np.random.RandomState(seed).uniform(0.5, 1.5, n_out)
        return lambda x: np.sum(w * self.F(x))

    def out_label(self, i: int) -> str:
        size = int(np.prod(self.out_shape))
        part = "" if not self.complex_out else ".real" if i < size else ".imag"
        return "f" + _index(np.unravel_index(i % max(size, 1), self.out_shape),
                            self.out_shape) + part

    def flatten_user(self, d: Any, order: int) -> np.ndarray:
        """A user derivative (adkit's layout) as a matrix over the flat input."""
        parts = d if not self.single else (d,)
        if self.complex_in or self.complex_out:
            return self._flatten_complex_user(parts, order)
        if order == 2:
            if not self.single:
                return np.block([[np.reshape(b, (b_rows, -1)) for b in row]
                                 for row, b_rows in zip(parts, self._sizes())])
            return np.reshape(np.asarray(d, dtype=float), (self.x0.size, self.x0.size))
        n_out = int(np.prod(self.out_shape))
        return np.concatenate([np.reshape(np.asarray(p, dtype=float), (n_out, -1))
                               for p in parts], axis=1)

    def _flatten_complex_user(self, parts: tuple, order: int) -> np.ndarray:
        """adkit's complex convention (docs/complex.md) in real coordinates: a real
        argument's column is df/dx (Re and Im rows), a complex one's holds
        dRe f/dx - i dRe f/dy, whose Im f rows it cannot give."""
        if order == 2 or (self.complex_in and self.complex_out):
            raise _Skipped("a derivative in adkit's complex convention cannot be compared "
                           "in real coordinates here (a Hessian of complex arguments, or "
                           "the Im f rows of a complex output); compare real and imaginary "
                           "parts as separate arguments and outputs")
        n_out = int(np.prod(self.out_shape))
        cols = []
        for p, (_, _, shapes, cplx) in zip(parts, self.parts):
            for leaf, c in zip(tree_flatten(p)[0], cplx):
                d = np.reshape(np.asarray(leaf, dtype=complex), (n_out, -1))
                if c:   # dRe f/dx - i dRe f/dy: columns along x, then along y
                    cols += [np.real(d), -np.imag(d)]
                elif self.complex_out:
                    cols.append(np.concatenate([np.real(d), np.imag(d)]))
                else:
                    cols.append(np.real(d))
        return np.concatenate(cols, axis=1)

    def _sizes(self) -> list[int]:
        return [sum(int(np.prod(s, dtype=int)) * (1 + c) for s, c in zip(shapes, cplx))
                for _, _, shapes, cplx in self.parts]


def _is_float_tree(a: Any) -> bool:
    leaves = tree_flatten(a)[0]
    return bool(leaves) and all(
        isinstance(x, (float, complex, np.floating, np.complexfloating)) or
        isinstance(x, np.ndarray) and x.dtype.kind in "fc" for x in leaves)


def _index(i: Any, shape: tuple) -> str:
    return f"[{', '.join(map(str, i))}]" if shape else ""


# --- the modes ------------------------------------------------------------------------------


class _Skipped(Exception):
    """A mode that cannot run on this function (said in the report's notes)."""


def _normalize_modes(modes: Sequence[Any]) -> list[tuple[str, Any, float | None]]:
    if isinstance(modes, str):
        modes = (modes,)
    out = []
    for m in modes:
        if isinstance(m, str):
            if m not in MODES + OPT_IN:
                raise ValueError(f"check_grads: unknown mode {m!r}; modes are "
                                 f"{MODES + OPT_IN} or "
                                 "(label, derivative_function[, rtol]) tuples")
            out.append((m, m, None))
        elif isinstance(m, tuple) and len(m) in (2, 3) and callable(m[1]):
            out.append((str(m[0]), m[1], m[2] if len(m) == 3 else None))
        else:
            raise TypeError(f"check_grads: a mode is a name from {MODES} or a "
                            f"(label, derivative_function[, rtol]) tuple, got {m!r}")
    labels = [label for label, _, _ in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"check_grads: mode labels repeat: {labels}")
    return out


def _derive(how: Any, G: Callable, problem: _Problem, order: int) -> tuple[np.ndarray, Any, Any]:
    """(derivative matrix, its error estimate or None for an exact mode, the numeric
    mode's steps or None)."""
    from . import api
    x0 = problem.x0
    if callable(how):
        d = how(*problem.args)
        return problem.flatten_user(d, order), None, None
    if how == "numeric":
        from . import numeric
        fn = numeric.jacobian if order == 1 else numeric.hessian
        d, info = fn(G, x0, method="richardson", full_output=True)
        return _matrix(d, x0, order), _matrix(info.error, x0, order), np.ravel(info.h)
    if how == "complex_step":
        return _complex_step(G, problem, order)
    if how == "symbolic":
        from . import symbolic
        try:
            d = (symbolic.jacobian(G) if order == 1 else symbolic.hessian(G))(x0)
        except symbolic.NoSympyError as e:
            raise _Skipped(str(e).split(", so ")[0]) from None
        return _matrix(d, x0, order), None, None
    if order == 1:
        return _matrix(api.jacobian(G, mode=how)(x0), x0, 1), None, None
    if how == "forward":
        inner = api.jacobian(G, mode="forward")
    else:
        inner = api.grad(G)
    return _matrix(api.jacobian(inner, mode=how)(x0), x0, 2), None, None


def _complex_step(G: Callable, problem: _Problem, order: int) -> tuple:
    from . import numeric
    if order == 2:
        raise _Skipped("the complex step gives first derivatives only")
    if problem.complex_in or problem.complex_out:
        raise _Skipped("the complex step needs real arguments and a real f")
    x0 = problem.x0
    try:
        d, info = numeric.jacobian(G, x0, method="complex_step", full_output=True)
    except (TypeError, ValueError) as e:  # f dropped the imaginary part, or cannot take it
        raise _Skipped(str(e).split("; ")[0].split(". ")[0]) from None
    return _matrix(d, x0, 1), _matrix(info.error, x0, 1), None


def _fwd_over_rev(G: Callable, x0: np.ndarray) -> np.ndarray:
    from . import api
    return _matrix(api.hessian(G)(x0), x0, 2)


def _symbolic_branches(G: Callable, x0: np.ndarray) -> list[str]:
    from . import symbolic
    branches = symbolic.trace(G, x0).branches
    return [f"followed the branch taken at the point ({b})" for b in branches[:3]]


def _matrix(d: Any, x0: np.ndarray, order: int) -> np.ndarray:
    d = np.asarray(d, dtype=float)
    return d.reshape(-1, x0.size) if order == 1 else d.reshape(x0.size, x0.size)


# --- is the point the problem? ---------------------------------------------------------------


def _check_point(derivs: dict, problem: _Problem, order: int, kink_check: bool,
                 notes: list) -> None:
    if kink_check:
        kink = _find_kink(problem)
        if kink:
            raise PointError(
                f"f is not differentiable at the point (or within a step of it): {kink}. "
                "That is a kink (like abs or max at 0), not an error in any mode; the modes "
                "may report any subgradient there. Choose a point away from the kink.")
        jumps = _curvature_jumps(problem) if order == 2 else []
        if jumps:
            i, jump = jumps[0]
            raise PointError(
                f"the second derivative does not exist at the point: f'' jumps by "
                f"{np.max(jump):.6g} across it along {problem.in_labels[i]} (like relu(x)·x "
                "at 0: f is differentiable there, its derivative has a kink). Choose a "
                "point away from it.")
    bad = {m: d for m, d in derivs.items() if not np.all(np.isfinite(d))}
    for m, d in list(bad.items()):
        i = np.flatnonzero(~np.isfinite(d))[0]
        if _settles(problem, d.shape, i, order):
            # f's own differences show a finite derivative there: the mode is wrong, and
            # the comparisons below report it as a disagreement
            notes.append(f"{m} gives {d.flat[i]} at {_where(i, d.shape, problem, order)}, "
                         "where f's one-sided differences settle on a finite value")
            del bad[m]
    if bad:
        mode, d = next(iter(bad.items()))
        i = np.flatnonzero(~np.isfinite(d))[0]
        where = _where(i, d.shape, problem, order)
        raise PointError(
            f"the {'second ' * (order == 2)}derivative does not exist at the point: "
            f"{', '.join(bad)} give{'s' * (len(bad) == 1)} {d.flat[i]} at {where} while f "
            "is finite there (a point like sqrt or log at 0, or x**0.5 at 0, where the "
            "slope is infinite or undefined). Choose a point inside the domain of the "
            "derivative.")


_PROBE_STEP = 2.0 ** -17  # times max(|x|, 1): short enough to see a kink next to the point


def _one_sided(problem: _Problem, v: np.ndarray, step: float = _PROBE_STEP) -> tuple:
    """(left, right) first and second derivatives along v, from one side each.

    Second-order one-sided differences (-3 f(x) + 4 f(x±hv) - f(x±2hv)) / (±2h) for
    the slope, (f(x) - 2 f(x±hv) + f(x±2hv)) / h^2 for the curvature.
    """
    x0, F = problem.x0, problem.F
    h = step * max(1.0, float(np.max(np.abs(x0), initial=0.0)))
    f0, fp, fpp, fm, fmm = (F(x0), F(x0 + h * v), F(x0 + 2 * h * v), F(x0 - h * v),
                            F(x0 - 2 * h * v))
    slopes = ((3 * f0 - 4 * fm + fmm) / (2 * h), (-3 * f0 + 4 * fp - fpp) / (2 * h))
    curvatures = ((f0 - 2 * fm + fmm) / h ** 2, (f0 - 2 * fp + fpp) / h ** 2)
    return slopes, curvatures, h, f0


def _settles(problem: _Problem, shape: tuple, i: int, order: int) -> bool:
    """Whether f's one-sided differences say derivative entry i exists: finite from both
    sides and the same at two step sizes. Where the slope is infinite (sqrt or cbrt at
    0) they grow as the step shrinks, or are nan on the side outside the domain."""
    r, c = np.unravel_index(i, shape)
    n = problem.x0.size
    if order == 1:
        directions, outputs = [np.eye(n)[c]], [r]
    else:  # the mixed second derivative from the curvatures along e_r, e_c and e_r + e_c
        directions = [np.eye(n)[r], np.eye(n)[c], np.eye(n)[r] + np.eye(n)[c]]
        outputs = slice(None)
    for v in directions:
        found, steps = [], []
        for step in (_PROBE_STEP, 4 * _PROBE_STEP):
            slopes, curvatures, h, f0 = _one_sided(problem, v, step)
            pair = slopes if order == 1 else curvatures
            found.append(np.array([side[outputs] for side in pair]))
            steps.append(h)
        fine, coarse = found
        if not (np.all(np.isfinite(fine)) and np.all(np.isfinite(coarse))):
            return False
        fscale = max(1.0, float(np.max(np.abs(f0))))
        noise = 1e3 * np.finfo(float).eps * fscale / steps[0] ** order
        if np.any(np.abs(fine - coarse) > 1e-2 * (np.abs(fine) + np.abs(coarse)) + noise):
            return False
    return True


def _curvature_jumps(problem: _Problem) -> list[tuple[int, np.ndarray]]:
    """(coordinate, |f''(right) - f''(left)| per output) where f'' jumps at the point."""
    n = problem.x0.size
    out = []
    for i in range(min(n, 12)):
        _, (left, right), h, f0 = _one_sided(problem, np.eye(n)[i])
        noise = 1e3 * np.finfo(float).eps * max(1.0, float(np.max(np.abs(f0)))) / h ** 2
        jump = np.abs(right - left)
        jump = np.where(jump > 1e-2 * (np.abs(left) + np.abs(right)) + noise, jump, 0.0)
        if np.any(jump):
            out.append((i, jump))
    return out


def _allow_for_curvature_jumps(problem: _Problem, errors: dict, numeric_steps: dict,
                               notes: list) -> None:
    """Where f'' jumps (relu(x)·x at 0), a difference across the point is off by about
    |jump|·h, which Richardson's even-power expansion cannot remove: allow for it."""
    for i, jump in _curvature_jumps(problem):
        notes.append(f"f'' jumps at the point along {problem.in_labels[i]} (by up to "
                     f"{np.max(jump):.3g}): the numeric mode's differences straddle it, so "
                     "they are allowed an error of |jump|·h there")
        for label, steps in numeric_steps.items():
            errors[label] = errors[label].copy()
            errors[label][:, i] += jump * steps[i]


def _find_kink(problem: _Problem) -> str:
    """One-sided derivatives along each coordinate (and two random directions) that differ."""
    x0 = problem.x0
    n = x0.size
    directions = [np.eye(n)[i] for i in range(min(n, 12))]
    rng = np.random.RandomState(1)
    directions += [v / np.linalg.norm(v) for v in rng.standard_normal((2, n))] if n > 1 else []
    for k, v in enumerate(directions):
        (left, right), _, h, f0 = _one_sided(problem, v)
        fscale = max(1.0, float(np.max(np.abs(f0))))
        gap = np.abs(right - left)
        limit = 1e-3 * (np.abs(right) + np.abs(left)) + 1e-6 * fscale
        if np.any(gap > limit) and np.all(np.isfinite(gap)):
            j = int(np.argmax(gap - limit))
            along = (problem.in_labels[k] if k < min(n, 12)
                     else "a random direction")
            return (f"the one-sided derivatives of {problem.out_label(j)} along {along} "
                    f"are {left[j]:.6g} (from the left) and {right[j]:.6g} (from the right)")
    return ""


# --- comparing ------------------------------------------------------------------------------------


def _compare(a: str, b: str, derivs: dict, errors: dict, rtol: float, atol: float,
             scale: float, problem: _Problem, order: int) -> Comparison:
    da, db = derivs[a], derivs[b]
    diff = np.abs(da - db)
    size = np.maximum(np.abs(da), np.abs(db))
    allowed = _allowance(errors[a], da, rtol) + _allowance(errors[b], db, rtol) + \
        atol + 1e-13 * scale
    ok = bool(np.all(diff <= allowed))
    i = int(np.argmax(diff - allowed)) if not ok else int(np.argmax(diff)) if diff.size else 0
    with np.errstate(divide="ignore", invalid="ignore"):  # entries near 0 have no scale
        rel = np.where(size > 1e-8 * scale, diff / size, 0.0)
    return Comparison(a, b, float(np.max(diff, initial=0.0)), float(np.max(rel, initial=0.0)),
                      _where(i, da.shape, problem, order) if diff.size else "-", ok)


def _allowance(error: Any, d: np.ndarray, rtol: float) -> Any:
    """How far a mode's numbers may be from the truth: 10x the numeric estimate (it is
    an estimate, not a bound), or a relative tolerance for exact modes."""
    if isinstance(error, np.ndarray):
        return 10.0 * error + rtol * np.abs(d)
    return (rtol if error is None else error) * np.abs(d)


def _where(i: int, shape: tuple, problem: _Problem, order: int) -> str:
    r, c = np.unravel_index(i, shape)
    if order == 2:
        return f"d2f / d{problem.in_labels[r]} d{problem.in_labels[c]}"
    return f"d{problem.out_label(r)} / d{problem.in_labels[c]}"
