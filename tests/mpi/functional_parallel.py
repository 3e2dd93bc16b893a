"""Run under mpiexec by tests/test_nn_functional.py: python functional_parallel.py OUT_DIR.

A functional Model with a residual connection trains data-parallel on every rank
and, on rank 0, the same training in one process; rank 0 writes the largest weight
difference and both logs to OUT_DIR/result.json.
"""

import json
import os
import sys

import numpy as np

from adkit.nn import Input, Model, distributed
from adkit.nn.layers import Add, Dense


def data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def model():
    inp = Input(shape=(4,))
    h = Dense(4, activation="tanh")(inp)
    h = Add()([inp, Dense(4, activation="tanh")(h)])
    return Model(inp, Dense(2, activation="softmax")(h), seed=5)


def fit(net, distribute, x, y):
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                metrics=["accuracy"], distribute=distribute)
    return net.fit(x, y, batch_size=30, epochs=3, verbose=0).history


def main(out):
    x, y = data()
    parallel = model()
    logs = fit(parallel, "mpi", x, y)
    prediction = parallel.predict(x, batch_size=7)
    if distributed.DataParallel().rank == 0:
        alone = model()
        single = fit(alone, None, x, y)
        diff = max(float(np.max(np.abs(a - b)))
                   for a, b in zip(parallel.get_weights(), alone.get_weights()))
        moved = max(float(np.max(np.abs(a - b)))
                    for a, b in zip(parallel.get_weights(), model().get_weights()))
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump({"max_weight_difference": diff, "max_weight_change": moved,
                       "parallel_logs": logs, "single_logs": single,
                       "predict_shape": list(prediction.shape)}, f)


if __name__ == "__main__":
    main(sys.argv[1])
