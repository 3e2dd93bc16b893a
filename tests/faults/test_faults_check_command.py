"""Hostile input to `adkit check`, run through the command line as an attacker would: each
expression of issue 15 must end with exit status 2, one line on stderr, within seconds and
under a memory cap that the child process cannot exceed (RLIMIT_AS)."""

import os
import resource
import subprocess
import sys
import time

import pytest

MEMORY_CAP = 2 * 1024**3        # address space, NumPy's and SymPy's imports included
TIME_LIMIT = 60                 # seconds of wall clock; each case takes about one
HOSTILE = [
    pytest.param("np.ones_like(x, shape=(20000, 20000))", "x=1,2", "400,000,000 elements",
                 id="ones_like-3GB"),
    pytest.param("np.linspace(0, 1, num=400000000)", "x=1", "400,000,000 elements",
                 id="linspace-3GB"),
    pytest.param("np.sum(np.broadcast_to(x, shape=(1000, 1000)))", "x=1",
                 "symbolic mode would cost", id="broadcast_to-minutes"),
    # Linux caps one command-line argument at 128 KiB: these are the largest that pass
    pytest.param("[" + ",".join(["1.5"] * 30_000) + "]", "x=1", "characters, over the limit",
                 id="list-literal-120KB"),
    pytest.param("-" * 100_000 + "x", "x=1", "characters, over the limit",
                 id="100000-nested-minus"),
    pytest.param("- " * 4_000 + "x", "x=1", "nested", id="nested-minus-under-length-limit"),
    pytest.param("9**9**9", "x=1", "OverflowError", id="9**9**9"),
    pytest.param("x/0", "x=1", "ZeroDivisionError", id="x/0"),
    pytest.param("x%0", "x=1", "ZeroDivisionError", id="x%0"),
    pytest.param("x[5]", "x=1,2", "IndexError", id="x[5]"),
    pytest.param("np.sum(x, axis=2)", "x=1,2", "AxisError", id="bad-axis"),
    pytest.param("np.sum(x, keepdim=1)", "x=1,2", "unexpected keyword", id="bad-keyword"),
    pytest.param("np.linalg.matrix_power(x, 3)", "x=1,2", "LinAlgError",
                 id="matrix_power-of-a-vector"),
    pytest.param("np.sum(np.outer(x, x))", "x=" + ",".join(["0.5"] * 1000), "would cost",
                 id="jacobian-too-costly"),
    # small by every count, but SymPy's second derivative of it takes minutes
    pytest.param("np.prod([" + ",".join(f"np.sin(x*{i})" for i in range(1, 300)) + "])",
                 "x=0.3 --order 2 --time-limit 5", "took longer than its time limit of 5 s",
                 id="symbolic-minutes"),
]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
@pytest.mark.parametrize("expression, at, says", HOSTILE)
def test_hostile_expression_is_refused_in_one_line(tmp_path, expression, at, says):
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "adkit", "check", "--at", *at.split(), "--",
                          expression],
                         capture_output=True, text=True, timeout=TIME_LIMIT, cwd=tmp_path,
                         preexec_fn=_limit_memory,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    took = time.perf_counter() - started
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("adkit check: error: "), run.stderr[-2000:]
    assert says in lines[0] and len(lines[0]) < 600
    assert took < TIME_LIMIT
    if "time limit" not in says:    # a time-out comes after the value is printed
        assert run.stdout == ""
    assert list(tmp_path.iterdir()) == []     # nothing written
