"""Downpour SGD beside synchronous data-parallel training: the MLP on Fashion-MNIST.

    mpiexec -n 3 python examples/downpour_fashion_mnist.py --limit 6000
    (as root: mpiexec --allow-run-as-root -n 3 ...; more ranks than cores: add --oversubscribe)

With 3 ranks, Downpour makes rank 0 the parameter server (Adagrad) and ranks 1
and 2 workers on half the training set each; then the same 3 ranks train the
same network synchronously (compile(distribute="mpi"), one global batch split
over the ranks, gradients summed every step) with the same Adagrad. Both see
the data once per epoch in batches of --batch-size, and both are validated
--points times per epoch on the test set. Where adkit.nn.distributed or MPI
is missing, the comparison is single-process training, and the output says so.

Writes OUT/downpour_fashion_mnist.json (both learning curves) and, with
matplotlib, OUT/downpour_fashion_mnist.png; OUT is --out, by default
runs/examples/downpour_fashion_mnist. A rank that stops answering ends the job
after --timeout seconds with a message naming it (adkit.nn.mpi.BoundedComm).
`--mode sync` runs only the comparison, and works without MPI:
python examples/downpour_fashion_mnist.py --mode sync
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from typing import Any

import numpy as np

from adkit.nn import blas, figures, optimizers, zoo
from adkit.nn.files import atomic_write
from adkit.nn.train import load_images

LOSS = "sparse_categorical_crossentropy"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/examples/downpour_fashion_mnist",
                   help="folder for the JSON and PNG")
    p.add_argument("--limit", type=int, default=None,
                   help="use the first N training and N test images (quick runs)")
    p.add_argument("--mode", choices=("both", "downpour", "sync"), default="both")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=0.01, help="Adagrad's, in both modes")
    p.add_argument("--n-push", type=int, default=1)
    p.add_argument("--n-fetch", type=int, default=1)
    p.add_argument("--points", type=int, default=8, help="validations per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds any rank waits for another before the job ends with an error "
                        "naming it (default: $ADKIT_MPI_TIMEOUT, else 300)")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "n_push", "n_fetch", "points"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be positive, got {args.limit}")
    if args.timeout is not None and not args.timeout > 0:
        p.error(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    return args


def world() -> Any:
    """COMM_WORLD, or None when mpi4py or its MPI library is missing."""
    try:
        from adkit.nn.mpi import comm_world
        return comm_world()
    except ImportError:
        return None


def run_downpour(data: tuple, args: argparse.Namespace, comm: Any) -> dict:
    from adkit.nn import downpour

    (x, y), (xt, yt) = data
    model = zoo.mlp(seed=args.seed)
    model.compile(optimizer="adagrad", loss=LOSS, metrics=["accuracy"])  # loss and metrics
    h = downpour.train(model, x, y, batch_size=args.batch_size, epochs=args.epochs,
                       n_push=args.n_push, n_fetch=args.n_fetch,
                       learning_rate=args.learning_rate, seed=args.seed, comm=comm,
                       validation_data=(xt, yt), validate_every=1 / args.points,
                       verbose=1 if comm.Get_rank() == 0 else 0, timeout=args.timeout)
    curve = h.to_dict()
    curve["label"] = (f"Downpour, {h.n_workers} workers + server "
                      f"(n_push={h.n_push}, n_fetch={h.n_fetch})")
    # Mean push loss per validation interval, to set beside the synchronous run's.
    bins = np.ceil(np.asarray(h.epoch) * args.points - 1e-9).astype(int)
    curve["train_epoch"] = [b / args.points for b in sorted(set(bins.tolist()))]
    curve["train_loss"] = [float(np.mean(np.asarray(h.loss)[bins == b]))
                           for b in sorted(set(bins.tolist()))]
    return curve


def run_sync(data: tuple, args: argparse.Namespace, comm: Any) -> dict | None:
    """The comparison: synchronous data-parallel over every rank when adkit.nn.distributed
    and MPI are there, else one process (rank 0; the other ranks return None)."""
    (x, y), (xt, yt) = data
    size = comm.Get_size() if comm is not None else 1
    parallel = size > 1 and importlib.util.find_spec("adkit.nn.distributed") is not None
    if not parallel and comm is not None and comm.Get_rank() != 0:
        return None
    model = zoo.mlp(seed=args.seed)
    distribute = {}
    if parallel:
        from adkit.nn.distributed import DataParallel
        distribute = {"distribute": DataParallel(comm, timeout=args.timeout)}
    model.compile(optimizer=optimizers.Adagrad(args.learning_rate), loss=LOSS,
                  metrics=["accuracy"], **distribute)
    label = (f"synchronous data-parallel, {size} ranks (adkit.nn.distributed)" if parallel else
             "single process (the synchronous data-parallel mode needs MPI with 2+ ranks and "
             "adkit.nn.distributed)")
    curve: dict[str, Any] = {"label": label, "train_epoch": [], "train_loss": [], "val_epoch": [],
                             "val_seconds": [], "val": {}}
    steps = -(-len(x) // args.batch_size)
    # Each validation interval is a whole number of batches, so the batches are those
    # of one uninterrupted epoch over the same shuffled order.
    cuts = [round(k * steps / args.points) * args.batch_size for k in range(args.points + 1)]
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    def validate(epoch: float) -> None:
        result = model.evaluate(xt, yt, batch_size=512, return_dict=True)
        curve["val_epoch"].append(epoch)
        curve["val_seconds"].append(time.perf_counter() - started)
        for k, v in result.items():
            curve["val"].setdefault(k, []).append(float(v))

    validate(0.0)
    for epoch in range(args.epochs):
        order = rng.permutation(len(x))
        for k in range(args.points):
            idx = order[cuts[k]:cuts[k + 1]]
            if len(idx) == 0:
                continue
            h = model.fit(x[idx], y[idx], batch_size=args.batch_size, epochs=1, verbose=0,
                          shuffle=False)
            curve["train_epoch"].append(epoch + (k + 1) / args.points)
            curve["train_loss"].append(float(h.history["loss"][0]))
            validate(epoch + min(cuts[k + 1], len(x)) / len(x))
    curve["total_seconds"] = time.perf_counter() - started
    return curve


def plot(curves: dict, path: str, title: str) -> bool:
    """Both learning curves as a PNG at path; False without matplotlib."""
    if not figures.available():
        return False
    fig = figures.new_figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for (name, c), colour in zip(curves.items(), ("tab:blue", "tab:orange")):
        ax_loss.plot(c["train_epoch"], c["train_loss"], "--", color=colour,
                     label=f"{name}: training loss")
        ax_loss.plot(c["val_epoch"], c["val"]["loss"], "o-", color=colour,
                     label=f"{name}: test loss")
        ax_acc.plot(c["val_epoch"], c["val"]["accuracy"], "o-", color=colour, label=name)
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy")
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    figures.save_png(fig, path, dpi=100)
    return True


def _threads_per_rank(link: Any) -> int:
    """This machine's cores shared among the ranks on it. downpour.train splits them
    so itself; the synchronous run gets the same budget, since 3 ranks each with a
    BLAS on every core made its steps about ten times slower on 2 cores."""
    if link is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return cores or os.cpu_count() or 1
    from adkit.nn.mpi import threads_per_rank
    return threads_per_rank(link)


def _wait_for_all(link: Any) -> None:
    """A bounded barrier that naps instead of spinning, so idle ranks leave the cores
    to the rank still training."""
    if link is not None:
        link.collective(link.comm.Ibarrier, "waiting for every rank to finish")


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    comm = world()
    rank = comm.Get_rank() if comm is not None else 0
    if args.mode != "sync" and (comm is None or comm.Get_size() < 2):
        from adkit.nn.mpi import INSTALL_HINT
        sys.exit("Downpour needs MPI with at least 2 ranks (a server and a worker): "
                 + ("launch with mpiexec -n 3 python examples/downpour_fashion_mnist.py "
                    "(as root add --allow-run-as-root)" if comm is not None else INSTALL_HINT))
    link = None
    if comm is not None:
        from adkit.nn.mpi import BoundedComm
        link = BoundedComm(comm, args.timeout)
    data = load_images(args.limit)
    curves: dict[str, Any] = {}
    if args.mode in ("both", "downpour"):
        curves["downpour"] = run_downpour(data, args, comm)
    if args.mode in ("both", "sync"):
        with blas.limited(_threads_per_rank(link)):
            sync = run_sync(data, args, comm)
        if sync is not None:
            curves["sync"] = sync
    _wait_for_all(link)
    if rank != 0:
        return curves
    os.makedirs(args.out, exist_ok=True)
    n_train, n_test = len(data[0][0]), len(data[1][0])
    result = {"config": {**vars(args), "n_train": n_train, "n_test": n_test,
                         "ranks": comm.Get_size() if comm is not None else 1},
              "curves": curves}
    json_path = os.path.join(args.out, "downpour_fashion_mnist.json")
    with atomic_write(json_path) as f:
        json.dump(result, f, indent=1)
    print(f"\nMLP on Fashion-MNIST: {n_train} training images, {n_test} test images, "
          f"{args.epochs} epoch(s), batch {args.batch_size}, Adagrad lr {args.learning_rate}")
    for name, c in curves.items():
        print(f"  {c['label']}\n    {c['total_seconds']:6.1f} s; test loss "
              f"{c['val']['loss'][0]:.4f} -> {c['val']['loss'][-1]:.4f}, test accuracy "
              f"{c['val']['accuracy'][0]:.4f} -> {c['val']['accuracy'][-1]:.4f}")
    print(f"wrote {json_path}")
    png = os.path.join(args.out, "downpour_fashion_mnist.png")
    if plot(curves, png, f"MLP on Fashion-MNIST ({n_train} images)"):
        print(f"wrote {png}")
    else:
        print("matplotlib is not installed, so no plot was drawn (pip install -e \".[examples]\")")
    return result


if __name__ == "__main__":
    main()
