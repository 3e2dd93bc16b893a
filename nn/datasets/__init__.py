"""adkit.nn.datasets: data sets read from local files, Keras-style (``fashion_mnist.load_data()``)."""

from . import fashion_mnist, idx

__all__ = ["fashion_mnist", "idx"]
