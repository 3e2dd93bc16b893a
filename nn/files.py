"""Atomic file writes: a crash mid-write never leaves a half-written file behind.

The data goes to a temporary file beside the destination, named
``.tmp-<8 random characters>-<destination's name>``; it is flushed and fsynced,
renamed over the destination, and the folder is fsynced so the rename itself
survives a power cut. A writer holds an exclusive lock (flock) on its temporary
for as long as it writes; the lock dies with the process, so the next write to
the same destination can tell a killed writer's leftover (unlocked: removed) from
another writer still at work (locked: left alone).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock, so leftovers are not cleaned there
    fcntl = None  # type: ignore[assignment]

PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tag(path: str) -> str:
    """The destination's part of its temporaries' names (a hash when the name is too
    long to fit beside the prefix within the usual 255-byte limit)."""
    name = os.path.basename(path)
    return name if len(name.encode()) <= 200 else hashlib.sha256(name.encode()).hexdigest()


def _leftover_pattern(path: str) -> re.Pattern:
    # mkstemp's random part is 8 characters of [a-z0-9_]; before the dash was added
    # temporaries had none, so those are recognised too.
    return re.compile(re.escape(PREFIX) + r"[a-z0-9_]{8}-?" + re.escape(_tag(path)) + r"\Z")


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Delete the temporaries that killed writers of `path` left beside it (those no
    live writer holds locked); returns their paths. Does nothing without flock.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp(); open(os.path.join(folder, ".tmp-abcdefgh-m.adkit"), "w").close()
    >>> [os.path.basename(p) for p in remove_leftovers(os.path.join(folder, "m.adkit"))]
    ['.tmp-abcdefgh-m.adkit']
    """
    path = os.fspath(path)
    if fcntl is None:
        return []
    folder = os.path.dirname(os.path.abspath(path))
    pattern = _leftover_pattern(path)
    removed = []
    for entry in os.scandir(folder):
        if not pattern.match(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            # read-write: where flock is emulated by fcntl locks (NFS), an exclusive
            # lock needs a descriptor open for writing
            fd = os.open(entry.path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue   # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)   # a live writer holds it
            continue
        try:
            os.unlink(entry.path)
            removed.append(entry.path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _locked_temporary(folder: str, path: str) -> tuple[int, str]:
    """A new temporary beside `path`, created and locked by this writer."""
    while True:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=PREFIX, suffix="-" + _tag(path))
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Another writer's cleanup may have taken it between mkstemp and flock.
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        os.close(fd)


def _fsync_folder(folder: str) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return   # Windows cannot open a folder; its rename is durable by itself
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside `path`, then rename it into place (with the
    permissions a plain open() would give); on any error, or if the process is
    killed, the old file stays. The file and its folder are fsynced, and temporaries
    left by killed writers of the same `path` are removed first.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_write(path) as f: _ = f.write("saved")
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('saved', ['notes.txt'])
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a folder; give the name of a "
                                "file to write, inside it or beside it")
    remove_leftovers(path)
    try:
        fd, tmp = _locked_temporary(folder, path)
    except PermissionError as e:   # else the message names our temporary, not the folder
        raise PermissionError(e.errno, f"cannot write {path!r}: no permission to create "
                              f"files in folder {folder!r}; choose a folder you can write "
                              "to") from None
    # A second descriptor keeps the lock (and a handle to fsync) even if the caller
    # closes the file object inside the block.
    keeper = os.dup(fd)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.fsync(keeper)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_folder(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        os.close(keeper)
