"""Run under mpiexec by tests/test_nn_distributed.py: python data_parallel.py MODE OUT_DIR.

MODE same-answer: for each optimizer, data-parallel training on every rank and, on
    rank 0, the same training in one process; rank 0 writes the largest weight
    difference per optimizer (and the logs of both) to OUT_DIR/result.json.
MODE mismatch: rank 1 builds a different model; every rank reports the error.
MODE dies: rank 1 exits abruptly in epoch 2, after rank 0 saved a checkpoint.
MODE stalls: rank 1 stops answering; the others give up after a short timeout.
"""

import json
import os
import sys
import time

import numpy as np

from adkit.nn import Sequential, callbacks, distributed, optimizers, regularizers
from adkit.nn.layers import Dense

OPTIMIZERS = ["sgd", "nag", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "nadam",
              "rprop", "esgd"]


def data(n=101, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def model(units=8, seed=3):
    return Sequential([Dense(units, activation="tanh", input_shape=(4,),
                             kernel_regularizer=regularizers.l2(1e-3)),
                       Dense(3, activation="softmax")], seed=seed)


def fit(net, distribute, x, y, **kw):
    optimizer = kw.pop("optimizer", "adam")
    if optimizer == "esgd":   # its random probe vectors must match the reference's
        optimizer = optimizers.ESGD(seed=0)
    net.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                metrics=["accuracy"], distribute=distribute)
    history = net.fit(x, y, batch_size=kw.pop("batch_size", 33), epochs=kw.pop("epochs", 3),
                      verbose=0, validation_data=(x[:57], y[:57]), **kw)
    return history


def same_answer(out):
    x, y = data()
    rank = distributed.DataParallel().rank
    result = {}
    for name in OPTIMIZERS:
        parallel = model()
        h_par = fit(parallel, "mpi", x, y, optimizer=name)
        if rank == 0:
            alone = model()
            h_one = fit(alone, None, x, y, optimizer=name)
            diff = max(float(np.max(np.abs(a - b))) for a, b in
                       zip(parallel.get_weights(), alone.get_weights()))
            moved = max(float(np.max(np.abs(a - b))) for a, b in
                        zip(parallel.get_weights(), model().get_weights()))
            result[name] = {"max_weight_difference": diff, "max_weight_change": moved,
                            "parallel_logs": h_par.history, "single_logs": h_one.history}
    evaluation = parallel.evaluate(x, y, batch_size=10)
    prediction = parallel.predict(x, batch_size=7)
    if rank == 0:
        result["evaluate"] = {"parallel": evaluation,
                              "single": _single_copy(parallel).evaluate(x, y, batch_size=10)}
        result["predict_shape"] = list(prediction.shape)
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump(result, f)


def _single_copy(net):
    copy = model()
    copy.set_weights(net.get_weights())
    copy.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return copy


def mismatch(out):
    x, y = data()
    rank = distributed.DataParallel().rank
    try:
        fit(model(units=9 if rank == 1 else 8), "mpi", x, y)
    except ValueError as e:
        with open(os.path.join(out, f"error-{rank}.txt"), "w") as f:
            f.write(str(e))


class _Crash(callbacks.Callback):
    def __init__(self, how, rank):
        self.how, self.rank = how, rank

    def on_train_batch_end(self, batch, logs=None):
        if self.rank == 1 and self.epoch == 1 and batch == 1:
            if self.how == "dies":
                os._exit(3)
            time.sleep(600)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


def crash(out, how):
    x, y = data(2000)
    net = model()
    strategy = distributed.DataParallel(timeout=4.0)
    fit(net, strategy, x, y, epochs=50, callbacks=[
        callbacks.ModelCheckpoint(os.path.join(out, "ckpt.adkit")), _Crash(how, strategy.rank)])


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "same-answer":
        same_answer(out)
    elif mode == "mismatch":
        mismatch(out)
    else:
        crash(out, mode)
