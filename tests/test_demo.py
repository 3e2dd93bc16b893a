"""The README's first command (python -m adkit demo): every mode agrees with the others."""

import numpy as np

from adkit.demo import run


def test_demo_modes_agree():
    lines = []
    results = run(lines.append)
    norm = np.array(list(results["norm"].values()), dtype=float)
    assert np.allclose(norm, [1 / 5 ** 0.5, 2 / 5 ** 0.5], atol=1e-9)
    grads, hessians, exact = results["softplus"]
    for g in grads.values():
        assert np.allclose(g, grads["closed form"], atol=1e-8)
    for H in hessians.values():
        assert np.allclose(H, exact, atol=1e-12)
    J = results["layer"]
    assert np.allclose(J["forward"], J["reverse"]) and np.allclose(J["forward"], J["central"])
    assert any("sqrt(x1^2 + x2^2)" in line for line in lines)
