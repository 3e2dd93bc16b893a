"""Benchmark 2: the gradient of an MLP loss with respect to its parameters.

784-256-256-10, tanh, softmax cross-entropy made stable with log-sum-exp, a
batch of 256 with one-hot labels, params a tuple (w1, b1, w2, b2, w3, b3).
adkit.grad(loss)(params, X, Y) beside: the forward pass alone (plain NumPy),
a hand-written NumPy backprop of the same network (value and gradient,
checked against adkit's gradient to 1e-10 in float64 before any timing),
autograd.grad, and PyTorch (CPU, torch.autograd.grad). Float64 and float32;
in float32 adkit's gradient must be float32 (asserted).
Target: adkit within 1.15x of the hand-written backprop.
"""

from __future__ import annotations

from typing import Any

from ._common import Row, Section, Settings, checked, max_abs_err, measure, peer, verdict

import numpy as np  # noqa: E402

import adkit  # noqa: E402

LAYERS = (784, 256, 256, 10)
BATCH = 256
TARGET = 1.15


def make_data(dtype: Any, seed: int = 0) -> tuple[tuple, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(LAYERS[:-1], LAYERS[1:]):
        params.append(rng.standard_normal((n_in, n_out)) / np.sqrt(n_in))
        params.append(0.1 * rng.standard_normal(n_out))
    X = rng.standard_normal((BATCH, LAYERS[0]))
    Y = np.eye(LAYERS[-1])[rng.integers(0, LAYERS[-1], BATCH)]
    return tuple(p.astype(dtype) for p in params), X.astype(dtype), Y.astype(dtype)


def make_loss(xp: Any):
    """The loss written against a NumPy-like namespace (numpy, autograd.numpy)."""
    def loss(params, X, Y):
        w1, b1, w2, b2, w3, b3 = params
        h1 = xp.tanh(X @ w1 + b1)
        h2 = xp.tanh(h1 @ w2 + b2)
        z = h2 @ w3 + b3
        m = xp.max(z, axis=1, keepdims=True)
        lse = m + xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True))
        return -xp.sum(Y * (z - lse)) / X.shape[0]
    return loss


loss_np = make_loss(np)


def hand_value_and_grad(params: tuple, X: np.ndarray, Y: np.ndarray) -> tuple[Any, tuple]:
    """The loss and its gradient by hand: one forward pass, one backward pass.

    With one-hot rows of Y, d loss / d z = (softmax(z) - Y) / B.
    """
    w1, b1, w2, b2, w3, b3 = params
    B = X.shape[0]
    h1 = np.tanh(X @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    z = h2 @ w3 + b3
    m = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - m)
    s = np.sum(e, axis=1, keepdims=True)
    lse = m + np.log(s)
    loss = -np.sum(Y * (z - lse)) / B
    dz = (e / s - Y) / B
    dw3, db3 = h2.T @ dz, np.sum(dz, axis=0)
    da2 = (dz @ w3.T) * (1 - h2 * h2)
    dw2, db2 = h1.T @ da2, np.sum(da2, axis=0)
    da1 = (da2 @ w2.T) * (1 - h1 * h1)
    dw1, db1 = X.T @ da1, np.sum(da1, axis=0)
    return loss, (dw1, db1, dw2, db2, dw3, db3)


def _torch_setup(torch: Any, params: tuple, X: np.ndarray, Y: np.ndarray):
    tp = tuple(torch.tensor(p, requires_grad=True) for p in params)
    tX, tY = torch.tensor(X), torch.tensor(Y)

    def grad() -> tuple:
        w1, b1, w2, b2, w3, b3 = tp
        h1 = torch.tanh(tX @ w1 + b1)
        h2 = torch.tanh(h1 @ w2 + b2)
        z = h2 @ w3 + b3
        m = torch.max(z, dim=1, keepdim=True).values
        lse = m + torch.log(torch.sum(torch.exp(z - m), dim=1, keepdim=True))
        loss = -torch.sum(tY * (z - lse)) / tX.shape[0]
        return torch.autograd.grad(loss, tp)
    return grad


def run_dtype(dtype: Any, settings: Settings, notes: list[str]) -> Row:
    name = np.dtype(dtype).name
    params, X, Y = make_data(dtype)
    grad_adkit = adkit.grad(loss_np)
    want = hand_value_and_grad(params, X, Y)[1]
    got = grad_adkit(params, X, Y)
    assert isinstance(got, tuple) and len(got) == 6, type(got)
    dtypes = {g.dtype for g in got}
    assert dtypes == {np.dtype(dtype)}, f"adkit's {name} gradient has dtype(s) {dtypes}"
    notes.append(f"{name}: adkit's gradient is a tuple of 6 arrays of dtype {name} (asserted)")
    # float64: the acceptance check of the hand-written backprop; float32: rounding only
    scale = max(float(np.max(np.abs(w))) for w in want)
    tol = 1e-10 if name == "float64" else 1e-4 * scale
    wrong = set()

    def check(who: str, grads: tuple) -> None:
        err = max(max_abs_err(g, w) for g, w in zip(grads, want))
        if not checked(f"{name} {who} vs hand-written", err, tol, notes):
            wrong.add(who)

    check("adkit", got)
    contestants = {"adkit": lambda: grad_adkit(params, X, Y),
                   "forward (numpy)": lambda: loss_np(params, X, Y),
                   "hand-written": lambda: hand_value_and_grad(params, X, Y)}
    ag = peer("autograd")
    if ag is not None:
        import autograd.numpy as anp
        grad_ag = ag.grad(make_loss(anp))
        check("autograd", grad_ag(params, X, Y))
        contestants["autograd"] = lambda: grad_ag(params, X, Y)
    torch = peer("torch")
    if torch is not None:
        grad_t = _torch_setup(torch, params, X, Y)
        check("torch", tuple(g.numpy() for g in grad_t()))
        contestants["torch"] = grad_t
    times = measure(contestants, settings)
    notes.append(f"{name}: minor page faults per call while timed (pages malloc had given "
                 "back to the OS, about 1 us each): "
                 + ", ".join(f"{k} {t.faults:.0f}" for k, t in times.items()))
    adk = times.pop("adkit")
    peers: dict[str, Any] = dict(times)
    for c in ("autograd", "torch"):
        peers.setdefault(c, "not installed")
    ok = adk.median <= TARGET * times["hand-written"].median
    return Row(f"784-256-256-10, B={BATCH}, {name}", "grad w.r.t. params tuple", adk, peers,
               f"adkit/hand <= {TARGET}", verdict(ok), wrong=wrong)


def run(settings: Settings) -> Section:
    sec = Section("mlp", "2. MLP loss gradient (tanh, log-sum-exp softmax cross-entropy)",
                  ["forward (numpy)", "hand-written", "autograd", "torch"])
    for dtype in (np.float64, np.float32):
        sec.rows.append(run_dtype(dtype, settings, sec.notes))
    sec.notes.append("forward (numpy): the loss alone, no derivative; hand-written: loss "
                     "and gradient by explicit backprop; torch: torch.autograd.grad on CPU")
    return sec


def adkit_callables() -> dict:
    out = {}
    for dtype in (np.float64, np.float32):
        params, X, Y = make_data(dtype)
        g = adkit.grad(loss_np)
        out[f"mlp grad {np.dtype(dtype).name}"] = (lambda g=g, a=(params, X, Y): g(*a), 1)
    return out


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings(quick=True))))
