"""The README's main job in miniature: train the textbook CNN on a slice of
Fashion-MNIST, print test metrics, save the model and its learning curve."""

import os

import numpy as np
import pytest

from data_support import needs_data

from adkit.__main__ import main
from adkit.nn import load_model
from adkit.nn.datasets import fashion_mnist



@needs_data
def test_main_job_trains_saves_and_plots(tmp_path, capsys):
    assert main(["demo", "--limit", "1024", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sqrt(x1^2 + x2^2)" in out                       # the derivatives demo ran first
    assert "Total params: 600,810" in out                     # then the CNN's summary
    line = next(l for l in out.splitlines() if "test accuracy" in l)
    accuracy = float(line.rsplit("test accuracy", 1)[1])
    assert accuracy > 0.3          # 8 steps on 1024 images: about 0.45 (chance is 0.1)
    model = load_model(tmp_path / "cnn.adkit")
    (_, _), (xt, yt) = fashion_mnist.load_data()
    probs = model.predict(xt[:1024, ..., None].astype(np.float32) / 255)
    assert np.mean(probs.argmax(1) == yt[:1024]) == pytest.approx(accuracy, abs=1e-4)  # printed to 4 places
    pytest.importorskip("matplotlib", reason="the learning curve needs the examples extra")
    assert os.path.getsize(tmp_path / "cnn_learning_curve.png") > 1000


def test_learning_curve_leaves_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    """plot_learning_curve draws on a Figure of its own: a notebook's backend and its open
    pyplot figures are as they were."""
    matplotlib = pytest.importorskip("matplotlib", reason="the learning curve needs matplotlib")
    import matplotlib.pyplot as plt
    from adkit.nn.callbacks import History
    from adkit.nn.train import BatchLosses, plot_learning_curve

    before = matplotlib.get_backend()
    matplotlib.use("svg")   # any backend but Agg: the old code switched it to Agg
    try:
        open_figures = plt.get_fignums()
        batches = BatchLosses()
        batches.on_train_begin()
        for loss in (2.0, 1.5, 1.2, 1.0):
            batches.on_train_batch_end(0, {"loss": loss})
        history = History()
        history.on_epoch_end(0, {"val_loss": 1.1})
        history.on_epoch_end(1, {"val_loss": 0.9})
        path = tmp_path / "curve.png"
        assert plot_learning_curve(batches, history, 2.0, str(path), "a title")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == open_figures
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        matplotlib.use(before)


@pytest.mark.parametrize("installed", [True, False])
def test_tensorboard_hint_names_a_command_that_exists(monkeypatch, installed):
    import shutil
    from adkit.nn import train
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if installed else None)
    hint = train._tensorboard_hint("runs/cnn/logs")
    assert "tensorboard --logdir runs/cnn/logs" in hint
    assert ("pip install tensorboard" in hint) != installed
