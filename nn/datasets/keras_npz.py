"""The .npz files Keras's own data sets come in (imdb.npz, reuters.npz,
boston_housing.npz, california_housing.npz): found, checked and read safely.

A file is looked for (``sources.locate``) in the ``path`` argument (a directory,
or the file itself), else ``$ADKIT_DATA``, else Keras's own cache
``~/.keras/datasets`` (where a Keras install has put it), else downloaded once
from Keras's server into adkit's cache. Whichever copy is used must have the
SHA-256 Keras lists for it.

IMDB's and Reuters's ragged sequences are NumPy object arrays, which NumPy can
only store as a pickle stream. They are read as Keras 3 reads them: by an
unpickler that rebuilds NumPy arrays and Python lists and ints, and refuses every
other class or function, so a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from . import download as _download
from . import sources
from .download import URL_ENV

__all__ = ["load", "read_npz", "shuffled_split", "check_test_split", "BASE_URL", "KERAS_CACHE"]

#: Keras's server for these files
BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: where Keras caches its downloads
KERAS_CACHE = os.path.join(os.path.expanduser("~"), ".keras", "datasets")

_ARRAY_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                            ("numpy.core.multiarray", "_reconstruct"),
                            ("numpy._core.multiarray", "_reconstruct")})


class _ArraysOnly(pickle.Unpickler):
    """Rebuilds NumPy arrays (and the lists and numbers inside them), nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a data set file holds only "
                                     "arrays; this file is damaged or not what it claims")


def _read_member(raw: bytes) -> np.ndarray:
    stream = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(stream, allow_pickle=False)
    except ValueError:   # an object array: its data is a pickle stream after the header
        stream.seek(0)
        major, _ = np.lib.format.read_magic(stream)
        if major == 1:
            np.lib.format.read_array_header_1_0(stream)
        else:
            np.lib.format.read_array_header_2_0(stream)
        return _ArraysOnly(stream).load()


def read_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, object arrays rebuilt by the restricted unpickler.

    >>> import tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> np.savez(f, x=np.array([[1, 2], [3]], dtype=object), y=np.arange(2))
    >>> d = read_npz(f); d["x"].tolist(), d["y"].tolist()
    ([[1, 2], [3]], [0, 1])
    """
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".npy"):
                    arrays[member[:-4]] = _read_member(archive.read(member))
    except (zipfile.BadZipFile, ValueError, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"{path}: cannot be read as Keras's .npz data file ({e}); restore or "
                         "re-download it") from e
    return arrays


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate_keras_file(title: str, subdir: str, filename: str, path: Any,
                      fetch: Any, how_to_get: str) -> str:
    """Where Keras's file `filename` is: `path` itself (a file), or a directory named by
    `path` or $ADKIT_DATA, Keras's cache, or what fetch() downloads (None: no download);
    Keras's default `path`, the bare file name, counts as no path."""
    if path is not None and os.fspath(path) == filename:
        path = None
    if path is not None and os.path.isfile(path):
        return os.fspath(path)

    def find(directory: str) -> tuple[str | None, str]:
        candidate = os.path.join(directory, filename)
        return (candidate, "") if os.path.isfile(candidate) else (None, f"no {filename}")

    system = (KERAS_CACHE, "Keras's cache") if path is None and \
        os.path.isdir(KERAS_CACHE) else None
    return sources.locate(title, subdir, find, path, system, fetch, how_to_get)


def load(title: str, subdir: str, filename: str, sha256: str, path: Any,
         download: bool) -> dict[str, np.ndarray]:
    """The arrays of Keras's file `filename` for data set `title` (see the module
    docstring for where it is looked for)."""
    def fetch() -> str:
        return _download.fetch(subdir, filename, sha256, BASE_URL)

    found = locate_keras_file(
        title, subdir, filename, path, fetch if download else None,
        f"Let adkit download it (network access to {BASE_URL}{filename}, or a mirror in "
        f"${URL_ENV}), or put {filename} in a directory named by the path argument or "
        f"${sources.ENV_VAR} (directly or in its {subdir}/ subdirectory), or in {KERAS_CACHE}.")
    actual = _sha256(found)
    if actual != sha256:
        raise ValueError(f"{found}: SHA-256 {actual} is not the {sha256} of Keras's "
                         f"{filename}; the file is damaged or a different one: delete it and "
                         "download it again")
    return read_npz(found)


def shuffled_split(x: np.ndarray, y: np.ndarray, test_split: float,
                   seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras's housing split: shuffle with RandomState(seed), the first
    int(n * (1 - test_split)) rows train, the rest test."""
    check_test_split(test_split)
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def check_test_split(test_split: float) -> None:
    """Keras's check: test_split in [0, 1)."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 "
                         "and 1 (exclusive of 1).")
