"""python -m benchmarks [--quick] [--only NAME ...]: run the suite, print and save the tables.

Prints the configuration, then each benchmark's table as it finishes, then a
summary of the targets; writes all of it to benchmarks/results.md (or --output).
A benchmark that raises is reported as an error and the others still run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from . import THREADS  # noqa: F401  (sets the thread counts before NumPy loads)
from ._common import (CpuMeter, Section, Settings, configuration, disturbance, render_section,
                      render_summary)

BENCHMARKS = ("scalar", "mlp", "compile", "jacobian", "hessian", "checkpoint", "numeric", "symbolic", "nn_ops",
              "nn_train", "nn_distributed", "hogwild", "opencl_gemm", "nn_opencl")


def _load(name: str):
    import importlib
    return importlib.import_module(f"{__package__}.{name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fewer and shorter repeats (a smoke run; noisier numbers)")
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help=f"run only these benchmarks (repeatable or comma-separated): "
                             f"{', '.join(BENCHMARKS)}")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__),
                                                         "results.md"),
                        help="where to write the markdown results (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")
    names = names or list(BENCHMARKS)
    settings = Settings(quick=args.quick)

    start = time.perf_counter()
    config = configuration(settings)
    print("## Configuration\n")
    print("\n".join(config) + "\n", flush=True)
    sections: list[Section] = []
    errors: list[str] = []
    whole_run = CpuMeter()
    for name in names:
        t0 = time.perf_counter()
        meter = CpuMeter()
        try:
            sec = _load(name).run(settings)
        except Exception:  # noqa: BLE001  (report it; the other benchmarks still run)
            tb = traceback.format_exc()
            errors.append(f"### {name}: ERROR\n\n```\n{tb}```\n")
            print(errors[-1], file=sys.stderr, flush=True)
            continue
        sec.notes.append(f"this benchmark took {time.perf_counter() - t0:.0f} s; "
                         + disturbance(meter))
        sections.append(sec)
        print(render_section(sec), flush=True)
    total = time.perf_counter() - start

    summary = render_summary(sections)
    print("## Targets\n")
    print(summary)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    footer = f"Total {total:.0f} s; {disturbance(whole_run)}; load average at the end {load}."
    print(footer)
    if not args.no_write:
        text = ["# adkit benchmark results", "",
                "Written by `python -m benchmarks" + (" --quick" if args.quick else "")
                + "".join(f" --only {n}" for n in args.only) + "`. Times are medians; "
                "ratios are adkit/peer. The benchmarks assert correctness, never timings.",
                "", "## Configuration", "", *config, "", "## Targets", "", summary,
                "## Results", ""]
        text += [render_section(sec) for sec in sections] + errors + [footer, ""]
        with open(args.output, "w") as f:
            f.write("\n".join(text))
        print(f"wrote {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
