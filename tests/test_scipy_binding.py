"""SciPy's Python functions differentiate whatever the import order: the function objects
themselves are bound to their rules (adkit/rules/scipy_binding.py). Each order runs in a
fresh interpreter, since binding happens once per process."""

import subprocess
import sys
import textwrap
import timeit

import numpy as np
import pytest

pytest.importorskip("scipy.special", reason="SciPy is not installed")

import scipy.special as sp  # noqa: E402
import scipy.stats as st  # noqa: E402

import adkit  # noqa: E402
from adkit.rules import scipy_binding  # noqa: E402
from adkit.table import NoRuleError  # noqa: E402

# what a user module does: bind names at the top, differentiate a function using them
USER_CODE = """
import numpy as np
{before}
import adkit
{after}

def loss(w):
    h = np.tanh(w)
    return logsumexp(h) - norm.logpdf(h[0], loc=0.1, scale=2.0) + np.sum(log_softmax(h))

x = np.array([0.3, -0.2, 0.5])
g = adkit.grad(loss)(x)
_, t = adkit.jvp(loss, (x,), (np.array([1.0, 0.0, 0.0]),))
h = 1e-6
e = np.array([1.0, 0.0, 0.0])
numeric = (loss(x + h * e) - loss(x - h * e)) / (2 * h)
assert np.isclose(g[0], numeric, rtol=1e-6), (g, numeric)
assert np.isclose(t, numeric, rtol=1e-6), (t, numeric)
print("ok")
"""
IMPORTS = ("from scipy.special import logsumexp, log_softmax\n"
           "from scipy.stats import norm")


@pytest.mark.parametrize("order", ["before", "after"])
def test_module_level_imports_in_either_order(order):
    code = USER_CODE.format(before=IMPORTS if order == "before" else "",
                            after=IMPORTS if order == "after" else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_import_adkit_still_does_not_import_scipy_and_binds_nothing():
    code = textwrap.dedent("""
        import sys, numpy as np, adkit
        adkit.grad(lambda x: np.sum(x ** 2))(np.ones(2))
        assert not any(m == "scipy" or m.startswith("scipy.") for m in sys.modules)
        from adkit.rules import scipy_binding
        assert scipy_binding.bound_names() == []
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_functions_passed_as_values_and_methods_of_distributions():
    f = sp.logsumexp  # bound before any differentiation of this test
    x = np.array([0.1, 0.4, -0.3])
    assert np.allclose(adkit.grad(f)(x), sp.softmax(x))
    logpdf = st.norm.logpdf  # a bound method, taken before differentiating
    assert np.isclose(adkit.grad(lambda m: logpdf(1.0, loc=m))(0.25), 0.75)
    frozen = st.norm(0.5, 2.0)  # frozen distributions call the bound methods
    assert np.isclose(adkit.grad(frozen.logpdf)(1.5), -0.25)


def test_bound_function_keeps_scipy_signature_docs_and_plain_results():
    import inspect
    assert list(inspect.signature(sp.logsumexp).parameters)[:2] == ["a", "axis"]
    assert "log of the sum of exponentials" in (sp.logsumexp.__doc__ or "").lower()
    original = scipy_binding.original(sp.logsumexp)
    assert original is not sp.logsumexp
    a = np.random.RandomState(0).standard_normal((3, 4))
    for kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"b": a ** 2}):
        assert np.array_equal(sp.logsumexp(a, **kw), original(a, **kw))
    assert sp.logsumexp(a, return_sign=True)[1] == original(a, return_sign=True)[1]
    with pytest.raises(ValueError):  # SciPy's own errors for plain values
        st.multivariate_normal.logpdf(np.zeros(2), np.zeros(2), -np.eye(2))


def test_decorated_scipy_functions_keep_their_closure():
    import scipy.linalg as sl
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    assert np.allclose(sl.cholesky(A, lower=True), np.linalg.cholesky(A))
    assert np.allclose(adkit.grad(lambda a: np.sum(sl.cholesky(a, lower=True)))(A),
                       adkit.grad(lambda a: np.sum(np.linalg.cholesky(a)))(A))


def test_plain_calls_cost_next_to_nothing():
    # the gateway adds one Python call and a scan of the arguments to a plain call
    x = np.array([1.5, 2.5])
    fn, original = sp.multigammaln, scipy_binding.original(sp.multigammaln)

    def per_call(f):
        return timeit.timeit(lambda: f(x, 2), number=1000) / 1000

    def overhead():
        bound, plain = [], []
        for _ in range(9):  # interleaved, so a busy machine slows both alike
            bound.append(per_call(fn))
            plain.append(per_call(original))
        return min(bound) - min(plain), min(bound), min(plain)
    # measured at about 0.7 us on a ~10 us call; three tries, as a busy machine can
    # stall one of them
    tries = [overhead() for _ in range(3)]
    assert min(t[0] for t in tries) < 5e-6, tries


def test_error_inside_scipy_names_the_function_called_and_the_fix():
    def f(x):
        return st.skew(x)  # no rule: SciPy's code meets the traced value

    for mode in ("reverse", "forward"):
        with pytest.raises((adkit.TracedConversionError, NoRuleError)) as info:
            adkit.jacobian(f, mode=mode)(np.array([0.1, 0.5, 2.0]))
        message = str(info.value)
        assert message.startswith("scipy.stats.skew (called at "), message
        assert "test_scipy_binding.py" in message.split("\n")[0]
        assert "adkit.stop_gradient" in message and "docs/coverage.md" in message


def test_unsupported_distribution_method_names_itself():
    with pytest.raises(NoRuleError, match=r"scipy\.stats\.weibull_min\.logpdf.*norm"):
        adkit.grad(lambda x: st.weibull_min.logpdf(x, 1.5))(0.3)


def test_errors_of_rules_are_not_reworded():
    with pytest.raises(NoRuleError, match=r"^scipy\.special\.jv received a traced v"):
        adkit.grad(lambda v: sp.jv(v, 1.0))(2.0)
    with pytest.raises(NoRuleError, match=r"^scipy\.stats\.poisson\.logpmf received a traced k"):
        adkit.grad(lambda k: st.poisson.logpmf(k, 2.0))(2.0)


def test_source_of_bound_functions_is_scipys():
    import inspect
    assert inspect.getsource(sp.logsumexp).lstrip().startswith(("def logsumexp", "@"))
    assert inspect.getsourcefile(st.rv_continuous.logpdf).endswith(".py")


def test_a_module_imported_during_a_differentiation_is_named_in_the_error():
    code = textwrap.dedent("""
        import numpy as np, adkit
        def f(a):
            import scipy.linalg  # first imported here, after the differentiation started
            return np.sum(scipy.linalg.expm(a))
        try:
            adkit.grad(f)(np.eye(2))
        except adkit.NoRuleError as e:
            assert str(e).startswith("scipy.linalg.expm (called at "), e
            assert "import scipy.linalg before calling adkit" in str(e), e
        else:
            raise AssertionError("no error")
        assert adkit.grad(f)(np.eye(2)).shape == (2, 2)  # bound from the next one on
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_rules_that_cannot_load_warn_and_leave_plain_code_alone(monkeypatch):
    import types as _types
    monkeypatch.setitem(sys.modules, "scipy.imaginary", _types.ModuleType("scipy.imaginary"))
    monkeypatch.setitem(scipy_binding.FAMILIES, "scipy.imaginary", "adkit.rules.no_such_rules")
    with pytest.warns(RuntimeWarning, match=r"rules for scipy\.imaginary.*not differentiable"):
        g = adkit.grad(lambda x: x * x)(3.0)
    assert g == 6.0
    scipy_binding._bound_families.discard("scipy.imaginary")
