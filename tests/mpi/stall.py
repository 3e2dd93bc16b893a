"""Run under mpiexec by tests/faults/test_faults_distributed.py: one rank stalls.

    python stall.py WHERE HOW TIMEOUT OUT_DIR

Rank 1 stalls at WHERE (compile, setup, train, predict, evaluate, refit) by HOW
(sigstop: the process stops itself, as `kill -STOP` would; sleep: it sleeps 60 s).
Rank 0 writes OUT_DIR/waiting-since.txt (a time.time()) just before the collective
that rank 1 will miss, so the test can measure how long rank 0 took to give up.
With STALL_CATCH=1 in the environment and WHERE=predict, rank 0 catches the timeout,
tries evaluate, writes both messages to OUT_DIR/caught.txt and returns normally.
"""

import os
import signal
import sys
import time

import numpy as np
# MPI_Init waits for every rank, before any bound of adkit's can apply: initialise it
# first, so that the stall happens where the test says.
from mpi4py import MPI  # noqa: F401

from adkit.nn import Sequential, distributed
from adkit.nn.layers import Dense


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def stall(how):
    if how == "sigstop":
        os.kill(os.getpid(), signal.SIGSTOP)
    else:
        time.sleep(60)


def catch_and_go_on(net, x, y, out):
    """Rank 0 catches the timeout, tries another collective (which must fail at once)
    and returns normally: the job must still end, aborted at exit."""
    try:
        net.predict(x)
    except distributed.CollectiveTimeout as e:
        first = str(e)
    started = time.perf_counter()
    try:
        net.evaluate(x, y)
        second = "evaluate did not raise"
    except distributed.CollectiveTimeout as e:
        second = f"{time.perf_counter() - started:.3f} s: {e}"
    with open(os.path.join(out, "caught.txt"), "w") as f:
        f.write(first + "\n" + second + "\n")


def main(where, how, timeout, out):
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))

    def at(point):
        """Rank 1 stalls here; rank 0 notes the time it starts waiting for it."""
        if where != point:
            return
        if rank == 1:
            stall(how)
        elif rank == 0:
            with open(os.path.join(out, "waiting-since.txt"), "w") as f:
                f.write(repr(time.time()))

    x, y = data()
    net = Sequential([Dense(8, activation="tanh", input_shape=(4,)),
                      Dense(2, activation="softmax")], seed=0)


    at("compile")
    strategy = distributed.DataParallel(timeout=timeout)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                metrics=["accuracy"], distribute=strategy)
    at("setup")
    callbacks = []
    if where == "train":
        from adkit.nn.callbacks import Callback

        class Stall(Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch == 2:
                    at("train")
        callbacks.append(Stall())
    net.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=callbacks)
    at("predict")
    if os.environ.get("STALL_CATCH") and rank == 0:
        catch_and_go_on(net, x, y, out)
        return
    net.predict(x)
    at("evaluate")
    net.evaluate(x, y)
    at("refit")
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)
    with open(os.path.join(out, f"finished-{rank}.txt"), "w") as f:
        f.write("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
