"""A small stand-in for `tf.data.Dataset`: what Keras's data utilities return.

Keras's `image_dataset_from_directory`, `timeseries_dataset_from_array`,
`text_dataset_from_directory` and `split_dataset` hand back `tf.data.Dataset`
objects; adkit.nn has no TensorFlow, so they return a `Dataset`: an iterable of
elements, each a NumPy array, or a tuple or dict of them (`(x, y)` for a
labelled batch). `model.fit`, `evaluate` and `predict` take it as they take any
iterable of batches (each epoch iterates it afresh, so a shuffled dataset is
reshuffled every epoch), and it keeps the methods scripts chain onto such a
dataset: `map`, `filter`, `batch`, `unbatch`, `shuffle`, `take`, `skip`,
`repeat`, `cache`, `prefetch`, `concatenate`, `enumerate`, `as_numpy_iterator`,
`cardinality` and `len()`.

What differs from tf.data, on purpose:

- everything runs eagerly in this process, one element at a time: `map`'s
  function gets NumPy arrays (not tensors), `num_parallel_calls`, `deterministic`
  and `prefetch` change nothing;
- `cache(filename)` keeps the elements in memory, whatever the filename;
- `shuffle` follows tf.data's algorithm (a buffer of `buffer_size` elements,
  each output drawn at random from it) with NumPy's generator, so the same seed
  gives a different order than TensorFlow;
- tf.data methods not listed above (padded_batch, window, interleave, ...)
  raise AttributeError naming what exists.

>>> ds = Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 10)).batch(2)
>>> [(x.tolist(), y.tolist()) for x, y in ds]
[([0, 1], [0, 10]), ([2, 3], [20, 30]), ([4], [40])]
>>> len(ds), int(ds.cardinality())
(3, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .seeding import fresh_seed

__all__ = ["Dataset", "Cardinality", "EagerArray", "INFINITE", "UNKNOWN"]

#: tf.data's cardinality codes: the dataset never ends / its length cannot be told
INFINITE = -1
UNKNOWN = -2

_TF_ONLY = ("padded_batch", "window", "interleave", "flat_map", "group_by_window",
            "bucket_by_sequence_length", "from_generator", "with_options", "snapshot",
            "ragged_batch", "rejection_resample", "scan", "sample_from_datasets",
            "choose_from_datasets", "save", "load", "shard", "unique", "reduce",
            "get_single_element", "rebatch", "sparse_batch", "options", "element_spec",
            "from_tensors", "list_files", "counter", "random", "range")
_SUPPORTED = ("map", "filter", "batch", "unbatch", "shuffle", "take", "skip", "repeat",
              "cache", "prefetch", "concatenate", "enumerate", "apply", "as_numpy_iterator",
              "cardinality", "from_tensor_slices", "zip")


class Cardinality(int):
    """The number of elements, an int that also answers `.numpy()` as the scalar
    tensor `tf.data.Dataset.cardinality()` returns does (-1 infinite, -2 unknown)."""

    def numpy(self) -> np.int64:
        """The value as a NumPy int64."""
        return np.int64(self)


class EagerArray(np.ndarray):
    """A NumPy array that also answers `.numpy()`, as the eager tensors a tf.data
    dataset yields do, so `images[0].numpy().astype("uint8")` from Keras's tutorials
    runs; anything else treats it as the plain array it is (np.asarray gives that)."""

    def numpy(self) -> np.ndarray:
        """The plain NumPy array."""
        return np.asarray(self)

    def __getitem__(self, key: Any) -> Any:
        item = super().__getitem__(key)
        # a single item is a 0-d EagerArray (tf's scalar tensor), not a NumPy scalar
        return np.asarray(item).view(EagerArray) if isinstance(item, np.generic) else item


def _eager(leaf: Any) -> Any:
    if isinstance(leaf, (np.ndarray, np.generic)) and not isinstance(leaf, EagerArray):
        return np.asarray(leaf).view(EagerArray)
    return leaf


def _plain(leaf: Any) -> Any:
    if isinstance(leaf, np.ndarray):
        leaf = np.asarray(leaf)
        return leaf[()] if leaf.ndim == 0 else leaf
    return leaf


def map_structure(fn: Callable, *elements: Any) -> Any:
    """fn applied leaf by leaf to elements of the same structure (tuples, lists and
    dicts of arrays), the structure kept."""
    first = elements[0]
    if isinstance(first, dict):
        return {k: map_structure(fn, *(e[k] for e in elements)) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(map_structure(fn, *parts) for parts in zip(*elements))
    return fn(*elements)


def _first_leaf(element: Any) -> Any:
    while isinstance(element, (tuple, list, dict)):
        element = next(iter(element.values())) if isinstance(element, dict) else element[0]
    return element


def _call(fn: Callable, element: Any) -> Any:
    """fn(*element) for a tuple, fn(element) otherwise, as tf.data's map and filter."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _positive_int(value: Any, name: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Dataset:
    """A re-iterable sequence of elements (see the module docstring). Build one with
    `Dataset.from_tensor_slices` or a keras.utils `*_dataset_from_*` function; each
    method returns a new Dataset and leaves this one as it was."""

    def __init__(self, make_iterator: Callable[[], Iterator], cardinality: int = UNKNOWN,
                 slices: Any = None) -> None:
        self._make_iterator = make_iterator
        self._cardinality = int(cardinality)
        # (arrays, order) when the elements are the rows of arrays, taken in the order
        # order() gives (None: as stored), so batch() can slice instead of stacking
        self._slices = slices

    # --- sources -------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(data: Any) -> "Dataset":
        """The rows of an array (or of a tuple or dict of arrays of the same length)
        as elements, as `tf.data.Dataset.from_tensor_slices`."""
        arrays = map_structure(np.asarray, data)
        lengths = {len(a) if a.ndim else None for a in _leaves(arrays)}
        if None in lengths:
            raise ValueError("Dataset.from_tensor_slices: every array needs a first axis to "
                             "slice along; got a scalar")
        if len(lengths) != 1:
            raise ValueError(f"Dataset.from_tensor_slices: the arrays have different lengths "
                             f"{sorted(lengths)}; they must all have the same first axis")
        return Dataset._of_rows(arrays, lengths.pop(), lambda: None)

    @staticmethod
    def _of_rows(arrays: Any, n: int, order: Callable[[], np.ndarray | None]) -> "Dataset":
        def rows() -> Iterator:
            index = order()
            for i in (range(n) if index is None else index):
                yield map_structure(lambda a: a[i], arrays)
        return Dataset(rows, n, slices=(arrays, n, order))

    @staticmethod
    def zip(*datasets: "Dataset") -> "Dataset":
        """Elements of several datasets side by side, as tuples, until the shortest ends,
        as `tf.data.Dataset.zip` (which also takes one tuple of datasets)."""
        if len(datasets) == 1 and isinstance(datasets[0], tuple):
            datasets = datasets[0]
        for d in datasets:
            if not isinstance(d, Dataset):
                raise TypeError(f"Dataset.zip takes Datasets, got {type(d).__name__}")
        known = [d._cardinality for d in datasets]
        finite = [c for c in known if c >= 0]
        card = min(finite) if finite else (UNKNOWN if UNKNOWN in known else INFINITE)
        return Dataset(lambda: zip(*(iter(d) for d in datasets)), card)

    # --- iteration -----------------------------------------------------------------
    def __iter__(self) -> Iterator:
        return (map_structure(_eager, e) for e in self._make_iterator())

    def as_numpy_iterator(self) -> Iterator:
        """The elements as plain NumPy arrays, a scalar as a NumPy scalar (hashable), as
        tf.data's as_numpy_iterator gives them."""
        return (map_structure(_plain, e) for e in self._make_iterator())

    def cardinality(self) -> Cardinality:
        """How many elements: a count, INFINITE (-1) or UNKNOWN (-2)."""
        return Cardinality(self._cardinality)

    def __len__(self) -> int:
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == UNKNOWN:
            raise TypeError("The dataset length is unknown (it went through filter or "
                            "unbatch); iterate it to count")
        return self._cardinality

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        size = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._cardinality,
                                                              str(self._cardinality))
        return f"<adkit.nn Dataset, cardinality {size}>"

    def __getattr__(self, name: str) -> Any:
        if name in _TF_ONLY:
            raise AttributeError(
                f"adkit.nn's Dataset has no {name} (a tf.data.Dataset method adkit does not "
                f"provide); it supports {', '.join(_SUPPORTED)}. Convert with "
                "list(ds.as_numpy_iterator()) and use NumPy for the rest")
        raise AttributeError(f"'Dataset' object has no attribute {name!r}")

    # --- transformations -----------------------------------------------------------
    def map(self, map_func: Callable, num_parallel_calls: Any = None,
            deterministic: Any = None, name: str | None = None) -> "Dataset":
        """map_func applied to each element (a tuple element is passed as separate
        arguments, as tf.data does); num_parallel_calls and deterministic are accepted
        and change nothing."""
        if not callable(map_func):
            raise TypeError(f"Dataset.map needs a function, got {type(map_func).__name__}")
        return Dataset(lambda: (_call(map_func, e) for e in self), self._cardinality)

    def filter(self, predicate: Callable, name: str | None = None) -> "Dataset":
        """The elements for which predicate(element) is true."""
        if not callable(predicate):
            raise TypeError(f"Dataset.filter needs a function, got {type(predicate).__name__}")
        return Dataset(lambda: (e for e in self if bool(_call(predicate, e))), UNKNOWN)

    def batch(self, batch_size: int, drop_remainder: bool = False,
              num_parallel_calls: Any = None, deterministic: Any = None,
              name: str | None = None) -> "Dataset":
        """Consecutive elements stacked into batches of batch_size (the last one smaller
        unless drop_remainder)."""
        size = _positive_int(batch_size, "batch_size", "Dataset.batch")
        card = self._cardinality
        if card >= 0:
            card = card // size if drop_remainder else -(-card // size)
        if self._slices is not None:
            return self._batched(Dataset(lambda: self._sliced_batches(size, drop_remainder),
                                         card), size)

        def batches() -> Iterator:
            pending: list = []
            for element in self:
                pending.append(element)
                if len(pending) == size:
                    yield map_structure(lambda *xs: np.stack(xs), *pending)
                    pending = []
            if pending and not drop_remainder:
                yield map_structure(lambda *xs: np.stack(xs), *pending)
        return self._batched(Dataset(batches, card), size)

    @staticmethod
    def _batched(dataset: "Dataset", size: int) -> "Dataset":
        # as tf.data's BatchDataset, which split_dataset reads to re-batch its halves
        dataset._batch_size = size
        return dataset

    def _sliced_batches(self, size: int, drop_remainder: bool) -> Iterator:
        arrays, n, order = self._slices
        index = order()
        stop = n - n % size if drop_remainder else n
        for start in range(0, stop, size):
            rows: Any = slice(start, min(start + size, n))
            if index is not None:
                rows = index[rows]
            yield map_structure(lambda a: a[rows], arrays)

    def unbatch(self, name: str | None = None) -> "Dataset":
        """Each batch split back into its elements (along the first axis)."""
        def elements() -> Iterator:
            for batch in self:
                for i in range(len(_first_leaf(batch))):
                    yield map_structure(lambda a: a[i], batch)
        return Dataset(elements, INFINITE if self._cardinality == INFINITE else UNKNOWN)

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True, name: str | None = None) -> "Dataset":
        """The elements in random order, drawn as tf.data does from a buffer of
        buffer_size elements (buffer_size >= the dataset's size: a uniform permutation);
        a new order on each iteration unless reshuffle_each_iteration=False."""
        size = _positive_int(buffer_size, "buffer_size", "Dataset.shuffle")
        base = fresh_seed() if seed is None else int(seed)
        iteration = [0]

        def rng() -> np.random.Generator:
            if reshuffle_each_iteration:
                iteration[0] += 1
            return np.random.default_rng([base, iteration[0]])

        if self._slices is not None and size >= self._slices[1]:
            arrays, n, order = self._slices

            def permuted() -> np.ndarray:
                index = order()
                perm = rng().permutation(n)
                return perm if index is None else np.asarray(index)[perm]
            return Dataset._of_rows(arrays, n, permuted)

        def shuffled() -> Iterator:
            draw = rng()
            buffer: list = []
            for element in self:
                if len(buffer) < size:
                    buffer.append(element)
                    continue
                i = int(draw.integers(size))
                yield buffer[i]
                buffer[i] = element
            while buffer:
                yield buffer.pop(int(draw.integers(len(buffer))))
        return Dataset(shuffled, self._cardinality)

    def take(self, count: int, name: str | None = None) -> "Dataset":
        """The first count elements (count=-1: all of them)."""
        count = int(count)
        if count < 0:
            return self
        card = count if self._cardinality == INFINITE else \
            (min(count, self._cardinality) if self._cardinality >= 0 else UNKNOWN)
        return Dataset(lambda: (e for _, e in zip(range(count), self)), card)

    def skip(self, count: int, name: str | None = None) -> "Dataset":
        """All but the first count elements (count=-1: none)."""
        count = int(count)
        if count < 0:
            return Dataset(lambda: iter(()), 0)
        card = max(self._cardinality - count, 0) if self._cardinality >= 0 else \
            self._cardinality

        def rest() -> Iterator:
            iterator = iter(self)
            for _ in zip(range(count), iterator):
                pass
            yield from iterator
        return Dataset(rest, card)

    def repeat(self, count: int | None = None, name: str | None = None) -> "Dataset":
        """The dataset count times over (None or -1: forever)."""
        forever = count is None or int(count) < 0
        if forever:
            card = 0 if self._cardinality == 0 else INFINITE
        else:
            count = int(count)
            card = self._cardinality * count if self._cardinality >= 0 else self._cardinality
            card = 0 if count == 0 else card

        def repeated() -> Iterator:
            done = 0
            while forever or done < count:
                empty = True
                for element in self:
                    empty = False
                    yield element
                if empty:
                    return
                done += 1
        return Dataset(repeated, card)

    def cache(self, filename: str = "", name: str | None = None) -> "Dataset":
        """The same elements, kept in memory after the first complete pass (a filename
        is accepted and ignored: nothing is written to disk)."""
        kept: list = []
        complete = [False]

        def cached() -> Iterator:
            if complete[0]:
                yield from kept
                return
            kept.clear()
            for element in self:
                kept.append(element)
                yield element
            complete[0] = True
        return Dataset(cached, self._cardinality)

    def prefetch(self, buffer_size: Any = None, name: str | None = None) -> "Dataset":
        """This dataset (elements are made when asked for; nothing runs ahead)."""
        return self

    def concatenate(self, dataset: "Dataset", name: str | None = None) -> "Dataset":
        """This dataset's elements, then those of dataset."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Dataset.concatenate takes a Dataset, got {type(dataset).__name__}")
        a, b = self._cardinality, dataset._cardinality
        card = INFINITE if INFINITE in (a, b) else (UNKNOWN if UNKNOWN in (a, b) else a + b)

        def both() -> Iterator:
            yield from self
            yield from dataset
        return Dataset(both, card)

    def enumerate(self, start: int = 0, name: str | None = None) -> "Dataset":
        """(index, element) pairs, the index counting from start."""
        return Dataset(lambda: ((np.int64(i), e) for i, e in enumerate(self, start)),
                       self._cardinality)

    def apply(self, transformation_func: Callable[["Dataset"], "Dataset"]) -> "Dataset":
        """transformation_func(self)."""
        return transformation_func(self)


def _leaves(structure: Any) -> list:
    out: list = []
    map_structure(out.append, structure)
    return out


def as_dataset(elements: Iterable) -> Dataset:
    """A Dataset over a list of elements (each iteration walks the list)."""
    items = list(elements)
    return Dataset(lambda: iter(items), len(items))
