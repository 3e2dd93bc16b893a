"""Benchmark 4: a dense Hessian, forward over reverse.

f(x) = sum(log1p(exp(A @ x))) + 0.5 * x.x, A of shape (2n, n), n = 50 and 200.
adkit.hessian beside torch.func.hessian, torch.autograd.functional.hessian
(vectorize=True), autograd.hessian, eager jax.hessian and
jax.jit(jax.hessian). Every result is checked against the closed form
A^T diag(s (1 - s)) A + I, s = sigmoid(A x), to 1e-8.
Target: faster than PyTorch (both spellings) and autograd, within 5x of jit JAX.
"""

from __future__ import annotations

from typing import Any

from ._common import closed_form_rows, peer, Section, Settings

import numpy as np  # noqa: E402

import adkit  # noqa: E402

SIZES = (50, 200)
MUST_BEAT = ("torch.func.hessian", "torch.autograd.functional", "autograd")
JIT = "jax jit(hessian)"
COLUMNS = list(MUST_BEAT) + ["jax hessian (eager)", JIT]


def make_problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2 * n, n)) / np.sqrt(n), rng.standard_normal(n)


def closed_form(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-(A @ x)))
    return A.T @ ((s * (1 - s))[:, None] * A) + np.eye(A.shape[1])


def contestants(A: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    """name -> zero-argument callable returning the Hessian (any array type)."""
    def f(x):
        return np.sum(np.log1p(np.exp(A @ x))) + 0.5 * (x @ x)

    hess = adkit.hessian(f)
    out = {"adkit": lambda: hess(x)}
    torch = peer("torch")
    if torch is not None:
        At, xt = torch.tensor(A), torch.tensor(x)

        def f_t(x):
            return torch.sum(torch.log1p(torch.exp(At @ x))) + 0.5 * (x @ x)
        hess_func = torch.func.hessian(f_t)
        out["torch.func.hessian"] = lambda: hess_func(xt)
        out["torch.autograd.functional"] = lambda: torch.autograd.functional.hessian(
            f_t, xt, vectorize=True)
    ag = peer("autograd")
    if ag is not None:
        import autograd.numpy as anp

        def f_ag(x):
            return anp.sum(anp.log1p(anp.exp(anp.dot(A, x)))) + 0.5 * anp.dot(x, x)
        hess_ag = ag.hessian(f_ag)
        out["autograd"] = lambda: hess_ag(x)
    jax = peer("jax")
    if jax is not None:
        import jax.numpy as jnp
        Aj, xj = jnp.asarray(A), jnp.asarray(x)

        def f_j(x):
            return jnp.sum(jnp.log1p(jnp.exp(Aj @ x))) + 0.5 * (x @ x)
        eager, jitted = jax.hessian(f_j), jax.jit(jax.hessian(f_j))
        out["jax hessian (eager)"] = lambda: eager(xj)
        out[JIT] = lambda: jitted(xj).block_until_ready()
    return out


def run(settings: Settings) -> Section:
    sec = Section("hessian", "4. Hessian of sum(log1p(exp(A@x))) + 0.5 x.x, A (2n, n)",
                  COLUMNS)
    closed_form_rows(sec, "hessian", SIZES, make_problem, closed_form, contestants, 1e-8,
                     MUST_BEAT, JIT, 5.0, settings)
    sec.notes.append("torch.autograd.functional: torch.autograd.functional.hessian(f, x, "
                     "vectorize=True); torch.func.hessian is jacfwd(jacrev(f))")
    return sec


def adkit_callables() -> dict:
    return {f"hessian n={n}": (contestants(*make_problem(n))["adkit"], 1) for n in SIZES}


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings(quick=True))))
