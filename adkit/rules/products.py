"""Products: matmul, einsum and the full convolution carry the rules; dot, inner, outer,
tensordot, vdot, kron, cross, the vector ufuncs, convolve and correlate (every mode)
are compositions of them.

matmul's rules are written for stacked matrices; 1-D operands are promoted as
NumPy promotes them, and products with a plain 2-D matrix are done as one
large GEMM rather than a stack of small ones (the Jacobian of A @ x is one
matrix product, not n matrix-vector products).
"""

from __future__ import annotations

import operator
import string
from typing import Any

import numpy as np

from ..table import ON_OBJECTS, defprim, handles
from ..tracer import EveryArgument
from .helpers import (batch_ndim, dtype_of, is_complex, lift, ndim_of, normalize_axis, shape_of,
                      unbroadcast)
from .elementwise import multiply


def mm(a: Any, b: Any) -> Any:
    """a @ b, as one GEMM when b is a plain matrix and a a stack of them."""
    if ndim_of(b) == 2 and ndim_of(a) > 2:
        sa = shape_of(a)
        return np.reshape(np.matmul(np.reshape(a, (-1, sa[-1])), b), sa[:-1] + shape_of(b)[-1:])
    return np.matmul(a, b)


def _mT(a: Any) -> Any:
    return np.swapaxes(a, -1, -2)


def _matmul_jvp(tangents, ans, x, y):
    tx, ty = tangents
    xn, yn = ndim_of(x), ndim_of(y)
    out = None
    if tx is not None:
        nb = batch_ndim(tx, x)
        if xn == 1 and yn == 1:
            term = np.matmul(tx, y)
        elif xn == 1:  # (m,) @ (..., m, k): each direction is a row vector
            term = mm(tx, y) if yn == 2 else np.matmul(
                lift(np.expand_dims(tx, -2), 2, yn, nb), y)[..., 0, :]
        elif yn == 1:
            term = np.matmul(tx, y)
        else:
            term = mm(lift(tx, xn, max(xn, yn), nb), y)
        out = term
    if ty is not None:
        nb = batch_ndim(ty, y)
        if yn == 1:  # x @ v for many v at once is V @ x^T
            term = np.matmul(ty, x) if xn == 1 else mm(ty, _mT(x)) if xn == 2 else \
                np.matmul(lift(np.expand_dims(ty, -2), 2, xn, nb), _mT(x))[..., 0, :]
        elif xn == 1:
            term = np.matmul(x, ty)
        else:
            term = np.matmul(x, lift(ty, yn, max(xn, yn), nb))
        out = term if out is None else out + term
    return out


def _matmul_vjp_x(ans, x, y):
    xn, yn = ndim_of(x), ndim_of(y)

    def vjp(g):
        if xn == 1 and yn == 1:
            return g * y
        if xn == 1:  # g (..., k): x gets y @ g summed over stacks
            if yn == 2:
                return np.matmul(y, g)
            return unbroadcast(np.matmul(y, np.expand_dims(g, -1))[..., 0], shape_of(x), True)
        if yn == 1:
            return np.expand_dims(g, -1) * y
        return unbroadcast(mm(g, _mT(y)), shape_of(x), True)
    return vjp


def _matmul_vjp_y(ans, x, y):
    xn, yn = ndim_of(x), ndim_of(y)

    def vjp(g):
        if xn == 1 and yn == 1:
            return g * x
        if yn == 1:
            if xn == 2:
                return np.matmul(g, x)
            return unbroadcast(np.matmul(np.expand_dims(g, -2), x)[..., 0, :], shape_of(y), True)
        if xn == 1:
            return unbroadcast(np.expand_dims(x, -1) * np.expand_dims(g, -2), shape_of(y), True)
        if ndim_of(x) == 2 and ndim_of(g) > 2:  # (n, m)^T @ (s, n, k): one GEMM over stacks
            sg = shape_of(g)
            gg = np.reshape(np.moveaxis(g, -2, 0), (sg[-2], -1))
            r = np.reshape(np.matmul(_mT(x), gg), (shape_of(x)[-1],) + sg[:-2] + sg[-1:])
            return unbroadcast(np.moveaxis(r, 0, -2), shape_of(y), True)
        return unbroadcast(np.matmul(_mT(x), g), shape_of(y), True)
    return vjp


matmul = defprim("matmul", np.matmul, sympy=ON_OBJECTS, jvp_joint=_matmul_jvp,
                 vjp=(_matmul_vjp_x, _matmul_vjp_y), numpy=np.matmul)


# --- einsum -----------------------------------------------------------------------------------------

_LETTERS = string.ascii_letters


def parse_einsum(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit input and output subscripts with ellipses spelled out as letters."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins, out = subscripts, None
    inputs = ins.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts for {len(shapes)} operands")
    used = set(c for c in subscripts if c.isalpha())
    free = [c for c in _LETTERS if c not in used]
    ell_nd = max([len(s) - (len(sub) - 3) for sub, s in zip(inputs, shapes) if "..." in sub],
                 default=0)
    ell = "".join(free[:ell_nd])
    expanded = []
    for sub, s in zip(inputs, shapes):
        if "..." in sub:
            k = len(s) - (len(sub) - 3)
            sub = sub.replace("...", ell[ell_nd - k:] if k else "")
        if len(sub) != len(s):
            raise ValueError(f"einsum: subscripts {sub!r} do not match an operand of shape {s}")
        expanded.append(sub)
    if out is None:
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return expanded, out


def _einsum_impl(*operands, spec):
    return np.einsum(spec, *operands, optimize=len(operands) > 2)


def _einsum_jvp(tangents, ans, *operands, spec):
    ins, out = spec.split("->")
    subs = ins.split(",")
    free = next(c for c in _LETTERS if c not in spec)
    total = None
    for i, t in enumerate(tangents):
        if t is None:
            continue
        nb = batch_ndim(t, operands[i])
        lead = free if nb else ""
        term_subs = [lead + s if j == i else s for j, s in enumerate(subs)]
        args = [t if j == i else o for j, o in enumerate(operands)]
        term = np.einsum(",".join(term_subs) + "->" + lead + out, *args,
                         optimize=len(args) > 2)
        total = term if total is None else total + term
    return total


def _einsum_vjp(i):
    def maker(ans, *operands, spec):
        ins, out = spec.split("->")
        subs = ins.split(",")
        target = subs[i]
        others = [(s, o) for j, (s, o) in enumerate(zip(subs, operands)) if j != i]
        have = set(out) | set("".join(s for s, _ in others))
        # letters summed over in operand i alone come back as a broadcast
        missing = [c for c in dict.fromkeys(target) if c not in have]
        sizes = dict(zip(target, shape_of(operands[i])))

        def vjp(g):
            args = [g] + [o for _, o in others] + [np.ones(sizes[c], dtype=dtype_of(g))
                                                    for c in missing]
            in_subs = [out] + [s for s, _ in others] + missing
            return np.einsum(",".join(in_subs) + "->" + target, *args,
                             optimize=len(args) > 2)
        return vjp
    return maker


einsum_p = defprim("einsum", _einsum_impl, jvp_joint=_einsum_jvp, vjp=EveryArgument(_einsum_vjp),
                   sympy=ON_OBJECTS)


@handles(np.einsum, via=einsum_p)
def _np_einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    if out is not None:
        raise TypeError("np.einsum(..., out=...) is not supported on traced values")
    if not isinstance(operands[0], str):
        operands = _from_sublists(operands)
    subscripts, ops = operands[0], list(operands[1:])
    ops = [o if hasattr(o, "shape") else np.asarray(o) for o in ops]
    subs, out_subs = parse_einsum(subscripts, [shape_of(o) for o in ops])
    for k, s in enumerate(subs):  # a letter repeated within one operand takes a diagonal
        while len(set(s)) < len(s):
            c = next(c for c in s if s.count(c) > 1)
            a, b = s.index(c), s.index(c, s.index(c) + 1)
            ops[k] = np.diagonal(ops[k], axis1=a, axis2=b)
            s = s[:a] + s[a + 1:b] + s[b + 1:] + c
            subs[k] = s
    result = einsum_p(*ops, spec=",".join(subs) + "->" + out_subs)
    return result if dtype is None else result.astype(dtype)


def _from_sublists(operands: tuple) -> tuple:
    """np.einsum(a, [0, 1], b, [1, 2], [0, 2]) as np.einsum('ab,bc->ac', a, b)."""
    def letters(sublist: Any) -> str:
        try:
            return "".join("..." if s is Ellipsis else string.ascii_letters[operator.index(s)]
                           for s in sublist)
        except (TypeError, IndexError):
            raise TypeError(f"np.einsum's sublist form takes lists of integers in [0, 52) "
                            f"and Ellipsis, got {sublist!r}") from None
    ops, subs = list(operands[0::2]), list(operands[1::2])
    out = None
    if len(ops) > len(subs):  # an odd count: the last entry is the output sublist
        out = ops.pop()
    spec = ",".join(letters(s) for s in subs) + ("" if out is None else "->" + letters(out))
    return (spec, *ops)


# --- convolution: np.convolve, np.correlate (scipy.signal.convolve shares the rules) ----------


def _centered(full: Any, start: tuple, size: tuple) -> Any:
    return full[tuple(slice(b, b + n) for b, n in zip(start, size))]


def _flip(x: Any) -> Any:
    return x[(slice(None, None, -1),) * ndim_of(x)]


def make_convolution(name: str, full_impl: Any, sympy: Any = ON_OBJECTS) -> Any:
    """The full convolution of two arrays of equal ndim as a primitive, bilinear: its
    tangents are convolutions, and the cotangent of one argument is the other, flipped,
    convolved with the cotangent and cut to the argument's shape (so any order works)."""
    def cotangent(other_index):
        def vjp(ans, *args):
            mine, other = args[1 - other_index], args[other_index]
            start = tuple(n - 1 for n in shape_of(other))
            return lambda g: _centered(prim(g, _flip(other)), start, shape_of(mine))
        return vjp
    prim = defprim(name, full_impl, batch_aware=False, sympy=sympy,
                   jvp=(lambda g, ans, a, v: prim(g, v), lambda g, ans, a, v: prim(a, g)),
                   vjp=(cotangent(1), cotangent(0)))
    return prim


convolve_full = make_convolution("convolve", lambda a, v: np.convolve(a, v, "full"))


def mode_window(mode: str, s1: tuple, s2: tuple, same_as_first: bool) -> tuple:
    """(start, size) of `mode` inside the full convolution of shapes s1 and s2.

    same: NumPy's is as long as the longer input, SciPy's (same_as_first) has s1's shape;
    valid: where one input covers the other entirely."""
    if mode == "full":
        return (0,) * len(s1), tuple(a + b - 1 for a, b in zip(s1, s2))
    if mode == "same":
        size = s1 if same_as_first else tuple(max(a, b) for a, b in zip(s1, s2))
        return tuple((a + b - 1 - n) // 2 for a, b, n in zip(s1, s2, size)), size
    if mode == "valid":
        return (tuple(min(a, b) - 1 for a, b in zip(s1, s2)),
                tuple(abs(a - b) + 1 for a, b in zip(s1, s2)))
    raise ValueError(f"mode must be 'full', 'same' or 'valid', got {mode!r}")


def _vector(x: Any, fname: str) -> Any:
    x = x if hasattr(x, "shape") else np.asarray(x)
    if ndim_of(x) == 0:
        x = np.reshape(x, (1,))
    if ndim_of(x) != 1 or shape_of(x)[0] == 0:
        raise ValueError(f"{fname} takes two non-empty 1-D arrays, got shape {shape_of(x)}")
    return x


@handles(np.convolve, via=convolve_full)
def _np_convolve(a, v, mode="full"):
    a, v = _vector(a, "np.convolve"), _vector(v, "np.convolve")
    start, size = mode_window(mode, shape_of(a), shape_of(v), same_as_first=False)
    if shape_of(v)[0] > shape_of(a)[0] and mode == "same":
        start = ((shape_of(a)[0] - 1) // 2,)  # NumPy swaps the inputs so the longer is first
    return _centered(convolve_full(a, v), start, size)


@handles(np.correlate, via=convolve_full)
def _np_correlate(a, v, mode="valid"):
    a, v = _vector(a, "np.correlate"), _vector(v, "np.correlate")
    if is_complex(v):
        v = np.conjugate(v)
    if shape_of(v)[0] > shape_of(a)[0] and mode == "same":
        # NumPy computes the swapped correlation and reverses it
        return _flip(_np_convolve(v, _flip(a), mode))
    return _np_convolve(a, _flip(v), mode)


# --- compositions -------------------------------------------------------------------------------------

@handles(np.dot, via=(matmul, einsum_p))
def _np_dot(a, b, out=None):
    if out is not None:
        raise TypeError("np.dot(..., out=...) is not supported on traced values")
    an, bn = ndim_of(a), ndim_of(b)
    if an == 0 or bn == 0:
        return multiply(a, b)
    if bn <= 2:
        return matmul(a, b)
    la = _LETTERS[:an]
    lb = _LETTERS[an:an + bn - 2] + la[-1] + _LETTERS[an + bn - 2]
    return _np_einsum(f"{la},{lb}->{la[:-1]}{lb[:-2]}{lb[-1]}", a, b)


@handles(np.inner, via=(matmul, einsum_p))
def _np_inner(a, b):
    an, bn = ndim_of(a), ndim_of(b)
    if an == 0 or bn == 0:
        return multiply(a, b)
    if an == 1 and bn == 1:
        return matmul(a, b)
    la, lb = _LETTERS[:an], _LETTERS[an:an + bn - 1] + _LETTERS[an - 1]
    return _np_einsum(f"{la},{lb}->{la[:-1]}{lb[:-1]}", a, b)


@handles(np.outer, via=multiply)
def _np_outer(a, b, out=None):
    return multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


@handles(np.vdot, via=matmul)
def _np_vdot(a, b):
    return matmul(np.ravel(np.conjugate(a) if dtype_of(a).kind == "c" else a), np.ravel(b))


@handles(np.tensordot, via=einsum_p)
def _np_tensordot(a, b, axes=2):
    an, bn = ndim_of(a), ndim_of(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(an - axes, an)), list(range(axes))
    else:
        ax_a, ax_b = (list(np.atleast_1d(x)) for x in axes)
    ax_a = [normalize_axis(i, an) for i in ax_a]
    ax_b = [normalize_axis(i, bn) for i in ax_b]
    la = list(_LETTERS[:an])
    lb = list(_LETTERS[an:an + bn])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [c for k, c in enumerate(la) if k not in ax_a] + \
          [c for k, c in enumerate(lb) if k not in ax_b]
    return _np_einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)


@handles(np.kron, via=multiply)
def _np_kron(a, b):
    nd = max(ndim_of(a), ndim_of(b))
    sa = (1,) * (nd - ndim_of(a)) + shape_of(a)
    sb = (1,) * (nd - ndim_of(b)) + shape_of(b)
    # interleave: a's axes at even positions, b's at odd ones, then merge pairs
    ea = np.reshape(a, tuple(x for n in sa for x in (n, 1)))
    eb = np.reshape(b, tuple(x for n in sb for x in (1, n)))
    return np.reshape(multiply(ea, eb), tuple(p * q for p, q in zip(sa, sb)))


@handles(np.linalg.multi_dot, via=matmul)
def _np_multi_dot(arrays, *, out=None):
    result = arrays[0]
    for a in arrays[1:]:
        result = _np_dot(result, a)
    return result


@handles(np.cross, via=multiply)
def _np_cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    na, nb_ = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb_ not in (2, 3):
        raise ValueError("incompatible dimensions for cross product (dimension must be 2 or 3)")
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    a2 = a[..., 2] if na == 3 else None
    b2 = b[..., 2] if nb_ == 3 else None
    if na == 2 and nb_ == 2:
        return a0 * b1 - a1 * b0
    a2 = 0.0 if a2 is None else a2
    b2 = 0.0 if b2 is None else b2
    c = np.stack(np.broadcast_arrays(a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0),
                 axis=-1)
    return np.moveaxis(c, -1, axisc)


def _vector_ufunc(name: str, subscripts: str):
    uf = getattr(np, name, None)
    if uf is None:  # NumPy < 2.2
        return
    prim = defprim(name, uf, jvp_joint=lambda ts, ans, x, y: _vec_jvp(subscripts, ts, x, y),
                   vjp=(lambda ans, x, y: lambda g: _vec_vjp(subscripts, 0, g, x, y),
                        lambda ans, x, y: lambda g: _vec_vjp(subscripts, 1, g, x, y)),
                   sympy=lambda sp, at, x, y: np.einsum(subscripts, x, y), numpy=uf)
    return prim


def _vec_jvp(subscripts, tangents, x, y):
    total = None
    for i, (t, primal_) in enumerate(zip(tangents, (x, y))):
        if t is None:
            continue
        sub = _batched_vec(subscripts, i) if batch_ndim(t, primal_) else subscripts
        term = np.einsum(sub, t, y) if i == 0 else np.einsum(sub, x, t)
        total = term if total is None else total + term
    return total


def _batched_vec(subscripts, i):
    """The subscripts with a batch letter on operand i and on the output."""
    ins, out = subscripts.split("->")
    a, b = ins.split(",")
    return ("Z" + a if i == 0 else a) + "," + (b if i == 0 else "Z" + b) + "->Z" + out


def _vec_vjp(subscripts, i, g, x, y):
    ins, out = subscripts.split("->")
    a, b = ins.split(",")
    if i == 0:
        return unbroadcast(np.einsum(f"{out},{b}->{a}", g, y), shape_of(x), True)
    return unbroadcast(np.einsum(f"{a},{out}->{b}", x, g), shape_of(y), True)


_vector_ufunc("matvec", "...ij,...j->...i")


def _conj(x: Any) -> Any:
    return np.conjugate(x) if dtype_of(x).kind == "c" else x


if hasattr(np, "vecdot"):  # NumPy >= 2.0; vecdot and vecmat conjugate their first argument
    @handles(np.vecdot, via=multiply)
    def _np_vecdot(x1, x2, /, *, axis=-1, **kwargs):
        return np.sum(multiply(_conj(x1), x2), axis=axis)

if hasattr(np, "vecmat"):
    @handles(np.vecmat, via=matmul)
    def _np_vecmat(x1, x2, /, **kwargs):
        return matmul(np.expand_dims(_conj(x1), -2), x2)[..., 0, :]
