"""What tests that read Fashion-MNIST share: a skip marker, with the fix, when no local copy exists."""

import pytest

from adkit.nn.datasets import fashion_mnist

try:  # never download at collection: tests stay offline and fast
    fashion_mnist.load_data(download=False)
    HAVE_DATA = True
except FileNotFoundError:
    HAVE_DATA = False

needs_data = pytest.mark.skipif(not HAVE_DATA, reason="Fashion-MNIST is not installed: "
                                "apt-get update && apt-get install -y dataset-fashion-mnist")
