"""Training made visible: the TensorBoard callback (Keras's name) and what it records.

After every epoch the callback records the epoch's scalars (loss, metrics, their
val_ twins, the epoch's time and the optimizer's learning rate) and, every
`histogram_freq` epochs, histograms of three things: every weight of the model,
the gradient of the loss with respect to each weight, and each layer's output
(activations). Gradients and activations are computed on one fixed sample
batch (`histogram_data`), so the histograms of different epochs compare on
equal terms.

Where it writes, under `log_dir`:

- with `tensorboardX` installed, TensorBoard event files in `train/` and
  `validation/` (Keras's layout, so loss and val_loss share a chart): run
  `tensorboard --logdir log_dir`;
- otherwise `summaries.jsonl`, one JSON record per epoch (scalars, and
  histograms as bin edges and counts), plus PNG figures when matplotlib is
  installed: `learning_curves.png` and `histograms/epoch_NNN.png` (a row per
  layer: its weights, their gradients, its activations).

>>> from adkit.nn.callbacks import TensorBoard
>>> board = TensorBoard("runs/logs", histogram_data=(x_val, y_val))   # doctest: +SKIP
>>> model.fit(x, y, epochs=5, callbacks=[board])                       # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import warnings
from typing import Any

import numpy as np

import adkit

from .callbacks import Callback
from .files import atomic_write
from .layers.base import Context

WRITERS = ("auto", "tensorboard", "json")
TENSORBOARDX_HINT = "pip install tensorboardX"
JSONL = "summaries.jsonl"


# --- what is recorded ----------------------------------------------------------------------


def histogram(values: Any, bins: int = 30) -> dict[str, Any]:
    """Bin edges and counts (np.histogram) of the finite entries of `values`, with their
    min, max, mean and std, the entry count `size` and how many were nan or inf.

    >>> h = histogram(np.array([0.0, 1.0, 1.0, np.nan]), bins=2)
    >>> h["counts"], h["edges"], h["nonfinite"]
    ([1, 2], [0.0, 0.5, 1.0], 1)
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        counts, edges = np.zeros(bins, np.int64), np.linspace(0.0, 1.0, bins + 1)
        stats = dict.fromkeys(("min", "max", "mean", "std"), None)
    else:
        counts, edges = np.histogram(finite, bins=bins)
        stats = {"min": float(finite.min()), "max": float(finite.max()),
                 "mean": float(finite.mean()), "std": float(finite.std())}
    return {"edges": edges.tolist(), "counts": counts.tolist(), **stats,
            "size": int(flat.size), "nonfinite": int(flat.size - finite.size)}


def _walk(tree: dict, prefix: str) -> list[tuple[str, np.ndarray]]:
    """(prefix/key/..., array) for each array of a nested dict of parameters."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _walk(value, f"{prefix}/{key}")
        else:
            out.append((f"{prefix}/{key}", np.asarray(value)))
    return out


def weights(model: Any) -> dict[str, np.ndarray]:
    """"layer/param" -> array for every parameter of the model (model.params).

    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> sorted(weights(Sequential([Dense(2, input_shape=(3,), name="d")])))
    ['d/bias', 'd/kernel']
    """
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        out.update(_walk(model.params[layer.name], layer.name))
    return out


def loss_gradients(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """"layer/param" -> d loss / d param on the batch (x, y), for each trainable layer.

    The loss is model.loss_fn (mean loss plus weight penalties) in inference mode,
    dropout off, at the current parameters: `adkit.value_and_grad` of it, exactly
    as a training step takes it but without the step's random dropout mask.
    """
    step = adkit.value_and_grad(model.loss_fn, has_aux=True)
    (_, _), grads = step(model.params, x, y, None, False)
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        if layer.trainable:
            out.update(_walk(grads[layer.name], layer.name))
    return out


def layer_activations(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """layer name -> that layer's output on x, running model.layers one at a time in
    inference mode (what model.apply does, keeping every intermediate)."""
    ctx = Context(training=False, rng=None, state=model.state)
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        x = layer.call(model.params[layer.name], x, ctx)
        parts = x if isinstance(x, (tuple, list)) else (x,)
        out[layer.name] = np.concatenate([np.asarray(p).ravel() for p in parts])
    return out


def read_summaries(log_dir: str | os.PathLike) -> list[dict]:
    """The records of log_dir/summaries.jsonl, one dict per epoch, in epoch order."""
    with open(os.path.join(os.fspath(log_dir), JSONL)) as f:
        return [json.loads(line) for line in f if line.strip()]


# --- the callback ----------------------------------------------------------------------------


class TensorBoard(Callback):
    """Log per-epoch scalars and histograms of weights, gradients and activations.

    log_dir: the folder to write in (created if missing).
    histogram_freq: histograms every this many epochs (0: scalars only). The default
        is 1, not Keras's 0: seeing the weights move is the point of this callback.
    histogram_data: (x, y) whose first `histogram_samples` examples give the
        gradients and activations; (x, None) for activations only. Without it only
        the weights get histograms (model.fit does not hand its validation data to
        callbacks).
    bins: bins per histogram.
    writer: "auto" (TensorBoard event files if tensorboardX imports, else JSON lines
        and PNGs), "tensorboard" or "json".
    write_png: in the JSON writer, also draw the PNG figures (needs matplotlib).

    >>> board = TensorBoard("runs/logs", histogram_data=(x_val, y_val))   # doctest: +SKIP
    >>> model.fit(x, y, epochs=3, callbacks=[board])                       # doctest: +SKIP
    >>> read_summaries("runs/logs")[-1]["scalars"]["val_loss"]             # doctest: +SKIP
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 1,
                 histogram_data: tuple | None = None, histogram_samples: int = 256,
                 bins: int = 30, writer: str = "auto", write_png: bool = True) -> None:
        for name, value, least in (("histogram_freq", histogram_freq, 0),
                                   ("histogram_samples", histogram_samples, 1),
                                   ("bins", bins, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < least:
                raise ValueError(f"TensorBoard {name} must be an int >= {least}, got {value!r}")
        if writer not in WRITERS:
            raise ValueError(f"TensorBoard writer must be one of {', '.join(WRITERS)}, "
                             f"got {writer!r}")
        if histogram_data is not None and (not isinstance(histogram_data, (tuple, list))
                                           or len(histogram_data) != 2):
            raise ValueError("TensorBoard histogram_data must be a pair (x, y), or (x, None) "
                             "for activations only")
        if writer == "tensorboard":
            _tensorboardx()   # fail now, not after the first epoch
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.histogram_data = int(histogram_freq), histogram_data
        self.histogram_samples, self.bins = int(histogram_samples), int(bins)
        self.writer, self.write_png = writer, write_png
        #: what training wrote: "tensorboard" (event files) or "json"; None before fit
        self.writes: str | None = None
        self._out: Any = None
        self._sample: tuple | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.model.is_chief:   # data-parallel training: rank 0 records
            return
        self._sample = self._prepare_sample()
        if self.histogram_freq and self._sample is None:
            warnings.warn("TensorBoard has no histogram_data, so it records weight histograms "
                          "only; pass histogram_data=(x_val, y_val) for gradients and "
                          "activations too", RuntimeWarning, stacklevel=2)
        if self._out is None:   # a second fit with the same callback continues its log
            os.makedirs(self.log_dir, exist_ok=True)
            use_events = self.writer == "tensorboard" or (self.writer == "auto"
                                                         and _tensorboardx(required=False))
            self._out = (_EventWriter(self.log_dir, self.bins) if use_events
                         else _JsonWriter(self.log_dir, self.bins, self.write_png))
            self.writes = "tensorboard" if use_events else "json"

    def _prepare_sample(self) -> tuple | None:
        if self.histogram_data is None:
            return None
        x, y = self.histogram_data
        n = self.histogram_samples
        x = np.asarray(x)[:n]
        if y is None:
            return self.model._prepare(x, None, "TensorBoard histogram_data")
        return self.model._prepare(x, np.asarray(y)[:n], "TensorBoard histogram_data")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._out is None:
            return
        scalars = {k: float(v) for k, v in (logs or {}).items()
                   if isinstance(v, (int, float, np.number))}
        scalars.setdefault("learning_rate", float(self.model.optimizer.current_learning_rate()))
        arrays = {}
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            arrays = self.histogram_arrays()
        self._out.write(epoch, scalars, arrays)

    def histogram_arrays(self) -> dict[str, np.ndarray]:
        """tag -> values: "weights/<layer>/<param>", "gradients/<layer>/<param>" and
        "activations/<layer>" (the last two on the sample batch, when there is one)."""
        arrays = {f"weights/{k}": v for k, v in weights(self.model).items()}
        if self._sample is not None:
            x, y = self._sample
            if y is not None:
                arrays.update({f"gradients/{k}": v
                               for k, v in loss_gradients(self.model, x, y).items()})
            arrays.update({f"activations/{k}": v
                           for k, v in layer_activations(self.model, x).items()})
        # layer by layer, in model order (the PNG's rows follow it)
        order = {layer.name: i for i, layer in enumerate(self.model.layers)}
        return dict(sorted(arrays.items(), key=lambda item: order[item[0].split("/")[1]]))

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._out is not None:
            self._out.flush()


def _tensorboardx(required: bool = True) -> Any:
    try:
        import tensorboardX
    except ImportError:
        if required:
            raise ImportError("TensorBoard(writer='tensorboard') writes event files with "
                              f"tensorboardX, which is not installed: {TENSORBOARDX_HINT} "
                              "(or use writer='json')") from None
        return None
    return tensorboardX


# --- writers ---------------------------------------------------------------------------------


class _EventWriter:
    """TensorBoard event files: train/ gets the training scalars and the histograms,
    validation/ the val_ scalars under the same names (epoch_loss, epoch_accuracy)."""

    def __init__(self, log_dir: str, bins: int) -> None:
        tbx = _tensorboardx()
        self.train = tbx.SummaryWriter(os.path.join(log_dir, "train"))
        self.validation = tbx.SummaryWriter(os.path.join(log_dir, "validation"))
        self.bins = bins

    def write(self, epoch: int, scalars: dict, arrays: dict) -> None:
        for name, value in scalars.items():
            if name.startswith("val_"):
                self.validation.add_scalar(f"epoch_{name[4:]}", value, epoch)
            else:
                self.train.add_scalar(f"epoch_{name}", value, epoch)
        for tag, values in arrays.items():
            finite = np.asarray(values, np.float64).ravel()
            finite = finite[np.isfinite(finite)]
            if finite.size:
                self.train.add_histogram(tag, finite, epoch, bins=self.bins)
        self.flush()

    def flush(self) -> None:
        self.train.flush()
        self.validation.flush()


class _JsonWriter:
    """summaries.jsonl rewritten whole (atomically) each epoch, and the PNG figures."""

    def __init__(self, log_dir: str, bins: int, write_png: bool) -> None:
        self.log_dir, self.bins, self.write_png = log_dir, bins, write_png
        self.records: list[dict] = []
        self._warned = False

    def write(self, epoch: int, scalars: dict, arrays: dict) -> None:
        hists = {tag: histogram(v, self.bins) for tag, v in arrays.items()}
        # a fit restarted at an earlier epoch replaces what followed it
        self.records = [r for r in self.records if r["epoch"] < epoch]
        self.records.append({"epoch": epoch, "scalars": scalars, "histograms": hists})
        with atomic_write(os.path.join(self.log_dir, JSONL)) as f:
            f.writelines(json.dumps(r) + "\n" for r in self.records)
        if self.write_png:
            self._figures(epoch, hists)

    def _figures(self, epoch: int, hists: dict) -> None:
        try:
            from matplotlib.figure import Figure   # no pyplot: the user's backend stays
        except ImportError:
            if not self._warned:
                warnings.warn("TensorBoard: matplotlib is not installed, so no PNG summaries "
                              "are drawn (pip install matplotlib); summaries.jsonl has the "
                              "numbers", RuntimeWarning, stacklevel=4)
                self._warned = True
            return
        _save(_learning_curves(Figure, self.records),
              os.path.join(self.log_dir, "learning_curves.png"))
        if hists:
            folder = os.path.join(self.log_dir, "histograms")
            os.makedirs(folder, exist_ok=True)
            _save(_histogram_grid(Figure, hists, epoch),
                  os.path.join(folder, f"epoch_{epoch + 1:03d}.png"))

    def flush(self) -> None:
        pass


def _save(fig: Any, path: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())


def _learning_curves(Figure: type, records: list[dict]) -> Any:
    """One panel per quantity (loss, each metric, the learning rate), val_ beside it."""
    from matplotlib.ticker import MaxNLocator
    names = [k for k in records[-1]["scalars"] if not k.startswith("val_") and k != "epoch_time"]
    fig = Figure(figsize=(4.2 * len(names), 3.4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    epochs = np.array([r["epoch"] + 1 for r in records])
    for ax, name in zip(axes, names):
        for key, style in ((name, "o-"), (f"val_{name}", "s--")):
            values = np.array([r["scalars"].get(key, np.nan) for r in records], float)
            if np.isfinite(values).any():
                ax.plot(epochs, values, style, label=key)
        if name == "learning_rate" and np.all([r["scalars"].get(name, 0) > 0 for r in records]):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.legend(fontsize="small")
    return fig


def _histogram_grid(Figure: type, hists: dict, epoch: int) -> Any:
    """A row per layer with weights: its weights, their gradients and the layer's output,
    one step curve per tensor. (summaries.jsonl also has every other layer's output.)"""
    layers: list[str] = []
    for tag in hists:
        kind, layer = tag.split("/")[:2]
        if kind == "weights" and layer not in layers:
            layers.append(layer)
    kinds = ("weights", "gradients", "activations")
    # constrained layout would cost seconds per figure at a dozen axes; fixed margins do
    height = 1.9 * len(layers) + 0.6
    fig = Figure(figsize=(11, height))
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.25 / height, top=1 - 0.6 / height,
                        hspace=0.45, wspace=0.2)
    axes = fig.subplots(len(layers), 3, squeeze=False)
    fig.suptitle(f"after epoch {epoch + 1}")
    for row, layer in zip(axes, layers):
        for ax, kind in zip(row, kinds):
            tags = [t for t in hists if t.split("/")[0] == kind and t.split("/")[1] == layer]
            if not tags:
                ax.set_axis_off()
                continue
            for tag in tags:
                h = hists[tag]
                ax.stairs(h["counts"], h["edges"], label="/".join(tag.split("/")[2:]) or layer)
            # a constant tensor (a zero bias) bins over v +- 0.5: keep the others' scale
            lo = min((hists[t]["min"] for t in tags if hists[t]["min"] is not None), default=None)
            hi = max((hists[t]["max"] for t in tags if hists[t]["max"] is not None), default=None)
            if lo is not None and hi > lo:
                ax.set_xlim(lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
            ax.set_title(f"{layer} {kind}", fontsize="small")
            ax.tick_params(labelsize="x-small")
            if len(tags) > 1:
                ax.legend(fontsize="x-small")
    return fig
