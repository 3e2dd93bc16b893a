"""Run examples under the real autograd (sdist on PYTHONPATH) and under the shim (adkit) for
the same wall time; compare the first numbers each prints.

    python compare_numbers.py NAME ...      (AG_COMPARE_SECONDS, default 25)
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import adkit_checkout  # noqa: E402
SECONDS = int(os.environ.get("AG_COMPARE_SECONDS", "25"))
NUM = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def run(name, pythonpath):
    env = dict(os.environ, PYTHONPATH=pythonpath, MPLBACKEND="Agg", PYTHONWARNINGS="ignore",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    path = os.path.join(HERE, "examples", name + ".py")
    try:
        out = subprocess.run([sys.executable, "-u", path], cwd=os.path.dirname(path), env=env,
                             timeout=SECONDS, capture_output=True, text=True).stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
    return [float(x) for line in out.splitlines() for x in NUM.findall(line)]


for name in sys.argv[1:]:
    ref = run(name, "/tmp/ag/autograd-1.9.1")
    ours = run(name, os.pathsep.join([adkit_checkout(), os.path.join(HERE, "shim"),
                                      os.path.join(HERE, "tests")]))
    n = min(len(ref), len(ours), 6)
    if n == 0:
        print(f"{name}: nothing to compare (autograd printed {len(ref)}, adkit {len(ours)})")
        continue
    gap = max(abs(a - b) / max(1.0, abs(a)) for a, b in zip(ref[:n], ours[:n]))
    print(f"{name}: first {n} numbers, max relative gap {gap:.1e}  autograd {ref[:3]}  adkit {ours[:3]}")
