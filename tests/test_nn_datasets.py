"""adkit.nn.datasets: the IDX reader on tiny hand-made files, the Fashion-MNIST
search order and error messages on a fake data set, and the real data when
Debian's dataset-fashion-mnist is installed."""

import gzip
import struct

import numpy as np
import pytest

from adkit.nn.datasets import fashion_mnist
from adkit.nn.datasets.idx import read_idx

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
         np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(a, code=None, magic_zero=b"\0\0", extra=b"", cut=0):
    a = np.asarray(a)
    code = CODES[a.dtype.type] if code is None else code
    head = magic_zero + bytes([code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    body = a.astype(a.dtype.newbyteorder(">")).tobytes() + extra
    return head + (body[:-cut] if cut else body)


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ---- the IDX reader ---------------------------------------------------------

@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(a), gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable
    np.testing.assert_array_equal(got, a)


def test_idx_empty_and_scalar_dims(tmp_path):
    assert read_idx(write(tmp_path / "e", idx_bytes(np.zeros((0, 28), np.uint8)))).shape == (0, 28)
    assert read_idx(write(tmp_path / "s", idx_bytes(np.array(7, np.int32)))) == 7


def test_idx_wrong_magic(tmp_path):
    p = write(tmp_path / "bad", idx_bytes(np.zeros(3, np.uint8), magic_zero=b"\0\1"))
    with pytest.raises(ValueError, match=r"bad.*two zero bytes"):
        read_idx(p)


def test_idx_wrong_dtype_code(tmp_path):
    p = write(tmp_path / "bad", idx_bytes(np.zeros(3, np.uint8), code=0x0A))
    with pytest.raises(ValueError, match=r"bad.*dtype code 0x0A"):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_payload(tmp_path, gz):
    p = write(tmp_path / "cut", idx_bytes(np.zeros((2, 5), np.int16), cut=3), gz)
    with pytest.raises(ValueError, match=r"cut.*20 bytes.*holds 17.*truncated"):
        read_idx(p)


def test_idx_oversize_payload(tmp_path):
    p = write(tmp_path / "big", idx_bytes(np.zeros(4, np.uint8), extra=b"xy"))
    with pytest.raises(ValueError, match=r"big.*4 bytes.*holds 6.*oversize"):
        read_idx(p)


def test_idx_truncated_header_and_broken_gzip(tmp_path):
    with pytest.raises(ValueError, match="too short"):
        read_idx(write(tmp_path / "h", b"\0\0"))
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(write(tmp_path / "d", b"\0\0\x08\x02\0\0\0\1"))
    z = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    with pytest.raises(ValueError, match=r"z\.gz.*damaged"):
        read_idx(write(tmp_path / "z.gz", z[: len(z) // 2]))


# ---- load_data on a fake data set --------------------------------------------

def fake_dataset(directory, n_train=12, n_test=5, gz=False, labels_max=9):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % (labels_max + 1)).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write(directory / f"{split}-images-idx3-ubyte{suffix}", idx_bytes(x), gz)
        write(directory / f"{split}-labels-idx1-ubyte{suffix}", idx_bytes(y), gz)
        data[split] = (x, y)
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_load_data_explicit_path(tmp_path, gz):
    want = fake_dataset(tmp_path, gz=gz)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(tmp_path)
    np.testing.assert_array_equal(x_train, want["train"][0])
    np.testing.assert_array_equal(y_train, want["train"][1])
    np.testing.assert_array_equal(x_test, want["t10k"][0])
    np.testing.assert_array_equal(y_test, want["t10k"][1])
    assert x_train.shape == (12, 28, 28) and y_test.dtype == np.uint8


def test_load_data_env_var_and_subdirectory(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    fake_dataset(tmp_path / "fashion-mnist", n_train=7)
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path))
    assert fashion_mnist.load_data()[0][0].shape == (7, 28, 28)
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "fashion-mnist"))
    assert fashion_mnist.load_data()[0][0].shape == (7, 28, 28)


def test_explicit_path_wins_over_env_var(tmp_path, monkeypatch):
    fake_dataset(tmp_path / "a", n_train=3)
    fake_dataset(tmp_path / "b", n_train=4)
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "b"))
    assert len(fashion_mnist.load_data(tmp_path / "a")[0][0]) == 3
    with pytest.raises(FileNotFoundError):  # no fallback from a wrong explicit path
        fashion_mnist.load_data(tmp_path / "typo")


def test_missing_data_message(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as e:
        fashion_mnist.load_data()
    msg = str(e.value)
    assert "apt-get update && apt-get install -y dataset-fashion-mnist" in msg
    assert "ADKIT_DATA" in msg and str(tmp_path / "empty") in msg
    assert str(tmp_path / "no-debian") in msg


def test_incomplete_directory_names_missing_files(tmp_path):
    fake_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        fashion_mnist.load_data(tmp_path)


def test_mismatched_counts_and_bad_labels(tmp_path):
    fake_dataset(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(ValueError, match="12 images but .* 11 labels"):
        fashion_mnist.load_data(tmp_path)
    fake_dataset(tmp_path, labels_max=10)
    with pytest.raises(ValueError, match=r"0\.\.9, found 10"):
        fashion_mnist.load_data(tmp_path)


def test_wrong_image_shape(tmp_path):
    fake_dataset(tmp_path)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((5, 28, 27), np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-images.*\(n, 28, 28\)"):
        fashion_mnist.load_data(tmp_path)


def test_class_names():
    assert len(fashion_mnist.class_names) == 10
    assert fashion_mnist.class_names[0] == "T-shirt/top"
    assert fashion_mnist.class_names[9] == "Ankle boot"


# ---- the real data -------------------------------------------------------------

def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("ADKIT_DATA", raising=False)
    try:
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert (np.bincount(y_train, minlength=10) == 6000).all()
    assert (np.bincount(y_test, minlength=10) == 1000).all()
    assert fashion_mnist.class_names[y_train[0]] == "Ankle boot"
