"""adkit.nn.datasets: data sets loaded Keras-style (``fashion_mnist.load_data()``,
``mnist``, ``cifar10``, ``cifar100``, ``imdb``, ``reuters``, ``boston_housing``,
``california_housing``) from local files or a hash-checked, cached download, and
small synthetic ones (``make_moons``)."""

from . import (boston_housing, california_housing, cifar10, cifar100, fashion_mnist, idx, imdb,
               mnist, reuters)
from .toy import make_moons

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist", "idx",
           "imdb", "make_moons", "mnist", "reuters"]
