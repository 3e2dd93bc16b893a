"""keras.datasets loaders added for Keras parity: imdb, reuters, boston_housing,
california_housing (Keras's .npz files) and cifar100 (the binary version).

The files are small synthetic ones in the real formats, written here; the
loaders' SHA-256 constants are swapped for the test files' hashes. Results are
checked against NumPy written here and, with Keras 3 installed, against Keras's
own load_data on the same file. Without the files (and no network) every loader
fails fast with a message naming the file and where to put it; a server that
never answers makes the download time out instead of hanging."""

import hashlib
import io
import os
import socket
import tarfile
import threading
import time

import numpy as np
import pytest

from adkit.nn.datasets import (boston_housing, california_housing, cifar100, download, imdb,
                               keras_npz, reuters)
from keras_referee import real_keras  # noqa: F401  (Keras 3 fixture; skips without it)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ragged(rng, n, vocab=40):
    out = np.empty(n, dtype=object)
    out[:] = [list(map(int, rng.integers(1, vocab, size=rng.integers(2, 12)))) for _ in range(n)]
    return out


@pytest.fixture
def imdb_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=ragged(rng, 30), y_train=rng.integers(0, 2, 30),
             x_test=ragged(rng, 20), y_test=rng.integers(0, 2, 20))
    monkeypatch.setattr(imdb, "SHA256", sha256(path))
    return path


@pytest.fixture
def reuters_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    path = tmp_path / "reuters.npz"
    np.savez(path, x=ragged(rng, 40), y=rng.integers(0, 46, 40))
    monkeypatch.setattr(reuters, "SHA256", sha256(path))
    return path


@pytest.fixture
def housing_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    files = {}
    for module, n, d in ((boston_housing, 50, 13), (california_housing, 700, 8)):
        path = tmp_path / f"{module.__name__.rsplit('.', 1)[1]}.npz"
        np.savez(path, x=rng.normal(size=(n, d)), y=rng.normal(size=n))
        monkeypatch.setattr(module, "SHA256", sha256(path))
        files[module] = path
    return files


def keras_loader(monkeypatch, name, path):
    """Keras's load_data for dataset `name`, reading `path` instead of downloading."""
    import importlib
    module = importlib.import_module(f"keras.src.datasets.{name}")
    monkeypatch.setattr(module, "get_file", lambda *a, **k: str(path))
    return module.load_data


def test_imdb_preprocessing_by_hand(imdb_file):
    raw = keras_npz.read_npz(imdb_file)
    (x_train, y_train), (x_test, y_test) = imdb.load_data(imdb_file, num_words=20)
    order = np.arange(30)
    rng = np.random.RandomState(113)
    rng.shuffle(order)
    expect = [[1] + [w + 3 if w + 3 < 20 else 2 for w in raw["x_train"][i]] for i in order]
    assert list(x_train) == expect and x_train.dtype == object and x_train.shape == (30,)
    np.testing.assert_array_equal(y_train, raw["y_train"][order])
    assert len(x_test) == 20 and all(max(x) < 20 for x in x_test)


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 15, "skip_top": 4},
                                    {"maxlen": 9, "oov_char": None},
                                    {"start_char": None, "index_from": 0, "seed": 3}])
def test_imdb_equals_keras(imdb_file, monkeypatch, real_keras, kwargs):  # noqa: F811
    theirs = keras_loader(monkeypatch, "imdb", imdb_file)(**kwargs)
    ours = imdb.load_data(imdb_file, **kwargs)
    for (a, b), (c, d) in zip(ours, theirs):
        assert [list(s) for s in a] == [list(s) for s in c]
        np.testing.assert_array_equal(b, d)


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 12, "test_split": 0.5},
                                    {"maxlen": 8, "skip_top": 2}])
def test_reuters_equals_keras(reuters_file, monkeypatch, real_keras, kwargs):  # noqa: F811
    theirs = keras_loader(monkeypatch, "reuters", reuters_file)(**kwargs)
    ours = reuters.load_data(reuters_file, **kwargs)
    for (a, b), (c, d) in zip(ours, theirs):
        assert [list(s) for s in a] == [list(s) for s in c]
        np.testing.assert_array_equal(b, d)
    assert len(reuters.get_label_names()) == 46
    assert reuters.get_label_names() == tuple(real_keras.datasets.reuters.get_label_names())


def test_reuters_split_by_hand(reuters_file):
    (x_train, y_train), (x_test, y_test) = reuters.load_data(reuters_file, test_split=0.25)
    assert len(x_train) == 30 and len(x_test) == 10
    raw = keras_npz.read_npz(reuters_file)
    order = np.arange(40)
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), raw["y"][order])


def test_housing_split_by_hand_and_equal_keras(housing_files, monkeypatch, request):
    raw = np.load(housing_files[boston_housing])
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data(
        housing_files[boston_housing], test_split=0.3, seed=5)
    order = np.arange(50)
    np.random.RandomState(5).shuffle(order)
    np.testing.assert_array_equal(x_train, raw["x"][order[:35]])
    np.testing.assert_array_equal(y_test, raw["y"][order[35:]])
    (x_small, _), (t_small, _) = california_housing.load_data(
        "small", housing_files[california_housing])
    assert len(x_small) + len(t_small) == 600
    with pytest.raises(ValueError, match="Invalid `test_split`"):
        boston_housing.load_data(test_split=1.0)
    with pytest.raises(ValueError, match="`version` must be one of"):
        california_housing.load_data("medium")
    try:
        request.getfixturevalue("real_keras")
    except pytest.skip.Exception:
        return
    for module, name, kwargs in ((boston_housing, "boston_housing", {"test_split": 0.3}),
                                 (california_housing, "california_housing",
                                  {"version": "small"})):
        theirs = keras_loader(monkeypatch, name, housing_files[module])(**kwargs)
        ours = module.load_data(path=housing_files[module], **kwargs)
        for a, b in zip(np.concatenate([np.ravel(v) for s in ours for v in s]),
                        np.concatenate([np.ravel(v) for s in theirs for v in s])):
            assert a == b


def test_a_file_with_the_wrong_hash_is_refused(tmp_path):
    path = tmp_path / "boston_housing.npz"
    np.savez(path, x=np.zeros((4, 13)), y=np.zeros(4))
    with pytest.raises(ValueError, match="SHA-256 .* is not the .* delete it and download"):
        boston_housing.load_data(path)


class Boom:
    def __reduce__(self):
        return (os.getcwd, ())


def test_object_arrays_rebuild_only_arrays(tmp_path):
    path = tmp_path / "bad.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = Boom()
    np.savez(path, x=evil)
    with pytest.raises(ValueError, match="refusing .*getcwd"):
        keras_npz.read_npz(path)


@pytest.mark.parametrize("load,filename", [
    (lambda p: imdb.load_data(p), "imdb.npz"), (lambda p: reuters.load_data(p), "reuters.npz"),
    (lambda p: boston_housing.load_data(p), "boston_housing.npz"),
    (lambda p: california_housing.load_data(path=p), "california_housing.npz"),
    (lambda p: cifar100.load_data(path=p), "cifar-100-binary.tar.gz"),
    (lambda p: imdb.get_word_index(p), "imdb_word_index.json")])
def test_missing_files_say_where_to_put_them(tmp_path, load, filename):
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match="not found. Searched") as info:
        load(tmp_path)
    assert filename in str(info.value) and str(tmp_path) in str(info.value)
    assert time.monotonic() - start < 5


def test_a_silent_server_times_out_instead_of_hanging(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    monkeypatch.setenv(download.URL_ENV, f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("ADKIT_DATA", raising=False)
    monkeypatch.setattr(keras_npz, "KERAS_CACHE", str(tmp_path / "no-keras"))
    monkeypatch.setattr(download, "TIMEOUT", (1, 1))
    start = time.monotonic()
    try:
        with pytest.raises(FileNotFoundError, match="download failed.*Timeout"):
            boston_housing.load_data()
    finally:
        listener.close()
    assert time.monotonic() - start < 20


def cifar100_records(n, seed):
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 20, n, dtype=np.uint8)
    fine = rng.integers(0, 100, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    raw = np.concatenate([coarse[:, None], fine[:, None], pixels], axis=1).tobytes()
    images = pixels.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return raw, images, coarse, fine


def test_cifar100_binary_archive_and_folder(tmp_path):
    train = cifar100_records(7, 0)
    test = cifar100_records(3, 1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, (raw, *_) in (("train.bin", train), ("test.bin", test)):
            info = tarfile.TarInfo(f"cifar-100-binary/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cifar-100-binary.tar.gz").write_bytes(buffer.getvalue())
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(path=tmp_path / "a")
    np.testing.assert_array_equal(x_train, train[1])
    np.testing.assert_array_equal(y_train, train[3][:, None])
    np.testing.assert_array_equal(x_test, test[1])
    assert x_train.dtype == np.uint8 and y_train.shape == (7, 1)
    folder = tmp_path / "b" / "cifar-100-binary"
    folder.mkdir(parents=True)
    (folder / "train.bin").write_bytes(train[0])
    (folder / "test.bin").write_bytes(test[0])
    (_, y_coarse), _ = cifar100.load_data("coarse", path=tmp_path / "b")
    np.testing.assert_array_equal(y_coarse[:, 0], train[2])
    (folder / "test.bin").write_bytes(test[0][:-5])
    with pytest.raises(ValueError, match="not a whole number of 3074-byte records"):
        cifar100.load_data(path=tmp_path / "b")
    with pytest.raises(ValueError, match="`label_mode` must be one of"):
        cifar100.load_data("medium")
