"""Downpour SGD on a small synthetic problem, for tests/test_nn_downpour.py.

Run under MPI, one process per rank:

    mpiexec --allow-run-as-root --oversubscribe -n 3 \
        python tests/mpi/run_downpour.py OUT [N_PUSH N_FETCH]

Every rank writes OUT/rank<r>.npz (its final weights); rank 0 also writes
OUT/history.json (the server's record).

    ... run_downpour.py OUT N_PUSH N_FETCH STALL_RANK STALL_AT HOW TIMEOUT

makes rank STALL_RANK stall (HOW: sigstop, the process stops itself as `kill -STOP`
would; or sleep, 60 s) at its step STALL_AT if a worker, at its validation number
STALL_AT if the server, with downpour's timeout TIMEOUT s. It writes
OUT/stalled-at.txt (a time.time()) just before it stalls.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np


def problem(n: int = 1536, seed: int = 0) -> tuple:
    """Three Gaussian blobs in 8 dimensions: separable, but not from the start."""
    centres = np.random.default_rng(12345).normal(scale=1.5, size=(3, 8))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (centres[y] + rng.normal(size=(n, 8))).astype(np.float32)
    return x, y


def main(argv: list[str]) -> None:
    from adkit.nn import Sequential, downpour
    from adkit.nn.mpi import comm_world
    from adkit.nn.layers import Dense

    out = argv[0]
    n_push, n_fetch = (int(argv[1]), int(argv[2])) if len(argv) > 2 else (1, 1)
    stall = argv[3:7] if len(argv) > 3 else None
    x, y = problem()
    xv, yv = problem(512, seed=1)
    # seed=None: each rank starts from different weights, so identical final weights
    # show that the broadcast, not the seed, made them so.
    model = Sequential([Dense(32, activation="relu", input_shape=(8,)),
                        Dense(3, activation="softmax")], seed=None)
    model.compile(optimizer="adagrad", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rank = comm_world().Get_rank()
    timeout = None
    if stall is not None:
        timeout = float(stall[3])
        if int(stall[0]) == rank:
            _stall_at(model, rank, int(stall[1]), stall[2], out)
    history = downpour.train(model, x, y, batch_size=32, epochs=3, n_push=n_push,
                             n_fetch=n_fetch, learning_rate=0.05, validation_data=(xv, yv),
                             validate_every=1.0, verbose=0, timeout=timeout)
    np.savez(os.path.join(out, f"rank{rank}.npz"), *model.get_weights())
    if rank == 0:
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(history.to_dict(), f)


def _stall_at(model, rank: int, at: int, how: str, out: str) -> None:
    """Make this rank stall at its step `at` (a worker: each step calls loss_fn once)
    or its validation number `at` (the server: each validation calls evaluate once)."""
    name = "evaluate" if rank == 0 else "loss_fn"
    original = getattr(model, name)
    calls = [0]

    def stalling(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at:
            with open(os.path.join(out, "stalled-at.txt"), "w") as f:
                f.write(repr(time.time()))
            if how == "sigstop":
                os.kill(os.getpid(), signal.SIGSTOP)
            else:
                time.sleep(60)
        return original(*args, **kwargs)
    setattr(model, name, stalling)


if __name__ == "__main__":
    main(sys.argv[1:])
