"""The PNG figures of the TensorBoard callback's JSON writer, drawn on matplotlib
`Figure` objects (never pyplot, so the user's backend stays as it is)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..figures import new_figure


def learning_curves(records: list[dict]) -> Any:
    """One panel per quantity (loss, each metric, the learning rate), val_ beside it."""
    from matplotlib.ticker import MaxNLocator
    names = [k for k in records[-1]["scalars"] if not k.startswith("val_")]
    fig = new_figure(figsize=(4.2 * len(names), 3.4), layout="constrained")
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


def histogram_grid(hists: dict, epoch: int) -> Any:
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
    fig = new_figure(figsize=(11, height))
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
