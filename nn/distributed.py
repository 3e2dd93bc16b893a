"""Synchronous data-parallel training over MPI, the pattern of Horovod and DDP.

Launch the same script on every rank (`mpiexec -n 4 python train.py`; as root add
`--allow-run-as-root`) and compile with `distribute="mpi"`:

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], distribute="mpi")
    model.fit(x, y, batch_size=128, epochs=5)     # every rank passes the same data

What happens:
- At the start of fit the ranks compare a hash of their model config, parameter
  shapes, data shapes and training settings; a difference stops every rank with
  an error naming it. Rank 0 then broadcasts the parameters and the optimizer
  state, so every replica starts identical.
- Each global batch of B examples (the same shuffled order on every rank) is cut
  into one contiguous shard per rank, sizes differing by at most one. A rank's
  gradient of its shard's mean loss is weighted by shard/B, and the weighted
  gradients are summed with a few large Allreduce calls over contiguous
  buckets. That sum is exactly the gradient of the mean loss over the global
  batch, so N ranks reach the weights of one process with batch B (to float
  rounding), uneven shards included. Every rank applies the same update.
- Weight penalties are added once (their share is weighted too), dropout masks
  come from (seed, rank, step), BatchNormalization's moving statistics are
  averaged over the ranks after each step (batch statistics stay per shard, as
  in DDP without SyncBatchNorm).
- Training metrics are computed on the whole global batch (outputs and labels
  are gathered: a few KB a step), validation and `evaluate` split the data over
  the ranks and reduce loss sums and gathered outputs, so every rank reports
  the same numbers and callbacks decide the same way.
- Only rank 0 shows the progress bar and writes files (checkpoints, logs,
  `model.save`).
- Ranks on the same machine share its cores: each uses its part of them, for
  the BLAS and the conv backend's threads alike (one each when mpiexec has
  bound every rank to a core).
- Nothing waits unboundedly: every collective (the set-up checks, the weight
  broadcast, the gradient and metric reductions, predict's and evaluate's
  gathers) is started nonblocking and polled against `timeout` seconds
  (default 300, or $ADKIT_MPI_TIMEOUT). A rank that misses the deadline raises
  CollectiveTimeout naming the collective and the rank(s) that never joined it;
  inside fit, as for any error, every rank is then aborted (MPI_Abort) with that
  message. A rank that dies makes Open MPI end the job. docs/distributed.md
  states the guarantees and what was measured.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from typing import Any

import numpy as np

from .mpi import DEFAULT_TIMEOUT_S, BoundedComm, CollectiveTimeout, comm_world, threads_per_rank

__all__ = ["DataParallel", "CollectiveTimeout", "DEFAULT_TIMEOUT_S", "get", "describe"]

DEFAULT_BUCKET_BYTES = 25 << 20   # as PyTorch DDP


class DataParallel:
    """The MPI communicator and the bookkeeping of one data-parallel fit."""

    def __init__(self, comm: Any = None, bucket_bytes: int = DEFAULT_BUCKET_BYTES,
                 timeout: float | None = None) -> None:
        """comm: an MPI communicator (COMM_WORLD by default). timeout: the longest any
        collective waits for the other ranks, in seconds (default $ADKIT_MPI_TIMEOUT,
        else 300); past it, CollectiveTimeout names the silent rank(s)."""
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, (int, np.integer)) \
                or bucket_bytes <= 0:
            raise ValueError(f"bucket_bytes must be a positive int, got {bucket_bytes!r}")
        self.comm = comm if comm is not None else comm_world()
        self.link = BoundedComm(self.comm, timeout)
        self.rank, self.size = self.link.rank, self.link.size
        self.bucket_bytes, self.timeout = int(bucket_bytes), self.link.timeout
        self.threads = threads_per_rank(self.link)   # this rank's share of its machine
        self.bytes_reduced = 0      # payload bytes handed to Allreduce so far
        self.steps = 0
        self._flat: np.ndarray | None = None
        self._buckets: list[slice] = []
        self._views: list[np.ndarray] = []
        self.context = "start"

    @property
    def is_chief(self) -> bool:
        """True on rank 0, the rank that prints and writes files."""
        return self.rank == 0

    @property
    def comm_seconds(self) -> float:
        """Wall time spent inside collectives so far (waiting for slower ranks included)."""
        return self.link.seconds

    # --- start of fit ------------------------------------------------------------------
    def setup(self, model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        """Check that every rank runs the same training, then copy rank 0's weights
        and optimizer state to all."""
        self.context = "starting fit"
        mine = describe(model, x, y, batch_size)
        everyone = self.link.allgather_json({k: _digest(v) for k, v in mine.items()},
                                            self._label("comparing the training set-ups"))
        differing = sorted({k for other in everyone for k in mine
                            if other.get(k) != everyone[0].get(k)})
        if differing:
            values = self.link.allgather_json({k: mine[k] for k in differing},
                                              self._label("exchanging the differing settings"))
            lines = [f"  {k}: rank 0 has {_short(values[0][k])}, " + ", ".join(
                f"rank {r} has {_short(v[k])}" for r, v in enumerate(values)
                if r and v[k] != values[0][k]) for k in differing]
            raise ValueError("the ranks were started with different training set-ups; every "
                             "rank must build the same model and pass data of the same shapes:\n"
                             + "\n".join(lines))
        self.context = "starting fit"
        for name, w in model.weight_slots():
            self._collective(lambda w=w: self.comm.Ibcast(w, root=0), f"broadcast of {name}")
        state = model.optimizer.variables()
        for name in sorted(state):
            value = np.array(state[name], copy=True, order="C")  # 0-d stays 0-d
            self._collective(lambda v=value: self.comm.Ibcast(v, root=0),
                             f"broadcast of optimizer state {name}")
            state[name] = value
        if state:
            model.optimizer.set_variables(state)
        self._layout(model._trainable_leaves)

    def _layout(self, leaves: list[np.ndarray]) -> None:
        sizes = [w.size for w in leaves]
        dtype = np.result_type(*leaves) if leaves else np.float32
        self._flat = np.empty(sum(sizes), dtype)
        self._views, self._buckets, start, bucket_start = [], [], 0, 0
        limit = max(1, self.bucket_bytes // self._flat.itemsize)
        for w, n in zip(leaves, sizes):
            self._views.append(self._flat[start:start + n].reshape(w.shape))
            start += n
            if start - bucket_start >= limit:
                self._buckets.append(slice(bucket_start, start))
                bucket_start = start
        if bucket_start < start or not self._buckets:
            self._buckets.append(slice(bucket_start, start))

    # --- each step -----------------------------------------------------------------------
    def shard(self, n: int) -> slice:
        """This rank's contiguous part of a global batch of n examples."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)

    def reduce_gradients(self, grads: list[np.ndarray], weight: float) -> list[np.ndarray]:
        """sum over ranks of weight * grads, in this strategy's flat buffer (views of it)."""
        for view, g in zip(self._views, grads):
            np.multiply(g, weight, out=view)
        self.reduce_buffer(self._flat, self._buckets, "allreduce of the gradients")
        self.steps += 1
        return self._views

    def reduce_buffer(self, flat: np.ndarray, buckets: list[slice] | None = None,
                      what: str = "allreduce") -> None:
        """Sum a flat array over the ranks, in place, one Allreduce per bucket (the
        whole array when none are given)."""
        MPI = self.link.MPI
        for b in buckets or [slice(0, flat.size)]:
            part = flat[b]
            self._collective(lambda p=part: self.comm.Iallreduce(MPI.IN_PLACE, p, op=MPI.SUM),
                             what)
            self.bytes_reduced += part.nbytes

    def reduce_list(self, arrays: list[np.ndarray], weight: float) -> list[np.ndarray]:
        """sum over ranks of weight * arrays (a fresh buffer, not the gradients')."""
        flat = np.concatenate([np.ravel(a) * weight for a in arrays]) if arrays else np.zeros(0)
        self.reduce_buffer(flat, what="allreduce of Hessian-vector products")
        out, start = [], 0
        for a in arrays:
            out.append(flat[start:start + np.size(a)].reshape(np.shape(a)))
            start += np.size(a)
        return out

    def sum(self, values: list[float], what: str = "sum of the loss") -> list[float]:
        """Sum a few floats over the ranks."""
        MPI = self.link.MPI
        buf = np.array(values, np.float64)
        self._collective(lambda: self.comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM), what)
        return buf.tolist()

    def gather_rows(self, a: np.ndarray, what: str = "gather of outputs and labels") -> np.ndarray:
        """Every rank's rows of `a`, concatenated in rank order, on every rank."""
        a = np.ascontiguousarray(a)
        counts = self.link.allgather_ints([a.shape[0]], self._label(f"{what}: row counts"))[:, 0]
        row = int(np.prod(a.shape[1:], dtype=np.int64))
        out = np.empty((int(counts.sum()),) + a.shape[1:], a.dtype)
        self._collective(lambda: self.comm.Iallgatherv(
            a, [out, counts * row, np.concatenate([[0], np.cumsum(counts)[:-1]]) * row,
                _mpi_type(a.dtype)]), what)
        return out

    def average_state(self, state: dict, weight: float) -> None:
        """Replace each array of a {layer: {name: array}} state by its average over the
        ranks, rank r counted with `weight` (its share of the batch; weights sum to 1)."""
        for lname in sorted(state):
            for name in sorted(state[lname]):
                arr = np.asarray(state[lname][name])
                total = (arr * weight).astype(np.float64).reshape(-1)
                self.reduce_buffer(total, what=f"average of {lname}/{name}")
                state[lname][name] = total.reshape(arr.shape).astype(arr.dtype)

    def any(self, flag: bool) -> bool:
        """True on every rank if it is True on one."""
        return self.sum([float(bool(flag))], "agreeing whether to stop")[0] > 0

    # --- failing without hanging ---------------------------------------------------------
    def _collective(self, start: Any, what: str) -> None:
        """Run a nonblocking collective to completion; CollectiveTimeout after `timeout`
        s, naming the collective, what this rank was doing and the silent rank(s)."""
        self.link.collective(start, self._label(what))

    def _label(self, what: str) -> str:
        caller = _caller()
        doing = f"in {caller}()" if caller in ("predict", "evaluate") else f"while {self.context}"
        return f"{what}, {doing}"

    def abort(self, why: str) -> None:
        """Print why and end every rank of the job (MPI_Abort)."""
        print(f"adkit.nn.distributed: rank {self.rank} of {self.size}: {why}. Aborting all "
              "ranks.", file=sys.stderr, flush=True)
        self.comm.Abort(1)

    def fail(self, error: BaseException) -> None:
        """A rank that raises mid-training would leave the others waiting in a
        collective: report it and end the job."""
        if isinstance(error, CollectiveTimeout):   # the message says it all
            self.abort(str(error).split(": ", 1)[-1])
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.abort(f"{type(error).__name__} while {self.context}: {error}\n{trace}")


def describe(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict:
    """What must be equal on every rank for data-parallel training to be sound. Layer
    names are left out: automatic names count the layers a process made before, which
    may differ between ranks without changing the model."""
    return {"model config": json.dumps(_unnamed(model.get_config()), sort_keys=True),
            "parameter shapes": [(n.split("/", 2)[-1], list(w.shape), w.dtype.str)
                                 for n, w in model.weight_slots()],
            "loss": getattr(model.loss, "__name__", repr(model.loss)),
            "optimizer": json.dumps({"class": type(model.optimizer).__name__,
                                     "config": model.optimizer.get_config()}, sort_keys=True,
                                    default=str),
            "x shape": list(x.shape), "y shape": list(y.shape), "batch size": batch_size}


def get(identifier: Any) -> DataParallel | None:
    """None, "mpi" (COMM_WORLD) or a DataParallel instance."""
    if identifier is None or identifier is False:
        return None
    if isinstance(identifier, DataParallel):
        return identifier
    if identifier == "mpi" or identifier is True:
        return DataParallel()
    raise ValueError(f"distribute must be None, 'mpi' or a DataParallel, got {identifier!r}")


def _caller() -> str:
    """The name of the nearest public function outside this module on the call stack:
    tells predict's and evaluate's collectives from training's, whose context model.fit
    sets. Private helpers (evaluate's _evaluate_arrays, ...) are skipped, so the name is
    the call the user made."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_globals.get("__name__") == __name__
                                 or frame.f_code.co_name.startswith("_")):
        frame = frame.f_back
    return frame.f_code.co_name if frame is not None else "?"


def _unnamed(config: Any) -> Any:
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_unnamed(v) for v in config]
    return config


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _mpi_type(dtype: np.dtype) -> Any:
    from mpi4py.util.dtlib import from_numpy_dtype
    return from_numpy_dtype(dtype)
