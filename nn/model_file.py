"""adkit's model files: one zip archive holding a JSON config and .npy arrays.

This module reads and writes the file and nothing else: it knows no model class.
`adkit.nn.models.load_model` builds the model from what `open_model_file` returns.

Nothing in the file is ever executed or unpickled: the config names layer
classes that must already exist in adkit.nn.layers, and arrays are read from
their .npy headers without pickle. Every size the file declares is checked
against what the archive physically holds before any array is allocated, and
every read is bounded by the declared size, so a small file cannot make the
reader allocate more than the file's own arrays (see `LIMITS`). The file is
written beside its destination and renamed into place (`atomic_write`), so a
crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .files import atomic_write
from .layers.base import nested

FORMAT = "adkit.nn model"
VERSION = 1
CONFIG_MEMBER = "model.json"

#: the largest model.json read, in bytes (a config of thousands of layers is well under 1 MB)
MAX_CONFIG_BYTES = 16 << 20
#: the deepest nesting of lists and dicts accepted in model.json (real configs reach about 8)
MAX_CONFIG_DEPTH = 64
#: the largest .npy header read, in bytes: NumPy's own limit for headers it parses safely
MAX_NPY_HEADER_BYTES = 10_000
#: deflate expands at most 1032:1 (RFC 1951's longest match per 2 bits), so a deflated
#: member that declares more than this times its compressed size is lying about its size
MAX_DEFLATE_RATIO = 1032
#: dtype kinds an array may have: float weights and optimizer slots; integer step
#: counters and random-generator state
ARRAY_KINDS = "fiu"

LIMITS = {"config bytes": MAX_CONFIG_BYTES, "config depth": MAX_CONFIG_DEPTH,
          "npy header bytes": MAX_NPY_HEADER_BYTES, "deflate ratio": MAX_DEFLATE_RATIO}

_CHUNK = 1 << 20

# What the zip module raises on a damaged archive: a flipped flag bit reads as an
# encrypted member (RuntimeError), a flipped method byte as an unknown compression
# (NotImplementedError), a damaged stream as zlib.error or EOFError.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
               NotImplementedError, ValueError, KeyError, IndexError, OverflowError,
               struct.error, UnicodeDecodeError, MemoryError)


class ModelFileError(ValueError):
    """A file that is not a readable adkit.nn model; the message names the file and why."""


def save_model(model: Any, path: str | os.PathLike, include_optimizer: bool = True) -> None:
    """Write `model` (anything with get_config, weight_slots, optimizer) to `path` in
    adkit's format (model.save picks nn/legacy_h5.py's layout for .h5 names instead).

    >>> import tempfile, os; from adkit.nn import Sequential; from adkit.nn.layers import Dense
    >>> path = os.path.join(tempfile.mkdtemp(), "m.adkit")
    >>> save_model(Sequential([Dense(2, input_shape=(3,))], seed=0), path); os.path.exists(path)
    True
    """
    check_savable(model)
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = dict(model.weight_slots())
    config: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": model.get_config()}
    if model.optimizer is not None:
        # a model with several outputs says how to compile each (compile_config)
        config["compile"] = model.compile_config() if hasattr(model, "compile_config") else \
            {"loss": getattr(model.loss, "__name__", None),
             "metrics": [m for m in model._metric_specs if isinstance(m, str)]}
        config["compile"]["optimizer"] = _optimizer_config(model.optimizer)
        if include_optimizer:
            for k, v in model.optimizer.variables().items():
                arrays[f"optimizer/{k}"] = np.asarray(v)
    config["arrays"] = {name: {"shape": list(a.shape), "dtype": a.dtype.str}
                        for name, a in arrays.items()}
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr(CONFIG_MEMBER, json.dumps(config, indent=1))
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.require(a, requirements="C"), allow_pickle=False)
            z.writestr(name + ".npy", buf.getvalue())


def check_savable(model: Any) -> None:
    """Refuse a model that is not built, or that holds a layer whose function is code
    (Lambda), which no model file holds."""
    model._require_built("save")
    unsaved = [inner for layer in model.layers for inner in nested(layer)
               if not getattr(inner, "saves_config", True)]
    if unsaved:
        raise ValueError(
            f"model {getattr(model, 'name', '')!r} holds the {type(unsaved[0]).__name__} "
            f"layer {unsaved[0].name!r}, whose function is code, which adkit's model files "
            "never hold: save the weights (model.save_weights(path)) and rebuild the model "
            "in code to load them")


def _optimizer_config(optimizer: Any) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


@dataclass(frozen=True)
class ArrayInfo:
    """One stored array as its .npy header declares it, checked against its zip member."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    member: zipfile.ZipInfo
    header_bytes: int

    @property
    def nbytes(self) -> int:
        """The size of the array's data, as its header declares it."""
        return _count(self.shape) * self.dtype.itemsize


class ModelFile:
    """An open model archive whose config and array headers have been checked; arrays
    are read (and allocated) only when asked for, by `read`."""

    def __init__(self, path: str, archive: zipfile.ZipFile, config: dict,
                 arrays: dict[str, ArrayInfo]) -> None:
        self.path = path
        self._archive = archive
        self.config = config
        self.arrays = arrays

    def error(self, reason: str) -> ModelFileError:
        """A ModelFileError naming this file."""
        return ModelFileError(f"{self.path!r}: {reason}")

    def read(self, name: str) -> np.ndarray:
        """The array `name`, read into a buffer of exactly its declared size; the member
        must end right there and pass its CRC check."""
        info = self.arrays[name]
        flat = np.empty(_count(info.shape), info.dtype)
        view = memoryview(flat.view(np.uint8).reshape(-1))
        with _zip_errors(self.path, f"array {name} is unreadable"):
            with self._archive.open(info.member) as f:
                f.read(info.header_bytes)
                got = 0
                while got < info.nbytes:
                    # ZipExtFile.readinto reads through a temporary bytes object of
                    # the whole request; small chunks keep that to 1 MiB
                    chunk = f.read(min(_CHUNK, info.nbytes - got))
                    if not chunk:
                        break
                    view[got:got + len(chunk)] = chunk
                    got += len(chunk)
                extra = len(f.read(1))   # reading to the end also checks the CRC
        if got != info.nbytes or extra:
            raise self.error(f"array {name} holds {'fewer' if got < info.nbytes else 'more'} "
                             f"bytes than its header declares ({info.nbytes}); the file is "
                             "damaged")
        shape = info.shape
        a = flat.reshape(shape[::-1]).T if info.fortran_order else flat.reshape(shape)
        return a if info.dtype.isnative else a.astype(info.dtype.newbyteorder("="))


@contextmanager
def open_model_file(path: str | os.PathLike) -> Iterator[ModelFile]:
    """Open a model file and check everything but the array data: the archive's members
    (compression, sizes, no overlaps), the config (size, nesting, format, version) and
    every array's .npy header against its member and the config's list. Raises
    ModelFileError naming the file and the reason; FileNotFoundError when there is none.

    >>> import tempfile, os; from adkit.nn import Sequential; from adkit.nn.layers import Dense
    >>> path = os.path.join(tempfile.mkdtemp(), "m.adkit")
    >>> Sequential([Dense(2, input_shape=(3,), name="d")], seed=0).save(path)
    >>> with open_model_file(path) as f: print(f.arrays["params/d/kernel"].shape)
    (3, 2)
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a folder, not a model file; give the file "
                                "model.save wrote (e.g. 'model.adkit')")
    with _zip_errors(path, "is not an adkit.nn model file (not a readable zip archive)",
                     hint="; save models with model.save(path)"):
        archive = zipfile.ZipFile(path)
    try:
        with _zip_errors(path, "the zip archive is damaged"):
            members = _checked_members(path, archive)
            config = _read_config(path, archive, members)
            arrays = {name: _array_info(path, archive, members, name, spec)
                      for name, spec in config["arrays"].items()}
        yield ModelFile(path, archive, config, arrays)
    finally:
        archive.close()


@contextmanager
def _zip_errors(path: str, what: str, hint: str = "") -> Iterator[None]:
    try:
        yield
    except ModelFileError:
        raise
    except _ZIP_ERRORS as e:
        raise ModelFileError(f"{path!r}: {what} ({type(e).__name__}: {e}){hint}") from None


def _checked_members(path: str, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The members by name, after checking that each is stored or deflated, that its
    declared size is one it can hold, and that no two share bytes (a zip bomb's trick)."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.filename in members:
            raise ModelFileError(f"{path!r}: member {info.filename!r} appears twice; the file "
                                 "was edited or damaged")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{path!r}: member {info.filename!r} is encrypted; adkit "
                                 "never writes encrypted files, so the file is damaged")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise ModelFileError(f"{path!r}: stored member {info.filename!r} declares "
                                     f"{info.file_size} bytes but holds {info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + MAX_DEFLATE_RATIO:
                raise ModelFileError(
                    f"{path!r}: deflated member {info.filename!r} declares {info.file_size} "
                    f"bytes from {info.compress_size} compressed, more than deflate's "
                    f"{MAX_DEFLATE_RATIO}:1 can expand; the file is damaged or crafted")
        else:
            raise ModelFileError(f"{path!r}: member {info.filename!r} uses zip compression "
                                 f"method {info.compress_type}; adkit reads stored or deflated "
                                 "members only")
        members[info.filename] = info
    # Each member's data must lie before the next member's local header (or the
    # central directory): overlapping members would let one compressed stream be
    # counted, and expanded, many times.
    ends = sorted(members.values(), key=lambda i: i.header_offset)
    limits = [i.header_offset for i in ends[1:]] + [archive.start_dir]
    for info, limit in zip(ends, limits):
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        name_bytes = len(info.orig_filename.encode(encoding, "replace"))
        if info.header_offset + 30 + name_bytes + info.compress_size > limit:
            raise ModelFileError(f"{path!r}: member {info.filename!r} overlaps the next one; "
                                 "the file is damaged or crafted")
    return members


def _read_config(path: str, archive: zipfile.ZipFile,
                 members: dict[str, zipfile.ZipInfo]) -> dict:
    info = members.get(CONFIG_MEMBER)
    if info is None:
        raise ModelFileError(f"{path!r} is a zip archive but not an adkit.nn model "
                             f"(no {CONFIG_MEMBER})")
    if info.file_size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path!r}: {CONFIG_MEMBER} declares {info.file_size} bytes, more "
                             f"than the {MAX_CONFIG_BYTES} a model config may have")
    with archive.open(info) as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path!r}: {CONFIG_MEMBER} is not valid JSON "
                             f"({type(e).__name__}: {e})") from None
    if _depth(config) > MAX_CONFIG_DEPTH:
        raise ModelFileError(f"{path!r}: {CONFIG_MEMBER} nests lists and dicts more than "
                             f"{MAX_CONFIG_DEPTH} deep, deeper than a model config may")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not an adkit.nn model file (format field "
                             f"{config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path!r}: the model file version {version!r} is not a "
                             "positive int")
    if version > VERSION:
        raise ModelFileError(f"{path!r} was written by a newer adkit (model file version "
                             f"{version!r}, this adkit reads up to {VERSION}); upgrade adkit")
    if not isinstance(config.get("arrays"), dict) or not isinstance(config.get("model"), dict):
        raise ModelFileError(f"{path!r}: the model config lacks its 'arrays' or 'model' section")
    return config


def _depth(value: Any) -> int:
    """How deeply lists and dicts nest in a JSON value (counting stops one past
    MAX_CONFIG_DEPTH), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d <= MAX_CONFIG_DEPTH:
                todo.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _array_info(path: str, archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                name: str, spec: Any) -> ArrayInfo:
    """Check one array's member and .npy header (read alone, bounded) against the config."""
    member = members.get(name + ".npy")
    if member is None:
        raise ModelFileError(f"{path!r} lists {name} but does not contain it "
                             "(the file is truncated or was edited)")
    with archive.open(member) as f:
        shape, fortran, dtype, header_bytes = _npy_header(path, name, f)
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ModelFileError(f"{path!r}: array {name} has dtype {dtype}; model files hold "
                             "float, int or uint arrays only")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ModelFileError(f"{path!r}: array {name} declares shape {shape}")
    if not isinstance(spec, dict) or spec.get("shape") != list(shape) \
            or spec.get("dtype") != dtype.str:
        raise ModelFileError(f"{path!r}: {name} is {dtype.str}{list(shape)}, but the "
                             f"config says {spec!r}")
    info = ArrayInfo(name, tuple(shape), dtype, fortran, member, header_bytes)
    if member.file_size != header_bytes + info.nbytes:
        raise ModelFileError(
            f"{path!r}: array {name} declares shape {list(shape)} of {dtype} ({info.nbytes} "
            f"bytes), but its member holds {member.file_size - header_bytes}; the file is "
            "truncated, damaged or crafted")
    return info


def _npy_header(path: str, name: str, f: Any) -> tuple[tuple, bool, np.dtype, int]:
    """(shape, fortran_order, dtype, header length) from a .npy stream, reading no more
    than MAX_NPY_HEADER_BYTES past the preamble."""
    def bad(reason: str) -> ModelFileError:
        return ModelFileError(f"{path!r}: array {name} is unreadable ({reason})")
    preamble = f.read(8)
    if len(preamble) < 8 or preamble[:6] != np.lib.format.MAGIC_PREFIX:
        raise bad("not a .npy array")
    version = (preamble[6], preamble[7])
    if version not in ((1, 0), (2, 0)):
        raise bad(f".npy format version {version[0]}.{version[1]}; adkit writes 1.0")
    width = 2 if version == (1, 0) else 4
    size_field = f.read(width)
    if len(size_field) < width:
        raise bad("its .npy header is cut off")
    length = int.from_bytes(size_field, "little")
    if length > MAX_NPY_HEADER_BYTES:
        raise bad(f"a .npy header of {length} bytes, more than {MAX_NPY_HEADER_BYTES}")
    header = f.read(length)
    if len(header) < length:
        raise bad("its .npy header is cut off")
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) \
        else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = reader(io.BytesIO(size_field + header))
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
        raise bad(f"{type(e).__name__}: {e}") from None
    return shape, fortran, dtype, 8 + len(size_field) + length


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
