"""Keras 3's Hashing: values into num_bins bins by FarmHash's Fingerprint64, the hash
TensorFlow's tf.strings.to_hash_bucket_fast uses (numbers hash as their decimal text).

`fingerprint64` follows farmhash.cc's farmhashna::Hash64 (Google's FarmHash, MIT
licence) written in Python integers modulo 2**64. Its short-string paths (up to 16
bytes) are checked against Keras's own test values; the longer paths follow the same
source but have no such values to check against.

>>> Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"]]))
array([[1],
       [0],
       [1]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Context, Layer, Shape
from .category_encoding import check_output_mode, encode_categorical, encoded_shape

_M = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _fetch64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _fetch32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _rotate(v: int, shift: int) -> int:
    return v if shift == 0 else ((v >> shift) | (v << (64 - shift))) & _M


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def _hash16(u: int, v: int, mul: int) -> int:
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _len0to16(s: bytes) -> int:
    n = len(s)
    if n >= 8:
        mul = (_K2 + n * 2) & _M
        a = (_fetch64(s, 0) + _K2) & _M
        b = _fetch64(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & _M
        d = ((_rotate(a, 25) + b) * mul) & _M
        return _hash16(c, d, mul)
    if n >= 4:
        mul = (_K2 + n * 2) & _M
        return _hash16((n + (_fetch32(s, 0) << 3)) & _M, _fetch32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _len17to32(s: bytes) -> int:
    n = len(s)
    mul = (_K2 + n * 2) & _M
    a = (_fetch64(s, 0) * _K1) & _M
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _M
    d = (_fetch64(s, n - 16) * _K2) & _M
    return _hash16((_rotate((a + b) & _M, 43) + _rotate(c, 30) + d) & _M,
                   (a + _rotate((b + _K2) & _M, 18) + c) & _M, mul)


def _len33to64(s: bytes) -> int:
    n = len(s)
    mul = (_K2 + n * 2) & _M
    a = (_fetch64(s, 0) * _K2) & _M
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _M
    d = (_fetch64(s, n - 16) * _K2) & _M
    y = (_rotate((a + b) & _M, 43) + _rotate(c, 30) + d) & _M
    z = _hash16(y, (a + _rotate((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_fetch64(s, 16) * mul) & _M
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, n - 32)) * mul) & _M
    h = ((z + _fetch64(s, n - 24)) * mul) & _M
    return _hash16((_rotate((e + f) & _M, 43) + _rotate(g, 30) + h) & _M,
                   (e + _rotate((f + a) & _M, 18) + g) & _M, mul)


def _weak32(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = (_fetch64(s, i + k) for k in (0, 8, 16, 24))
    a = (a + w) & _M
    b = _rotate((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rotate(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(s: bytes) -> int:
    """FarmHash's Fingerprint64 of `s` (farmhashna::Hash64): TensorFlow's string hash.

    >>> fingerprint64(b"") == 0x9AE16A3B2F90404F
    True
    """
    n = len(s)
    if n <= 16:
        return _len0to16(s)
    if n <= 32:
        return _len17to32(s)
    if n <= 64:
        return _len33to64(s)
    seed = 81
    x, y = seed, (seed * _K1 + 113) & _M
    z = (_shift_mix((y * _K2 + 113) & _M) * _K2) & _M
    v, w = (0, 0), (0, 0)
    x = (x * _K2 + _fetch64(s, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & _M, 37) * _K1) & _M
        y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & _M, 42) * _K1) & _M
        x ^= w[1]
        y = (y + v[0] + _fetch64(s, i + 40)) & _M
        z = (_rotate((z + w[0]) & _M, 33) * _K1) & _M
        v = _weak32(s, i, (v[1] * _K1) & _M, (x + w[0]) & _M)
        w = _weak32(s, i + 32, (z + w[1]) & _M, (y + _fetch64(s, i + 16)) & _M)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = (_K1 + ((z & 0xFF) << 1)) & _M
    i = last64
    w = ((w[0] + ((n - 1) & 63)) & _M, w[1])
    v = ((v[0] + w[0]) & _M, v[1])
    w = ((w[0] + v[0]) & _M, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & _M, 37) * mul) & _M
    y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & _M, 42) * mul) & _M
    x ^= (w[1] * 9) & _M
    y = (y + v[0] * 9 + _fetch64(s, i + 40)) & _M
    z = (_rotate((z + w[0]) & _M, 33) * mul) & _M
    v = _weak32(s, i, (v[1] * mul) & _M, (x + w[0]) & _M)
    w = _weak32(s, i + 32, (z + w[1]) & _M, (y + _fetch64(s, i + 16)) & _M)
    z, x = x, z
    return _hash16((_hash16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z) & _M,
                   (_hash16(v[1], w[1], mul) + x) & _M, mul)


class Hashing(Layer):
    """Hash strings or integers into num_bins bins (Keras 3's Hashing, FarmHash as
    TensorFlow's to_hash_bucket_fast: the same bins as Keras). With mask_value, that
    value goes to bin 0 and the others to bins 1..num_bins-1. Integers (and floats,
    truncated) hash as their decimal text, as in Keras. salt= (Keras's SipHash) is not
    supported.

    >>> Hashing(num_bins=3, mask_value="")(np.array(["", "omar"]))
    array([0, 1])
    """

    #: NumPy on concrete values: a model holding it trains with eager steps
    preprocesses_on_host = True

    def __init__(self, num_bins: int, mask_value: Any = None, salt: Any = None,
                 output_mode: str = "int", sparse: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "object")
        super().__init__(**kwargs)
        who = f"Hashing {self.name!r}"
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) \
                or num_bins < 1:
            raise ValueError(f"{who}: num_bins must be an int >= 1, got {num_bins!r}")
        if salt is not None:
            raise ValueError(f"{who}: salt= makes Keras hash with TensorFlow's keyed SipHash, "
                             "which adkit does not reproduce; leave salt=None (FarmHash)")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported; adkit.nn's arrays are "
                             "dense (leave sparse=False)")
        self.output_mode = check_output_mode(output_mode, ("int", "one_hot", "multi_hot",
                                                           "count"), who)
        self.num_bins, self.mask_value = int(num_bins), mask_value

    def _texts(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind in "US":
            return x.astype(object)
        if x.dtype.kind == "f":
            x = x.astype(np.int64)
        if x.dtype.kind in "iub":
            return x.astype(np.int64).astype(str).astype(object)
        if x.dtype.kind == "O":
            return x
        raise TypeError(f"Hashing {self.name!r}: inputs must be strings or numbers, got "
                        f"dtype {x.dtype}")

    def bins(self, x: Any) -> np.ndarray:
        """The bin (int64) of each value of `x`."""
        x = np.asarray(x)
        texts = self._texts(x)
        uniques, inverse = np.unique(texts.reshape(-1), return_inverse=True)
        masked = self.mask_value is not None and self.num_bins > 1
        buckets = self.num_bins - 1 if masked else self.num_bins
        out = []
        for t in uniques.tolist():
            raw = t if isinstance(t, bytes) else str(t).encode("utf-8")
            b = fingerprint64(raw) % buckets
            out.append(b + 1 if masked else b)
        indices = np.array(out, np.int64)[inverse].reshape(x.shape)
        if masked:
            indices[x == self.mask_value] = 0
        return indices

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    @property
    def output_dtypes(self) -> list:
        """int64 bins, or float32 encodings (Keras's defaults)."""
        return [np.dtype(np.int64 if self.output_mode == "int" else np.float32)]

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        indices = self.bins(x)
        if self.output_mode == "int":
            return indices
        return encode_categorical(indices, self.output_mode, self.num_bins, np.float32,
                                  who=f"Hashing {self.name!r}")

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_bins": self.num_bins, "salt": None,
                  "mask_value": self.mask_value, "output_mode": self.output_mode,
                  "sparse": False}
        if config.get("dtype") == "object":
            config.pop("dtype")
        return config
