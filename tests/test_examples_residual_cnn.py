"""Smoke test for examples/residual_cnn.py: a few hundred images train the residual
CNN beyond chance, its printed accuracy is the one its predictions give, and the saved
model reloads to the same predictions."""

import json
from pathlib import Path

import numpy as np
import pytest

from data_support import needs_data
from examples_support import load_example

residual_cnn = load_example("residual_cnn")


def test_the_graph_has_two_residual_additions_and_keras_parameter_count():
    model = residual_cnn.residual_cnn(filters=4)
    adds = [layer for layer in model.layers if type(layer).__name__ == "Add"]
    assert [a.name for a in adds] == ["block1_add", "block2_add"]
    # stem 3*3*1*4+4, four block convolutions 3*3*4*4+4 each, dense 7*7*4*10+10
    assert model.count_params() == 40 + 4 * 148 + 1970


@needs_data
def test_residual_cnn_trains_saves_and_reloads(tmp_path, capsys):
    result = residual_cnn.main(["--limit", "400", "--epochs", "2", "--filters", "8",
                                "--out", str(tmp_path)])
    out = capsys.readouterr().out
    history = result["history"]
    assert history["loss"][-1] < history["loss"][0]
    assert result["test_accuracy"] > 0.2          # ten classes: chance is 0.1
    assert result["reloaded_same"]
    assert f"test accuracy {result['test_accuracy']:.4f}" in out
    from adkit.nn.train import load_images
    _, (xt, yt) = load_images(400)
    predicted = result["model"].predict(xt).argmax(axis=1)
    assert result["test_accuracy"] == pytest.approx(np.mean(predicted == yt))
    assert json.loads(Path(result["paths"]["history.json"]).read_text())["loss"] == \
        history["loss"]
    assert "block2_add (Add)" in Path(result["paths"]["summary.txt"]).read_text()
