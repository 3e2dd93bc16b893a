"""Benchmark 7: the heavy operations of a Keras-style CNN, adkit.nn.backend beside PyTorch.

The layers of the Fashion-MNIST CNN (Conv2D(32, 3x3) twice, MaxPooling2D(2x2)),
batch 128, float32, NHWC as in Keras:
- conv2d (128, 28, 28, 1) -> 32 filters 3x3, and (128, 26, 26, 32) -> 32 filters 3x3:
  adkit.value_and_grad of sum(conv2d(x, kernel)) with respect to x and kernel;
  the forward pass alone; and for the first layer the gradient with respect to
  the kernel only (what training does: the data is not differentiated).
- max_pool2d 2x2 on (128, 24, 24, 32): value and gradient of sum(max_pool2d(x)).
PyTorch (torch.nn.functional.conv2d / max_pool2d, torch.autograd.grad) in both
layouts, NCHW and channels_last, with the same thread count as the BLAS.
Before timing, adkit's forward values are checked against a float64 einsum over
the windows, and its gradients against PyTorch's (relative 1e-4).
Target: the second convolution's value and gradient within 1.3x of PyTorch's
faster layout.
"""

from __future__ import annotations

from typing import Any

from ._common import THREADS, Row, Section, Settings, checked, measure, peer, ratio, verdict

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import adkit  # noqa: E402
from adkit.nn import backend  # noqa: E402

BATCH = 128
CONVS = (((BATCH, 28, 28, 1), 32), ((BATCH, 26, 26, 32), 32))
POOL = (BATCH, 24, 24, 32)
TARGET = 1.3
COLUMNS = ["torch NCHW", "torch channels_last"]


def _data(x_shape: tuple, filters: int | None, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    if filters is None:
        return x, None
    k = rng.standard_normal((3, 3, x_shape[-1], filters), dtype=np.float32)
    return x, k / np.float32(np.sqrt(9 * x_shape[-1]))


def _reference_conv(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid cross-correlation in float64 by einsum over sliding windows."""
    win = sliding_window_view(x.astype(np.float64), k.shape[:2], axis=(1, 2))
    return np.einsum("nhwcij,ijcf->nhwf", win, k.astype(np.float64), optimize=True)


def _rel_err(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _torch_conv(torch: Any, x: np.ndarray, k: np.ndarray, layout: str) -> tuple:
    """(value-and-grad, forward, kernel-grad) callables in one layout, and the grads."""
    F = torch.nn.functional
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    tx = torch.tensor(x.transpose(0, 3, 1, 2)).contiguous(memory_format=fmt).requires_grad_()
    tk = torch.tensor(k.transpose(3, 2, 0, 1)).contiguous(memory_format=fmt).requires_grad_()
    tx_data = tx.detach()

    def value_and_grad() -> tuple:
        s = F.conv2d(tx, tk).sum()
        return (s,) + torch.autograd.grad(s, (tx, tk))

    def forward() -> Any:
        with torch.no_grad():
            return F.conv2d(tx, tk)

    def kernel_grad() -> Any:
        return torch.autograd.grad(F.conv2d(tx_data, tk).sum(), tk)[0]

    _, gx, gk = value_and_grad()
    return (value_and_grad, forward, kernel_grad,
            (gx.numpy().transpose(0, 2, 3, 1), gk.numpy().transpose(2, 3, 1, 0)))


def _torch_pool(torch: Any, x: np.ndarray, layout: str) -> tuple:
    F = torch.nn.functional
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    tx = torch.tensor(x.transpose(0, 3, 1, 2)).contiguous(memory_format=fmt).requires_grad_()

    def value_and_grad() -> tuple:
        s = F.max_pool2d(tx, 2).sum()
        return s, torch.autograd.grad(s, tx)[0]

    return value_and_grad, value_and_grad()[1].numpy().transpose(0, 2, 3, 1)


def _row(size: str, what: str, adk: Any, peers: dict, target: str = "",
         wrong: set | None = None) -> Row:
    met = ""
    if target:
        # against the faster torch layout: the larger of the two ratios
        ratios = [r for r in (ratio(adk, peers.get(c)) for c in COLUMNS) if r is not None]
        met = verdict(max(ratios) <= TARGET if ratios else None)
    return Row(size, what, adk, {c: peers.get(c, "not installed") for c in COLUMNS},
               target, met, wrong=wrong or set())


def conv_rows(x_shape: tuple, filters: int, settings: Settings, notes: list[str],
              is_target: bool) -> list[Row]:
    x, k = _data(x_shape, filters)
    size = f"{x_shape} -> {filters} 3x3"
    vg = adkit.value_and_grad(lambda x, k: np.sum(backend.conv2d(x, k)), argnums=(0, 1))
    kgrad = adkit.grad(lambda k: np.sum(backend.conv2d(x, k)))
    value, (gx, gk) = vg(x, k)
    assert value.dtype == gx.dtype == gk.dtype == np.float32, "float32 in, float32 out"
    wrong: set = set()
    if not checked(f"{size} adkit forward vs float64 einsum",
                   _rel_err(backend.conv2d(x, k), _reference_conv(x, k)), 1e-5, notes,
                   "max relative error"):
        wrong.add("adkit")
    vgs = {"adkit": lambda: vg(x, k)}
    fwds = {"adkit": lambda: backend.conv2d(x, k)}
    kgs = {"adkit": lambda: kgrad(k)}
    torch = peer("torch")
    if torch is not None:
        for layout, col in zip(("nchw", "channels_last"), COLUMNS):
            t_vg, t_fwd, t_kg, (tgx, tgk) = _torch_conv(torch, x, k, layout)
            err = max(_rel_err(gx, tgx), _rel_err(gk, tgk))
            if not checked(f"{size} adkit gradients vs {col}", err, 1e-4, notes,
                           "max relative error"):
                wrong.add("adkit")
            vgs[col], fwds[col], kgs[col] = t_vg, t_fwd, t_kg
    rows = []
    for what, fns in (("value and grad wrt (x, kernel)", vgs), ("forward", fwds),
                      ("grad wrt kernel only", kgs)):
        if what == "grad wrt kernel only" and is_target:
            continue
        times = measure(fns, settings)
        adk = times.pop("adkit")
        target = f"<= {TARGET}x best torch" if is_target and what.startswith("value") else ""
        rows.append(_row(size, what, adk, times, target, wrong))
    return rows


def pool_row(settings: Settings, notes: list[str]) -> Row:
    x, _ = _data(POOL, None)
    vg = adkit.value_and_grad(lambda x: np.sum(backend.max_pool2d(x)))
    _, g = vg(x)
    assert g.dtype == np.float32
    fns = {"adkit": lambda: vg(x)}
    torch = peer("torch")
    wrong: set = set()
    if torch is not None:
        for layout, col in zip(("nchw", "channels_last"), COLUMNS):
            fn, tg = _torch_pool(torch, x, layout)
            if not checked(f"max_pool2d gradient vs {col}", _rel_err(g, tg), 0, notes,
                           "max relative error"):
                wrong.add("adkit")
            fns[col] = fn
    times = measure(fns, settings)
    adk = times.pop("adkit")
    return _row(f"{POOL}, 2x2", "max_pool2d value and grad", adk, times, wrong=wrong)


def run(settings: Settings) -> Section:
    sec = Section("nn_ops", "7. CNN operations (conv2d, max_pool2d; float32, NHWC, batch 128)",
                  list(COLUMNS))
    for i, (x_shape, filters) in enumerate(CONVS):
        sec.rows += conv_rows(x_shape, filters, settings, sec.notes, is_target=i == 1)
    sec.rows.append(pool_row(settings, sec.notes))
    torch = peer("torch")
    sec.notes.append(
        f"adkit: nn.backend on the '{backend.get_backend().name}' backend (im2col a few "
        "images at a time, one BLAS product per chunk); torch: torch.nn.functional with "
        "torch.autograd.grad, "
        + (f"torch.get_num_threads()={torch.get_num_threads()}" if torch is not None
           else "not installed")
        + f", BLAS threads {THREADS}")
    return sec


if __name__ == "__main__":
    from ._common import render_section
    print(render_section(run(Settings(quick=True))))
