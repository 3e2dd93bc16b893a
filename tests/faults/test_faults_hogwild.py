"""Hogwild under faults: kill -9 of the parent must not leave workers or /dev/shm segments.

Workers inherit the parent's ends of the pipes, so they never read EOF when the parent
dies; they watch their parent instead (nn/hogwild.py, _watch_parent), and the parent
removes the segments' names as soon as every worker has attached.
"""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from adkit.nn import hogwild

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir() or
                                not Path("/dev/shm").is_dir(),
                                reason="needs Linux's /proc and /dev/shm to see the processes "
                                       "and segments a run leaves")

RUN = textwrap.dedent("""
    import sys
    from adkit.nn import hogwild
    problem = hogwild.sparse_logistic_problem(20000, 5000, nnz_per_row=20, seed=0)
    hogwild.train(problem, workers=2, epochs=100000, start_method=sys.argv[1])
""")


def children(pid: int) -> set[int]:
    """The live children of process pid (every thread's)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    """Running or stopped; a zombie (dead, not yet reaped by whoever adopted it) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def segments_of(pid: int) -> list[str]:
    return sorted(p.name for p in Path("/dev/shm").glob(f"{hogwild.SEGMENT_PREFIX}{pid}_*"))


def wait_for(condition, seconds: float, step: float = 0.05) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("when", ["training", "starting"])
def test_killing_the_parent_ends_its_workers_and_removes_its_segments(start_method, when):
    parent = subprocess.Popen([sys.executable, "-c", RUN, start_method],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    spawned: set[int] = set()
    try:
        def workers_started() -> bool:
            spawned.update(children(parent.pid))
            return len(spawned) >= 2 and (when == "starting" or not segments_of(parent.pid))
        # "starting": the moment two processes exist (segments still named, workers
        # perhaps not attached); "training": once the parent has removed the names,
        # which it does after every worker attached.
        assert wait_for(workers_started, 60), parent.stderr.read1().decode() \
            if parent.poll() is not None else "the workers did not start within 60 s"
        if when == "training":
            time.sleep(0.5)
        spawned.update(children(parent.pid))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        killed_at = time.monotonic()
        assert wait_for(lambda: not any(alive(p) for p in spawned), 5), \
            f"still alive 5 s after the parent's kill -9: {[p for p in spawned if alive(p)]}"
        assert wait_for(lambda: not segments_of(parent.pid), 2), segments_of(parent.pid)
        assert time.monotonic() - killed_at < 7
    finally:
        for pid in spawned | {parent.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for name in segments_of(parent.pid):
            Path("/dev/shm", name).unlink(missing_ok=True)


def test_a_stalled_worker_is_named_within_the_timeout_and_nothing_is_left():
    problem = hogwild.sparse_logistic_problem(4000, 1000, nnz_per_row=5, seed=0)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"worker\(s\) \[1\] of 2 did not finish in epoch 1 "
                                           r"within timeout=3 s"):
        hogwild.train(problem, workers=2, epochs=5, timeout=3, _fault=(1, 1, "hang"))
    assert time.monotonic() - started < 3 + 3   # the timeout, then terminate and join
    assert not segments_of(os.getpid())
    assert not multiprocessing.active_children()
