"""autograd.extend on adkit.extend. Only the parts with an adkit equivalent."""
import numpy as _np
import adkit


def primitive(fun):
    return adkit.primitive(fun)


def _translate(rules, maker, argnums):
    rules = list(rules)
    if argnums is not None:
        out = [None] * (max(argnums) + 1)
        for i, r in zip(argnums, rules):
            out[i] = r
        rules = out
    return rules


def defvjp(fun, *vjpmakers, argnums=None):
    rules = _translate(vjpmakers, None, argnums)
    # autograd: a None maker means a zero cotangent for that argument
    rules = [r if r is not None else (lambda ans, *a, _i=i, **k: lambda g: _np.zeros_like(a[_i]))
             for i, r in enumerate(rules)]
    return adkit.defvjp(fun, *rules)


def defjvp(fun, *jvpfuns, argnums=None):
    rules = _translate(jvpfuns, None, argnums)
    fixed = []
    for i, r in enumerate(rules):
        if r == "same":
            r = (lambda g, ans, *a, _i=i, **k: fun(*(a[:_i] + (g,) + a[_i + 1:]), **k))
        elif r is None:
            r = (lambda g, ans, *a, **k: _np.zeros_like(ans))
        fixed.append(r)
    return adkit.defjvp(fun, *fixed)
