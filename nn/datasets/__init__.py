"""adkit.nn.datasets: data sets loaded Keras-style (``fashion_mnist.load_data()``,
``mnist``, ``cifar10``) from local files or a hash-checked, cached download, and
small synthetic ones (``make_moons``)."""

from . import cifar10, fashion_mnist, idx, mnist
from .toy import make_moons

__all__ = ["cifar10", "fashion_mnist", "idx", "make_moons", "mnist"]
