"""Where fit, evaluate and predict read their batches from.

Two kinds of data, one interface (`epoch_batches`, yielding this process's part of
each global batch and the global batch's size):

- `ArrayBatches`: arrays in memory (x, y, sample weights), sliced in place, in a
  new random order each epoch when shuffled. This is the fast path: no copies
  beyond the batch itself.
- `StreamBatches`: a source of ready-made batches, as Keras takes them: a Python
  generator or iterator, any other iterable (each epoch iterates it afresh), or a
  `Sequence` (`adkit.nn.utils.Sequence`, or any object with `__len__`,
  `__getitem__` and `on_epoch_end`), whose batch order fit shuffles by index.
  Each batch is `(x, y)` or `(x, y, sample_weight)` (`x` alone, or `(x,)`, for
  predict) and is checked as arrays are.

`class_weight` turns into per-example weights here (`class_sample_weights`), as
Keras does: the weight of each example's class. Given with sample weights too, the
two multiply, as in Keras 2 (Keras 3 refuses the pair for arrays).

>>> import numpy as np
>>> class_sample_weights(np.array([0, 1, 1]), {0: 1.0, 1: 3.0})
array([1., 3., 3.], dtype=float32)
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from adkit.extend import is_duck_array

from .outputs import Rows

#: a batch as the training loop takes it: (x, y, sample_weight or None, global batch size)
Batch = tuple


def is_batch_source(data: Any) -> bool:
    """Whether `data` hands out batches (a generator, iterator, Sequence or other
    iterable) rather than being the examples themselves (arrays, lists, tuples or
    dicts of them)."""
    if data is None or isinstance(data, (np.ndarray, list, tuple, dict, Rows, str, bytes)):
        return False
    if is_duck_array(data) or hasattr(data, "__array__") or np.isscalar(data):
        return False
    return is_sequence(data) or hasattr(data, "__iter__") or hasattr(data, "__next__")


def is_sequence(data: Any) -> bool:
    """Whether `data` is a Keras-style Sequence: batches by index, a length, and an
    `on_epoch_end` hook."""
    return all(hasattr(data, name) for name in ("__len__", "__getitem__", "on_epoch_end"))


def check_sample_weight(sample_weight: Any, n: int, what: str) -> np.ndarray | None:
    """sample_weight as a float32 array of n rows (one weight per example, or per
    example and time step), or None; refuses other lengths and non-finite or negative
    weights with a message naming `what`."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype == object or not (np.issubdtype(w.dtype, np.number) or w.dtype == bool):
        raise TypeError(f"{what}: sample_weight must hold numbers, got dtype {w.dtype}")
    if w.ndim == 0 or w.shape[0] != n:
        raise ValueError(f"{what}: sample_weight has shape {w.shape} for {n} examples; give "
                         f"one weight per example, shape ({n},)")
    w = w.astype(np.float32)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{what}: sample_weight must be finite and >= 0")
    return w


def class_sample_weights(y: Any, class_weight: dict) -> np.ndarray:
    """One weight per example from `class_weight` (class id -> weight), as Keras's
    class_weight: the class of an example is its label (integer ids, or a column of
    them, rounded) or the argmax of a one-hot (or probability) row; classes missing
    from the dict weigh 1."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class id: weight}}, got "
                        f"{type(class_weight).__name__}")
    if isinstance(y, Rows):
        raise ValueError("class_weight is only supported for models with a single output; "
                         "pass sample_weight instead")
    bad = [k for k in class_weight if isinstance(k, bool) or not isinstance(k, (int, np.integer))]
    if bad:
        raise ValueError(f"class_weight keys must be integer class ids, got {bad}")
    y = np.asarray(y)
    if y.ndim > 2:
        raise ValueError(f"class_weight needs labels of shape (N,), (N, 1) or one-hot (N, C); "
                         f"got shape {y.shape}; pass sample_weight instead")
    if y.ndim == 2:
        y = y.argmax(axis=-1) if y.shape[-1] != 1 else y[:, 0]
    ids = np.round(y).astype(np.int64)
    table = np.ones(max([int(ids.max(initial=0)) + 1] + [int(k) + 1 for k in class_weight]),
                    np.float32)
    for k, v in class_weight.items():
        if k >= 0:
            table[int(k)] = v
    out = np.ones(len(ids), np.float32)
    known = ids >= 0
    out[known] = table[ids[known]]
    return out


def combined_weights(y: Any, sample_weight: Any, class_weight: dict | None, n: int,
                     what: str) -> np.ndarray | None:
    """sample_weight (checked) times the class weights of y's labels; None if neither."""
    w = check_sample_weight(sample_weight, n, what)
    if class_weight is None:
        return w
    by_class = class_sample_weights(y, class_weight)
    if w is None:
        return by_class
    return w * by_class.reshape((n,) + (1,) * (w.ndim - 1))


class ArrayBatches:
    """Batches sliced from arrays held in memory (see the module docstring)."""

    def __init__(self, x: Any, y: Any, sample_weight: np.ndarray | None, batch_size: int,
                 shuffle: bool) -> None:
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        self.steps: int | None = -(-len(x) // batch_size)

    def epoch_batches(self, order_rng: np.random.Generator, shard: Callable[[int], slice],
                      skip: int = 0) -> Iterator[Batch]:
        """This process's part of each batch of one epoch, from batch `skip` on (a
        resumed epoch draws the same order and skips what was done)."""
        x, y, w, size = self.x, self.y, self.sample_weight, self.batch_size
        order = order_rng.permutation(len(x)) if self.shuffle else None
        for batch in range(skip, self.steps):
            start = batch * size
            n = min(start + size, len(x)) - start
            part = shard(n)
            rows: Any = slice(start + part.start, start + part.stop)
            if order is not None:
                rows = order[rows]
            yield x[rows], y[rows], (None if w is None else w[rows]), n

    def finish_epoch(self) -> None:
        """Nothing to tell arrays."""


class StreamBatches:
    """Batches from a generator, iterator, iterable or Sequence (see the module
    docstring). `prepare(x, y, what)` checks and converts one batch as the model
    does for arrays; `steps` is the batches per epoch (None: until the source ends)."""

    def __init__(self, source: Any, steps: int | None, prepare: Callable, what: str,
                 shuffle: bool = False, class_weight: dict | None = None,
                 needs_y: bool = True) -> None:
        self.source, self.prepare, self.what = source, prepare, what
        self.shuffle, self.class_weight, self.needs_y = shuffle, class_weight, needs_y
        self.one_shot = iter(source) is source if not is_sequence(source) else False
        self._iterator: Iterator | None = None
        self.epochs_done = 0
        self.batches_done = 0   # over all epochs, for the "ran out" message
        if is_sequence(source):
            length = _sequence_length(source, what)
            if steps is not None and steps > length:
                raise ValueError(f"{what}: steps {steps} is more than the {length} batches "
                                 f"of the Sequence; pass at most {length} (or none: one "
                                 "epoch is the whole Sequence)")
            steps = length if steps is None else steps
        elif steps is None and _endless(source):
            raise ValueError(f"{what}: the dataset repeats forever (its cardinality is "
                             "infinite), so an epoch would never end; pass steps_per_epoch "
                             "(validation_steps for validation data, steps for evaluate and "
                             "predict), or repeat it a finite number of times")
        self.steps = steps

    def epoch_batches(self, order_rng: np.random.Generator, shard: Callable[[int], slice],
                      skip: int = 0) -> Iterator[Batch]:
        """This process's part of each batch of one epoch, checked, from batch `skip` on."""
        count = 0
        for count, raw in enumerate(self._raw_epoch(order_rng), start=1):
            if count <= skip:
                continue
            yield self._checked(raw, count, shard)
        if self.steps is not None and count < self.steps:
            raise ValueError(self._ran_out_message(count))
        if count == 0:
            raise ValueError(self._ran_out_message(0))
        self.batches_done += count

    def finish_epoch(self) -> None:
        """Tell a Sequence its epoch ended (Keras's on_epoch_end)."""
        self.epochs_done += 1
        if is_sequence(self.source):
            self.source.on_epoch_end()

    def _raw_epoch(self, order_rng: np.random.Generator) -> Iterator[Any]:
        """The unchecked batches of one epoch."""
        if is_sequence(self.source):
            order = order_rng.permutation(len(self.source)) if self.shuffle else \
                range(len(self.source))
            for i in list(order)[:self.steps]:
                yield self.source[int(i)]
            return
        if self.one_shot:   # one pass for the whole fit: epochs continue where the last ended
            iterator = self.source
        else:
            iterator = iter(self.source)
        for i, raw in enumerate(iterator):
            yield raw
            if self.steps is not None and i + 1 >= self.steps:
                return

    def _checked(self, raw: Any, count: int, shard: Callable[[int], slice]) -> Batch:
        where = f"{self.what}, batch {count} of epoch {self.epochs_done + 1}"
        x, y, w = unpack_batch(raw, where, self.needs_y)
        x, y = self.prepare(x, y, where)
        n = len(x)
        w = combined_weights(y, w, self.class_weight, n, where) if y is not None else \
            check_sample_weight(w, n, where)
        part = shard(n)
        if part != slice(0, n):
            x, y = x[part], (None if y is None else y[part])
            w = None if w is None else w[part]
        return x, y, w, n

    def _ran_out_message(self, got: int) -> str:
        kind = "Sequence" if is_sequence(self.source) else \
            "generator" if self.one_shot else "iterable"
        epoch = self.epochs_done + 1
        if self.steps is None:
            return (f"{self.what}: the {kind} yielded no batches in epoch {epoch}; a generator "
                    "runs only once, so make it loop forever (`while True:`) and pass "
                    "steps_per_epoch (validation_steps for validation data), or pass a "
                    "Sequence or an iterable that starts a new pass each time it is iterated")
        fix = ("make it loop forever (`while True:`) or lower steps_per_epoch" if self.one_shot
               else "lower steps_per_epoch (or validation_steps) to at most "
                    f"{got if got else 'the batches it yields'}")
        return (f"{self.what}: the {kind} ran out of data after {got} of the {self.steps} "
                f"batches of epoch {epoch}"
                + (f" ({self.batches_done + got} batches in all)" if self.one_shot else "")
                + f"; it must yield steps_per_epoch * epochs batches: {fix}")


def _endless(source: Any) -> bool:
    """Whether source says it never ends, as an adkit.nn Dataset (or tf.data dataset)
    that was repeated forever does: cardinality() == -1."""
    cardinality = getattr(source, "cardinality", None)
    try:
        return callable(cardinality) and int(cardinality()) == -1
    except (TypeError, ValueError):
        return False


def unpack_batch(batch: Any, where: str, needs_y: bool) -> tuple[Any, Any, Any]:
    """(x, y, sample_weight) from one batch: a tuple (x, y) or (x, y, sample_weight), or
    x alone (or (x,)) where no targets are needed; y and sample_weight may be None."""
    if isinstance(batch, list):   # Keras reads a list batch as a tuple
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        if needs_y:
            raise ValueError(f"{where}: got a single {type(batch).__name__}, not a tuple; "
                             "yield (x, y) or (x, y, sample_weight) tuples")
        return batch, None, None
    if not 1 <= len(batch) <= 3:
        raise ValueError(f"{where}: a batch is a tuple (x, y) or (x, y, sample_weight), "
                         f"got a tuple of {len(batch)} items")
    x, y, w = batch + (None,) * (3 - len(batch))
    if needs_y and y is None:
        raise ValueError(f"{where}: the batch has no targets; yield (x, y) or "
                         "(x, y, sample_weight) tuples")
    return x, y, w


def _sequence_length(source: Any, what: str) -> int:
    """len(source), refused unless a positive number of batches (Python's own message for
    a negative or non-int __len__ names neither the Sequence nor the fix)."""
    try:
        length = len(source)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: the {type(source).__name__}'s __len__ must return its "
                        f"number of batches, an int >= 1 ({e})") from None
    if length == 0:
        raise ValueError(f"{what}: the {type(source).__name__} is empty (its __len__ is 0); "
                         "it must hold at least one batch")
    return length


def stream_or_none(data: Any, y: Any, sample_weight: Any, class_weight: Any,
                   what: str) -> bool:
    """Whether `data` is a batch source; if so, refuses the arguments that only arrays
    take (the batches carry their own targets and weights)."""
    if not is_batch_source(data):
        return False
    given = [name for name, v in (("y", y), ("sample_weight", sample_weight)) if v is not None]
    if given:
        raise ValueError(f"{what}: x is a {type(data).__name__} that yields batches, so "
                         f"{' and '.join(given)} must not be given; yield (x, y) or "
                         "(x, y, sample_weight) tuples instead")
    return True
