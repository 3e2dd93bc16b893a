"""Launching scripts under mpiexec from the tests, and checking that a job left nothing behind.

Tests that need MPI carry `needs_mpi`: it skips them, with the install command as the
reason, where mpi4py or an mpiexec is missing.
"""

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adkit.nn import mpi

MPIEXEC = mpi.mpiexec() if importlib.util.find_spec("mpi4py") is not None else None
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason=f"needs mpi4py and mpiexec: "
                               f"{mpi.INSTALL_HINT}")


def mpirun(n: int, *command: object, timeout: float = 120,
           env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run `python *command` on n ranks; (the finished process, its wall seconds)."""
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True).stdout
    # Open MPI refuses root without the first flag and more ranks than cores without
    # the second; other MPIs do not know them.
    flags = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   **(env or {})}
    started = time.perf_counter()
    proc = subprocess.run([MPIEXEC, *flags, "-n", str(n), sys.executable, *map(str, command)],
                          capture_output=True, text=True, timeout=timeout, env=environment)
    return proc, time.perf_counter() - started


def processes_mentioning(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def assert_nothing_left(marker: str, grace: float = 5.0) -> None:
    """Every process of the job (found by a marker in its command line) ends within grace s;
    those that do not are killed, and the assertion fails naming them."""
    if not Path("/proc").is_dir():
        return
    end = time.monotonic() + grace
    while processes_mentioning(marker) and time.monotonic() < end:
        time.sleep(0.1)
    left = processes_mentioning(marker)
    for pid in left:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert not left, f"processes still alive {grace} s after the job ended: {left}"


def assert_failed_within(proc: subprocess.CompletedProcess, mark: Path, bound: float) -> float:
    """The job failed, and ended less than bound seconds after the time.time() written
    to the file mark (where the fault began); returns those seconds (printed for -s)."""
    ended = time.time()
    assert proc.returncode != 0, f"the job succeeded despite the fault:\n{proc.stderr[-3000:]}"
    assert mark.exists(), f"the job ended before reaching the fault:\n{proc.stderr[-3000:]}"
    seconds = ended - float(mark.read_text())
    print(f"job ended {seconds:.2f} s after the fault began (bound {bound} s)")
    assert seconds < bound, f"the job ended {seconds:.1f} s after the fault began"
    return seconds
