"""keras.utils.get_file: Keras 3's cache layout (a file already in the cache is
used without a download), hash checks, extraction (tar and zip, members outside
the target refused), downloads from a local HTTP server, and a clear error
naming where to put the file when the download fails. With Keras 3 installed,
the paths equal those Keras's get_file returns for the same cache."""

import hashlib
import http.server
import io
import socket
import tarfile
import threading
import zipfile

import pytest

import adkit.nn as keras
from adkit.nn import file_utils
from keras_referee import real_keras  # noqa: F401  (Keras 3 fixture; skips without it)


def closed_port_url(name):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/{name}"


def tgz_bytes(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def server():
    files = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield files, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_cached_file_is_used_without_network(tmp_path):
    cache = tmp_path / "datasets"
    cache.mkdir()
    (cache / "data.csv").write_text("a,b\n1,2\n")
    path = keras.utils.get_file("data.csv", closed_port_url("data.csv"), cache_dir=tmp_path)
    assert path == str(cache / "data.csv")
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert keras.utils.get_file(origin=closed_port_url("data.csv"), cache_dir=tmp_path,
                                file_hash=digest) == path


def test_failed_download_names_where_to_put_the_file(tmp_path):
    with pytest.raises(OSError, match=r"downloading .* failed.*put the file at .*data.csv"):
        keras.utils.get_file("data.csv", closed_port_url("data.csv"), cache_dir=tmp_path)
    assert list((tmp_path / "datasets").iterdir()) == []   # no partial file left
    (tmp_path / "datasets" / "data.csv").write_text("stale")
    with pytest.raises(OSError, match="downloading"):   # the hash does not match: re-fetch
        keras.utils.get_file("data.csv", closed_port_url("data.csv"), cache_dir=tmp_path,
                             file_hash="0" * 64)


def test_download_then_cache_and_hash_refusal(tmp_path, server):
    files, url = server
    files["/x.bin"] = b"payload"
    good = hashlib.md5(b"payload").hexdigest()
    path = keras.utils.get_file("x.bin", f"{url}/x.bin", md5_hash=good, cache_dir=tmp_path)
    assert open(path, "rb").read() == b"payload"
    files["/x.bin"] = b"changed"   # the cached copy is used, the server not asked
    assert open(keras.utils.get_file("x.bin", f"{url}/x.bin", cache_dir=tmp_path),
                "rb").read() == b"payload"
    with pytest.raises(ValueError, match="file hash does not match"):
        keras.utils.get_file("x.bin", f"{url}/x.bin", file_hash=good, cache_dir=tmp_path,
                             force_download=True)


def test_extract_tar_and_zip(tmp_path, server):
    files, url = server
    files["/flowers.tgz"] = tgz_bytes({"flowers/roses/1.txt": b"rose"})
    where = keras.utils.get_file("flowers.tgz", f"{url}/flowers.tgz", extract=True,
                                 cache_dir=tmp_path)
    assert where == str(tmp_path / "datasets" / "flowers_extracted")
    assert (tmp_path / "datasets" / "flowers_extracted" / "flowers" / "roses" / "1.txt") \
        .read_bytes() == b"rose"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("inside/a.txt", "zip")
    files["/pack.zip"] = buffer.getvalue()
    where = keras.utils.get_file(origin=f"{url}/pack.zip", extract=True, cache_dir=tmp_path)
    assert where == str(tmp_path / "datasets" / "pack.zip")
    assert (tmp_path / "datasets" / "pack.zip" / "inside" / "a.txt").read_text() == "zip"


def test_members_outside_the_target_are_refused(tmp_path):
    cache = tmp_path / "datasets"
    cache.mkdir()
    (cache / "evil.tgz").write_bytes(tgz_bytes({"../escaped.txt": b"x"}))
    with pytest.raises(ValueError, match="outside"):
        keras.utils.get_file("evil.tgz", closed_port_url("evil.tgz"), extract=True,
                             cache_dir=tmp_path)
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        keras.utils.get_file("a/b.txt", "http://example.org/b.txt", cache_dir=tmp_path)


def test_paths_equal_keras(tmp_path, real_keras):  # noqa: F811
    cache = tmp_path / "datasets"
    cache.mkdir()
    (cache / "plain.csv").write_text("1")
    (cache / "arch.tar.gz").write_bytes(tgz_bytes({"a.txt": b"a"}))
    (cache / "noext_archive").write_bytes(tgz_bytes({"b.txt": b"b"}))
    for kwargs in ({"fname": "plain.csv", "origin": "http://x.invalid/plain.csv"},
                   {"fname": "arch.tar.gz", "origin": "http://x.invalid/arch.tar.gz",
                    "extract": True},
                   {"fname": "noext", "origin": "http://x.invalid/noext", "untar": True}):
        ours = keras.utils.get_file(cache_dir=str(tmp_path), **kwargs)
        theirs = real_keras.utils.get_file(cache_dir=str(tmp_path), **kwargs)
        assert ours == theirs
