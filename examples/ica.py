"""Independent component analysis with Student-t sources, fitted by maximum likelihood.

The model (autograd's ica.py, the same data): two latent sources per sample,
drawn i.i.d. from a heavy-tailed distribution, mixed by a 100 x 2 weight matrix
W into 100 observed channels with noise, 200 samples:

    observed[n] = W latents[:, n] + noise,  noise ~ Student-t(df = 2.4, scale = s).

All of W, the 400 latents and log s are found together by maximising the
log likelihood with SciPy's conjugate gradients, given its gradient (601
numbers) from adkit.value_and_grad of plain NumPy code. The Student-t log
density is written out (its constants from math.lgamma). autograd 1.9.1's
ica.py, run for the same 100 CG iterations from the same start, ends at a log
likelihood per sample of -144.5596; this script prints the same number.

    python examples/ica.py
    python examples/ica.py --iters 300 --channels 50
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
from scipy.optimize import minimize

import adkit

#: autograd 1.9.1's examples/ica.py model and data, CG stopped after 100 iterations
AUTOGRAD_LOG_LIKELIHOOD_AFTER_100 = -144.55963662671408
DF = 2.4  # degrees of freedom of the Student-t noise


def true_weights(channels: int, sources: int = 2) -> np.ndarray:
    """Column i is a sine of increasing frequency across the channels."""
    return np.stack([np.sin(np.linspace(0, 4 + i * 3.2, channels)) for i in range(sources)], 1)


def make_data(weights: np.ndarray, n_samples: int, noise_std: float, seed: int = 0):
    """(latents (sources, n), observed (n, channels)); samples sorted by the first source."""
    rs = np.random.RandomState(seed)
    latents = rs.randn(weights.shape[1], n_samples)
    latents = latents[:, np.argsort(latents[0], kind="stable")]
    noise = rs.randn(n_samples, weights.shape[0]) * noise_std
    return latents, (weights @ latents).T + noise


def student_t_logpdf(x, loc, scale, df: float = DF):
    """log of the Student-t density with df degrees of freedom, elementwise."""
    const = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    z = (x - loc) / scale
    return const - np.log(scale) - (df + 1) / 2 * np.log1p(z ** 2 / df)


def unpack(params, channels: int, sources: int, n_samples: int):
    """(W, latents, noise scale) from the flat parameter vector."""
    nw = channels * sources
    weights = np.reshape(params[:nw], (channels, sources))
    latents = np.reshape(params[nw:nw + sources * n_samples], (sources, n_samples))
    return weights, latents, np.exp(params[-1])


def log_likelihood(params, observed, sources: int):
    """Mean over samples of the log likelihood of the observed channels."""
    n_samples, channels = observed.shape
    weights, latents, scale = unpack(params, channels, sources, n_samples)
    return np.sum(student_t_logpdf((weights @ latents).T, observed, scale)) / n_samples


def fit(observed, sources: int, iters: int, seed: int = 0, report_every: int = 0):
    """CG on -log_likelihood for `iters` iterations from a standard-normal start."""
    n_samples, channels = observed.shape
    init = np.random.RandomState(seed).randn(channels * sources + sources * n_samples + 1)
    objective = adkit.value_and_grad(lambda p: -log_likelihood(p, observed, sources))
    seen = [0]

    def callback(params):
        seen[0] += 1
        if report_every and seen[0] % report_every == 0:
            print(f"  iteration {seen[0]:>4}  log likelihood "
                  f"{float(log_likelihood(params, observed, sources)):.4f}  "
                  f"noise scale {float(np.exp(params[-1])):.4f}")

    return init, minimize(objective, init, jac=True, method="CG", callback=callback,
                          options={"maxiter": iters})


def alignment(estimated: np.ndarray, truth: np.ndarray) -> float:
    """How well span(W_est) covers span(W_true): mean squared cosine of the principal
    angles between the two column spaces, 1.0 for the same plane (ICA finds W only up
    to an invertible mixing of its columns)."""
    q_est, _ = np.linalg.qr(estimated)
    q_true, _ = np.linalg.qr(truth)
    return float(np.mean(np.linalg.svd(q_est.T @ q_true, compute_uv=False) ** 2))


def save_plot(path: str, weights, latents, truth_w, truth_latents) -> bool:
    """True and estimated latents and weights as scatter plots; False without matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no display, no global state
    except ImportError:
        return False
    fig = Figure(figsize=(8, 6))
    axes = fig.subplots(2, 2)
    colors = np.linspace(0, 1, latents.shape[1])
    for ax, pts, title, c in [(axes[0, 0], truth_latents, "true latents", colors),
                              (axes[0, 1], latents, "estimated latents", colors),
                              (axes[1, 0], truth_w.T, "true weights", None),
                              (axes[1, 1], weights.T, "estimated weights", None)]:
        ax.scatter(pts[0], pts[1], c=c, s=8, cmap="rainbow" if c is not None else None)
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=100, help="observed dimension")
    parser.add_argument("--samples", type=int, default=200, help="number of samples")
    parser.add_argument("--noise-std", type=float, default=1.0, help="noise in the data")
    parser.add_argument("--iters", type=int, default=100, help="CG iterations")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and start")
    parser.add_argument("--out", default="runs/examples/ica", metavar="DIR",
                        help="folder for ica.png, true and estimated latents and weights "
                             "(needs matplotlib; default %(default)s)")
    args = parser.parse_args(argv)

    w_true = true_weights(args.channels)
    latents_true, observed = make_data(w_true, args.samples, args.noise_std, args.seed)
    print(f"{args.samples} samples of {args.channels} channels mixing 2 sources; "
          f"{w_true.size + latents_true.size + 1} parameters")
    init, result = fit(observed, 2, args.iters, args.seed, report_every=max(1, args.iters // 5))
    start = float(log_likelihood(init, observed, 2))
    final = -float(result.fun)
    weights, latents, scale = unpack(result.x, args.channels, 2, args.samples)
    print(f"log likelihood per sample: {start:.4f} at the start, {final:.4f} after "
          f"{result.nit} iterations; noise scale {float(scale):.4f}")
    print(f"span of the estimated weights against the true one: {alignment(weights, w_true):.4f} "
          "(1 = the same plane)")
    if (args.channels, args.samples, args.noise_std, args.iters, args.seed) == (100, 200, 1.0,
                                                                                 100, 0):
        print(f"autograd 1.9.1 after 100 iterations: {AUTOGRAD_LOG_LIKELIHOOD_AFTER_100:.4f} "
              f"(difference {abs(final - AUTOGRAD_LOG_LIKELIHOOD_AFTER_100):.1e})")

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "ica.png")
    if save_plot(png, weights, latents, w_true, latents_true):
        print(f"latents and weights saved to {png}")
    else:
        png = None
        print("matplotlib is not installed, so no figure was drawn")
    return {"log_likelihood": final, "start": start, "params": result.x,
            "alignment": alignment(weights, w_true), "png": png}


if __name__ == "__main__":
    main()
