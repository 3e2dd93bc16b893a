"""CIFAR-10, loaded like ``keras.datasets.cifar10``, from the *binary* version of
the data set (``cifar-10-binary.tar.gz``): a directory you name, else downloaded
once into adkit's cache and checked against its SHA-256.

Keras reads the Python version, whose batches are pickles; adkit never unpickles.
The binary version is documented fixed-size records: one label byte, then 3072
pixel bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major).
"""

from __future__ import annotations

import os
import tarfile
import zlib

import numpy as np

from . import download as _download
from . import sources
from .download import URL_ENV

__all__ = ["load_data", "class_names", "BASE_URL", "ARCHIVE", "SHA256"]

#: Label ``i`` is ``class_names[i]`` (batches.meta.txt of the data set, Keras's docs).
class_names: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                "frog", "horse", "ship", "truck")

ENV_VAR = sources.ENV_VAR

#: The data set's own server, and the archive's SHA-256 as TensorFlow Datasets lists it
#: (url_checksums/cifar10.txt; 170,052,171 bytes, whose MD5 is the c32a1d4a... that the
#: CIFAR page gives).
BASE_URL = "https://www.cs.toronto.edu/~kriz/"
ARCHIVE = "cifar-10-binary.tar.gz"
SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"

_SUBDIR = "cifar-10"
_FOLDER = "cifar-10-batches-bin"   # the archive's top directory
_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_TEST = ("test_batch.bin",)
_RECORD = 1 + 32 * 32 * 3


def _find(directory: str) -> tuple[str | dict[str, str] | None, str]:
    """The archive's path, or the extracted files, in ``directory``."""
    return sources.find_files_or_archive(directory, _FOLDER, _TRAIN + _TEST, ARCHIVE,
                                         ("cifar-10-batches-py", "cifar-10-python.tar.gz"),
                                         "CIFAR-10")


def _read_archive(archive: str) -> dict[str, bytes]:
    """The six batch files' bytes, in one pass over the gzip stream."""
    wanted = {f"{_FOLDER}/{n}": n for n in _TRAIN + _TEST}
    data: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is None:
                    continue
                if not member.isfile():
                    raise ValueError(f"{archive}: {member.name} is not a regular file; "
                                     f"this is not the CIFAR-10 binary archive")
                data[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{archive}: cannot be read as a tar.gz archive ({type(e).__name__}: "
                         f"{e}); the file is damaged: restore or re-download it") from e
    missing = [m for m, n in wanted.items() if n not in data]
    if missing:
        raise ValueError(f"{archive}: no {', '.join(missing)} in the archive; this is not "
                         f"the CIFAR-10 binary archive ({ARCHIVE})")
    return data


def _decode(where: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 32, 32, 3), labels (n,)) from one batch's records, as views of ``raw``."""
    if len(raw) % _RECORD:
        raise ValueError(
            f"{where}: {len(raw)} bytes is not a whole number of {_RECORD}-byte records "
            "(1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 "
            "binary batch: restore or re-download it")
    records = np.frombuffer(raw, np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0]
    if labels.size and labels.max() > 9:
        raise ValueError(f"{where}: labels must lie in 0..9, found {int(labels.max())}; "
                         "this is not a CIFAR-10 binary batch")
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _split(batches: dict[str, tuple[np.ndarray, np.ndarray]],
           names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    # one copy, into a C-ordered array (concatenate alone keeps the transposed layout)
    images = [batches[n][0] for n in names]
    x = np.concatenate(images, out=np.empty((sum(map(len, images)), 32, 32, 3), np.uint8))
    y = np.concatenate([batches[n][1] for n in names]).reshape(-1, 1)
    return x, y


def load_data(
    path: str | os.PathLike | None = None, *, download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    ``x_*`` are uint8 RGB images of shape ``(50000, 32, 32, 3)`` and
    ``(10000, 32, 32, 3)`` (channels last), ``y_*`` uint8 labels of shape
    ``(50000, 1)`` and ``(10000, 1)`` in 0..9 naming ``class_names``.

    The binary version is looked for as ``cifar-10-binary.tar.gz``, as its
    extracted ``cifar-10-batches-bin/`` directory, or as the six batch files
    (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``) in:

    1. ``path``, if given (or its ``cifar-10/`` subdirectory), and only there;
    2. else ``$ADKIT_DATA`` (or ``$ADKIT_DATA/cifar-10/``), which must be an
       existing directory when set;
    3. else, unless ``download=False``, the cache (``$ADKIT_CACHE``, default
       ``~/.cache/adkit``) under ``cifar-10/``, where the archive (163 MiB) is
       downloaded from ``BASE_URL`` (or the mirror ``$ADKIT_DATA_URL/cifar-10/``)
       on first use; a download whose SHA-256 is not ``SHA256`` is refused.

    Raises ``FileNotFoundError`` listing the places searched (and why a download
    failed) and how to get the data, and ``ValueError`` naming a damaged file.

    >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    >>> x_train.shape, y_train.shape, class_names[y_train[0, 0]]  # doctest: +SKIP
    ((50000, 32, 32, 3), (50000, 1), 'frog')
    """
    how_to_get = (
        f"Let adkit download it (network access to {BASE_URL}{ARCHIVE}, or a mirror in "
        f"${URL_ENV}), or point the path argument or the environment variable {ENV_VAR} at "
        f"a directory holding {ARCHIVE} or its extracted {_FOLDER}/ (directly or in a "
        "cifar-10/ subdirectory).")

    def fetch() -> str:
        return _download.fetch(_SUBDIR, ARCHIVE, SHA256, BASE_URL)

    found = sources.locate("CIFAR-10 (binary version)", _SUBDIR, _find, path, None,
                           fetch if download else None, how_to_get)
    if isinstance(found, str):
        raw = _read_archive(found)
        batches = {n: _decode(f"{found}: {_FOLDER}/{n}", raw[n]) for n in raw}
    else:
        batches = {}
        for name, p in found.items():
            with open(p, "rb") as f:
                batches[name] = _decode(p, f.read())
    return _split(batches, _TRAIN), _split(batches, _TEST)
