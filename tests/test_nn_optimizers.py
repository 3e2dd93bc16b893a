"""adkit.nn.optimizers and adkit.nn.schedules.

Each update rule is checked step by step against a plain float64 transcription
of its published formula (and against PyTorch when it is installed); each
optimizer then minimises a convex quadratic and the Rosenbrock function with
gradients (and, for ESGD, Hessian-vector products) from adkit. The rest pins the
machinery: state save/resume, configs, names, errors, clipping, noise, dtypes,
schedules, and that the hot loop does not allocate."""

import doctest
import io
import json
import math
import tracemalloc

import numpy as np
import pytest

import adkit
from adkit.nn import optimizers as O
from adkit.nn import schedules as S

SHAPES = [(3, 2), (4,)]


def problem(steps=6, seed=0):
    """Initial params and a fixed sequence of gradients (independent of the params:
    the tests compare update rules, not training)."""
    rng = np.random.default_rng(seed)
    x0 = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return x0, grads


def trajectory(opt, x0, grads, dtype=np.float64, hvp=None):
    x = [np.array(a, dtype=dtype) for a in x0]
    out = []
    for g in grads:
        opt.apply_gradients(x, g, hvp=None if hvp is None else (lambda vs: hvp(x, vs)))
        out.append([a.copy() for a in x])
    return out


# ---- plain references: the published formulas, one line each, in float64 --------

def ref_sgd(x0, grads, lr, momentum=0.0, nesterov=False):
    x, m, out = [a.copy() for a in x0], [np.zeros_like(a) for a in x0], []
    for g in grads:
        for i in range(len(x)):
            m[i] = momentum * m[i] - lr * g[i]
            x[i] = x[i] + (momentum * m[i] - lr * g[i] if nesterov else m[i])
        out.append([a.copy() for a in x])
    return out


def ref_adagrad(x0, grads, lr, init, eps):
    x, G, out = [a.copy() for a in x0], [np.full_like(a, init) for a in x0], []
    for g in grads:
        for i in range(len(x)):
            G[i] = G[i] + g[i] ** 2
            x[i] = x[i] - lr * g[i] / np.sqrt(G[i] + eps)
        out.append([a.copy() for a in x])
    return out


def ref_rmsprop(x0, grads, lr, rho, momentum, eps, centered):
    x, out = [a.copy() for a in x0], []
    v, a_, m = ([np.zeros_like(a) for a in x0] for _ in range(3))
    for g in grads:
        for i in range(len(x)):
            v[i] = rho * v[i] + (1 - rho) * g[i] ** 2
            a_[i] = rho * a_[i] + (1 - rho) * g[i]
            denom = v[i] - a_[i] ** 2 if centered else v[i]
            step = lr * g[i] / np.sqrt(denom + eps)
            m[i] = momentum * m[i] + step
            x[i] = x[i] - (m[i] if momentum else step)
        out.append([a.copy() for a in x])
    return out


def ref_adadelta(x0, grads, lr, rho, eps):
    x, out = [a.copy() for a in x0], []
    Eg2, Edx2 = [np.zeros_like(a) for a in x0], [np.zeros_like(a) for a in x0]
    for g in grads:
        for i in range(len(x)):
            Eg2[i] = rho * Eg2[i] + (1 - rho) * g[i] ** 2
            dx = -np.sqrt(Edx2[i] + eps) / np.sqrt(Eg2[i] + eps) * g[i]
            Edx2[i] = rho * Edx2[i] + (1 - rho) * dx ** 2
            x[i] = x[i] + lr * dx
        out.append([a.copy() for a in x])
    return out


def ref_adam(x0, grads, lr, b1, b2, eps, amsgrad=False):
    x, out = [a.copy() for a in x0], []
    m, v, vmax = ([np.zeros_like(a) for a in x0] for _ in range(3))
    for t, g in enumerate(grads, start=1):
        for i in range(len(x)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            vmax[i] = np.maximum(vmax[i], v[i])
            vv = vmax[i] if amsgrad else v[i]
            x[i] = x[i] - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[i] / (np.sqrt(vv) + eps)
        out.append([a.copy() for a in x])
    return out


def ref_adamax(x0, grads, lr, b1, b2, eps):
    x, out = [a.copy() for a in x0], []
    m, u = [np.zeros_like(a) for a in x0], [np.zeros_like(a) for a in x0]
    for t, g in enumerate(grads, start=1):
        for i in range(len(x)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            u[i] = np.maximum(b2 * u[i], np.abs(g[i]))
            x[i] = x[i] - lr / (1 - b1 ** t) * m[i] / (u[i] + eps)
        out.append([a.copy() for a in x])
    return out


def ref_nadam(x0, grads, lr, b1, b2, eps, decay):
    x, out = [a.copy() for a in x0], []
    m, v = [np.zeros_like(a) for a in x0], [np.zeros_like(a) for a in x0]
    mu = lambda t: b1 * (1 - 0.5 * 0.96 ** (t * decay))  # noqa: E731
    prod = 1.0
    for t, g in enumerate(grads, start=1):
        prod *= mu(t)
        for i in range(len(x)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            m_bar = (mu(t + 1) * m[i] / (1 - prod * mu(t + 1))
                     + (1 - mu(t)) * g[i] / (1 - prod))
            x[i] = x[i] - lr * m_bar / (np.sqrt(v[i] / (1 - b2 ** t)) + eps)
        out.append([a.copy() for a in x])
    return out


def ref_rprop(x0, grads, lr, etas, step_sizes):
    """iRprop-, one scalar at a time."""
    x = [a.copy() for a in x0]
    prev = [np.zeros_like(a) for a in x0]
    step = [np.full_like(a, lr) for a in x0]
    out = []
    for g in grads:
        for i in range(len(x)):
            for j in np.ndindex(x[i].shape):
                gj = g[i][j]
                s = gj * prev[i][j]
                if s > 0:
                    step[i][j] = min(step[i][j] * etas[1], step_sizes[1])
                elif s < 0:
                    step[i][j] = max(step[i][j] * etas[0], step_sizes[0])
                    gj = 0.0
                x[i][j] -= np.sign(gj) * step[i][j]
                prev[i][j] = gj
        out.append([a.copy() for a in x])
    return out


def ref_esgd(x0, grads, lr, rho, eps, every, seed, H):
    """D from (H v)**2 with v drawn, parameter by parameter, from default_rng(seed)."""
    x, out = [a.copy() for a in x0], []
    D = [np.zeros_like(a) for a in x0]
    rng, k = np.random.default_rng(seed), 0
    for t, g in enumerate(grads):
        if t % every == 0:
            vs = [rng.standard_normal(a.shape) for a in x]
            k += 1
            for i in range(len(x)):
                D[i] = rho * D[i] + (1 - rho) * (H[i] * vs[i]) ** 2
        for i in range(len(x)):
            x[i] = x[i] - lr * g[i] / (np.sqrt(D[i] / (1 - rho ** k)) + eps)
        out.append([a.copy() for a in x])
    return out


H_DIAG = [np.linspace(0.5, 3.0, 6).reshape(3, 2), np.array([1.0, -2.0, 4.0, 0.1])]


def diag_hvp(x, vs):
    return [h * v for h, v in zip(H_DIAG, vs)]


CASES = {
    "sgd": (lambda: O.SGD(0.1), lambda x, g: ref_sgd(x, g, 0.1)),
    "sgd-momentum": (lambda: O.SGD(0.1, momentum=0.9),
                     lambda x, g: ref_sgd(x, g, 0.1, 0.9)),
    "nesterov": (lambda: O.SGD(0.1, momentum=0.8, nesterov=True),
                 lambda x, g: ref_sgd(x, g, 0.1, 0.8, True)),
    "adagrad": (lambda: O.Adagrad(0.1), lambda x, g: ref_adagrad(x, g, 0.1, 0.1, 1e-7)),
    "rmsprop": (lambda: O.RMSprop(0.01), lambda x, g: ref_rmsprop(x, g, 0.01, 0.9, 0, 1e-7, False)),
    "rmsprop-centered-momentum": (
        lambda: O.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=1e-3, centered=True),
        lambda x, g: ref_rmsprop(x, g, 0.01, 0.8, 0.5, 1e-3, True)),
    "adadelta": (lambda: O.Adadelta(), lambda x, g: ref_adadelta(x, g, 1.0, 0.95, 1e-7)),
    "adam": (lambda: O.Adam(0.01), lambda x, g: ref_adam(x, g, 0.01, 0.9, 0.999, 1e-7)),
    "amsgrad": (lambda: O.Adam(0.01, beta_1=0.5, beta_2=0.6, amsgrad=True),
                lambda x, g: ref_adam(x, g, 0.01, 0.5, 0.6, 1e-7, True)),
    "adamax": (lambda: O.Adamax(), lambda x, g: ref_adamax(x, g, 0.002, 0.9, 0.999, 1e-7)),
    "nadam": (lambda: O.Nadam(), lambda x, g: ref_nadam(x, g, 0.002, 0.9, 0.999, 1e-7, 0.004)),
    "nadam-keras3": (lambda: O.Nadam(0.001, schedule_decay=1.0),
                     lambda x, g: ref_nadam(x, g, 0.001, 0.9, 0.999, 1e-7, 1.0)),
    "rprop": (lambda: O.Rprop(0.05, step_sizes=(0.01, 0.07)),
              lambda x, g: ref_rprop(x, g, 0.05, (0.5, 1.2), (0.01, 0.07))),
    "esgd": (lambda: O.ESGD(0.1, seed=3), lambda x, g: ref_esgd(x, g, 0.1, 0.9, 1e-4, 1, 3, H_DIAG)),
    "esgd-every-2": (lambda: O.ESGD(0.1, rho=0.5, update_every=2, seed=4),
                     lambda x, g: ref_esgd(x, g, 0.1, 0.5, 1e-4, 2, 4, H_DIAG)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_published_update(case):
    make, ref = CASES[case]
    x0, grads = problem(steps=8)
    opt = make()
    got = trajectory(opt, x0, grads, hvp=diag_hvp if opt.needs_hvp else None)
    want = ref(x0, grads)
    for t, (g_t, w_t) in enumerate(zip(got, want)):
        for a, b in zip(g_t, w_t):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{case} step {t + 1}")
    assert opt.iterations == len(grads)


def test_rprop_reference_really_flips_signs():
    # the Rprop case above must exercise growth, shrinkage, both clips and the
    # "forget the gradient after a flip" branch, or it proves little
    x0, grads = problem(steps=8)
    products = [grads[t][0] * grads[t + 1][0] for t in range(7)]
    assert any((p > 0).any() for p in products) and any((p < 0).any() for p in products)
    opt, x, seen = O.Rprop(0.05, step_sizes=(0.01, 0.07)), [a.copy() for a in x0], []
    for g in grads:
        opt.apply_gradients(x, g)
        seen += [s.ravel() for k, s in opt.variables().items() if k.startswith("step_size")]
    seen = np.concatenate(seen)
    assert np.isclose(seen.max(), 0.07) and np.isclose(seen.min(), 0.01)


# ---- PyTorch, when installed, as an independent implementation -----------------

def torch_cases(torch):
    """(ours, theirs): epsilons are set where both put them identically (0 for the
    Adam family, whose "epsilon hat" sits elsewhere in PyTorch)."""
    t = torch.optim
    return {
        "sgd-momentum": (lambda: O.SGD(0.1, momentum=0.9), lambda p: t.SGD(p, lr=0.1, momentum=0.9)),
        "nesterov": (lambda: O.SGD(0.1, momentum=0.8, nesterov=True),
                     lambda p: t.SGD(p, lr=0.1, momentum=0.8, nesterov=True)),
        "adagrad": (lambda: O.Adagrad(0.1, epsilon=0.0),
                    lambda p: t.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0)),
        "rmsprop": (lambda: O.RMSprop(0.01, momentum=0.5, centered=True, epsilon=0.0),
                    lambda p: t.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True, eps=0.0)),
        "adadelta": (lambda: O.Adadelta(1.0, rho=0.9, epsilon=1e-6),
                     lambda p: t.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6)),
        "adam": (lambda: O.Adam(0.01, epsilon=0.0), lambda p: t.Adam(p, lr=0.01, eps=0.0)),
        "amsgrad": (lambda: O.Adam(0.01, epsilon=0.0, amsgrad=True),
                    lambda p: t.Adam(p, lr=0.01, eps=0.0, amsgrad=True)),
        "adamax": (lambda: O.Adamax(epsilon=0.0), lambda p: t.Adamax(p, lr=0.002, eps=0.0)),
        "nadam": (lambda: O.Nadam(epsilon=0.0), lambda p: t.NAdam(p, lr=0.002, eps=0.0)),
        "rprop": (lambda: O.Rprop(0.05, step_sizes=(0.01, 0.07)),
                  lambda p: t.Rprop(p, lr=0.05, step_sizes=(0.01, 0.07))),
    }


@pytest.mark.parametrize("case", ["sgd-momentum", "nesterov", "adagrad", "rmsprop", "adadelta",
                                  "adam", "amsgrad", "adamax", "nadam", "rprop"])
def test_matches_pytorch(case):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional cross-check)")
    ours, theirs = torch_cases(torch)[case]
    x0, grads = problem(steps=8)
    got = trajectory(ours(), x0, grads)
    tp = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in x0]
    opt = theirs(tp)
    for t, g in enumerate(grads):
        for p, gi in zip(tp, g):
            p.grad = torch.tensor(gi, dtype=torch.float64)
        opt.step()
        for a, p in zip(got[t], tp):
            # 1e-8, not 1e-12: PyTorch keeps its step counter (hence NAdam's mu) in float32
            np.testing.assert_allclose(a, p.detach().numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=f"{case} step {t + 1}")


# ---- they minimise things ------------------------------------------------------

_rng = np.random.default_rng(0)
_Q = np.linalg.qr(_rng.standard_normal((4, 4)))[0]
A = _Q @ np.diag([1.0, 2.0, 5.0, 10.0]) @ _Q.T  # condition number 10
C = np.array([1.0, -2.0, 0.5, 3.0])


def quadratic(x):
    return 0.5 * (x - C) @ A @ (x - C)


def rosenbrock(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


def minimise(f, x0, opt, max_steps, done):
    """Steps until done(x) or max_steps; gradients and H v from adkit."""
    grad, x = adkit.grad(f), np.array(x0, dtype=float)
    hvp = (lambda vs: [adkit.hvp(f, (x,), (vs[0],))]) if opt.needs_hvp else None
    for k in range(1, max_steps + 1):
        opt.apply_gradients([x], [grad(x)], hvp=hvp)
        if done(x):
            return k, x
    return None, x


# (optimizer, step budget); the budgets are about 1.5-2x what these settings need
QUADRATIC = {
    "sgd": (lambda: O.SGD(0.1), 200),
    "nag": (lambda: O.get("nag"), 300),
    "adagrad": (lambda: O.Adagrad(1.0), 200),
    # constant-rate RMSprop and Adam hover at a distance ~lr: anneal them
    "rmsprop": (lambda: O.RMSprop(S.InverseTimeDecay(0.1, 10, 1.0)), 1500),
    "adadelta": (lambda: O.Adadelta(epsilon=1e-3), 300),  # eps sets its first step sizes
    "adam": (lambda: O.Adam(S.ExponentialDecay(0.1, 100, 0.5)), 1500),
    "adamax": (lambda: O.Adamax(0.1), 1000),
    "nadam": (lambda: O.Nadam(0.1), 400),
    "rprop": (lambda: O.Rprop(0.1), 100),
    "esgd": (lambda: O.ESGD(0.5, seed=0), 100),
}


@pytest.mark.parametrize("name", list(QUADRATIC))
def test_minimises_convex_quadratic(name):
    make, budget = QUADRATIC[name]
    steps, x = minimise(quadratic, np.zeros(4), make(), budget,
                        lambda x: np.abs(x - C).max() < 1e-3)
    assert steps is not None, f"{name}: |x - x*| = {np.abs(x - C).max():.3g} after {budget} steps"


# (optimizer, target f, step budget) from (-1.2, 1), where f = 24.2; f < 1e-4 means
# |x - (1, 1)| of about 1e-2 along the valley floor
ROSENBROCK = {
    "sgd-momentum": (lambda: O.SGD(1e-3, momentum=0.9), 1e-4, 2000),
    "nag": (lambda: O.SGD(1e-3, momentum=0.9, nesterov=True), 1e-4, 2000),
    "adagrad": (lambda: O.Adagrad(1.0), 1e-4, 6000),
    "rmsprop": (lambda: O.RMSprop(S.InverseTimeDecay(0.01, 100, 1.0)), 1e-4, 5000),
    # Adadelta's unit-free steps start at sqrt(epsilon) and crawl along the
    # curved valley; it gets there, slowly
    "adadelta": (lambda: O.Adadelta(), 0.1, 2500),
    "adam": (lambda: O.Adam(0.05), 1e-4, 2500),
    "adamax": (lambda: O.Adamax(0.05), 1e-4, 5000),
    "nadam": (lambda: O.Nadam(0.01), 1e-4, 5000),
    "rprop": (lambda: O.Rprop(0.01), 1e-4, 4000),
    # a diagonal preconditioner cannot undo the valley's rotation: SGD-like speed there
    "esgd": (lambda: O.ESGD(1.0, seed=0), 1e-2, 2000),
}


@pytest.mark.parametrize("name", list(ROSENBROCK))
def test_minimises_rosenbrock(name):
    make, target, budget = ROSENBROCK[name]
    steps, x = minimise(rosenbrock, [-1.2, 1.0], make(), budget, lambda x: rosenbrock(x) < target)
    assert steps is not None, f"{name}: f = {rosenbrock(x):.3g} at {x} after {budget} steps"


# ---- dtypes and the hot loop ----------------------------------------------------

ALL = ["sgd", "nag", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "nadam", "rprop", "esgd"]


@pytest.mark.parametrize("name", ALL)
def test_float32_stays_float32(name):
    x0, grads = problem()
    opt32, opt64 = O.get(name), O.get(name)
    hvp = diag_hvp if opt32.needs_hvp else None
    got = trajectory(opt32, x0, grads, np.float32, hvp=hvp)  # float64 grads, cast on the way in
    want = trajectory(opt64, x0, grads, np.float64, hvp=hvp)
    assert all(a.dtype == np.float32 for a in got[-1])
    assert all(v.dtype == np.float32 for k, v in opt32.variables().items()
               if "/" in k), {k: v.dtype for k, v in opt32.variables().items()}
    if opt32.needs_hvp:
        return  # float32 probe vectors come from a different stream than float64 ones
    for a, b in zip(got[-1], want[-1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["sgd", "nag", "adagrad", "rmsprop", "adadelta", "adam",
                                  "adamax", "nadam"])
def test_step_allocates_nothing_big(name):
    # the update is in-place: after the first call (slots, scratch), a step on a
    # 200k-float32 tensor must not allocate anything near a tensor's size
    p = np.ones(200_000, np.float32)
    g = np.full(200_000, 0.5, np.float32)
    opt = O.get(name)
    opt.apply_gradients([p], [g])
    tracemalloc.start()
    try:
        opt.apply_gradients([p], [g])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.nbytes // 20, f"{name} allocated {peak} bytes in one step"


def test_grads_are_not_modified():
    x0, grads = problem(steps=1)
    before = [g.copy() for g in grads[0]]
    for name in ALL:
        opt = O.get(name)
        opt.clipvalue, opt.clipnorm = 0.5, 0.3
        trajectory(opt, x0, grads, hvp=diag_hvp if opt.needs_hvp else None)
    for g, b in zip(grads[0], before):
        np.testing.assert_array_equal(g, b)


# ---- state: save, resume, configs, names ------------------------------------------

RESUMABLE = {
    "sgd-nesterov": lambda: O.SGD(0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: O.Adagrad(0.1),
    "rmsprop": lambda: O.RMSprop(0.01, momentum=0.5, centered=True),
    "adadelta": lambda: O.Adadelta(),
    "adam-noise": lambda: O.Adam(0.01, amsgrad=True, gradient_noise=(0.1, 0.55), seed=7),
    "adamax": lambda: O.Adamax(),
    "nadam": lambda: O.Nadam(S.StepDecay(0.01, 2, 0.5)),
    "rprop": lambda: O.Rprop(0.05),
    "esgd": lambda: O.ESGD(0.1, update_every=2, seed=1, clipnorm=1.0),
}


@pytest.mark.parametrize("name", list(RESUMABLE))
def test_save_and_resume_is_exact(name):
    x0, grads = problem(steps=7)
    hvp = diag_hvp if RESUMABLE[name]().needs_hvp else None
    straight = trajectory(RESUMABLE[name](), x0, grads, hvp=hvp)[-1]

    first = RESUMABLE[name]()
    x_mid = trajectory(first, x0, grads[:3], hvp=hvp)[-1]
    buf = io.BytesIO()
    np.savez(buf, **first.variables())
    saved_config = json.dumps(O.serialize(first))
    buf.seek(0)
    with np.load(buf) as f:
        state = {k: f[k] for k in f.files}
    second = O.get(json.loads(saved_config))
    assert type(second) is type(first) and second.get_config() == first.get_config()
    second.set_variables(state)
    resumed = trajectory(second, x_mid, grads[3:], hvp=hvp)[-1]
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a, b)


def test_variables_names_and_lazy_slots():
    opt = O.Adam(amsgrad=True)
    assert list(opt.variables()) == ["iterations"]  # nothing allocated before the first step
    x = [np.zeros((2, 3), np.float32), np.zeros(4, np.float32)]
    opt.apply_gradients(x, [np.ones((2, 3)), np.ones(4)])
    v = opt.variables()
    assert sorted(v) == ["iterations", "momentum/0", "momentum/1", "velocity/0", "velocity/1",
                         "velocity_hat/0", "velocity_hat/1"]
    assert v["iterations"] == 1 and v["momentum/0"].shape == (2, 3)
    v["momentum/0"][...] = 99  # a copy, not the live slot
    assert opt.variables()["momentum/0"].max() < 1
    assert "rng_state" in O.SGD(gradient_noise=0.1).variables()
    assert "u_product" in O.Nadam().variables()


def test_set_variables_rejects_bad_state_and_changes_nothing():
    opt = O.Adam()
    x = [np.zeros((2, 3)), np.zeros(4)]
    opt.apply_gradients(x, [np.ones((2, 3)), np.ones(4)])
    good = opt.variables()
    bad_shape = dict(good, **{"velocity/1": np.zeros(5)})
    with pytest.raises(ValueError, match=r"'velocity/1' has shape \(5,\).*\(4,\)"):
        opt.set_variables(bad_shape)
    with pytest.raises(ValueError, match="missing slot arrays.*momentum/1"):
        opt.set_variables({k: v for k, v in good.items() if k != "momentum/1"})
    with pytest.raises(ValueError, match="unexpected key 'accumulator/0'"):
        opt.set_variables(dict(good, **{"accumulator/0": np.zeros((2, 3))}))
    with pytest.raises(ValueError, match="missing 'iterations'"):
        opt.set_variables({k: v for k, v in good.items() if k != "iterations"})
    with pytest.raises(ValueError, match="state for 1 parameters but this optimizer has 2"):
        opt.set_variables({"iterations": 1, "momentum/0": np.zeros((2, 3)),
                           "velocity/0": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="'iterations' must be an integer >= 0"):
        opt.set_variables(dict(good, iterations=-1))
    with pytest.raises(ValueError, match="missing 'rng_state'"):
        O.SGD(gradient_noise=0.1).set_variables({"iterations": 0})
    after = opt.variables()
    assert after.keys() == good.keys() and all(np.array_equal(after[k], good[k]) for k in good)
    # a checkpoint for another model fails at the first step, naming the slot
    fresh = O.Adam()
    fresh.set_variables(good)
    with pytest.raises(ValueError, match=r"slot 'momentum/0' has shape \(2, 3\) but params\[0\]"):
        fresh.apply_gradients([np.zeros((3, 2)), np.zeros(4)], [np.zeros((3, 2)), np.zeros(4)])


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip(name):
    opt = O.get(name)
    opt.learning_rate = S.PiecewiseConstantDecay([5, 10], [0.1, 0.05, 0.01])
    opt.clipvalue = 2.0
    config = json.loads(json.dumps(opt.get_config()))
    back = type(opt).from_config(config)
    assert back.get_config() == opt.get_config()
    assert back.learning_rate == opt.learning_rate and back.name == opt.name


def test_get_names():
    expect = {"sgd": O.SGD, "adagrad": O.Adagrad, "rmsprop": O.RMSprop, "adadelta": O.Adadelta,
              "adam": O.Adam, "adamax": O.Adamax, "nadam": O.Nadam, "rprop": O.Rprop,
              "esgd": O.ESGD}
    for name, cls in expect.items():
        assert type(O.get(name)) is cls and type(O.get(name.upper())) is cls
    assert type(O.get("RMSProp")) is O.RMSprop
    nag = O.get("NAG")
    assert (type(nag), nag.momentum, nag.nesterov, nag.learning_rate) == (O.SGD, 0.9, True, 0.01)
    opt = O.Adam(0.5)
    assert O.get(opt) is opt
    assert O.get({"class_name": "adam", "config": {"learning_rate": 0.5}}).learning_rate == 0.5
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamq'; valid names: \['adadelta'"):
        O.get("adamq")
    with pytest.raises(ValueError, match="unknown optimizer class_name 'os.system'"):
        O.get({"class_name": "os.system", "config": {}})
    with pytest.raises(ValueError, match=r"unknown arguments \['beta_3'\]"):
        O.get({"class_name": "Adam", "config": {"beta_3": 0.5}})
    with pytest.raises(ValueError, match="cannot make an optimizer from int"):
        O.get(3)


def test_keras_defaults():
    # the defaults this module promises (see the class docstrings for where
    # Keras versions differ)
    assert O.SGD().get_config()["learning_rate"] == 0.01
    assert (O.Adagrad().learning_rate, O.Adagrad().initial_accumulator_value) == (0.001, 0.1)
    assert (O.RMSprop().learning_rate, O.RMSprop().rho, O.RMSprop().epsilon) == (0.001, 0.9, 1e-7)
    assert (O.Adadelta().learning_rate, O.Adadelta().rho) == (1.0, 0.95)
    assert (O.Adam().learning_rate, O.Adam().beta_1, O.Adam().beta_2) == (0.001, 0.9, 0.999)
    assert O.Adamax().learning_rate == 0.002 and O.Nadam().learning_rate == 0.002
    assert (O.Rprop().learning_rate, O.Rprop().etas, O.Rprop().step_sizes) == \
        (0.001, (0.5, 1.2), (1e-6, 50.0))
    esgd = O.ESGD()
    assert (esgd.rho, esgd.epsilon, esgd.update_every, esgd.needs_hvp) == (0.9, 1e-4, 1, True)
    assert not O.Adam().needs_hvp


# ---- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: O.SGD(-0.1), r"SGD: learning_rate must be a finite float in \[0, inf\], got -0.1"),
    (lambda: O.Adam(float("nan")), "Adam: learning_rate must be a finite float"),
    (lambda: O.Adam(float("inf")), "learning_rate must be a finite float"),
    (lambda: O.Adam("fast"), "learning_rate must be a finite float"),
    (lambda: O.RMSprop(rho=1.0), r"RMSprop: rho must be a finite float in \[0, 1\), got 1.0"),
    (lambda: O.Adadelta(rho=-0.1), r"rho must be a finite float in \[0, 1\)"),
    (lambda: O.ESGD(rho=1.5), r"ESGD: rho must be"),
    (lambda: O.Adam(beta_1=1.0), r"beta_1 must be a finite float in \[0, 1\)"),
    (lambda: O.Nadam(beta_2=-1), r"beta_2 must be"),
    (lambda: O.SGD(momentum=1.5), r"momentum must be a finite float in \[0, 1\]"),
    (lambda: O.Adam(epsilon=-1e-7), r"epsilon must be a finite float in \[0, inf\]"),
    (lambda: O.Adagrad(initial_accumulator_value=-1), "initial_accumulator_value must be"),
    (lambda: O.SGD(clipnorm=1.0, global_clipnorm=1.0), "clipnorm .* or global_clipnorm .* not both"),
    (lambda: O.SGD(clipnorm=0.0), r"clipnorm must be a finite float in \(0, inf\]"),
    (lambda: O.SGD(clipvalue=-1.0), "clipvalue must be"),
    (lambda: O.SGD(gradient_noise=-0.1), "gradient_noise eta must be"),
    (lambda: O.SGD(gradient_noise=(0.1, 0.5, 2)), r"gradient_noise \(eta, gamma\) must be a pair"),
    (lambda: O.SGD(seed=-1), "seed must be an integer >= 0"),
    (lambda: O.Rprop(etas=(1.5, 1.2)), r"etas\[0\] \(the decrease factor\) must be .* \(0, 1\)"),
    (lambda: O.Rprop(etas=(0.5, 0.9)), r"etas\[1\] \(the increase factor\) must be .* \(1, inf\]"),
    (lambda: O.Rprop(step_sizes=(1.0, 0.5)), r"step_sizes\[1\] \(the largest step\) must be .*\[1, inf\]"),
    (lambda: O.ESGD(update_every=0), "update_every must be an integer >= 1"),
])
def test_invalid_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_learning_rate_setter_and_schedule_output_are_checked():
    opt = O.SGD()
    with pytest.raises(ValueError, match="learning_rate must be a finite float"):
        opt.learning_rate = -1.0
    opt.learning_rate = lambda step: -1.0
    with pytest.raises(ValueError, match="schedule .* returned -1.0 at step 0"):
        opt.apply_gradients([np.zeros(1)], [np.zeros(1)])
    with pytest.raises(TypeError, match="plain callables cannot be saved"):
        opt.get_config()


def test_apply_gradients_errors():
    opt = O.Adam()
    with pytest.raises(ValueError, match="got 2 params but 1 grads"):
        opt.apply_gradients([np.zeros(2), np.zeros(3)], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(4,\) but params\[1\] has shape \(3,\)"):
        opt.apply_gradients([np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(4)])
    with pytest.raises(ValueError, match=r"params\[0\] must be a floating-point numpy array .* got list"):
        opt.apply_gradients([[0.0, 1.0]], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"params\[0\] must be a floating-point .* of int64"):
        opt.apply_gradients([np.zeros(2, np.int64)], [np.zeros(2)])
    ro = np.zeros(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.apply_gradients([ro], [np.zeros(2)])
    assert opt.iterations == 0 and list(opt.variables()) == ["iterations"]
    opt.apply_gradients([np.zeros(2)], [np.ones(2)])
    with pytest.raises(ValueError, match="holds state for 1 parameters but got 2"):
        opt.apply_gradients([np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(3)])


def test_a_changed_set_of_parameters_keeps_each_ones_state_by_identity():
    """Freezing a layer between fits hands the optimizer fewer parameters: each keeps its
    slots, a left-out one's are set aside until it trains again, a new one starts fresh;
    parameters it never updated are another model's (an error)."""
    a, b, c = np.zeros(2), np.zeros(3), np.zeros(1)
    ga, gb, gc = np.ones(2), np.full(3, -1.0), np.full(1, 2.0)
    opt = O.Adam(0.1)   # beta_1 = 0.9: momentum m <- 0.9 m + 0.1 g
    opt.apply_gradients([a, b], [ga, gb])
    opt.apply_gradients([b], [gb])                 # a frozen
    np.testing.assert_allclose(opt.variables()["momentum/0"], 0.19 * gb, rtol=1e-12)
    opt.apply_gradients([a, b, c], [ga, gb, gc])   # a back, c new
    moments = opt.variables()
    np.testing.assert_allclose(moments["momentum/0"], 0.19 * ga, rtol=1e-12)
    np.testing.assert_allclose(moments["momentum/1"], 0.271 * gb, rtol=1e-12)
    np.testing.assert_allclose(moments["momentum/2"], 0.1 * gc, rtol=1e-12)
    with pytest.raises(ValueError, match="holds state for 3 parameters but got 1"):
        opt.apply_gradients([np.zeros(2)], [ga])
    # restored state (a loaded model's optimizer) goes by position, then by identity
    restored = O.Adam(0.1)
    restored.set_variables(opt.variables())
    restored.apply_gradients([a, b, c], [ga, gb, gc])
    restored.apply_gradients([b], [gb])
    np.testing.assert_allclose(restored.variables()["momentum/0"],
                               (0.271 * 0.9 + 0.1) * 0.9 * gb + 0.1 * gb, rtol=1e-12)


def test_esgd_needs_hvp():
    opt = O.ESGD()
    x = [np.zeros(3)]
    with pytest.raises(ValueError, match="ESGD needs Hessian-vector products; pass hvp="):
        opt.apply_gradients(x, [np.ones(3)])
    with pytest.raises(ValueError, match=r"hvp returned shape \(2,\) for params\[0\] of shape \(3,\)"):
        opt.apply_gradients(x, [np.ones(3)], hvp=lambda vs: [np.zeros(2)])
    with pytest.raises(ValueError, match="hvp returned 2 arrays for 1 params"):
        opt.apply_gradients(x, [np.ones(3)], hvp=lambda vs: [vs[0], vs[0]])
    assert opt.iterations == 0 and not opt.variables()["equilibration/0"].any()


# ---- gradient transforms -----------------------------------------------------------

def one_sgd_step(grads, **kwargs):
    """The gradients after the transforms: SGD with rate 1 from zero gives -g."""
    x = [np.zeros_like(np.asarray(g, dtype=float)) for g in grads]
    O.SGD(1.0, **kwargs).apply_gradients(x, grads)
    return [-a for a in x]


def test_clipvalue_clipnorm_global_clipnorm():
    g = [np.array([3.0, -4.0]), np.array([0.5, 12.0])]  # norms 5 and 12.0104..., joint 13.0096...
    np.testing.assert_allclose(one_sgd_step(g, clipvalue=1.0)[0], [1.0, -1.0])
    np.testing.assert_allclose(one_sgd_step(g, clipvalue=1.0)[1], [0.5, 1.0])
    got = one_sgd_step(g, clipnorm=6.0)
    np.testing.assert_allclose(got[0], g[0])  # under the limit: untouched
    np.testing.assert_allclose(got[1], g[1] * 6.0 / np.linalg.norm(g[1]))
    got = one_sgd_step(g, global_clipnorm=6.5)
    joint = math.sqrt(25 + 0.25 + 144)
    for a, b in zip(got, g):
        np.testing.assert_allclose(a, b * 6.5 / joint)
    assert one_sgd_step(g, global_clipnorm=100.0)[1][1] == 12.0
    # clipvalue first, then the norm of what is left
    got = one_sgd_step(g, clipvalue=1.0, clipnorm=1.0)
    np.testing.assert_allclose(got[0], np.array([1.0, -1.0]) / math.sqrt(2))


def test_gradient_noise_is_seeded_and_annealed():
    zero = [np.zeros(200_000)]
    a = one_sgd_step(zero, gradient_noise=0.5, seed=3)[0]
    b = one_sgd_step(zero, gradient_noise=0.5, seed=3)[0]
    c = one_sgd_step(zero, gradient_noise=0.5, seed=4)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(a.std() / math.sqrt(0.5) - 1) < 0.01 and abs(a.mean()) < 0.01
    # variance eta / (1 + t) ** gamma at step t = iterations
    opt, x = O.SGD(1.0, gradient_noise=(0.5, 0.55), seed=0), np.zeros(200_000)
    for t in range(10):
        before = x.copy()
        opt.apply_gradients([x], [np.zeros_like(x)])
    assert abs((before - x).std() / math.sqrt(0.5 / 10 ** 0.55) - 1) < 0.01
    x32 = [np.zeros(5, np.float32)]
    O.SGD(gradient_noise=1.0, seed=0).apply_gradients(x32, [np.zeros(5, np.float32)])
    assert x32[0].dtype == np.float32 and x32[0].any()


# ---- schedules ---------------------------------------------------------------------

def test_schedule_formulas():
    e = S.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.1)
    assert [e(s) for s in (0, 2, 4)] == pytest.approx([0.5, 0.5 * 0.1 ** 0.5, 0.05])
    assert S.ExponentialDecay(0.5, 4, 0.1, staircase=True)(7) == pytest.approx(0.05)
    i = S.InverseTimeDecay(1.0, decay_steps=10, decay_rate=0.5)
    assert [i(s) for s in (0, 10, 15)] == pytest.approx([1.0, 1 / 1.5, 1 / 1.75])
    assert S.InverseTimeDecay(1.0, 10, 0.5, staircase=True)(19) == pytest.approx(1 / 1.5)
    st = S.StepDecay(0.1, drop_every=3, factor=0.5)
    assert [st(s) for s in range(7)] == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025])
    pw = S.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.25])
    assert [pw(s) for s in range(6)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


def test_optimizer_reads_schedule_at_iterations():
    x, opt = np.zeros(1), O.SGD(S.StepDecay(1.0, drop_every=2, factor=0.5))
    moves = []
    for _ in range(5):
        assert opt.current_learning_rate() == S.StepDecay(1.0, 2, 0.5)(opt.iterations)
        before = x.copy()
        opt.apply_gradients([x], [np.ones(1)])
        moves.append(float(before[0] - x[0]))
    assert moves == [1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("schedule", [S.ExponentialDecay(0.1, 10, 0.9, staircase=True),
                                      S.InverseTimeDecay(0.1, 10, 0.9),
                                      S.StepDecay(0.1, 5, 0.3),
                                      S.PiecewiseConstantDecay([3], [0.1, 0.01])])
def test_schedule_config_round_trip(schedule):
    back = S.get(json.loads(json.dumps(S.serialize(schedule))))
    assert back == schedule and [back(s) for s in range(20)] == [schedule(s) for s in range(20)]
    assert S.get(schedule) is schedule


def test_schedule_errors():
    with pytest.raises(ValueError, match="values must have one more entry than boundaries"):
        S.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="boundaries must be strictly increasing"):
        S.PiecewiseConstantDecay([2, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        S.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="initial_learning_rate must be a finite float >= 0"):
        S.InverseTimeDecay(-0.1, 10, 0.5)
    with pytest.raises(ValueError, match="drop_every must be an integer >= 1"):
        S.StepDecay(0.1, 0.5, 0.5)
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        S.StepDecay(0.1, 2, 0.5)(-1)
    with pytest.raises(ValueError, match=r"unknown schedule 'OneCycleDecay'; valid class names: \["):
        S.get({"class_name": "OneCycleDecay", "config": {}})


def test_docstring_examples():
    for module in (O, S):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
