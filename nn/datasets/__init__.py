"""adkit.nn.datasets: data sets read from local files, Keras-style (``fashion_mnist.load_data()``),
and small synthetic ones (``make_moons``)."""

from . import fashion_mnist, idx
from .toy import make_moons

__all__ = ["fashion_mnist", "idx", "make_moons"]
