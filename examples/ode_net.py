"""A neural ODE: the dynamics of a system learned from one trajectory, through scipy's odeint.

The data (autograd's ode_net.py, the same numbers) are 30 points, t in [0, 1.5],
of a two-dimensional damped cubic oscillator dy/dt = (y ** 3) A started at
y(0) = (2, 0). The model replaces the right-hand side by a small network,
dy/dt = MLP(y) (2 -> 150 ReLU units -> 2), solves it with
`scipy.integrate.odeint`, imported at the top of this file as any SciPy user
would, and fits the network's weights to the trajectory by Adam on the mean
absolute error. adkit.grad differentiates through the solver by the adjoint
method: one backward ODE solve per gradient, not a derivative of each of the
solver's steps. autograd 1.9.1's ode_net.py, run from the same start, prints
the same training losses to 10 digits (AUTOGRAD_LOSSES below). The fit is slow at
autograd's step size: its own script runs 1000 steps (--iters 1000, a few minutes).

    python examples/ode_net.py
    python examples/ode_net.py --iters 300 --hidden 50
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from scipy.integrate import odeint

import adkit

#: autograd 1.9.1's examples/ode_net.py (same data, start and Adam), the training loss
#: its callback prints at these iterations (tools/autograd_suite/reference/ode_net_ref.py)
AUTOGRAD_LOSSES = {0: 1.3547018764, 10: 1.2383466241, 20: 1.2181083020, 30: 1.2106452527,
                   40: 1.2069584196, 50: 1.2034309513, 60: 1.1997303322, 70: 1.1957831263,
                   80: 1.1910665405, 90: 1.1865958110}
TRUE_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
Y0 = np.array([2.0, 0.0])


def cubic_oscillator(y, t, A):
    """The true dynamics: dy/dt = (y ** 3) A."""
    return np.dot(y ** 3, A)


def make_data(n_points: int = 30, t_max: float = 1.5):
    """The times and the true trajectory, shape (n_points, 2)."""
    t = np.linspace(0.0, t_max, n_points)
    return t, odeint(cubic_oscillator, Y0, t, args=(TRUE_A,))


def init_params(hidden: int = 150, scale: float = 0.1, seed: int = 0) -> list:
    """[(W1, b1), (W2, b2)] for a 2 -> hidden -> 2 network, in autograd's draw order."""
    rs = np.random.RandomState(seed)
    sizes = [2, hidden, 2]
    return [(rs.randn(n_in, n_out) * scale, rs.randn(n_out) * scale)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def network_field(y, t, params):
    """dy/dt as the network gives it: ReLU hidden layers, a linear output."""
    for W, b in params:
        out = np.dot(y, W) + b
        y = np.maximum(0.0, out)
    return out


def predict(params, t):
    """The model's trajectory from Y0: odeint of the network (params pass through args=)."""
    return odeint(network_field, Y0, t, args=(params,), rtol=0.01)


def loss(params, t, target):
    """Mean absolute error between the model's trajectory and the data."""
    return np.mean(np.abs(predict(params, t) - target))


def adam(gradient, params: list, iters: int, callback=None, step: float = 1e-3,
         b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> list:
    """Adam on a list of (W, b) pairs, autograd.misc.optimizers.adam's update exactly."""
    m = [tuple(np.zeros_like(a) for a in pair) for pair in params]
    v = [tuple(np.zeros_like(a) for a in pair) for pair in params]
    for i in range(iters):
        g = gradient(params)
        if callback:
            callback(params, i)
        new_params, new_m, new_v = [], [], []
        for p_pair, g_pair, m_pair, v_pair in zip(params, g, m, v):
            m_pair = tuple((1 - b1) * gi + b1 * mi for gi, mi in zip(g_pair, m_pair))
            v_pair = tuple((1 - b2) * gi ** 2 + b2 * vi for gi, vi in zip(g_pair, v_pair))
            new_params.append(tuple(
                p - step * (mi / (1 - b1 ** (i + 1))) / (np.sqrt(vi / (1 - b2 ** (i + 1))) + eps)
                for p, mi, vi in zip(p_pair, m_pair, v_pair)))
            new_m.append(m_pair)
            new_v.append(v_pair)
        params, m, v = new_params, new_m, new_v
    return params


def save_plot(path: str, params, t, target) -> bool:
    """The data and the learned trajectory, against t and in the phase plane; False
    without matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no display, no global state
    except ImportError:
        return False
    pred = predict(params, t)
    fig = Figure(figsize=(9, 4))
    ax_time, ax_phase = fig.subplots(1, 2)
    for k, colour in enumerate(("tab:blue", "tab:green")):
        ax_time.plot(t, target[:, k], "-", color=colour, label=f"y{k} data")
        ax_time.plot(t, pred[:, k], "--", color=colour, label=f"y{k} model")
    ax_time.set_xlabel("t")
    ax_time.legend()
    ax_phase.plot(target[:, 0], target[:, 1], "-", label="data")
    ax_phase.plot(pred[:, 0], pred[:, 1], "--", label="model")
    ax_phase.set_xlabel("y0")
    ax_phase.set_ylabel("y1")
    ax_phase.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=100, help="Adam steps")
    parser.add_argument("--hidden", type=int, default=150, help="hidden units")
    parser.add_argument("--report-every", type=int, default=10, metavar="N",
                        help="print the loss every N steps")
    parser.add_argument("--out", default="runs/examples/ode_net", metavar="DIR",
                        help="folder for ode_net.png, data against model (needs matplotlib; "
                             "default %(default)s)")
    args = parser.parse_args(argv)

    t, target = make_data()
    history: dict[int, float] = {}

    def report(params, i):
        if i % args.report_every == 0:
            history[i] = float(loss(params, t, target))
            print(f"iteration {i:>4}  train loss {history[i]:.10f}")

    params = adam(adkit.grad(lambda p: loss(p, t, target)), init_params(args.hidden),
                  args.iters, callback=report)
    final = float(loss(params, t, target))
    print(f"train loss {final:.10f} after {args.iters} Adam steps")
    if args.hidden == 150:
        shared = [i for i in history if i in AUTOGRAD_LOSSES]
        if shared:
            gap = max(abs(history[i] - AUTOGRAD_LOSSES[i]) for i in shared)
            print(f"autograd 1.9.1 prints the same losses at iterations {shared} "
                  f"(largest difference {gap:.1e})")

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "ode_net.png")
    if save_plot(png, params, t, target):
        print(f"trajectories saved to {png}")
    else:
        png = None
        print("matplotlib is not installed, so no figure was drawn")
    return {"loss": final, "history": history, "params": params, "png": png}


if __name__ == "__main__":
    main()
