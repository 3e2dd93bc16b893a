"""Downpour SGD over MPI: one parameter server, asynchronous model replicas.

Rank 0 is the parameter server. It holds the authoritative parameters as one
flat vector and an Adagrad optimizer, and answers whichever worker speaks
first: a PUSH (an accrued gradient) is applied the moment it arrives, a FETCH
is answered with the current parameters, a DONE counts a worker out. Ranks
1..N-1 are model replicas, each on its own disjoint shard of the training
data. A replica computes minibatch gradients on its local copy of the
parameters, takes a plain SGD step on that copy, adds the gradient to an
accrued sum, pushes the sum every ``n_push`` steps (a nonblocking send: the
replica computes on while it travels) and fetches the server's parameters
every ``n_fetch`` steps (a blocking round trip). No replica ever waits for
another, so the gradients the server applies were computed on parameters a few
updates old; Downpour accepts that staleness in exchange for never
synchronising (Dean et al. 2012, "Large Scale Distributed Deep Networks"; the
textbook's SGD chapter). Here a replica is one process: the model-parallel
split of a replica over several machines, the other half of Downpour, is not
done, nor is the server sharded.

Arrays travel with mpi4py's buffer calls (Send/Recv of NumPy memory, never
pickled). Every rank calls ``train`` with the same model and data; at the end
the server's parameters are broadcast, so every rank's model ends identical,
and every rank returns the same DownpourHistory (the server's record).

Nothing waits unboundedly: every receive, send and collective is polled
against ``timeout`` seconds (default 300, or $ADKIT_MPI_TIMEOUT). The server
gives up on a worker it has not heard from for that long, a worker on a server
that does not answer it; either raises CollectiveTimeout naming the silent rank
and what it was last doing, and the job is aborted (MPI_Abort) with that
message, so a stopped process never hangs the others.

Launch with ``mpiexec -n 3 python script.py`` (two workers; as root add
``--allow-run-as-root``, and ``--oversubscribe`` for more ranks than cores):

>>> from adkit.nn import downpour, zoo                           # doctest: +SKIP
>>> model = zoo.mlp(); model.compile(loss="sparse_categorical_crossentropy")  # doctest: +SKIP
>>> history = downpour.train(model, x, y, n_push=2, n_fetch=4)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import adkit
from adkit.pytree import tree_flatten, tree_unflatten

from . import backend
from .mpi import BoundedComm, CollectiveTimeout, check_timeout, require_mpi, threads_per_rank
from .optimizers import Adagrad

__all__ = ["train", "DownpourHistory"]

SERVER = 0
PUSH, FETCH, DONE, PARAMS = 11, 12, 13, 14  # message tags
_TAIL = 3        # a push carries [gradient..., sum of batch losses * sizes, examples, steps]
_IN_FLIGHT = 2   # pushes a worker lets travel at once before it waits for the oldest


@dataclass
class DownpourHistory:
    """The learning curve the server recorded, one entry per push and per validation.

    ``loss[i]`` is the mean training loss the pushing worker saw over the steps in
    push i (on its local, possibly stale, parameters); ``epoch[i]`` is how much
    data all workers together had consumed by then, in epochs. ``val`` maps
    "loss" and each compiled metric to values measured by the server at
    ``val_epoch`` (before the first push, every ``validate_every`` epochs, and at
    the end).
    """

    n_workers: int
    n_push: int
    n_fetch: int
    learning_rate: float
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    worker: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    val_epoch: list[float] = field(default_factory=list)
    val_seconds: list[float] = field(default_factory=list)
    val: dict[str, list[float]] = field(default_factory=dict)
    fetches: int = 0
    total_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, ready for json.dump."""
        return asdict(self)


class _Layout:
    """Where each trainable array sits in one flat vector; views in, copies out."""

    def __init__(self, model: Any) -> None:
        self.names = [layer.name for layer in model.layers if layer.trainable]
        leaves, self.treedef = tree_flatten({n: model.params[n] for n in self.names})
        if not leaves:
            raise ValueError("Downpour SGD: the model has no trainable parameters")
        self.shapes = [np.shape(leaf) for leaf in leaves]
        self.offsets = np.cumsum([0] + [math.prod(s) for s in self.shapes]).tolist()
        self.size = self.offsets[-1]
        self.dtype = np.result_type(*leaves)

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        bounds = zip(self.offsets, self.offsets[1:], self.shapes)
        return [flat[a:b].reshape(shape) for a, b, shape in bounds]

    def params(self, flat: np.ndarray, model: Any) -> dict:
        """The model's params pytree with every trainable array a view into flat."""
        return {**model.params, **tree_unflatten(self.treedef, self.views(flat))}

    def leaves(self, tree: dict) -> list:
        return tree_flatten({n: tree[n] for n in self.names})[0]

    def gather(self, model: Any) -> np.ndarray:
        flat = np.empty(self.size, self.dtype)
        for view, leaf in zip(self.views(flat), self.leaves(model.params)):
            view[...] = leaf
        return flat

    def scatter(self, flat: np.ndarray, model: Any) -> None:
        """Copy flat into the model's own arrays (the model keeps its objects)."""
        for leaf, view in zip(self.leaves(model.params), self.views(flat)):
            np.copyto(leaf, view, casting="same_kind")


def train(model: Any, x: Any, y: Any, *, batch_size: int = 128, epochs: int = 1,
          n_push: int = 1, n_fetch: int = 1, learning_rate: float = 0.01, seed: int = 0,
          comm: Any = None, validation_data: tuple | None = None, verbose: int = 1,
          local_learning_rate: float | None = None,
          validate_every: float = 1.0, timeout: float | None = None) -> DownpourHistory:
    """Train a compiled model with Downpour SGD; call it on every rank, same arguments.

    Only the model's loss (and metrics, for validation) is used from ``compile``:
    the server steps with ``Adagrad(learning_rate)``, and each worker's local
    steps between fetches are plain SGD with ``local_learning_rate`` (default:
    ``learning_rate``; 0 turns them off). Each worker makes ``epochs`` passes
    over its shard. Needs an MPI launch with at least 2 ranks.

    ``timeout`` (seconds; default $ADKIT_MPI_TIMEOUT, else 300) bounds every wait:
    the server's for a word from each worker, a worker's for the server's answer,
    the collectives at the start and end. It must exceed the time a worker takes
    between two messages (min(n_push, n_fetch) steps) and the server's
    validation, during which it answers no one.

    >>> h = train(model, x, y, n_push=2, n_fetch=4, validation_data=(xv, yv))  # doctest: +SKIP
    >>> h.val["loss"][-1] < h.val["loss"][0]                                   # doctest: +SKIP
    True
    """
    MPI = require_mpi("Downpour SGD (adkit.nn.downpour)")
    comm = MPI.COMM_WORLD if comm is None else comm
    n_workers = comm.Get_size() - 1
    if n_workers < 1:
        raise RuntimeError(
            f"Downpour SGD needs at least 2 MPI processes (rank 0 serves the parameters, the "
            f"others train), but this communicator has {comm.Get_size()}. Launch with e.g. "
            f"mpiexec -n 3 python script.py (as root add --allow-run-as-root).")
    for name, value in (("batch_size", batch_size), ("epochs", epochs), ("n_push", n_push),
                        ("n_fetch", n_fetch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"downpour.train: {name} must be a positive int, got {value!r}")
    timeout = None if timeout is None else check_timeout(timeout, "downpour.train: timeout")
    if not (isinstance(validate_every, (int, float)) and validate_every > 0):
        raise ValueError(f"downpour.train: validate_every must be a number of epochs > 0, "
                         f"got {validate_every!r}")
    if getattr(model, "loss", None) is None:
        raise ValueError("downpour.train: compile the model first, e.g. model.compile("
                         "optimizer='adagrad', loss='sparse_categorical_crossentropy', "
                         "metrics=['accuracy']); Downpour uses its loss and metrics, and "
                         "Adagrad on the server in place of its optimizer")
    local_lr = learning_rate if local_learning_rate is None else local_learning_rate
    Adagrad(learning_rate)  # checks learning_rate on every rank, before any rank diverges
    if not (isinstance(local_lr, (int, float)) and math.isfinite(local_lr) and local_lr >= 0):
        raise ValueError(f"downpour.train: local_learning_rate must be a float >= 0, got "
                         f"{local_learning_rate!r}")
    # The model's own checks and casts, as fit makes them (and the build, if needed).
    x, y = model._prepare(x, y, "downpour.train")
    if validation_data is not None:
        validation_data = model._prepare(*validation_data, "downpour.train validation_data")
    if len(x) < n_workers:
        raise ValueError(f"downpour.train: {len(x)} training examples cannot be shared "
                         f"among {n_workers} workers")
    layout = _Layout(model)
    link = BoundedComm(comm, timeout, describe_rank=_role)
    # The one collective before the asynchronous part: every rank must agree on the
    # problem, or the buffers the server and workers exchange would not match.
    seen = [tuple(v) for v in link.allgather_json(
        [len(x), layout.size, str(layout.dtype)], "agreeing on the problem's size")]
    if len(set(seen)) != 1:
        raise ValueError(f"downpour.train: the ranks disagree on (examples, parameters, dtype): "
                         f"{seen}; every rank must call train with the same model and data")
    shards = np.array_split(np.random.default_rng(seed).permutation(len(x)), n_workers)
    plan = _Plan(batch_size, epochs, n_push, n_fetch, float(learning_rate), float(local_lr),
                 seed, float(validate_every), verbose)
    rank = comm.Get_rank()
    flat = np.empty(layout.size, layout.dtype)
    try:
        # ranks sharing a machine share its cores: each takes its part of them
        with backend.get_backend().thread_limit(threads_per_rank(link)):
            if rank == SERVER:
                history = _serve(link, model, layout, flat, x, shards, validation_data, plan)
            else:
                _work(link, model, layout, flat, x, y, shards[rank - 1], plan)
        # A worker that finished waits here for the slowest; the server, which
        # watches every worker with `timeout`, speaks first if one is silent.
        link.collective(lambda: comm.Ibcast(flat, root=SERVER),
                        "receiving the final parameters", timeout=2 * link.timeout)
        layout.scatter(flat, model)
        _average_state(link, model, n_workers)
        record = link.bcast_bytes(json.dumps(history.to_dict()).encode()
                                  if rank == SERVER else None, SERVER, "receiving the history")
    except Exception as error:
        # The others would wait for this rank forever; end the job and say why.
        if isinstance(error, CollectiveTimeout):
            print(f"downpour.train: {error}; aborting all ranks", file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
            print(f"downpour.train: {_role(rank)} failed (above); aborting all ranks",
                  file=sys.stderr, flush=True)
        comm.Abort(1)
    return DownpourHistory(**json.loads(record))


def _role(rank: int) -> str:
    return f"rank {rank} (the parameter server)" if rank == SERVER else \
        f"rank {rank} (a worker)"


@dataclass
class _Plan:
    batch_size: int
    epochs: int
    n_push: int
    n_fetch: int
    learning_rate: float
    local_learning_rate: float
    seed: int
    validate_every: float
    verbose: int


def _serve(link: BoundedComm, model: Any, layout: _Layout, flat: np.ndarray, x: np.ndarray,
           shards: list, validation_data: tuple | None, plan: _Plan) -> DownpourHistory:
    """The parameter server's loop; returns its record. flat ends as the final params."""
    comm, MPI = link.comm, link.MPI
    n_workers = len(shards)
    flat[...] = layout.gather(model)
    weights = layout.views(flat)
    incoming = np.empty(layout.size + _TAIL, layout.dtype)
    grads = layout.views(incoming[:layout.size])
    token = np.zeros(1, np.int64)
    optimizer = Adagrad(plan.learning_rate)
    history = DownpourHistory(n_workers, plan.n_push, plan.n_fetch, plan.learning_rate)
    total_steps = plan.epochs * sum(-(-len(s) // plan.batch_size) for s in shards)
    bar = tqdm(total=total_steps, desc=f"Downpour ({n_workers} workers)", unit="step",
               disable=plan.verbose != 1, dynamic_ncols=True)
    started = time.perf_counter()
    examples, next_validation = 0, 0.0

    def validate() -> None:
        if validation_data is None:
            return
        layout.scatter(flat, model)
        result = model.evaluate(*validation_data, batch_size=max(plan.batch_size, 256),
                                return_dict=True)
        history.val_epoch.append(examples / len(x))
        history.val_seconds.append(time.perf_counter() - started)
        for k, v in result.items():
            history.val.setdefault(k, []).append(float(v))
        bar.set_postfix_str(f"val_loss: {result['loss']:.4f}", refresh=False)

    status, nap = MPI.Status(), 0.0
    watch = _Silence(link, n_workers)
    try:
        while watch.working:
            if examples / len(x) >= next_validation:
                validate()
                next_validation += plan.validate_every
                watch.excuse()   # no worker could reach the server meanwhile
            watch.check()   # every turn: a busy worker must not hide a silent one
            # Poll rather than block: a blocking probe spins a core that the
            # workers sharing this machine need for their gradients.
            if not comm.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, status):
                nap = min(2 * nap or 2e-5, 1e-3)
                time.sleep(nap)
                continue
            nap = 0.0
            source, tag = status.Get_source(), status.Get_tag()
            if tag == PUSH:
                link.wait(comm.Irecv(incoming, source=source, tag=PUSH),
                          f"receiving a push from {_role(source)}", peers=[source])
                optimizer.apply_gradients(weights, grads)
                loss_sum, n, steps = (float(v) for v in incoming[layout.size:])
                examples += int(n)
                history.epoch.append(examples / len(x))
                history.loss.append(loss_sum / n)
                history.worker.append(source)
                history.seconds.append(time.perf_counter() - started)
                bar.update(int(steps))
                watch.heard(source, f"a push ({int(steps)} steps, {int(n)} examples)", push=True)
                if plan.verbose == 1 and len(history.loss) % 10 == 0:
                    bar.set_postfix_str(f"loss: {history.loss[-1]:.4f}", refresh=False)
            elif tag == FETCH:
                link.wait(comm.Irecv(token, source=source, tag=FETCH),
                          f"receiving a fetch request from {_role(source)}", peers=[source])
                link.wait(comm.Isend(flat, dest=source, tag=PARAMS),
                          f"sending the parameters to {_role(source)}", peers=[source])
                history.fetches += 1
                watch.heard(source, f"a fetch before its step {int(token[0]) + 1}", push=False)
            elif tag == DONE:
                link.wait(comm.Irecv(token, source=source, tag=DONE),
                          f"receiving the end of {_role(source)}", peers=[source])
                watch.done(source)
            else:
                raise RuntimeError(f"downpour server: unexpected message tag {tag} from rank "
                                   f"{source}; is another library using this communicator?")
        if not history.val_epoch or history.val_epoch[-1] < examples / len(x):
            validate()
    finally:
        bar.close()
    history.total_seconds = time.perf_counter() - started
    if plan.verbose:
        line = (f"Downpour: {n_workers} workers, {len(history.loss)} pushes, {history.fetches} "
                f"fetches, {examples / len(x):.2f} epochs in {history.total_seconds:.1f} s; "
                f"last push loss {history.loss[-1]:.4f}" if history.loss else "no pushes")
        if history.val:
            line += " - " + " - ".join(f"val_{k}: {v[-1]:.4f}" for k, v in history.val.items())
        print(line, flush=True)
    return history


class _Silence:
    """The server's watch on its workers: who has not spoken for `timeout` seconds."""

    def __init__(self, link: BoundedComm, n_workers: int) -> None:
        self.link = link
        now = time.monotonic()
        self.last = {r: now for r in range(1, n_workers + 1)}   # workers still working
        self.said = {r: "nothing yet" for r in self.last}
        self.counts = {r: [0, 0] for r in self.last}              # pushes, fetches

    @property
    def working(self) -> bool:
        return bool(self.last)

    def heard(self, rank: int, what: str, push: bool) -> None:
        self.last[rank] = time.monotonic()
        self.said[rank] = what
        self.counts[rank][0 if push else 1] += 1

    def done(self, rank: int) -> None:
        self.last.pop(rank, None)

    def excuse(self) -> None:
        """The server was busy (validating): start every worker's silence anew."""
        now = time.monotonic()
        self.last = {r: now for r in self.last}

    def check(self) -> None:
        """CollectiveTimeout if a working worker has sent nothing for `timeout` s (a
        message of its still waiting in the queue counts as having spoken)."""
        now = time.monotonic()
        silent = sorted(r for r, t in self.last.items() if now - t > self.link.timeout
                        and not self.link.comm.Iprobe(source=r))
        if not silent:
            return
        about = "; ".join(f"{_role(r)} last sent {self.said[r]} ({self.counts[r][0]} pushes, "
                          f"{self.counts[r][1]} fetches in all), {now - self.last[r]:.1f} s ago"
                          for r in silent)
        self.link.give_up(f"{_role(SERVER)} of {self.link.size}: heard nothing from "
                          f"{', '.join(_role(r) for r in silent)} for over "
                          f"{self.link.timeout:g} s: {about}. Stalled or gone",
                          silent, "waiting for the workers' pushes and fetches")


def _work(link: BoundedComm, model: Any, layout: _Layout, flat: np.ndarray, x: np.ndarray,
          y: np.ndarray, shard: np.ndarray, plan: _Plan) -> None:
    """One model replica's loop over its shard; flat is its local copy of the params."""
    comm, MPI = link.comm, link.MPI
    rank = comm.Get_rank()
    params = layout.params(flat, model)     # views: a fetch into flat updates them
    weights = layout.views(flat)
    step_fn = adkit.value_and_grad(model.loss_fn, has_aux=True)
    token = np.zeros(1, np.int64)
    spare: list[np.ndarray] = []
    in_flight: list[tuple[Any, np.ndarray]] = []

    def fresh() -> np.ndarray:
        buf = spare.pop() if spare else np.empty(layout.size + _TAIL, layout.dtype)
        buf.fill(0)
        return buf

    def push(buf: np.ndarray) -> None:
        # The buffer stays referenced in in_flight until its send completes.
        in_flight.append((comm.Isend(buf, dest=SERVER, tag=PUSH), buf))
        while in_flight and (len(in_flight) > _IN_FLIGHT or in_flight[0][0].Test()):
            request, done = in_flight.pop(0)
            link.wait(request, f"pushing its gradients after step {step}", peers=[SERVER])
            spare.append(done)

    accrued = fresh()
    sums = layout.views(accrued[:layout.size])
    order_rng = np.random.default_rng((plan.seed, rank, 1 << 20))
    step = 0
    for _ in range(plan.epochs):
        order = order_rng.permutation(shard)
        for start in range(0, len(order), plan.batch_size):
            if step % plan.n_fetch == 0:
                token[0] = step
                link.waitall([comm.Isend(token, dest=SERVER, tag=FETCH),
                              comm.Irecv(flat, source=SERVER, tag=PARAMS)],
                             f"fetching the parameters before its step {step + 1}", [SERVER])
            idx = order[start:start + plan.batch_size]
            rng = np.random.default_rng((plan.seed, rank, step))
            (loss, (_, new_state)), grads = step_fn(params, x[idx], y[idx], rng)
            for lname, s in new_state.items():
                model.state[lname] = s
            for total, w, g in zip(sums, weights, layout.leaves(grads)):
                total += g
                if plan.local_learning_rate:
                    w -= plan.local_learning_rate * np.asarray(g, w.dtype)
            accrued[layout.size:] += (float(loss) * len(idx), len(idx), 1)
            step += 1
            if step % plan.n_push == 0:
                push(accrued)
                accrued = fresh()
                sums = layout.views(accrued[:layout.size])
    if accrued[-1] > 0:
        push(accrued)
    link.waitall([request for request, _ in in_flight], "sending its last pushes", [SERVER])
    link.wait(comm.Isend(token, dest=SERVER, tag=DONE), "saying it is done", [SERVER])


def _average_state(link: BoundedComm, model: Any, n_workers: int) -> None:
    """Layer state (BatchNorm's moving statistics) is local to each worker; the
    final model gets the workers' mean, so every rank ends with the same weights."""
    slots = [w for name, w in model.weight_slots() if name.startswith("state/")]
    if not slots:
        return
    mine = np.concatenate([np.ravel(w) for w in slots]).astype(np.float64)
    if link.rank == SERVER:
        mine[...] = 0.0
    total = np.empty_like(mine)
    link.collective(lambda: link.comm.Iallreduce(mine, total, op=link.MPI.SUM),
                    "averaging the layers' state")
    total /= n_workers
    at = 0
    for w in slots:
        np.copyto(w, total[at:at + w.size].reshape(w.shape), casting="unsafe")
        at += w.size
