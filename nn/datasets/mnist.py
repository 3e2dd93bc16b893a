"""MNIST (handwritten digits), loaded like ``keras.datasets.mnist``: from the four
original IDX files in a directory you name, else downloaded once into adkit's
cache and checked against their SHA-256.
"""

from __future__ import annotations

import os

import numpy as np

from . import mnist_layout, sources
from .download import URL_ENV

__all__ = ["load_data", "BASE_URL", "SHA256"]

ENV_VAR = sources.ENV_VAR

#: Where a download comes from and each file's SHA-256: TensorFlow Datasets'
#: url_checksums/mnist.txt (Keras itself ships MNIST as an .npz; adkit reads the original
#: IDX files, the same format as Fashion-MNIST's).
BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_SUBDIR = "mnist"


def load_data(
    path: str | os.PathLike | None = None, *, download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    ``x_*`` are uint8 images of shape ``(60000, 28, 28)`` and ``(10000, 28, 28)``,
    ``y_*`` uint8 digits in 0..9. The arrays are fresh and writable.

    The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or
    ``.gz``) are looked for in:

    1. ``path``, if given (or its ``mnist/`` subdirectory), and only there;
    2. else ``$ADKIT_DATA`` (or ``$ADKIT_DATA/mnist/``), which must be an existing
       directory when set;
    3. else, unless ``download=False``, the cache (``$ADKIT_CACHE``, default
       ``~/.cache/adkit``) under ``mnist/``, where they are downloaded from
       ``BASE_URL`` (or the mirror ``$ADKIT_DATA_URL/mnist/``) on first use; a
       download whose SHA-256 is not in ``SHA256`` is refused.

    Debian packages no MNIST, so there is no system directory. Raises
    ``FileNotFoundError`` listing the places searched (and why a download
    failed) and how to get the data, and ``ValueError`` naming a damaged file.

    >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    >>> x_train.shape, y_train[:5]  # doctest: +SKIP
    ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    how_to_get = (
        f"Let adkit download it (network access to {BASE_URL}, or a mirror in ${URL_ENV}), "
        f"or point the path argument or the environment variable {ENV_VAR} at a directory "
        f"holding {mnist_layout.file_list()} (directly or in an mnist/ subdirectory).")
    return mnist_layout.load("MNIST", _SUBDIR, path, None, BASE_URL, SHA256, how_to_get,
                             download)
