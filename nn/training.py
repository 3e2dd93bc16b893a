"""The training loop: fit's epochs and batches, evaluate and predict, for any model
that offers the hooks `TrainableModel` lists (Sequential, and a functional Model).

A `Trainer` holds what compile decided about running a model: the strategy (one
process, or MPI data parallel: nn/strategies.py), the placement (host memory or
an OpenCL device: nn/placement.py) and the differentiated training loss. Each
fit call is a `FitRun` (its data and settings), which the epoch loop reads. A
step checks the loss before any update (TerminateOnNaN, on by default) and
applies the update with Ctrl-C held until it is complete, so an interrupted fit
never leaves half-updated weights.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import Dense
>>> model = Sequential([Dense(1, input_shape=(2,))], seed=0)
>>> model.compile(optimizer="sgd", loss="mse")
>>> type(model.trainer).__name__, type(model.trainer.strategy).__name__
('Trainer', 'SingleProcess')
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

import numpy as np
from tqdm.auto import tqdm

import adkit
from adkit.extend import is_duck_array
from adkit.pytree import tree_flatten, tree_unflatten

from . import allocator, backend
from .callbacks import CallbackList, History, TerminateOnNaN
from .placement import HostPlacement
from .strategies import SingleProcess


class TrainableModel(Protocol):
    """What the training loop reads and calls on a model."""

    seed: int
    params: dict | None
    state: dict
    layers: list
    optimizer: Any
    compiled_metrics: list
    metrics_names: list[str]
    stop_training: bool
    history: History | None

    def loss_fn(self, params: dict, x: Any, y: Any, rng: np.random.Generator | None = None,
                training: bool = True) -> tuple[Any, tuple[Any, dict]]:
        """(mean loss + penalties, (what the loss was computed from, new layer state))."""

    def apply(self, params: dict, x: Any, *, training: bool = False) -> tuple[Any, dict]:
        """(outputs, new layer state)."""

    def trainable_part(self, tree: dict) -> dict:
        """The entries of a per-layer tree (params, grads) that the optimizer updates."""

    def prepare_data(self, x: Any, y: Any | None, where: str) -> tuple:
        """(x, y) as arrays the model takes, checked; builds the model on first data."""

    def final_outputs(self, out: Any) -> Any:
        """The model's outputs from what loss_fn computed the loss from."""

    def empty_output(self) -> np.ndarray:
        """The outputs of zero examples."""

    def apply_constraints(self) -> None:
        """Project the parameters onto their constraints, after an update."""


@dataclass
class FitRun:
    """One fit call: its training data and settings, as the epoch loop reads them."""

    x: np.ndarray
    y: np.ndarray
    batch_size: int
    epochs: int
    steps: int                       # batches per epoch
    shuffle: bool
    order_rng: np.random.Generator   # the batch order of each epoch
    callbacks: CallbackList
    nan_guard: TerminateOnNaN
    validation_data: tuple | None
    verbose: int


class Trainer:
    """Runs fit, evaluate, predict and train_on_batch for a model (see the module
    docstring). strategy: SingleProcess or distributed.DataParallel; placement:
    HostPlacement or DevicePlacement."""

    def __init__(self, model: TrainableModel, strategy: Any = None,
                 placement: HostPlacement | None = None) -> None:
        self.model = model
        self.strategy = strategy if strategy is not None else SingleProcess()
        self.placement = placement if placement is not None else HostPlacement(model)
        self.distributed = not isinstance(self.strategy, SingleProcess)
        # dropout masks: a single process keeps its (seed, step) stream, ranks add their rank
        self._rank_key = (self.strategy.rank,) if self.distributed else ()
        self._value_and_grad = adkit.value_and_grad(model.loss_fn, has_aux=True)

    @property
    def is_chief(self) -> bool:
        """Whether this process shows progress and writes files."""
        return self.strategy.is_chief

    # --- one step ------------------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any) -> float:
        """One optimizer step on one batch; returns the batch loss."""
        if self.distributed:
            raise ValueError("train_on_batch does not split a batch over MPI ranks; under "
                             "distribute='mpi' train with fit (or compile without distribute)")
        x, y = self.model.prepare_data(x, y, "train_on_batch")
        with self.placement.weights(write_back=True):
            loss, _ = self._step(x, y, global_size=len(x))
        return loss

    def _step(self, x: np.ndarray, y: np.ndarray, global_size: int,
              nan_guard: TerminateOnNaN | None = None, epoch: int = 0,
              batch: int = 0) -> tuple[float, Any]:
        """One update from the batch (x, y): this process's shard of a global batch of
        global_size examples. Returns (loss, what the loss was computed from)."""
        model, strategy, placement = self.model, self.strategy, self.placement
        rng = np.random.default_rng((model.seed, model.optimizer.iterations) + self._rank_key)
        if len(x):
            with placement.kernels():
                (loss, (out, new_state)), grads = self._value_and_grad(
                    placement.params, *placement.to_backend(x, y), rng)
            loss = float(loss)
            grad_leaves = tree_flatten(model.trainable_part(grads))[0]
        else:  # an empty shard (a global batch smaller than the number of ranks)
            loss, out = 0.0, model.empty_output()
            new_state = {name: {k: v.copy() for k, v in s.items()}
                         for name, s in model.state.items()}
            grad_leaves = [np.zeros_like(w) for w in placement.leaves]
        weight = len(x) / global_size
        grad_leaves = strategy.reduce_gradients(grad_leaves, weight)
        loss = strategy.sum([loss * weight])[0]
        if new_state:
            strategy.average_state(new_state, weight)
        hvp = None
        if model.optimizer.needs_hvp:
            local = hessian_vector_products(model, x, y, rng) if len(x) else _zero_products
            hvp = lambda vectors: strategy.reduce_list(local(vectors), weight)  # noqa: E731
        if nan_guard is not None and nan_guard.check(epoch, batch, loss):
            return loss, out
        with interrupts_deferred():
            model.optimizer.apply_gradients(placement.leaves, grad_leaves, hvp=hvp)
            placement.updated()
            model.apply_constraints()
            model.state.update(new_state)
        return loss, out

    # --- fit -----------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, batch_size: int = 32, epochs: int = 1, verbose: int = 1,
            callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: tuple | None = None, shuffle: bool = True,
            initial_epoch: int = 0) -> History:
        """Train for `epochs` passes over (x, y) (Keras's fit); returns a History."""
        model, strategy = self.model, self.strategy
        x, y = model.prepare_data(x, y, "fit")
        check_positive_int(batch_size, "batch_size")
        check_positive_int(epochs, "epochs")
        x, y, validation_data = self._split_validation(x, y, validation_split, validation_data)
        if batch_size < strategy.size:
            raise ValueError(f"batch_size {batch_size} is smaller than the {strategy.size} ranks; "
                             "each global batch is split over the ranks, so use "
                             f"batch_size >= {strategy.size}")
        strategy.setup(model, x, y, batch_size)
        if not strategy.is_chief:
            verbose = 0
        model.history = History()
        given = list(callbacks or [])
        nan_guard = next((c for c in given if isinstance(c, TerminateOnNaN)), None)
        if nan_guard is None:
            nan_guard = TerminateOnNaN()
            given.append(nan_guard)
        steps = -(-len(x) // batch_size)
        run = FitRun(x, y, batch_size, epochs, steps, shuffle,
                     order_rng=np.random.default_rng((model.seed, 1 << 20)),
                     callbacks=CallbackList(given + [model.history], model,
                                            {"epochs": epochs, "steps": steps,
                                             "batch_size": batch_size, "verbose": verbose}),
                     nan_guard=nan_guard, validation_data=validation_data, verbose=verbose)
        model.stop_training = False
        run.callbacks.on_train_begin()
        try:
            with allocator.tuned_for_training(), self._process_share(), \
                    self.placement.weights(write_back=True):
                self._epochs(run, initial_epoch)
        except BaseException as error:
            if strategy.size > 1:
                strategy.fail(error)   # the other ranks would wait for this one forever
            raise
        finally:
            run.callbacks.on_train_end()
        return model.history

    def _split_validation(self, x: np.ndarray, y: np.ndarray, validation_split: float,
                          validation_data: tuple | None) -> tuple:
        """(x, y, validation_data): the last validation_split of (x, y) held out, or
        validation_data checked."""
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_split:
            cut = int(len(x) * (1.0 - validation_split))
            if cut == 0 or cut == len(x):
                raise ValueError(f"validation_split={validation_split} leaves an empty training "
                                 f"or validation set of {len(x)} examples")
            return x[:cut], y[:cut], (x[cut:], y[cut:])
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            validation_data = self.model.prepare_data(*validation_data, "fit validation_data")
        return x, y, validation_data

    def _process_share(self) -> Any:
        """Under data parallelism, each rank's share of its machine's cores."""
        threads = self.strategy.threads
        return nullcontext() if threads is None else backend.get_backend().thread_limit(threads)

    def _epochs(self, run: FitRun, initial_epoch: int) -> None:
        model = self.model
        for epoch in range(initial_epoch, run.epochs):
            logs = self._epoch(run, epoch)
            self.placement.to_host()   # callbacks (checkpoints) read model.params
            run.callbacks.on_epoch_end(epoch, logs)
            if run.verbose == 2:
                print(f"Epoch {epoch + 1}/{run.epochs} - " + format_logs(logs))
            model.stop_training = self.strategy.any(model.stop_training)
            if model.stop_training:
                break

    def _epoch(self, run: FitRun, epoch: int) -> dict:
        """One pass over the training data (and the validation data after it): the logs."""
        model, strategy = self.model, self.strategy
        run.callbacks.on_epoch_begin(epoch)
        order = run.order_rng.permutation(len(run.x)) if run.shuffle else None
        loss_sum, seen = 0.0, 0
        self._reset_metrics()
        started = time.perf_counter()
        bar = tqdm(total=run.steps, desc=f"Epoch {epoch + 1}/{run.epochs}", unit="batch",
                   disable=run.verbose != 1, leave=True, dynamic_ncols=True)
        logs: dict[str, float] = {}
        try:
            for batch in range(run.steps):
                run.callbacks.on_train_batch_begin(batch)
                strategy.context = f"training epoch {epoch + 1}, batch {batch + 1}"
                xb, yb, n = self._batch(run, order, batch)
                loss, out = self._step(xb, yb, n, run.nan_guard, epoch, batch)
                if model.stop_training and not np.isfinite(loss):
                    break
                loss_sum += loss * n
                seen += n
                if model.compiled_metrics:
                    pred = self._host_outputs(out)
                    self._update_metrics(strategy.gather_rows(yb), strategy.gather_rows(pred))
                logs = {"loss": loss_sum / seen, **self._metric_results()}
                run.callbacks.on_train_batch_end(batch, logs)
                bar.set_postfix_str(format_logs(logs), refresh=False)
                bar.update(1)
                if model.stop_training:
                    break
            if run.validation_data is not None and not (model.stop_training and not logs):
                val = self.evaluate(*run.validation_data, batch_size=max(run.batch_size, 256),
                                    verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
                bar.set_postfix_str(format_logs(logs), refresh=False)
            logs["epoch_time"] = time.perf_counter() - started
        finally:
            bar.close()
        return logs

    def _batch(self, run: FitRun, order: np.ndarray | None, batch: int) -> tuple:
        """(x, y, n): this process's part of global batch `batch` (in the epoch's `order`,
        if shuffled) and the global batch's size n."""
        start = batch * run.batch_size
        n = min(start + run.batch_size, len(run.x)) - start
        part = self.strategy.shard(n)
        rows = slice(start + part.start, start + part.stop)
        if order is None:
            return run.x[rows], run.y[rows], n
        return run.x[order[rows]], run.y[order[rows]], n

    # --- metrics -------------------------------------------------------------------------
    def _reset_metrics(self) -> None:
        for m in self.model.compiled_metrics:
            m.reset_state()

    def _host_outputs(self, out: Any) -> Any:
        """The model's outputs from a loss_fn result, in host memory (metrics run there)."""
        with self.placement.kernels():
            out = self.model.final_outputs(out)
        return np.asarray(out) if is_duck_array(out) else out

    def _update_metrics(self, y: np.ndarray, pred: Any) -> None:
        for m in self.model.compiled_metrics:
            m.update_state(y, pred)

    def _metric_results(self) -> dict:
        keys = self.model.metrics_names[1:]
        return {k: float(m.result()) for k, m in zip(keys, self.model.compiled_metrics)}

    # --- inference -----------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """The model's outputs for x, computed in batches (inference mode)."""
        model, strategy, placement = self.model, self.strategy, self.placement
        x, _ = model.prepare_data(x, None, "predict")
        check_positive_int(batch_size, "batch_size")
        part = x[strategy.shard(len(x))]
        with self._process_share(), placement.weights(write_back=False), placement.kernels():
            outs = [np.asarray(model.apply(placement.params,
                                           *placement.to_backend(part[i:i + batch_size]))[0])
                    for i in tqdm(range(0, len(part), batch_size),
                                  disable=verbose != 1 or not self.is_chief, desc="predict")]
        out = np.concatenate(outs) if outs else model.empty_output()
        return strategy.gather_rows(out)

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, verbose: int = 0,
                 return_dict: bool = False) -> Any:
        """[loss, *metrics] on (x, y) in inference mode (just the loss without metrics),
        averaged over examples, like Keras."""
        model, strategy, placement = self.model, self.strategy, self.placement
        x, y = model.prepare_data(x, y, "evaluate")
        check_positive_int(batch_size, "batch_size")
        self._reset_metrics()
        n_all = len(x)
        mine = strategy.shard(n_all)   # each process its share; sums and outputs combined
        x, y = x[mine], y[mine]
        # several processes gather their outputs once, at the end, for the metrics
        gathered: tuple[list, list] | None = ([], []) if strategy.size > 1 else None
        total = 0.0
        with self._process_share(), placement.weights(write_back=False), placement.kernels():
            for i in tqdm(range(0, len(x), batch_size), disable=verbose != 1 or not self.is_chief,
                          desc="evaluate"):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                loss, (out, _) = model.loss_fn(placement.params, *placement.to_backend(xb, yb),
                                               training=False)
                total += float(loss) * len(xb)
                if not model.compiled_metrics:
                    continue
                pred = self._host_outputs(out)
                if gathered is None:
                    self._update_metrics(yb, pred)
                else:
                    gathered[0].append(yb)
                    gathered[1].append(pred)
        total = strategy.sum([total])[0]
        if gathered is not None and model.compiled_metrics:
            labels = np.concatenate(gathered[0]) if gathered[0] else y[:0]
            preds = np.concatenate(gathered[1]) if gathered[1] else \
                self._host_outputs(model.empty_output())
            self._update_metrics(strategy.gather_rows(labels), strategy.gather_rows(preds))
        result = {"loss": total / n_all, **self._metric_results()}
        if return_dict:
            return result
        return list(result.values()) if model.compiled_metrics else result["loss"]


def hessian_vector_products(model: TrainableModel, x: np.ndarray, y: np.ndarray,
                            rng: np.random.Generator) -> Callable[[list], list]:
    """vectors -> [H @ v] for the Hessian of the batch's training loss with respect to the
    trainable parameters, at their current values, with the step's dropout mask: what
    curvature-aware optimizers (ESGD, `needs_hvp`) ask for. Built on adkit.hvp."""
    leaves, treedef = tree_flatten(model.trainable_part(model.params))
    seeds = rng.bit_generator.seed_seq

    def loss_only(trainable: dict) -> Any:
        params = {**model.params, **trainable}
        return model.loss_fn(params, x, y, np.random.default_rng(seeds))[0]

    def hvp(vectors: list) -> list:
        primal = tree_unflatten(treedef, leaves)
        tangent = tree_unflatten(treedef, list(vectors))
        return tree_flatten(adkit.hvp(loss_only, (primal,), (tangent,)))[0]
    return hvp


def _zero_products(vectors: list) -> list:
    """An empty shard's share of the Hessian-vector products."""
    return [np.zeros_like(v) for v in vectors]


def check_positive_int(value: Any, name: str) -> None:
    """ValueError naming `name` unless value is a positive int (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def format_logs(logs: dict) -> str:
    """"loss: 0.1234 - accuracy: 0.9500", the logs as the progress bar shows them."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "epoch_time")


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, so an interrupted fit never leaves a
    half-applied update; the KeyboardInterrupt is raised right after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list = []
    previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt
