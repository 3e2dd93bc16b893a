"""Read IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic number -- two zero bytes, a dtype code, the number
of dimensions -- then one big-endian uint32 per dimension, then the values in
row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import IO

import numpy as np

__all__ = ["read_idx", "DTYPES"]

# The codes of the format; the values are the dtypes as stored (big-endian).
DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_CHUNK = 1 << 20


def _open(path: str):
    """(file, gzipped): decided on the content, not the name, so a file called .gz
    that is not gzipped (or the reverse) still reads."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return (gzip.open(path, "rb") if gzipped else open(path, "rb")), gzipped


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a NumPy array in native byte order.

    The header is checked (magic number, dtype code) and the payload must hold
    exactly the product of the dimensions; otherwise ``ValueError`` names the
    file and the expected and actual sizes. Memory follows the data, never the
    header's claim: a plain file's size is compared with the claim before
    anything is allocated, and a gzipped payload is read in 1 MiB chunks, so a
    header claiming gigabytes over a few bytes of data costs a few bytes. The
    array owns a single buffer (a gzipped payload's may have grown up to 1/8
    past it), and is writable.

    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a-idx1-ubyte")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p)
    array([7, 8, 9], dtype=uint8)
    """
    path = os.fspath(path)
    f, gzipped = _open(path)
    with f:
        shape, dtype = _read_header(path, f)
        expected = math.prod(shape) * dtype.itemsize
        if gzipped:
            buf, extra = _read_stream(path, f, expected)
            got = len(buf)
        else:
            # The file's size says how much data there is: check the claim first.
            available = os.fstat(f.fileno()).st_size - f.tell()
            if available != expected:
                raise _size_error(path, shape, dtype, expected, available)
            buf = bytearray(expected)
            got, extra = f.readinto(buf), 0
        if got != expected or extra:
            raise _size_error(path, shape, dtype, expected, got + extra)

    arr = np.frombuffer(buf, dtype=dtype).reshape(shape)
    if not dtype.isnative:
        # Swap in place and relabel: no second buffer.
        arr = arr.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return arr


def _read_header(path: str, f: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the magic number and the dimensions."""
    try:
        magic = f.read(4)
    except (OSError, EOFError) as e:  # a damaged gzip stream
        raise ValueError(f"{path}: cannot read the IDX header: {e}") from e
    if len(magic) < 4:
        raise ValueError(
            f"{path}: too short for an IDX file: {len(magic)} bytes, "
            "the header alone needs at least 4"
        )
    zero, code, ndim = struct.unpack(">HBB", magic)
    if zero != 0:
        raise ValueError(
            f"{path}: not an IDX file: the magic number {magic.hex()} should "
            "start with two zero bytes"
        )
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in DTYPES.items())
        raise ValueError(
            f"{path}: unknown IDX dtype code 0x{code:02X}; known codes: {known}"
        )
    try:
        dims_raw = f.read(4 * ndim)
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read the IDX header: {e}") from e
    if len(dims_raw) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need "
            f"{4 * ndim} bytes after the magic number, found {len(dims_raw)}"
        )
    return struct.unpack(f">{ndim}I", dims_raw), DTYPES[code]


def _read_stream(path: str, f: IO[bytes], expected: int) -> tuple[bytearray, int]:
    """(the first `expected` bytes or fewer, how many bytes follow them) from a gzip
    stream, grown chunk by chunk so the buffer never outruns the data."""
    buf = bytearray()
    extra = 0
    try:
        while len(buf) < expected:
            chunk = f.read(min(_CHUNK, expected - len(buf)))
            if not chunk:
                break
            buf += chunk
        while chunk := f.read(_CHUNK):
            extra += len(chunk)
    except (OSError, EOFError, zlib.error) as e:  # a cut or corrupt gzip stream
        raise ValueError(
            f"{path}: the header promises {expected} bytes of data, but the "
            f"compressed stream breaks off ({e}); the file is damaged, "
            "download or install it again"
        ) from e
    return buf, extra


def _size_error(path: str, shape: tuple, dtype: np.dtype, expected: int,
                holds: int) -> ValueError:
    return ValueError(
        f"{path}: the IDX header says shape {shape} of {dtype.name}, i.e. "
        f"{expected} bytes of data, but the file holds {holds} "
        f"({'truncated' if holds < expected else 'oversize'}); the file is "
        "damaged, download or install it again"
    )
