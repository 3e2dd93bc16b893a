"""A short fit that records the loss after every batch: how the layer tests compare a
compiled step with an eager one, and an OpenCL device with the CPU."""

import numpy as np

from adkit.nn import Sequential
from adkit.nn.callbacks import LambdaCallback


def batch_losses(layers, x, y, *, jit="auto", device=None, optimizer="adam", loss="mse",
                 batch_size=16, epochs=1, seed=2, **fit_kwargs):
    """(per-batch losses, model) of fitting Sequential(layers, seed=seed) to (x, y),
    compiled with jit_compile=jit on `device` (None: the default, the CPU)."""
    model = Sequential(layers, seed=seed)
    options = {} if device is None else {"device": device}
    model.compile(optimizer=optimizer, loss=loss, jit_compile=jit, **options)
    losses = []
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[
        LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))],
        **fit_kwargs)
    return np.array(losses), model
