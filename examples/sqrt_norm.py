"""The textbook's running example, f(x1, x2) = sqrt(x1^2 + x2^2), differentiated every way.

At (x1, x2) = (1, 2) the value is sqrt(5) = 2.236 and the partial derivatives
are x1 / f = 0.447 and x2 / f = 0.894. We get them

  * in reverse mode, with adkit.grad(f, 0) and adkit.grad(f, 1), called with
    the Python ints 1 and 2 exactly as the textbook does;
  * in forward mode, once per input: adkit.forward.derivative along one
    argument, and adkit.jvp with the tangent (1, 0) or (0, 1);
  * as a 1x2 Jacobian, with adkit.jacobian in forward and in reverse mode;

and then look inside one reverse evaluation: the Wengert list that
adkit.reverse.Tape records, and the adjoints its backward pass produces.

    python examples/sqrt_norm.py               # print everything; the tape's graph goes
                                               # to runs/examples/sqrt_norm/sqrt_norm_tape.dot
    python examples/sqrt_norm.py --out graphs  # the graph to graphs/sqrt_norm_tape.dot
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import adkit
from adkit import forward, reverse


def f(x1, x2):
    # Plain NumPy: adkit needs no wrapper module and no special array type.
    return np.sqrt(x1 ** 2 + x2 ** 2)


def partials_by_mode(x1=1, x2=2) -> dict[str, tuple[float, float]]:
    """(df/dx1, df/dx2) at (x1, x2), computed five ways."""
    jac_fwd = adkit.jacobian(f, argnums=(0, 1), mode="forward")(x1, x2)
    jac_rev = adkit.jacobian(f, argnums=(0, 1), mode="reverse")(x1, x2)
    return {
        # Reverse mode: one forward sweep records the tape, one backward sweep
        # gives the derivative with respect to the requested argument.
        "reverse   grad(f, 0), grad(f, 1)": (adkit.grad(f, 0)(x1, x2),
                                             adkit.grad(f, 1)(x1, x2)),
        # Forward mode carries a tangent with every value. It needs one sweep
        # per input: the input we differentiate by gets tangent 1, the other 0.
        "forward   derivative along x1, x2": (forward.derivative(lambda a: f(a, x2))(x1),
                                              forward.derivative(lambda b: f(x1, b))(x2)),
        "forward   jvp with (1,0), (0,1)": (adkit.jvp(f, (x1, x2), (1.0, 0.0))[1],
                                            adkit.jvp(f, (x1, x2), (0.0, 1.0))[1]),
        # The Jacobian of a scalar function of two scalars: a pair of 0-d arrays.
        "jacobian  mode='forward'": tuple(float(d) for d in jac_fwd),
        "jacobian  mode='reverse'": tuple(float(d) for d in jac_rev),
    }


def record_tape(x1=1, x2=2):
    """Run f once on a tape; return the tape, the inputs and the output it traced."""
    with reverse.Tape() as tape:
        v1, v2 = tape.watch(x1), tape.watch(x2)  # the inputs become entries v0, v1
        y = f(v1, v2)                            # every primitive appends one entry
    return tape, (v1, v2), y


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x1", type=float, default=1, help="first input (default 1)")
    parser.add_argument("--x2", type=float, default=2, help="second input (default 2)")
    parser.add_argument("--out", default="runs/examples/sqrt_norm", metavar="DIR",
                        help="folder for sqrt_norm_tape.dot, the tape as a Graphviz graph "
                             "(default %(default)s)")
    args = parser.parse_args(argv)
    # Keep whole numbers as Python ints, as in the textbook's f(1, 2).
    x1, x2 = (int(v) if float(v).is_integer() else v for v in (args.x1, args.x2))

    value = f(x1, x2)
    d1, d2 = adkit.grad(f, 0)(x1, x2), adkit.grad(f, 1)(x1, x2)
    print(f"f(x1, x2) = sqrt(x1^2 + x2^2) at (x1, x2) = ({x1}, {x2})")
    print(f"  f({x1}, {x2})          = {value:.3f}")
    print(f"  grad(f, 0)({x1}, {x2}) = {d1:.3f}   (df/dx1)")
    print(f"  grad(f, 1)({x1}, {x2}) = {d2:.3f}   (df/dx2)")

    # The same two numbers by every route; they should agree to rounding.
    modes = partials_by_mode(x1, x2)
    print(f"\n  {'route':<36}{'df/dx1':>14}{'df/dx2':>14}")
    for label, (a, b) in modes.items():
        print(f"  {label:<36}{a:>14.10f}{b:>14.10f}")
    table = np.array(list(modes.values()), dtype=float)
    spread = float(np.max(np.abs(table - table[0])))
    print(f"  largest difference between routes: {spread:.1e}")

    # Inside reverse mode: the Wengert list of one evaluation. Each entry is an
    # elementary operation on earlier entries; walking it backwards from the
    # output, with adjoint 1 there, yields the adjoint of every input.
    tape, inputs, y = record_tape(x1, x2)
    print(f"\nWengert list recorded by adkit.reverse.Tape ({len(tape.entries)} entries):")
    for entry in tape.entries:
        print(f"  {entry!r}")
    adjoints = tape.gradient(y, inputs)
    print(f"  output v{y.node.index} = {y.value:.3f}; the backward pass from adjoint 1 there "
          f"gives adjoint(v0) = {adjoints[0]:.3f}, adjoint(v1) = {adjoints[1]:.3f}")

    os.makedirs(args.out, exist_ok=True)
    dot = os.path.join(args.out, "sqrt_norm_tape.dot")
    with open(dot, "w") as fh:
        fh.write(tape.to_dot([y]))
    print(f"  graph written to {dot} (render: dot -Tpng {dot} -o sqrt_norm_tape.png)")

    return {"dot": dot, "value": float(value), "grad": (float(d1), float(d2)), "modes": modes,
            "spread": spread, "entries": [repr(e) for e in tape.entries],
            "tape_gradient": tuple(float(a) for a in adjoints)}


if __name__ == "__main__":
    main()
