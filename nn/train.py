"""Train a zoo model on Fashion-MNIST end to end: load, fit, evaluate, save, plot.

This is the README's main job (`python -m adkit demo`) and what `adkit train`
calls. Besides the model and its learning curve it records the training with
the TensorBoard callback in OUT/logs (adkit.nn.callbacks.TensorBoard).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Callable

import numpy as np

from . import callbacks, figures, zoo
from .allocator import tune
from .datasets import fashion_mnist
from .callbacks import TensorBoard

OPTIMIZERS = {"cnn": "adadelta", "mlp": "adam", "lstm": "adam"}
#: test images whose gradients and activations the TensorBoard histograms show
HISTOGRAM_SAMPLES = 256


class TrainSetupError(ValueError):
    """train() cannot start: an unknown model, a device the model cannot compile for,
    or no data. The message says which and how to fix it; nothing has been trained."""


class BatchLosses(callbacks.Callback):
    """Keeps every batch's running loss, for a learning curve finer than epochs."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps.append(len(self.steps) + 1)
        self.losses.append(float(logs["loss"]))


def load_images(limit: int | None = None, path: str | None = None) -> tuple:
    """Fashion-MNIST as float32 (n, 28, 28, 1) in [0, 1] and integer labels."""
    (x, y), (xt, yt) = fashion_mnist.load_data(path)
    if limit is not None:
        x, y, xt, yt = x[:limit], y[:limit], xt[:limit], yt[:limit]
    scale = np.float32(1 / 255)
    return ((x[..., None] * scale, y.astype(np.int64)),
            (xt[..., None] * scale, yt.astype(np.int64)))


def train(model: str = "cnn", epochs: int = 1, batch_size: int = 128, out: str = "runs/cnn",
          limit: int | None = None, seed: int = 0, verbose: int = 1,
          print_: Callable[[str], None] = print, distribute: Any = None,
          device: str | None = None, logs: bool = True,
          reuse_memory: bool = True) -> dict[str, Any]:
    """Fit a zoo model, print test loss and accuracy, save the model and a learning curve.

    distribute="mpi": data-parallel over the MPI ranks (rank 0 prints and writes).
    device: passed to model.compile ("cpu", "opencl"; None: $ADKIT_DEVICE or cpu).
    logs: record scalars and histograms with the TensorBoard callback in out/logs.
    reuse_memory: let glibc keep freed memory for reuse while fitting (adkit.nn.tune's
        malloc setting, for this call only; fit undoes it when it ends).
    Raises TrainSetupError, before any training, for an unknown model, a device that
    cannot be used, or missing data.

    >>> result = train("mlp", epochs=1, limit=512, out="runs/mlp")   # doctest: +SKIP
    >>> result["test_accuracy"] > 0.5                                 # doctest: +SKIP
    True
    """
    if model not in zoo.MODELS:
        raise TrainSetupError(f"unknown model {model!r}; choose from {', '.join(zoo.MODELS)}")
    net = zoo.MODELS[model](seed=seed)
    try:   # compile first: a device that cannot be used fails before the data loads
        net.compile(optimizer=OPTIMIZERS[model], loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"], device=device, distribute=distribute)
    except (ValueError, RuntimeError) as e:   # RuntimeError: OpenCL found unusable
        raise TrainSetupError(str(e)) from e
    try:
        (x, y), (xt, yt) = load_images(limit)
    except (FileNotFoundError, ValueError) as e:   # missing, or a damaged file (named)
        raise TrainSetupError(str(e)) from e
    if not net.is_chief:
        verbose, print_ = 0, (lambda line: None)
    if verbose:
        net.summary(print_fn=print_)
    os.makedirs(out, exist_ok=True)
    batches = BatchLosses()
    extra: list = [batches]
    log_dir = os.path.join(out, "logs")
    if logs:
        board = TensorBoard(log_dir, histogram_freq=1, histogram_samples=HISTOGRAM_SAMPLES,
                            histogram_data=(xt, yt))
        extra.append(board)
    started = time.perf_counter()
    previous = tune(malloc=reuse_memory)
    try:
        history = net.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                          validation_data=(xt, yt), callbacks=extra)
    finally:
        tune(**previous)
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = net.evaluate(xt, yt, batch_size=512)
    model_path = os.path.join(out, f"{model}.adkit")
    net.save(model_path)
    print_(f"{model}: {len(x)} training images, {len(history.epoch)} epoch(s) in {seconds:.1f} s; "
           f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
    print_(f"saved the model to {model_path}")
    curve = os.path.join(out, f"{model}_learning_curve.png")
    if net.is_chief:   # under MPI, rank 0 alone draws
        title = f"{model} on Fashion-MNIST"
        if plot_learning_curve(batches, history, len(x) / batch_size, curve, title):
            print_(f"saved the learning curve to {curve}")
        else:
            print_("matplotlib is not installed, so no learning curve was drawn "
                   "(pip install \"adkit[examples]\")")
    if logs and board.writes == "tensorboard":
        print_(_tensorboard_hint(log_dir))
    elif logs and board.writes == "json":
        print_(f"training summaries in {log_dir}: summaries.jsonl (scalars and histograms of "
               "weights, gradients, activations per epoch) and PNGs (pip install tensorboardX "
               "for TensorBoard event files)")
    return {"model": net, "history": history, "test_loss": test_loss,
            "test_accuracy": test_accuracy, "seconds": seconds, "model_path": model_path,
            "log_dir": log_dir if logs else None}


def plot_learning_curve(batches: BatchLosses, history: Any, steps_per_epoch: float,
                        path: str, title: str) -> bool:
    """Running training loss per batch and validation loss per epoch, to a PNG. Draws on
    a Figure of its own (no pyplot), so the caller's matplotlib backend and open figures
    stay as they were. False when matplotlib is not installed."""
    if not figures.available():
        return False
    fig = figures.new_figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    ax.plot(np.array(batches.steps) / steps_per_epoch, batches.losses,
            label="training loss (running mean)")
    val = history.history.get("val_loss", [])
    if val:
        ax.plot(np.arange(1, len(val) + 1), val, "o-", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    figures.save_png(fig, path, dpi=100)
    return True


def _tensorboard_hint(log_dir: str) -> str:
    """How to look at the event files in log_dir, with a command that exists here."""
    view = f"tensorboard --logdir {log_dir}"
    if shutil.which("tensorboard") is None:
        view = f"pip install tensorboard, then {view}"
    return f"TensorBoard event files in {log_dir}: to view them, {view}"
