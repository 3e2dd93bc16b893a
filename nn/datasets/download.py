"""Fetch one data file over HTTP(S) into adkit's cache, checked against its SHA-256.

The work is pooch's (``pooch.retrieve``): the file is streamed to a temporary
name inside the cache directory, its SHA-256 compared with the known one, and
only then renamed into place, so the cache never holds a partial or unverified
file. A cached file is re-hashed on every use; one that no longer matches is
fetched again. pooch is imported here, on the first download, so that
``import adkit.nn`` does not load it.

Environment variables:

- ``ADKIT_CACHE``: the cache directory (default: ``pooch.os_cache("adkit")``,
  e.g. ``~/.cache/adkit`` on Linux); each data set gets a subdirectory.
- ``ADKIT_DATA_URL``: a mirror; file ``F`` of data set ``D`` is then fetched
  from ``$ADKIT_DATA_URL/D/F`` instead of the data set's own server.
"""

from __future__ import annotations

import os
import sys
import urllib.parse

__all__ = ["fetch", "cache_dir", "source_url", "DownloadError", "CACHE_ENV", "URL_ENV"]

CACHE_ENV = "ADKIT_CACHE"
URL_ENV = "ADKIT_DATA_URL"
#: seconds to wait for a connection, and for the next bytes of a download
TIMEOUT = (20, 60)


class DownloadError(OSError):
    """A download failed (no connection, cut short, or a SHA-256 mismatch);
    nothing was written to the cache, and the next call tries again."""


def cache_dir() -> str:
    """The directory downloads are cached in: ``$ADKIT_CACHE``, else pooch's
    per-user cache for ``adkit``.

    >>> cache_dir()  # doctest: +SKIP
    '/root/.cache/adkit'
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return env
    return str(_pooch().os_cache("adkit"))


def source_url(dataset: str, filename: str, default_base: str) -> str:
    """Where ``filename`` of ``dataset`` is downloaded from: ``$ADKIT_DATA_URL/dataset/filename``
    when the variable is set, else ``default_base/filename``.

    >>> source_url("mnist", "t10k-labels-idx1-ubyte.gz", "https://example.org/mnist/")
    'https://example.org/mnist/t10k-labels-idx1-ubyte.gz'
    """
    mirror = os.environ.get(URL_ENV)
    if mirror:
        if urllib.parse.urlsplit(mirror).scheme not in ("http", "https"):
            raise ValueError(f"${URL_ENV} is {mirror!r}, which is not an http:// or https:// URL; "
                             "set it to a mirror's base URL, or unset it to use each data set's "
                             "own server (for files on disk, use $ADKIT_DATA instead)")
        return f"{mirror.rstrip('/')}/{dataset}/{filename}"
    return f"{default_base.rstrip('/')}/{filename}"


def fetch(dataset: str, filename: str, sha256: str, default_base: str) -> str:
    """The path of ``filename`` in the cache (``cache_dir()/dataset/filename``),
    downloaded first from ``source_url(...)`` when it is absent or does not match
    ``sha256``. Raises ``DownloadError`` saying what failed; a failed download
    leaves nothing in the cache.

    >>> fetch("mnist", "t10k-labels-idx1-ubyte.gz",  # doctest: +SKIP
    ...       "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ...       "https://storage.googleapis.com/cvdf-datasets/mnist/")
    '/root/.cache/adkit/mnist/t10k-labels-idx1-ubyte.gz'
    """
    url = source_url(dataset, filename, default_base)
    pooch = _pooch()
    import requests  # a dependency of pooch

    directory = os.path.join(cache_dir(), dataset)
    try:
        # pooch's default 1 KiB chunks, each written and flushed, cost more than the transfer;
        # the timeout (connect, between bytes) makes a silent network fail instead of hang
        downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), chunk_size=1 << 16,
                                          timeout=TIMEOUT)
        return pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=filename,
                              path=directory, downloader=downloader)
    except ValueError as e:  # pooch's hash mismatch; it has deleted the file
        raise DownloadError(
            f"{url}: the downloaded file's SHA-256 is not the known {sha256}, so it was "
            "refused and deleted (nothing was cached). The server, a proxy or the connection "
            f"delivered a damaged or different file; try again, or set ${URL_ENV} to a "
            f"trusted mirror. ({e})") from e
    except requests.RequestException as e:
        raise DownloadError(
            f"{url}: the download failed ({type(e).__name__}: {e}); nothing was cached, "
            f"and the next call tries again. Check the network, or set ${URL_ENV} to a "
            "mirror") from e
    except OSError as e:
        raise DownloadError(
            f"{url}: cannot write the cache directory {directory} ({e}); set ${CACHE_ENV} "
            "to a writable directory") from e


def _pooch():
    try:
        import pooch
    except ImportError as e:
        raise DownloadError("downloading a data set needs pooch, which is not installed: "
                            "pip install 'pooch>=1.8'") from e
    return pooch
