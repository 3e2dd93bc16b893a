"""Keras's array-to-dataset utilities: `timeseries_dataset_from_array` and
`split_dataset`, returning adkit.nn `Dataset`s (nn/dataset.py) where Keras returns
`tf.data.Dataset`s.

>>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
...                                    sequence_stride=3, batch_size=2)
>>> [b.tolist() for b in ds]
[[[0, 1, 2], [3, 4, 5]], [[6, 7, 8]]]
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from .dataset import Dataset, map_structure
from .seeding import fresh_seed

__all__ = ["timeseries_dataset_from_array", "split_dataset"]


def _check_index(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ValueError(f"timeseries_dataset_from_array: `{name}` must be an integer, got "
                         f"{value!r}")


def _check_windows(data: Any, sequence_length: int, sequence_stride: int, sampling_rate: int,
                   start_index: int | None, end_index: int | None) -> None:
    """Keras's argument checks, in its order and with its messages."""
    n = len(data)
    for name, value in (("sequence_length", sequence_length),
                        ("sequence_stride", sequence_stride), ("sampling_rate", sampling_rate),
                        ("start_index", start_index), ("end_index", end_index)):
        _check_index(name, value)
    if sequence_length is None or sequence_length < 1:
        raise ValueError(f"`sequence_length` must be a positive integer. Received: "
                         f"sequence_length={sequence_length}")
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= n:
            raise ValueError(f"`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index}")
        if end_index >= n:
            raise ValueError(f"`end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= n:
            raise ValueError(f"`{name}` must be lower than the length of the data. Received: "
                             f"{name}={value}, for data of length {n}")


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int,
                                  sequence_stride: int = 1, sampling_rate: int = 1,
                                  batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None) -> Dataset:
    """Batches of sliding windows over `data`, as Keras's
    keras.utils.timeseries_dataset_from_array.

    Window i holds the rows `data[s + j * sampling_rate]`, j < sequence_length, where
    s = start_index + position i, positions being 0, sequence_stride, 2 *
    sequence_stride, ... while a whole window fits before end_index (default
    len(data)). With `targets`, window i comes with `targets[start_index + position
    i]` (so targets[k] is the target of the window starting at data[k]) and elements
    are `(windows, targets)`; there are at most len(targets) windows. batch_size=None
    yields single windows.

    shuffle=True permutes the window positions with `np.random.RandomState(seed)`
    as Keras does, then (with a batch size) shuffles again each epoch from a buffer of
    batch_size * 8 windows, as Keras's tf.data pipeline (with NumPy's generator, so
    not TensorFlow's order).
    """
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError("timeseries_dataset_from_array: data must be an array of time steps "
                         "(first axis: time), got a scalar")
    _check_windows(data, sequence_length, sequence_stride, sampling_rate, start_index, end_index)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"timeseries_dataset_from_array: batch_size must be a positive "
                             f"integer or None, got {batch_size!r}")
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets))
    positions = np.arange(0, max(count, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = fresh_seed(20) % 1_000_000
        np.random.RandomState(seed).shuffle(positions)
    window = np.arange(sequence_length, dtype=np.int64) * sampling_rate
    steps = data[start:end]

    def element(rows: np.ndarray) -> Any:
        windows = steps[rows[..., None] + window]
        if targets is None:
            return windows
        return windows, targets[start:][rows]

    size = batch_size or 1
    chunks = [positions[i:i + size] for i in range(0, len(positions), size)]
    if batch_size is None:
        ds = Dataset(lambda: (element(p) for p in positions), len(positions))
        return ds.shuffle(1024, seed=seed) if shuffle else ds
    if not shuffle:
        return Dataset(lambda: (element(c) for c in chunks), len(chunks))
    single = Dataset(lambda: (element(p) for p in positions), len(positions))
    return single.shuffle(batch_size * 8, seed=seed).batch(batch_size)


def split_dataset(dataset: Any, left_size: int | float | None = None,
                  right_size: int | float | None = None, shuffle: bool = False,
                  seed: int | None = None,
                  preferred_backend: str | None = None) -> tuple[Dataset, Dataset]:
    """Split `dataset` (an array, a tuple or list of arrays of one length, a dict of
    them, or a Dataset) into a left and a right Dataset of single examples, as
    Keras's keras.utils.split_dataset: a size is a count (int) or a fraction
    (float in (0, 1)), and a missing one is the rest. shuffle=True shuffles the
    examples with Python's `random.seed(seed); random.shuffle(...)` first, as Keras.
    A batched Dataset is split by example and the halves re-batched with its batch
    size, as Keras does for a batched tf.data.Dataset.

    >>> left, right = split_dataset(np.arange(10), left_size=0.8)
    >>> len(left), len(right), [int(v) for v in right]
    (8, 2, [8, 9])
    """
    if preferred_backend not in (None, "tensorflow", "jax", "numpy"):
        raise ValueError(f"split_dataset: preferred_backend={preferred_backend!r} is not "
                         "available in adkit.nn; leave it out (the splits are adkit Datasets)")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    examples, batch_size = _examples_of(dataset)
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.seed(seed)
        random.shuffle(examples)
    left, right = _split_sizes(left_size, right_size, len(examples))
    halves = []
    for part in (examples[:left], examples[-right:]):
        arrays = map_structure(lambda *xs: np.stack(xs), *part)
        half = Dataset.from_tensor_slices(arrays)
        halves.append(half if batch_size is None else half.batch(batch_size))
    return halves[0], halves[1]


def _examples_of(dataset: Any) -> tuple[list, int | None]:
    """The examples of dataset as a list, and its batch size where it is a batched
    Dataset (None otherwise)."""
    if isinstance(dataset, Dataset):
        batch_size = getattr(dataset, "_batch_size", None)
        source = dataset.unbatch() if batch_size else dataset
        return list(source), batch_size
    if isinstance(dataset, (np.ndarray, tuple, list, dict)):
        if isinstance(dataset, list) and dataset and not isinstance(
                dataset[0], (np.ndarray, list, tuple)):
            dataset = np.asarray(dataset)
        if isinstance(dataset, list):
            dataset = tuple(dataset)
        return list(Dataset.from_tensor_slices(dataset)), None
    raise TypeError(f"split_dataset: dataset must be an array, a tuple/list or dict of arrays, "
                    f"or an adkit.nn Dataset, got {type(dataset).__name__}")


def _split_sizes(left_size: Any, right_size: Any, total: int) -> tuple[int, int]:
    """Keras's _rescale_dataset_split_sizes: (left, right) as counts."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={type(size)}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and (size <= 0 or size >= total)) or \
                (type(size) is float and (size <= 0 or size >= 1)):
            raise ValueError(f"`{name}` should be either a positive integer smaller than "
                             f"{total}, or a float within the range `[0, 1]`. Received: "
                             f"{name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {left + right} and "
                         f"total_length = {total}")
    for size, side in ((left, "left"), (right, "right")):
        if size == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and "
                             f"`right_size`={right}. Resulting {side} side dataset split will "
                             "be empty. Adjust any of the aforementioned parameters")
    return int(left), int(right)
