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
