"""adkit.numeric, the finite-difference referee: error orders, default steps, honest error
estimates, structures and shapes, evaluation counts, bad input.

Exact derivatives are closed forms written by hand (checked against SymPy when written).
Many tests differentiate an elementwise f at a vector of points with `jacobian` (or a sum
of it with `hessian`): the diagonal then holds f' (f'') at every point, with each point's
own step, in one call; the off-diagonal differences are exactly zero.
"""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

from adkit import numeric

# name -> (f, f', f'')
FUNCS = {
    "exp(x)sin(x)": (lambda x: np.exp(x) * np.sin(x),
                     lambda x: np.exp(x) * (np.sin(x) + np.cos(x)),
                     lambda x: 2 * np.exp(x) * np.cos(x)),
    "x^3/(1+x^2)": (lambda x: x ** 3 / (1 + x ** 2),
                    lambda x: (x ** 4 + 3 * x ** 2) / (1 + x ** 2) ** 2,
                    lambda x: (6 * x - 2 * x ** 3) / (1 + x ** 2) ** 3),
    "log(x)sqrt(x)": (lambda x: np.log(x) * np.sqrt(x),
                      lambda x: (np.log(x) / 2 + 1) / np.sqrt(x),
                      lambda x: -np.log(x) / (4 * x ** 1.5)),
    "1/(1+x)": (lambda x: 1 / (1 + x), lambda x: -1 / (1 + x) ** 2, lambda x: 2 / (1 + x) ** 3),
    "cos(x)": (np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x)),
    "exp(x)": (np.exp, np.exp, np.exp),
}
FIRST = [("forward", 1), ("backward", 1), ("central", 1), ("richardson", 1), ("richardson", 2)]
SECOND = [("forward", 1), ("central", 1), ("richardson", 1), ("richardson", 2)]
ORDER = {("forward", 1): 1, ("backward", 1): 1, ("central", 1): 2, ("richardson", 1): 4,
         ("richardson", 2): 6}


def first_at(f, xs, **kw):
    """f' at every point of xs (f elementwise), and the error estimate if full_output."""
    out = numeric.jacobian(f, xs, **kw)
    if kw.get("full_output"):
        return np.diagonal(out[0]), np.diagonal(out[1].error)
    return np.diagonal(out)


def second_at(f, xs, **kw):
    """f'' at every point of xs (f elementwise), and the error estimate if full_output."""
    out = numeric.hessian(lambda x: np.sum(f(x)), xs, **kw)
    if kw.get("full_output"):
        return np.diagonal(out[0]), np.diagonal(out[1].error)
    return np.diagonal(out)


# --- error orders -----------------------------------------------------------------------

# step ranges where truncation dominates rounding by orders of magnitude at x = 1.3
FIRST_RANGE = {1: (1e-5, 1e-3), 2: (1e-4, 1e-2), 4: (3e-3, 3e-2), 6: (2e-2, 8e-2)}
SECOND_RANGE = {1: (1e-4, 1e-2), 2: (1e-3, 3e-2), 4: (1e-2, 6e-2), 6: (2e-2, 8e-2)}


@pytest.mark.parametrize("name", ["exp(x)sin(x)", "x^3/(1+x^2)", "log(x)sqrt(x)"])
@pytest.mark.parametrize("second", [False, True], ids=["first", "second"])
def test_error_order(name, second):
    """log(error) against log(h) has slope p: 1 forward/backward, 2 central, 2k+2 Richardson."""
    f = FUNCS[name][0]
    exact = FUNCS[name][2 if second else 1](1.3)
    for method, levels in SECOND if second else FIRST:
        p = ORDER[method, levels]
        hs = np.geomspace(*(SECOND_RANGE if second else FIRST_RANGE)[p], 9)
        get = second_at if second else first_at
        err = abs(get(f, np.full(hs.size, 1.3), method=method, levels=levels, h=hs) - exact)
        slope = np.polyfit(np.log(hs), np.log(err), 1)[0]
        assert abs(slope - p) < 0.3, f"{method} levels={levels}: slope {slope:.2f}, want {p}"


def test_richardson_level_one_is_the_textbook_combination():
    f, x, h = FUNCS["exp(x)sin(x)"][0], 0.7, 2.0 ** -8

    def central(step):
        return numeric.derivative(f, x, method="central", h=step)
    want = (4 * central(h) - central(2 * h)) / 3
    assert numeric.derivative(f, x, method="richardson", h=h, levels=1) == \
        pytest.approx(want, rel=1e-13)


# --- the default step -------------------------------------------------------------------

# points where f changes on the scale max(|x|, 1), the default step's assumption. Not here,
# because they break it: exp(x)sin(x) at 0.01 (|f| ~ 0.01 much smaller than its
# derivatives, so the best step is ~10x shorter) and cos(x) at 0.01 (f''' ~ 0.01, so
# odd-order errors vanish and the best steps are longer)
DEFAULT_STEP_CASES = [("exp(x)sin(x)", 1.3), ("x^3/(1+x^2)", 1.3), ("log(x)sqrt(x)", 1.3),
                      ("log(x)sqrt(x)", 1e3), ("1/(1+x)", 1e3), ("1/(1+x)", 1e-2),
                      ("exp(x)", 1e-2)]


def _default_vs_best(get, name, x0, order, method, levels, steps, points=8):
    """Typical error at the default step over the best typical error of a sweep of steps.

    "Typical": the median over a few points within 1% of x0, since at any one point
    rounding errors can cancel by luck at some step, which no rule could aim for.
    """
    f, exact = FUNCS[name][0], FUNCS[name][order]
    xs = x0 * (1 + np.linspace(-0.01, 0.01, points))
    want = exact(xs)

    def typical(**kw):
        return np.median(abs(get(f, xs, method=method, levels=levels, **kw) - want))
    scale = max(abs(x0), 1.0)
    best = min(typical(h=scale * h) for h in steps)
    return typical() / best


@pytest.mark.parametrize("method,levels", FIRST)
def test_default_step_is_near_the_best(method, levels):
    steps = np.logspace(-1, -9, 33)
    for name, x0 in DEFAULT_STEP_CASES:
        ratio = _default_vs_best(first_at, name, x0, 1, method, levels, steps)
        assert ratio < 10, f"{name} at {x0}: default step's error is {ratio:.1f}x the best"


@pytest.mark.parametrize("method,levels", [("central", 1), ("richardson", 1)])
def test_default_step_of_second_differences_is_near_the_best(method, levels):
    steps = np.logspace(-1, -9, 17)  # two per decade and 6 points: a Hessian costs 2n^2 calls
    for name, x0 in DEFAULT_STEP_CASES:
        ratio = _default_vs_best(second_at, name, x0, 2, method, levels, steps, points=6)
        assert ratio < 10, f"{name} at {x0}: default step's error is {ratio:.1f}x the best"


def test_default_step_scales_with_x_and_is_exact():
    x = np.array([0.0, 1e-2, 1.0, 1e3, -1e3])
    _, info = numeric.gradient(lambda x: np.sum(x ** 2), x, full_output=True)
    h = info.h
    assert h[0] == pytest.approx(h[1]) and 1e-6 < h[0] < 1e-5
    assert h[3] / h[0] == pytest.approx(1e3) and h[4] == pytest.approx(h[3])
    np.testing.assert_array_equal((x + h) - x, h)


# --- error estimates --------------------------------------------------------------------

HONESTY_POINTS = {"exp(x)sin(x)": (-2, 3), "x^3/(1+x^2)": (-3, 3), "log(x)sqrt(x)": (0.2, 30),
                  "1/(1+x)": (0, 50), "cos(x)": (-3, 3), "exp(x)": (-3, 3)}


@pytest.mark.parametrize("second", [False, True], ids=["first", "second"])
def test_error_estimate_is_honest_and_not_loose(second):
    """The true error is below the estimate almost always (at the default step and at
    steps 10x shorter and longer), and at the default step the estimate is typically
    within a small factor of the true error."""
    rng = np.random.default_rng(0)
    get = second_at if second else first_at
    for method, levels in SECOND if second else FIRST:
        under, total, ratios = 0, 0, []
        for name, (lo, hi) in HONESTY_POINTS.items():
            f, exact = FUNCS[name][0], FUNCS[name][2 if second else 1]
            xs = rng.uniform(lo, hi, 6 if second else 40)
            h0 = (numeric.hessian if second else numeric.jacobian)(
                f if not second else (lambda x: np.sum(f(x))), xs, method=method,
                levels=levels, full_output=True)[1].h
            for scale in (None, 0.1, 10.0):
                h = None if scale is None else h0 * scale
                value, est = get(f, xs, method=method, levels=levels, h=h, full_output=True)
                err = abs(value - exact(xs))
                under += np.sum(err > est)
                total += err.size
                if scale is None:
                    ratios += list(est / np.maximum(err, 1e-300))
        label = f"{method} levels={levels}"
        assert under / total < 0.02, f"{label}: {under} of {total} errors above the estimate"
        assert np.median(ratios) < 50, f"{label}: estimate {np.median(ratios):.0f}x the error"
        assert np.percentile(ratios, 90) < 1000, f"{label}: estimate too loose"


def test_error_estimate_structure():
    x = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": 0.5}
    g, info = numeric.gradient(lambda p: np.sum(np.sin(p["w"])) * p["b"], x,
                               full_output=True)
    assert isinstance(info, numeric.Estimate)
    assert info.method == "central" and info.order == 2
    assert info.error["w"].shape == (2, 2) and isinstance(info.error["b"], float)
    assert info.h["w"].shape == (2, 2) and isinstance(info.h["b"], float)
    assert abs(g["b"] - np.sum(np.sin(x["w"]))) <= info.error["b"]
    np.testing.assert_array_less(abs(g["w"] - 0.5 * np.cos(x["w"])), info.error["w"])
    with pytest.raises(AttributeError):
        info.nfev = 0  # frozen


# --- structures and shapes --------------------------------------------------------------


def test_derivative_of_array_and_complex_outputs():
    x = 0.4
    d = numeric.derivative(lambda t: np.array([t, t ** 2, np.sin(t)]), x, method="richardson")
    np.testing.assert_allclose(d, [1, 2 * x, np.cos(x)], atol=1e-12)
    d = numeric.derivative(lambda t: np.exp(1j * t) * np.ones((2, 3)), x, method="richardson")
    assert d.shape == (2, 3) and d.dtype.kind == "c"
    np.testing.assert_allclose(d, 1j * np.exp(1j * x), atol=1e-12)
    assert isinstance(numeric.derivative(np.sin, 1), float)  # ints promoted, Python in/out


def test_gradient_of_arrays():
    x = np.linspace(-1, 2, 6).reshape(2, 3)
    g = numeric.gradient(lambda x: np.sum(np.sin(x) * x ** 2), x, method="richardson")
    assert g.shape == (2, 3)
    np.testing.assert_allclose(g, np.cos(x) * x ** 2 + 2 * x * np.sin(x), atol=1e-11)
    g = numeric.gradient(lambda x: np.sum(x ** 2), np.arange(3))  # ints promoted
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [0, 2, 4], atol=1e-9)


def test_jacobian_shapes():
    A = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    x = np.array([0.3, -0.2, 1.1])
    J = numeric.jacobian(lambda x: A @ np.sin(x), x, method="richardson")
    np.testing.assert_allclose(J, A * np.cos(x), atol=1e-11)
    X = np.array([[0.1, 0.2], [0.3, 0.4]])
    J = numeric.jacobian(lambda X: np.array([X.sum(), (X ** 2).sum(), X[0, 1]]), X)
    assert J.shape == (3, 2, 2)
    np.testing.assert_allclose(J[1], 2 * X, atol=1e-9)
    np.testing.assert_allclose(J[2], [[0, 1], [0, 0]], atol=1e-9)


def test_hessian_of_arrays():
    A = np.array([[0.5, -0.3], [0.2, 0.1]])
    X = np.array([[0.1, 0.2], [0.3, 0.4]])

    def f(X):
        return np.exp(np.sum(A * X))
    H = numeric.hessian(f, X, method="richardson")
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H, np.multiply.outer(A, A) * f(X), atol=1e-10)
    H = numeric.hessian(lambda x: np.array([x[0] ** 2 * x[1], x[0] * x[1]]),
                        np.array([1.0, 3.0]))
    assert H.shape == (2, 2, 2)
    np.testing.assert_allclose(H, [[[6, 2], [2, 0]], [[0, 1], [1, 0]]], atol=1e-6)
    assert numeric.hessian(np.sin, 0.5) == pytest.approx(-np.sin(0.5), abs=1e-8)


def test_forward_and_backward_hessians():
    x = np.array([0.3, 0.7])

    def f(x):
        return np.exp(x[0]) * np.sin(x[1])
    want = np.array([[np.exp(x[0]) * np.sin(x[1]), np.exp(x[0]) * np.cos(x[1])],
                     [np.exp(x[0]) * np.cos(x[1]), -np.exp(x[0]) * np.sin(x[1])]])
    for method in ("forward", "backward"):
        H, info = numeric.hessian(f, x, method=method, full_output=True)
        np.testing.assert_allclose(H, want, atol=1e-4)
        np.testing.assert_array_less(abs(H - want), info.error)


def test_pytree_arguments():
    w, b, c = np.array([[1.0, -2.0], [0.5, 3.0]]), 0.7, np.array([0.2, 0.4, 0.6])

    def f(p):
        return np.sum(p["w"] ** 2) * p["b"] + np.sum(np.sin(p["c"]))
    x = {"w": w, "b": b, "c": c}
    g = numeric.gradient(f, x, method="richardson")
    assert list(g) == ["w", "b", "c"] and isinstance(g["b"], float)
    np.testing.assert_allclose(g["w"], 2 * w * b, atol=1e-10)
    assert g["b"] == pytest.approx(np.sum(w ** 2), abs=1e-10)
    np.testing.assert_allclose(g["c"], np.cos(c), atol=1e-10)

    J = numeric.jacobian(lambda p: np.array([p["b"] * p["c"][0], np.sum(p["w"])]), x)
    assert J["w"].shape == (2, 2, 2) and J["b"].shape == (2,) and J["c"].shape == (2, 3)
    np.testing.assert_allclose(J["c"], [[b, 0, 0], [0, 0, 0]], atol=1e-9)
    np.testing.assert_allclose(J["w"][1], np.ones((2, 2)), atol=1e-9)

    # the Hessian of a pytree: leaves flattened in order (w row-major, then b, then c)
    H = numeric.hessian(f, x, method="richardson")
    want = np.zeros((8, 8))
    want[:4, :4] = 2 * b * np.eye(4)
    want[:4, 4] = want[4, :4] = 2 * w.ravel()
    want[5:, 5:] = np.diag(-np.sin(c))
    np.testing.assert_allclose(H, want, atol=1e-8)

    g = numeric.gradient(lambda t: t[0] * t[1][0] ** 2, (2.0, [3.0]))
    assert isinstance(g, tuple) and isinstance(g[1], list)
    assert g[0] == pytest.approx(9.0) and g[1][0] == pytest.approx(12.0)


def test_given_steps():
    x = np.array([1.0, 2.0])

    def f(x):
        return np.sum(np.exp(x))
    for h in (1e-4, np.array([1e-4, 2e-4])):
        g, info = numeric.gradient(f, x, h=h, full_output=True)
        np.testing.assert_allclose(info.h, np.broadcast_to(h, 2), rtol=1e-10)
        np.testing.assert_allclose(g, np.exp(x), rtol=1e-7)
    _, info = numeric.gradient(lambda p: p["a"] * p["b"], {"a": 1.0, "b": 2.0},
                               h={"a": 1e-3, "b": 1e-5}, full_output=True)
    assert info.h["a"] == pytest.approx(1e-3) and info.h["b"] == pytest.approx(1e-5)


def test_float32_is_kept():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g, info = numeric.gradient(lambda x: np.sum(x ** 3), x, full_output=True)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-3)
    assert np.all(abs(g - 3 * x.astype(np.float64) ** 2) <= info.error)


# --- evaluation counts ------------------------------------------------------------------


class Counting:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


@pytest.mark.parametrize("method,levels,plain,estimated", [
    ("forward", 1, lambda n: n + 1, lambda n: 2 * n + 1),
    ("backward", 1, lambda n: n + 1, lambda n: 2 * n + 1),
    ("central", 1, lambda n: 2 * n, lambda n: 4 * n + 1),
    ("richardson", 1, lambda n: 4 * n, lambda n: 6 * n + 1),
    ("richardson", 3, lambda n: 8 * n, lambda n: 10 * n + 1),
])
def test_one_evaluation_per_point(method, levels, plain, estimated):
    """n inputs: one call of f per perturbed point (2n for central), none per output."""
    n = 5
    f = Counting(lambda x: np.outer(x, x))  # 25 outputs: no extra calls for them
    numeric.jacobian(f, np.arange(1.0, n + 1), method=method, levels=levels)
    assert f.calls == plain(n)
    f.calls = 0
    _, info = numeric.jacobian(f, np.arange(1.0, n + 1), method=method, levels=levels,
                               full_output=True)
    assert f.calls == info.nfev == estimated(n)


def test_hessian_evaluation_counts():
    n = 4
    f = Counting(lambda x: np.sum(x ** 3))
    numeric.hessian(f, np.ones(n))
    assert f.calls == 2 * n * n + 1
    f.calls = 0
    _, info = numeric.hessian(f, np.ones(n), method="forward", full_output=True)
    assert f.calls == info.nfev == 1 + 3 * n + 2 * (n * (n - 1) // 2)  # f(x+h), f(x+2h), f(x+4h)


# --- bad input --------------------------------------------------------------------------


def test_non_finite_f_gives_nan_and_an_infinite_error():
    with np.errstate(all="ignore"):
        for f, x in ((np.log, -1.0), (np.sqrt, 0.0), (lambda x: 1 / x, 0.0)):
            d, info = numeric.derivative(f, x, full_output=True)
            assert info.error == np.inf
        assert np.isnan(numeric.derivative(np.log, -1.0))
        g, info = numeric.gradient(lambda x: np.log(x[0]) + x[1], np.array([-1.0, 1.0]),
                                   full_output=True)
        assert np.isnan(g[0]) and np.all(info.error == np.inf)
        H, info = numeric.hessian(np.log, -1.0, full_output=True)
        assert np.isnan(H) and info.error == np.inf


@pytest.mark.parametrize("x,where", [
    (np.nan, "x is NaN"), (np.array([1.0, np.nan]), "x has NaN at index (1,)"),
    ({"a": 1.0, "b": np.array([np.inf])}, "x['b'] has inf"),
])
def test_non_finite_x_is_refused(x, where):
    with pytest.raises(ValueError, match=where.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        numeric.gradient(lambda x: 0.0, x)


@pytest.mark.parametrize("x", ["abc", object(), None, True, np.array([True]),
                               np.array(["a"]), {"a": "b"}, [1.0, "two"]])
def test_non_numeric_x_is_refused(x):
    with pytest.raises(TypeError, match="x"):
        numeric.gradient(lambda x: 0.0, x)


def test_misuse_is_explained():
    with pytest.raises(ValueError, match="'forward', 'backward', 'central', 'richardson'"):
        numeric.derivative(np.sin, 1.0, method="five-point")
    with pytest.raises(ValueError, match="richardson"):
        numeric.derivative(np.sin, 1.0, method="central", levels=2)
    with pytest.raises(ValueError, match="levels"):
        numeric.derivative(np.sin, 1.0, method="richardson", levels=0)
    with pytest.raises(TypeError, match="scalar"):
        numeric.derivative(np.sin, np.ones(2))
    with pytest.raises(ValueError, match="scalar.*jacobian"):
        numeric.gradient(np.sin, np.ones(2))
    for h in (0.0, -1e-3, np.nan):
        with pytest.raises(ValueError, match="positive"):
            numeric.derivative(np.sin, 1.0, h=h)
    with pytest.raises(ValueError, match="shapes"):
        numeric.gradient(np.sum, np.ones(3), h=np.ones(2))
    with pytest.raises(ValueError, match="lost in rounding"):
        numeric.derivative(np.sin, 1e3, h=1e-20)
    with pytest.raises(TypeError, match="numbers"):
        numeric.derivative(lambda x: "text", 1.0)
    shapes = iter([(2,), (3,)])
    with pytest.raises(ValueError, match="output shape"):
        numeric.derivative(lambda x: np.ones(next(shapes)), 1.0)


def test_knows_nothing_of_the_engines():
    """The referee imports NumPy and adkit.pytree only (DESIGN.md, Layering)."""
    tree = ast.parse(inspect.getsource(numeric))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "dataclasses", "functools", "numbers", "typing",
                        "numpy", ".pytree"}, imported


# --- complex x and the complex step -------------------------------------------------------------

def test_complex_x_gives_du_dx_minus_i_du_dy_and_holomorphic_derivatives():
    z = np.array([1 + 1j, 2 - 1j])
    np.testing.assert_allclose(numeric.gradient(lambda z: np.sum(np.abs(z) ** 2), z),
                               2 * np.conj(z), rtol=1e-9)
    np.testing.assert_allclose(numeric.jacobian(lambda z: z ** 2, z), np.diag(2 * z),
                               rtol=1e-9)
    d = numeric.derivative(lambda z: z ** 3, 1 + 1j, method="richardson")
    assert type(d) is complex and d == pytest.approx(3 * (1 + 1j) ** 2, rel=1e-11)
    # mixed pytree: a complex leaf and a real one; the Estimate keeps both steps
    g, info = numeric.gradient(lambda p: np.abs(p[0]) ** 2 * p[1], (1 + 2j, 3.0),
                               full_output=True)
    assert g[0] == pytest.approx(6 * (1 - 2j)) and g[1] == pytest.approx(5.0)
    assert info.h[0].real > 0 and info.h[0].imag > 0 and info.error[0] < 1e-6
    # a complex step h: h.real along x, h.imag along y
    g = numeric.gradient(lambda z: np.sum(np.real(z) * np.imag(z) ** 2), z,
                         h=np.full(2, 1e-5 + 2e-5j))
    np.testing.assert_allclose(g, np.imag(z) ** 2 - 2j * np.real(z) * np.imag(z), rtol=1e-8)


def test_hessian_refuses_complex_x():
    with pytest.raises(TypeError, match="complex.*2n x 2n"):
        numeric.hessian(lambda z: np.abs(z) ** 2, 1j)


@pytest.mark.parametrize("fun,x,exact", [
    (np.sin, 0.5, np.cos(0.5)),
    (lambda x: np.exp(x) / np.sqrt(np.sin(x) ** 3 + np.cos(x) ** 3), 1.5,   # Squire-Trapp
     lambda x: np.exp(x) / np.sqrt(np.sin(x) ** 3 + np.cos(x) ** 3) * (
         1 - 3 * np.sin(x) * np.cos(x) * (np.sin(x) - np.cos(x)) /
         (2 * (np.sin(x) ** 3 + np.cos(x) ** 3)))),
    (lambda x: np.sum(x ** 3 * np.log(x)), np.array([0.5, 2.0]),
     lambda x: 3 * x ** 2 * np.log(x) + x ** 2),
])
def test_complex_step_is_exact_to_rounding_at_tiny_steps(fun, x, exact):
    g = numeric.gradient(fun, x, method="complex_step") if np.ndim(x) else \
        numeric.derivative(fun, x, method="complex_step")
    ref = exact(x) if callable(exact) else exact
    np.testing.assert_allclose(g, ref, rtol=4e-16 * 8, atol=0)
    # any small step gives the same digits: no cancellation
    g2 = numeric.gradient(fun, x, method="complex_step", h=1e-100) if np.ndim(x) else \
        numeric.derivative(fun, x, method="complex_step", h=1e-100)
    np.testing.assert_allclose(g2, g, rtol=4e-16 * 4)


def test_complex_step_jacobian_and_estimate():
    J, info = numeric.jacobian(lambda x: np.sin(x) * x[0], np.array([0.5, 1.0]),
                               method="complex_step", full_output=True)
    exact = np.array([[np.cos(0.5) * 0.5 + np.sin(0.5), 0], [np.sin(1.0), np.cos(1.0) * 0.5]])
    np.testing.assert_allclose(J, exact, rtol=1e-15, atol=1e-16)
    assert info.method == "complex_step" and info.order == 2 and info.nfev == 5
    assert np.all(np.abs(J - exact) <= info.error + 1e-300) and np.all(info.error < 1e-14)


@pytest.mark.parametrize("fun,x,match", [
    (np.abs, 0.5, "dropped the imaginary part"),
    (np.real, 0.5, "dropped the imaginary part"),
    (lambda x: np.exp(1j * x), 0.5, "f real for real x"),
    (np.sin, 0.5 + 1j, "needs a real x"),
])
def test_complex_step_refuses_what_it_can_see(fun, x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        numeric.derivative(fun, x, method="complex_step")
    with pytest.raises(ValueError, match="first derivatives only"):
        numeric.hessian(np.sin, 0.5, method="complex_step")
