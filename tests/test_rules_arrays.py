"""Rules for reductions, shapes, indexing and products, checked in every mode to second order."""

import numpy as np
import pytest

from ruletest import R, check

A = R(3, 4, seed=3)
B = R(2, 3, 4, seed=4)
V = R(5, seed=5)

REDUCTIONS = [
    lambda x: np.sum(x), lambda x: np.sum(x, axis=0), lambda x: np.sum(x, axis=(0, -1), keepdims=True),
    lambda x: x.sum(-1), lambda x: np.mean(x, axis=1), lambda x: x.mean(),
    lambda x: np.prod(x, axis=1), lambda x: np.prod(x), lambda x: np.max(x, axis=0),
    lambda x: np.min(x, axis=(0, -1)), lambda x: x.max(), lambda x: np.amax(x, keepdims=True),
    lambda x: np.var(x, axis=0), lambda x: np.std(x, axis=-1, ddof=1), lambda x: x.var(),
    lambda x: np.cumsum(x, axis=1), lambda x: np.cumsum(x), lambda x: np.cumprod(x, axis=0),
    lambda x: np.cumprod(x), lambda x: np.ptp(x, axis=0), lambda x: np.average(x, axis=0),
    lambda x: np.average(x, axis=1, weights=np.arange(1.0, 1.0 + np.shape(x)[1])),
    lambda x: np.nansum(x, axis=0), lambda x: np.nanmean(x), lambda x: np.nanmax(x, axis=1),
    lambda x: np.nanmin(x), lambda x: np.nanprod(x, axis=0), lambda x: np.nanvar(x, axis=0),
    lambda x: np.nanstd(x), lambda x: np.nancumsum(x, axis=1), lambda x: np.nancumprod(x),
    lambda x: np.add.reduce(x, axis=1), lambda x: np.multiply.accumulate(x, axis=0),
    lambda x: np.cumulative_sum(x, axis=0, include_initial=True),
]


@pytest.mark.parametrize("k", range(len(REDUCTIONS)))
@pytest.mark.parametrize("x", [A, B], ids=["2d", "3d"])
def test_reductions(k, x):
    check(REDUCTIONS[k], x)


@pytest.mark.parametrize("k", [k for k in range(len(REDUCTIONS)) if k != 13])  # 13: ddof=1, 0/0
@pytest.mark.parametrize("x", [np.array([[1.3]]), np.array([[[-0.7]]])], ids=["1x1", "1x1x1"])
def test_reductions_over_one_element(k, x):
    # std over one element is constant: its derivative is 0, not sqrt'(0) * 0 = nan
    check(REDUCTIONS[k], x)


SCALAR_REDUCTIONS = [
    np.std, np.var, np.mean, np.sum, np.prod, np.max, np.min, np.ptp, np.average, np.nanstd,
    np.nanvar, np.nanmean, np.nansum, np.nanmax, np.cumsum, np.cumprod,
    lambda x: np.cumsum(x, axis=0), lambda x: np.std(x, keepdims=True),
    lambda x: np.std(np.stack([x, x])), lambda x: np.std(x * np.ones(3), axis=0),
    lambda x: np.std(np.stack([x, 2.0 * x]), ddof=1), lambda x: np.var(np.stack([x, x]), ddof=1),
]


@pytest.mark.parametrize("k", range(len(SCALAR_REDUCTIONS)))
@pytest.mark.parametrize("x", [3.5, np.array(-1.5)], ids=["float", "0-d"])
def test_reductions_of_a_scalar(k, x):
    check(SCALAR_REDUCTIONS[k], x)


def test_std_of_one_element_is_constant_in_both_modes():
    import adkit
    assert adkit.grad(np.std)(3.5) == 0.0
    assert adkit.jvp(np.std, (3.5,), (1.0,))[1] == 0.0
    assert adkit.hessian(np.std)(3.5) == 0.0
    np.testing.assert_array_equal(adkit.grad(lambda x: np.sum(np.std(x, axis=1)))(
        np.array([[1.0], [2.0]])), [[0.0], [0.0]])
    # equal elements: std is a norm at 0 there (a kink); both modes answer 0, its subgradient
    assert np.all(adkit.grad(np.std)(np.full(3, 2.0)) == 0.0)
    assert np.all(adkit.jvp(np.std, (np.full(3, 2.0),), (np.arange(3.0),))[1] == 0.0)
    # one zero-variance row among others: only that row's derivative is masked
    x = np.array([[1.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(adkit.grad(lambda x: np.sum(np.std(x, axis=1)))(x),
                               [[0.0, 0.0], [-0.5, 0.5]])
    assert adkit.grad(np.std)(np.float32(3.5)).dtype == np.float32
    assert type(np.std(adkit.stop_gradient(3.5))) is np.float64


def test_degrees_of_freedom_at_or_below_zero_give_nan_in_both_modes():
    import adkit
    x = np.array([[1.5]])
    with np.errstate(all="ignore"):
        assert np.isnan(adkit.grad(lambda x: np.var(x, ddof=1))(x)).all()
        assert np.isnan(adkit.jvp(lambda x: np.var(x, ddof=1), (x,), (np.ones_like(x),))[1])


def test_prod_and_cumprod_with_zeros():
    x = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0]])
    check(lambda x: np.prod(x, axis=1), x)
    check(lambda x: np.prod(x, axis=0), x)
    check(lambda x: np.cumprod(x, axis=1), x)


def test_max_ties_split_evenly():
    import adkit
    g = adkit.grad(lambda x: np.max(x))(np.array([1.0, 3.0, 3.0, 2.0]))
    assert np.allclose(g, [0, 0.5, 0.5, 0])
    g = adkit.grad(lambda x: np.sum(np.maximum(x, 1.0)))(np.array([1.0, 2.0]))
    assert np.allclose(g, [0.5, 1.0])


SHAPES = [
    lambda x: np.reshape(x, (4, 3)), lambda x: x.reshape(2, -1), lambda x: np.ravel(x),
    lambda x: x.ravel(order="F"), lambda x: np.reshape(x, (2, 6), order="F"),
    lambda x: x.T, lambda x: np.transpose(x), lambda x: np.swapaxes(x, 0, 1),
    lambda x: np.moveaxis(x[None], 0, -1), lambda x: np.expand_dims(x, 1),
    lambda x: np.squeeze(x[:, None]), lambda x: np.atleast_3d(x),
    lambda x: np.concatenate([x, 2 * x], axis=1), lambda x: np.concatenate([x, x ** 2]),
    lambda x: np.stack([x, x * x], axis=1), lambda x: np.hstack([x, x]), lambda x: np.vstack([x, x]),
    lambda x: np.dstack([x, x]), lambda x: np.column_stack([x[:, 0], x[:, 1]]),
    lambda x: np.split(x, 2, axis=1)[1], lambda x: np.array_split(x, 3, axis=1)[2],
    lambda x: np.hsplit(x, 2)[0] * np.vsplit(x, 3)[1][:, :2], lambda x: np.tile(x, (2, 1)),
    lambda x: np.repeat(x, 2, axis=0), lambda x: np.repeat(x, [1, 0, 2, 1], axis=1),
    lambda x: np.broadcast_to(x[:, None, :], (3, 2, 4)), lambda x: np.flip(x),
    lambda x: np.flip(x, 1), lambda x: np.fliplr(x), lambda x: np.flipud(x), lambda x: np.roll(x, 2),
    lambda x: np.roll(x, -1, axis=1), lambda x: np.rot90(x), lambda x: np.rot90(x, 3),
    lambda x: np.pad(x, ((1, 0), (2, 1))), lambda x: np.pad(x, 1, mode="edge"),
    lambda x: np.pad(x, (2, 1), mode="reflect"), lambda x: np.pad(x, 1, constant_values=3.0),
    lambda x: np.diag(x), lambda x: np.diag(x[0]), lambda x: np.diag(x[0], 1),
    lambda x: np.diagonal(x, 1), lambda x: np.diagflat(x[1]), lambda x: np.trace(x),
    lambda x: np.triu(x), lambda x: np.tril(x, -1), lambda x: np.sort(x, axis=1),
    lambda x: np.sort(x, axis=None), lambda x: np.partition(x, 1, axis=0),
    lambda x: np.take(x, [2, 0, 2]), lambda x: np.take(x, [1, 3], axis=1),
    lambda x: np.take_along_axis(x, np.argsort(np.abs(x), axis=1), axis=1),
    lambda x: np.compress([True, False, True], x, axis=0), lambda x: np.extract(x > 0, x),
    lambda x: np.append(x, x[0]), lambda x: np.delete(x, 1, axis=1), lambda x: np.resize(x, (5, 5)),
    lambda x: np.broadcast_arrays(x, x[:1])[1], lambda x: np.atleast_1d(x[0, 0]),
    lambda x: np.real_if_close(x), lambda x: np.copy(x), lambda x: x.astype(np.float64),
    lambda x: np.linspace(x[0, 0], x[1, 1], 5), lambda x: np.linspace(x[0], x[1], 4, axis=1),
    lambda x: np.meshgrid(x[0], x[1, :2])[0], lambda x: np.interp([0.1, 0.5, 2.5], [0.0, 1.0, 2.0, 3.0], x[0]),
    lambda x: np.interp(x[0] * 0.5 + 1.0, [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 2.0, 5.0]),
    lambda x: np.unique(np.round(x, 0) + 0.0 * x), lambda x: np.bincount([0, 2, 2, 1], weights=x[0]),
    lambda x: np.select([x > 0], [x], default=-x), lambda x: np.matrix_transpose(x),
    lambda x: np.permute_dims(x, (1, 0)), lambda x: np.rollaxis(x, 1),
]


@pytest.mark.parametrize("k", range(len(SHAPES)))
def test_shapes(k):
    check(SHAPES[k], A)


INDEXING = [
    lambda x: x[1], lambda x: x[:, 2], lambda x: x[1:, ::2], lambda x: x[..., None, 1],
    lambda x: x[[0, 2, 2]], lambda x: x[[0, 1], [1, 3]], lambda x: x[:, [3, 0, 3]],
    lambda x: x[x > 0], lambda x: x[np.array([True, False, True])],
    lambda x: x[[[0], [2]], [1, 3]], lambda x: x[0, [1, 1, 2]], lambda x: x[-1, -1],
    lambda x: x[[0, 2], :][:, [1]], lambda x: x[np.array([0, 2]), 1:3],
]


@pytest.mark.parametrize("k", range(len(INDEXING)))
def test_indexing(k):
    check(INDEXING[k], A)


def test_indexing_non_adjacent_advanced_with_batched_tangents():
    check(lambda x: x[[0, 1], :, [2, 3]], B)
    check(lambda x: x[:, [0, 2], [1, 1]], B)


PRODUCTS = [
    (lambda a, b: a @ b, R(3, 4), R(4, 2)), (lambda a, b: a @ b, R(4), R(4, 2)),
    (lambda a, b: a @ b, R(3, 4), R(4)), (lambda a, b: a @ b, R(4), R(4)),
    (lambda a, b: a @ b, R(2, 3, 4), R(4, 2)), (lambda a, b: a @ b, R(3, 4), R(2, 4, 2)),
    (lambda a, b: a @ b, R(4), R(2, 4, 3)), (lambda a, b: a @ b, R(2, 3, 4), R(4)),
    (lambda a, b: np.matmul(a, b), R(2, 1, 3, 4), R(3, 4, 2)),
    (lambda a, b: np.dot(a, b), R(3, 4), R(4)), (lambda a, b: a.dot(b), R(3, 4), R(4, 2)),
    (lambda a, b: np.dot(a, b), R(2, 3), R(4, 3, 2)), (lambda a, b: np.dot(a, b), R(), R(3)),
    (lambda a, b: np.inner(a, b), R(4), R(4)), (lambda a, b: np.inner(a, b), R(2, 4), R(3, 4)),
    (lambda a, b: np.outer(a, b), R(3), R(4)), (lambda a, b: np.vdot(a, b), R(2, 2), R(4)),
    (lambda a, b: np.tensordot(a, b), R(2, 3, 4), R(3, 4, 2)),
    (lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), R(2, 3, 4), R(4, 3, 2)),
    (lambda a, b: np.tensordot(a, b, axes=1), R(2, 3), R(3, 2)),
    (lambda a, b: np.einsum("ij,jk->ik", a, b), R(3, 4), R(4, 2)),
    (lambda a, b: np.einsum("ij,ij->", a, b), R(3, 4), R(3, 4)),
    (lambda a, b: np.einsum("i,j", a, b), R(3), R(2)),
    (lambda a, b: np.einsum("...ij,...jk->...ik", a, b), R(2, 3, 4), R(4, 2)),
    (lambda a, b: np.einsum("ij,kj->i", a, b), R(3, 4), R(2, 4)),
    (lambda a, b: np.einsum("ii,i->i", a, b), R(3, 3), R(3)),
    (lambda a, b: np.einsum("bij,bjk,k->bi", a, b, b[0, 0]), R(2, 3, 4), R(2, 4, 3)),
    (lambda a, b: np.kron(a, b), R(2, 3), R(3, 2)), (lambda a, b: np.kron(a, b), R(3), R(2, 2)),
    (lambda a, b: np.cross(a, b), R(4, 3), R(4, 3)), (lambda a, b: np.cross(a, b, axis=0), R(3, 2), R(3, 1)),
    (lambda a, b: np.linalg.multi_dot([a, b, a.T]), R(3, 4), R(4, 4)),
]


@pytest.mark.parametrize("k", range(len(PRODUCTS)))
def test_products(k):
    fn, a, b = PRODUCTS[k]
    if k == 10:  # a method of a plain ndarray cannot see a traced argument
        check(fn, a, b, argnums=(0,))
        check(lambda a, b: b.T.dot(a.T), a, b, argnums=(1,))
        return
    check(fn, a, b)


def test_einsum_trace_and_diagonal():
    check(lambda a: np.einsum("ii", a), R(3, 3))
    check(lambda a: np.einsum("ii->i", a), R(3, 3))
    check(lambda a: np.einsum("iji->j", a), R(3, 2, 3))


def test_vector_ufuncs():
    if not hasattr(np, "vecdot"):
        pytest.skip("np.vecdot/matvec/vecmat need NumPy >= 2.2")
    check(lambda a, b: np.vecdot(a, b), R(3, 4), R(4))
    check(lambda a, b: np.matvec(a, b), R(3, 4), R(2, 4))
    check(lambda a, b: np.vecmat(a, b), R(3), R(2, 3, 4))


def test_differences_and_full():
    x = R(6, seed=7)
    check(lambda x: np.diff(x), x)
    check(lambda x: np.diff(x, 2, prepend=0.5, append=[1.0, 2.0]), x)
    check(lambda x: np.ediff1d(x, to_begin=[0.0]), x)
    check(lambda x: np.gradient(x), x)
    check(lambda x: np.gradient(x, 0.5, edge_order=2), x)
    check(lambda x: np.gradient(x, np.cumsum(np.arange(1.0, 7.0))), x)
    check(lambda a: np.gradient(a)[1] * np.gradient(a, axis=0), A)
    check(lambda v: np.full((2, 3), v) * np.arange(6.0).reshape(2, 3), 1.5)


def test_vecdot_and_vecmat_conjugate_a_complex_first_argument():
    if not hasattr(np, "vecmat"):
        pytest.skip("np.vecmat needs NumPy >= 2.2")
    check(lambda a, b: np.vecdot(a * (1 + 2j), b * 1j + b), R(3, 2), R(2))
    check(lambda a, b: np.vecmat(a * (1 - 1j), b), R(3), R(3, 2))


def test_casts_between_real_and_complex():
    # regression (found by tests/test_properties.py): a real value's complex (co)tangent
    # is cast back to real by its real part, without a ComplexWarning; hvp on a scalar
    # raised TypeError (a Python complex tangent through cast's JVP)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        check(lambda x: np.imag(np.asarray(x, dtype=np.complex128) * (0.6 - 0.8j)) * x, 1.5)
        check(lambda x: np.real(x.astype(np.complex128) * (0.6 - 0.8j)) * x, V)
