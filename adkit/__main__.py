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


#: one example per command, shown by `adkit --help`
EXAMPLES = {
    "demo": "adkit demo --limit 2048",
    "train": "adkit train fashion-mnist --model mlp --device cpu --out runs/mlp",
    "check": 'adkit check "np.sqrt(x1*x1 + x2*x2)" --at x1=1 x2=2',
    "coverage": "adkit coverage -o docs/coverage.md",
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
              "checkout of adkit, not with an installed package; clone the repository and "
              "run `pip install -e .` there", file=sys.stderr)
        return 2
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    out = args.out or str(root / "benchmarks" / f"results-{_today()}.md")
    child = ("import sys; sys.path.insert(0, sys.argv[1]); import benchmarks; "
             "from adkit.__main__ import _bench_child; "
             "sys.exit(_bench_child(sys.argv[2] == '1', sys.argv[3], sys.argv[4:]))")
    return subprocess.call([sys.executable, "-c", child, str(root), "1" if args.quick else "0",
                            str(Path(out).resolve()), *names])


def _source_root() -> Path | None:
    """The checkout this adkit runs from, when it has the benchmarks/ folder."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "benchmarks" / "_common.py").is_file() else None


def _today() -> str:
    import time
    return time.strftime("%Y-%m-%d")


def _bench_child(quick: bool, out: str, names: list[str]) -> int:
    """Inside the fresh Python of _bench: run the benchmarks and write the ratio table."""
    import os
    import time
    import traceback
    from benchmarks.__main__ import BENCHMARKS, _load
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
            + " (pip install -e \".[bench]\" adds them).", "",
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


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; returns the exit status.

    >>> main(["coverage", "-o", "-"])        # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(
        prog="adkit", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + "\n".join(f"  {ex}" for ex in EXAMPLES.values())
        + "\n\n`adkit COMMAND --help` describes a command's options.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="derivatives in every mode, then the textbook CNN "
                          "trained",
                          description="Differentiate a few functions in every mode, side by "
                          "side, then train the textbook's CNN on Fashion-MNIST.")
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
    train.add_argument("--device", choices=["cpu", "opencl"], default=None,
                       help="where to train: cpu (NumPy) or opencl (adkit.kernels); default "
                       "$ADKIT_DEVICE, else cpu")
    train.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    train.set_defaults(run=_train)
    from .check_command import add_parser as add_check
    add_check(sub)
    cov = sub.add_parser("coverage", help="write the coverage table generated from the primitive table")
    cov.add_argument("--output", "-o", default="docs/coverage.md", help="file, or - for stdout")
    cov.set_defaults(run=_coverage)
    devs = sub.add_parser("devices", help="list OpenCL platforms and devices (adkit.kernels)")
    devs.set_defaults(run=_devices)
    bench = sub.add_parser("bench", help="benchmark suite: a markdown table of adkit/peer "
                           "time ratios",
                           description="Run the benchmark suite (benchmarks/) against whichever "
                           "peers are installed (autograd, PyTorch, JAX) and write a markdown "
                           "table of adkit/peer time ratios, with the date, machine and "
                           "versions.")
    bench.add_argument("--quick", action="store_true",
                       help="fewer, shorter repeats: a quick look, noisier numbers")
    bench.add_argument("--only", action="append", default=[], metavar="NAMES",
                       help="run only these benchmarks, comma-separated or repeated "
                       "(scalar, mlp, jacobian, hessian, numeric, symbolic, nn_ops, nn_train, "
                       "nn_distributed, hogwild, opencl_gemm)")
    bench.add_argument("--out", default=None, metavar="FILE",
                       help="the markdown file to write (default benchmarks/results-DATE.md)")
    bench.set_defaults(run=_bench)
    for name, example in EXAMPLES.items():   # each command's --help ends with its example
        sub.choices[name].epilog = f"example: {example}"
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
