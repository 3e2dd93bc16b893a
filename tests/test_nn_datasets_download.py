"""adkit.nn.datasets downloads, against a local HTTP server on 127.0.0.1 serving tiny
synthetic files whose SHA-256 the test computes and puts in place of the real ones:
a good download then served from the cache without a request, a corrupted download
and an interrupted one (refused, nothing cached, the next call retries), a tampered
cache entry, the search order path > $ADKIT_DATA > Debian > download, the
message when every source fails, and that the real Fashion-MNIST hashes are those
of the files Debian ships."""

import hashlib
import http.server
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from adkit.nn.datasets import cifar10, fashion_mnist, mnist
from datasets_support import cifar_archive, cifar_batches, expected_cifar, fake_dataset, idx_set

SUBDIR = {fashion_mnist: "fashion-mnist", mnist: "mnist", cifar10: "cifar-10"}


class Server:
    """Serves ``files`` (URL path -> bytes); a path in ``corrupt`` gets one byte
    changed, a path in ``cut`` is announced in full and closed half-way."""

    def __init__(self):
        self.files, self.corrupt, self.cut, self.requests = {}, set(), set(), []
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                state.requests.append(self.path)
                body = state.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if self.path in state.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in state.cut else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A server as the mirror in $ADKIT_DATA_URL, an empty cache in $ADKIT_CACHE, no
    $ADKIT_DATA and no Debian copy."""
    s = Server()
    monkeypatch.setenv("ADKIT_DATA_URL", s.url)
    monkeypatch.setenv("ADKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("ADKIT_DATA", raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    yield s
    s.close()


def serve_idx_set(server, monkeypatch, module, n_train=12):
    """Put a synthetic data set on the server and its hashes in ``module.SHA256``."""
    arrays, files = idx_set(n_train=n_train)
    for name, data in files.items():
        server.files[f"/{SUBDIR[module]}/{name}"] = data
    monkeypatch.setattr(module, "SHA256",
                        {name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    return arrays


def cached_files(tmp_path):
    root = tmp_path / "cache"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("module", [fashion_mnist, mnist], ids=["fashion_mnist", "mnist"])
def test_download_then_cached(server, monkeypatch, tmp_path, module):
    want = serve_idx_set(server, monkeypatch, module)
    (x_train, y_train), (x_test, y_test) = module.load_data()
    np.testing.assert_array_equal(x_train, want["train"][0])
    np.testing.assert_array_equal(y_train, want["train"][1])
    np.testing.assert_array_equal(x_test, want["t10k"][0])
    np.testing.assert_array_equal(y_test, want["t10k"][1])
    sub = SUBDIR[module]
    assert sorted(server.requests) == sorted(f"/{sub}/{n}" for n in module.SHA256)
    assert cached_files(tmp_path) == sorted(f"{sub}/{n}" for n in module.SHA256)

    server.requests.clear()
    (x_again, _), _ = module.load_data()
    assert server.requests == []  # served from the cache
    np.testing.assert_array_equal(x_again, want["train"][0])


def test_cifar10_download_then_cached(server, monkeypatch, tmp_path):
    arrays, raw = cifar_batches(per_batch=2)
    archive = cifar_archive(raw)
    server.files["/cifar-10/cifar-10-binary.tar.gz"] = archive
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(archive).hexdigest())
    got = cifar10.load_data()
    for g, w in zip(got[0] + got[1], expected_cifar(arrays)[0] + expected_cifar(arrays)[1]):
        np.testing.assert_array_equal(g, w)
    assert got[0][0].shape == (10, 32, 32, 3) and got[0][1].shape == (10, 1)
    assert got[1][0].dtype == got[1][1].dtype == np.uint8
    assert cached_files(tmp_path) == ["cifar-10/cifar-10-binary.tar.gz"]
    server.requests.clear()
    cifar10.load_data()
    assert server.requests == []


def test_corrupted_download_is_refused_and_not_cached(server, monkeypatch, tmp_path):
    want = serve_idx_set(server, monkeypatch, mnist)
    server.corrupt.add("/mnist/train-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError) as e:
        mnist.load_data()
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz: the downloaded file's SHA-256 is not the known" in msg
    assert mnist.SHA256["train-images-idx3-ubyte.gz"] in msg
    assert "refused and deleted (nothing was cached)" in msg
    assert cached_files(tmp_path) == []  # no partial or temporary file either

    server.corrupt.clear()  # the next call tries again
    np.testing.assert_array_equal(mnist.load_data()[0][0], want["train"][0])


def test_interrupted_download_leaves_nothing_and_is_retried(server, monkeypatch, tmp_path):
    want = serve_idx_set(server, monkeypatch, fashion_mnist)
    server.cut.add("/fashion-mnist/train-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError) as e:
        fashion_mnist.load_data()
    msg = str(e.value)
    # urllib3 2 reports the short read itself; with urllib3 1.x the hash check catches it
    detected_by_urllib3 = ("train-images-idx3-ubyte.gz: the download failed" in msg
                           and "IncompleteRead" in msg
                           and "nothing was cached, and the next call tries again" in msg)
    detected_by_hash = "SHA-256 is not the known" in msg and "nothing was cached" in msg
    assert detected_by_urllib3 or detected_by_hash, msg
    assert cached_files(tmp_path) == []

    server.cut.clear()
    np.testing.assert_array_equal(fashion_mnist.load_data()[0][0], want["train"][0])
    assert len(cached_files(tmp_path)) == 4


def test_tampered_cache_entry_is_fetched_again(server, monkeypatch, tmp_path):
    want = serve_idx_set(server, monkeypatch, mnist)
    mnist.load_data()
    planted = tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    planted.write_bytes(b"planted")
    server.requests.clear()
    np.testing.assert_array_equal(mnist.load_data()[1][1], want["t10k"][1])
    assert server.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]


def test_search_order_path_env_debian_download(server, monkeypatch, tmp_path):
    serve_idx_set(server, monkeypatch, fashion_mnist, n_train=6)
    for name, n in (("path", 2), ("env", 3), ("debian", 4)):
        fake_dataset(tmp_path / name, n_train=n)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "debian"))
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "env"))

    def n_train(**kw):
        return len(fashion_mnist.load_data(**kw)[0][0])

    assert n_train(path=tmp_path / "path") == 2
    assert n_train() == 3
    monkeypatch.delenv("ADKIT_DATA")
    assert n_train() == 4
    assert server.requests == []
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no-debian"))
    assert n_train() == 6
    assert len(server.requests) == 4

    # a path that does not hold the data is an error, never a download
    server.requests.clear()
    with pytest.raises(FileNotFoundError, match=r"typo \(path argument\): no such directory\n"
                                                r"  \(no download: a path argument is the only"):
        fashion_mnist.load_data(tmp_path / "typo")
    assert server.requests == []


def test_message_when_every_source_fails(server, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("ADKIT_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as e:  # the server has no files: 404
        fashion_mnist.load_data()
    msg = str(e.value)
    assert msg.startswith("Fashion-MNIST not found. Searched:\n")
    assert f"{tmp_path / 'empty'} ($ADKIT_DATA): no such files" in msg
    assert (f"{tmp_path / 'no-debian'} (Debian package dataset-fashion-mnist): "
            "no such directory") in msg
    assert f"download: {server.url}fashion-mnist/train-images-idx3-ubyte.gz" in msg
    assert "404" in msg
    assert "apt-get update && apt-get install -y dataset-fashion-mnist" in msg
    assert "ADKIT_DATA_URL" in msg
    assert cached_files(tmp_path) == []


def test_mirror_url_must_be_http(server, monkeypatch):
    monkeypatch.setenv("ADKIT_DATA_URL", "/srv/mirror")
    with pytest.raises(ValueError, match=r"ADKIT_DATA_URL is '/srv/mirror'.*http"):
        mnist.load_data()


def test_default_sources_are_the_published_files():
    """The URLs and hashes a user without a mirror gets (Keras's and TensorFlow
    Datasets' lists; see the modules)."""
    assert fashion_mnist.BASE_URL == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    assert fashion_mnist.SHA256["train-images-idx3-ubyte.gz"].startswith("3aede38d6186")
    assert mnist.SHA256["t10k-labels-idx1-ubyte.gz"].startswith("f7ae60f92e00")
    assert (cifar10.BASE_URL + cifar10.ARCHIVE
            == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")
    for h in [*fashion_mnist.SHA256.values(), *mnist.SHA256.values(), cifar10.SHA256]:
        assert len(h) == 64 and int(h, 16) >= 0


def test_importing_adkit_nn_does_not_load_pooch():
    code = "import sys, adkit.nn; print('pooch' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_without_pooch_the_message_says_how_to_install(server, monkeypatch):
    serve_idx_set(server, monkeypatch, mnist)
    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch raises ImportError
    with pytest.raises(FileNotFoundError, match=r"needs pooch.*pip install 'pooch>=1.8'"):
        mnist.load_data()
    assert server.requests == []


def test_unwritable_cache_says_which_variable_to_set(server, monkeypatch, tmp_path):
    serve_idx_set(server, monkeypatch, mnist)
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("ADKIT_CACHE", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(FileNotFoundError, match=r"cannot write the cache directory .*a-file"
                                                r".*set \$ADKIT_CACHE to a writable directory"):
        mnist.load_data()


# Zalando's gzip headers: the file name and these time stamps (2017-08-31), which Debian's
# packaging dropped. The MD5s of Zalando's README (shipped in Debian's package) found them.
ZALANDO_MTIME = {"train": 1504176606, "t10k": 1504176627}
DEBIAN_DIR = fashion_mnist.DEBIAN_DIR   # the fixture points the module elsewhere


def zalando_file(name):
    """Zalando's original ``name`` (.gz) rebuilt from Debian's copy, or a skip."""
    debian = os.path.join(DEBIAN_DIR, name)
    if not os.path.isfile(debian):
        pytest.skip(f"Fashion-MNIST is not installed: {fashion_mnist.INSTALL_COMMAND}")
    data = open(debian, "rb").read()
    if data[3] != 0:  # a file name or other optional field: not the layout this test knows
        pytest.skip(f"{debian} has gzip header flags {data[3]:#x}, not Debian 2020's 0")
    header = (b"\x1f\x8b\x08\x08" + ZALANDO_MTIME[name[:name.index("-")]].to_bytes(4, "little")
              + bytes([0, 3]) + name.removesuffix(".gz").encode() + b"\0")
    return header + data[10:]


@pytest.mark.parametrize("name", list(fashion_mnist.SHA256))
def test_fashion_mnist_hashes_are_those_of_debians_data(name):
    """Debian's file with Zalando's gzip header put back hashes to adkit's SHA256 entry:
    the download adkit accepts is byte for byte the data Debian ships."""
    assert hashlib.sha256(zalando_file(name)).hexdigest() == fashion_mnist.SHA256[name]


def test_real_fashion_mnist_through_the_download_path(server, tmp_path):
    """The real files, served locally, pass adkit's real hashes and load as Debian's do."""
    for name in fashion_mnist.SHA256:
        server.files[f"/fashion-mnist/{name}"] = zalando_file(name)
    (x, y), (xt, yt) = fashion_mnist.load_data()
    assert len(server.requests) == 4 and len(cached_files(tmp_path)) == 4
    (dx, dy), (dxt, dyt) = fashion_mnist.load_data(DEBIAN_DIR)
    for got, want in ((x, dx), (y, dy), (xt, dxt), (yt, dyt)):
        np.testing.assert_array_equal(got, want)
    assert x.shape == (60000, 28, 28) and fashion_mnist.class_names[y[0]] == "Ankle boot"
