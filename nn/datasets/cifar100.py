"""CIFAR-100, loaded like ``keras.datasets.cifar100``, from the *binary* version
of the data set (``cifar-100-binary.tar.gz``): a directory you name, else
downloaded once into adkit's cache and checked against its SHA-256.

Keras reads the Python version, whose files are pickles; adkit reads the binary
version (as for CIFAR-10): fixed-size records of one coarse-label byte, one
fine-label byte, then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each
32x32 row-major), in ``train.bin`` (50,000) and ``test.bin`` (10,000).
"""

from __future__ import annotations

import os
import tarfile
import zlib

import numpy as np

from . import download as _download
from . import sources
from .download import URL_ENV

__all__ = ["load_data", "BASE_URL", "ARCHIVE", "SHA256"]

BASE_URL = "https://www.cs.toronto.edu/~kriz/"
ARCHIVE = "cifar-100-binary.tar.gz"
#: the archive's SHA-256 (161 MiB; the MD5 on the CIFAR page is 03b5dce01913d631647c71ecec9e9cb8)
SHA256 = "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"

_SUBDIR = "cifar-100"
_FOLDER = "cifar-100-binary"
_FILES = ("train.bin", "test.bin")
_RECORD = 2 + 32 * 32 * 3
_CLASSES = {"coarse": 20, "fine": 100}


def _find(directory: str) -> tuple[str | dict[str, str] | None, str]:
    """The archive's path, or the extracted files, in ``directory``."""
    return sources.find_files_or_archive(directory, _FOLDER, _FILES, ARCHIVE,
                                         ("cifar-100-python", "cifar-100-python.tar.gz"),
                                         "CIFAR-100")


def _read_archive(archive: str) -> dict[str, bytes]:
    wanted = {f"{_FOLDER}/{n}": n for n in _FILES}
    data: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is not None and member.isfile():
                    data[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{archive}: cannot be read as a tar.gz archive ({type(e).__name__}: "
                         f"{e}); the file is damaged: restore or re-download it") from e
    missing = [m for m, n in wanted.items() if n not in data]
    if missing:
        raise ValueError(f"{archive}: no {', '.join(missing)} in the archive; this is not "
                         f"the CIFAR-100 binary archive ({ARCHIVE})")
    return data


def _decode(where: str, raw: bytes, label_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 32, 32, 3), labels (n, 1)) from one file's records."""
    if len(raw) % _RECORD:
        raise ValueError(f"{where}: {len(raw)} bytes is not a whole number of {_RECORD}-byte "
                         "records (2 label bytes + 3072 pixel bytes); the file is truncated or "
                         "not a CIFAR-100 binary file: restore or re-download it")
    records = np.frombuffer(raw, np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0 if label_mode == "coarse" else 1]
    if labels.size and labels.max() >= _CLASSES[label_mode]:
        raise ValueError(f"{where}: {label_mode} labels must lie below {_CLASSES[label_mode]}, "
                         f"found {int(labels.max())}; this is not a CIFAR-100 binary file")
    images = records[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.reshape(-1, 1).copy()


def load_data(label_mode: str = "fine", path: str | os.PathLike | None = None, *,
              download: bool = True) -> tuple:
    """Load CIFAR-100 as ``(x_train, y_train), (x_test, y_test)``, like Keras:
    uint8 RGB images (50000, 32, 32, 3) and (10000, 32, 32, 3), uint8 labels of
    shape (n, 1): the 100 fine classes, or the 20 superclasses with
    label_mode="coarse".

    The archive, its extracted ``cifar-100-binary/`` or ``train.bin``/``test.bin``
    are looked for in ``path`` (only there, when given), else ``$ADKIT_DATA``, else
    adkit's cache, where the archive is downloaded from ``BASE_URL`` (or the mirror
    ``$ADKIT_DATA_URL/cifar-100/``) and refused unless its SHA-256 is ``SHA256``.
    Raises FileNotFoundError listing the places searched and how to get the data.

    >>> (x_train, y_train), _ = load_data()  # doctest: +SKIP
    """
    if label_mode not in _CLASSES:
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: '
                         f"label_mode={label_mode}.")
    how_to_get = (
        f"Let adkit download it (network access to {BASE_URL}{ARCHIVE}, or a mirror in "
        f"${URL_ENV}), or point the path argument or the environment variable "
        f"{sources.ENV_VAR} at a directory holding {ARCHIVE} or its extracted {_FOLDER}/ "
        "(directly or in a cifar-100/ subdirectory).")

    def fetch() -> str:
        return _download.fetch(_SUBDIR, ARCHIVE, SHA256, BASE_URL)

    found = sources.locate("CIFAR-100 (binary version)", _SUBDIR, _find, path, None,
                           fetch if download else None, how_to_get)
    if isinstance(found, str):
        raw = _read_archive(found)
        where = {n: f"{found}: {_FOLDER}/{n}" for n in _FILES}
    else:
        raw, where = {}, dict(found)
        for name, p in found.items():
            with open(p, "rb") as f:
                raw[name] = f.read()
    train = _decode(where["train.bin"], raw["train.bin"], label_mode)
    test = _decode(where["test.bin"], raw["test.bin"], label_mode)
    return train, test
