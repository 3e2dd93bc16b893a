"""Property-based cross-checks: random NumPy programs (tests/programs.py), every engine
against every other and against both referees.

Per program, with the output reduced to a scalar L by a fixed random weighting:
- forward-mode gradient == reverse-mode gradient (rel 1e-10);
- <u, J v> by adkit.jvp == <J^T u, v> by adkit.vjp (rel 1e-10);
- the Hessian (forward over reverse) is symmetric, and H v from adkit.hvp
  (forward over reverse) == reverse over reverse (rel 1e-9: second derivatives
  run through twice the rules, so twice the rounding);
- the gradient agrees with Richardson differences within 10x their error estimate,
  except where the differences' points straddle a kink or a branch
  (Program.decisions tells), which is counted and reported, never tolerated;
- the gradient == adkit.symbolic's exact gradient (rel 1e-9), on small programs.

Complex programs (programs.build_complex_program: complex inputs and intermediates)
go through complexcheck.check_complex, under docs/complex.md's convention: the
gradient dL/dx - i dL/dy against central differences along the real and imaginary
direction of every input element, forward mode, vjp, jvp, both Jacobians and
second order.

Profiles (ADKIT_HYPOTHESIS_PROFILE): "ci" (default) runs in well under a minute,
derandomized and without a database, so CI sees the same programs every time;
"thorough" runs 10,000 programs through the engine cross-check. The number of
programs each test ran is reported at the end of the module.

    ADKIT_HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_properties.py -x -q
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("scipy.special", reason="the program generator draws on SciPy's functions")
from hypothesis import HealthCheck, given, note, settings  # noqa: E402

import adkit  # noqa: E402
import adkit.dispatch  # noqa: E402,F401  (fills the table)
import adkit.rules.special  # noqa: E402,F401  (scipy.special rules, normally loaded on first use)
import programs as P  # noqa: E402
from complexcheck import check_complex  # noqa: E402
from adkit import numeric  # noqa: E402
from adkit.reverse import Tape  # noqa: E402
from adkit.table import PRIMITIVES  # noqa: E402
from adkit.tracer import NondiffPrimitive  # noqa: E402

# --- profiles -------------------------------------------------------------------------------

_COMMON = dict(deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example,
                                      HealthCheck.filter_too_much])
settings.register_profile("ci", derandomize=True, print_blob=False, **_COMMON)
settings.register_profile("thorough", derandomize=False, print_blob=True, **_COMMON)

PROFILE = os.environ.get("ADKIT_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "thorough"):
    raise ValueError(f"ADKIT_HYPOTHESIS_PROFILE must be 'ci' or 'thorough', got {PROFILE!r}")
#: programs per test, by profile
EXAMPLES = {"ci": {"engines": 60, "symbolic": 12, "complex": 20},
            "thorough": {"engines": 10_000, "symbolic": 300, "complex": 2_000}}[PROFILE]


def profile(test: str) -> settings:
    # the module's own settings object: loading a profile would change every other
    # hypothesis test of the session
    return settings(settings.get_profile(PROFILE), max_examples=EXAMPLES[test])


#: programs checked per test, and checks skipped per reason
COUNTS: collections.Counter = collections.Counter()
#: catalogue entry -> the checks its one-entry programs have been through
THROUGH: dict[str, set] = collections.defaultdict(set)
ALL_CHECKS = {"first order", "transpose", "second order", "hessian", "numeric"}

# --- tolerances -----------------------------------------------------------------------------

FIRST = 1e-10    # forward vs reverse, jvp vs vjp: the same derivative, other rounding
SECOND = 1e-9    # second derivatives by two nestings
SYMBOLIC = 1e-9  # exact derivative, evaluated by lambdify
NUMERIC = 10.0   # times the Richardson error estimate
HESSIAN_MAX = 12  # full Hessians only for this many input elements or fewer
SYMBOLIC_SECONDS = {"ci": 3.0, "thorough": 20.0}[PROFILE]  # per program
# Absolute floors. Every intermediate of a program is O(1) (programs.BOUND), so a
# derivative that cancels to zero (d/dx arctan2(x, x)) is computed as O(eps) times
# O(1) partial derivatives, differently by each engine: a few 1e-16 per step.
ABS_FIRST = 1e-13
ABS_SECOND = 1e-12


def assert_close(what: str, a, b, rtol: float, floor) -> None:
    """|a - b| <= rtol max(|a|, |b|) + floor, elementwise (floor may be an array)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes differ, {a.shape} vs {b.shape}")
    err = np.abs(a - b)
    bound = rtol * np.maximum(np.abs(a), np.abs(b)) + floor
    if not np.all(err <= bound):
        k = np.unravel_index(np.argmax(err - bound), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{what}: |difference| {err[k]:.3g} > bound {np.broadcast_to(bound, err.shape)[k]:.3g}"
            f" at index {k} (rtol {rtol:g})\n{a!r}\nvs\n{b!r}")


def _norm(x) -> float:
    return float(np.max(np.abs(x))) if np.size(x) else 0.0


# --- the function every check differentiates ------------------------------------------------


class Setup:
    """A program's scalar L = sum(w * f(...)) and its inputs, also flattened to one vector."""

    def __init__(self, prog: P.Program) -> None:
        self.prog = prog
        self.xs = prog.inputs
        self.out = prog(*self.xs)
        self.w = np.random.RandomState(1).uniform(0.5, 1.5, size=np.shape(self.out))
        self.shapes = [np.shape(x) for x in self.xs]
        self.z = np.concatenate([np.ravel(x) for x in self.xs])
        self.nums = tuple(range(len(self.xs)))

    def L(self, *xs):
        return np.sum(self.w * self.prog(*xs))

    def split(self, z) -> list:
        out, k = [], 0
        for s in self.shapes:
            n = P._size(s)
            out.append(z[k] if s == () else np.reshape(z[k:k + n], s))
            k += n
        return out

    def F(self, z):
        return self.L(*self.split(z))


def check_first_order(s: Setup) -> np.ndarray:
    """Forward == reverse gradient; <u, J v> by jvp == <J^T u, v> by vjp. Returns the
    reverse-mode gradient, flattened."""
    g_rev = adkit.grad(s.L, s.nums)(*s.xs)
    g_fwd = adkit.jacobian(s.L, s.nums, mode="forward")(*s.xs)
    scale = max(_norm(g) for g in g_rev)
    for i in s.nums:
        assert np.shape(g_rev[i]) == s.shapes[i], (np.shape(g_rev[i]), s.shapes[i])
        assert_close(f"forward vs reverse gradient, x{i}", g_fwd[i], g_rev[i], FIRST,
                     FIRST * scale + ABS_FIRST)

    rng = np.random.RandomState(2)
    vs = tuple(np.float64(rng.standard_normal()) if sh == () else rng.standard_normal(sh)
               for sh in s.shapes)
    u = rng.standard_normal(np.shape(s.out))
    out_f, jv = adkit.jvp(s.prog, s.xs, vs)
    out_r, pullback = adkit.vjp(s.prog, *s.xs)
    for what, o in (("forward", out_f), ("reverse", out_r)):
        # the engines evaluate some NumPy functions through other primitives
        # (np.tensordot through einsum): values agree to rounding
        assert_close(f"{what}-mode value vs NumPy", o, s.out, 1e-13, ABS_FIRST)
    cts = pullback(u)
    lhs = float(np.sum(u * jv))
    rhs = float(sum(np.sum(c * v) for c, v in zip(cts, vs)))
    floor = FIRST * (float(np.sum(np.abs(u * jv))) +
                     float(sum(np.sum(np.abs(c * v)) for c, v in zip(cts, vs)))) + ABS_FIRST
    assert_close("<u, J v> by jvp vs <J^T u, v> by vjp", lhs, rhs, FIRST, floor)
    return np.concatenate([np.ravel(g) for g in g_rev])


def check_second_order(s: Setup) -> bool:
    """H v forward-over-reverse == reverse-over-reverse; the Hessian is symmetric and
    agrees with both. Returns whether the full Hessian was checked."""
    v = np.random.RandomState(3).standard_normal(s.z.size)
    hv = adkit.hvp(s.F, (s.z,), (v,))
    g = adkit.grad(s.F)
    hv_rr = adkit.grad(lambda z: np.sum(g(z) * v))(s.z)
    tiny = ABS_SECOND * _norm(v)
    if s.z.size > HESSIAN_MAX:
        assert_close("H v: forward-over-reverse vs reverse-over-reverse", hv, hv_rr, SECOND,
                     SECOND * max(_norm(hv), _norm(hv_rr)) + tiny)
        return False
    H = adkit.hessian(s.F)(s.z)
    floor = SECOND * (np.abs(H) @ np.abs(v)) + tiny  # rounding grows with the terms summed
    assert_close("H v: forward-over-reverse (hvp) vs reverse-over-reverse", hv, hv_rr,
                 SECOND, floor)
    assert_close("H v: hessian() @ v vs hvp", H @ v, hv, SECOND, floor)
    assert_close("Hessian symmetry: H vs H.T", H, H.T, SECOND, SECOND * _norm(H) + ABS_SECOND)
    return True


def numeric_gradient(F, z):
    """(gradient, error estimate) by Richardson differences (adkit.numeric's defaults)."""
    g, info = numeric.gradient(F, z, method="richardson", full_output=True)
    return np.asarray(g, dtype=float), np.asarray(info.error, dtype=float)


def check_numeric(s: Setup, g: np.ndarray) -> bool:
    """The gradient is within 10 error estimates of Richardson differences. Returns False
    (and counts why) where the differences straddle a kink or branch of the program."""
    _, base = s.prog.decisions(*s.xs)
    straddled: set[str] = set()

    def F(z):
        try:
            out, d = s.prog.decisions(*s.split(z))
        except (ArithmeticError, ValueError) as e:
            # off the point, past a jump: e.g. a matrix that is positive definite near
            # the point only (np.linalg.LinAlgError is a ValueError)
            straddled.add(f"an error off the point ({type(e).__name__})")
            return np.nan
        for (k, a), (j, b) in zip(d, base):
            if k != j or not np.array_equal(a, b):
                straddled.add(s.prog.notes[min(k, j)])
                break
        else:
            if len(d) != len(base):
                straddled.add("a loop or branch")
        return float(np.sum(s.w * out))

    g_num, error = numeric_gradient(F, s.z)
    if straddled:
        COUNTS["numeric skipped: the differences straddle a kink or branch"] += 1
        for label in straddled:
            COUNTS[f"numeric skipped at: {label}"] += 1
        return False
    assert_close("reverse gradient vs Richardson differences", g, g_num, 0.0,
                 NUMERIC * error + ABS_SECOND * max(1.0, _norm(g)))
    return True


class _SlowSymbolic(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise _SlowSymbolic after `seconds` (where SIGALRM exists; no limit elsewhere)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def stop(signum, frame):
        raise _SlowSymbolic
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_symbolic(s: Setup, g: np.ndarray) -> str | None:
    """The gradient == SymPy's. Returns why it was not compared (and counts it) where the
    program reaches a primitive without a SymPy counterpart (symbolic.NoSympyError), or
    where SymPy takes longer than SYMBOLIC_SECONDS (expression swell: a 2 x 2 QR's
    derivative takes ~20 s to print in lambdify); neither is a failure."""
    symbolic = _symbolic()
    try:
        with _time_limit(SYMBOLIC_SECONDS):
            g_sym = symbolic.grad(s.L, s.nums)(*s.xs)
    except symbolic.NoSympyError as e:
        why = f"{str(e).split(' has no')[0]} has no SymPy counterpart"
    except _SlowSymbolic:
        why = f"SymPy was slower than {SYMBOLIC_SECONDS} s"
    else:
        g_sym = np.concatenate([np.ravel(x) for x in g_sym])
        assert_close("reverse gradient vs symbolic (SymPy) gradient", g, g_sym, SYMBOLIC,
                     SYMBOLIC * _norm(g) + ABS_FIRST)
        return None
    COUNTS[f"symbolic skipped: {why}"] += 1
    return why


def _symbolic():
    try:
        return importlib.import_module("adkit.symbolic")
    except ImportError as e:
        pytest.skip(f"adkit.symbolic does not import yet ({e}): the symbolic referee is skipped")


def run_engine_checks(prog: P.Program) -> set[str]:
    """Every check but the symbolic one; returns the names of those that ran."""
    s = Setup(prog)
    g = check_first_order(s)
    done = {"first order", "transpose", "second order"}
    if check_second_order(s):
        done.add("hessian")
    if check_numeric(s, g):
        done.add("numeric")
    return done


def _with_listing(prog: P.Program, check, *args):
    """check(*args), with the program's listing in the message of any failure."""
    try:
        return check(*args)
    except Exception as e:
        raise AssertionError(f"{type(e).__name__}: {e}\n\n{prog!r}") from e


# --- the catalogue covers the table ----------------------------------------------------------

# built-in primitives only: "user:" ones (adkit.primitive, e.g. adkit.nn's layers) are
# registered by whatever test module imported them first and are tested there
# (and not those programs.CHECKED_ELSEWHERE names, with the test file that checks them)
DIFFERENTIABLE = sorted(n for n, p in PRIMITIVES.items()
                        if not isinstance(p, NondiffPrimitive) and not n.startswith("user:")
                        and n not in P.CHECKED_ELSEWHERE)


def test_every_differentiable_primitive_has_a_catalogue_entry():
    missing = [n for n in DIFFERENTIABLE if n not in P.CATALOGUE]
    assert not missing, (
        f"differentiable primitives with no entry in the program catalogue: {missing}. "
        "Add an entry to tests/programs.py (CATALOGUE, one @entry(name) builder: how to "
        "call it from program values, and the domain map its arguments need), so the "
        "property tests generate programs that use it.")
    stale = sorted(set(P.CATALOGUE) - set(DIFFERENTIABLE))
    assert not stale, (f"catalogue entries for names that are not differentiable primitives "
                       f"of adkit.table.PRIMITIVES: {stale}; remove or rename them in "
                       "tests/programs.py")


def test_every_differentiable_primitive_has_jvp_and_vjp_rules():
    no_jvp = [n for n in DIFFERENTIABLE
              if not PRIMITIVES[n].jvps and PRIMITIVES[n].jvp_joint is None]
    no_vjp = [n for n in DIFFERENTIABLE if not PRIMITIVES[n].vjps]
    assert not no_jvp, f"primitives without a JVP rule (forward mode): {no_jvp}"
    assert not no_vjp, f"primitives without a VJP rule (reverse mode): {no_vjp}"


def _reached(prog: P.Program) -> set[str]:
    """The primitives the program's traced values reach (one recording on a tape)."""
    seen: set[str] = set()
    saved = {}
    for name, prim in PRIMITIVES.items():
        saved[name] = impl = prim.impl

        def counting(*args, _impl=impl, _name=name, **kwargs):
            seen.add(_name)
            return _impl(*args, **kwargs)
        prim.impl = counting
    try:
        with Tape() as tape:
            prog(*[tape.watch(x) for x in prog.inputs])
    finally:  # the table may have grown meanwhile (adkit binds SciPy at a first trace)
        for name, impl in saved.items():
            PRIMITIVES[name].impl = impl
    return seen | {n.prim.name for n in tape.nodes if n.prim is not None}


@pytest.mark.parametrize("name", sorted(P.BUILDERS))
def test_each_entry_alone_through_every_check(name):
    """A deterministic one-entry program per catalogue entry (and per composite: scipy.stats'
    distributions, scipy.linalg's solves, np.r_ / np.c_) reaches its primitive and goes
    through every check (the first seed whose differences do not straddle a kink)."""
    for seed in range(10):
        prog = P.one_op_program(name, seed)
        assert prog.entries == (name,)
        reached = _reached(prog)
        if name in P.CATALOGUE:
            assert name in reached, (
                f"the catalogue entry {name!r} does not reach the primitive {name!r}:\n{prog!r}")
        else:
            assert reached, f"the composite {name!r} reaches no primitive:\n{prog!r}"
        done = _with_listing(prog, run_engine_checks, prog)
        COUNTS["one-entry programs"] += 1
        THROUGH[name] |= done
        if done >= ALL_CHECKS - {"hessian"}:
            break
    else:
        pytest.fail(f"no seed in 0..9 gives a one-entry program of {name!r} whose "
                    "differences stay off its kinks")
    if "hessian" not in done:  # a smaller input, for the full Hessian
        prog = P.one_op_program(name, seed, max_input_size=HESSIAN_MAX)
        THROUGH[name] |= _with_listing(prog, run_engine_checks, prog)
    assert THROUGH[name] >= ALL_CHECKS, THROUGH[name]


# --- complex programs (docs/complex.md's convention) ------------------------------------------


def run_complex_checks(prog: P.Program) -> None:
    """complexcheck.check_complex: for L = Re sum(f conj(w)), the reverse gradient
    dL/dx - i dL/dy against central differences along the real and the imaginary direction
    of each input element, against forward mode, vjp and jvp (of L and of f), the batched
    Jacobians of both modes, and second order (HVP against differences of the gradient,
    reverse over reverse)."""
    check_complex(prog.fn, *prog.inputs)


@pytest.mark.parametrize("name", sorted(P.COMPLEX_CATALOGUE))
def test_each_complex_entry_alone(name):
    """The one-entry complex program of each COMPLEX_CATALOGUE entry (its first input complex)
    through every complex check."""
    prog = P.one_complex_program(name, 0)
    assert prog.entries == (name,) and np.iscomplexobj(prog.inputs[0])
    _with_listing(prog, run_complex_checks, prog)
    COUNTS["complex: one-entry programs"] += 1


@profile("complex")
@given(prog=P.complex_programs())
def test_complex_random_programs(prog):
    note(repr(prog))
    run_complex_checks(prog)
    COUNTS["complex: programs"] += 1
    COUNTS["complex: primitive applications"] += prog.n_steps


def test_random_complex_programs_cover_the_complex_catalogue():
    used = collections.Counter()
    for seed in range(200):
        prog = P.build_complex_program(P.Rand(seed=seed))
        used.update(prog.entries)
        assert np.iscomplexobj(prog.inputs[0])
    missing = sorted(set(P.COMPLEX_CATALOGUE) - set(used))
    assert not missing, f"200 seeded complex programs never use {missing}"


@pytest.mark.parametrize("name", sorted(P.CATALOGUE))
def test_each_entry_alone_symbolic(name):
    """The one-entry program of each catalogue entry, on at most 6 input elements, against
    SymPy (skipped where the program reaches a primitive without a SymPy counterpart)."""
    _symbolic()
    prog = P.one_op_program(name, 0, max_input_size=6, max_dim=2)
    s = Setup(prog)
    g = adkit.grad(s.F)(s.z)
    why = _with_listing(prog, check_symbolic, s, g)
    if why:
        pytest.skip(f"{name}: {why}")
    THROUGH[name].add("symbolic")


# --- random programs -------------------------------------------------------------------------


@profile("engines")
@given(prog=P.programs())
def test_engines_agree_on_random_programs(prog):
    note(repr(prog))
    run_engine_checks(prog)
    COUNTS["engines: programs"] += 1
    COUNTS["engines: primitive applications"] += prog.n_steps


@profile("symbolic")
@given(prog=P.programs(max_steps=12, max_input_size=6, max_dim=2))
def test_symbolic_agrees_on_small_random_programs(prog):
    _symbolic()
    note(repr(prog))
    s = Setup(prog)
    g = adkit.grad(s.F)(s.z)
    COUNTS["symbolic: programs"] += 1
    if check_symbolic(s, g) is None:
        COUNTS["symbolic: programs compared"] += 1


def test_random_programs_cover_the_catalogue():
    """A fixed-seed batch of generated programs uses every entry and every construct."""
    used, kinds = collections.Counter(), collections.Counter()
    for seed in range(400):
        prog = P.build_program(P.Rand(seed=seed))
        used.update(prog.entries)
        kinds.update(prog.kinds)
    missing = sorted(set(P.BUILDERS) - set(used))
    assert not missing, f"400 seeded programs never use {missing}"
    assert {"if", "loop", "nondiff"} <= set(kinds), kinds


# --- known bugs: left out of the generator until fixed --------------------------------------


@pytest.mark.parametrize("what", sorted(P.KNOWN_BUGS))
@pytest.mark.xfail(strict=True, reason="a known bug (tests/programs.py KNOWN_BUGS): when this "
                   "passes, remove the entry and the generator's workaround")
def test_known_bugs(what):
    f = eval(f"lambda x: np.sum({P.KNOWN_BUGS[what]})", {"np": np, "sp": P.sp})
    x = np.array([0.3, -1.0, 0.0])
    g = adkit.grad(f)(x)
    assert_close(what, adkit.jacobian(f, mode="forward")(x), g, FIRST, ABS_FIRST)
    assert_close(what, g, numeric_gradient(f, x)[0], 1e-6, 1e-8)
    H = adkit.hessian(f)(x)
    assert_close(what, adkit.jacobian(adkit.grad(f), mode="reverse")(x), H, SECOND, ABS_SECOND)
    assert_close(what, H, numeric.hessian(f, x, method="richardson"), 1e-5, 1e-6)


# --- the report ------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def report(request):
    start = time.perf_counter()
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"property tests ({PROFILE} profile), {time.perf_counter() - start:.1f} s:"]
    lines += [f"  {k}: {v}" for k, v in sorted(COUNTS.items())]
    if THROUGH:
        partial = sorted(n for n in P.BUILDERS if not ALL_CHECKS <= THROUGH[n])
        lines.append(f"  one-entry programs through every engine check: "
                     f"{len(P.BUILDERS) - len(partial)} of {len(P.BUILDERS)} entries")
        lines.append(f"  one-entry programs compared with symbolic: "
                     f"{sum('symbolic' in THROUGH[n] for n in P.CATALOGUE)} entries")
    text = "\n".join(lines)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(text)
        else:
            print(text)
    path = os.environ.get("ADKIT_PROPERTY_REPORT")
    if path:
        with open(path, "w") as fh:
            fh.write(text + "\n")
