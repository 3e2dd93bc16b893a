"""Command line: `python -m adkit` (or `adkit`) COMMAND.

Commands import what they need inside, so `import adkit` stays light. Every
option is checked by the parser (argparse's message, exit status 2), so a bad
value never reaches the code as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import __version__

#: the first line of `adkit --help`
DESCRIPTION = ("adkit: differentiate plain NumPy code in forward and reverse mode, check "
               "derivatives every way, and train adkit.nn networks.")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _bounded_int(text, 1, "a positive integer (1 or more)")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _bounded_int(text, 0, "a non-negative integer (0 or more)")


def _bounded_int(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give {what}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} is too small; give {what}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from .demo import run
    run()
    if args.no_train:
        return 0
    from adkit.nn.train import TrainSetupError, train
    print(f"\nTraining the textbook's CNN on Fashion-MNIST ({args.epochs} epoch(s), batch 128, "
          "Adadelta); every gradient comes from adkit's reverse mode.")
    try:
        train("cnn", epochs=args.epochs, out=args.out, limit=args.limit)
    except TrainSetupError as e:
        print(f"adkit demo: error: {e}", file=sys.stderr)
        return 2
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.workers > 1 and not _under_mpi():
        return _relaunch_under_mpi(args.workers)
    from adkit.nn.train import TrainSetupError, train
    try:
        train(args.model, epochs=args.epochs, batch_size=args.batch_size, out=args.out,
              limit=args.limit, seed=args.seed, verbose=0 if args.quiet else 1,
              distribute="mpi" if _under_mpi() and args.workers > 1 else None,
              device=args.device)
    except TrainSetupError as e:   # a usage problem: the message, not a traceback
        print(f"adkit train: error: {e}", file=sys.stderr)
        return 2
    return 0


def _under_mpi() -> bool:
    import os
    return any(os.environ.get(v, "1") != "1" for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"))


def _relaunch_under_mpi(workers: int) -> int:
    """Run this same command as `workers` MPI ranks, each with its share of the cores."""
    import os
    import subprocess
    from adkit.nn.mpi import mpiexec as find_mpiexec
    from .install_hint import pip_install
    mpiexec = find_mpiexec()
    if mpiexec is None:
        print(f"adkit train: error: --workers {workers} needs mpiexec, which was not found. "
              f"To fix: {pip_install('distributed')} (mpi4py and Open MPI from PyPI).",
              file=sys.stderr)
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
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        path = Path(args.out)
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


#: one example per command, shown by `adkit --help`
EXAMPLES = {
    "demo": "adkit demo --limit 2048",
    "train": "adkit train fashion-mnist --model mlp --device cpu --out runs/mlp",
    "check": 'adkit check "np.sqrt(x1*x1 + x2*x2)" --at x1=1 x2=2',
    "coverage": "adkit coverage --out docs/coverage.md",
    "devices": "adkit devices",
    "bench": "adkit bench --quick --only scalar,mlp",
}


def _bench(args: argparse.Namespace) -> int:
    """Run the suite in a fresh Python: benchmarks/__init__ must set the BLAS thread
    counts before NumPy loads, and this process has NumPy already."""
    import subprocess
    root = _source_root()
    if root is None:
        print("adkit bench: error: the benchmark suite (benchmarks/) comes with a source "
              "checkout of adkit, not with an installed package; run `adkit bench` from "
              "a checkout installed with `pip install -e .`", file=sys.stderr)
        return 2
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    out = args.out or _temporary_report()
    child = ("import sys; sys.path.insert(0, sys.argv[1]); import benchmarks; "
             "from adkit.__main__ import _bench_child; "
             "sys.exit(_bench_child(sys.argv[2] == '1', sys.argv[3], sys.argv[4:]))")
    return subprocess.call([sys.executable, "-c", child, str(root), "1" if args.quick else "0",
                            str(Path(out).resolve()), *names])


def _source_root() -> Path | None:
    """The checkout this adkit runs from, when it has the benchmarks/ folder."""
    from .install_hint import source_checkout
    root = source_checkout()
    return root if root and (root / "benchmarks" / "_common.py").is_file() else None


def _temporary_report() -> str:
    """A new file in the system's temporary folder: without --out the report goes
    there, never into the source tree or an installed package."""
    import os
    import tempfile
    import time
    fd, path = tempfile.mkstemp(prefix=f"adkit-bench-{time.strftime('%Y-%m-%d')}-",
                                suffix=".md")
    os.close(fd)
    return path


def _bench_child(quick: bool, out: str, names: list[str]) -> int:
    """Inside the fresh Python of _bench: run the benchmarks and write the ratio table."""
    import os
    import time
    import traceback
    from benchmarks.__main__ import BENCHMARKS, _load
    from .install_hint import pip_install
    from benchmarks._common import (CpuMeter, Settings, configuration, disturbance,
                                    missing_peers, render_section, render_summary)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"adkit bench: error: unknown benchmark(s) {', '.join(unknown)}; choose from "
              f"{', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    settings = Settings(quick=quick)
    config = configuration(settings)
    print("\n".join(config) + "\n", flush=True)
    sections, errors = [], []
    started, meter = time.perf_counter(), CpuMeter()
    for name in names or BENCHMARKS:
        t0 = time.perf_counter()
        print(f"running {name} ...", flush=True)
        try:
            sec = _load(name).run(settings)
        except Exception:  # noqa: BLE001  (reported; the other benchmarks still run)
            errors.append(f"### {name}: ERROR\n\n```\n{traceback.format_exc()}```\n")
            print(errors[-1], file=sys.stderr, flush=True)
            continue
        sec.notes.append(f"this benchmark took {time.perf_counter() - t0:.0f} s")
        sections.append(sec)
        print(_ratio_table([sec]), flush=True)
    table = _ratio_table(sections)
    command = "adkit bench" + (" --quick" if quick else "") + \
        (f" --only {','.join(names)}" if names else "")
    missing = ", ".join(sorted(missing_peers())) or "none"
    text = ["# adkit benchmark ratios", "",
            f"Written by `{command}` in {time.perf_counter() - started:.0f} s; "
            f"{disturbance(meter)}. Ratios are adkit's time over the other's: below 1, "
            "adkit is faster. Peers not installed: " + missing
            + f" ({pip_install('bench')} adds them).", "",
            "## Machine", "", *config, "", "## Ratios", "", table,
            "## Targets", "", render_summary(sections), "## Details", ""]
    text += [render_section(sec) for sec in sections] + errors
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(text))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 1 if errors else 0


def _ratio_table(sections: list) -> str:
    """One markdown row per (measurement, compared contestant) with a timing on both sides:
    adkit's median, the other's, and adkit/other."""
    from benchmarks._common import fmt_time, ratio
    lines = ["| Benchmark | Size | Measure | adkit | Compared with | Its time | adkit/peer |",
             "|---|---|---|---|---|---|---|"]
    for sec in sections:
        for row in sec.rows:
            for name in sec.columns:
                other = row.peers.get(name)
                r = ratio(row.adkit, other)   # None unless both sides were timed
                if r is None:
                    continue
                lines.append(f"| {sec.name} | {row.size} | {row.measure} | "
                             f"{fmt_time(row.adkit.median)}{row.unit} | {name} | "
                             f"{fmt_time(other.median)}{row.unit} | {r:.3g} |")
    return "\n".join(lines) + "\n"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; wide enough for the option names."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `adkit`, every command and option with its help and default."""
    parser = argparse.ArgumentParser(
        prog="adkit", description=DESCRIPTION, formatter_class=_HelpFormatter,
        epilog="examples:\n" + "\n".join(f"  {ex}" for ex in EXAMPLES.values())
        + "\n\n`adkit COMMAND --help` describes a command's options.")
    parser.add_argument("--version", action="version", version=f"adkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="derivatives in every mode, then the textbook CNN "
                          "trained", formatter_class=_HelpFormatter,
                          description="Differentiate a few functions in every mode, side by "
                          "side, then train the textbook's CNN on Fashion-MNIST.")
    demo.add_argument("--epochs", type=positive_int, default=1,
                      help="CNN training epochs (default %(default)s)")
    demo.add_argument("--out", default="runs/cnn", help="folder for the saved model and the "
                      "learning-curve PNG (default %(default)s)")
    demo.add_argument("--limit", type=positive_int, default=None, metavar="N",
                      help="train and test on only the first N images, a quick look "
                      "(default: all 60,000 and 10,000)")
    demo.add_argument("--no-train", action="store_true",
                      help="only the derivatives demo (default: train as well)")
    demo.set_defaults(run=_demo)
    _add_train_parser(sub)
    from .check_command import add_parser as add_check
    add_check(sub)
    cov = sub.add_parser("coverage", help="the coverage table generated from the primitive "
                         "table, printed or written to a file", formatter_class=_HelpFormatter,
                         description="Print the markdown table of every NumPy function adkit "
                         "differentiates (forward rule, reverse rule, SymPy counterpart), "
                         "generated from the primitive table.")
    cov.add_argument("--out", "-o", "--output", dest="out", default=None, metavar="FILE",
                     help="write the table to FILE (default: print it; - prints it too)")
    cov.set_defaults(run=_coverage)
    devs = sub.add_parser("devices", help="list OpenCL platforms and devices (adkit.kernels)",
                          description="List the OpenCL platforms and devices adkit.kernels "
                          "can use.")
    devs.set_defaults(run=_devices)
    bench = sub.add_parser("bench", help="benchmark suite: a markdown table of adkit/peer "
                           "time ratios", formatter_class=_HelpFormatter,
                           description="Run the benchmark suite (benchmarks/, in a source "
                           "checkout) against whichever peers are installed (autograd, "
                           "PyTorch, JAX) and write a markdown table of adkit/peer time "
                           "ratios, with the date, machine and versions.")
    bench.add_argument("--quick", action="store_true",
                       help="fewer, shorter repeats: a quick look, noisier numbers "
                       "(default: full repeats)")
    bench.add_argument("--only", action="append", default=[], metavar="NAMES",
                       help="run only these benchmarks, comma-separated or repeated "
                       "(scalar, mlp, jacobian, hessian, numeric, symbolic, nn_ops, nn_train, "
                       "nn_distributed, hogwild, opencl_gemm, nn_opencl; default: all)")
    bench.add_argument("--out", default=None, metavar="FILE",
                       help="the markdown file to write (default: a new "
                       "adkit-bench-DATE-*.md in the temporary folder, named at the end)")
    bench.set_defaults(run=_bench)
    for name, example in EXAMPLES.items():   # each command's --help ends with its example
        sub.choices[name].epilog = f"example: {example}"
    return parser


def _add_train_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a network on a data set (adkit.nn)",
                           formatter_class=_HelpFormatter,
                           description="Train a model of adkit.nn's zoo on Fashion-MNIST "
                           "(from $ADKIT_DATA, Debian's dataset-fashion-mnist, or a SHA-256-checked "
                           "download into $ADKIT_CACHE), print its "
                           "test accuracy, and save the model, its learning curve and "
                           "TensorBoard logs under --out.")
    train.add_argument("dataset", choices=["fashion-mnist"], help="the data set to train on")
    train.add_argument("--model", choices=["cnn", "mlp", "lstm"], default="cnn",
                       help="the textbook's CNN, a dense MLP, or an LSTM over the image rows "
                       "(default %(default)s)")
    train.add_argument("--epochs", type=positive_int, default=1,
                       help="passes over the training images (default %(default)s)")
    train.add_argument("--batch-size", type=positive_int, default=128, metavar="N",
                       help="images per gradient step (default %(default)s)")
    train.add_argument("--out", default="runs/train", metavar="DIR",
                       help="folder for the model, the learning curve and the logs "
                       "(default %(default)s)")
    train.add_argument("--limit", type=positive_int, default=None, metavar="N",
                       help="use only the first N training and N test images "
                       "(default: all 60,000 and 10,000)")
    train.add_argument("--seed", type=non_negative_int, default=0,
                       help="seed of the initial weights and the batch order "
                       "(default %(default)s)")
    train.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="data-parallel MPI ranks: relaunches itself with mpiexec -n N "
                       "(needs the distributed extra; default %(default)s, no MPI)")
    train.add_argument("--device", choices=["cpu", "opencl"], default=None,
                       help="where to train: cpu (NumPy) or opencl (adkit.kernels) "
                       "(default: $ADKIT_DEVICE, else cpu)")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar or summary (default: show them)")
    train.set_defaults(run=_train)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; returns the exit status.

    >>> main(["coverage"])        # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
