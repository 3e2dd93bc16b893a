"""The SymPy slots of numpy.linalg, numpy.fft and scipy.special: for every differentiable
primitive of adkit/rules/linalg.py, fft.py and special.py, the exact gradient (adkit.symbolic:
SymPy expressions, sympy.diff, lambdify) equals reverse mode's to 1e-9 on small shapes,
stacks included; and sizes beyond a rule's reach are refused with NoSympyError, never
traced into a wrong or intractable expression."""

import importlib
import pkgutil
import re

import numpy as np
import pytest

sympy = pytest.importorskip("sympy")

import adkit  # noqa: E402
from adkit import symbolic  # noqa: E402
from adkit.reverse import Tape  # noqa: E402
from adkit.table import ON_OBJECTS, NoSympy  # noqa: E402
from adkit.tracer import NondiffPrimitive, Primitive  # noqa: E402

try:
    import scipy.special as ss
except ImportError:  # pragma: no cover - SciPy absent: the special family is not loaded
    ss = None

L = np.linalg
FAMILIES = ("linalg", "fft") + (("special",) if ss is not None else ())
_rng = np.random.RandomState(11)


def R(*shape, low=-2.0, high=2.0):
    return _rng.uniform(low, high, size=shape)


def P(*shape):
    return R(*shape, low=0.5, high=2.0)


def gen(n, *stack):
    return R(*stack, n, n) + n * np.eye(n)


def spd(n, *stack):
    a = R(*stack, n, n)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def own_primitives(family: str) -> list[Primitive]:
    """The differentiable primitives a rules module defines (not those it imports)."""
    rules = importlib.import_module("adkit.rules")

    def prims(mod):
        return {id(v): v for v in vars(mod).values() if isinstance(v, Primitive)}
    mods = {m.name: importlib.import_module(f"adkit.rules.{m.name}")
            for m in pkgutil.iter_modules(rules.__path__) if m.name != "special" or ss}
    others = set().union(*(prims(m) for n, m in mods.items() if n != family))
    return [p for k, p in prims(mods[family]).items()
            if k not in others and not isinstance(p, NondiffPrimitive)]


# --- one or more cases per primitive: (function, arguments) --------------------------------------

def _v(v):
    """Eigen/singular vectors times the sign of their first row: a smooth function of them."""
    return v * np.sign(v[..., :1, :])


NEGDET = np.array([[1.0, 2.0], [3.0, 1.0]]) + 0.1 * R(2, 2)  # det < 0


def _two_eigs():
    """A real 2x2 with real eigenvalues and one with a complex pair, stacked."""
    return np.stack([R(2, 2) + np.array([[2.0, 0.5], [0.5, -1.0]]),
                     R(2, 2) + np.array([[0.0, 3.0], [-3.0, 0.0]])])


CASES = {
    "inv": [(L.inv, gen(2, 2)), (lambda a: L.inv(a), gen(3))],
    "det": [(L.det, gen(3, 2)), (lambda a, b: L.det(a + 1j * b), gen(2), R(2, 2))],
    "slogdet": [(lambda a: L.slogdet(a)[1], np.stack([gen(2), NEGDET])),
                (lambda a, b: L.slogdet(a + 1j * b)[1], gen(2), R(2, 2))],
    "solve": [(L.solve, gen(2, 2), R(2)), (L.solve, gen(2), R(2, 3))],
    "cholesky": [(L.cholesky, spd(2, 2) + np.triu(R(2, 2), 1)),
                 (lambda a: L.cholesky(a, upper=True), spd(3))],
    "eigh": [(lambda a: L.eigh(a)[0][..., None, :] * _v(L.eigh(a)[1]), R(2, 2, 2)),
             (lambda a: _v(L.eigh(a, "U")[1]) + L.eigvalsh(a, "U")[..., None, :], R(2, 2))],
    "eig": [(lambda a: L.eig(a)[1] + L.eigvals(a)[..., None, :], _two_eigs()),
            (lambda a: L.eig(a)[1] * L.eigvals(a), _two_eigs()[0])],  # real eigenvalues
    "svd": [(lambda a: (lambda u, s, vt: _v(u) * s + _v(vt.T)[0])(
                *L.svd(a, full_matrices=False)), R(3, 2)),
            (lambda a: _v(L.svd(a, full_matrices=False)[2].T), R(2, 3)),
            (lambda a: L.svd(a, compute_uv=False), R(2, 3, 2))],
    "qr": [(lambda a: L.qr(a)[0] * 2.0 + np.sum(L.qr(a)[1], axis=-1)[..., None, :],
            R(2, 3, 2)),
           (lambda a: L.qr(a)[1], R(2, 3))],
    "pinv": [(L.pinv, R(2, 2, 3))],  # lstsq below: a tall matrix
    "lstsq": [(lambda a, b: L.lstsq(a, b)[0], R(3, 2), R(3))],
    "vector_norm": [(lambda x: L.norm(x, axis=1, keepdims=True), R(3, 2)),
                    (lambda a, b: L.norm(a + 1j * b), R(3), R(3))],
    # transforms: NumPy's n= (cut and zero-pad), axis and every norm; real and complex input
    "fft": [(lambda x: np.fft.fft(x, n=5, norm="ortho"), R(4)),
            (lambda x, y: np.fft.fft(x + 1j * y, n=3, axis=0, norm="forward"), R(4, 2),
             R(4, 2)),
            (lambda x: np.abs(np.fft.fft(x)) ** 2, R(8))],
    "ifft": [(lambda x, y: np.fft.ifft(x + 1j * y, axis=0), R(3, 2), R(3, 2)),
             (lambda x: np.fft.ifft(x, n=6, norm="forward"), R(4))],
    "rfft": [(lambda x: np.fft.rfft(x, n=6, axis=0), R(5, 2)),
             (lambda x: np.fft.rfft(x, norm="ortho"), R(7))],
    "irfft": [(lambda x, y: np.fft.irfft(x + 1j * y, n=5), R(2, 3), R(2, 3)),
              (lambda x, y: np.fft.irfft(x + 1j * y, n=6, norm="ortho"), R(3), R(3)),
              (lambda x: np.fft.irfft(x, n=2, norm="forward"), R(4))],
}

if ss is not None:
    ORDERS = np.array([0.5, 1.0, 2.0])
    INTS = np.array([0, 1, 2])
    UNARY = {  # primitive name: (function, arguments)
        "expit": (ss.expit, R(3)), "logit": (ss.logit, R(3, low=0.1, high=0.9)),
        "log_expit": (ss.log_expit, R(3)),
        "polygamma": (lambda x: ss.polygamma(INTS, x), P(3)),
        # gammaln, betaln: log|.| of a negative value too (SymPy's loggamma is complex there)
        "gammaln": (ss.gammaln, np.array([0.7, 2.5, -2.5, -1.3])),
        "loggamma": (ss.loggamma, P(3)), "gamma": (ss.gamma, np.array([0.7, 2.5, -1.5])),
        "rgamma": (ss.rgamma, np.array([0.7, 2.5, -1.5])), "psi": (ss.digamma, P(3)),
        "beta": (ss.beta, P(3), P(3)),
        "betaln": (ss.betaln, np.array([0.7, -0.5, 1.5]), np.array([1.3, 2.0, 0.6])),
        "gammainc": (lambda x: ss.gammainc(ORDERS, x), P(3)),
        "gammaincc": (lambda x: ss.gammaincc(ORDERS, x), P(3)),
        "betainc": (lambda x: ss.betainc(ORDERS, 2.5, x), R(3, low=0.1, high=0.9)),
        "zeta": (lambda q: ss.zeta(np.array([2.0, 3.5, 4.0]), q), P(3)),
        "erf": (ss.erf, R(3)), "erfc": (ss.erfc, R(3)), "erfi": (ss.erfi, R(3, low=-1, high=1)),
        "erfcx": (ss.erfcx, R(3)), "erfinv": (ss.erfinv, R(3, low=-0.9, high=0.9)),
        "erfcinv": (ss.erfcinv, R(3, low=0.1, high=1.9)), "dawsn": (ss.dawsn, R(3)),
        "ndtr": (ss.ndtr, R(3)), "log_ndtr": (ss.log_ndtr, np.array([-6.0, -1.0, 2.5])),
        "ndtri": (ss.ndtri, R(3, low=0.05, high=0.95)),
        "ndtri_exp": (ss.ndtri_exp, R(3, low=-3.0, high=-0.1)),
        "expi": (ss.expi, np.array([-1.5, 0.5, 2.0])), "exp1": (ss.exp1, P(3)),
        "log1p": (ss.log1p, R(3, low=-0.5, high=2.0)), "expm1": (ss.expm1, R(3)),
        "exp2": (ss.exp2, R(3)), "exp10": (ss.exp10, R(3, low=-1, high=1)),
        "cbrt": (ss.cbrt, np.array([-2.0, -0.5, 0.7, 1.5])), "cosm1": (ss.cosm1, R(3)),
        "xlogy": (ss.xlogy, R(3), P(3)), "xlog1py": (ss.xlog1py, R(3), R(3, low=-0.5, high=2)),
        "entr": (ss.entr, P(3)), "rel_entr": (ss.rel_entr, P(3), P(3)),
        "kl_div": (ss.kl_div, P(3), P(3)),
        "j0": (ss.j0, R(3, low=-4, high=4)), "j1": (ss.j1, R(3, low=-4, high=4)),
        "y0": (ss.y0, R(3, low=0.5, high=4)), "y1": (ss.y1, R(3, low=0.5, high=4)),
        "i0": (ss.i0, R(3)), "i1": (ss.i1, R(3)),
        "i0e": (ss.i0e, np.array([-1.5, 0.4, 2.0])), "i1e": (ss.i1e, np.array([-1.5, 0.4, 2.0])),
        "k0": (ss.k0, P(3)), "k1": (ss.k1, P(3)), "k0e": (ss.k0e, P(3)), "k1e": (ss.k1e, P(3)),
        "jv": (lambda x: ss.jv(ORDERS, x), P(3)), "yv": (lambda x: ss.yv(ORDERS, x), P(3)),
        "yn": (lambda x: ss.yn(INTS, x), P(3)), "iv": (lambda x: ss.iv(INTS, -x), P(3)),
        "ive": (lambda x: ss.ive(INTS, x), np.array([-1.5, 0.4, 2.0])),
        "kv": (lambda x: ss.kv(ORDERS, x), P(3)), "kve": (lambda x: ss.kve(ORDERS, x), P(3)),
    }
    CASES.update({"scipy.special." + k: [v] for k, v in UNARY.items()})
    # where SymPy's own functions would go wrong: it reflects J and I of a negated argument
    # into complex powers, and lambdify prints a power of gammainc or betainc unbracketed
    CASES["scipy.special.stdtr"] = []
    for name, case in [("jv", (lambda x: ss.jv(1.5, 2.2 - x), P(2))),
                       ("iv", (lambda x: ss.iv(1.5, 2.2 - x), P(2))),
                       ("gammainc", (lambda x: ss.gammainc(0.7, x + 2.0) ** 3, R(2))),
                       ("gammaincc", (lambda x: ss.gammaincc(0.7, x + 2.0) ** 3, R(2))),
                       ("betainc", (lambda x: ss.betainc(2.0, 3.0, 0.5 + 0.2 * np.tanh(x)) ** 3,
                                    R(2))),
                       ("stdtr", (lambda x: ss.stdtr(3.5, x), np.array([-1.5, -0.2, 0.7])))]:
        CASES["scipy.special." + name].append(case)
    B = np.array([[1.0, -0.5, 0.3], [-1.0, 0.2, -0.4]])  # second row: a negative sum
    CASES.update({
        "scipy.special.logsumexp": [
            (lambda a, b: ss.logsumexp(a, axis=1, b=b, return_sign=True)[0], R(2, 3), B),
            (lambda a: ss.logsumexp(a, axis=0, keepdims=True), R(2, 3)),
            (lambda a: ss.logsumexp(a), np.array([1000.0, 1001.0, 999.0]))],
        "scipy.special.softmax": [(lambda x: ss.softmax(x, axis=1), R(2, 3)),
                                  (lambda x: ss.softmax(x), 400.0 * R(3))],
        "scipy.special.log_softmax": [(lambda x: ss.log_softmax(x, axis=0), R(2, 3)),
                                      (lambda x: ss.log_softmax(x), 400.0 * R(3))],
    })

CASE_IDS = [(name, k) for name, cases in CASES.items() for k in range(len(cases))]


def _scalar(fun, example_out):
    """L = sum(w * f) (real and imaginary parts weighted apart for a complex f)."""
    w = np.random.RandomState(1).uniform(0.5, 1.5, size=np.shape(example_out))
    if np.iscomplexobj(example_out):
        return lambda *a: np.sum(w * np.real(fun(*a))) + np.sum(0.7 * w * np.imag(fun(*a)))
    return lambda *a: np.sum(w * fun(*a))


@pytest.mark.parametrize("name,k", CASE_IDS, ids=[f"{n}-{k}" for n, k in CASE_IDS])
def test_exact_gradient_equals_reverse_mode(name, k):
    fun, *args = CASES[name][k]
    argnums = tuple(range(len(args)))
    with Tape() as tape:  # the case reaches the primitive it stands for
        fun(*[tape.watch(a) for a in args])
    assert name in {n.prim.name for n in tape.nodes if n.prim is not None}
    loss = _scalar(fun, fun(*args))
    exact = symbolic.grad(loss, argnums)(*args)
    reverse = adkit.grad(loss, argnums)(*args)
    for e, r in zip(exact, reverse):
        scale = max(1.0, float(np.max(np.abs(e))))
        np.testing.assert_allclose(r, e, rtol=1e-9, atol=1e-11 * scale)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_primitive_has_a_slot_and_a_case(family):
    for p in own_primitives(family):
        assert p.sympy is not None, f"{p.name} has no SymPy slot"
        if isinstance(p.sympy, str) and p.sympy is not ON_OBJECTS:
            assert callable(getattr(sympy, p.sympy, None)), f"{p.name}: no sympy.{p.sympy}"
        where = REFUSED if isinstance(p.sympy, NoSympy) else CASES
        assert p.name in where, f"{p.name} has no case in tests/test_symbolic_rules.py"


# --- beyond a rule's reach: NoSympyError naming the primitive --------------------------------

REFUSED = {
    "eigh": [(lambda a: L.eigvalsh(a), spd(3))],
    "eig": [(lambda a: np.real(L.eigvals(a)), gen(3))],
    "svd": [(lambda a: L.svd(a, compute_uv=False), R(4, 3))],
    "qr": [(lambda a: L.qr(a)[1], R(3, 3))],
    "cholesky": [(L.cholesky, spd(4))],
    "inv": [(L.inv, gen(5))],
    "pinv": [(L.pinv, np.outer(R(3), R(2)))],  # rank 1: not written for rank deficiency
    "lstsq": [(lambda a, b: L.lstsq(a, b)[0], R(4, 3), R(4))],
}
if ss is not None:   # the shape-parameter derivatives, integrated numerically
    from adkit.rules import special as _special
    REFUSED.update({
        "scipy.special.gammainc (d/da)": [(lambda a: _special.gammainc_da(a, 2.0), R(3, low=0.5))],
        "scipy.special.betainc (d/da)": [(lambda a: _special.betainc_da(a, 2.0, 0.3), R(3, low=0.5))],
        "scipy.special.betainc (d/db)": [(lambda b: _special.betainc_db(2.0, b, 0.3), R(3, low=0.5))],
    })
REFUSED_IDS = [(name, k) for name, cases in REFUSED.items() for k in range(len(cases))]


@pytest.mark.parametrize("name,k", REFUSED_IDS, ids=[f"{n}-{k}" for n, k in REFUSED_IDS])
def test_beyond_reach_is_refused_by_name(name, k):
    fun, *args = REFUSED[name][k]
    qualified = name if name.startswith("scipy.") else f"np.linalg.{name}"
    with pytest.raises(symbolic.NoSympyError, match=re.escape(f"{qualified} has no SymPy")):
        symbolic.grad(lambda *a: np.sum(fun(*a)), tuple(range(len(args))))(*args)


def test_branches_taken_at_the_point_are_recorded():
    # eigenvector signs, the sign of a determinant, which bins LAPACK orders first:
    # value-dependent choices, so the expression holds near the point only
    t = symbolic.trace(lambda a: L.slogdet(a)[1], NEGDET)
    assert any("slogdet" in b for b in t.branches)
    assert not symbolic.trace(lambda a: L.det(a), gen(2)).branches
    assert any("eigh" in b for b in symbolic.trace(lambda a: L.eigh(a)[1], R(2, 2)).branches)


def test_dft_roots_of_unity_are_exact():
    # fft of a length-4 signal has Gaussian-integer coefficients: no floats in the expression
    out = symbolic.expression(lambda x: np.real(np.fft.fft(x)[1]) + np.imag(np.fft.fft(x)[1]),
                              np.arange(4.0))
    x = [sympy.Symbol(f"x_{i}", real=True) for i in range(4)]
    assert out == x[0] - x[1] - x[2] + x[3]
