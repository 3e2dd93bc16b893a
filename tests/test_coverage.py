"""The table covers at least what HIPS autograd differentiates, and docs/coverage.md is
generated from it (never out of date)."""

from pathlib import Path

import numpy as np
import pytest

from adkit.coverage import markdown
from adkit.table import COVERAGE, PRIMITIVES
from adkit.tracer import NondiffPrimitive

# autograd 1.9's registrations (see the project's coverage anchor)
AUTOGRAD_NUMPY = """nan_to_num add multiply subtract divide maximum minimum fmax fmin logaddexp
logaddexp2 true_divide mod remainder power arctan2 hypot negative abs absolute fabs reciprocal
exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh
arccosh arctanh rad2deg degrees deg2rad radians square sqrt sinc reshape roll array_split split
vsplit hsplit dsplit ravel expand_dims squeeze diag flipud fliplr rot90 trace full triu tril
clip swapaxes moveaxis real_if_close real imag conj conjugate angle where cross linspace
rollaxis diff gradient repeat tile kron transpose broadcast_to sum mean prod var std max min
amax amin cumsum inner matmul dot tensordot outer concatenate sort partition atleast_1d
atleast_2d atleast_3d einsum diagonal pad stack vstack hstack column_stack append select
cumprod nanmean nansum""".split()
AUTOGRAD_LINALG = "det slogdet inv pinv solve norm eigh eig cholesky svd lstsq".split()
AUTOGRAD_FFT = """fft ifft fft2 ifft2 fftn ifftn rfft irfft rfft2 irfft2 rfftn irfftn fftshift
ifftshift""".split()


def _reachable(module, prefix, names):
    missing = []
    for name in names:
        fn = getattr(module, name, None)
        if fn is None:  # removed from this NumPy version
            continue
        key = prefix + (fn.__name__ if prefix == "np." else name)
        if key not in COVERAGE and prefix + name not in COVERAGE:
            missing.append(name)
    return missing


@pytest.mark.parametrize("module,prefix,names", [
    (np, "np.", AUTOGRAD_NUMPY), (np.linalg, "np.linalg.", AUTOGRAD_LINALG),
    (np.fft, "np.fft.", AUTOGRAD_FFT)], ids=["numpy", "linalg", "fft"])
def test_superset_of_autograd(module, prefix, names):
    assert _reachable(module, prefix, names) == []


def test_every_differentiable_primitive_has_both_rules():
    for name, prim in PRIMITIVES.items():
        if isinstance(prim, NondiffPrimitive) or name.startswith("user:"):
            continue
        has_jvp = prim.jvp_joint is not None or any(r is not None for r in list(prim.jvps)[:3]) \
            if not hasattr(prim.jvps, "make") else True
        has_vjp = any(r is not None for r in list(prim.vjps)[:3]) \
            if not hasattr(prim.vjps, "make") else True
        assert has_jvp and has_vjp, f"{name}: forward {has_jvp}, reverse {has_vjp}"


def test_coverage_document_is_generated_from_the_table():
    doc = Path(__file__).resolve().parents[1] / "docs" / "coverage.md"
    assert doc.read_text() == markdown(), \
        "docs/coverage.md is out of date: run `python -m adkit coverage --out docs/coverage.md`"
