"""The TensorBoard callback: per-epoch scalars and histograms of weights, gradients and
activations, as JSON lines + PNGs (the default) or TensorBoard event files (tensorboardX)."""

import os
import struct

import numpy as np
import pytest

import adkit
from adkit.nn import Sequential
from adkit.nn.callbacks import TensorBoard
from adkit.nn.layers import Dense, Dropout
from adkit.nn.callbacks.summaries import histogram, read_summaries

BINS, SAMPLES = 20, 48


def blobs(n: int, seed: int = 0) -> tuple:
    """Three Gaussian blobs in 4-D, labels 0..2."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    return (centres[y] + rng.normal(size=(n, 4))).astype(np.float32), y


def small_model() -> Sequential:
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dropout(0.3),
                        Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small classifier fitted 2 epochs with the JSON writer; (model, log_dir, xv, yv)."""
    log_dir = tmp_path_factory.mktemp("summaries") / "logs"
    (x, y), (xv, yv) = blobs(256), blobs(64, seed=1)
    model = small_model()
    board = TensorBoard(log_dir, histogram_data=(xv, yv), histogram_samples=SAMPLES,
                        bins=BINS, writer="json")
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_data=(xv, yv),
              callbacks=[board])
    return model, log_dir, xv, yv


def test_scalars_every_epoch_in_order(fitted):
    model, log_dir, _, _ = fitted
    records = read_summaries(log_dir)
    assert [r["epoch"] for r in records] == [0, 1]          # like History.epoch
    for r, loss in zip(records, model.history.history["loss"]):
        s = r["scalars"]
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(s)
        assert s["loss"] == pytest.approx(loss)
        assert s["learning_rate"] == pytest.approx(model.optimizer.current_learning_rate())


def test_weight_histograms_count_every_parameter(fitted):
    model, log_dir, _, _ = fitted
    for record in read_summaries(log_dir):
        hists = record["histograms"]
        for layer in model.layers:
            for name, w in model.params[layer.name].items():
                h = hists[f"weights/{layer.name}/{name}"]
                assert sum(h["counts"]) == h["size"] == w.size
                assert len(h["edges"]) == BINS + 1
    last = read_summaries(log_dir)[-1]["histograms"]["weights/" + model.layers[0].name + "/kernel"]
    kernel = model.params[model.layers[0].name]["kernel"].astype(np.float64)
    np.testing.assert_allclose(last["edges"], np.histogram(kernel, BINS)[1], rtol=1e-12)


def test_gradient_histograms_match_adkit_grad(fitted):
    model, log_dir, xv, yv = fitted
    # the parameters after the last epoch are the ones its histograms saw
    g = adkit.grad(lambda p: model.loss_fn(p, xv[:SAMPLES], yv[:SAMPLES], None, False)[0])(
        model.params)
    hists = read_summaries(log_dir)[-1]["histograms"]
    tags = [t for t in hists if t.startswith("gradients/")]
    assert len(tags) == 4                                     # 2 Dense layers x (kernel, bias)
    for tag in tags:
        _, layer, name = tag.split("/")
        counts, edges = np.histogram(g[layer][name].astype(np.float64), BINS)
        assert hists[tag]["counts"] == counts.tolist()
        np.testing.assert_allclose(hists[tag]["edges"], edges, rtol=1e-12)
        assert hists[tag]["max"] > hists[tag]["min"]          # a real, non-zero gradient


def test_activation_histograms_cover_each_layer(fitted):
    model, log_dir, xv, _ = fitted
    hists = read_summaries(log_dir)[-1]["histograms"]
    for layer, shape in zip(model.layers, [(16,), (16,), (3,)]):
        assert hists[f"activations/{layer.name}"]["size"] == SAMPLES * np.prod(shape)
    probs = model.predict(xv[:SAMPLES])                       # the last layer's output
    assert hists[f"activations/{model.layers[-1].name}"]["counts"] == \
        np.histogram(probs.astype(np.float64), BINS)[0].tolist()
    # dropout is off in the recorded pass: it passes the relu outputs through unchanged
    first, drop = (hists[f"activations/{l.name}"] for l in model.layers[:2])
    assert first["counts"] == drop["counts"]


def test_pngs_written(fitted):
    pytest.importorskip("matplotlib", reason="PNG summaries need matplotlib: "
                        "pip install matplotlib")
    _, log_dir, _, _ = fitted
    for name in ("learning_curves.png", "histograms/epoch_001.png", "histograms/epoch_002.png"):
        path = log_dir / name
        assert path.stat().st_size > 5000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(log_dir) if p.startswith(".tmp")]   # atomic writes


def test_histogram_freq_and_no_sample_batch(tmp_path):
    (x, y) = blobs(64)
    model = small_model()
    with pytest.warns(RuntimeWarning, match="histogram_data"):
        model.fit(x, y, epochs=2, batch_size=32, verbose=0,
                  callbacks=[TensorBoard(tmp_path, histogram_freq=2, writer="json",
                                         write_png=False)])
    first, second = read_summaries(tmp_path)
    assert first["histograms"] == {}                          # only every 2nd epoch
    assert second["histograms"] and all(t.startswith("weights/") for t in second["histograms"])
    assert not (tmp_path / "learning_curves.png").exists()


def test_histogram_counts_nonfinite_apart():
    h = histogram(np.array([1.0, np.inf, 2.0, np.nan, 3.0]), bins=4)
    assert sum(h["counts"]) == 3 and h["nonfinite"] == 2 and h["size"] == 5
    assert (h["min"], h["max"]) == (1.0, 3.0)


@pytest.mark.parametrize("kwargs, match", [({"writer": "csv"}, "writer"),
                                           ({"histogram_freq": -1}, "histogram_freq"),
                                           ({"bins": 0}, "bins"),
                                           ({"histogram_data": np.zeros(3)}, "pair")])
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorBoard("logs", **kwargs)


def _events(folder) -> list:
    """Every Event in a folder's TensorBoard event files (TFRecord framing)."""
    from tensorboardX.proto import event_pb2
    events = []
    for name in sorted(os.listdir(folder)):
        data = (folder / name).read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[at + 12:at + 12 + length])
            events.append(event)
            at += 12 + length + 4
    return events


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboardX", reason="the TensorBoard writer needs tensorboardX: "
                        "pip install tensorboardX")
    (x, y), (xv, yv) = blobs(128), blobs(32, seed=1)
    model = small_model()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_data=(xv, yv),
              callbacks=[TensorBoard(tmp_path, histogram_data=(xv, yv), writer="tensorboard")])
    scalars, hists = {}, {}
    for event in _events(tmp_path / "train"):
        for v in event.summary.value:
            if v.HasField("histo"):
                hists.setdefault(v.tag, []).append((event.step, v.histo))
            else:
                scalars.setdefault(v.tag, []).append((event.step, v.simple_value))
    assert [s for s, _ in scalars["epoch_loss"]] == [0, 1]
    np.testing.assert_allclose([v for _, v in scalars["epoch_loss"]],
                               model.history.history["loss"], rtol=1e-6)
    assert "epoch_learning_rate" in scalars and "epoch_val_loss" not in scalars
    kernel = model.params[model.layers[0].name]["kernel"]
    h = hists[f"weights/{model.layers[0].name}/kernel"][-1][1]
    assert h.num == kernel.size
    assert any(t.startswith("gradients/") for t in hists)
    assert any(t.startswith("activations/") for t in hists)
    val = [(e.step, v.tag) for e in _events(tmp_path / "validation") for v in e.summary.value]
    assert (1, "epoch_loss") in val and (1, "epoch_accuracy") in val


def test_tensorboard_writer_without_tensorboardx_says_how_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tensorboardX", None)    # import fails as if absent
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        TensorBoard("logs", writer="tensorboard")
