"""Where a data set is looked for, in order, and the one message when no place has it.

1. the ``path`` argument, if given, and only there (silently loading some other
   copy would hide a typo);
2. else ``$ADKIT_DATA``, which must be an existing directory when set;
3. else the system directory (Debian's package), where the data set has one;
4. else adkit's download cache, filled on first use (``download.fetch``).

Each directory also stands for its subdirectory named after the data set
(``$ADKIT_DATA/fashion-mnist/``), so one ``ADKIT_DATA`` serves every data set.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from .download import DownloadError

__all__ = ["locate", "ENV_VAR"]

ENV_VAR = "ADKIT_DATA"

Found = TypeVar("Found")


def _candidates(title: str, path: str | os.PathLike | None,
                system: tuple[str, str] | None) -> list[tuple[str, str]]:
    """(directory, where it came from) in search order."""
    if path is not None:
        return [(os.fspath(path), "path argument")]
    env = os.environ.get(ENV_VAR)
    if env and not os.path.isdir(env):
        # A mistyped variable must not quietly load the system's copy instead.
        where = f"unset it to use {system[0]} ({system[1]})" if system else \
            "unset it to use adkit's download cache"
        raise FileNotFoundError(
            f"${ENV_VAR} is {env!r}, which is not a directory. Point it at the directory "
            f"holding the {title} files, or {where}")
    return ([(env, f"${ENV_VAR}")] if env else []) + ([system] if system else [])


def locate(title: str, subdir: str, find: Callable[[str], tuple[Found | None, str]],
           path: str | os.PathLike | None, system: tuple[str, str] | None,
           download: Callable[[], Found] | None, how_to_get: str) -> Found:
    """The first hit of ``find(directory)`` over the places above, else ``download()``.

    ``find`` returns ``(what it found, "")`` or ``(None, why not)``, the reason
    one line such as ``"incomplete, missing t10k-labels-idx1-ubyte[.gz]"``.
    ``system`` is ``(directory, its origin)`` or None. ``download`` runs only when
    no ``path`` was given; it may raise ``DownloadError``. When nothing works,
    ``FileNotFoundError`` lists every place tried and why, then ``how_to_get``.

    >>> locate("Demo", "demo", lambda d: (None, "empty"), "/nonexistent", None,
    ...        None, "Get it somewhere.")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    FileNotFoundError: Demo not found. Searched:
      /nonexistent (path argument): no such directory
    Get it somewhere.
    """
    searched = []
    for base, origin in _candidates(title, path, system):
        for directory in (base, os.path.join(base, subdir)):
            if not os.path.isdir(directory):
                if directory == base:  # a missing subdirectory is not worth a line
                    searched.append(f"  {directory} ({origin}): no such directory")
                continue
            found, why_not = find(directory)
            if found is not None:
                return found
            searched.append(f"  {directory} ({origin}): {why_not}")
    failure = None
    if path is not None and download is not None:
        searched.append("  (no download: a path argument is the only place looked at; "
                        "leave it out to download into the cache)")
    elif download is not None:
        try:
            return download()
        except DownloadError as e:
            failure = e
            searched.append(f"  download: {e}")
    raise FileNotFoundError(f"{title} not found. Searched:\n" + "\n".join(searched)
                            + "\n" + how_to_get) from failure


def find_files_or_archive(directory: str, folder: str, names: tuple[str, ...], archive: str,
                          pickled: tuple[str, ...], release: str,
                          ) -> tuple[str | dict[str, str] | None, str]:
    """A `find` for `locate`: the extracted files `names` (in `directory` or its `folder`)
    as {name: path}, else the `archive`'s path, else (None, why). A Python-pickle release
    of the same data (a name in `pickled`) is named as what adkit does not read."""
    for place in (directory, os.path.join(directory, folder)):
        files = {n: os.path.join(place, n) for n in names}
        present = [n for n, p in files.items() if os.path.isfile(p)]
        if len(present) == len(files):
            return files, ""
        if present:
            missing = sorted(set(files) - set(present))
            return None, f"incomplete, missing {', '.join(missing)} in {place}"
    path = os.path.join(directory, archive)
    if os.path.isfile(path):
        return path, ""
    if any(os.path.exists(os.path.join(directory, n)) for n in pickled):
        return None, (f"holds the Python version of {release}, whose files are pickles, "
                      f"which adkit does not read; get the binary version, {archive}")
    return None, f"no {archive}, {folder}/ or {', '.join(names)}"
