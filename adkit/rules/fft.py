"""numpy.fft: four one-axis primitives (fft, ifft, rfft, irfft) carry the rules.

Every other transform is composed of them exactly as NumPy composes it:
fftn/fft2 apply fft along each axis (last listed first), rfftn applies rfft
along the last axis and then fft along the others, irfftn ifft along the others
and then irfft, hfft is irfft of the conjugate and ihfft the conjugate of rfft
(both with the opposite norm), and fftshift/ifftshift only move elements, so
they are gathers (see indexing.py). Handlers resolve n/s, axis/axes and norm,
so the rules see an explicit length n, a non-negative axis and a norm string.

Conventions. NumPy's n= first cuts or zero-pads the input along the axis, then
transforms: y = T(P x). Cutting and zero-padding are each other's transpose
(`_resize` does both). All transforms are linear, so a JVP is the same
transform of the tangent along the axis shifted past its batch axes. A
cotangent of a complex value z is dL/dRe z - i dL/dIm z (autograd's), so the
VJP of a complex-linear map is its plain transpose; the DFT matrix is
symmetric, hence the VJP of fft is fft of the cotangent with the same norm
(of ifft, ifft), cut back to the input's length, and its real part when the
input is real. rfft keeps the first n//2+1 bins of the DFT of a real signal;
irfft reads them as a Hermitian spectrum, so each bin other than 0 and n/2
stands for a conjugate pair and counts twice, and the imaginary parts of bins
0 and n/2 are ignored. Their VJPs are each other with the opposite norm
(backward <-> forward, whose scale factors are each other's), on the
conjugated cotangent, with those interior bins halved (rfft) or doubled
(irfft). Odd and even n are both exact. fftfreq and rfftfreq take no array and
do not dispatch; a traced spacing d simply flows through their arithmetic.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from ..table import defprim, handles
from .elementwise import conjugate
from .helpers import batch_ndim, dtype_of, is_complex, ndim_of, normalize_axis, shape_of
from .indexing import gather_by, getitem

_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _resize(x: Any, m: int, axis: int) -> Any:
    """x cut or zero-padded to length m along axis (the transpose of NumPy's n=)."""
    k = shape_of(x)[axis]
    if k > m:
        return x[(slice(None),) * axis + (slice(None, m),)]
    if k < m:
        pad = list(shape_of(x))
        pad[axis] = m - k
        return np.concatenate([x, np.zeros(pad, dtype=dtype_of(x))], axis=axis)
    return x


def _pair_weights(n: int, axis: int, ndim: int, value: float, like: Any) -> np.ndarray:
    """`value` on the n//2+1 bins of a real length-n spectrum that stand for a conjugate
    pair (all but bin 0 and, for even n, bin n/2), 1 on the others; along axis."""
    real = np.finfo(np.result_type(dtype_of(like), np.float32)).dtype  # float32 stays float32
    w = np.full(n // 2 + 1, value, dtype=real)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * ndim
    shape[axis] = n // 2 + 1
    return np.reshape(w, shape)


def _c2c_vjp(np_fn):
    def vjp(ans, x, n, axis, norm):
        m, real = shape_of(x)[axis], not is_complex(x)

        def pull(g):
            r = _resize(np_fn(g, n, axis, norm), m, axis)
            return np.real(r) if real else r
        return pull
    return vjp


def _rfft_vjp(ans, x, n, axis, norm):
    m = shape_of(x)[axis]

    def pull(g):
        # Re(DFT^T of g zero-filled to n bins): irfft sums each interior bin twice
        g = np.conjugate(g) * _pair_weights(n, axis, ndim_of(g), 0.5, g)
        return _resize(np.fft.irfft(g, n, axis, _SWAP[norm]), m, axis)
    return pull


def _irfft_vjp(ans, x, n, axis, norm):
    m, real = shape_of(x)[axis], not is_complex(x)

    def pull(g):
        # irfft(u) = Re(sum_k c_k u_k e^{+2 pi i jk/n}), c_k = 2 on interior bins, else 1;
        # its transpose on a real g is c_k conj(rfft(g))_k
        r = np.conjugate(np.fft.rfft(g, n, axis, _SWAP[norm]))
        r = _resize(r * _pair_weights(n, axis, ndim_of(r), 2.0, r), m, axis)
        return np.real(r) if real else r
    return pull


# --- SymPy counterparts (adkit.symbolic): exact DFT sums ---------------------------------------
# y_k = c sum_j x_j e^(-+2 pi i jk/n) with the roots of unity as exact SymPy numbers
# (cos(2 pi r/n) -+ i sin(2 pi r/n), r = jk mod n). Real and imaginary parts are kept
# apart, so every output is re + I*im of real expressions and abs/real/imag stay simple.

def _sym_scale(sp, n: int, norm: str, inverse: bool) -> Any:
    """NumPy's factor: 1/n on the inverse (backward) or forward (forward) transform."""
    if norm == "ortho":
        return 1 / sp.sqrt(n)
    return sp.Rational(1, n) if (norm == "forward") != inverse else sp.Integer(1)


def _sym_parts(sp, at, x, n: int, axis: int) -> tuple:
    """x cut or zero-padded to n along axis, as (real parts, imaginary parts or None)."""
    x = _resize(np.asarray(x, dtype=object), n, axis)
    if not np.iscomplexobj(at.values[0]):
        return x, None
    return np.frompyfunc(sp.re, 1, 1)(x), np.frompyfunc(sp.im, 1, 1)(x)


def _sym_roots(sp, n: int, k: int, sign: int) -> tuple:
    """cos and sign*sin of 2 pi jk/n, as (k, n) object arrays over the output bin k and j."""
    c = np.empty((k, n), dtype=object)
    s = np.empty((k, n), dtype=object)
    for kk in range(k):
        for j in range(n):
            angle = 2 * sp.pi * sp.Rational((j * kk) % n, n)
            c[kk, j], s[kk, j] = sp.cos(angle), sign * sp.sin(angle)
    return c, s


def _sym_along(m: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """The matrix m applied along axis of x."""
    return np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)


def _sym_dft(k_out: Callable[[int], int] | None, inverse: bool):
    """fft (k_out=None: all n bins), ifft, rfft (the first n//2+1 bins)."""
    def rule(sp, at, x, n, axis, norm):
        re, im = _sym_parts(sp, at, x, n, axis)
        c, s = _sym_roots(sp, n, k_out(n) if k_out else n, 1 if inverse else -1)
        scale = _sym_scale(sp, n, norm, inverse)
        # (c + i s)(re + i im) = c re - s im + i (s re + c im)
        out_re, out_im = _sym_along(c, re, axis), _sym_along(s, re, axis)
        if im is not None:
            out_re = out_re - _sym_along(s, im, axis)
            out_im = out_im + _sym_along(c, im, axis)
        return out_re * scale + sp.I * (out_im * scale)
    return rule


def _sym_irfft(sp, at, x, n, axis, norm):
    """The Hermitian spectrum's inverse DFT: bins other than 0 and n/2 count twice, the
    imaginary parts of those two are ignored."""
    half = n // 2 + 1
    re, im = _sym_parts(sp, at, x, half, axis)
    c, s = _sym_roots(sp, n, half, 1)
    w = np.array([1] + [2] * (half - 1))
    if n % 2 == 0:
        w[-1] = 1
    c, s = c.T * w, s.T * w  # (output j, bin k)
    out = _sym_along(c, re, axis)
    if im is not None:
        out = out - _sym_along(s, im, axis)
    return out * _sym_scale(sp, n, norm, True)


def _transform(name: str, np_fn: Any, vjp: Any, sympy: Any):
    """A one-axis transform: NumPy's own function; its JVP, the same along the tangent's
    axis (shifted past its batch axes). Rules call NumPy's functions, which come back
    here when their argument is traced, so every order of derivative works."""
    return defprim(name, lambda x, n, axis, norm: np_fn(x, n, axis, norm), sympy=sympy,
                   jvp=lambda g, ans, x, n, axis, norm:
                       np_fn(g, n, axis + batch_ndim(g, x), norm),
                   vjp=vjp)


fft = _transform("fft", np.fft.fft, _c2c_vjp(np.fft.fft), _sym_dft(None, False))
ifft = _transform("ifft", np.fft.ifft, _c2c_vjp(np.fft.ifft), _sym_dft(None, True))
rfft = _transform("rfft", np.fft.rfft, _rfft_vjp, _sym_dft(lambda n: n // 2 + 1, False))
irfft = _transform("irfft", np.fft.irfft, _irfft_vjp, _sym_irfft)


# --- NumPy's signatures ------------------------------------------------------------------------

def _norm(norm: Any) -> str:
    if norm is None:
        return "backward"
    if norm not in _SWAP:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    return norm


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"np.fft.{name}(..., out=...) is not supported on traced values; "
                        "use the returned value")


def _one_axis(prim, a, n, axis, norm, half_input=False):
    """prim along one axis; a missing n is the input's length (for irfft: 2 (m - 1))."""
    axis = normalize_axis(axis, ndim_of(a))
    if n is None:
        m = shape_of(a)[axis]
        n = 2 * (m - 1) if half_input else m
    return prim(a, n=operator.index(n), axis=axis, norm=_norm(norm))


def _one_axis_handler(prim, name: str, half_input: bool = False):
    """The handler of np.fft.fft / ifft / rfft / irfft."""
    def handler(a, n=None, axis=-1, norm=None, out=None):
        _no_out(name, out)
        return _one_axis(prim, a, n, axis, norm, half_input=half_input)
    handler.__name__ = f"_np_{name}"
    return handler


_np_fft = handles(np.fft.fft, via=fft)(_one_axis_handler(fft, "fft"))
_np_ifft = handles(np.fft.ifft, via=ifft)(_one_axis_handler(ifft, "ifft"))
_np_rfft = handles(np.fft.rfft, via=rfft)(_one_axis_handler(rfft, "rfft"))
_np_irfft = handles(np.fft.irfft, via=irfft)(_one_axis_handler(irfft, "irfft", half_input=True))


@handles(np.fft.hfft, via=(irfft, conjugate))
def _np_hfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out("hfft", out)
    a = np.conjugate(a) if is_complex(a) else a
    return _one_axis(irfft, a, n, axis, _SWAP[_norm(norm)], half_input=True)


@handles(np.fft.ihfft, via=(rfft, conjugate))
def _np_ihfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out("ihfft", out)
    return np.conjugate(_one_axis(rfft, a, n, axis, _SWAP[_norm(norm)]))


def _cook(a: Any, s: Any, axes: Any) -> tuple[list, list]:
    """NumPy's (s, axes) for an n-D transform: axes default to the last len(s) (or all),
    s to the input's lengths; -1 in s means the input's length, None the 1-D default."""
    shape = shape_of(a)
    if axes is None:
        axes = range(-len(shape if s is None else s), 0)
    axes = [normalize_axis(ax, len(shape)) for ax in axes]
    s = [None] * len(axes) if s is None else list(s)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    return [shape[ax] if k == -1 else k for k, ax in zip(s, axes)], axes


@handles(np.fft.fftn, via=fft)
def _np_fftn(a, s=None, axes=None, norm=None, out=None):
    _no_out("fftn", out)
    s, axes = _cook(a, s, axes)
    for n, ax in reversed(list(zip(s, axes))):
        a = _one_axis(fft, a, n, ax, norm)
    return a


@handles(np.fft.ifftn, via=ifft)
def _np_ifftn(a, s=None, axes=None, norm=None, out=None):
    _no_out("ifftn", out)
    s, axes = _cook(a, s, axes)
    for n, ax in reversed(list(zip(s, axes))):
        a = _one_axis(ifft, a, n, ax, norm)
    return a


@handles(np.fft.rfftn, via=(rfft, fft))
def _np_rfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out("rfftn", out)
    s, axes = _cook(a, s, axes)
    a = _one_axis(rfft, a, s[-1], axes[-1], norm)
    for n, ax in zip(s[:-1], axes[:-1]):
        a = _one_axis(fft, a, n, ax, norm)
    return a


@handles(np.fft.irfftn, via=(ifft, irfft))
def _np_irfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out("irfftn", out)
    s, axes = _cook(a, s, axes)
    for n, ax in zip(s[:-1], axes[:-1]):
        a = _one_axis(ifft, a, n, ax, norm)
    return _one_axis(irfft, a, s[-1], axes[-1], norm, half_input=True)


@handles(np.fft.fft2, via=fft)
def _np_fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _np_fftn(a, s, axes, norm, out)


@handles(np.fft.ifft2, via=ifft)
def _np_ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _np_ifftn(a, s, axes, norm, out)


@handles(np.fft.rfft2, via=(rfft, fft))
def _np_rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _np_rfftn(a, s, axes, norm, out)


@handles(np.fft.irfft2, via=(ifft, irfft))
def _np_irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _np_irfftn(a, s, axes, norm, out)


for _fn in (np.fft.fftshift, np.fft.ifftshift):
    handles(_fn, via=getitem)(gather_by(_fn))
