"""SciPy's Python functions see traced values, whatever the import order.

Many public SciPy functions (scipy.special.logsumexp, the methods of
scipy.stats distributions, scipy.linalg.expm, ...) are Python code that turns
its input into a plain array, so NumPy's dispatch protocols never see a traced
value. adkit therefore changes each such function *object* once: its
`__code__` becomes a three-line gateway that sends calls holding a traced value
to the function's handler in the table and every other call to an exact copy
of SciPy's original function. Because the object itself changes, every
reference to it sees the gateway: `scipy.special.logsumexp`,
`from scipy.special import logsumexp` at the top of a module (before or after
`import adkit`), a function passed as an argument, a method looked up on a
distribution.

When: at the start of each outermost differentiation (adkit.scope), for each
SciPy module in `FAMILIES` that is loaded by then; `import adkit` never imports
SciPy, and once every family is bound the check costs one comparison. A plain
call pays one extra Python call and a scan of its arguments for traced values
(tests/test_scipy_binding.py measures it).

An error raised inside SciPy's code on a traced value (a SciPy function
without a rule) is reworded by `explain` to name the SciPy function the user
called and the fix, instead of the SciPy-internal file where it surfaced.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
import warnings
from typing import Any, Callable

from ..errors import NoRuleError, TracedConversionError
from ..table import COVERAGE
from ..tracer import BoxBase

#: SciPy module -> adkit module whose import registers (and binds) its rules
FAMILIES = {
    "scipy.special": "adkit.rules.special",
    "scipy.stats": "adkit.rules.scipy_stats",
    "scipy.linalg": "adkit.rules.scipy_linalg",
    "scipy.signal": "adkit.rules.scipy_misc",
    "scipy.integrate": "adkit.rules.scipy_integrate",
    "scipy.fft": "adkit.rules.scipy_fft",
}
_bound_families: set[str] = set()

#: the gateway's global name, written into the namespace of each SciPy module it serves
GATEWAY = "__adkit_scipy_gateway__"

#: gateway slot -> (SciPy function, its original code as a function, handler, public name)
_SLOTS: list[tuple[Callable, Callable, Callable, str]] = []
_SLOT_OF: dict[int, int] = {}  # id(SciPy function) -> slot
_GATEWAY_CODES: set = set()


def bind_loaded() -> None:
    """Bind the rules of every SciPy family loaded by now (cheap once all are bound, and
    while SciPy is not loaded at all: a family is a subpackage of scipy)."""
    modules = sys.modules
    if "scipy" not in modules or len(_bound_families) == len(FAMILIES):
        return
    for family, rules in FAMILIES.items():
        if family not in _bound_families and family in modules:
            _bound_families.add(family)  # once, even if it fails: the warning says so
            try:
                importlib.import_module(rules)
            except (ImportError, AttributeError, TypeError) as err:  # another SciPy's API
                warnings.warn(f"adkit could not load its rules for {family} ({err}); "
                              f"{family} is not differentiable in this process",
                              RuntimeWarning, stacklevel=2)


def holds_traced(args: Any) -> bool:
    """Whether a traced value is among args, or inside a list, tuple or dict among them."""
    for a in args:
        if isinstance(a, BoxBase) or (type(a) in (list, tuple) and holds_traced(a)) or \
                (type(a) is dict and holds_traced(a.values())):
            return True
    return False


def _gateway(slot: int, args: tuple, kwargs: dict) -> Any:
    _, original, handler, _ = _SLOTS[slot]
    if holds_traced(args) or (kwargs and holds_traced(kwargs.values())):
        return handler(*args, **kwargs)
    return original(*args, **kwargs)


def _gateway_code(fn: types.FunctionType, slot: int) -> types.CodeType:
    """Code that calls the gateway, with fn's free variables so it fits fn's closure
    (decorated SciPy functions, e.g. scipy.linalg's batch wrappers, have one)."""
    free = fn.__code__.co_freevars
    mention = f"        if 0: ({', '.join(free)},)\n" if free else ""
    source = (f"def factory({', '.join(free)}):\n"
              f"    def gateway(*args, **kwargs):\n{mention}"
              f"        return {GATEWAY}({slot}, args, kwargs)\n"
              f"    return gateway\n")
    scope: dict = {}
    exec(compile(source, f"<adkit gateway for {fn.__module__}.{fn.__qualname__}>", "exec"),
         scope)
    gateway = next(c for c in scope["factory"].__code__.co_consts
                   if isinstance(c, types.CodeType))
    if gateway.co_freevars != free:  # pragma: no cover - CPython orders both alike
        raise RuntimeError(f"cannot bind {fn.__qualname__}: free variables {free}")
    # SciPy's file and first line: inspect.getsource and tracebacks show SciPy's function
    code = gateway.replace(co_name=fn.__code__.co_name, co_qualname=fn.__code__.co_qualname,
                           co_filename=fn.__code__.co_filename,
                           co_firstlineno=fn.__code__.co_firstlineno)
    _GATEWAY_CODES.add(code)
    return code


def bind(fn: Callable, handler: Callable, name: str, via: tuple | None = None) -> None:
    """Make the SciPy function `fn` send calls with traced values to `handler`.

    name: the public spelling, for error messages ("scipy.special.logsumexp").
    via: the primitives the handler uses, to list `name` in docs/coverage.md (an
    empty tuple: a composition of other entries); None leaves the listing alone.
    Binding twice is a no-op.
    """
    if via is not None:
        COVERAGE[name] = tuple(via)
    if id(fn) in _SLOT_OF:
        return
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"{name} is a {type(fn).__name__}, not a Python function; "
                        "register it with table.handles instead")
    original = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                                  fn.__closure__)
    original.__kwdefaults__ = fn.__kwdefaults__
    original.__qualname__, original.__module__ = fn.__qualname__, fn.__module__
    original.__doc__ = fn.__doc__
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - SciPy's functions all have one
        signature = None
    slot = len(_SLOTS)
    _SLOTS.append((fn, original, handler, name))
    _SLOT_OF[id(fn)] = slot
    fn.__globals__[GATEWAY] = _gateway
    fn.__code__ = _gateway_code(fn, slot)
    fn.__defaults__ = None
    fn.__kwdefaults__ = None
    if signature is not None:
        fn.__signature__ = signature  # help() and inspect still show SciPy's parameters
    fn.__adkit_original__ = original  # type: ignore[attr-defined]


def original(fn: Callable) -> Callable:
    """SciPy's own function behind a bound one (fn itself when it is not bound)."""
    slot = _SLOT_OF.get(id(fn))
    return fn if slot is None else _SLOTS[slot][1]


def bound_names() -> list[str]:
    """The public names of every bound SciPy function, in binding order."""
    return [name for _, _, _, name in _SLOTS]


# --- errors raised inside SciPy's code --------------------------------------------------------


def explain(err: BaseException) -> BaseException:
    """The error to raise for `err`, raised while a differentiation ran.

    When a traced value failed inside SciPy's code, the error names the SciPy function
    the user called (the outermost SciPy frame of the traceback) and the ways out,
    instead of the SciPy-internal line where it surfaced: adkit's own errors are
    reworded in place; SciPy's (an attribute a traced array lacks) become a
    NoRuleError caused by them. Any other error is returned unchanged.
    """
    if getattr(err, "_adkit_scipy_named", False) or not err.args or not _about_traced(err):
        return err
    entry = _scipy_entry(err.__traceback__)
    if entry is None:
        return err
    called, where = entry
    family = ".".join(called.split(".")[:2])
    unbound = (family in FAMILIES and family not in _bound_families)
    hint = (f" ({family} was imported after this differentiation started, so adkit had "
            f"not bound its rules yet: import {family} before calling adkit)"
            if unbound else "")
    if called in bound_names() and not unbound:
        # a bound function reached SciPy's own code: the traced value came in unseen
        message = (
            f"{called} (called at {where}) met a traced value its arguments did not show: "
            f"{_HIDDEN.get(called, _HIDDEN_DEFAULT)}\nWhere it failed inside SciPy: "
            f"{err.args[0]}")
    else:
        message = None
    message = message or (
        f"{called} (called at {where}) received a traced value, and adkit has no rule for "
        f"it{hint}: SciPy's code converts its input to a plain array, which would drop the "
        "derivative. Either call a function adkit differentiates instead (docs/coverage.md "
        f"lists the SciPy ones), pass adkit.stop_gradient(x) to {called} if no derivative "
        "should flow through it, or register it as a primitive with its rules "
        f"(README: 'Adding a primitive').\nWhere it failed inside SciPy: {err.args[0]}")
    if isinstance(err, (TracedConversionError, NoRuleError)):
        err.args = (message,) + tuple(err.args[1:])
    else:
        cause, err = err, NoRuleError(message)
        err.__cause__ = cause
    err._adkit_scipy_named = True  # type: ignore[attr-defined]
    return err


_HIDDEN_DEFAULT = ("a traced value reached it through a closure or an object, which adkit "
                   "cannot see; pass it as an argument.")
#: bound functions whose traced inputs can hide in a callable's closure
_HIDDEN = {"scipy.integrate.odeint": (
    "func uses a traced value from its closure (or a global). Pass the parameters it "
    "depends on through args=(...), as in odeint(func, y0, t, args=(k,)) with "
    "func(y, t, k), so adkit differentiates the solution in them."),
    "scipy.integrate.quad": (
    "func uses a traced value from its closure (or a global). Pass the parameters it "
    "depends on through args=(...), as in quad(func, a, b, args=(k,)) with func(x, k), so "
    "adkit differentiates the integral in them (and in the limits)."),
    "scipy.integrate.solve_ivp": (
    "fun uses a traced value from its closure (or a global). Pass the parameters it "
    "depends on through args=(...), as in solve_ivp(fun, t_span, y0, t_eval=t, args=(k,)) "
    "with fun(t, y, k), so adkit differentiates the solution in them.")}


def _about_traced(err: BaseException) -> bool:
    """adkit's refusals, and SciPy's own errors about a traced value (an attribute or
    operation a traced array lacks: `'VarArray' object has no attribute 'device'`)."""
    if isinstance(err, (TracedConversionError, NoRuleError)):
        return True
    if not isinstance(err, (AttributeError, TypeError)):
        return False
    message = str(err.args[0])
    # array-api-compat's refusal ("VarArray is not a supported array type") names no quotes
    return any(f"'{cls.__name__}'" in message or
               message.startswith(f"{cls.__name__} is not a supported array type")
               for cls in _box_classes())


def _box_classes() -> list:
    found, todo = [], [BoxBase]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _scipy_entry(tb: Any) -> tuple[str, str] | None:
    """(public name of the first SciPy function entered, the caller's file:line)."""
    caller = None
    while tb is not None:
        frame = tb.tb_frame
        module = frame.f_globals.get("__name__", "")
        if frame.f_code in _GATEWAY_CODES:
            module = "adkit"  # runs in SciPy's namespace, but is adkit's
        if module.startswith("scipy._lib"):
            module = "adkit"  # SciPy's decorators and helpers: look for the function inside
        if module == "scipy" or module.startswith("scipy."):
            where = (f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller is not None
                     else "?")
            return _public_name(frame, module), where
        if not module.startswith(("adkit", "numpy")):
            caller = frame
        tb = tb.tb_next
    return None


def _public_name(frame: Any, module: str) -> str:
    code = frame.f_code
    for _, orig, _, name in _SLOTS:
        if orig.__code__ is code:
            return name
    self = frame.f_locals.get("self")
    qualname = getattr(code, "co_qualname", code.co_name)
    dist = getattr(self, "name", None)
    if isinstance(dist, str) and module.startswith("scipy.stats"):
        return f"scipy.stats.{dist}.{code.co_name}"
    public = ".".join(part for part in module.split(".") if not part.startswith("_"))
    free = [frame.f_locals.get(n) for n in code.co_freevars]
    packages = dict.fromkeys((public, *FAMILIES))
    # the function itself (a decorated one: its wrapper, told apart by its closure), then a
    # function behind a functools.wraps decorator (scipy.linalg's batch wrapper)
    for unwrap in (lambda obj: obj, lambda obj: getattr(obj, "__wrapped__", None)):
        for package in packages:
            for name, obj in getattr(sys.modules.get(package), "__dict__", {}).items():
                if _runs(unwrap(obj), code, free):
                    return f"{package}.{name}"
    return f"{module}.{qualname}"


def _runs(fn: Any, code: Any, free: list) -> bool:
    """Whether the frame of `code` with free-variable values `free` is a call of fn."""
    return getattr(fn, "__code__", None) is code and all(
        cell.cell_contents is value for cell, value in zip(fn.__closure__ or (), free))
