"""Finite differences: the numerical referee, which knows nothing of adkit's engines.

Every answer here comes from evaluating f at perturbed points, in plain NumPy,
so it can check forward and reverse mode without sharing a line of code with
them. Four formulas, each with its error order p (error ~ C h^p for a small
step h, before rounding):

=============  ==========================================  ===================
method         first derivative                            error order p
=============  ==========================================  ===================
"forward"      (f(x+h) - f(x)) / h                         1
"backward"     (f(x) - f(x-h)) / h                         1
"central"      D0(h) = (f(x+h) - f(x-h)) / 2h              2
"richardson"   level 1: (4 D0(h) - D0(2h)) / 3             4
               level k: Richardson's table over            2k + 2
               D0(h), D0(2h), ..., D0(2^k h)
=============  ==========================================  ===================

method="richardson" takes levels=2 unless told otherwise (see default_levels).

method="complex_step" takes Im f(x + ih) / h (error order 2, first derivatives only):
nothing is subtracted, so its default step is tiny (1e-20 max(|x|, 1)) and the result
exact to rounding, for real x and an f that is real for real x and real-analytic (no
np.abs, np.real, np.conj, comparisons or float() of the perturbed value). A complex x, a
complex f(x) or a real f(x + ih) is refused; a non-analytic f it cannot see is not.

Complex x: each complex element is two coordinates, its real and imaginary parts, and
the derivatives along them, D_x and D_y, combine as adkit.jacobian's do
(docs/complex.md): Re D_x - i Re D_y, which is dL/dx - i dL/dy for a real L (autograd's
gradient) and f'(z) for a holomorphic f. An Estimate's h holds h_x + i h_y, its error
the sum of the two. hessian refuses complex x.

Second derivatives (`hessian`) use second differences of f itself, not
differences of a gradient: (f(x+h) - 2f(x) + f(x-h)) / h^2 on the diagonal and
the four-point (f(++) - f(+-) - f(-+) + f(--)) / 4 h_i h_j off it ("central",
p = 2); f(x + h_i e_i + h_j e_j) - f(x + h_i e_i) - f(x + h_j e_j) + f(x) over
h_i h_j ("forward", p = 1; "backward" steps the other way); and Richardson's
table over the central ones (p = 2k + 2).

The step. A smaller h shrinks the truncation error C h^p but magnifies the
rounding error of f, about eps |f| / h (eps |f| / h^2 for second
differences). Their sum is smallest near h ~ eps^(1/(p+1)) (eps^(1/(p+2)) for
second differences), so with h=None each input coordinate gets

    h_i = c * eps^(1/(p+1)) * max(|x_i|, 1)      first derivatives
    h_i = c * eps^(1/(p+2)) * max(|x_i|, 1)      second derivatives

with eps the machine epsilon of x's dtype and c a constant near 1 tuned on
smooth functions (tests/test_numeric.py checks that the default's error is
within 10x of the best step's). In float64, at |x| <= 1:

=====================  ===============  ===============
method                 first            second
=====================  ===============  ===============
forward, backward      1.5e-8           4.8e-6
central                4.8e-6           1.7e-4
richardson, levels=1   5.6e-4           2.5e-3
richardson, levels=2   2.9e-3           7.4e-3
=====================  ===============  ===============

The rule assumes that f and its derivatives change on the scale max(|x|, 1).
Where they do not (near a zero of f, where |f| is small beside its
derivatives, the best step is shorter; where the formula's leading error
term vanishes, longer), pass h. Either way h is then nudged so that x + h is
exactly representable (h = (x + h) - x), so that the step f sees is exactly
the one the difference divides by.

Evaluations of f, for n input numbers: one per perturbed point, none per
output element. forward/backward n + 1, central 2n, Richardson 2n (levels + 1);
the Hessian: central 2n^2 + 1, Richardson 2n^2 (levels + 1) + 1, forward
n(n - 1)/2 + 2n + 1.

The error estimate (full_output=True, an `Estimate`) adds two parts. The
truncation error, from the same formula at step 2h: |D(h) - D(2h)| / (2^p - 1)
is its limit as h -> 0, doubled for the higher-order terms. The rounding
error, 2 eps max|f| sum|w| over the formula's weights w, taking each value of
f as good to 2 ulps. Wherever a value of f was not finite it is inf. It is
an upper estimate, typically 5-15 times the true error at the default step
and rarely below it; it assumes f itself is computed accurately (a function
that loses digits to cancellation has a larger rounding error). It costs a
few more evaluations (the doubled step's points, and f(x)), counted in
`Estimate.nfev`.

>>> from adkit import numeric
>>> round(numeric.derivative(np.sin, 0.5, method="richardson"), 10)  # cos(0.5)
0.8775825619
>>> numeric.gradient(lambda x: np.sum(x ** 2), np.array([1.0, 2.0])).round(6)
array([2., 4.])
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any, Callable

import numpy as np

from .pytree import LEAF, leaf_paths, tree_flatten, tree_unflatten

__all__ = ["derivative", "gradient", "jacobian", "hessian", "Estimate", "METHODS"]

METHODS = ("forward", "backward", "central", "richardson", "complex_step")

# the complex step's default, relative to max(|x|, 1): nothing is subtracted, so it may be
# as small as the exponent range allows; its error h^2 |f^(3) / 6| is then below rounding
_COMPLEX_STEP = 1e-20

# c_p of the default step, by (derivative order, method). Tuned on smooth functions at
# several scales (tests/test_numeric.py, test_default_step): each default is within a few
# times of the best step of a sweep, erring small where the error curve is steep.
_STEP_CONSTANT = {(1, "forward"): 1.0, (1, "backward"): 1.0, (1, "central"): 0.8,
                  (1, "richardson"): 0.75,
                  (2, "forward"): 0.8, (2, "backward"): 0.8, (2, "central"): 1.4,
                  (2, "richardson"): 1.0}
# how many ulps (units of eps |f|) of error the rounding estimate allows each value of f
_ULPS = 2.0
# each further Richardson level: the error constants grow (like (p+1)! for a function
# with a singularity at distance ~scale), so the best step is a little shorter
_STEP_PER_LEVEL = 0.67


@dataclasses.dataclass(frozen=True)
class Estimate:
    """How a finite-difference result was obtained, and how far off it may be.

    error: an upper estimate of the absolute error, with the result's structure
        and shapes (truncation, from the same formula at step 2h, plus rounding,
        2 eps max|f| sum|w|); inf wherever an evaluation of f was not finite.
    h: the step(s) used, with x's structure and shapes.
    nfev: how many times f was called, the error estimate's calls included.
    method: the formula ("forward", "backward", "central", "richardson").
    order: its error order p: the error shrinks like h^p.
    """

    error: Any
    h: Any
    nfev: int
    method: str
    order: int


# --- the public functions ---------------------------------------------------------------


def derivative(f: Callable, x: Any, *, method: str = "central", h: Any = None,
               levels: int | None = None, full_output: bool = False) -> Any:
    """df/dx at a scalar x; f may return a scalar or an array (the result has its shape).

    >>> from adkit import numeric
    >>> d, info = numeric.derivative(np.exp, 1.0, method="richardson", full_output=True)
    >>> abs(d - np.e) < info.error < 1e-9, info.nfev
    (True, 9)
    """
    point = _Point(x, "derivative")
    if point.treedef != LEAF or point.shapes != [()]:
        raise TypeError(f"derivative: x must be a scalar, got {_describe(x)}; use "
                        "numeric.gradient or numeric.jacobian for arrays and pytrees")
    return _first(f, point, method, h, levels, full_output)


def gradient(f: Callable, x: Any, *, method: str = "central", h: Any = None,
             levels: int | None = None, full_output: bool = False) -> Any:
    """The gradient of a scalar-valued f at x, with x's structure and shapes.

    x may be a number, an array, or a tuple/list/dict of them; ints become floats.

    >>> from adkit import numeric
    >>> g = numeric.gradient(lambda p: p["w"] @ p["w"] + p["b"], {"w": np.ones(2), "b": 3.0})
    >>> g["w"].round(6), round(g["b"], 6)
    (array([2., 2.]), 1.0)
    """
    return _first(f, _Point(x, "gradient"), method, h, levels, full_output, scalar=True)


def jacobian(f: Callable, x: Any, *, method: str = "central", h: Any = None,
             levels: int | None = None, full_output: bool = False) -> Any:
    """The Jacobian of f at x: shape out.shape + x.shape.

    For a pytree x the result has x's structure, each leaf of shape
    out.shape + leaf.shape.

    >>> from adkit import numeric
    >>> numeric.jacobian(lambda x: x[:2] * x[2], np.array([1.0, 2.0, 3.0])).round(6)
    array([[3., 0., 1.],
           [0., 3., 2.]])
    """
    return _first(f, _Point(x, "jacobian"), method, h, levels, full_output)


def hessian(f: Callable, x: Any, *, method: str = "central", h: Any = None,
            levels: int | None = None, full_output: bool = False) -> Any:
    """Second derivatives of f at x from second differences of f: out.shape + x.shape + x.shape.

    For a scalar x that is the second derivative (shape out.shape). For a
    pytree x the leaves are flattened, in tree_flatten's order and each in C
    order, into one vector of n numbers, and the result has shape
    out.shape + (n, n). The central Hessian takes 2n^2 + 1 evaluations of f.

    >>> from adkit import numeric
    >>> numeric.hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 3.0])).round(5)
    array([[6., 2.],
           [2., 0.]])
    """
    point = _Point(x, "hessian")
    if any(point.complex):
        raise TypeError("hessian: x is complex; a real function of complex z = x + iy has "
                        "a real 2n x 2n second derivative, which a complex n x n array "
                        "cannot hold. Pass the real and imaginary parts as real arguments")
    if method == "complex_step":
        raise ValueError("hessian: method='complex_step' gives first derivatives only; use "
                         "'central' or 'richardson'")
    levels = default_levels(method, levels)
    value, error, steps, nfev, p = _second_derivatives(f, point, method, h, levels,
                                                       full_output)
    result = point.square(value)
    if not full_output:
        return result
    return result, Estimate(point.square(error), point.split(steps), nfev, method, p)


def _first(f: Callable, point: _Point, method: str, h: Any, levels: int, full_output: bool,
           scalar: bool = False) -> Any:
    """First derivatives in x's structure (and the Estimate, if asked)."""
    levels = default_levels(method, levels)
    value, error, steps, nfev, p = _first_derivatives(f, point, method, h, levels,
                                                      full_output, scalar)
    result = point.split(value)
    if not full_output:
        return result
    return result, Estimate(point.split(error, "error"), point.split(steps, "step"), nfev,
                            method, p)


# --- x as one flat vector ---------------------------------------------------------------


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {shape}" if shape is not None else type(x).__name__


class _Point:
    """x flattened to one float vector, and the ways back to x's structure."""

    def __init__(self, x: Any, fname: str) -> None:
        self.fname = fname
        leaves, self.treedef = tree_flatten(x)
        paths = leaf_paths(self.treedef, "x")
        arrays = [_float_leaf(leaf, path, fname) for leaf, path in zip(leaves, paths)]
        if not arrays:
            raise TypeError(f"{fname}: x has no numbers in it ({_describe(x)})")
        self.python = [isinstance(leaf, numbers.Number) and not isinstance(leaf, np.generic)
                       for leaf in leaves]
        self.shapes = [a.shape for a in arrays]
        # a complex leaf is two real coordinates per element: its real parts, then its
        # imaginary parts (see split for how their derivatives combine)
        self.complex = [a.dtype.kind == "c" for a in arrays]
        parts = [p for a in arrays for p in ((a.real, a.imag) if a.dtype.kind == "c" else (a,))]
        self.dtype = np.result_type(*parts)
        self.vector = np.concatenate([p.ravel() for p in parts]).astype(self.dtype)
        self.size = self.vector.size
        self.bounds = np.cumsum([0] + [a.size * (1 + c) for a, c in zip(arrays, self.complex)])
        for a, path in zip(arrays, paths):
            bad = ~np.isfinite(a)
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                what = "NaN" if np.isnan(a[first]) else "inf"
                where = f" has {what} at index {first}" if a.ndim else f" is {what}"
                raise ValueError(f"{fname}: {path}{where}; finite differences need a "
                                 "finite point")

    def unflatten(self, v: np.ndarray) -> Any:
        """The argument for f at the point v: x's structure, Python numbers as NumPy scalars."""
        if self.treedef == LEAF and not self.complex[0]:
            return v[0] if self.shapes[0] == () else v.reshape(self.shapes[0])
        leaves = []
        for a, b, shape, c in zip(self.bounds, self.bounds[1:], self.shapes, self.complex):
            seg = v[a:b]
            if c:
                seg = seg[:(b - a) // 2] + 1j * seg[(b - a) // 2:]
            leaves.append(seg[0] if shape == () else seg.reshape(shape))
        return tree_unflatten(self.treedef, leaves)

    def _leaf(self, a: np.ndarray, k: int) -> Any:
        if a.ndim:
            return a
        return a.item() if self.python[k] else a[()]

    def split(self, a: np.ndarray, how: str = "derivative") -> Any:
        """(*out, n) -> x's structure, each leaf of shape out + leaf.shape.

        With out = () this takes the steps, (n,), back to x's structure. The two
        coordinates of a complex leaf, derivatives D_x and D_y along its real and
        imaginary parts, combine as adkit.jacobian's (docs/complex.md): how=
        "derivative" gives Re D_x - i Re D_y (f'(z) for a holomorphic f, the
        gradient dL/dx - i dL/dy for a real f); "error" adds the two errors;
        "step" gives h_x + i h_y.
        """
        out = a.shape[:-1]
        leaves = []
        for k, (lo, hi, shape) in enumerate(zip(self.bounds, self.bounds[1:], self.shapes)):
            seg = a[..., lo:hi]
            if self.complex[k]:
                dx, dy = seg[..., :(hi - lo) // 2], seg[..., (hi - lo) // 2:]
                seg = dx + dy if how == "error" else dx + 1j * dy if how == "step" else \
                    np.real(dx) - 1j * np.real(dy)
            leaves.append(self._leaf(seg.reshape(out + shape), k))
        return tree_unflatten(self.treedef, leaves)

    def square(self, a: np.ndarray) -> Any:
        """(*out, n, n) -> out + x.shape + x.shape for one leaf; out + (n, n) for a pytree."""
        if self.treedef == LEAF:
            return self._leaf(a.reshape(a.shape[:-2] + self.shapes[0] * 2), 0)
        return a


def _float_leaf(leaf: Any, path: str, fname: str) -> np.ndarray:
    """One leaf of x as a real floating-point array; ints become float64."""
    if isinstance(leaf, (bool, np.bool_)):
        raise TypeError(f"{fname}: {path} is a boolean; booleans have no derivative")
    if isinstance(leaf, np.ma.MaskedArray):   # the steps would move masked entries too
        raise TypeError(f"{fname}: {path} is a masked array, whose masked entries f ignores "
                        "but the differences would step; pass x.filled(0.0) or x.compressed()")
    try:
        a = np.asarray(leaf)
    except Exception as e:  # noqa: BLE001  (anything NumPy cannot take is the user's type)
        raise TypeError(f"{fname}: {path} is of type {type(leaf).__name__}, not a "
                        "number") from e
    kind = a.dtype.kind
    if kind in "iu":
        return a.astype(np.float64)
    if kind in "fc":
        return a
    what = "a boolean array" if kind == "b" else \
        f"an array of dtype {a.dtype}" if isinstance(leaf, np.ndarray) else \
        f"of type {type(leaf).__name__}"
    raise TypeError(f"{fname}: {path} is {what}; numeric differentiates Python numbers, "
                    "float or int arrays, and tuples/lists/dicts of them")


# --- calling f --------------------------------------------------------------------------


class _Counted:
    """f on flat vectors: counts calls, checks that every output has one numeric shape."""

    def __init__(self, f: Callable, point: _Point, scalar: bool = False) -> None:
        if not callable(f):
            raise TypeError(f"{point.fname}: f must be a function, got {type(f).__name__} "
                            f"{f!r:.60}")
        self.f, self.point, self.fname, self.scalar = f, point, point.fname, scalar
        self.nfev = 0
        self.shape: tuple | None = None

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.nfev += 1
        out = np.asarray(self.f(self.point.unflatten(v)))
        if out.dtype.kind not in "iufc":
            raise TypeError(f"{self.fname}: f returned {_describe(out)} with dtype "
                            f"{out.dtype}; it must return numbers")
        if self.shape is None:
            if self.scalar and out.shape != ():
                raise ValueError(f"{self.fname}: f must return a scalar, but it returned "
                                 f"shape {out.shape}; use numeric.jacobian for array outputs")
            self.shape = out.shape
        elif out.shape != self.shape:
            raise ValueError(f"{self.fname}: f returned shape {out.shape} at one point and "
                             f"{self.shape} at another; its output shape must not depend on x")
        return out

    def at(self, shifts: tuple = ()) -> np.ndarray:
        """f at x moved by d along coordinate i, for each (i, d) in shifts."""
        v = self.point.vector.copy()
        for i, d in shifts:
            v[i] += d
        return self(v)

    def column(self, h: np.ndarray) -> np.ndarray:
        """f(x + h_i e_i) for every coordinate i, stacked: shape (n, *out)."""
        return np.stack([self.at(((i, h[i]),)) for i in range(len(h))])


# --- steps and formulas -----------------------------------------------------------------


def default_levels(method: str, levels: int | None) -> int:
    """Richardson extrapolates over two levels unless told otherwise: O(h^6) with 6
    evaluations per input is as accurate as numdifftools' default (about 30), where
    level 1 (O(h^4), 4 evaluations) is 2-3 times less so (benchmarks/numeric.py)."""
    if levels is None:
        return 2 if method == "richardson" else 1
    return levels


def _check_method(method: str, levels: int, fname: str) -> int:
    """The error order p of the method, after checking method and levels."""
    if method not in METHODS:
        raise ValueError(f"{fname}: unknown method {method!r}; choose one of "
                         f"{', '.join(repr(m) for m in METHODS)}")
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 1:
        raise ValueError(f"{fname}: levels must be an integer >= 1, got {levels!r}")
    if method != "richardson":
        if levels != 1:
            raise ValueError(f"{fname}: levels={levels} applies to method='richardson' only")
        return 1 if method in ("forward", "backward") else 2
    return 2 * int(levels) + 2


def _steps(point: _Point, h: Any, p: int, order: int, method: str) -> np.ndarray:
    """The step for every coordinate, adjusted so that x + h is exactly representable."""
    x, fname = point.vector, point.fname
    if h is None:
        eps = np.finfo(point.dtype).eps
        levels = (p - 2) // 2 if method == "richardson" else 1
        c = _STEP_CONSTANT[order, method] * _STEP_PER_LEVEL ** (levels - 1)
        h = c * eps ** (1.0 / (p + order)) * np.maximum(abs(x), 1)
    else:
        h = _given_steps(point, h)
    h = np.asarray(h, dtype=point.dtype)
    h = (x + h) - x
    if np.any(h == 0):
        i = int(np.argmax(h == 0))
        raise ValueError(f"{fname}: the step h is lost in rounding at x's element {i} "
                         f"(= {x[i]!r}); pass a larger h")
    return h


def _given_steps(point: _Point, given: Any) -> np.ndarray:
    """The user's h (a number, or x's structure and shapes) as one step per coordinate."""
    leaves, td = tree_flatten(given)
    if td == LEAF and np.ndim(leaves[0]) == 0:
        h = np.full(point.vector.shape, leaves[0], dtype=np.float64)
    elif td == point.treedef and [np.shape(a) for a in leaves] == point.shapes:
        # a complex leaf's step: h.real along x and h.imag along y, or h for both
        h = np.concatenate([np.ravel(part) for a, c in zip(leaves, point.complex)
                            for part in _step_parts(a, c)])
    else:
        raise ValueError(f"{point.fname}: h must be a number or have x's structure and "
                         f"shapes ({point.treedef!r} with shapes {point.shapes}), got "
                         f"{_describe(given)}")
    if not (np.all(np.isfinite(h)) and np.all(h > 0)):
        raise ValueError(f"{point.fname}: h must be positive and finite, got {given!r}")
    return h


def _step_parts(h: Any, complex_leaf: bool) -> tuple:
    if not complex_leaf:
        return (np.asarray(h, dtype=np.float64),)
    h = np.asarray(h)
    if h.dtype.kind == "c":
        return np.real(h).astype(np.float64), np.imag(h).astype(np.float64)
    return (h.astype(np.float64),) * 2


@functools.lru_cache(maxsize=None)
def _weights(method: str, levels: int) -> tuple[float, ...]:
    """c_l such that sum_l c_l D(2^l h) is the method's estimate (D: the basic difference).

    For Richardson, the combination cancels the h^2 .. h^(2 levels) error terms of the
    central difference. Python floats, so that float32 differences stay float32.
    """
    if method != "richardson":
        return (1.0,)
    rows = list(np.eye(levels + 1))
    for m in range(1, levels + 1):
        rows = [(4 ** m * rows[l] - rows[l + 1]) / (4 ** m - 1) for l in range(len(rows) - 1)]
    return tuple(rows[0].tolist())


def _combine(D: Callable[[int], np.ndarray], W: Callable[[int], np.ndarray],
             weights: tuple[float, ...], full_output: bool) -> tuple:
    """The estimate from the differences D(s) at steps s h, and (if asked) the one at 2h.

    W(s) is the sum of the difference's |weights| at step s h, for the rounding estimate.
    """
    value = sum(c * D(2 ** l) for l, c in enumerate(weights))
    if not full_output:
        return value, None, None
    doubled = sum(c * D(2 ** (l + 1)) for l, c in enumerate(weights))
    total_w = sum(abs(c) * W(2 ** l) for l, c in enumerate(weights))
    return value, doubled, total_w


def _error(value: np.ndarray, doubled: np.ndarray, total_w: np.ndarray, fmax: np.ndarray,
           finite: np.ndarray, p: int, eps: float) -> np.ndarray:
    """Truncation (from the same formula at 2h) plus rounding; inf where f was not finite."""
    # |D(h) - D(2h)| / (2^p - 1) is the truncation error of D(h) as h -> 0; the factor 2
    # covers the higher-order terms that make it fall short at larger steps
    truncation = 2 * abs(value - doubled) / (2 ** p - 1)
    # each value of f taken as good to 2 ulps (eps |f| each): a few operations' worth
    rounding = _ULPS * eps * fmax * total_w
    error = truncation + rounding
    return np.where(finite & np.isfinite(error), error, np.inf)


def _eps(point: _Point, outputs: list[np.ndarray]) -> float:
    """The coarser of x's and f's machine epsilons."""
    kinds = [point.dtype] + [a.dtype for a in outputs if a.dtype.kind in "fc"]
    return max(float(np.finfo(k).eps) for k in kinds)


def _span(values: list[np.ndarray], shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """max |f| over the evaluations, and whether all were finite, per output element."""
    flat = np.concatenate([np.reshape(v, (-1,) + shape) for v in values])
    return np.max(abs(flat), axis=0), np.all(np.isfinite(flat), axis=0)


# --- first derivatives ------------------------------------------------------------------


def _first_derivatives(f: Callable, point: _Point, method: str, h: Any, levels: int,
                       full_output: bool, scalar: bool = False) -> tuple:
    """(value, error, h, nfev, p) with value and error of shape out + (n,)."""
    p = _check_method(method, levels, point.fname)
    if method == "complex_step":
        return _complex_step(f, point, h, full_output, scalar)
    h = _steps(point, h, p, 1, method)
    call = _Counted(f, point, scalar)
    weights = _weights(method, levels)
    multiples = [2 ** l for l in range(len(weights) + full_output)]
    signs = {"forward": (1,), "backward": (-1,)}.get(method, (1, -1))

    # f at every point of the stencil first; then the arithmetic, with NumPy's warnings
    # off there, since a non-finite value of f is allowed to propagate into the result
    col = {g * m: call.column(g * m * h) for m in multiples for g in signs}
    f0 = call.at() if method in ("forward", "backward") or full_output else None
    with np.errstate(all="ignore"):
        hs = h.reshape(h.shape + (1,) * len(call.shape))
        if method == "forward":
            def D(s): return (col[s] - f0) / (s * hs)
        elif method == "backward":
            def D(s): return (f0 - col[-s]) / (s * hs)
        else:
            def D(s): return (col[s] - col[-s]) / (2 * s * hs)
        spread = 1 if signs == (1, -1) else 2  # sum of |weights| times s h

        value, doubled, total_w = _combine(D, lambda s: spread / (s * hs), weights,
                                           full_output)
        error = None
        if full_output:
            fmax, finite = _span([*col.values(), f0], call.shape)
            error = _error(value, doubled, total_w, fmax, finite, p,
                           _eps(point, [*col.values(), f0]))
            error = np.moveaxis(error, 0, -1)
    return np.moveaxis(value, 0, -1), error, h, call.nfev, p


def _complex_step(f: Callable, point: _Point, h: Any, full_output: bool,
                  scalar: bool) -> tuple:
    """Im f(x + i h e_k) / h for every coordinate k: (value, error, h, nfev, 2).

    Exact to rounding at any small h for an f that is real for real x and
    real-analytic (it extends to complex x as a holomorphic function): nothing
    is subtracted, so nothing cancels. np.abs, np.real, np.conj, comparisons and
    float() of the perturbed value break that without a sign; what can be
    seen (a complex x, a complex f(x), a real f(x + ih)) is refused.
    """
    fname = point.fname
    if any(point.complex):
        raise TypeError(f"{fname}: method='complex_step' needs a real x (it perturbs x "
                        "along the imaginary axis); for complex x use 'central' or "
                        "'richardson'")
    x = point.vector
    h = _COMPLEX_STEP * np.maximum(abs(x), 1) if h is None else _given_steps(point, h)
    call = _Counted(f, point, scalar)
    f0 = call(x)
    if f0.dtype.kind == "c":
        raise ValueError(f"{fname}: method='complex_step' needs f real for real x, but it "
                         "returned a complex value; use 'central' or 'richardson'")
    tail = (1,) * f0.ndim

    def column(s: int) -> np.ndarray:
        values = []
        for k in range(point.size):
            v = x.astype(np.result_type(x.dtype, np.complex64))
            v[k] += 1j * s * h[k]
            out = call(v)
            if out.dtype.kind != "c":
                raise ValueError(f"{fname}: method='complex_step': f returned a real value "
                                 f"({out.dtype}) at a complex point, so it dropped the "
                                 "imaginary part (np.real, np.abs, float(), a cast); it must "
                                 "be real-analytic. Use 'central' or 'richardson'")
            values.append(np.imag(out))
        return np.stack(values) / (s * h).reshape((-1,) + tail)

    with np.errstate(all="ignore"):
        value = column(1)
        error = None
        if full_output:
            # truncation from the step 2h (order 2); rounding: Im f is good to 2 ulps of f
            doubled = column(2)
            truncation = 2 * abs(value - doubled) / 3
            rounding = _ULPS * _eps(point, [f0]) * abs(value)
            error = np.where(np.isfinite(value), truncation + rounding, np.inf)
            error = np.moveaxis(error, 0, -1)
    return np.moveaxis(value, 0, -1), error, h, call.nfev, 2


# --- second derivatives -----------------------------------------------------------------


def _second_derivatives(f: Callable, point: _Point, method: str, h: Any, levels: int,
                        full_output: bool) -> tuple:
    """(value, error, h, nfev, p) with value and error of shape out + (n, n)."""
    p = _check_method(method, levels, point.fname)
    h = _steps(point, h, p, 2, method)
    call = _Counted(f, point)
    weights = _weights(method, levels)
    multiples = [2 ** l for l in range(len(weights) + full_output)]
    n = point.size
    i_up, j_up = np.triu_indices(n, 1)
    diag = np.arange(n)

    f0 = call.at()

    def pairs(a: int, b: int) -> np.ndarray:  # f(x + a h_i e_i + b h_j e_j) for i < j
        vals = [call.at(((i, a * h[i]), (j, b * h[j]))) for i, j in zip(i_up, j_up)]
        return np.stack(vals) if vals else np.zeros((0,) + f0.shape, f0.dtype)

    if method in ("central", "richardson"):
        col = {g * m: call.column(g * m * h) for m in multiples for g in (1, -1)}
        pair = {(a * m, b * m): pairs(a * m, b * m)
                for m in multiples for a in (1, -1) for b in (1, -1)}
    else:
        sign = 1 if method == "forward" else -1
        col = {k: call.column(k * h) for k in sorted({sign * m * j for m in multiples
                                                        for j in (1, 2)})}
        pair = {(sign * m, sign * m): pairs(sign * m, sign * m) for m in multiples}

    with np.errstate(all="ignore"):
        tail = (1,) * f0.ndim

        def hh(s: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
            return (s * s * h[i] * h[j]).reshape((len(i),) + tail)

        def assemble(on: np.ndarray, off: np.ndarray) -> np.ndarray:
            H = np.zeros((n, n) + f0.shape, np.result_type(on, off))
            H[diag, diag], H[i_up, j_up], H[j_up, i_up] = on, off, off
            return H

        if method in ("central", "richardson"):
            def D(s):
                on = (col[s] - 2 * f0 + col[-s]) / hh(s, diag, diag)
                off = (pair[s, s] - pair[s, -s] - pair[-s, s] + pair[-s, -s]) / \
                    (4 * hh(s, i_up, j_up))
                return assemble(on, off)

            def W(s):
                return assemble(4 / hh(s, diag, diag), 1 / hh(s, i_up, j_up))
        else:
            def D(s):
                t = sign * s
                on = (col[2 * t] - 2 * col[t] + f0) / hh(s, diag, diag)
                off = (pair[t, t] - col[t][i_up] - col[t][j_up] + f0) / hh(s, i_up, j_up)
                return assemble(on, off)

            def W(s):
                return assemble(4 / hh(s, diag, diag), 4 / hh(s, i_up, j_up))

        value, doubled, total_w = _combine(D, W, weights, full_output)
        error = None
        if full_output:
            evaluated = [f0, *col.values(), *pair.values()]
            fmax, finite = _span(evaluated, f0.shape)
            error = _error(value, doubled, total_w, fmax, finite, p, _eps(point, evaluated))
            error = np.moveaxis(error, (0, 1), (-2, -1))
    return np.moveaxis(value, (0, 1), (-2, -1)), error, h, call.nfev, p
