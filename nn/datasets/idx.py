"""Read IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic number -- two zero bytes, a dtype code, the number
of dimensions -- then one big-endian uint32 per dimension, then the values in
row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import os
import struct

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
    # Decide on the content, not the name: a file called .gz that is not gzipped
    # (or the reverse) still reads.
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a NumPy array in native byte order.

    The header is checked (magic number, dtype code) and the payload must hold
    exactly the product of the dimensions; otherwise ``ValueError`` names the
    file and the expected and actual sizes. The array owns a single buffer the
    size of the payload, and is writable.

    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a-idx1-ubyte")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p)
    array([7, 8, 9], dtype=uint8)
    """
    path = os.fspath(path)
    with _open(path) as f:
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
        dims_raw = f.read(4 * ndim)
        if len(dims_raw) < 4 * ndim:
            raise ValueError(
                f"{path}: truncated IDX header: {ndim} dimensions need "
                f"{4 * ndim} bytes after the magic number, found {len(dims_raw)}"
            )
        shape = struct.unpack(f">{ndim}I", dims_raw)
        dtype = DTYPES[code]
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

        # Read straight into the array's own buffer: the only copy is the
        # kernel's (or zlib's) into it.
        buf = bytearray(expected)
        view = memoryview(buf)
        got = 0
        try:
            while got < expected:
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
            extra = 0
            while chunk := f.read(_CHUNK):
                extra += len(chunk)
        except (OSError, EOFError) as e:  # a cut or corrupt gzip stream
            raise ValueError(
                f"{path}: the header promises {expected} bytes of data, but the "
                f"compressed stream breaks off ({e}); the file is damaged, "
                "download or install it again"
            ) from e
        if got != expected or extra:
            raise ValueError(
                f"{path}: the IDX header says shape {shape} of {dtype.name}, i.e. "
                f"{expected} bytes of data, but the file holds {got + extra} "
                f"({'truncated' if got < expected else 'oversize'}); the file is "
                "damaged, download or install it again"
            )

    arr = np.frombuffer(buf, dtype=dtype).reshape(shape)
    if not dtype.isnative:
        # Swap in place and relabel: no second buffer.
        arr = arr.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return arr
