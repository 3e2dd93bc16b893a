"""Fashion-MNIST, loaded like ``keras.datasets.fashion_mnist`` from local IDX files.

Nothing is downloaded: the files come from Debian's ``dataset-fashion-mnist``
package, or from a directory you name (argument ``path`` or the environment
variable ``ADKIT_DATA``).
"""

from __future__ import annotations

import os
import zlib

import numpy as np

from .idx import read_idx

__all__ = ["load_data", "class_names", "INSTALL_COMMAND", "DEBIAN_DIR"]

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
ENV_VAR = "ADKIT_DATA"

# The original names; Debian ships the same names, gzipped. Each may be plain or .gz.
_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find_files(directory: str) -> tuple[dict[str, str], list[str]]:
    """The files present in ``directory`` (key -> path) and the names missing."""
    found, missing = {}, []
    for key, name in _FILES.items():
        for candidate in (name, name + ".gz"):
            p = os.path.join(directory, candidate)
            if os.path.isfile(p):
                found[key] = p
                break
        else:
            missing.append(name + "[.gz]")
    return found, missing


def _candidates(path: str | os.PathLike | None) -> list[tuple[str, str]]:
    """(directory, where it came from) in search order; each also means its
    ``fashion-mnist/`` subdirectory."""
    if path is not None:
        # An explicit path is the only place looked at: silently loading some
        # other copy would hide a typo.
        return [(os.fspath(path), "path argument")]
    env = os.environ.get(ENV_VAR)
    if env and not os.path.isdir(env):
        # A mistyped variable must not quietly load the system's copy instead.
        raise FileNotFoundError(
            f"${ENV_VAR} is {env!r}, which is not a directory. Point it at the directory "
            "holding the Fashion-MNIST files, or unset it to use "
            f"{DEBIAN_DIR} (Debian's dataset-fashion-mnist)"
        )
    return ([(env, f"${ENV_VAR}")] if env else []) + [
        (DEBIAN_DIR, "Debian package dataset-fashion-mnist")
    ]


def _locate(path: str | os.PathLike | None) -> dict[str, str]:
    searched = []
    for base, origin in _candidates(path):
        for directory in (base, os.path.join(base, "fashion-mnist")):
            found, missing = _find_files(directory)
            if not missing:
                return found
            if not os.path.isdir(directory):
                if directory != base:
                    continue  # a missing subdirectory is not worth a line
                state = "no such directory"
            elif found:
                state = "incomplete, missing " + ", ".join(missing)
            else:
                state = "no Fashion-MNIST files"
            searched.append(f"  {directory} ({origin}): {state}")
    raise FileNotFoundError(
        "Fashion-MNIST not found. Searched:\n"
        + "\n".join(searched)
        + "\nInstall it with\n"
        f"  {INSTALL_COMMAND}\n"
        "(with sudo if not root), or point the path argument or the environment "
        f"variable {ENV_VAR} at a directory holding "
        + ", ".join(n + "[.gz]" for n in _FILES.values())
        + " (directly or in a fashion-mnist/ subdirectory)."
    )


def _check_pair(images: np.ndarray, labels: np.ndarray, ipath: str, lpath: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{ipath}: expected uint8 images of shape (n, 28, 28), "
            f"got {images.dtype} {images.shape}; this is not a Fashion-MNIST image file"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{lpath}: expected uint8 labels of shape (n,), got {labels.dtype} "
            f"{labels.shape}; this is not a Fashion-MNIST label file"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{ipath} holds {len(images)} images but {lpath} holds {len(labels)} "
            "labels; the files do not belong together"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"{lpath}: labels must lie in 0..9, found {int(labels.max())}; "
            "this is not a Fashion-MNIST label file"
        )


def _read(path: str) -> np.ndarray:
    """read_idx, with a damaged file's every failure a ValueError naming it."""
    try:
        return read_idx(path)
    except ValueError:
        raise
    except (OSError, EOFError, zlib.error) as e:   # gzip: a bad CRC, a cut stream
        raise ValueError(f"{path}: cannot be read as an IDX file ({type(e).__name__}: {e}); "
                         "the file is damaged: restore or re-download it") from e


def load_data(
    path: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    ``x_*`` are uint8 images of shape ``(60000, 28, 28)`` and ``(10000, 28, 28)``
    (0 is background), ``y_*`` uint8 labels in 0..9 naming ``class_names``.
    The arrays are fresh and writable; nothing is cached or downloaded.

    The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or
    ``.gz``) are looked for in:

    1. ``path``, if given (or its ``fashion-mnist/`` subdirectory), and only there;
    2. else ``$ADKIT_DATA`` (or ``$ADKIT_DATA/fashion-mnist/``), which must be an
       existing directory when set (a typo is an error, not a fallback);
    3. else ``/usr/share/datasets/fashion-mnist/``, where
       ``apt-get update && apt-get install -y dataset-fashion-mnist`` puts them.

    Raises ``FileNotFoundError`` listing the places searched and that command
    when the files are absent, and ``ValueError`` naming the file when one is
    damaged (truncated, a broken gzip stream, a wrong header) or does not match
    the others.

    >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    >>> x_train.shape, y_train.dtype, class_names[y_train[0]]  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), 'Ankle boot')
    """
    files = _locate(path)
    arrays = {key: _read(p) for key, p in files.items()}
    for split in ("train", "test"):
        _check_pair(
            arrays[f"x_{split}"], arrays[f"y_{split}"], files[f"x_{split}"], files[f"y_{split}"]
        )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
