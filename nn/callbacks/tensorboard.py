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
  `validation/` (Keras's layout, so loss and val_loss share a chart), which
  TensorBoard shows (`pip install tensorboard`, then `tensorboard --logdir log_dir`);
- otherwise `summaries.jsonl`, one JSON record per epoch (scalars, and
  histograms as bin edges and counts), plus PNG figures when matplotlib is
  installed: `learning_curves.png` and `histograms/epoch_NNN.png` (a row per
  layer: its weights, their gradients, its activations).

>>> from adkit.nn.callbacks import TensorBoard
>>> board = TensorBoard("runs/logs", histogram_data=(x_val, y_val))   # doctest: +SKIP
>>> model.fit(x, y, epochs=5, callbacks=[board])                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np

from .. import figures
from ..files import atomic_write
from .base import Callback
from .summaries import JSONL, histogram, layer_activations, loss_gradients, weights
from .summary_figures import histogram_grid, learning_curves

WRITERS = ("auto", "tensorboard", "json")
TENSORBOARDX_HINT = "pip install tensorboardX"


class TensorBoard(Callback):
    """Log per-epoch scalars and histograms of weights, gradients and activations.

    log_dir: the folder to write in (created if missing).
    histogram_freq: histograms every this many epochs (0: scalars only). The default
        is 1, not Keras's 0: seeing the weights move is the point of this callback.
    histogram_data: (x, y) whose first `histogram_samples` examples give the
        gradients and activations; (x, None) for activations only. Without it, fit's
        validation_data (arrays, or validation_split's) serves, as fit hands it to
        callbacks (`callback.validation_data`); with neither, only the weights get
        histograms.
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
                          "only; pass fit validation_data=(x_val, y_val) arrays, or "
                          "histogram_data=(x_val, y_val), for gradients and activations too",
                          RuntimeWarning, stacklevel=2)
        if self._out is None:   # a second fit with the same callback continues its log
            os.makedirs(self.log_dir, exist_ok=True)
            use_events = self.writer == "tensorboard" or (self.writer == "auto"
                                                         and _tensorboardx(required=False))
            self._out = (_EventWriter(self.log_dir, self.bins) if use_events
                         else _JsonWriter(self.log_dir, self.bins, self.write_png))
            self.writes = "tensorboard" if use_events else "json"

    def _prepare_sample(self) -> tuple | None:
        if self.histogram_data is None:
            # fit's validation arrays (already checked), as Keras 2 read them
            held = self.validation_data
            if isinstance(held, tuple) and len(held) == 3:
                return held[0][:self.histogram_samples], held[1][:self.histogram_samples]
            return None
        x, y = self.histogram_data
        n = self.histogram_samples
        x = np.asarray(x)[:n]
        if y is None:
            return self.model.prepare_data(x, None, "TensorBoard histogram_data")
        return self.model.prepare_data(x, np.asarray(y)[:n], "TensorBoard histogram_data")

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
        if not figures.available():
            if not self._warned:
                warnings.warn("TensorBoard: matplotlib is not installed, so no PNG summaries "
                              "are drawn (pip install matplotlib); summaries.jsonl has the "
                              "numbers", RuntimeWarning, stacklevel=4)
                self._warned = True
            return
        figures.save_png(learning_curves(self.records),
                         os.path.join(self.log_dir, "learning_curves.png"))
        if hists:
            folder = os.path.join(self.log_dir, "histograms")
            os.makedirs(folder, exist_ok=True)
            figures.save_png(histogram_grid(hists, epoch),
                             os.path.join(folder, f"epoch_{epoch + 1:03d}.png"))

    def flush(self) -> None:
        pass
