"""Hogwild: lock-free parallel SGD on one machine, for sparse logistic regression.

SGD is sequential because every step writes the parameters the next step
reads; putting a lock around the write makes parallel workers take turns.
Hogwild drops the lock. When each example touches only a few coordinates, two
workers rarely write the same coordinate at the same moment, so the occasional
lost or stale update costs little, and the workers run at full speed.

Here the parameters are one float64 vector in a
`multiprocessing.shared_memory.SharedMemory` segment. Each worker process
attaches to it by name and runs SGD over its own shard of the examples,
reading and writing only the coordinates of each example's nonzeros, with no
lock. The examples (a CSR matrix and labels) sit in a second, read-only
segment, so a worker started with "spawn" needs no pickled copy of them.
The segments' names leave /dev/shm as soon as every worker has attached, and
a worker exits within 0.1 s of its parent's death, so even kill -9 of the
training process leaves no process and no segment behind.

>>> problem = sparse_logistic_problem(2000, 500, nnz_per_row=5, seed=0)
>>> result = train(problem, workers=2, epochs=3, learning_rate=0.5, seed=0)
>>> result.losses[-1] < result.losses[0]
True

The gradient is written by hand: adkit differentiates dense NumPy code, and a
dense gradient would touch every coordinate, which is exactly what Hogwild
must not do. tests/test_nn_hogwild.py checks it against adkit.grad of the
dense loss.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import secrets
import sys
import threading
import time
import traceback
from multiprocessing import shared_memory
from multiprocessing.connection import wait
from typing import Any

import numpy as np

__all__ = ["SparseProblem", "HogwildResult", "sparse_logistic_problem", "train", "serial_sgd",
           "logistic_loss", "sparse_gradient"]

#: Examples per NumPy call in the inner loop. Every example of a batch reads the
#: weights at the start of the batch and adds its own step (the steps are summed,
#: not averaged, so the learning rate means the same at any batch size). With 20
#: nonzeros per row over 10^5 features, a batch of 64 touches 1280 coordinates
#: and about 1280^2 / (2 * 10^5) = 8 of them twice: apart from those, a batch is
#: 64 consecutive SGD steps (measured: the loss after two epochs moves by 5e-6
#: between batch sizes 16 and 256). One example per call costs ~12 us of
#: call overhead per example; a batch of 64 costs 0.5 to 0.8 us per example.
BATCH_SIZE = 64

#: Prefix of the shared-memory segments' names (/dev/shm/<name> on Linux).
SEGMENT_PREFIX = "adkit_hogwild_"

_BATCHES_PER_CHUNK = 32   # batches gathered together: ~40k nonzeros, a few hundred KB
_JOIN_TIMEOUT_S = 5.0   # a stopped worker exits at once; this is for a stuck one
_POLL_S = 0.5           # how often a waiting parent looks at its workers' pulse
_ORPHAN_POLL_S = 0.1    # how often a worker checks that its parent is still alive


# --- the problem -------------------------------------------------------------------------


@dataclasses.dataclass
class SparseProblem:
    """Binary classification data as a CSR matrix: row i has its nonzeros at
    indices[indptr[i]:indptr[i+1]] with values values[indptr[i]:indptr[i+1]].

    labels are 0 or 1; true_weights, when known, generated the labels.

    >>> p = SparseProblem([0, 2, 3], [0, 3, 1], [1.0, -2.0, 0.5], [1, 0], n_features=4)
    >>> p.n_samples, p.nnz, p.to_dense().tolist()
    (2, 3, [[1.0, 0.0, 0.0, -2.0], [0.0, 0.5, 0.0, 0.0]])
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    n_features: int
    true_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.indptr = _int_array("indptr", self.indptr)
        self.indices = _int_array("indices", self.indices)
        self.values = _float_array("values", self.values)
        self.labels = _float_array("labels", self.labels)
        if isinstance(self.n_features, bool) or not isinstance(self.n_features, (int, np.integer)) \
                or self.n_features < 1:
            raise ValueError(f"n_features must be a positive int, got {self.n_features!r}")
        self.n_features = int(self.n_features)
        if len(self.indptr) < 2:
            raise ValueError(f"indptr must have n_samples + 1 >= 2 entries (at least one "
                             f"example), got {len(self.indptr)}")
        if self.indptr[0] != 0 or np.any(np.diff(self.indptr) < 0):
            raise ValueError("indptr must start at 0 and never decrease (it is the CSR row "
                             "pointer: row i spans indptr[i]:indptr[i+1])")
        nnz = int(self.indptr[-1])
        if len(self.indices) != nnz or len(self.values) != nnz:
            raise ValueError(f"indices and values must both have indptr[-1] = {nnz} entries, "
                             f"got {len(self.indices)} indices and {len(self.values)} values")
        if len(self.labels) != self.n_samples:
            raise ValueError(f"labels must have one entry per row (len(indptr) - 1 = "
                             f"{self.n_samples}), got {len(self.labels)}")
        if nnz and (self.indices.min() < 0 or self.indices.max() >= self.n_features):
            raise ValueError(f"indices must lie in [0, n_features={self.n_features}), got range "
                             f"[{self.indices.min()}, {self.indices.max()}]")
        if not np.all((self.labels == 0) | (self.labels == 1)):
            raise ValueError("labels must be 0 or 1")
        if not np.all(np.isfinite(self.values)):
            raise ValueError("values must be finite")
        if self.true_weights is not None:
            self.true_weights = _float_array("true_weights", self.true_weights)
            if len(self.true_weights) != self.n_features:
                raise ValueError(f"true_weights must have n_features = {self.n_features} "
                                 f"entries, got {len(self.true_weights)}")

    @property
    def n_samples(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def feature_counts(self) -> np.ndarray:
        """How many examples touch each feature (a duplicate index in a row counts twice)."""
        return np.bincount(self.indices, minlength=self.n_features)

    def to_dense(self) -> np.ndarray:
        """The (n_samples, n_features) matrix; for small problems and tests."""
        dense = np.zeros((self.n_samples, self.n_features))
        np.add.at(dense, (self.row_ids(), self.indices), self.values)
        return dense

    def row_ids(self) -> np.ndarray:
        """The row of each stored nonzero."""
        return np.repeat(np.arange(self.n_samples), np.diff(self.indptr))


def _int_array(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D integer array, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.intp)


def _float_array(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iufb"):
        raise ValueError(f"{name} must be a 1-D numeric array, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def sparse_logistic_problem(n_samples: int, n_features: int, nnz_per_row: int = 20,
                            seed: int = 0, density: float = 0.1,
                            margin: float = 3.0) -> SparseProblem:
    """Random sparse logistic-regression data: few nonzeros per row, labels from a sparse truth.

    Each row has nnz_per_row distinct features drawn uniformly (so any two rows
    rarely share a coordinate: the regime Hogwild is made for) with values
    N(0, 1/nnz_per_row), so |x| is about 1. The true weight vector is nonzero on
    a fraction `density` of the features, scaled so the true logit x . w has
    standard deviation `margin`; labels are drawn from p(y=1|x) = sigmoid(x . w).
    The labels are noisy: a row meets the truth's support in only about
    density * nnz_per_row features, so the true weights themselves score a loss
    of 0.45 at the defaults with 20 nonzeros per row (0.56 with 5), against
    log 2 = 0.69 for a coin flip.

    >>> p = sparse_logistic_problem(100, 1000, nnz_per_row=5, seed=0)
    >>> p.n_samples, p.nnz, p.n_features
    (100, 500, 1000)
    """
    for name, v in (("n_samples", n_samples), ("n_features", n_features),
                    ("nnz_per_row", nnz_per_row)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if nnz_per_row > n_features:
        raise ValueError(f"nnz_per_row={nnz_per_row} cannot exceed n_features={n_features} "
                         "(a row's features are distinct)")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density!r}")
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, n_features, size=(n_samples, nnz_per_row)), axis=1)
    # Redraw repeated features until every row's are distinct; with k << n_features
    # a draw repeats with probability ~k^2 / (2 n_features), so this ends in a few rounds.
    while True:
        dup = np.zeros(cols.shape, dtype=bool)
        dup[:, 1:] = cols[:, 1:] == cols[:, :-1]
        if not dup.any():
            break
        cols[dup] = rng.integers(0, n_features, size=int(dup.sum()))
        cols.sort(axis=1)
    values = rng.standard_normal((n_samples, nnz_per_row)) / np.sqrt(nnz_per_row)
    true_w = np.zeros(n_features)
    support = rng.choice(n_features, size=max(1, round(density * n_features)), replace=False)
    # var(x . w) = nnz * (1 / nnz) * density * scale^2, so this scale gives std `margin`
    true_w[support] = rng.standard_normal(len(support)) * margin / np.sqrt(density)
    logits = np.sum(values * true_w[cols], axis=1)
    labels = (rng.random(n_samples) < _sigmoid(logits)).astype(np.float64)
    indptr = np.arange(0, n_samples * nnz_per_row + 1, nnz_per_row)
    return SparseProblem(indptr, cols.ravel(), values.ravel(), labels, n_features, true_w)


# --- the loss and its sparse gradient ---------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * z)  # one transcendental call, and no overflow


def _logits(problem: SparseProblem, weights: np.ndarray) -> np.ndarray:
    return np.bincount(problem.row_ids(), weights=weights[problem.indices] * problem.values,
                       minlength=problem.n_samples)


def logistic_loss(problem: SparseProblem, weights: np.ndarray, l2: float = 0.0) -> float:
    """Mean binary cross-entropy of sigmoid(x . w) against the labels, plus (l2/2) |w|^2.

    The cross-entropy is written log(1 + e^z) - y z, which np.logaddexp keeps finite.

    >>> p = sparse_logistic_problem(10, 20, nnz_per_row=3, seed=0)
    >>> round(logistic_loss(p, np.zeros(20)), 6)  # log 2: a coin flip
    0.693147
    """
    w = np.asarray(weights, dtype=np.float64)
    z = _logits(problem, w)
    loss = float(np.mean(np.logaddexp(0.0, z) - problem.labels * z))
    # np.sum, not np.dot: a BLAS dot product wakes OpenBLAS's threads, which then
    # spin for a while after it and took a core from the workers (2 workers ran
    # 1.4x faster than 1 with it, 1.9x without)
    return loss + 0.5 * l2 * float(np.sum(w * w)) if l2 else loss


def _l2_scale(problem: SparseProblem) -> np.ndarray:
    """n / (examples touching feature j): spreads (l2/2)|w|^2 over the examples touching j."""
    counts = problem.feature_counts()
    return np.divide(problem.n_samples, counts, out=np.zeros(problem.n_features),
                     where=counts > 0)


def _batch_gradient(w: np.ndarray, idx: np.ndarray, val: np.ndarray, seg: np.ndarray,
                    y: np.ndarray, reg: np.ndarray | None) -> np.ndarray:
    """Per-nonzero gradient of a batch: g = (sigmoid(w . x_i) - y_i) x_i on x_i's nonzeros.

    idx/val are the batch's nonzeros, seg[k] the batch position of nonzero k, y the
    batch's labels; reg (l2 * n / count_j per nonzero) adds the example's share of
    the L2 term. Reads w once: every example of the batch sees the same weights.
    """
    wi = w[idx]
    z = np.bincount(seg, weights=wi * val, minlength=len(y))
    g = (_sigmoid(z) - y)[seg] * val
    if reg is not None:
        g += reg * wi
    return g


def sparse_gradient(problem: SparseProblem, weights: np.ndarray, rows: Any,
                    l2: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The gradient of the given examples' losses, as (coordinates, contributions).

    Summing the contributions into a zero vector at the coordinates (np.add.at)
    gives the sum over the rows of the per-example gradients; only the rows'
    nonzeros appear. Example i's loss is log(1 + e^z) - y z with z = w . x_i,
    plus (l2/2) sum over its features j of (n / count_j) w_j^2, so that the mean
    over all examples is logistic_loss(problem, w, l2) on every feature some
    example touches (untouched features start at 0 and are never moved).

    >>> p = sparse_logistic_problem(10, 20, nnz_per_row=3, seed=0)
    >>> coords, contrib = sparse_gradient(p, np.zeros(20), [0, 1])
    >>> coords.shape, contrib.shape
    ((6,), (6,))
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (problem.n_features,):
        raise ValueError(f"weights must have shape ({problem.n_features},), got {w.shape}")
    rows = np.asarray(rows, dtype=np.intp).reshape(-1)
    idx, val, seg, _ = _gather_rows(problem.indptr, problem.indices, problem.values, rows)
    reg = l2 * _l2_scale(problem)[idx] if l2 else None
    return idx, _batch_gradient(w, idx, val, seg, problem.labels[rows], reg)


def _gather_rows(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
                 rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The nonzeros of `rows`, in that order: (indices, values, position in rows, row starts)."""
    lens = indptr[rows + 1] - indptr[rows]
    ends = np.cumsum(lens)
    starts = ends - lens
    pos = np.arange(ends[-1] if len(ends) else 0) + np.repeat(indptr[rows] - starts, lens)
    seg = np.repeat(np.arange(len(rows)), lens)
    return indices[pos], values[pos], seg, np.append(starts, ends[-1] if len(ends) else 0)


def _sgd_epoch(w: np.ndarray, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
               labels: np.ndarray, l2_scale: np.ndarray | None, rows: np.ndarray,
               learning_rate: float, l2: float, batch_size: int) -> None:
    """One pass over `rows` in their order, updating w in place on touched coordinates only.

    The nonzeros are gathered in visiting order a chunk of batches at a time, so
    a batch is a slice and the chunk's copies stay in cache (gathering a whole
    epoch at once spends more time in page faults and memory traffic than the
    updates do). np.subtract.at accumulates repeated coordinates within a batch;
    between workers there is no lock, by design.
    """
    chunk = batch_size * _BATCHES_PER_CHUNK
    for c0 in range(0, len(rows), chunk):
        crows = rows[c0:c0 + chunk]
        idx_all, val_all, seg_all, starts = _gather_rows(indptr, indices, values, crows)
        reg_all = l2 * l2_scale[idx_all] if l2 else None
        y_all = labels[crows]
        for b0 in range(0, len(crows), batch_size):
            b1 = min(b0 + batch_size, len(crows))
            a, e = starts[b0], starts[b1]
            idx = idx_all[a:e]
            g = _batch_gradient(w, idx, val_all[a:e], seg_all[a:e] - b0, y_all[b0:b1],
                                None if reg_all is None else reg_all[a:e])
            g *= learning_rate
            np.subtract.at(w, idx, g)


def _epoch_rows(shard: tuple[int, int], seed: int, worker: int, epoch: int) -> np.ndarray:
    lo, hi = shard
    return lo + np.random.default_rng((seed, worker, epoch)).permutation(hi - lo)


# --- results -----------------------------------------------------------------------------


@dataclasses.dataclass
class HogwildResult:
    """What a run did. losses[0] is the loss before training, losses[e] after epoch e;
    times[e] the training seconds up to that point (loss evaluations and process
    start-up excluded; start-up is startup_time)."""

    weights: np.ndarray
    losses: list[float]
    times: list[float]
    updates: int              # per-example SGD steps taken, all workers together
    workers: int
    method: str               # "hogwild" (worker processes) or "serial" (the calling process)
    start_method: str | None  # "fork" or "spawn"; None for serial
    startup_time: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.losses) - 1

    @property
    def wall_time(self) -> float:
        """Training seconds, all epochs (workers run in parallel, so this is wall time)."""
        return self.times[-1]

    @property
    def updates_per_second(self) -> float:
        return self.updates / self.wall_time if self.wall_time > 0 else float("nan")

    def time_to_loss(self, target: float) -> float | None:
        """Training seconds until the loss first reached target, None if it never did.

        Losses are known at epoch ends only; between two, time is interpolated
        linearly in the loss.

        >>> HogwildResult(np.zeros(1), [1.0, 0.5, 0.2], [0.0, 1.0, 2.0], 0, 1, "serial",
        ...               None).time_to_loss(0.35)
        1.5
        """
        for e in range(len(self.losses)):
            if self.losses[e] <= target:
                if e == 0:
                    return 0.0
                l0, l1 = self.losses[e - 1], self.losses[e]
                t0, t1 = self.times[e - 1], self.times[e]
                return t0 + (t1 - t0) * (l0 - target) / (l0 - l1)
        return None


# --- argument checks ---------------------------------------------------------------------


def _check(problem: Any, epochs: Any, learning_rate: Any, l2: Any, decay: Any,
           batch_size: Any) -> None:
    if not isinstance(problem, SparseProblem):
        raise ValueError(f"problem must be a SparseProblem (see sparse_logistic_problem), "
                         f"got {type(problem).__name__}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not (isinstance(learning_rate, (int, float, np.number)) and learning_rate > 0
            and np.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    if not (isinstance(l2, (int, float, np.number)) and 0 <= l2 < np.inf):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    if not (isinstance(decay, (int, float, np.number)) and 0 < decay <= 1):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    if l2 and problem.nnz:
        # a rare feature gets the L2 step scaled by n / count; past 1 the step
        # overshoots zero and the weight oscillates with growing size
        worst = learning_rate * l2 * float(_l2_scale(problem).max())
        if worst >= 1:
            raise ValueError(f"learning_rate * l2 * n_samples / (fewest examples touching a "
                             f"feature) = {worst:.3g} >= 1: the L2 step on rare features "
                             f"would overshoot; lower l2 or learning_rate")


# --- serial SGD in the calling process ---------------------------------------------------


def serial_sgd(problem: SparseProblem, epochs: int = 10, learning_rate: float = 0.5,
               seed: int = 0, l2: float = 0.0, *, decay: float = 0.9,
               batch_size: int = BATCH_SIZE, target_loss: float | None = None) -> HogwildResult:
    """Plain SGD in this process, with the same inner loop, order and schedule as
    train(workers=1), so the two give identical weights.

    Epoch e uses learning rate learning_rate * decay**e. target_loss stops after
    the first epoch whose loss is at or below it.

    >>> p = sparse_logistic_problem(1000, 200, nnz_per_row=5, seed=0)
    >>> r = serial_sgd(p, epochs=2, learning_rate=0.5)
    >>> r.epochs, r.losses[-1] < r.losses[0]
    (2, True)
    """
    _check(problem, epochs, learning_rate, l2, decay, batch_size)
    w = np.zeros(problem.n_features)
    scale = _l2_scale(problem) if l2 else None
    losses, times, elapsed = [logistic_loss(problem, w, l2)], [0.0], 0.0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        rows = _epoch_rows((0, problem.n_samples), seed, 0, epoch)
        _sgd_epoch(w, problem.indptr, problem.indices, problem.values, problem.labels, scale,
                   rows, learning_rate * decay ** epoch, l2, batch_size)
        elapsed += time.perf_counter() - t0
        losses.append(logistic_loss(problem, w, l2))
        times.append(elapsed)
        if target_loss is not None and losses[-1] <= target_loss:
            break
    return HogwildResult(w, losses, times, problem.n_samples * (len(losses) - 1), 1, "serial",
                         None)


# --- Hogwild with worker processes -------------------------------------------------------


def _default_start_method() -> str:
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _attach(name: str) -> shared_memory.SharedMemory:
    # The creator (the parent) owns the segment and unlinks it. Before Python 3.13
    # an attaching process registers the segment with the resource tracker too; the
    # workers share the parent's tracker (fork and spawn both pass it on), so the
    # parent's unlink unregisters it once for all.
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    return shared_memory.SharedMemory(name=name)


def _watch_parent(parent: int, segment_names: list[str]) -> None:
    """Exit this worker as soon as its parent is gone (a parent killed with SIGKILL
    cannot ask). The pipe cannot tell: forked workers inherit the parent's ends of
    the pipes, so none of them ever reads EOF. A dead parent's children are adopted
    by another process, so getppid() changes. On the way out the worker unlinks
    the segments, in case the parent died before it could (normally the parent
    unlinks them as soon as every worker has attached)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_ORPHAN_POLL_S)
        for name in segment_names:
            _unlink_by_name(name)
        os._exit(1)
    threading.Thread(target=watch, name="hogwild-parent-watch", daemon=True).start()


def _unlink_by_name(name: str) -> None:
    try:
        seg = _attach(name)
    except FileNotFoundError:
        return  # already unlinked: the usual case
    _unlink([seg])
    _close(seg)


def _worker_main(worker: int, conn: Any, parent: int, weights_name: str, data_name: str,
                 layout: dict[str, tuple[int, str, int]], n_features: int,
                 shard: tuple[int, int], seed: int, l2: float, batch_size: int,
                 fault: tuple[int, int, str] | None) -> None:
    """A worker process: attach, then run the epochs the parent asks for, until "stop"."""
    _watch_parent(parent, [weights_name, data_name])
    segments: list[shared_memory.SharedMemory] = []
    arrays: dict[str, np.ndarray] = {}
    try:
        seg_w, seg_d = _attach(weights_name), _attach(data_name)
        segments += [seg_w, seg_d]
        w = np.ndarray((n_features,), dtype=np.float64, buffer=seg_w.buf)
        for key, (offset, dtype, length) in layout.items():
            arrays[key] = np.ndarray((length,), dtype=dtype, buffer=seg_d.buf, offset=offset)
        conn.send(("ready", worker))
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, epoch, lr = msg
            if fault is not None and fault[:2] == (worker, epoch):
                if fault[2] == "exit":
                    os._exit(3)
                if fault[2] == "hang":
                    time.sleep(3600)
                raise ValueError(f"injected fault in worker {worker}, epoch {epoch}")
            t0 = time.perf_counter()
            rows = _epoch_rows(shard, seed, worker, epoch)
            _sgd_epoch(w, arrays["indptr"], arrays["indices"], arrays["values"],
                       arrays["labels"], arrays.get("l2_scale"), rows, lr, l2, batch_size)
            conn.send(("done", worker, time.perf_counter() - t0, len(rows)))
    except BaseException as e:  # noqa: BLE001  (report anything, then exit)
        try:
            conn.send(("error", worker, f"{type(e).__name__}: {e}", traceback.format_exc()))
        except (OSError, ValueError):
            pass  # the parent is gone
    finally:
        w = None
        arrays.clear()  # views into the segments must go before the segments close
        for seg in segments:
            _close(seg)


def _close(seg: shared_memory.SharedMemory) -> None:
    try:
        seg.close()
    except BufferError:
        pass  # a live traceback still holds a view; the mapping goes with the process


def _unlink(segments: list[shared_memory.SharedMemory]) -> None:
    """Remove the segments' names; the memory lives on while some process maps it."""
    for seg in segments:
        try:
            seg.unlink()
        except FileNotFoundError:
            pass  # already done, here or by an orphaned worker


def _new_segment(size: int) -> shared_memory.SharedMemory:
    name = f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(6)}"
    return shared_memory.SharedMemory(name=name, create=True, size=max(size, 1))


def _pack(problem: SparseProblem, l2_scale: np.ndarray | None
          ) -> tuple[int, dict[str, tuple[int, str, int]], dict[str, np.ndarray]]:
    """Where each array goes in the data segment: offsets kept 8-byte aligned."""
    arrays = {"indptr": problem.indptr, "indices": problem.indices, "values": problem.values,
              "labels": problem.labels}
    if l2_scale is not None:
        arrays["l2_scale"] = l2_scale
    layout, offset = {}, 0
    for key, a in arrays.items():
        layout[key] = (offset, a.dtype.str, len(a))
        offset += -(-a.nbytes // 8) * 8
    return offset, layout, arrays


class _Workers:
    """The parent's side: start, command and wait for the worker processes."""

    def __init__(self, timeout: float | None) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.timeout = timeout
        self.conns: list[Any] = []
        self.procs: list[Any] = []

    def start(self, ctx: Any, n: int, target_args: Any) -> None:
        for worker in range(n):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(worker, child_end, *target_args(worker)),
                               name=f"hogwild-worker-{worker}", daemon=True)
            proc.start()
            child_end.close()  # so a dead worker's end reads as EOF here
            self.conns.append(parent_end)
            self.procs.append(proc)

    def send_all(self, msg: tuple) -> None:
        for conn in self.conns:
            conn.send(msg)

    def collect(self, what: str) -> list[tuple]:
        """Every worker's next reply; RuntimeError if one fails, dies, or time runs out."""
        n = len(self.procs)
        replies: dict[int, tuple] = {}
        while len(replies) < n:
            pending = [k for k in range(n) if k not in replies]
            remaining = None if self.deadline is None else self.deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise RuntimeError(f"hogwild: worker(s) {pending} of {n} did not finish {what} "
                                   f"within timeout={self.timeout} s")
            wait([self.conns[k] for k in pending] + [self.procs[k].sentinel for k in pending],
                 timeout=_POLL_S if remaining is None else min(_POLL_S, remaining))
            for k in pending:
                msg, eof = None, False
                if self.conns[k].poll():
                    try:
                        msg = self.conns[k].recv()
                    except EOFError:  # its end of the pipe closed: it has exited
                        eof = True
                        self.procs[k].join(1.0)
                if msg is not None and msg[0] == "error":
                    raise RuntimeError(f"hogwild worker {k} of {n} failed {what}: "
                                       f"{msg[2]}\n--- the worker's traceback ---\n{msg[3]}")
                if msg is not None:
                    replies[k] = msg
                elif eof or (not self.procs[k].is_alive() and not self.conns[k].poll()):
                    code = self.procs[k].exitcode
                    raise RuntimeError(f"hogwild worker {k} of {n} died {what} without "
                                       f"reporting an error (exit code {code}; a negative "
                                       f"code is the signal that killed it, e.g. -9 for the "
                                       f"out-of-memory killer)")
        return [replies[k] for k in range(n)]

    def stop(self, grace: float) -> None:
        """Ask every worker to stop; terminate, then kill, whoever is still there."""
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except (OSError, ValueError):
                pass  # that worker is already gone
        end = time.monotonic() + grace
        for proc in self.procs:
            proc.join(max(0.0, end - time.monotonic()))
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()


def train(problem: SparseProblem, workers: int = 2, epochs: int = 10,
          learning_rate: float = 0.5, seed: int = 0, l2: float = 0.0, *,
          decay: float = 0.9, batch_size: int = BATCH_SIZE, target_loss: float | None = None,
          start_method: str | None = None, timeout: float | None = None,
          _fault: tuple[int, int, str] | None = None) -> HogwildResult:
    """Hogwild SGD: `workers` processes update one shared weight vector without locks.

    The examples are cut into `workers` contiguous shards; in epoch e worker k
    visits its shard in an order drawn from (seed, k, e), with learning rate
    learning_rate * decay**e, BATCH_SIZE examples per NumPy call. The parent
    waits for every worker at the end of each epoch and evaluates the loss
    while they wait (that time is left out of result.times). workers=1 runs the
    same code in one worker process: the serial baseline, equal to serial_sgd.

    start_method: "fork" where the platform has it, else "spawn"; both work.
    target_loss stops after the first epoch at or below it; timeout (seconds,
    for the whole run) turns a stuck worker into a RuntimeError. The
    shared-memory segments' names are removed from /dev/shm as soon as every
    worker has attached, so no way of ending (kill -9 of this process included)
    leaves them behind; a worker whose parent dies exits within 0.1 s.
    _fault=(worker, epoch, "raise" | "exit" | "hang") makes a worker fail, for
    the tests.

    >>> p = sparse_logistic_problem(1000, 200, nnz_per_row=5, seed=0)
    >>> r = train(p, workers=1, epochs=2)
    >>> np.array_equal(r.weights, serial_sgd(p, epochs=2).weights)
    True
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    _check(problem, epochs, learning_rate, l2, decay, batch_size)
    if workers > problem.n_samples:
        raise ValueError(f"workers={workers} exceeds the {problem.n_samples} examples: "
                         "every worker needs a shard")
    start_method = start_method or _default_start_method()
    if start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(f"start_method {start_method!r} is not available here; choose from "
                         f"{multiprocessing.get_all_start_methods()}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be None or > 0 seconds, got {timeout!r}")
    ctx = multiprocessing.get_context(start_method)
    scale = _l2_scale(problem) if l2 else None
    n = problem.n_samples
    shards = [(k * n // workers, (k + 1) * n // workers) for k in range(workers)]

    segments: list[shared_memory.SharedMemory] = []
    team: _Workers | None = None
    w: np.ndarray | None = None
    failed = True
    try:
        seg_w = _new_segment(problem.n_features * 8)
        segments.append(seg_w)
        size, layout, arrays = _pack(problem, scale)
        seg_d = _new_segment(size)
        segments.append(seg_d)
        for key, (offset, dtype, length) in layout.items():
            np.ndarray((length,), dtype=dtype, buffer=seg_d.buf, offset=offset)[:] = arrays[key]
        w = np.ndarray((problem.n_features,), dtype=np.float64, buffer=seg_w.buf)
        w[:] = 0.0

        t0 = time.perf_counter()
        team = _Workers(timeout)
        team.start(ctx, workers, lambda k: (os.getpid(), seg_w.name, seg_d.name, layout,
                                            problem.n_features, shards[k], seed, l2,
                                            batch_size, _fault))
        team.collect("while starting")
        # Every worker has mapped both segments: their names can go now, so that no
        # way of dying (kill -9 of this process included) leaves them in /dev/shm.
        _unlink(segments)
        startup = time.perf_counter() - t0

        losses, times, elapsed, updates = [logistic_loss(problem, w, l2)], [0.0], 0.0, 0
        for epoch in range(epochs):
            t0 = time.perf_counter()
            team.send_all(("epoch", epoch, learning_rate * decay ** epoch))
            replies = team.collect(f"in epoch {epoch}")
            elapsed += time.perf_counter() - t0
            updates += sum(r[3] for r in replies)
            losses.append(logistic_loss(problem, w, l2))
            times.append(elapsed)
            if target_loss is not None and losses[-1] <= target_loss:
                break
        weights = w.copy()
        failed = False
    finally:
        w = None  # the segment cannot close while a view of it is alive
        if team is not None:
            team.stop(_JOIN_TIMEOUT_S if not failed else 1.0)
        for seg in segments:
            _close(seg)
        _unlink(segments)
    return HogwildResult(weights, losses, times, updates, workers, "hogwild", start_method,
                         startup)
