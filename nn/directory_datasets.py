"""Datasets of files in class subdirectories, as Keras's
`image_dataset_from_directory` and `text_dataset_from_directory`, returned as
adkit.nn `Dataset`s (nn/dataset.py) with Keras's `class_names` and `file_paths`.

The files are listed, labelled, shuffled (`np.random.RandomState(seed)`) and split
into training/validation exactly as Keras's index_directory and
get_training_or_validation_split do, so the same seed picks the same files for
each subset. Each epoch a shuffled dataset is shuffled again from a buffer of
batch_size * 8 files (as Keras's tf.data pipeline, with NumPy's generator).
Files are read when a batch is asked for; images are decoded by Pillow
(`pip install pillow`) and resized with TensorFlow's "bilinear"/"nearest" rules
(nn/image_utils.py).
"""

from __future__ import annotations

import os
import wave
from typing import Any, Callable

import numpy as np

from .dataset import Dataset
from .image_utils import (RESIZE_METHODS, require_pillow, resize_image, resize_with_pad,
                          smart_crop_box)
from .seeding import fresh_seed

__all__ = ["image_dataset_from_directory", "text_dataset_from_directory",
           "audio_dataset_from_directory", "index_directory", "read_wav", "IMAGE_FORMATS"]

#: the file suffixes image_dataset_from_directory lists (Keras's ALLOWLIST_FORMATS)
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                   "mitchellcubic")
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


def index_directory(directory: str, labels: Any, formats: tuple[str, ...],
                    class_names: list[str] | None = None, shuffle: bool = True,
                    seed: int | None = None, follow_links: bool = False,
                    verbose: bool = True) -> tuple[list[str], Any, list[str] | None]:
    """(file paths, integer labels, class names) of the files under directory whose
    names end in one of formats, as Keras's dataset_utils.index_directory: with
    labels="inferred" each subdirectory (sorted, or in class_names' order) is a class
    and its files (walked recursively, sorted) are labelled with its index; labels
    may instead be a list with one label per file, or None."""
    if not os.path.isdir(directory):
        raise ValueError(f"directory {directory!r} does not exist or is not a directory")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError("The `class_names` passed did not match the names of the "
                                 "subdirectories of the target directory. Expected: "
                                 f"{subdirs} (or a subset of it), but received: "
                                 f"class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError("When `labels=None` (no labels), argument `class_names` cannot be "
                             "specified." if labels is None else
                             "When argument `labels` is specified, argument `class_names` "
                             "cannot be specified (the `class_names` will be the sorted list "
                             "of labels).")
    filenames: list[str] = []
    found: list[int] = []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        name = os.path.basename(root_dir)
        for root, _, files in sorted(os.walk(root_dir, followlinks=follow_links),
                                     key=lambda entry: entry[0]):
            for fname in sorted(files):
                if fname.lower().endswith(formats):
                    filenames.append(os.path.join(
                        name, os.path.relpath(os.path.join(root, fname), root_dir)))
                    found.append(index)
    if labels == "inferred":
        labels = np.asarray(found, dtype="int32")
        names: list[str] | None = list(subdirs)
    elif labels is None:
        names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(f"Expected the lengths of `labels` to match the number of files in "
                             f"the target directory. len(labels) is {len(labels)} while we "
                             f"found {len(filenames)} files in directory {directory}.")
        names = [str(label) for label in sorted(set(labels))]
        labels = list(labels)   # shuffled below: not the caller's list
    if verbose:
        print(f"Found {len(filenames)} files." if labels is None else
              f"Found {len(filenames)} files belonging to {len(names)} classes.")
    paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = fresh_seed(20) % 1_000_000
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels, names


def _split(samples: list, labels: Any, validation_split: float | None,
           subset: str | None, verbose: bool) -> tuple[list, Any]:
    """Keras's get_training_or_validation_split: the last int(split * n) files are
    the validation subset, the rest the training subset."""
    if not validation_split:
        return samples, labels
    held = int(validation_split * len(samples))
    if subset == "training":
        if verbose:
            print(f"Using {len(samples) - held} files for training.")
        return samples[:-held], (None if labels is None else labels[:-held])
    if verbose:
        print(f"Using {held} files for validation.")
    return samples[-held:], (None if labels is None else labels[-held:])


def _check_split(validation_split: float | None, subset: str | None, shuffle: bool,
                 seed: int | None) -> None:
    """Keras's check_validation_split_arg."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide "
                         "a `seed` argument, to make sure that there is no overlap between the "
                         "training and validation subset.")


def _check_labels(labels: Any, label_mode: Any, class_names: Any) -> tuple[Any, Any]:
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of "
                             "the same size as the number of files in the target directory. "
                             "If you wish to infer the labels from the subdirectory names in "
                             'the target directory, pass `labels="inferred"`. If you wish to '
                             "get a dataset that only contains files (no labels), pass "
                             f"`labels=None`. Received: labels={labels}")
        if class_names:
            raise ValueError(f'You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode}')
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def _encode_labels(labels: np.ndarray, label_mode: str, num_classes: int) -> np.ndarray:
    """Keras's labels_to_dataset: int32 ids, float32 (n, 1) for binary, one-hot rows."""
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype(np.float32)[:, None]
    if label_mode == "categorical":
        return np.eye(num_classes, dtype=np.float32)[labels.astype(np.int64)]
    return labels.astype(np.int32)


def _files_dataset(paths: list[str], labels: Any, label_mode: Any, num_classes: int,
                   read: Callable[[str], np.ndarray], batch_size: int | None, shuffle: bool,
                   seed: int | None, stack: Callable[[list], np.ndarray]) -> Dataset:
    """The Dataset of (contents, label) batches (contents alone without labels)."""
    rows = np.arange(len(paths))
    encoded = None if label_mode is None else _encode_labels(labels, label_mode, num_classes)
    ds = Dataset.from_tensor_slices(rows)
    if shuffle:
        ds = ds.shuffle((batch_size or 128) * 8, seed=seed)
    if batch_size is not None:
        ds = ds.batch(batch_size)

    def load(index: Any) -> Any:
        if np.ndim(index) == 0:
            contents = read(paths[int(index)])
        else:
            contents = stack([read(paths[int(i)]) for i in index])
        return contents if encoded is None else (contents, encoded[index])
    out = ds.map(load)
    if batch_size is not None:
        out._batch_size = batch_size
    out.file_paths = list(paths)
    return out


def _subsets(directory: str, labels: Any, label_mode: Any, class_names: Any,
             formats: tuple[str, ...], batch_size: int | None, shuffle: bool, seed: int | None,
             validation_split: float | None, subset: str | None, follow_links: bool,
             verbose: bool, read: Callable[[str], Any], what: str,
             stack: Callable[[list], np.ndarray] = np.stack) -> Any:
    """The Dataset (or [training, validation] for subset="both") of the files."""
    _check_split(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = fresh_seed(20) % 1_000_000
    paths, labels, class_names = index_directory(
        directory, labels, formats, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    num_classes = len(class_names) if class_names else 0
    parts = ("training", "validation") if subset == "both" else (subset,)
    out = []
    for part in parts:
        part_paths, part_labels = _split(paths, labels, validation_split, part, verbose)
        if not part_paths:
            kind = f"{part} " if subset == "both" else ""
            raise ValueError(f"No {kind}{what} found in directory {directory}. Allowed "
                             f"formats: {formats}")
        ds = _files_dataset(part_paths, part_labels, label_mode, num_classes, read, batch_size,
                            shuffle and part != "validation" if subset == "both" else shuffle,
                            seed, stack)
        ds.class_names = class_names
        out.append(ds)
    return out if subset == "both" else out[0]


def image_dataset_from_directory(directory: str, labels: Any = "inferred",
                                 label_mode: str | None = "int",
                                 class_names: list[str] | None = None, color_mode: str = "rgb",
                                 batch_size: int | None = 32,
                                 image_size: tuple[int, int] | int = (256, 256),
                                 shuffle: bool = True, seed: int | None = None,
                                 validation_split: float | None = None,
                                 subset: str | None = None, interpolation: str = "bilinear",
                                 follow_links: bool = False, crop_to_aspect_ratio: bool = False,
                                 pad_to_aspect_ratio: bool = False,
                                 data_format: str | None = None, format: str = "tf",
                                 verbose: bool = True) -> Any:
    """A Dataset of (images, labels) batches from the image files (bmp, gif, jpeg,
    png) under directory, one subdirectory per class, as Keras's
    keras.utils.image_dataset_from_directory.

    Images are float32 arrays (batch, height, width, channels) with values 0..255,
    resized to image_size ("bilinear" or "nearest"; Keras's other TensorFlow methods
    are refused by name), after a centred crop to image_size's aspect ratio with
    crop_to_aspect_ratio, or scaled and padded with zeros with pad_to_aspect_ratio.
    Labels follow label_mode: "int" (int32 ids), "categorical" (float32 one-hot),
    "binary" (float32 (batch, 1), two classes) or None (images only). With
    validation_split and subset="training"/"validation" the dataset is that part;
    subset="both" returns [training, validation]. The result has `class_names` and
    `file_paths`. Needs Pillow (`pip install pillow`). An animated GIF gives its
    first frame; grayscale conversion is Pillow's (ITU-R 601-2 luma), which may
    differ from TensorFlow's decoder by one grey level.
    """
    Image = require_pillow("image_dataset_from_directory")
    labels, label_mode = _check_labels(labels, label_mode, class_names)
    if color_mode not in _CHANNELS:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"Invalid `image_size` value. Expected a tuple of 2 integers. "
                         f"Received: image_size={image_size}")
    image_size = (int(image_size[0]), int(image_size[1]))
    interpolation = interpolation.lower()
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation}")
    if interpolation not in RESIZE_METHODS:
        raise ValueError(f"interpolation={interpolation!r} is a TensorFlow resize method "
                         f"adkit.nn does not implement; use one of {RESIZE_METHODS}")
    if format != "tf":
        raise ValueError(f'`format` should be "tf" (adkit returns its own Dataset either way); '
                         f"got format={format!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set "
                         "to `True`.")
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    mode = {"rgb": "RGB", "rgba": "RGBA", "grayscale": "L"}[color_mode]

    def read(path: str) -> np.ndarray:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert(mode), dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if crop_to_aspect_ratio:
            rows, cols = smart_crop_box(pixels.shape[0], pixels.shape[1], image_size)
            pixels = resize_image(pixels[rows, cols], image_size, interpolation)
        elif pad_to_aspect_ratio:
            pixels = resize_with_pad(pixels, image_size, interpolation)
        else:
            pixels = resize_image(pixels, image_size, interpolation)
        return pixels.transpose(2, 0, 1) if data_format == "channels_first" else pixels

    return _subsets(directory, labels, label_mode, class_names, IMAGE_FORMATS, batch_size,
                    shuffle, seed, validation_split, subset, follow_links, verbose, read,
                    "images")


def text_dataset_from_directory(directory: str, labels: Any = "inferred",
                                label_mode: str | None = "int",
                                class_names: list[str] | None = None,
                                batch_size: int | None = 32, max_length: int | None = None,
                                shuffle: bool = True, seed: int | None = None,
                                validation_split: float | None = None,
                                subset: str | None = None, follow_links: bool = False,
                                format: str = "tf", verbose: bool = True) -> Any:
    """A Dataset of (texts, labels) batches from the .txt files under directory, one
    subdirectory per class, as Keras's keras.utils.text_dataset_from_directory.

    Texts are NumPy arrays of Python str (object dtype; Keras's "grain" format also
    gives str, its tf.data format bytes), each a whole file read as UTF-8, cut to
    its first max_length characters if given; adkit's TextVectorization reads them
    directly. Labels, subsets, class_names and file_paths as
    image_dataset_from_directory.
    """
    labels, label_mode = _check_labels(labels, label_mode, class_names)
    if format != "tf":
        raise ValueError(f'`format` should be "tf" (adkit returns its own Dataset either way); '
                         f"got format={format!r}")
    if max_length is not None and (isinstance(max_length, bool) or
                                   not isinstance(max_length, (int, np.integer))
                                   or max_length < 0):
        raise ValueError(f"max_length must be a non-negative integer or None, got {max_length!r}")

    def read(path: str) -> np.ndarray:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        out = np.empty((), dtype=object)
        out[()] = text if max_length is None else text[:max_length]
        return out

    return _subsets(directory, labels, label_mode, class_names, (".txt",), batch_size, shuffle,
                    seed, validation_split, subset, follow_links, verbose, read, "text files")


def read_wav(path: str, samples: int | None = None) -> np.ndarray:
    """A 16-bit PCM WAV file as float32 (samples, channels) in [-1, 1), cut or padded
    with zeros to `samples` if given, as tf.audio.decode_wav."""
    try:
        with wave.open(path, "rb") as f:
            width, channels, frames = f.getsampwidth(), f.getnchannels(), f.getnframes()
            raw = f.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a PCM WAV file ({e}); audio_dataset_from_directory "
                         "reads 16-bit PCM .wav files, as Keras (tf.audio.decode_wav)") from e
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; audio_dataset_from_directory reads "
                         "16-bit PCM .wav files, as Keras (tf.audio.decode_wav): convert it")
    audio = np.frombuffer(raw, "<i2").reshape(-1, channels).astype(np.float32) / 32768.0
    if samples is not None and samples >= 0:
        fitted = np.zeros((samples, channels), np.float32)
        fitted[:min(samples, len(audio))] = audio[:samples]
        audio = fitted
    return audio


def _pad_stack(items: list) -> np.ndarray:
    """Arrays of different lengths stacked, zero-padded at the end to the longest (as
    tf.data's padded_batch)."""
    longest = max(len(a) for a in items)
    out = np.zeros((len(items), longest) + items[0].shape[1:], items[0].dtype)
    for row, a in zip(out, items):
        row[:len(a)] = a
    return out


def audio_dataset_from_directory(directory: str, labels: Any = "inferred",
                                 label_mode: str | None = "int",
                                 class_names: list[str] | None = None,
                                 batch_size: int | None = 32, sampling_rate: int | None = None,
                                 output_sequence_length: int | None = None,
                                 ragged: bool = False, shuffle: bool = True,
                                 seed: int | None = None, validation_split: float | None = None,
                                 subset: str | None = None, follow_links: bool = False,
                                 verbose: bool = True) -> Any:
    """A Dataset of (audio, labels) batches from the .wav files under directory, one
    subdirectory per class, as Keras's keras.utils.audio_dataset_from_directory.

    Audio is float32 (batch, samples, channels) in [-1, 1) from 16-bit PCM files (what
    tf.audio.decode_wav reads), cut or zero-padded to output_sequence_length, else
    zero-padded to the longest clip of each batch (Keras's padded_batch). Labels,
    subsets, class_names and file_paths as image_dataset_from_directory. Not
    supported, each refused by name: sampling_rate (Keras resamples with
    tensorflow-io) and ragged=True.
    """
    labels, label_mode = _check_labels(labels, label_mode, class_names)
    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    if ragged:
        raise ValueError("ragged=True is not supported: adkit.nn has no ragged tensors; leave it "
                         "False (clips are zero-padded to the longest of each batch) or pass "
                         "output_sequence_length")
    if sampling_rate is not None:
        raise ValueError("sampling_rate is not supported: Keras resamples with tensorflow-io, "
                         "adkit.nn does not resample; resample the files beforehand and leave "
                         "sampling_rate=None")
    if output_sequence_length is not None and (
            isinstance(output_sequence_length, bool) or
            not isinstance(output_sequence_length, (int, np.integer)) or
            output_sequence_length < 1):
        raise ValueError(f"output_sequence_length must be a positive integer or None, got "
                         f"{output_sequence_length!r}")

    def read(path: str) -> np.ndarray:
        return read_wav(path, output_sequence_length)

    return _subsets(directory, labels, label_mode, class_names, (".wav",), batch_size, shuffle,
                    seed, validation_split, subset, follow_links, verbose, read, "audio files",
                    _pad_stack)
