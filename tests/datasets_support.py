"""Tiny synthetic data sets in the real formats, for the dataset tests: IDX files
(MNIST, Fashion-MNIST) and CIFAR-10 binary batches and archives."""

import gzip
import io
import struct
import tarfile

import numpy as np

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
         np.float32: 0x0D, np.float64: 0x0E}

IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CIFAR_BATCHES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def idx_bytes(a, code=None, magic_zero=b"\0\0", extra=b"", cut=0):
    """The IDX encoding of array ``a``, optionally damaged."""
    a = np.asarray(a)
    code = CODES[a.dtype.type] if code is None else code
    head = magic_zero + bytes([code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    body = a.astype(a.dtype.newbyteorder(">")).tobytes() + extra
    return head + (body[:-cut] if cut else body)


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def idx_set(n_train=12, n_test=5, labels_max=9, seed=0):
    """({split: (images, labels)}, {file name + ".gz": gzipped IDX bytes}) of a
    random MNIST-layout data set."""
    rng = np.random.default_rng(seed)
    arrays, files = {}, {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % (labels_max + 1)).astype(np.uint8)
        images, labels = IDX_NAMES[split]
        files[images + ".gz"] = gzip.compress(idx_bytes(x))
        files[labels + ".gz"] = gzip.compress(idx_bytes(y))
        arrays[split] = (x, y)
    return arrays, files


def fake_dataset(directory, n_train=12, n_test=5, gz=False, labels_max=9):
    """An MNIST-layout data set written to ``directory``; returns its arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays, files = idx_set(n_train, n_test, labels_max)
    for name, data in files.items():
        if gz:
            (directory / name).write_bytes(data)
        else:
            (directory / name[:-3]).write_bytes(gzip.decompress(data))
    return arrays


def cifar_batches(per_batch=3, seed=0):
    """({batch file: (images (n, 32, 32, 3), labels (n,))}, {batch file: bytes}),
    the bytes laid out as the CIFAR-10 page documents a record: the label byte,
    then the red, green and blue 32x32 planes, each row by row."""
    rng = np.random.default_rng(seed)
    arrays, raw = {}, {}
    for i, name in enumerate(CIFAR_BATCHES):
        x = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        y = ((np.arange(per_batch) + i) % 10).astype(np.uint8)
        records = b""
        for image, label in zip(x, y):
            planes = b"".join(image[:, :, c].tobytes() for c in range(3))
            records += bytes([label]) + planes
        arrays[name], raw[name] = (x, y), records
    return arrays, raw


def cifar_archive(raw, folder="cifar-10-batches-bin", extra=None):
    """A tar.gz of the batch files under ``folder/``, like cifar-10-binary.tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {**raw, **(extra or {})}.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def expected_cifar(arrays):
    """(x_train, y_train), (x_test, y_test) as load_data should return them."""
    train = CIFAR_BATCHES[:5]
    return ((np.concatenate([arrays[n][0] for n in train]),
             np.concatenate([arrays[n][1] for n in train])[:, None]),
            (arrays["test_batch.bin"][0], arrays["test_batch.bin"][1][:, None]))
