"""Fashion-MNIST, loaded like ``keras.datasets.fashion_mnist``: from local IDX
files (Debian's ``dataset-fashion-mnist`` package, or a directory you name), else
downloaded once into adkit's cache and checked against its SHA-256.
"""

from __future__ import annotations

import os

import numpy as np

from . import mnist_layout, sources
from .download import URL_ENV

__all__ = ["load_data", "class_names", "INSTALL_COMMAND", "DEBIAN_DIR", "BASE_URL", "SHA256"]

#: Label ``i`` is ``class_names[i]`` (the names of Zalando's README and Keras's docs).
class_names: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

INSTALL_COMMAND = "apt-get update && apt-get install -y dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = sources.ENV_VAR

#: Where a download comes from (Keras's copy of Zalando's files) and each file's SHA-256:
#: Keras's keras/src/datasets/fashion_mnist.py and TensorFlow Datasets' url_checksums agree on
#: them. Debian's copies hold the same compressed stream under a normalised gzip header (no
#: file name, another time stamp), so their own hashes differ; restoring the original header
#: gives these hashes back (tests/test_nn_datasets_download.py). Local files are checked by
#: their IDX headers and sizes instead.
BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
_SUBDIR = "fashion-mnist"


def load_data(
    path: str | os.PathLike | None = None, *, download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    ``x_*`` are uint8 images of shape ``(60000, 28, 28)`` and ``(10000, 28, 28)``
    (0 is background), ``y_*`` uint8 labels in 0..9 naming ``class_names``.
    The arrays are fresh and writable.

    The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or
    ``.gz``) are looked for in:

    1. ``path``, if given (or its ``fashion-mnist/`` subdirectory), and only there;
    2. else ``$ADKIT_DATA`` (or ``$ADKIT_DATA/fashion-mnist/``), which must be an
       existing directory when set (a typo is an error, not a fallback);
    3. else ``/usr/share/datasets/fashion-mnist/``, where
       ``apt-get update && apt-get install -y dataset-fashion-mnist`` puts them;
    4. else, unless ``download=False``, the cache (``$ADKIT_CACHE``, default
       ``~/.cache/adkit``) under ``fashion-mnist/``, where they are downloaded
       from ``BASE_URL`` (or the mirror ``$ADKIT_DATA_URL/fashion-mnist/``) on
       first use; a download whose SHA-256 is not in ``SHA256`` is refused.

    Raises ``FileNotFoundError`` listing the places searched (and why a download
    failed) and how to get the data, and ``ValueError`` naming the file when one
    is damaged (truncated, a broken gzip stream, a wrong header) or does not
    match the others.

    >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    >>> x_train.shape, y_train.dtype, class_names[y_train[0]]  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), 'Ankle boot')
    """
    how_to_get = (
        f"Install it with\n  {INSTALL_COMMAND}\n(with sudo if not root), let adkit download "
        f"it (network access to {BASE_URL}, or a mirror in ${URL_ENV}), or point the path "
        f"argument or the environment variable {ENV_VAR} at a directory holding "
        f"{mnist_layout.file_list()} (directly or in a fashion-mnist/ subdirectory).")
    return mnist_layout.load("Fashion-MNIST", _SUBDIR, path,
                             (DEBIAN_DIR, "Debian package dataset-fashion-mnist"), BASE_URL,
                             SHA256, how_to_get, download)
