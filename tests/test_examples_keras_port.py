"""Smoke test for examples/keras_port_mnist_cnn.py: Keras 2's mnist_cnn, written against
`import adkit.nn as keras`, has Keras's parameter count, trains beyond chance on a few
hundred Fashion-MNIST images, prints what it measured and saves a model that reloads."""

import json
from pathlib import Path

import numpy as np
import pytest

from data_support import needs_data
from examples_support import load_example

import adkit.nn as keras

keras_port = load_example("keras_port_mnist_cnn")


def test_the_model_is_keras2s_mnist_cnn():
    model = keras_port.mnist_cnn()
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]
    # conv 3*3*1*32+32, conv 3*3*32*64+64, dense 12*12*64*128+128, dense 128*10+10
    assert model.count_params() == 320 + 18_496 + 1_179_776 + 1_290 == 1_199_882
    assert type(model.optimizer).__name__ == "Adadelta"
    assert model.optimizer.get_config()["learning_rate"] == 1.0


@needs_data
def test_keras_port_trains_prints_and_saves(tmp_path, capsys):
    result = keras_port.main(["--limit", "300", "--epochs", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    history = result["history"]
    assert history["loss"][-1] < history["loss"][0]
    assert result["test_accuracy"] > 0.2          # ten classes: chance is 0.1
    assert f"Test accuracy: {result['test_accuracy']}" in out
    assert "Total params: 1,199,882" in Path(result["paths"]["summary.txt"]).read_text()
    assert json.loads(Path(result["paths"]["history.json"]).read_text())["loss"] == \
        history["loss"]
    _, (x_test, y_test) = keras_port.load_data(300)
    predicted = result["model"].predict(x_test, verbose=0).argmax(axis=1)
    assert result["test_accuracy"] == pytest.approx(np.mean(predicted == y_test.argmax(axis=1)))
    reloaded = keras.models.load_model(result["paths"]["mnist_cnn.adkit"])
    np.testing.assert_array_equal(reloaded.predict(x_test, verbose=0),
                                  result["model"].predict(x_test, verbose=0))


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        keras_port.main(["--epochs", "0"])
