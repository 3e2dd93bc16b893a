"""The IDX reader under crafted headers: memory follows the data, never the header's claim,
and every refusal is a ValueError naming the file. Memory is measured with tracemalloc."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from adkit.nn.datasets.idx import read_idx
from datasets_support import write as _write

MiB = 1 << 20


def _idx(shape, payload=b"", code=0x08):
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) \
        + payload


def _refused(path, match):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match) as info:
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    return peak


@pytest.mark.parametrize("gz", [False, True])
def test_a_header_claiming_gigabytes_over_a_few_bytes_allocates_nothing(tmp_path, gz):
    # 60000 x 65535 x 1000 uint8: 3.9 TB claimed, 10 bytes held
    path = _write(tmp_path / "bomb-idx3-ubyte", _idx((60000, 65535, 1000), bytes(10)), gz)
    peak = _refused(path, r"bomb-idx3-ubyte.*3932100000000 bytes of data, but the file holds "
                          r"10 \(truncated\)")
    assert peak < 2 * MiB   # at most one read chunk (1 MiB)


@pytest.mark.parametrize("gz", [False, True])
def test_a_claim_that_overflows_int64_is_a_clear_error_not_a_negative_count(tmp_path, gz):
    dims = (2**32 - 1,) * 4   # the product overflows int64 (np.prod gave a negative count)
    path = _write(tmp_path / "huge", _idx(dims, bytes(4), code=0x0E), gz)
    peak = _refused(path, r"huge.*shape \(4294967295, 4294967295, 4294967295, 4294967295\) "
                          r"of float64.*holds 4 \(truncated\)")
    assert peak < 2 * MiB


def test_a_gzip_stream_longer_than_its_claim_is_counted_not_stored(tmp_path):
    # 10 bytes claimed, 64 MiB of zeros behind them (about 64 KB compressed)
    path = _write(tmp_path / "long.gz", _idx((10,), bytes(64 * MiB + 10)), True)
    assert path.stat().st_size < MiB
    peak = _refused(path, r"long\.gz.*10 bytes of data, but the file holds 67108874 "
                          r"\(oversize\)")
    assert peak < 8 * MiB   # a few read chunks, not the 64 MiB


@pytest.mark.parametrize("gz", [False, True])
def test_a_genuine_file_costs_its_payload_and_little_more(tmp_path, gz):
    a = np.arange(8 * MiB, dtype=np.uint8).reshape(-1, 1024)
    path = _write(tmp_path / "ok", _idx(a.shape, a.tobytes()), gz)
    tracemalloc.start()
    try:
        got = read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, a)
    assert peak < 8 * MiB * 1.25 + 2 * MiB


def test_byte_flips_in_a_gzipped_file_give_value_errors_naming_it(tmp_path):
    a = np.random.default_rng(0).integers(0, 255, size=(20, 28, 28), dtype=np.uint8)
    data = gzip.compress(_idx(a.shape, a.tobytes()))
    path = tmp_path / "flipped-idx3-ubyte.gz"
    for offset in range(0, len(data), max(1, len(data) // 300)):
        flipped = bytearray(data)
        flipped[offset] ^= 0x5A
        path.write_bytes(bytes(flipped))
        try:
            read_idx(path)
        except ValueError as e:
            assert str(path) in str(e)
