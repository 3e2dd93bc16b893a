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
    from .check_command import add_parser as add_check
    add_check(sub)
    cov = sub.add_parser("coverage", help="write the coverage table generated from the primitive table")
    cov.add_argument("--output", "-o", default="docs/coverage.md", help="file, or - for stdout")
    cov.set_defaults(run=_coverage)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
