"""Downpour SGD (adkit.nn.downpour) with a stalled worker or server: no hang, a clear error.

tests/mpi/run_downpour.py trains on 3 ranks (a server, two workers); one rank stops
itself with SIGSTOP (as `kill -STOP` would) or sleeps, a worker at one of its steps,
the server at one of its validations. The other ranks must give up within the
timeout plus a small margin, naming the silent rank and what it was last doing, and
the whole job must end, leaving no process behind.
"""

from pathlib import Path

import pytest

from adkit.nn import mpi
from mpi_support import assert_failed_within, assert_nothing_left, mpirun, needs_mpi

SCRIPT = Path(__file__).resolve().parent.parent / "mpi" / "run_downpour.py"
TIMEOUT_S = 3
MARGIN_S = 6

# who stalls, where -> what the job's error must say
EXPECTED = {
    "worker": ("rank 0 (the parameter server) of 3: heard nothing from rank 1 (a worker) "
               f"for over {TIMEOUT_S} s: rank 1 (a worker) last sent a "),
    "server": (f"(a worker) of 3: waited {TIMEOUT_S} s for rank 0 (the parameter server) "
               "while fetching the parameters before its step "),
}
STALL = {"worker": (1, 20), "server": (0, 2)}   # (rank, its step or validation number)


def cases():
    for who in EXPECTED:
        for how in ("sigstop", "sleep"):
            quick = (who, how) in {("worker", "sigstop"), ("server", "sleep")}
            yield pytest.param(who, how, marks=() if quick else (pytest.mark.thorough,),
                               id=f"{who}-{how}")


@needs_mpi
@pytest.mark.parametrize("who, how", list(cases()))
def test_a_stalled_rank_makes_the_job_end_naming_it_and_what_it_was_doing(tmp_path, who, how):
    rank, at = STALL[who]
    proc, _ = mpirun(3, SCRIPT, tmp_path, 1, 1, rank, at, how, TIMEOUT_S, timeout=90)
    assert_failed_within(proc, tmp_path / "stalled-at.txt", TIMEOUT_S + MARGIN_S)
    assert EXPECTED[who] in proc.stderr, proc.stderr[-3000:]
    assert "aborting all ranks" in proc.stderr
    assert not (tmp_path / "history.json").exists()
    assert_nothing_left(str(tmp_path))


def test_the_timeout_must_be_a_positive_number_of_seconds(monkeypatch):
    assert mpi.check_timeout(2) == 2.0
    for bad in (0, -1, float("nan"), float("inf"), "soon", True, None):
        with pytest.raises(ValueError, match="must be a finite number of seconds > 0"):
            mpi.check_timeout(bad, "downpour.train: timeout")
    monkeypatch.setenv(mpi.TIMEOUT_ENV, "7.5")
    assert mpi.default_timeout() == 7.5
    monkeypatch.setenv(mpi.TIMEOUT_ENV, "ten")
    with pytest.raises(ValueError, match=r"\$ADKIT_MPI_TIMEOUT='ten'"):
        mpi.default_timeout()
    monkeypatch.delenv(mpi.TIMEOUT_ENV)
    assert mpi.default_timeout() == mpi.DEFAULT_TIMEOUT_S
