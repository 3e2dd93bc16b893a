"""kernels/array.py's DeviceArray against NumPy float32 on random shapes (hypothesis):
ufuncs with every broadcasting pattern and scalars on either side, reductions over any
axes, matmul (transposed operands read in place, 1-D and stacked operands, odd sizes),
shape functions, adkit.grad through device code equal to adkit.grad on NumPy arrays,
counted transfers, and the errors the OpenCL issue asks for."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencl_support import require_opencl

require_opencl()

import adkit  # noqa: E402
from adkit.kernels.array import DeviceArray, to_device  # noqa: E402
from adkit.kernels.runtime import Device  # noqa: E402

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
#: for tests parametrized over every ufunc: fewer shapes each
FEW = settings(SETTINGS, max_examples=6)
F32 = np.float32

UNARY = [np.negative, np.positive, np.exp, np.log, np.log1p, np.expm1, np.tanh, np.sqrt,
         np.square, np.absolute, np.sign, np.reciprocal, np.sin, np.cos]
#: whose result is exact in float32 (no rounding beyond the one NumPy does)
EXACT_UNARY = {np.negative, np.positive, np.square, np.absolute, np.sign}
POSITIVE_DOMAIN = {np.log, np.log1p, np.sqrt}
BINARY = [np.add, np.subtract, np.multiply, np.true_divide, np.power, np.maximum, np.minimum]
EXACT_BINARY = {np.add, np.subtract, np.multiply, np.maximum, np.minimum}
OPERATORS = {np.add: lambda a, b: a + b, np.subtract: lambda a, b: a - b,
             np.multiply: lambda a, b: a * b, np.true_divide: lambda a, b: a / b,
             np.power: lambda a, b: a ** b}

dims = st.sampled_from([1, 2, 3, 5, 7])
dims0 = st.sampled_from([0, 1, 1, 2, 3, 5, 7])          # with empty axes now and then


def shapes(max_ndim=4, dim=dims):
    return st.lists(dim, min_size=0, max_size=max_ndim).map(tuple)


def _rand(seed, shape, scale=3.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(F32)


def _put(dev, host, transposed=False, how=".T"):
    """host on the device; with `transposed` (2-D only) as a transposed view of the
    contiguous host.T, made by `how` (.T, np.swapaxes or np.transpose)."""
    if not transposed or np.ndim(host) != 2:
        return to_device(host, dev)
    d = to_device(np.ascontiguousarray(host.T), dev)
    out = {".T": lambda: d.T, "swapaxes": lambda: np.swapaxes(d, 0, 1),
           "transpose": lambda: np.transpose(d)}[how]()
    assert out.transposed and out.data is d.data        # a flag, not a copy
    return out


def _get(x, shape=None):
    """x brought home, checked to be a float32 DeviceArray of `shape` (if given)."""
    assert isinstance(x, DeviceArray), type(x)
    host = np.asarray(x)
    assert host.dtype == F32
    if shape is not None:
        assert host.shape == tuple(shape), (host.shape, shape)
    return host


def _domain(ufunc, x):
    if ufunc in POSITIVE_DOMAIN:
        return np.abs(x) + F32(0.01)
    if ufunc is np.reciprocal:
        return np.where(x == 0, F32(1), x)
    return x


def _binary_operands(ufunc, a, b):
    """a, b moved into ufunc's domain: a positive base for **, a divisor away from 0."""
    if ufunc is np.power:
        return np.abs(a) + F32(0.5), np.clip(b, -2, 2).astype(F32)
    if ufunc is np.true_divide:
        return a, (np.sign(b) + (b == 0)) * (np.abs(b) + F32(0.5))
    return a, b


def _check(got, want, exact):
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- unary ufuncs ------------------------------------------------------------------------

def _name(ufunc):
    return ufunc.__name__


@pytest.mark.parametrize("ufunc", UNARY, ids=_name)
@FEW
@given(shape=shapes(dim=dims0), seed=st.integers(0, 99), transposed=st.booleans())
def test_unary_ufuncs(dev, shape, ufunc, seed, transposed):
    x = _domain(ufunc, _rand(seed, shape))
    X = _put(dev, x, transposed)
    with np.errstate(all="ignore"):
        want = ufunc(x)
    _check(_get(ufunc(X), shape), want, ufunc in EXACT_UNARY)


def test_unary_operators(dev):
    x = _rand(0, (3, 5))
    X = to_device(x, dev)
    np.testing.assert_array_equal(_get(-X), -x)
    np.testing.assert_array_equal(_get(+X), x)
    np.testing.assert_array_equal(_get(abs(X)), abs(x))
    np.testing.assert_array_equal(_get(abs(X.T)), abs(x.T))
    special = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-30, -2.5], F32)
    S = to_device(special, dev)
    for ufunc in (np.sign, np.absolute, np.negative, np.square):
        np.testing.assert_array_equal(_get(ufunc(S)), ufunc(special))   # NaN == NaN here
    # PoCL's tanh(inf) is 1 - 2**-24, one float32 step below NumPy's 1
    for ufunc in (np.tanh, np.exp, np.expm1, np.sin):
        with np.errstate(invalid="ignore"):
            want = ufunc(special)
        np.testing.assert_allclose(_get(ufunc(S)), want, rtol=2e-7, atol=1e-38)


# --- binary ufuncs: broadcasting -----------------------------------------------------------

@st.composite
def broadcast_pairs(draw, max_ndim=4, dim=dims0):
    """Two shapes that broadcast: each is a suffix of a common shape with some axes 1."""
    out = draw(shapes(max_ndim, dim))

    def operand():
        lead = draw(st.integers(0, len(out)))
        return tuple(1 if draw(st.booleans()) else n for n in out[lead:])
    return operand(), operand()


@pytest.mark.parametrize("ufunc", BINARY, ids=_name)
@FEW
@given(pair=broadcast_pairs(), seed=st.integers(0, 99),
       form=st.sampled_from(["np", "operator"]), ta=st.booleans(), tb=st.booleans())
def test_binary_ufuncs_broadcast(dev, pair, ufunc, seed, form, ta, tb):
    a, b = _binary_operands(ufunc, _rand(seed, pair[0]), _rand(seed + 1, pair[1]))
    A, B = _put(dev, a, ta), _put(dev, b, tb)
    call = OPERATORS.get(ufunc) if form == "operator" else None
    got = (call or ufunc)(A, B)
    _check(_get(got, np.broadcast_shapes(a.shape, b.shape)), ufunc(a, b),
           ufunc in EXACT_BINARY)


# each a named pattern, so a failure says which one
PATTERNS = {
    "row": ((4, 5), (5,)), "column": ((4, 5), (4, 1)), "leading axes": ((2, 3, 4), (3, 4)),
    "both sides": ((4, 1), (1, 5)), "both sides 3-D": ((2, 1, 4), (3, 1)),
    "scalar-like": ((1,), (6,)), "0-d": ((), (2, 3)), "size-1 everywhere": ((1, 1), (1,)),
    "4-D": ((2, 3, 4, 5), (1, 3, 1, 5)), "odd 4-D": ((7, 1, 5, 3), (1, 3, 5, 1)),
    "5-D merging to 2": ((2, 3, 4, 5, 6), (5, 6)),
    "5-D merging to 4": ((2, 3, 4, 5, 6), (2, 1, 4, 5, 1)),
    "5-D with size-1 axes": ((2, 1, 3, 1, 4), (1, 1, 3, 1, 1)),
    "6-D": ((2, 2, 3, 1, 2, 3), (3, 1, 1, 1)),
    "empty": ((0, 3), (3,)), "empty broadcast": ((2, 0, 1), (1, 4)),
}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
@pytest.mark.parametrize("swap", [False, True], ids=["a-b", "b-a"])
def test_broadcast_patterns(dev, pattern, swap):
    sa, sb = PATTERNS[pattern][::-1] if swap else PATTERNS[pattern]
    a, b = _rand(1, sa), _rand(2, sb)
    A, B = to_device(a, dev), to_device(b, dev)
    for ufunc in (np.add, np.subtract, np.multiply, np.maximum):
        np.testing.assert_array_equal(_get(ufunc(A, B), np.broadcast_shapes(sa, sb)),
                                      ufunc(a, b))


def test_transposed_operands_broadcast(dev):
    x, row, col = _rand(0, (3, 4)), _rand(1, (3,)), _rand(2, (4, 1))
    X = _put(dev, x.T, transposed=True)                  # a (4, 3) view of (3, 4) data
    np.testing.assert_array_equal(_get(X + to_device(row, dev)), x.T + row)
    np.testing.assert_array_equal(_get(X * to_device(col, dev)), x.T * col)
    np.testing.assert_array_equal(_get(to_device(row, dev) - X), row - x.T)
    np.testing.assert_array_equal(_get(X - X.T.T), np.zeros((4, 3), F32))
    np.testing.assert_array_equal(_get(to_device(x, dev) + X.T), 2 * x)


def test_shapes_that_do_not_merge_to_four_axes(dev):
    a, b = to_device(_rand(0, (2, 1, 3, 1, 4)), dev), to_device(_rand(1, (5, 1, 6, 1)), dev)
    for call in (lambda: a + b, lambda: np.maximum(b, a), lambda: a * b):
        with pytest.raises(NotImplementedError, match=r"5 separate axes.*up to 4"):
            call()
    with pytest.raises(ValueError, match=r"could not be broadcast.*\(2, 3\) \(4,\)"):
        to_device(_rand(0, (2, 3)), dev) + to_device(_rand(0, (4,)), dev)


# --- binary ufuncs: scalars ----------------------------------------------------------------

SCALARS = {"int": 3, "float": -1.75, "np.float32": F32(0.625), "np.float64": np.float64(2.5),
           "0-d ndarray": np.array(-0.5), "np.int64": np.int64(-2)}


@pytest.mark.parametrize("ufunc", BINARY, ids=_name)
@FEW
@given(shape=shapes(dim=dims0), seed=st.integers(0, 99),
       kind=st.sampled_from(sorted(SCALARS)), left=st.booleans(),
       form=st.sampled_from(["np", "operator"]), transposed=st.booleans())
def test_scalar_operands(dev, shape, ufunc, seed, kind, left, form, transposed):
    s, x = SCALARS[kind], _rand(seed, shape)
    if ufunc is np.power:   # positive bases; small exponents
        if left:
            s, x = abs(s) + 0.5, np.clip(x, -2, 2).astype(F32)
        else:
            x = np.abs(x) + F32(0.5)
    if ufunc is np.true_divide and not left:
        s = s or 1
    if ufunc is np.true_divide and left:
        x = _binary_operands(ufunc, x, x)[1]
    X = _put(dev, x, transposed)
    call = OPERATORS.get(ufunc) if form == "operator" else None
    call = call or ufunc
    got = call(s, X) if left else call(X, s)
    # DeviceArray takes every scalar at float32 (a float64 scalar does not promote)
    want = ufunc(F32(s), x) if left else ufunc(x, F32(s))
    _check(_get(got, shape), want, ufunc in EXACT_BINARY)


def test_integer_powers_of_negative_bases(dev):
    x = np.array([-3, -1.5, -1, -0.5, 0, 0.5, 2], F32)
    X = to_device(x, dev)
    for p in (2, 3, -1, 0):
        np.testing.assert_allclose(_get(X ** p), x ** F32(p), rtol=1e-6)
    np.testing.assert_allclose(_get(X ** to_device(np.full(7, 2, F32), dev)), x ** 2, rtol=1e-6)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.isnan(_get(X ** 0.5)), np.isnan(x ** F32(0.5)))


def test_maximum_minimum_propagate_nan(dev):
    a = np.array([np.nan, 1, np.nan, -np.inf, 2], F32)
    b = np.array([1, np.nan, np.nan, 0, 2], F32)
    A, B = to_device(a, dev), to_device(b, dev)
    for ufunc in (np.maximum, np.minimum):
        np.testing.assert_array_equal(_get(ufunc(A, B)), ufunc(a, b))
        np.testing.assert_array_equal(_get(ufunc(A, F32(0.5))), ufunc(a, F32(0.5)))
        np.testing.assert_array_equal(_get(ufunc(np.nan, B)), ufunc(F32(np.nan), b))


def test_ufunc_out_argument(dev):
    x = _rand(0, (2, 3))
    X, Y = to_device(x, dev), to_device(np.zeros((2, 3), F32), dev)
    assert np.add(X, 1, out=Y) is Y
    np.testing.assert_array_equal(_get(Y), x + 1)
    with pytest.raises(TypeError, match="out="):
        np.add(X, 1, out=to_device(np.zeros(3, F32), dev))


# --- reductions --------------------------------------------------------------------------

@st.composite
def axes_for(draw, ndim):
    """None, an int (maybe negative), or a tuple of distinct axes (adjacent or not, maybe
    negative, in any order)."""
    kinds = ["none", "tuple"] + (["int"] if ndim else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim)) if ndim \
        else []
    return tuple(k - ndim if draw(st.booleans()) else k for k in axes)


REDUCERS = {"sum": np.sum, "mean": np.mean, "max": np.max}


@pytest.mark.parametrize("name", sorted(REDUCERS))
@SETTINGS
@given(shape=shapes(dim=dims0), form=st.sampled_from(["np", "method"]),
       keepdims=st.booleans(), transposed=st.booleans(), seed=st.integers(0, 99),
       data=st.data())
def test_reductions(dev, shape, name, form, keepdims, transposed, seed, data):
    axis = data.draw(axes_for(len(shape)), label="axis")
    x = _rand(seed, shape)
    X = _put(dev, x, transposed)

    def run(a):
        if form == "method":
            return getattr(a, name)(axis=axis, keepdims=keepdims)
        return REDUCERS[name](a, axis=axis, keepdims=keepdims)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)     # NumPy's mean of nothing
        try:
            want = run(x.astype(np.float64))
        except ValueError:                                  # max of an empty axis
            with pytest.raises(ValueError):
                run(X)
            return
        bound = np.sum(np.abs(x.astype(np.float64)), axis=axis, keepdims=keepdims)
        if name == "mean":
            bound = bound / max(1, x.size // max(1, np.size(want)))
    got = _get(run(X), np.shape(want))
    if name == "max":
        np.testing.assert_array_equal(got, want.astype(F32))
    else:
        both_nan = np.isnan(got) & np.isnan(want)           # the mean of an empty axis
        assert (both_nan | (np.abs(got - want) <= 1e-6 * bound + 1e-6)).all()


@pytest.mark.parametrize("axis", [None, 0, 2, -1, -4, (0, 1), (1, 2), (2, 3), (0, 1, 2),
                                  (0, 2), (1, 3), (0, 3), (0, 2, 3), (-1, -3), (3, 0, 1), ()],
                         ids=str)
@pytest.mark.parametrize("keepdims", [False, True], ids=["", "keepdims"])
def test_reductions_over_axes_of_4d(dev, axis, keepdims):
    x = _rand(7, (3, 1, 5, 6))
    X = to_device(x, dev)
    x64 = x.astype(np.float64)
    for fn in (np.sum, np.mean):
        want = fn(x64, axis=axis, keepdims=keepdims)
        got = _get(fn(X, axis=axis, keepdims=keepdims), np.shape(want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    want = np.max(x, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(_get(np.max(X, axis=axis, keepdims=keepdims), want.shape),
                                  want)


def test_reductions_named_forms(dev):
    x = _rand(4, (3, 4, 5))
    X = to_device(x, dev)
    np.testing.assert_array_equal(_get(np.amax(X, axis=(0, 2))), x.max(axis=(0, 2)))
    np.testing.assert_array_equal(_get(np.max(X.reshape(12, 5).T, axis=1)), x.reshape(12, 5).max(0))
    np.testing.assert_allclose(float(np.sum(X)), x.astype(np.float64).sum(), rtol=1e-5)
    np.testing.assert_allclose(float(X.mean()), x.astype(np.float64).mean(), rtol=1e-5)
    np.testing.assert_allclose(_get(np.sum(X, axis=[2, 0], dtype=F32)),
                               x.sum(axis=(0, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="out of bounds"):
        np.sum(X, axis=3)
    with pytest.raises(ValueError, match="duplicate"):      # as NumPy, not summed once
        np.sum(X, axis=(0, -3))
    # NumPy refuses a maximum over an empty axis even when the result is empty too
    for shape, axis in (((0, 0), 0), ((0, 3), 0), ((0,), None)):
        with pytest.raises(ValueError, match="empty"):
            np.max(to_device(np.zeros(shape, F32), dev), axis=axis)
    assert _get(np.max(to_device(np.zeros((3, 0), F32), dev), axis=0), (0,)).size == 0
    with pytest.raises(NotImplementedError, match="dtype"):
        np.sum(X, dtype=np.float64)


# --- matmul -------------------------------------------------------------------------------

# GEMM tiles are 8..96 wide: 97 and 130 are odd sizes past a tile, 1 a degenerate one
mat_dims = st.sampled_from([1, 2, 3, 7, 17, 33, 97, 130])
TRANSPOSES = ["none", ".T", "swapaxes", "transpose"]


def _matmul_close(got, a, b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = a64 @ b64
    bound = 2e-6 * (np.abs(a64) @ np.abs(b64)) * max(1, a.shape[-1]) ** 0.5 + 1e-6
    assert got.shape == want.shape
    assert (np.abs(got - want) <= bound).all(), np.abs(got - want).max()


@SETTINGS
@given(m=mat_dims, k=mat_dims, n=mat_dims, ta=st.sampled_from(TRANSPOSES),
       tb=st.sampled_from(TRANSPOSES), form=st.sampled_from(["@", "np.matmul", "np.dot"]),
       seed=st.integers(0, 99))
def test_matmul_2d(dev, m, k, n, ta, tb, form, seed):
    a, b = _rand(seed, (m, k), 1.0), _rand(seed + 1, (k, n), 1.0)
    A = _put(dev, a, ta != "none", ta)
    B = _put(dev, b, tb != "none", tb)
    call = {"@": lambda x, y: x @ y, "np.matmul": np.matmul, "np.dot": np.dot}[form]
    _matmul_close(_get(call(A, B)), a, b)


MATMUL_SHAPES = {
    "vector @ matrix": ((5,), (5, 3)), "matrix @ vector": ((4, 5), (5,)),
    "vector @ vector": ((7,), (7,)), "stack @ matrix": ((2, 3, 5), (5, 4)),
    "4-D stack @ matrix": ((2, 1, 3, 9), (9, 2)), "stack @ vector": ((2, 3, 5), (5,)),
    "inner size 1": ((4, 1), (1, 3)), "outer size 1": ((1, 5), (5, 1)),
    "empty rows": ((0, 5), (5, 3)), "empty columns": ((4, 5), (5, 0)),
    "empty inner": ((4, 0), (0, 3)), "odd stack": ((3, 97, 33), (33, 130)),
    "stack, empty inner": ((2, 3, 0), (0, 4)), "vector, empty inner": ((0,), (0, 2)),
}


@pytest.mark.parametrize("case", sorted(MATMUL_SHAPES))
def test_matmul_shapes(dev, case):
    sa, sb = MATMUL_SHAPES[case]
    a, b = _rand(1, sa, 1.0), _rand(2, sb, 1.0)
    A, B = to_device(a, dev), to_device(b, dev)
    _matmul_close(_get(A @ B), a, b)
    _matmul_close(_get(np.matmul(A, B)), a, b)
    if len(sa) <= 2:
        _matmul_close(_get(np.dot(A, B)), a, b)


def test_dot_with_a_scalar_is_a_product(dev):
    x = _rand(0, (2, 3))
    X = to_device(x, dev)
    np.testing.assert_array_equal(_get(np.dot(X, 2.0)), x * 2)
    np.testing.assert_array_equal(_get(np.dot(to_device(F32(-3), dev), X)), -3 * x)


def test_matmul_errors(dev):
    A, B = to_device(_rand(0, (3, 4)), dev), to_device(_rand(1, (5, 2)), dev)
    with pytest.raises(ValueError, match=r"inner dimensions.*\(3, 4\).*\(5, 2\)"):
        A @ B
    with pytest.raises(ValueError, match="dimensions"):
        A @ to_device(F32(2), dev)
    with pytest.raises(NotImplementedError, match="stacks of rows by a matrix"):
        A @ to_device(_rand(0, (2, 4, 3)), dev)


# --- shapes ---------------------------------------------------------------------------------

@SETTINGS
@given(shape=shapes(dim=dims0), seed=st.integers(0, 99), transposed=st.booleans(),
       data=st.data())
def test_reshape(dev, shape, seed, transposed, data):
    x = _rand(seed, shape)
    X = _put(dev, x, transposed)
    targets = [(-1,), (x.size,), (1, -1, 1), tuple(reversed(shape)) or (1,)]
    if shape and shape[0]:
        targets.append((shape[0], -1))
    target = data.draw(st.sampled_from(targets), label="target")
    np.testing.assert_array_equal(_get(X.reshape(target), x.reshape(target).shape),
                                  x.reshape(target))
    np.testing.assert_array_equal(_get(np.reshape(X, target)), np.reshape(x, target))
    np.testing.assert_array_equal(_get(X.reshape(*target)), x.reshape(*target))
    with pytest.raises(ValueError, match="cannot reshape"):
        X.reshape(x.size + 1)


@SETTINGS
@given(shape=shapes(dim=dims0).filter(lambda s: len(s) >= 3), seed=st.integers(0, 99),
       data=st.data())
def test_transpose_moveaxis_swapaxes(dev, shape, seed, data):
    nd = len(shape)
    x = _rand(seed, shape)
    X = to_device(x, dev)
    perm = tuple(data.draw(st.permutations(range(nd)), label="perm"))
    neg = tuple(k - nd for k in perm)
    np.testing.assert_array_equal(_get(np.transpose(X, perm)), np.transpose(x, perm))
    np.testing.assert_array_equal(_get(X.transpose(*perm)), x.transpose(*perm))
    np.testing.assert_array_equal(_get(X.transpose(neg)), x.transpose(neg))
    np.testing.assert_array_equal(_get(np.transpose(X)), np.transpose(x))
    np.testing.assert_array_equal(_get(X.T), x.T)
    src, dst = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    np.testing.assert_array_equal(_get(np.moveaxis(X, src, dst)), np.moveaxis(x, src, dst))
    np.testing.assert_array_equal(_get(np.swapaxes(X, src, dst)), np.swapaxes(x, src, dst))


def test_transpose_of_five_axes_names_the_limit(dev):
    X = to_device(_rand(0, (2, 1, 3, 1, 2)), dev)
    with pytest.raises(NotImplementedError, match="up to 4 axes"):
        np.transpose(X)


def test_expand_dims_and_squeeze(dev):
    x = _rand(0, (3, 1, 4, 1))
    X = to_device(x, dev)
    for axis in (0, 2, -1, (0, 2), (-1, 1)):
        np.testing.assert_array_equal(_get(np.expand_dims(X, axis)), np.expand_dims(x, axis))
    for axis in (None, 1, -1, (1, 3)):
        np.testing.assert_array_equal(_get(np.squeeze(X, axis)), np.squeeze(x, axis))
        np.testing.assert_array_equal(_get(X.squeeze(axis)), x.squeeze(axis))
    with pytest.raises(ValueError, match="squeeze"):
        np.squeeze(X, 0)
    T = _put(dev, _rand(1, (5, 1)), transposed=True)          # (5, 1) as a flag
    np.testing.assert_array_equal(_get(np.squeeze(T, 1)), np.asarray(T)[:, 0])
    np.testing.assert_array_equal(_get(np.expand_dims(T, 0)), np.asarray(T)[None])
    scalar = to_device(F32(2.5), dev)
    assert _get(np.expand_dims(scalar, 0), (1,)).tolist() == [2.5]
    assert _get(np.squeeze(np.expand_dims(scalar, (0, 1))), ()) == F32(2.5)


BROADCAST_TO = [((3,), (2, 3)), ((3, 1), (3, 4)), ((1,), (2, 3, 4)), ((), (2, 2)),
                ((2, 1, 3), (4, 2, 5, 3)), ((1, 1), (0, 1)), ((2, 3), (2, 3)),
                ((1, 1, 3, 4, 5), (2, 3, 3, 4, 5)), ((4, 1, 3), (2, 6, 4, 5, 3))]


@pytest.mark.parametrize("src,shape", BROADCAST_TO)
def test_broadcast_to(dev, src, shape):
    x = _rand(0, src)
    np.testing.assert_array_equal(_get(np.broadcast_to(to_device(x, dev), shape), shape),
                                  np.broadcast_to(x, shape))


def test_broadcast_to_from_a_transposed_view(dev):
    x = _rand(0, (4, 1))
    T = _put(dev, x, transposed=True)                         # (4, 1) from (1, 4) data
    np.testing.assert_array_equal(_get(np.broadcast_to(T, (2, 4, 3))),
                                  np.broadcast_to(x, (2, 4, 3)))
    y = _rand(1, (2, 3))
    np.testing.assert_array_equal(_get(np.broadcast_to(_put(dev, y, True), (5, 2, 3))),
                                  np.broadcast_to(y, (5, 2, 3)))
    with pytest.raises(ValueError, match="broadcast"):
        np.broadcast_to(T, (3, 2))
    with pytest.raises(NotImplementedError, match="up to 4"):
        np.broadcast_to(to_device(_rand(0, (2, 1, 3, 1, 4)), dev), (2, 5, 3, 6, 4))


def test_like_functions(dev):
    x = _rand(0, (3, 4))
    for X in (to_device(x, dev), _put(dev, x, transposed=True)):
        np.testing.assert_array_equal(_get(np.ones_like(X), (3, 4)), np.ones((3, 4), F32))
        np.testing.assert_array_equal(_get(np.zeros_like(X), (3, 4)), np.zeros((3, 4), F32))
        np.testing.assert_array_equal(_get(np.full_like(X, -2.5), (3, 4)),
                                      np.full((3, 4), -2.5, F32))
        assert np.empty_like(X).shape == (3, 4) and np.empty_like(X).dtype == F32
    X = to_device(x, dev)
    for fn in (np.ones_like, np.zeros_like, np.empty_like):
        out = fn(X, shape=(2, 0, 5))
        assert isinstance(out, DeviceArray) and out.shape == (2, 0, 5)
    np.testing.assert_array_equal(_get(np.full_like(X, 7, shape=5)), np.full(5, 7, F32))
    np.testing.assert_array_equal(_get(np.zeros_like(X, shape=(2, 1))), np.zeros((2, 1), F32))
    scalar = to_device(F32(1), dev)
    assert _get(np.ones_like(scalar), ()) == 1


def test_copy_is_independent(dev):
    x = _rand(0, (3, 4))
    for X in (to_device(x, dev), _put(dev, x, transposed=True), to_device(x, dev)[1:3]):
        want = np.asarray(X)
        for C in (X.copy(), np.copy(X)):
            assert isinstance(C, DeviceArray) and C.shape == X.shape
            np.testing.assert_array_equal(_get(C), want)
            C.fill(0.0)
            np.testing.assert_array_equal(_get(X), want)


@pytest.mark.parametrize("transposed", [False, True], ids=["plain", "transposed"])
def test_astype(dev, transposed):
    x = _rand(0, (3, 4))
    X = _put(dev, x, transposed)
    X64 = X.astype(np.float64)
    assert X64.dtype == np.float64 and X64.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(X64), x.astype(np.float64))
    # shape functions carry any dtype, not only float32
    np.testing.assert_array_equal(np.asarray(X64.T), x.T.astype(np.float64))
    np.testing.assert_array_equal(np.asarray(X64.T.copy()), x.T.astype(np.float64))
    np.testing.assert_array_equal(_get(X64.T.astype(F32)), x.T)
    np.testing.assert_array_equal(np.asarray(np.broadcast_to(X64, (2, 3, 4))),
                                  np.broadcast_to(x.astype(np.float64), (2, 3, 4)))
    x3 = _rand(1, (2, 3, 4))
    np.testing.assert_array_equal(
        np.asarray(np.transpose(to_device(x3, dev).astype(np.float64), (2, 0, 1))),
        np.transpose(x3, (2, 0, 1)).astype(np.float64))
    assert X.astype(F32, copy=False) is X
    assert X.astype(F32) is not X


def test_shape_functions_keep_integer_labels_exact(dev):
    lab = np.arange(-12, 12, dtype=np.int32).reshape(2, 3, 4)
    L = to_device(lab, dev)
    assert L.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(np.transpose(L, (2, 0, 1))), lab.transpose(2, 0, 1))
    np.testing.assert_array_equal(np.asarray(np.broadcast_to(L[:1], (3, 3, 4))),
                                  np.broadcast_to(lab[:1], (3, 3, 4)))
    flat = L.reshape(6, 4)
    np.testing.assert_array_equal(np.asarray(flat.T.copy()), lab.reshape(6, 4).T)
    np.testing.assert_array_equal(_get(flat.T.astype(F32)), lab.reshape(6, 4).T.astype(F32))


@SETTINGS
@given(shape=shapes(dim=dims0).filter(len), seed=st.integers(0, 99),
       start=st.one_of(st.none(), st.integers(-9, 9)),
       stop=st.one_of(st.none(), st.integers(-9, 9)), ellipsis=st.booleans())
def test_row_slices(dev, shape, seed, start, stop, ellipsis):
    x = _rand(seed, shape)
    X = to_device(x, dev)
    key = (slice(start, stop), Ellipsis) if ellipsis else slice(start, stop)
    S, want = X[key], x[key]
    np.testing.assert_array_equal(_get(S, want.shape), want)
    # a view works as an operand like any other array
    np.testing.assert_array_equal(_get(S * 2 + 1), want * 2 + 1)
    np.testing.assert_allclose(_get(np.sum(S, axis=0)), want.sum(axis=0), rtol=1e-5,
                               atol=1e-5)
    if S.ndim == 2:
        w = _rand(seed, (shape[1], 3))
        _matmul_close(_get(S @ to_device(w, dev)), want, w)


@pytest.mark.parametrize("start,stop", [(4, 2), (-1, -3), (5, None), (None, -9), (9, None),
                                        (2, 2), (-2, None), (1, 4)])
def test_row_slice_bounds(dev, start, stop):
    x = _rand(0, (5, 3))
    S = to_device(x, dev)[start:stop]
    want = x[start:stop]
    np.testing.assert_array_equal(_get(S, want.shape), want)
    np.testing.assert_array_equal(_get(S.copy(), want.shape), want)
    np.testing.assert_allclose(_get(np.sum(S, axis=0), (3,)), want.sum(axis=0), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_array_equal(_get(S - 1, want.shape), want - 1)


def test_fill_writes_through_a_row_slice(dev):
    x = _rand(0, (4, 3))
    X = to_device(x, dev)
    S = X[1:3]
    assert S.fill(-1.0) is S
    want = x.copy()
    want[1:3] = -1
    np.testing.assert_array_equal(_get(S), want[1:3])
    np.testing.assert_array_equal(_get(X), want)              # a view, as in NumPy
    T = _put(dev, x, transposed=True)
    T.fill(2.0)
    np.testing.assert_array_equal(_get(T, (4, 3)), np.full((4, 3), 2, F32))


def test_other_indexing_is_refused(dev):
    X = to_device(_rand(0, (4, 3)), dev)
    for key in (1, (slice(0, 2), 1), slice(0, 4, 2), [0, 2]):
        with pytest.raises(NotImplementedError, match=r"np\.asarray"):
            X[key]
    with pytest.raises(NotImplementedError, match="row slices"):
        X.T[1:2]


# --- reverse mode through DeviceArrays ---------------------------------------------------

def _layer(W, b, x):
    h = np.tanh(x @ W + b)
    return np.mean(h * h)


def _layer_square(W, b, x):
    return np.mean(np.square(np.tanh(np.matmul(x, W) + b)))


def _softmax_no_max(W, b, x):
    z = x @ W + b
    e = np.exp(z)
    p = e / np.sum(e, axis=1, keepdims=True)
    return np.sum(p * np.sin(z))


def _shapes_and_transposes(W, b, x):
    y = np.sin(W.T @ x.T)                                  # (n, m), both transposed
    y = np.expand_dims(y, 0) * np.reshape(b, (1, -1, 1))   # broadcasting, 3-D
    z = np.transpose(y, (2, 0, 1)).reshape(x.shape[0], -1)
    return np.sum(z / (1.5 + np.cos(z)), axis=(0,)).mean() - np.mean(np.exp(-np.abs(x)))


def _layer_pow(W, b, x):
    return np.mean(np.tanh(x @ W + b) ** 2)


def _softmax_with_max(W, b, x):
    z = x @ W + b
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return np.sum(e / np.sum(e, axis=1, keepdims=True) * np.cos(z))


def _log_sum_exp(W, b, x):
    return np.mean(np.log(np.sum(np.exp(x @ W + b), axis=1)))


def _relu_layer(W, b, x):
    return np.sum(np.maximum(x @ W + b, 0.0) * np.cos(x @ W))


def _max_all(W, b, x):
    return np.max(np.sin(x @ W + b))


def _grad_case(dev, f, n, d_in, d_out):
    """adkit.value_and_grad of f(W, b, x) on device arrays, beside the same on NumPy."""
    rng = np.random.default_rng(n * 100 + d_in * 10 + d_out)
    W = rng.standard_normal((d_in, d_out)).astype(F32)
    b = rng.standard_normal(d_out).astype(F32)
    x = rng.standard_normal((n, d_in)).astype(F32)
    want_value, want = adkit.value_and_grad(f, argnums=(0, 1, 2))(W, b, x)
    args = [to_device(a, dev) for a in (W, b, x)]
    before = (dev.bytes_to_device, dev.bytes_from_device)
    value, grads = adkit.value_and_grad(f, argnums=(0, 1, 2))(*args)
    assert (dev.bytes_to_device, dev.bytes_from_device) == before   # all on the device
    np.testing.assert_allclose(float(value), float(want_value), rtol=1e-5, atol=1e-6)
    for got, ref, host in zip(grads, want, (W, b, x)):
        np.testing.assert_allclose(_get(got, host.shape), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("sizes", [(7, 5, 4), (1, 3, 1), (33, 17, 9)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("f", [_layer, _layer_square, _softmax_no_max, _shapes_and_transposes,
                               # rules with masks: inf * 0 guards, ties, extremum shares
                               _layer_pow, _log_sum_exp, _softmax_with_max, _max_all,
                               _relu_layer], ids=lambda f: f.__name__.strip("_"))
def test_grad_through_device_arrays_equals_numpy(dev, f, sizes):
    _grad_case(dev, f, *sizes)


# --- transfers ------------------------------------------------------------------------------

def test_arithmetic_moves_no_bytes(dev):
    x = _rand(0, (6, 5))
    X, R = to_device(x, dev), to_device(_rand(1, (5,)), dev)
    W = to_device(_rand(2, (5, 3)), dev)
    before = (dev.bytes_to_device, dev.bytes_from_device, dev.transfers)
    y = np.tanh(X @ W).T @ (X * 2 - R) / 3.0
    y = np.sum(np.exp(y), axis=0, keepdims=True) + np.max(X.T, axis=1).reshape(-1, 1)
    y = np.mean(np.broadcast_to(np.expand_dims(y, 0), (2, 5, 5)), axis=(0, 2))
    y = np.maximum(np.ones_like(y), np.transpose(np.full_like(X, 2.0)[1:4]).sum(1)) ** 0.5
    assert isinstance(y, DeviceArray) and y.shape == (5,)
    assert (dev.bytes_to_device, dev.bytes_from_device, dev.transfers) == before


def test_transfers_are_counted_exactly(dev):
    x = _rand(0, (6, 5))
    up = dev.bytes_to_device
    X = to_device(x, dev)
    assert dev.bytes_to_device - up == x.nbytes
    with pytest.warns(UserWarning, match="stored as float32"):
        S = to_device(np.array([3.7]), dev)        # float64 goes up as float32, said so
    assert dev.bytes_to_device - up == x.nbytes + 4
    cases = [(lambda: np.asarray(X), x.nbytes), (lambda: X.get(), x.nbytes),
             (lambda: np.asarray(X.T), x.nbytes), (lambda: X[2:4].get(), 2 * 5 * 4),
             (lambda: float(np.sum(X)), 4), (lambda: float(X[1:2, ...][:, ...].reshape(-1)[:1]), 4),
             (lambda: X.astype(np.float64).get(), 2 * x.nbytes), (lambda: bool(X[:1].sum()), 4),
             (lambda: int(S), 4), (lambda: np.asarray(X[3:3]), 0)]
    for call, nbytes in cases:
        up, down = dev.bytes_to_device, dev.bytes_from_device
        call()
        assert (dev.bytes_to_device - up, dev.bytes_from_device - down) == (0, nbytes)


# --- bad input ------------------------------------------------------------------------------

def test_host_arrays_are_refused(dev):
    X = to_device(_rand(0, (2, 3)), dev)
    host = np.ones((2, 3), F32)
    calls = [lambda: X + host, lambda: host + X, lambda: X * host, lambda: host - X,
             lambda: X / host, lambda: host ** X, lambda: np.maximum(X, host),
             lambda: np.add(host, X), lambda: X @ host.T, lambda: host.T @ X,
             lambda: X + [1.0, 2.0, 3.0], lambda: np.dot(X, host.T), lambda: np.exp(host) * X,
             lambda: np.ones(3, F32) + X]
    for call in calls:
        with pytest.raises(TypeError, match=r"host array.*to_device\(x, device\).*np\.asarray"):
            call()
    # a 0-d host array is a scalar, not an array to move
    np.testing.assert_array_equal(_get(X + np.array(2.0)), np.asarray(X) + 2)


def test_arrays_of_two_contexts_are_refused(dev):
    other = Device(dev.cl_device, dev.info)           # the same hardware, a second context
    X = to_device(_rand(0, (3, 3)), dev)
    Y = to_device(_rand(1, (3, 3)), other)
    before = (dev.bytes_from_device, other.bytes_from_device)
    for call in (lambda: X + Y, lambda: Y * X, lambda: np.maximum(X, Y[:1]),
                 lambda: X @ Y, lambda: np.dot(Y, X)):
        with pytest.raises(ValueError, match="different devices") as info:
            call()
        message = str(info.value)
        assert message.count(dev.info.name.strip()) >= 2     # names both devices
        assert "to_device(np.asarray(a), other_device)" in message
    assert (dev.bytes_from_device, other.bytes_from_device) == before   # nothing moved
    np.testing.assert_array_equal(np.asarray(Y * 2), 2 * np.asarray(Y))    # Y itself works


def test_float64_arrays_are_refused_in_arithmetic(dev):
    X = to_device(_rand(0, (2, 3)), dev)
    D = X.astype(np.float64)
    calls = [lambda: D + X, lambda: X * D, lambda: D * 2, lambda: 1 - D, lambda: np.exp(D),
             lambda: -D, lambda: D @ X.T, lambda: np.sum(D), lambda: np.max(D, axis=0),
             lambda: D.mean(), lambda: np.maximum(D, 0.0)]
    for call in calls:
        with pytest.raises(TypeError, match=r"float32.*float64.*astype\(np\.float32\)"):
            call()
    np.testing.assert_array_equal(_get(D.astype(F32) + X), 2 * np.asarray(X))


def test_unsupported_numpy_functions_name_themselves(dev):
    X = to_device(_rand(0, (2, 3)), dev)
    for fn, name in ((np.sort, "np.sort"), (np.cumsum, "np.cumsum"), (np.arctan, "np.arctan"),
                     (np.log2, "np.log2")):
        with pytest.raises(NotImplementedError, match=rf"{name}.*np\.asarray\(a\)"):
            fn(X)
    with pytest.raises(NotImplementedError, match=r"add\.reduce"):
        np.add.reduce(X)
    with pytest.raises(NotImplementedError, match="keyword"):
        np.add(X, X, where=True)


def test_truth_and_float_of_many_elements(dev):
    X = to_device(_rand(0, (2, 3)), dev)
    with pytest.raises(ValueError, match=r"\(2, 3\) is ambiguous"):
        bool(X)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(to_device(np.zeros(0, F32), dev))
    with pytest.raises(TypeError, match=r"one element.*\(2, 3\)"):
        float(X)
    with pytest.raises(TypeError, match="one element"):
        float(X[:0])
    one = to_device(np.array([[0.5]], F32), dev)
    assert bool(one) is True and float(one) == 0.5 and not bool(one - 0.5)
    assert float(to_device(F32(-1.25), dev)) == -1.25
    with pytest.raises(TypeError, match="len"):
        len(to_device(F32(1), dev))
    assert len(X) == 2 and len(X.T) == 3


# --- masks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [np.equal, np.not_equal, np.less, np.less_equal, np.greater,
                                np.greater_equal])
def test_comparisons_give_float32_masks(dev, op):
    x = np.array([[-1.0, 0.0, 2.0], [np.nan, 3.0, -np.inf]], F32)
    y = np.array([0.0, 0.0, 2.0], F32)
    X, Y = to_device(x, dev), to_device(y, dev)
    for got, want in ((op(X, Y), op(x, y)), (op(X, 0.0), op(x, 0.0)), (op(1.0, X), op(1.0, x))):
        assert got.dtype == F32
        np.testing.assert_array_equal(_get(got, want.shape), want.astype(F32))


def test_isfinite_isnan_isinf_and_where(dev):
    x = np.array([[-1.0, np.nan, np.inf], [0.0, -np.inf, 5.0]], F32)
    X = to_device(x, dev)
    for f in (np.isfinite, np.isnan, np.isinf):
        np.testing.assert_array_equal(_get(f(X), x.shape), f(x).astype(F32))
    c = np.array([1.0, 0.0, 1.0], F32)
    C = to_device(c, dev)
    np.testing.assert_array_equal(_get(np.where(C, X, 0.5), x.shape), np.where(c, x, 0.5))
    np.testing.assert_array_equal(_get(np.where(X > 0, -2.0, X), x.shape),
                                  np.where(x > 0, -2.0, x))
    np.testing.assert_array_equal(_get(np.where(np.expand_dims(C, 0) > 0, 1.0, 0.0), (1, 3)),
                                  np.where(c[None, :] > 0, 1.0, 0.0))


def test_logic_on_masks_clip_and_logaddexp(dev):
    x = np.array([[-2.0, -0.5, 0.0], [0.5, 2.0, np.inf]], F32)
    X = to_device(x, dev)
    a, b = x > 0, x < 1
    A, B = X > 0, X < 1
    for got, want in ((A & B, a & b), (A | B, a | b), (~A, ~a), (np.logical_and(A, B),
                      np.logical_and(a, b)), (np.logical_or(A, B), np.logical_or(a, b)),
                      (np.logical_not(A), np.logical_not(a))):
        np.testing.assert_array_equal(_get(got, x.shape), want.astype(F32))
    np.testing.assert_array_equal(_get(np.clip(X, -1.0, 1.0), x.shape), np.clip(x, -1, 1))
    np.testing.assert_array_equal(_get(np.clip(X, None, 0.25), x.shape), np.clip(x, None, 0.25))
    y = np.array([[1.0, -0.5, -np.inf], [3.0, -100.0, np.inf]], F32)
    np.testing.assert_allclose(_get(np.logaddexp(X, to_device(y, dev)), x.shape),
                               np.logaddexp(x, y), rtol=1e-6)


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.clip(0.2 * x + 0.5, 0.0, 1.0) ** 2),       # hard_sigmoid
    lambda x: np.sum(np.logaddexp(0.0, x)),                         # softplus
    lambda x: np.sum(np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))),   # elu
], ids=["hard_sigmoid", "softplus", "elu"])
def test_activations_built_from_masks_differentiate_on_the_device(dev, f):
    x = _rand(3, (6, 4))
    X = to_device(x, dev)
    before = (dev.bytes_to_device, dev.bytes_from_device)
    g = adkit.grad(f)(X)
    assert (dev.bytes_to_device, dev.bytes_from_device) == before
    np.testing.assert_allclose(_get(g, x.shape), adkit.grad(f)(x), rtol=1e-4, atol=1e-6)
