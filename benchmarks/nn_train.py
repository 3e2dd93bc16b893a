"""Benchmark 8: one training epoch on Fashion-MNIST, adkit.nn beside PyTorch.

Three zoo networks, each trained for ONE epoch on the 60,000 training images
(batch 128, float32) with adkit.nn as compiled by default (each step one
adkit.compile program, jit_compile="auto"), with adkit.nn stepping eagerly
(jit_compile=False), and with the same network in PyTorch (CPU,
torch.set_num_threads(THREADS)), one after the other in that order, then all
evaluated on the 10,000 test images. Targets (issue 18) are for the compiled
adkit against torch, with the test accuracy within 0.5 point of torch's:
1. the textbook CNN (adkit.nn.zoo.textbook_cnn), Adadelta(lr=1.0, rho=0.95,
   eps=1e-7), sparse categorical cross-entropy. Target: adkit <= 1.2x torch.
2. the MLP 784-512-512-10 relu (zoo.mlp), Adam(lr=1e-3). Target: <= 1.0x torch.
3. LSTM(128) over 28 rows of 28 pixels, Dense 10 softmax (zoo.lstm), Adam(lr=1e-3);
   torch: nn.LSTM(batch_first=True) + nn.Linear. Target: <= 1.2x torch.
4. memory: the resident set size after epochs 2 to 5 of the adkit MLP (on a
   20,000-image subset). Target: flat (< 5 MB growth from epoch 2 to 5).

The contestants start from the SAME weights (adkit's Glorot-uniform kernels,
zero biases, orthogonal recurrent kernel and forget bias 1 for the LSTM, copied
into the torch modules) and see the batches in the SAME order (the permutation
adkit's fit draws); only the dropout masks differ between adkit and torch (both
seeded; adkit's compiled and eager steps draw the same masks, so they train
alike). Before timing, adkit's and torch's test-set outputs are checked to agree,
which checks the weight copy and the layouts. One epoch per contestant: an epoch
is long enough to time once. `--quick` trains on the first 6,400 images (and the
memory check on them too).

Run alone: python -m benchmarks.nn_train [--quick] [--only cnn,mlp,lstm,memory]
Where adkit's time goes: python -m benchmarks.nn_train --profile cnn
"""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import Any, Callable

from ._common import Row, Section, Settings, Timing, _minflt, peer, ratio, verdict

import numpy as np  # noqa: E402

from adkit import nn  # noqa: E402
from adkit.nn import callbacks, optimizers, zoo  # noqa: E402
from adkit.nn.train import load_images  # noqa: E402

BATCH = 128
SEED = 0
QUICK_IMAGES = 6_400
MEMORY_IMAGES = 20_000
MEMORY_EPOCHS = 5
MEMORY_TARGET_MB = 5.0
PARTS = ("cnn", "mlp", "lstm", "memory")
EAGER = "adkit jit_compile=False"
COLUMNS = [EAGER, "torch"]


@dataclasses.dataclass
class Net:
    """One network in both libraries, with its optimizer and targets."""

    title: str
    adkit_model: Callable[[], Any]
    adkit_optimizer: Callable[[], Any]
    torch_model: Callable[[Any], Any]  # torch -> nn.Module
    torch_optimizer: Callable[[Any, Any], Any]  # (torch, parameters) -> optimizer
    torch_input: Callable[[np.ndarray], np.ndarray]  # NHWC batch -> the torch module's input
    target: float | None = None  # adkit/torch epoch-time ratio
    accuracy_points: float | None = None  # allowed test-accuracy gap, in points


def _adadelta() -> Any:
    return optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-7)


def _torch_adadelta(torch: Any, params: Any) -> Any:
    return torch.optim.Adadelta(params, lr=1.0, rho=0.95, eps=1e-7)


def _adam() -> Any:
    return optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


def _torch_adam(torch: Any, params: Any) -> Any:
    return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)


def _torch_cnn(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                         nn.Linear(12 * 12 * 32, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10))


def _torch_mlp(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def _torch_lstm(torch: Any) -> Any:
    class LastState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(28, 128, batch_first=True)
            self.dense = torch.nn.Linear(128, 10)

        def forward(self, x: Any) -> Any:
            _, (h, _) = self.lstm(x)
            return self.dense(h[-1])
    return LastState()


NETS = {
    "cnn": Net("textbook CNN (conv 32 3x3 x2, max-pool, dense 128; Adadelta lr=1)",
               lambda: zoo.textbook_cnn(seed=SEED), _adadelta, _torch_cnn, _torch_adadelta,
               lambda x: x.transpose(0, 3, 1, 2), target=1.2, accuracy_points=0.5),
    "mlp": Net("MLP 784-512-512-10 relu (Adam lr=1e-3)", lambda: zoo.mlp(seed=SEED), _adam,
               _torch_mlp, _torch_adam, lambda x: x.reshape(len(x), 784), target=1.0,
               accuracy_points=0.5),
    "lstm": Net("LSTM(128) over 28 rows, dense 10 (Adam lr=1e-3)", lambda: zoo.lstm(seed=SEED),
                _adam, _torch_lstm, _torch_adam, lambda x: x.reshape(len(x), 28, 28),
                target=1.2, accuracy_points=0.5),
}


# --- the same weights in both libraries ------------------------------------------------------


def _torch_weights(name: str, model: Any) -> list[np.ndarray]:
    """adkit's initial parameters in the order and layout of the torch module's parameters()."""
    p = [model.params[layer.name] for layer in model.layers if model.params[layer.name]]
    if name == "cnn":
        (c1, c2, d1, d2) = p
        # adkit flattens (12, 12, 32) channels-last, torch (32, 12, 12): permute the rows
        d1_kernel = d1["kernel"].reshape(12, 12, 32, 128).transpose(3, 2, 0, 1).reshape(128, -1)
        return [c1["kernel"].transpose(3, 2, 0, 1), c1["bias"],
                c2["kernel"].transpose(3, 2, 0, 1), c2["bias"],
                d1_kernel, d1["bias"], d2["kernel"].T, d2["bias"]]
    if name == "mlp":
        return [w for layer in p for w in (layer["kernel"].T, layer["bias"])]
    (lstm, dense) = p
    # both order the gates (input, forget, cell, output); torch adds a second bias, kept at 0
    return [lstm["kernel"].T, lstm["recurrent_kernel"].T, lstm["bias"],
            np.zeros_like(lstm["bias"]), dense["kernel"].T, dense["bias"]]


def _copy_weights(torch: Any, module: Any, weights: list[np.ndarray]) -> None:
    params = list(module.parameters())
    assert len(params) == len(weights), (len(params), len(weights))
    with torch.no_grad():
        for t, w in zip(params, weights):
            assert tuple(t.shape) == w.shape, (tuple(t.shape), w.shape)
            t.copy_(torch.from_numpy(np.ascontiguousarray(w)))


# --- one epoch each --------------------------------------------------------------------------


def _order(n: int) -> np.ndarray:
    """The batch order adkit's Sequential.fit draws for its first epoch (nn/training.py)."""
    return np.random.default_rng((SEED, 1 << 20)).permutation(n)


def _timed(fn: Callable[[], Any], settle_s: float) -> tuple[Timing, Any]:
    """One call, timed after a pause (so the previous contestant's idle threads stop
    spinning), with what was alive before frozen out of the garbage collector."""
    gc.collect()
    gc.freeze()
    try:
        time.sleep(settle_s)
        faults = _minflt()
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        faults = _minflt() - faults
    finally:
        gc.unfreeze()
    return Timing(seconds, [seconds], 1, faults), out


def _adkit_compiled(net: Net, jit_compile: bool | str = "auto") -> Any:
    model = net.adkit_model()
    model.compile(optimizer=net.adkit_optimizer(), loss="sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    return model


def _adkit_epoch(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    previous = nn.tune(malloc=True)   # as `adkit train` does: glibc keeps freed blocks
    try:
        history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    finally:
        nn.tune(**previous)
    return float(history.history["loss"][0])


def _torch_epoch(torch: Any, module: Any, opt: Any, x: Any, y: Any) -> float:
    """The loop Keras's fit runs, with index batching instead of a DataLoader, under the
    glibc setting adkit's epoch runs with: after a tuned fit glibc's mmap threshold stays
    fixed at 128 KiB, which would make every large torch tensor a fresh mmap."""
    from adkit.nn.allocator import reuse_freed_memory
    with reuse_freed_memory():
        return _torch_loop(torch, module, opt, x, y)


def _torch_loop(torch: Any, module: Any, opt: Any, x: Any, y: Any) -> float:
    cross_entropy = torch.nn.functional.cross_entropy
    module.train()
    n = len(x)
    order = torch.from_numpy(_order(n))
    total = 0.0
    for start in range(0, n, BATCH):
        idx = order[start:start + BATCH]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(module(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / n


def _torch_predict(torch: Any, module: Any, x: Any) -> np.ndarray:
    module.eval()
    with torch.no_grad():
        return np.concatenate([torch.softmax(module(x[i:i + 1000]), 1).numpy()
                               for i in range(0, len(x), 1000)])


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == y))


def net_rows(name: str, data: tuple, settings: Settings, notes: list[str]) -> list[Row]:
    net = NETS[name]
    (x, y), (xt, yt) = data
    size = f"{name}, {len(x):,} images, B={BATCH}"
    if name == "lstm":
        try:
            from adkit.nn.layers import recurrent  # noqa: F401
        except ImportError as e:
            notes.append(f"lstm: adkit.nn.layers.recurrent does not import ({e}); not timed")
            return [Row(size, "one training epoch", "not built", {"torch": "-"})]
    torch = peer("torch")
    model = _adkit_compiled(net)
    eager = _adkit_compiled(net, jit_compile=False)
    for jit in ("auto", False):   # throwaway copies: first-call costs stay out of the epoch
        _adkit_compiled(net, jit).train_on_batch(x[:BATCH], y[:BATCH])
    # (the compiled step is staged per model: its first step in the timed epoch traces it)
    contestants: dict[str, Callable[[], float]] = {"adkit": lambda: _adkit_epoch(model, x, y),
                                                   EAGER: lambda: _adkit_epoch(eager, x, y)}
    wrong: set = set()
    if torch is not None:
        # the layout change (NHWC -> NCHW for the CNN) is done once here, not timed
        tx, ty = (torch.from_numpy(np.ascontiguousarray(net.torch_input(x))),
                  torch.from_numpy(y))
        txt = torch.from_numpy(np.ascontiguousarray(net.torch_input(xt)))
        module = net.torch_model(torch)
        _copy_weights(torch, module, _torch_weights(name, model))
        opt = net.torch_optimizer(torch, module.parameters())
        w_module = net.torch_model(torch)
        w_opt = net.torch_optimizer(torch, w_module.parameters())
        _torch_epoch(torch, w_module, w_opt, tx[:BATCH], ty[:BATCH])
        err = float(np.max(np.abs(model.predict(xt, batch_size=1000)
                                  - _torch_predict(torch, module, txt))))
        ok = err <= 1e-4
        notes.append(f"check {name}: adkit's and torch's test-set probabilities before "
                     f"training (same weights): max abs difference {err:.1e} (tolerance 1e-4) "
                     f"{'ok' if ok else 'FAILED'}")
        if not ok:
            wrong.add("torch")
        contestants["torch"] = lambda: _torch_epoch(torch, module, opt, tx, ty)

    if torch is not None:
        torch.manual_seed(SEED)  # torch's dropout masks, so a rerun gives the same accuracy
    times, losses = {}, {}
    for who, fn in contestants.items():  # compiled adkit, eager adkit, then torch
        times[who], losses[who] = _timed(fn, settings.settle_s)
    accuracy = {"adkit": _accuracy(model.predict(xt, batch_size=1000), yt),
                EAGER: _accuracy(eager.predict(xt, batch_size=1000), yt)}
    staged = model.trainer.compiled_step
    notes.append(f"{name}: compiled step " + (
        f"{staged.program.stats}" if staged is not None and not staged.eager_reasons else
        f"not used ({model.trainer.eager_reason or staged.eager_reasons})"))
    if torch is not None:
        accuracy["torch"] = _accuracy(_torch_predict(torch, module, txt), yt)
    notes.append(f"{name}: training loss over the epoch "
                 + ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
                 + "; minor page faults in the epoch "
                 + ", ".join(f"{k} {t.faults:,.0f}" for k, t in times.items()))

    adk = times.pop("adkit")
    peers: dict[str, Any] = {EAGER: times[EAGER], "torch": times.get("torch", "not installed")}
    r = ratio(adk, peers["torch"])
    time_row = Row(size, "one training epoch", adk, peers,
                   f"adkit/torch <= {net.target:g}" if net.target else "",
                   verdict(None if r is None else r <= net.target) if net.target else "",
                   wrong=wrong)
    acc_peers = {EAGER: f"{accuracy[EAGER]:.4f}",
                 "torch": f"{accuracy['torch']:.4f}" if "torch" in accuracy else "not installed"}
    gap = abs(accuracy["adkit"] - accuracy["torch"]) * 100 if "torch" in accuracy else None
    acc_target = (f"within {net.accuracy_points:g} point of torch"
                  if net.accuracy_points is not None else "")
    acc_met = ""
    if net.accuracy_points is not None:
        # after a few dozen steps the accuracy still swings by points with the dropout
        # masks (0.72 to 0.75 for torch's CNN): only a whole epoch is worth judging
        judged = gap is not None and not settings.quick
        acc_met = verdict(gap <= net.accuracy_points if judged else None)
    acc_row = Row(f"{name}, {len(xt):,} test images", "test accuracy",
                  f"{accuracy['adkit']:.4f}", acc_peers, acc_target, acc_met)
    return [time_row, acc_row]


# --- memory ----------------------------------------------------------------------------------


def rss_mb() -> float | None:
    """This process's resident set size (VmRSS in /proc/self/status), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class _RssAfterEpoch(callbacks.Callback):
    def __init__(self) -> None:
        self.mb: list[float | None] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.mb.append(rss_mb())


def memory_row(data: tuple, settings: Settings, notes: list[str]) -> Row:
    (x, y), _ = data
    x, y = x[:MEMORY_IMAGES], y[:MEMORY_IMAGES]
    size = f"mlp, {MEMORY_EPOCHS} epochs of {len(x):,} images"
    measure = "RSS growth, epoch 2 -> 5"
    target = f"< {MEMORY_TARGET_MB:g} MB"
    peers = {EAGER: "not measured", "torch": "not measured"}
    if rss_mb() is None:
        return Row(size, measure, "unknown (no /proc/self/status)", peers, target, verdict(None))
    model = _adkit_compiled(NETS["mlp"])
    rss = _RssAfterEpoch()
    model.fit(x, y, batch_size=BATCH, epochs=MEMORY_EPOCHS, verbose=0, callbacks=[rss])
    growth = rss.mb[-1] - rss.mb[1]
    notes.append("memory: VmRSS after each epoch of the adkit MLP: "
                 + ", ".join(f"{mb:.1f}" for mb in rss.mb) + " MB"
                 + ("" if settings.quick else
                    f" ({MEMORY_IMAGES:,}-image subset of the training set, to save time)"))
    return Row(size, measure, f"{growth:+.1f} MB", peers, target,
               verdict(growth < MEMORY_TARGET_MB))


# --- the section -----------------------------------------------------------------------------


def run(settings: Settings, only: tuple = PARTS) -> Section:
    sec = Section("nn_train", "8. One training epoch on Fashion-MNIST (adkit.nn vs PyTorch, "
                  "batch 128, float32)", list(COLUMNS))
    try:
        (x, y), test = load_images()
    except FileNotFoundError as e:
        sec.notes.append("SKIPPED: Fashion-MNIST is not installed. " + " ".join(str(e).split()))
        return sec
    if settings.quick:  # a subset of the training set only: the test set stays whole
        x, y = x[:QUICK_IMAGES], y[:QUICK_IMAGES]
    data = ((x, y), test)
    if settings.quick:
        sec.notes.append(f"--quick: trained on the first {len(x):,} training images only "
                         "(the memory check too); tested on all 10,000 test images; the "
                         "accuracy target is not judged (n/a): after 50 steps the accuracy "
                         "still depends on the dropout masks by a few points")
    for name in ("cnn", "mlp", "lstm"):
        if name not in only:
            continue
        try:
            sec.rows += net_rows(name, data, settings, sec.notes)
        except Exception as e:  # noqa: BLE001  (the LSTM is being written; report, go on)
            if name != "lstm":
                raise
            sec.notes.append(f"lstm: failed with {type(e).__name__}: {e}")
            sec.rows.append(Row(f"lstm, {len(x):,} images, B={BATCH}", "one training epoch",
                                f"error ({type(e).__name__})", {"torch": "-"}))
    if "memory" in only:
        sec.rows.append(memory_row(data, settings, sec.notes))
    torch = peer("torch")
    sec.notes.append(
        "epoch times: adkit is model.fit(x, y, batch_size=128, epochs=1, verbose=0) wall time, "
        "shuffling and batching included; torch is the same loop written out (a permutation, "
        "index batching of tensors prepared beforehand, zero_grad, cross_entropy on logits, "
        "backward, step, loss.item()), no DataLoader"
        + (f", torch.get_num_threads()={torch.get_num_threads()}" if torch is not None else "")
        + ". Both see the batches in the same order. Each contestant first trains a "
        "throwaway copy on one batch, untimed.")
    sec.notes.append(
        "layouts: adkit's CNN is channels-last (NHWC, as in Keras); torch's takes NCHW, "
        "converted once before timing; the first Dense kernel's rows are permuted so both "
        "start from the same weights. Test accuracy: argmax of predictions on the test set "
        "after the one epoch (adkit predict, torch eval mode, batches of 1000). torch's Adam "
        "adds eps to the bias-corrected sqrt(v), Keras's to sqrt(v) (eps 1e-7 in both); "
        "Adadelta is the same update in both.")
    return sec


def profile(name: str = "cnn", images: int = 1280, top: int = 10) -> None:
    """Print the functions where one adkit epoch of a zoo network spends its time."""
    import cProfile
    import pstats
    (x, y), _ = load_images(images)
    net = NETS[name]
    _adkit_compiled(net).train_on_batch(x[:BATCH], y[:BATCH])
    model = _adkit_compiled(net)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    _adkit_epoch(model, x, y)
    prof.disable()
    print(f"adkit {name}: one epoch of {len(x):,} images in {time.perf_counter() - t0:.2f} s "
          "(under cProfile)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> None:
    import argparse
    from ._common import render_section
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nn_train",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"train on the first {QUICK_IMAGES:,} images only")
    parser.add_argument("--only", action="append", default=[], metavar="PART",
                        help=f"parts to run (repeatable or comma-separated): {', '.join(PARTS)}")
    parser.add_argument("--profile", choices=list(NETS), default=None,
                        help="instead: cProfile one adkit epoch of this network on "
                             "--profile-images images, top 10 functions by own time")
    parser.add_argument("--profile-images", type=int, default=1280)
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile, args.profile_images)
        return
    only = tuple(p.strip() for item in args.only for p in item.split(",") if p.strip()) or PARTS
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    print(render_section(run(Settings(quick=args.quick), only)))


if __name__ == "__main__":
    main()
