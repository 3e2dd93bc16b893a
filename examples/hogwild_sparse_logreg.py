"""Hogwild on one machine: sparse logistic regression by lock-free parallel SGD.

Serial SGD sets the bar: its loss after --epochs epochs. Then Hogwild with one
worker process and with two, sharing one weight vector in shared memory with
no lock, run until they reach that loss. Each example touches ~20 of 100,000
weights, so two workers rarely write the same weight at once; the question is
how much sooner two workers get there than one.

    python examples/hogwild_sparse_logreg.py
    python examples/hogwild_sparse_logreg.py --small
    python examples/hogwild_sparse_logreg.py --n-samples 400000 --epochs 20 --workers 1 2

Writes OUT/hogwild_sparse_logreg.json (every run's loss after each epoch and its
training time) and, with matplotlib, OUT/hogwild_sparse_logreg.png (loss against
time); OUT is --out, by default runs/examples/hogwild_sparse_logreg.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from adkit.nn import figures, hogwild
from adkit.nn.files import atomic_write


def _machine_busy_s() -> float | None:
    """CPU seconds all processes on this machine have run, from /proc/stat (Linux only)."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    t = os.times()  # children count once they have been joined, as train's workers are
    return t.user + t.system + t.children_user + t.children_system


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=200_000, help="examples (rows)")
    parser.add_argument("--n-features", type=int, default=100_000, help="features (weights)")
    parser.add_argument("--nnz", type=int, default=20, help="nonzeros per example")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the serial run")
    parser.add_argument("--extra-epochs", type=int, default=10,
                        help="epochs Hogwild may take beyond --epochs to reach the serial loss")
    parser.add_argument("--lr", "--learning-rate", dest="lr", type=float, default=1.0,
                        help="learning rate of epoch 0")
    parser.add_argument("--decay", type=float, default=0.9,
                        help="learning rate multiplier per epoch")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to run (default: 1 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the orders")
    parser.add_argument("--small", action="store_true",
                        help="a quick run: 20,000 x 10,000, 10 epochs")
    parser.add_argument("--out", default="runs/examples/hogwild_sparse_logreg",
                        help="folder for the JSON and the PNG")
    args = parser.parse_args(argv)
    for name in ("n_samples", "n_features", "nnz", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.extra_epochs < 0 or any(w < 1 for w in args.workers):
        parser.error("--extra-epochs must be >= 0 and every --workers count >= 1")
    if args.small:
        args.n_samples, args.n_features, args.epochs, args.extra_epochs = 20_000, 10_000, 10, 5

    problem = hogwild.sparse_logistic_problem(args.n_samples, args.n_features, args.nnz,
                                              seed=args.seed)
    print(f"sparse logistic regression: {problem.n_samples:,} examples x "
          f"{problem.n_features:,} features, {args.nnz} nonzeros per example; "
          f"lr {args.lr} x {args.decay}^epoch, batches of {hogwild.BATCH_SIZE}")
    print(f"loss of the weights that generated the labels: "
          f"{hogwild.logistic_loss(problem, problem.true_weights):.4f}")

    serial = hogwild.serial_sgd(problem, epochs=args.epochs, learning_rate=args.lr,
                                seed=args.seed, decay=args.decay)
    target = serial.losses[-1]
    print(f"\nserial SGD, {args.epochs} epochs: loss {serial.losses[0]:.4f} -> {target:.6f} "
          f"in {serial.wall_time:.2f} s ({serial.updates_per_second / 1e6:.2f} M updates/s)")
    print("  loss after each epoch: "
          + " ".join(f"{v:.4f}" for v in serial.losses[1:]))

    runs, reach = {}, {}
    print(f"\nHogwild, until the loss reaches the serial {target:.6f} "
          f"(at most {args.epochs + args.extra_epochs} epochs):")
    for workers in args.workers:
        busy0, own0, t0 = _machine_busy_s(), _own_cpu_s(), time.perf_counter()
        r = hogwild.train(problem, workers=workers, epochs=args.epochs + args.extra_epochs,
                          learning_rate=args.lr, seed=args.seed, decay=args.decay,
                          target_loss=target)
        busy1, own1, wall = _machine_busy_s(), _own_cpu_s(), time.perf_counter() - t0
        runs[workers], reach[workers] = r, r.time_to_loss(target)
        reached = (f"reached it in {reach[workers]:.2f} s" if reach[workers] is not None
                   else "did NOT reach it")
        print(f"  {workers} worker{'s' if workers > 1 else ' '}: {reached} "
              f"(epoch {r.epochs}, loss {r.losses[-1]:.6f}, "
              f"{r.updates_per_second / 1e6:.2f} M updates/s, start-up {r.startup_time:.2f} s, "
              f"{r.start_method})")
        if busy0 is not None and busy1 is not None and wall > 0:
            others = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
            print(f"             other processes used {others:.2f} of "
                  f"{os.cpu_count()} cores meanwhile")

    speedup = None
    if 1 in reach and 2 in reach and reach[1] and reach[2]:
        speedup = reach[1] / reach[2]
        print(f"\nspeedup from 1 to 2 workers (time to the serial loss): {speedup:.2f}x")
    paths = _write(args.out, vars(args), serial, runs, reach, speedup)
    for path in paths:
        print(f"wrote {path}")
    return {"serial": serial, "target": target, "runs": runs, "time_to_target": reach,
            "speedup": speedup, "files": paths}


def _write(out: str, config: dict, serial: hogwild.HogwildResult, runs: dict, reach: dict,
           speedup: float | None) -> list[str]:
    """The numbers as JSON and, with matplotlib, loss against time as PNG, under out."""
    os.makedirs(out, exist_ok=True)
    curves = {"serial": serial, **{f"hogwild, {w} worker{'s' * (w > 1)}": r
                                   for w, r in runs.items()}}
    record = {"config": config, "target_loss": serial.losses[-1], "speedup": speedup,
              "time_to_target": {str(w): t for w, t in reach.items()},
              "runs": {name: {"losses": r.losses, "times": r.times, "updates": r.updates,
                              "start_method": r.start_method} for name, r in curves.items()}}
    json_path = os.path.join(out, "hogwild_sparse_logreg.json")
    with atomic_write(json_path) as f:
        json.dump(record, f, indent=1)
    if not figures.available():
        print("matplotlib is not installed, so no plot was drawn (pip install -e \".[examples]\")")
        return [json_path]
    fig = figures.new_figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for name, r in curves.items():
        ax.plot(r.times, r.losses, "o-", ms=3, label=name)
    ax.axhline(serial.losses[-1], color="k", ls=":", lw=1, label="serial SGD's final loss")
    ax.set(xlabel="training seconds", ylabel="logistic loss", yscale="log",
           title="Hogwild: sparse logistic regression")
    ax.legend(fontsize=8)
    fig.tight_layout()
    png_path = os.path.join(out, "hogwild_sparse_logreg.png")
    figures.save_png(fig, png_path, dpi=100)
    return [json_path, png_path]


if __name__ == "__main__":
    main()
