"""The layout MNIST and Fashion-MNIST share: four IDX files of 28x28 uint8 images
and uint8 labels in 0..9, found in a directory or downloaded, then read and checked."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping

import numpy as np

from . import download, sources
from .idx import read_idx

__all__ = ["FILES", "file_list", "load"]

# The original names; Debian ships the same names, gzipped. Each may be plain or .gz.
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def file_list() -> str:
    """The four names, as a message lists them.

    >>> file_list()[:30]
    'train-images-idx3-ubyte[.gz], '
    """
    return ", ".join(n + "[.gz]" for n in FILES.values())


def _find(directory: str) -> tuple[dict[str, str] | None, str]:
    found, missing = {}, []
    for key, name in FILES.items():
        for candidate in (name, name + ".gz"):
            p = os.path.join(directory, candidate)
            if os.path.isfile(p):
                found[key] = p
                break
        else:
            missing.append(name + "[.gz]")
    if not missing:
        return found, ""
    return None, ("incomplete, missing " + ", ".join(missing)) if found else "no such files"


def _read(path: str) -> np.ndarray:
    """read_idx, with a damaged file's every failure a ValueError naming it."""
    try:
        return read_idx(path)
    except ValueError:
        raise
    except (OSError, EOFError, zlib.error) as e:   # gzip: a bad CRC, a cut stream
        raise ValueError(f"{path}: cannot be read as an IDX file ({type(e).__name__}: {e}); "
                         "the file is damaged: restore or re-download it") from e


def _check_pair(title: str, images: np.ndarray, labels: np.ndarray, ipath: str,
                lpath: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{ipath}: expected uint8 images of shape (n, 28, 28), "
            f"got {images.dtype} {images.shape}; this is not a {title} image file"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{lpath}: expected uint8 labels of shape (n,), got {labels.dtype} "
            f"{labels.shape}; this is not a {title} label file"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{ipath} holds {len(images)} images but {lpath} holds {len(labels)} "
            "labels; the files do not belong together"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"{lpath}: labels must lie in 0..9, found {int(labels.max())}; "
            f"this is not a {title} label file"
        )


def load(title: str, subdir: str, path: str | os.PathLike | None,
         system: tuple[str, str] | None, base_url: str, sha256: Mapping[str, str],
         how_to_get: str, allow_download: bool) -> Arrays:
    """Find (``sources.locate``), else download into the cache, then read and check
    the four files of ``title``; ``sha256`` maps each ``*.gz`` name to its hash.

    >>> load("MNIST", "mnist", "/nonexistent", None, "", {}, "",
    ...      False)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    FileNotFoundError: MNIST not found. Searched: /nonexistent (path argument): no such directory
    """
    def fetch_all() -> dict[str, str]:
        return {key: download.fetch(subdir, name + ".gz", sha256[name + ".gz"], base_url)
                for key, name in FILES.items()}

    files = sources.locate(title, subdir, _find, path, system,
                           fetch_all if allow_download else None, how_to_get)
    arrays = {key: _read(p) for key, p in files.items()}
    for split in ("train", "test"):
        _check_pair(title, arrays[f"x_{split}"], arrays[f"y_{split}"], files[f"x_{split}"],
                    files[f"y_{split}"])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
