"""List the OpenCL platforms and devices adkit can use (the textbook's Listing 10-1).

The textbook prints each device's name, type, clock, compute units and memory
sizes with Python 2 print statements; adkit.kernels.devices() gathers the same
facts (and the limits kernels are launched against) into DeviceInfo records,
and `python -m adkit devices` prints the same table.

    python examples/opencl_devices.py
"""

from __future__ import annotations

import argparse
import os
import sys

from adkit import kernels


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/examples/opencl_devices", metavar="DIR",
                        help="folder for opencl_devices.txt, the table printed "
                             "(default %(default)s)")
    args = parser.parse_args(argv)
    try:
        infos = kernels.devices()
    except kernels.OpenCLUnavailable as exc:
        print(exc, file=sys.stderr)
        return []
    table = kernels.format_devices(infos)
    print("OpenCL platforms and devices")
    print(table)
    chosen = kernels.device()
    print(f"\nadkit.kernels.device() picks {chosen.info.spec} {chosen.info.name!r} "
          f"(set ADKIT_DEVICE to choose another)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "opencl_devices.txt")
    with open(path, "w") as fh:
        fh.write(table + "\n")
    print(f"the table saved to {path}")
    return infos


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
