"""Command line: `python -m adkit` (or `adkit`) COMMAND.

Commands import what they need inside, so `import adkit` stays light.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from .demo import run
    run()
    if args.no_train:
        return 0
    from adkit.nn.train import train
    print(f"\nTraining the textbook's CNN on Fashion-MNIST ({args.epochs} epoch(s), batch 128, "
          "Adadelta); every gradient comes from adkit's reverse mode.")
    train("cnn", epochs=args.epochs, out=args.out, limit=args.limit)
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.workers > 1 and not _under_mpi():
        return _relaunch_under_mpi(args.workers)
    from adkit.nn.train import train
    train(args.model, epochs=args.epochs, batch_size=args.batch_size, out=args.out,
          limit=args.limit, seed=args.seed, verbose=0 if args.quiet else 1,
          distribute="mpi" if _under_mpi() and args.workers > 1 else None)
    return 0


def _under_mpi() -> bool:
    import os
    return any(os.environ.get(v, "1") != "1" for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"))


def _relaunch_under_mpi(workers: int) -> int:
    """Run this same command as `workers` MPI ranks, each with its share of the cores."""
    import os
    import subprocess
    from adkit.nn.mpi import INSTALL_HINT, mpiexec as find_mpiexec
    mpiexec = find_mpiexec()
    if mpiexec is None:
        print(f"adkit train --workers {workers} needs mpiexec, which was not found. To fix: "
              f"{INSTALL_HINT}.", file=sys.stderr)
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = str(max(1, (cores or 1) // workers))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
    cmd = [mpiexec, "-n", str(workers)]
    if workers > (cores or 1):
        cmd.append("--oversubscribe")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")   # Open MPI refuses root without it
    cmd += [sys.executable, "-m", "adkit"] + sys.argv[1:]
    return subprocess.call(cmd, env=env)


def _coverage(args: argparse.Namespace) -> int:
    from .coverage import markdown
    text = markdown()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path}")
    return 0


def _devices(args: argparse.Namespace) -> int:
    from adkit.kernels import OpenCLUnavailable, format_devices
    try:
        print(format_devices())
    except OpenCLUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="differentiate a few functions in every mode, side by "
                          "side, then train the textbook's CNN on Fashion-MNIST")
    demo.add_argument("--epochs", type=int, default=1, help="CNN training epochs (default 1)")
    demo.add_argument("--out", default="runs/cnn", help="folder for the saved model and the "
                      "learning-curve PNG (default runs/cnn)")
    demo.add_argument("--limit", type=int, default=None,
                      help="train and test on only the first N images (a quick look)")
    demo.add_argument("--no-train", action="store_true", help="only the derivatives demo")
    demo.set_defaults(run=_demo)
    train = sub.add_parser("train", help="train a network on a data set (adkit.nn)")
    train.add_argument("dataset", choices=["fashion-mnist"])
    train.add_argument("--model", choices=["cnn", "mlp", "lstm"], default="cnn")
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--out", default="runs/train", help="folder for the model and the "
                       "learning curve (default runs/train)")
    train.add_argument("--limit", type=int, default=None, help="use only the first N images")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=1, help="data-parallel MPI ranks: "
                       "relaunches itself with mpiexec -n N (needs the distributed extra)")
    train.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    train.set_defaults(run=_train)
    from .check_command import add_parser as add_check
    add_check(sub)
    cov = sub.add_parser("coverage", help="write the coverage table generated from the primitive table")
    cov.add_argument("--output", "-o", default="docs/coverage.md", help="file, or - for stdout")
    cov.set_defaults(run=_coverage)
    devs = sub.add_parser("devices", help="list OpenCL platforms and devices (adkit.kernels)")
    devs.set_defaults(run=_devices)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
