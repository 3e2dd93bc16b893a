"""adkit.nn.datasets from local files: the IDX reader on tiny hand-made files, the
Fashion-MNIST and MNIST search order and error messages on fake data sets, CIFAR-10's
binary batches and archive, and the real Fashion-MNIST when Debian's
dataset-fashion-mnist is installed. Downloads: test_nn_datasets_download.py."""

import gzip
import socket

import numpy as np
import pytest

from adkit.nn.datasets import cifar10, fashion_mnist, mnist
from adkit.nn.datasets.idx import read_idx
from datasets_support import (CIFAR_BATCHES, CODES, cifar_archive, cifar_batches,
                              expected_cifar, fake_dataset, idx_bytes, write)


@pytest.fixture(autouse=True)
def offline(tmp_path_factory, monkeypatch):
    """No test here reaches the network or the user's cache: a download, where the
    search order gets that far, goes to a closed local port and fails at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ADKIT_DATA_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("ADKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


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


def test_mistyped_env_var_is_refused_not_skipped(tmp_path, monkeypatch):
    fake_dataset(tmp_path / "debian")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "debian"))
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "typo"))
    for module in (fashion_mnist, mnist, cifar10):
        with pytest.raises(FileNotFoundError, match=r"ADKIT_DATA is .*typo.*not a directory"):
            module.load_data()


def test_mnist_from_a_directory(tmp_path, monkeypatch):
    want = fake_dataset(tmp_path / "mnist", n_train=6, gz=True)
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, want["train"][0])
    np.testing.assert_array_equal(y_test, want["t10k"][1])
    assert x_train.dtype == y_train.dtype == np.uint8 and x_test.shape == (5, 28, 28)


def test_without_download_the_message_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        mnist.load_data(download=False)
    msg = str(e.value)
    assert f"{tmp_path} ($ADKIT_DATA): no such files" in msg
    assert "download:" not in msg and "ADKIT_DATA_URL" in msg
    assert "storage.googleapis.com/cvdf-datasets/mnist" in msg


# ---- CIFAR-10's binary version -------------------------------------------------

def test_cifar10_record_layout(tmp_path):
    """One record written byte by byte from the CIFAR-10 page's description."""
    record = bytearray(3073)
    record[0] = 7
    record[1 + 0 * 1024 + 0] = 11          # red, row 0, column 0
    record[1 + 1 * 1024 + 1] = 22          # green, row 0, column 1
    record[1 + 2 * 1024 + 32 * 2 + 5] = 33  # blue, row 2, column 5
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    for name in CIFAR_BATCHES:
        (d / name).write_bytes(bytes(record))
    (x, y), (xt, yt) = cifar10.load_data(tmp_path)
    assert x.shape == (5, 32, 32, 3) and y.shape == (5, 1) and xt.shape == (1, 32, 32, 3)
    assert x[0, 0, 0, 0] == 11 and x[0, 0, 1, 1] == 22 and x[0, 2, 5, 2] == 33
    assert int(x[0].sum()) == 66 and (y == 7).all()
    assert cifar10.class_names[7] == "horse"


@pytest.mark.parametrize("layout", ["archive", "extracted", "flat"])
def test_cifar10_layouts(tmp_path, monkeypatch, layout):
    arrays, raw = cifar_batches(per_batch=3)
    home = tmp_path / "cifar-10"
    home.mkdir()
    if layout == "archive":
        (home / "cifar-10-binary.tar.gz").write_bytes(cifar_archive(raw))
    else:
        folder = home / "cifar-10-batches-bin" if layout == "extracted" else home
        folder.mkdir(exist_ok=True)
        for name, data in raw.items():
            (folder / name).write_bytes(data)
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path))
    (x, y), (xt, yt) = cifar10.load_data()
    (wx, wy), (wxt, wyt) = expected_cifar(arrays)
    for got, want in ((x, wx), (y, wy), (xt, wxt), (yt, wyt)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.uint8 and got.flags.c_contiguous and got.flags.writeable
    assert x.shape == (15, 32, 32, 3) and y.shape == (15, 1) and yt.shape == (3, 1)


def test_cifar10_damaged_files(tmp_path):
    _, raw = cifar_batches(per_batch=2)
    archive = cifar_archive(raw)
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "cifar-10-binary.tar.gz").write_bytes(archive[: len(archive) // 2])
    with pytest.raises(ValueError, match=r"cut/cifar-10-binary.tar.gz.*damaged"):
        cifar10.load_data(tmp_path / "cut")
    short = {**raw, "data_batch_3.bin": raw["data_batch_3.bin"][:-1]}
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "cifar-10-binary.tar.gz").write_bytes(cifar_archive(short))
    with pytest.raises(ValueError, match=r"data_batch_3.bin: 6145 bytes is not a whole "
                                         r"number of 3073-byte records"):
        cifar10.load_data(tmp_path / "short")
    del short["test_batch.bin"]
    (tmp_path / "short" / "cifar-10-binary.tar.gz").write_bytes(cifar_archive(short))
    with pytest.raises(ValueError, match=r"no cifar-10-batches-bin/test_batch.bin"):
        cifar10.load_data(tmp_path / "short")
    bad = {**raw, "test_batch.bin": bytes([10]) + raw["test_batch.bin"][1:]}
    (tmp_path / "bad").mkdir()
    for name, data in bad.items():
        (tmp_path / "bad" / name).write_bytes(data)
    with pytest.raises(ValueError, match=r"test_batch.bin: labels must lie in 0..9, found 10"):
        cifar10.load_data(tmp_path / "bad")


def test_cifar10_refuses_the_pickled_version(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not read")
    with pytest.raises(FileNotFoundError, match=r"Python version .* pickles.*"
                                                r"cifar-10-binary.tar.gz"):
        cifar10.load_data(tmp_path)
    (tmp_path / "cifar-10-batches-bin").mkdir()
    (tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"incomplete, missing data_batch_2.bin"):
        cifar10.load_data(tmp_path)


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
