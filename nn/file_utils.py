"""`keras.utils.get_file`: a file from a URL, cached where Keras caches it.

The cache layout is Keras 3's (``$KERAS_HOME`` or ``~/.keras``, then
``cache_subdir``; an archive asked to be extracted is kept as given and unpacked
into ``<name>_extracted``), so a file Keras already downloaded, or one put there
by hand on a machine without network, is used without a download. Downloads
time out instead of hanging, land under a temporary name and are renamed only
when complete (and, with a hash, verified); extraction refuses members that would
land outside the target directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Any

__all__ = ["get_file", "hash_file", "keras_home", "TIMEOUT"]

#: seconds to wait for a connection or for the next bytes of a download
TIMEOUT = 60


def keras_home() -> str:
    """$KERAS_HOME, else ~/.keras (Keras's config.keras_home)."""
    return os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))


def hash_file(fpath: str, algorithm: str = "sha256", chunk_size: int = 65535) -> str:
    """The hex digest of the file ("sha256" or "md5").

    >>> import tempfile; f = tempfile.NamedTemporaryFile(delete=False); _ = f.write(b"abc")
    >>> f.close(); hash_file(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(fpath, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _algorithm(hash_algorithm: str, file_hash: str) -> str:
    """Keras's resolve_hasher: sha256 when asked, or "auto" with a 64-digit hash; md5
    otherwise."""
    if hash_algorithm == "sha256" or (hash_algorithm == "auto" and len(file_hash) == 64):
        return "sha256"
    return "md5"


def _download(origin: str, target: str) -> None:
    """origin saved as target, via a temporary file in the same directory."""
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, \
                urllib.request.urlopen(origin, timeout=TIMEOUT) as response:
            shutil.copyfileobj(response, out, 1 << 16)
        os.replace(partial, target)
    except (urllib.error.URLError, OSError, ValueError) as e:
        if os.path.exists(partial):
            os.remove(partial)
        raise OSError(f"get_file: downloading {origin} failed ({type(e).__name__}: {e}). "
                      f"Without network, put the file at {target} (where a download would "
                      "go) and call again") from e


def _inside(base: str, name: str) -> bool:
    target = os.path.realpath(os.path.join(base, name))
    return os.path.commonpath([os.path.realpath(base), target]) == os.path.realpath(base)


def _extract(archive: str, directory: str, archive_format: Any) -> bool:
    """Unpack archive (tar, tar.gz/bz2/xz or zip) into directory; False if it is none
    of the formats allowed."""
    formats = ["tar", "zip"] if archive_format in ("auto", None) else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format)
    if "tar" in formats and tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            bad = [m.name for m in members if not _inside(directory, m.name)
                   or ((m.issym() or m.islnk()) and not _inside(
                       directory, os.path.join(os.path.dirname(m.name), m.linkname)))]
            if bad:
                raise ValueError(f"get_file: {archive} has members that would land outside "
                                 f"{directory}: {bad[:3]}; refusing to extract it")
            # Python's "data" filter (3.11.4+) also refuses device files and absolute links
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(directory, members=members, **safe)
        return True
    if "zip" in formats and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            bad = [n for n in zf.namelist() if not _inside(directory, n)]
            if bad:
                raise ValueError(f"get_file: {archive} has members that would land outside "
                                 f"{directory}: {bad[:3]}; refusing to extract it")
            zf.extractall(directory)
        return True
    return False


def get_file(fname: str | None = None, origin: str | None = None, untar: bool = False,
             md5_hash: str | None = None, file_hash: str | None = None,
             cache_subdir: str = "datasets", hash_algorithm: str = "auto",
             extract: bool = False, archive_format: Any = "auto",
             cache_dir: str | None = None, force_download: bool = False) -> str:
    """The local path of the file at URL `origin`, downloaded into
    `cache_dir/cache_subdir/fname` (default ~/.keras/datasets) unless already there,
    as Keras's keras.utils.get_file. With file_hash (sha256, or md5) a cached file
    that does not match is downloaded again and a download that does not match is
    refused. With extract=True (untar=True: tar only) the archive is unpacked and the
    extraction directory returned: `<fname up to its first dot>_extracted` when fname
    has a suffix, as Keras 3.

    >>> get_file("data.csv", origin="https://example.org/data.csv")  # doctest: +SKIP
    '/root/.keras/datasets/data.csv'
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    base = os.path.expanduser(cache_dir) if cache_dir is not None else keras_home()
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    directory = os.path.join(base, cache_subdir)
    os.makedirs(directory, exist_ok=True)
    given = fname
    fname = os.fspath(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. "
                         "Please specify the `fname` argument.")
    if given and os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify "
                         f"the file's parent directory, use the `cache_dir` argument. Received: "
                         f"fname={fname}")
    unpack = extract or untar
    if unpack and given and "." in fname:
        target = os.path.join(directory, fname)
        extraction_dir = os.path.join(directory, f"{fname[:fname.find('.')]}_extracted")
    elif unpack:
        target = os.path.join(directory, f"{fname}_archive")
        extraction_dir = os.path.join(directory, fname)
    else:
        target, extraction_dir = os.path.join(directory, fname), ""
    algorithm = _algorithm(hash_algorithm, file_hash) if file_hash else ""
    fetch = force_download or not os.path.exists(target) or (
        file_hash is not None and hash_file(target, algorithm) != file_hash)
    if fetch:
        print(f"Downloading data from {origin}")
        _download(origin, target)
        if file_hash is not None and hash_file(target, algorithm) != file_hash:
            os.remove(target)
            raise ValueError(f"Incomplete or corrupted file detected. The {algorithm} file hash "
                             f"does not match the provided value of {file_hash}.")
    if not unpack:
        return target
    if fetch or not os.path.isdir(extraction_dir):
        if not _extract(target, extraction_dir, "tar" if untar else archive_format):
            raise ValueError(f"get_file: {target} is not a {'tar' if untar else 'tar or zip'} "
                             "archive, so it cannot be extracted")
    return extraction_dir
