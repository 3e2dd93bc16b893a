"""Data-parallel training (adkit.nn.distributed) with one rank stalled: no hang, a clear error.

tests/mpi/stall.py runs a small fit on 2 ranks; rank 1 stops itself with SIGSTOP (as
`kill -STOP` would) or sleeps, at one point of the program: before compile, before
fit's set-up checks, in training, before predict, before evaluate, before a second
fit. Rank 0 must give up within the timeout plus a small margin, with a message that
names rank 1 and the collective it missed, and the whole job must end, leaving no
process behind.
"""

from pathlib import Path

import pytest

from mpi_support import assert_failed_within, assert_nothing_left, mpirun, needs_mpi

SCRIPT = Path(__file__).resolve().parent.parent / "mpi" / "stall.py"
TIMEOUT_S = 3
MARGIN_S = 6   # from the timeout to the end of the whole job: abort, kill, reap

# where rank 1 stalls -> the collective rank 0 is left waiting in
MISSED = {
    "compile": "duplicating the communicator",
    "setup": "comparing the training set-ups, while starting fit",
    "train": "allreduce of the gradients, while training epoch 1, batch 4",
    "predict": "gather of outputs and labels: row counts, in predict()",
    "evaluate": "sum of the loss, in evaluate()",
    "refit": "comparing the training set-ups, while starting fit",
}
QUICK = {("train", "sigstop"), ("predict", "sleep"), ("setup", "sigstop")}


def cases():
    for where in MISSED:
        for how in ("sigstop", "sleep"):
            marks = () if (where, how) in QUICK else (pytest.mark.thorough,)
            yield pytest.param(where, how, marks=marks, id=f"{where}-{how}")


@needs_mpi
@pytest.mark.parametrize("where, how", list(cases()))
def test_a_stalled_rank_makes_the_job_end_with_the_collective_and_the_rank_named(
        tmp_path, where, how):
    proc, _ = mpirun(2, SCRIPT, where, how, TIMEOUT_S, tmp_path, timeout=90)
    assert_failed_within(proc, tmp_path / "waiting-since.txt", TIMEOUT_S + MARGIN_S)
    assert f"rank 0 of 2: waited {TIMEOUT_S} s for" in proc.stderr, proc.stderr[-3000:]
    assert MISSED[where] in proc.stderr, proc.stderr[-3000:]
    if where != "compile":   # before the notes exist, no rank can be named
        assert "for rank 1 in collective #" in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "finished-0.txt").exists()
    assert_nothing_left(str(tmp_path))


@needs_mpi
def test_a_caught_timeout_leaves_the_communicator_refusing_and_the_job_still_ends(tmp_path):
    proc, _ = mpirun(2, SCRIPT, "predict", "sleep", TIMEOUT_S, tmp_path, timeout=90,
                     env={"STALL_CATCH": "1"})
    # rank 0 returned normally, yet the job was aborted at its exit, not left to hang
    # in MPI_Finalize beside a pending collective
    assert_failed_within(proc, tmp_path / "waiting-since.txt", TIMEOUT_S + MARGIN_S)
    first, second = (tmp_path / "caught.txt").read_text().splitlines()
    assert f"waited {TIMEOUT_S} s for rank 1" in first and "in predict()" in first
    seconds, message = second.split(" s: ", 1)
    assert float(seconds) < 0.5, second
    assert message.startswith("cannot start sum of the loss, in evaluate(): an earlier "
                              "operation timed out"), message
    assert_nothing_left(str(tmp_path))
