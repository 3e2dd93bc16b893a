"""Model files under attack: crafted sizes, compression bombs, hostile configs and byte flips.

Every failure to load must be a ModelFileError naming the file; no crafted file may make
load_model allocate more than the file's own arrays. Memory is measured with tracemalloc,
which sees NumPy's buffers and zlib's output.
"""

import io
import json
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from adkit import nn
from adkit.nn import Sequential, load_model
from adkit.nn.layers import GRU, LSTM, BatchNormalization, Bidirectional, Conv2D, Dense, Embedding
from adkit.nn.layers import Flatten, MaxPooling2D, SimpleRNN

MiB = 1 << 20


def _npy(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def _good(tmp_path, name="good.adkit"):
    """A small compiled model with optimizer state, BatchNormalization state included."""
    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    model = Sequential([Dense(3, activation="relu", input_shape=(2,), name="d1"),
                        BatchNormalization(name="bn"), Dense(2, name="d2")], seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    path = tmp_path / name
    model.save(path)
    return path, model, x


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def _write(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _edited(tmp_path, edit_config=None, replace=None, compression=zipfile.ZIP_STORED):
    """The good file with its config edited and some members replaced."""
    good, _, _ = _good(tmp_path)
    members = _members(good)
    if edit_config is not None:
        config = json.loads(members["model.json"])
        edit_config(config)
        members["model.json"] = json.dumps(config).encode()
    members.update(replace or {})
    return _write(tmp_path / "bad.adkit", members, compression)


def _refused(path, match):
    """load_model refuses `path` with a ModelFileError naming it; returns (seconds, peak bytes)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(nn.ModelFileError, match=match) as info:
            load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    return time.perf_counter() - started, peak


def _layer(config, name):
    return next(l for l in config["model"]["layers"] if l["config"]["name"] == name)


# --- the three bombs of the issue ------------------------------------------------------

def test_a_config_claiming_a_huge_layer_is_refused_before_anything_is_allocated(tmp_path):
    def grow(config):   # d1 becomes 200,000 x 6,000 float32: 4.8 GB
        config["model"]["input_shape"] = [200_000]
        _layer(config, "d1")["config"].update(units=6000, input_shape=[200_000])
    seconds, peak = _refused(_edited(tmp_path, grow), r"params/d1/kernel has shape \(2, 3\), "
                                                       r"but the config builds \(200000, 6000\)")
    assert peak < 4 * MiB and seconds < 2


def test_a_config_claiming_a_huge_per_feature_layer_is_refused_before_its_probe(tmp_path):
    def grow(config):   # bn after d1 would hold four vectors of 2e8 float32: 3.2 GB
        _layer(config, "d1")["config"].update(units=200_000_000)
    seconds, peak = _refused(_edited(tmp_path, grow), "layer 'd1' outputs 200000000 features, "
                                                      "but the file stores only 9 values")
    assert peak < 4 * MiB and seconds < 2


def test_a_declared_shape_of_1e12_is_a_clear_refusal_not_a_memory_error(tmp_path):
    def claim(config):
        config["arrays"]["params/d1/kernel"] = {"shape": [10**6, 10**6], "dtype": "<f4"}
    # the member's .npy header claims the shape too; the member itself is tiny
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": (10**6, 10**6)})
    fake = buf.getvalue() + bytes(24)
    seconds, peak = _refused(_edited(tmp_path, claim, {"params/d1/kernel.npy": fake}),
                             r"params/d1/kernel declares shape \[1000000, 1000000\].*member "
                             r"holds 24")
    assert peak < 4 * MiB and seconds < 2


def test_a_deflated_member_larger_than_its_declared_array_is_refused_unread(tmp_path):
    # 64 MB of zeros deflate to about 64 KB; the config declares 24 bytes
    bomb = _npy(np.zeros((2, 3), np.float32)) + bytes(64 * MiB)
    path = _edited(tmp_path, replace={"params/d1/kernel.npy": bomb},
                   compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < MiB
    seconds, peak = _refused(path, r"params/d1/kernel declares shape \[2, 3\].*truncated, "
                                   "damaged or crafted")
    assert peak < 4 * MiB and seconds < 2


def _central_entry(data, member):
    """The offset of `member`'s entry in the central directory (its name's last occurrence)."""
    central = data.rindex(b"PK\x01\x02", 0, data.rindex(member.encode()))
    assert data[central + 46:central + 46 + len(member)] == member.encode()
    return central


def _patch_sizes(path, member, crc, size):
    """Rewrite a member's CRC and uncompressed size in its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 14, crc)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    central = _central_entry(data, member)
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, size)
    path.write_bytes(bytes(data))


def test_a_deflated_member_that_lies_about_its_size_is_read_no_further_than_declared(tmp_path):
    """The headers say 152 bytes (and carry their CRC); the stream goes on for 64 MB.
    Reading stops at the declared size, so the bomb never expands."""
    good, model, x = _good(tmp_path)
    members = _members(good)
    honest = members["params/d1/kernel.npy"]
    members["params/d1/kernel.npy"] = honest + bytes(64 * MiB)
    path = _write(tmp_path / "liar.adkit", members, zipfile.ZIP_DEFLATED)
    _patch_sizes(path, "params/d1/kernel.npy", zlib.crc32(honest), len(honest))
    tracemalloc.start()
    try:
        loaded = load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_deflated_member_claiming_more_than_deflate_can_expand_is_refused(tmp_path):
    path = _edited(tmp_path, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("params/d1/kernel.npy")
    _patch_sizes(path, "params/d1/kernel.npy", info.CRC, 2000 * info.compress_size)
    _refused(path, "more than deflate's 1032:1")


def test_overlapping_members_are_refused(tmp_path):
    path = _edited(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        first, second = z.getinfo("model.json"), z.getinfo("params/d1/kernel.npy")
    central = _central_entry(data, second.filename)
    struct.pack_into("<I", data, central + 42, first.header_offset)
    path.write_bytes(bytes(data))
    _refused(path, "overlaps")


def test_a_model_file_may_hold_nothing_but_stored_or_deflated_members(tmp_path):
    path = _edited(tmp_path, compression=zipfile.ZIP_BZIP2)
    _refused(path, "compression method 12")


# --- hostile configs ---------------------------------------------------------------------

def test_deeply_nested_json_is_refused(tmp_path):
    nested = b'{"format": "adkit.nn model", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = _edited(tmp_path, replace={"model.json": nested})
    _refused(path, "not valid JSON|nests")
    shallow_but_deep = {"format": "adkit.nn model", "x": json.loads("[" * 500 + "]" * 500)}
    path = _edited(tmp_path, replace={"model.json": json.dumps(shallow_but_deep).encode()})
    _refused(path, "nests lists and dicts more than 64 deep")


def test_an_oversized_config_is_refused_before_it_is_read(tmp_path):
    big = b'{"format": "adkit.nn model", "pad": "' + b" " * (17 * MiB) + b'"}'
    path = _edited(tmp_path, replace={"model.json": big}, compression=zipfile.ZIP_DEFLATED)
    _, peak = _refused(path, "more than the 16777216 a model config may have")
    assert peak < 4 * MiB


def test_non_float_weights_are_refused(tmp_path):
    kernel = np.arange(6, dtype=np.int32).reshape(2, 3)
    def declare(config):
        config["arrays"]["params/d1/kernel"]["dtype"] = kernel.dtype.str
    path = _edited(tmp_path, declare, {"params/d1/kernel.npy": _npy(kernel)})
    _refused(path, "params/d1/kernel has dtype int32, but its layer computes in float32")
    text = np.array(["abcdef"] * 6).reshape(2, 3)
    def declare_text(config):
        config["arrays"]["params/d1/kernel"]["dtype"] = text.dtype.str
    path = _edited(tmp_path, declare_text, {"params/d1/kernel.npy": _npy(text)})
    _refused(path, "has dtype <U6; model files hold float, int or uint arrays only")


@pytest.mark.parametrize("dtype", ["object", "int32", "complex64"])
def test_a_layer_dtype_that_is_not_float_is_refused(tmp_path, dtype):
    def edit(config):
        _layer(config, "d2")["config"]["dtype"] = dtype
    _refused(_edited(tmp_path, edit), f"layer 'd2' has dtype {dtype}; layers compute in float")


@pytest.mark.parametrize("edit, match", [
    (lambda c: _layer(c, "d1")["config"].update(units=-3), "model config is invalid"),
    (lambda c: _layer(c, "d1")["config"].update(units="many"), "model config is invalid"),
    (lambda c: _layer(c, "d1")["config"].update(bogus=1), "model config is invalid"),
    (lambda c: _layer(c, "d1")["config"].update(kernel_initializer="exec"),
     "model config is invalid"),
    (lambda c: c["model"].update(layers=[]), "no list of layers"),
    (lambda c: c["model"].update(input_shape=None), "no input_shape"),
    (lambda c: c["model"].update(input_shape=[-2]), "dimension <= 0"),
    (lambda c: c["model"].update(input_shape=[7]), r"input_shape \[7\] differs .* \[2\]"),
    (lambda c: c["model"].update(seed="x"), "seed 'x' is not an int"),
    (lambda c: c["model"].update(seed=-1), "seed -1 is not an int"),
    (lambda c: c["model"].update(name=["x"]), "name \\['x'\\] is not a string"),
    (lambda c: c.update(version=True), "version True"),
    (lambda c: c.update(compile=[1]), "compile settings are invalid"),
    (lambda c: c["compile"].update(optimizer={"class_name": "Adam", "config": {"nope": 1}}),
     "compile settings are invalid"),
    (lambda c: c["compile"].update(loss="os.system"), "compile settings are invalid"),
])
def test_hostile_config_values_are_model_file_errors(tmp_path, edit, match):
    _refused(_edited(tmp_path, edit), match)


def test_bad_optimizer_state_is_refused(tmp_path):
    def declare(shape, dtype="<f4"):
        return lambda c: c["arrays"].__setitem__("optimizer/momentum/0",
                                                 {"shape": list(shape), "dtype": dtype})
    wrong_shape = np.zeros((5, 5), np.float32)
    _refused(_edited(tmp_path, declare(wrong_shape.shape), {"optimizer/momentum/0.npy":
                                                           _npy(wrong_shape)}),
             r"optimizer state is invalid.*'momentum/0' has shape \(5, 5\)")
    negative = np.array(-4, np.int64)
    _refused(_edited(tmp_path, lambda c: c["arrays"].__setitem__(
                 "optimizer/iterations", {"shape": [], "dtype": "<i8"}),
                 {"optimizer/iterations.npy": _npy(negative)}),
             "optimizer state is invalid.*'iterations' must be an integer >= 0")


def test_an_array_the_config_does_not_use_is_refused(tmp_path):
    extra = np.zeros(3, np.float32)
    path = _edited(tmp_path, lambda c: c["arrays"].__setitem__(
        "params/ghost/kernel", {"shape": [3], "dtype": "<f4"}),
        {"params/ghost/kernel.npy": _npy(extra)})
    _refused(path, "arrays the config does not use")


def test_an_encrypted_member_is_refused(tmp_path):
    path = _edited(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("params/d1/kernel.npy")
    data[info.header_offset + 6] |= 1
    data[_central_entry(data, info.filename) + 8] |= 1
    path.write_bytes(bytes(data))
    _refused(path, "is encrypted")


# --- round trips (the checks must not refuse a real model) -----------------------------

@pytest.mark.parametrize("layers, shape", [
    ([Conv2D(2, (3, 3), input_shape=(6, 6, 1)), MaxPooling2D((2, 2)), Flatten(), Dense(2)],
     (6, 6, 1)),
    ([Embedding(7, 3, input_shape=(4,)), LSTM(2, peephole=True, unit_forget_bias=True)], (4,)),
    ([GRU(3, reset_after=True, return_sequences=True, input_shape=(4, 2)), SimpleRNN(2)], (4, 2)),
    ([Bidirectional(LSTM(2), input_shape=(4, 2)), BatchNormalization()], (4, 2)),
    ([Dense(3, dtype="float64", input_shape=(2,)), Dense(1, dtype="float64")], (2,)),
])
def test_every_layer_kind_loads_back_exactly(tmp_path, layers, shape):
    model = Sequential(layers, seed=1)
    model.compile(optimizer="rmsprop", loss="mse")
    x = np.random.default_rng(1).integers(0, 7, size=(5,) + shape).astype(np.float32)
    out = model.predict(x)
    model.fit(x, np.zeros_like(out), epochs=1, verbose=0)
    model.save(tmp_path / "m.adkit")
    loaded = load_model(tmp_path / "m.adkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype
    assert loaded.optimizer.variables().keys() == model.optimizer.variables().keys()


def test_loading_allocates_no_more_than_the_weights(tmp_path):
    """A 16 MiB model loads with a peak of 16 MiB plus read chunks of 1 MiB: nothing is
    initialised and then replaced, no second copy is read (the old reader peaked at 48 MiB)."""
    model = Sequential([Dense(2048, input_shape=(2048,))], seed=0)
    model.save(tmp_path / "big.adkit")
    tracemalloc.start()
    try:
        load_model(tmp_path / "big.adkit")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 16 * MiB <= peak < 20 * MiB


def test_the_limits_are_documented_with_their_numbers():
    doc = nn.load_model.__doc__
    for number in ("1032", "16 MiB", "64 deep", "10,000 bytes", "65,536"):
        assert number in doc
    from adkit.nn import model_file
    from adkit.nn import models
    assert (model_file.MAX_DEFLATE_RATIO, model_file.MAX_CONFIG_BYTES,
            model_file.MAX_CONFIG_DEPTH, model_file.MAX_NPY_HEADER_BYTES,
            models.MAX_UNBACKED_FEATURES) == \
        (1032, 16 * MiB, 64, 10_000, 65_536)


# --- byte flips ------------------------------------------------------------------------

def _flips(tmp_path, offsets, values):
    """Flip each byte at each offset (xor with each value); every load either succeeds or
    raises ModelFileError naming the file. Returns how many loaded."""
    good, _, _ = _good(tmp_path)
    data = good.read_bytes()
    bad = tmp_path / "flipped.adkit"
    loaded = 0
    for offset in offsets:
        for value in values:
            flipped = bytearray(data)
            flipped[offset] ^= value
            bad.write_bytes(bytes(flipped))
            try:
                load_model(bad)
                loaded += 1
            except nn.ModelFileError as e:
                assert str(bad) in str(e), (offset, value, e)
            except Exception as e:  # the finding: anything else escaped
                raise AssertionError(f"byte {offset} ^ {value:#x}: {type(e).__name__}: {e}") \
                    from e
    return loaded, len(data)


def test_byte_flips_at_a_sample_of_offsets_give_model_file_errors(tmp_path):
    good, _, _ = _good(tmp_path)
    size = good.stat().st_size
    rng = np.random.default_rng(0)
    # the zip structures (headers at both ends) and a random sample of the rest
    offsets = sorted(set(range(0, 64)) | set(range(size - 600, size))
                     | set(rng.integers(0, size, 150).tolist()))
    _flips(tmp_path, offsets, (0x01, 0xFF))


@pytest.mark.thorough
def test_byte_flips_at_every_offset_give_model_file_errors(tmp_path):
    good, _, _ = _good(tmp_path)
    _flips(tmp_path, range(good.stat().st_size), (0x01, 0x02, 0x10, 0x80, 0xFF))
