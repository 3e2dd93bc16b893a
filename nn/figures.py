"""Figures drawn without pyplot: a matplotlib `Figure` on its own Agg canvas, saved
to a PNG atomically. Pyplot's global state (the backend `matplotlib.use` sets, the
list of open figures) stays as the user left it.

>>> fig = new_figure(figsize=(3, 2))                          # doctest: +SKIP
>>> fig.subplots().plot([0, 1], [1, 0])                       # doctest: +SKIP
>>> save_png(fig, "curve.png")                                # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import io
import os
from typing import Any

from .files import atomic_write


def available() -> bool:
    """Whether matplotlib is installed (figures are optional: the examples extra)."""
    return importlib.util.find_spec("matplotlib") is not None


def new_figure(**kwargs: Any) -> Any:
    """A `matplotlib.figure.Figure(**kwargs)` with an Agg canvas of its own.

    Raises ImportError when matplotlib is not installed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike, dpi: int = 90) -> None:
    """Render `fig` to PNG and replace `path` with it in one step (atomic_write)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    with atomic_write(os.fspath(path), "wb") as f:
        f.write(buffer.getvalue())
