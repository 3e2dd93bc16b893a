"""The training loop: fit's epochs and batches, evaluate and predict, for any model
that offers the hooks `TrainableModel` lists (Sequential, and a functional Model).

A `Trainer` holds what compile decided about running a model: the strategy (one
process, or MPI data parallel: nn/strategies.py), the placement (host memory or
an OpenCL device: nn/placement.py) and the differentiated training loss. Each
fit call is a `FitRun` (its data and settings), which the epoch loop reads. A
step checks the loss before any update (TerminateOnNaN, on by default) and
applies the update with Ctrl-C held until it is complete, so an interrupted fit
never leaves half-updated weights. With compile's jit_compile ("auto", the
default) a step is one adkit.compile program (nn/compiled_step.py) wherever the
configuration allows; `eager_reason` says why it is not.

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
import sys
import threading
import time
import warnings
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
from .callbacks.base import NO_HOOKS
from .compiled_step import CompiledStep, check_jit_compile
from .compiled_step import refusal as compiled_step_refusal
from .data_adapters import (ArrayBatches, StreamBatches, check_sample_weight, combined_weights,
                            is_batch_source, stream_or_none)
from .metric_masks import makes_masks, output_masks
from .metrics import WeightedMetric, update_compiled
from .outputs import OutputLoss
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
                training: bool = True, sample_weight: Any = None,
                state: dict | None = None) -> tuple[Any, tuple[Any, dict]]:
        """(mean loss + penalties, (what the loss was computed from, new layer state));
        state: the layer state to start from (default: the model's)."""

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

    data: ArrayBatches | StreamBatches   # the training batches (nn/data_adapters.py)
    batch_size: int
    epochs: int
    order_rng: np.random.Generator   # the batch order of each epoch
    callbacks: CallbackList
    nan_guard: TerminateOnNaN
    validation: tuple | StreamBatches | None   # (x, y, sample_weight) arrays, or batches
    verbose: int
    #: where the loop is (BackupAndRestore saves and restores it): the epoch and the
    #: batches of it done, and the order generator's state when that epoch began
    epoch: int = 0
    batch: int = 0
    epoch_order_state: dict | None = None
    skip_batches: int = 0   # batches of the first epoch a resumed fit has done already
    #: Keras's validation_freq (validate every N epochs, or after the epochs listed,
    #: counted from 1) and validation_batch_size (default: max(batch_size, 256))
    validation_freq: Any = 1
    validation_batch_size: int | None = None

    def validates_after(self, epoch: int) -> bool:
        """Whether validation runs after epoch (counted from 0)."""
        if isinstance(self.validation_freq, int):
            return (epoch + 1) % self.validation_freq == 0
        return epoch + 1 in self.validation_freq

    @property
    def steps(self) -> int | None:
        """Batches per epoch (None: until a generator ends)."""
        return self.data.steps


class Trainer:
    """Runs fit, evaluate, predict and train_on_batch for a model (see the module
    docstring). strategy: SingleProcess or distributed.DataParallel; placement:
    HostPlacement or DevicePlacement."""

    def __init__(self, model: TrainableModel, strategy: Any = None,
                 placement: HostPlacement | None = None, jit_compile: bool | str = "auto") -> None:
        self.model = model
        self.strategy = strategy if strategy is not None else SingleProcess()
        self.placement = placement if placement is not None else HostPlacement(model)
        self.distributed = not isinstance(self.strategy, SingleProcess)
        # dropout masks: a single process keeps its (seed, step) stream, ranks add their rank
        self._rank_key = (self.strategy.rank,) if self.distributed else ()
        self._value_and_grad = adkit.value_and_grad(model.loss_fn, has_aux=True)
        #: compile's jit_compile ("auto", True or False)
        self.jit_compile = check_jit_compile(jit_compile)
        self._compiled: CompiledStep | None = None
        self._refusal_warned = False
        #: the fit in progress (callbacks such as BackupAndRestore read where it is)
        self.run: FitRun | None = None

    @property
    def eager_reason(self) -> str | None:
        """Why training steps run eagerly (None: each step is one compiled program, see
        nn/compiled_step.py): jit_compile=False, or what this configuration lacks."""
        if self.jit_compile is False:
            return "compile(jit_compile=False)"
        if self.model.optimizer is None:
            return "the model is not compiled"
        return compiled_step_refusal(self.model, self.distributed,
                                     on_device=self.placement.backend is not None)

    @property
    def compiled_step(self) -> CompiledStep | None:
        """The compiled training step (its `program.stats` count traces and replays), once
        a step has run with one; None while steps run eagerly."""
        return self._compiled

    def _compiled_step(self) -> CompiledStep | None:
        """The compiled step, made on first use; None where steps run eagerly (with
        jit_compile=True, a warning says why, once)."""
        if self._compiled is not None:
            return self._compiled
        reason = self.eager_reason
        if reason is not None:
            if self.jit_compile is True and not self._refusal_warned:
                self._refusal_warned = True
                warnings.warn(f"jit_compile=True, but the training steps run eagerly: {reason}",
                              adkit.CompileWarning, stacklevel=4)
            return None
        self._compiled = CompiledStep(self.model)
        return self._compiled

    @property
    def is_chief(self) -> bool:
        """Whether this process shows progress and writes files."""
        return self.strategy.is_chief

    # --- one step ------------------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                       class_weight: dict | None = None) -> dict:
        """One optimizer step on one batch; returns its logs: the batch loss (weighted as
        fit's) and the compiled metrics on this batch alone (Keras resets them first)."""
        if self.distributed:
            raise ValueError("train_on_batch does not split a batch over MPI ranks; under "
                             "distribute='mpi' train with fit (or compile without distribute)")
        require_targets(y, "train_on_batch")
        x, y = self.model.prepare_data(x, y, "train_on_batch")
        weights = combined_weights(y, sample_weight, class_weight, len(x), "train_on_batch")
        with self.placement.weights(write_back=True):
            loss, out = self._step(x, y, global_size=len(x), sample_weight=weights)
        if not self.model.compiled_metrics:
            return {"loss": loss}
        self._reset_metrics()
        self._update_metrics(y, self._host_outputs(out), weights, x)
        return {"loss": loss, **self._metric_results()}

    def _step(self, x: np.ndarray, y: np.ndarray, global_size: int,
              nan_guard: TerminateOnNaN | None = None, epoch: int = 0,
              batch: int = 0, sample_weight: np.ndarray | None = None) -> tuple[float, Any]:
        """One update from the batch (x, y): this process's shard of a global batch of
        global_size examples. Returns (loss, what the loss was computed from)."""
        model, strategy, placement = self.model, self.strategy, self.placement
        rng = np.random.default_rng((model.seed, model.optimizer.iterations) + self._rank_key)
        compiled = self._compiled_step() if len(x) else None
        if compiled is not None:
            # the program writes the new weights in place (after checking the loss is
            # finite, where TerminateOnNaN watches): Ctrl-C waits until the rest of the
            # step (slots, step count, layer state, constraints) has followed
            with interrupts_deferred():
                with placement.kernels():
                    step = compiled(placement.params, placement.leaves, x, y,
                                    sample_weight, rng, finite_loss=nan_guard is not None)
                if step is not None:
                    loss, out, apply = step
                    if nan_guard is None or not nan_guard.check(epoch, batch, loss):
                        apply()
                        placement.updated()
                        model.apply_constraints()
                    return loss, out
        if len(x):
            with placement.kernels():
                if sample_weight is None:
                    (loss, (out, new_state)), grads = self._value_and_grad(
                        placement.params, *placement.to_backend(x, y), rng)
                else:
                    xd, yd, wd = placement.to_backend(x, y, sample_weight)
                    (loss, (out, new_state)), grads = self._value_and_grad(
                        placement.params, xd, yd, rng, sample_weight=wd)
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
            local = hessian_vector_products(model, x, y, rng, sample_weight) if len(x) \
                else _zero_products
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
    def fit(self, x: Any, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: list | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: Any = 1) -> History:
        """Train for `epochs` passes over the data (Keras's fit); returns a History.

        x and y are arrays, or x is a generator, iterable or Sequence of (x, y) or
        (x, y, sample_weight) batches (nn/data_adapters.py); validation_data likewise."""
        model, strategy = self.model, self.strategy
        batch_size = 32 if batch_size is None else batch_size
        check_positive_int(batch_size, "batch_size")
        check_positive_int(epochs, "epochs")
        for value, name in ((steps_per_epoch, "steps_per_epoch"),
                            (validation_steps, "validation_steps"),
                            (validation_batch_size, "validation_batch_size")):
            if value is not None:
                check_positive_int(value, name)
        _check_validation_freq(validation_freq)
        verbose = resolve_verbose(verbose)
        if stream_or_none(x, y, sample_weight, None, "fit"):
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; with a generator or "
                                 "Sequence pass validation_data instead")
            self._refuse_distributed_streams("fit")
            data: ArrayBatches | StreamBatches = StreamBatches(
                x, steps_per_epoch, model.prepare_data, "fit", shuffle=shuffle,
                class_weight=class_weight)
            validation = self._validation(validation_data, validation_steps)
        else:
            require_targets(y, "fit")
            x, y = model.prepare_data(x, y, "fit")
            weights = combined_weights(y, sample_weight, class_weight, len(x), "fit")
            x, y, weights, validation = self._split_validation(
                x, y, weights, validation_split, validation_data, validation_steps)
            if batch_size < strategy.size:
                raise ValueError(f"batch_size {batch_size} is smaller than the {strategy.size} "
                                 "ranks; each global batch is split over the ranks, so use "
                                 f"batch_size >= {strategy.size}")
            strategy.setup(model, x, y, batch_size)
            data = ArrayBatches(x, y, weights, batch_size, shuffle)
            if steps_per_epoch is not None:
                data.steps = min(data.steps, steps_per_epoch)
        if not strategy.is_chief:
            verbose = 0
        model.history = History()
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"fit: callbacks must be a list of Callback instances, e.g. "
                            f"callbacks=[EarlyStopping()], got {callbacks!r:.80}")
        given = list(callbacks or [])
        nan_guard = next((c for c in given if isinstance(c, TerminateOnNaN)), None)
        if nan_guard is None:
            nan_guard = TerminateOnNaN()
            given.append(nan_guard)
        run = FitRun(data, batch_size, epochs,
                     order_rng=np.random.default_rng((model.seed, 1 << 20)),
                     callbacks=CallbackList(given + [model.history], model,
                                            {"epochs": epochs, "steps": data.steps,
                                             "batch_size": batch_size, "verbose": verbose}),
                     nan_guard=nan_guard, validation=validation, verbose=verbose,
                     epoch=initial_epoch, validation_freq=validation_freq,
                     validation_batch_size=validation_batch_size)
        for c in run.callbacks.callbacks:   # Keras 2's callback.validation_data
            c.validation_data = validation
        model.stop_training = False
        self.run = run
        try:
            run.callbacks.on_train_begin()   # BackupAndRestore may move run.epoch here
            with allocator.tuned_for_training(), self._process_share(), \
                    self.placement.weights(write_back=True):
                self._epochs(run)
        except BaseException as error:
            if strategy.size > 1:
                strategy.fail(error)   # the other ranks would wait for this one forever
            raise
        finally:
            try:
                # Keras's on_train_end gets the last epoch's logs
                run.callbacks.on_train_end({k: v[-1] for k, v in model.history.history.items()})
            finally:
                self.run = None
        return model.history

    def _refuse_distributed_streams(self, what: str) -> None:
        if self.distributed:
            raise ValueError(f"{what}: under distribute='mpi' the data must be arrays (each "
                             "rank takes its rows of every batch); a generator or Sequence "
                             "is not split over the ranks")

    def _validation(self, validation_data: Any, steps: int | None) -> Any:
        """validation_data as (x, y, sample_weight) arrays, checked, or as batches."""
        if validation_data is None:
            return None
        if is_batch_source(validation_data):
            return StreamBatches(validation_data, steps, self.model.prepare_data,
                                 "fit validation_data")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a pair (x_val, y_val), a triple "
                             "(x_val, y_val, sample_weight_val), or a generator or Sequence "
                             "of such batches")
        require_targets(validation_data[1], "fit validation_data")
        xv, yv = self.model.prepare_data(*validation_data[:2], "fit validation_data")
        wv = check_sample_weight(validation_data[2] if len(validation_data) == 3 else None,
                                 len(xv), "fit validation_data")
        return xv, yv, wv

    def _split_validation(self, x: Any, y: Any, weights: np.ndarray | None,
                          validation_split: float, validation_data: Any,
                          validation_steps: int | None) -> tuple:
        """(x, y, weights, validation): the last validation_split of the examples held
        out, or validation_data checked."""
        if not isinstance(validation_split, (int, float, np.integer, np.floating)) or \
                not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be a number in [0, 1), e.g. 0.2, got "
                             f"{validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_split:
            cut = int(len(x) * (1.0 - validation_split))
            if cut == 0 or cut == len(x):
                raise ValueError(f"validation_split={validation_split} leaves an empty training "
                                 f"or validation set of {len(x)} examples")
            held = None if weights is None else weights[cut:]
            return x[:cut], y[:cut], (None if weights is None else weights[:cut]), \
                (x[cut:], y[cut:], held)
        validation = self._validation(validation_data, validation_steps)
        if isinstance(validation, StreamBatches):
            self._refuse_distributed_streams("fit validation_data")
        return x, y, weights, validation

    def _process_share(self) -> Any:
        """Under data parallelism, each rank's share of its machine's cores."""
        threads = self.strategy.threads
        return nullcontext() if threads is None else backend.get_backend().thread_limit(threads)

    def _epochs(self, run: FitRun) -> None:
        model = self.model
        if run.epoch_order_state is not None:   # resumed: the order the epoch began with
            run.order_rng.bit_generator.state = run.epoch_order_state
        while run.epoch < run.epochs:
            epoch = run.epoch
            started = time.perf_counter()
            logs = self._epoch(run, epoch)
            seconds = time.perf_counter() - started
            self.placement.to_host()   # callbacks (checkpoints) read model.params
            run.data.finish_epoch()
            run.epoch, run.batch, run.skip_batches = epoch + 1, 0, 0
            run.callbacks.on_epoch_end(epoch, logs)
            if run.verbose == 2:
                print(f"Epoch {epoch + 1}/{run.epochs} - {seconds:.0f}s - " + format_logs(logs),
                      flush=True)
            model.stop_training = self.strategy.any(model.stop_training)
            if model.stop_training:
                break

    def _epoch(self, run: FitRun, epoch: int) -> dict:
        """One pass over the training data (and the validation data after it): the logs."""
        model, strategy = self.model, self.strategy
        run.epoch_order_state = run.order_rng.bit_generator.state
        run.callbacks.on_epoch_begin(epoch)
        loss_sum, seen = 0.0, 0
        self._reset_metrics()
        bar = tqdm(total=run.steps, initial=run.skip_batches, unit="batch",
                   desc=f"Epoch {epoch + 1}/{run.epochs}", disable=run.verbose != 1,
                   leave=True, dynamic_ncols=True)
        logs: dict[str, float] = {}
        batches = run.data.epoch_batches(run.order_rng, strategy.shard, skip=run.skip_batches)
        try:
            for batch, (xb, yb, wb, n) in enumerate(batches, start=run.skip_batches):
                run.callbacks.on_train_batch_begin(batch)
                if self.distributed:   # DataParallel names its collectives with it
                    strategy.context = f"training epoch {epoch + 1}, batch {batch + 1}"
                loss, out = self._step(xb, yb, n, run.nan_guard, epoch, batch, wb)
                if model.stop_training and not np.isfinite(loss):
                    break
                loss_sum += loss * n
                seen += n
                if model.compiled_metrics:
                    pred = self._host_outputs(out)
                    self._update_metrics(strategy.gather_rows(yb), strategy.gather_rows(pred),
                                         None if wb is None else strategy.gather_rows(wb), xb)
                logs = {"loss": loss_sum / seen, **self._metric_results()}
                run.batch = batch + 1
                run.callbacks.on_train_batch_end(batch, logs)
                if run.verbose == 1:   # the bar shows them; otherwise it is disabled
                    bar.set_postfix_str(format_logs(logs), refresh=False)
                bar.update(1)
                if model.stop_training:
                    break
            if run.validation is not None and run.validates_after(epoch) \
                    and not (model.stop_training and not logs):
                val = self._evaluate_validation(run)
                logs.update({f"val_{k}": v for k, v in val.items()})
                bar.set_postfix_str(format_logs(logs), refresh=False)
        finally:
            batches.close()
            bar.close()
        return logs

    def _evaluate_validation(self, run: FitRun) -> dict:
        """The validation logs; fit's callbacks see it as Keras's fit shows them an
        evaluate: on_test_begin, on_test_batch_begin/end, on_test_end."""
        run.callbacks.on_test_begin()
        if isinstance(run.validation, StreamBatches):
            logs = self._evaluate_batches(run.validation, hooks=run.callbacks)
        else:
            xv, yv, wv = run.validation
            logs = self.evaluate(xv, yv, batch_size=run.validation_batch_size
                                 or max(run.batch_size, 256), verbose=0,
                                 sample_weight=wv, return_dict=True, hooks=run.callbacks)
        run.callbacks.on_test_end(logs)
        return logs

    # --- metrics -------------------------------------------------------------------------
    def _reset_metrics(self) -> None:
        for m in self.model.compiled_metrics:
            m.reset_state()

    def _host_outputs(self, out: Any) -> Any:
        """The model's outputs from a loss_fn result, in host memory (metrics run there)."""
        with self.placement.kernels():
            out = self.model.final_outputs(out)
        return np.asarray(out) if is_duck_array(out) else out

    def _update_metrics(self, y: np.ndarray, pred: Any, sample_weight: np.ndarray | None = None,
                        x: Any = None) -> None:
        """Fold a batch into the metrics; compile's weighted_metrics get the sample weights,
        and the output's Keras mask (from the batch's inputs x) weighs those that take it."""
        masks = self._output_masks(x)
        for m in self.model.compiled_metrics:
            weighted = isinstance(m, (WeightedMetric, OutputLoss))   # an output's loss is too
            mask = None if masks is None else masks[m.index] if hasattr(m, "index") \
                else masks[0] if len(masks) == 1 else None
            update_compiled(m, y, pred, sample_weight if weighted else None, mask)

    def _output_masks(self, x: Any) -> list | None:
        """The Keras mask of each model output for the batch x (None where it has none),
        or None when no output has one."""
        if x is None or not makes_masks(self.model):
            return None
        with self.placement.kernels():
            masks = output_masks(self.model, self.placement.params,
                                 *self.placement.to_backend(x))
        if masks is None:
            return None
        return [None if m is None else self.strategy.gather_rows(m) for m in masks]

    def _batch_metrics(self, hooks: Any) -> dict:
        """The running metric results a batch-end hook gets (none computed without hooks)."""
        return {} if hooks is NO_HOOKS else self._metric_results()

    def _metric_results(self) -> dict:
        keys = self.model.metrics_names[1:]
        return {k: _log_value(m.result()) for k, m in zip(keys, self.model.compiled_metrics)}

    # --- inference -----------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0,
                steps: int | None = None, hooks: Any = NO_HOOKS) -> np.ndarray:
        """The model's outputs for x, computed in batches (inference mode); x may be a
        generator, iterable or Sequence of batches (x alone, or (x, y) tuples). hooks
        (a CallbackList) get on_predict_batch_begin/end."""
        model, strategy, placement = self.model, self.strategy, self.placement
        verbose = resolve_verbose(verbose)
        if is_batch_source(x):
            self._refuse_distributed_streams("predict")
            if steps is not None:
                check_positive_int(steps, "steps")
            stream = StreamBatches(x, steps, model.prepare_data, "predict", needs_y=False)
            outs = []
            with self._process_share(), placement.weights(write_back=False):
                for i, (xb, _, _, _) in enumerate(tqdm(
                        stream.epoch_batches(None, _whole), total=stream.steps,
                        disable=verbose != 1, desc="predict")):
                    hooks.on_predict_batch_begin(i)
                    with placement.kernels():
                        outs.append(np.asarray(model.apply(placement.params,
                                                           *placement.to_backend(xb))[0]))
                    hooks.on_predict_batch_end(i, {"outputs": outs[-1]})
            return np.concatenate(outs) if outs else model.empty_output()
        batch_size = 32 if batch_size is None else batch_size
        x, _ = model.prepare_data(x, None, "predict")
        check_positive_int(batch_size, "batch_size")
        part = x[strategy.shard(len(x))]
        outs = []
        with self._process_share(), placement.weights(write_back=False), placement.kernels():
            for k, i in enumerate(tqdm(range(0, len(part), batch_size),
                                       disable=verbose != 1 or not self.is_chief,
                                       desc="predict")):
                hooks.on_predict_batch_begin(k)
                outs.append(np.asarray(model.apply(
                    placement.params, *placement.to_backend(part[i:i + batch_size]))[0]))
                hooks.on_predict_batch_end(k, {"outputs": outs[-1]})
        out = np.concatenate(outs) if outs else model.empty_output()
        return strategy.gather_rows(out)

    def evaluate(self, x: Any, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = 0, sample_weight: Any = None,
                 class_weight: dict | None = None, steps: int | None = None,
                 return_dict: bool = False, hooks: Any = NO_HOOKS) -> Any:
        """[loss, *metrics] on (x, y) in inference mode (just the loss without metrics),
        averaged over examples, like Keras; x may be a generator, iterable or Sequence
        of (x, y) or (x, y, sample_weight) batches. class_weight (not in Keras's
        evaluate) weighs the examples as fit's does. hooks (a CallbackList) get
        on_test_batch_begin/end with the running results."""
        model = self.model
        verbose = resolve_verbose(verbose)
        if stream_or_none(x, y, sample_weight, class_weight, "evaluate"):
            self._refuse_distributed_streams("evaluate")
            if steps is not None:
                check_positive_int(steps, "steps")
            result = self._evaluate_batches(StreamBatches(
                x, steps, model.prepare_data, "evaluate", class_weight=class_weight),
                verbose, hooks)
        else:
            require_targets(y, "evaluate")
            result = self._evaluate_arrays(x, y, 32 if batch_size is None else batch_size,
                                           verbose, sample_weight, class_weight, hooks)
        if return_dict:
            return result
        return list(result.values()) if model.compiled_metrics else result["loss"]

    def _evaluate_batches(self, stream: StreamBatches, verbose: int = 0,
                          hooks: Any = NO_HOOKS) -> dict:
        """evaluate's logs over one pass of a stream of batches (one process)."""
        model, placement = self.model, self.placement
        self._reset_metrics()
        total, n_all = 0.0, 0
        with self._process_share(), placement.weights(write_back=False):
            for i, (xb, yb, wb, n) in enumerate(tqdm(
                    stream.epoch_batches(None, _whole), total=stream.steps,
                    disable=verbose != 1, desc="evaluate")):
                hooks.on_test_batch_begin(i)
                with placement.kernels():
                    loss, out = self._test_loss(xb, yb, wb)
                total += loss * n
                n_all += n
                if model.compiled_metrics:
                    self._update_metrics(yb, self._host_outputs(out), wb, xb)
                hooks.on_test_batch_end(i, {"loss": total / n_all, **self._batch_metrics(hooks)})
        stream.finish_epoch()
        return {"loss": total / n_all, **self._metric_results()}

    def _test_loss(self, xb: Any, yb: Any, wb: np.ndarray | None) -> tuple[float, Any]:
        """(the batch's loss in inference mode, what it was computed from)."""
        placement = self.placement
        if wb is None:
            loss, (out, _) = self.model.loss_fn(placement.params,
                                                *placement.to_backend(xb, yb), training=False)
        else:
            xd, yd, wd = placement.to_backend(xb, yb, wb)
            loss, (out, _) = self.model.loss_fn(placement.params, xd, yd, training=False,
                                                sample_weight=wd)
        return float(loss), out

    def _evaluate_arrays(self, x: Any, y: Any, batch_size: int, verbose: int,
                         sample_weight: Any, class_weight: dict | None,
                         hooks: Any = NO_HOOKS) -> dict:
        """evaluate's logs over arrays; under MPI each process takes its share."""
        model, strategy, placement = self.model, self.strategy, self.placement
        x, y = model.prepare_data(x, y, "evaluate")
        check_positive_int(batch_size, "batch_size")
        weights = combined_weights(y, sample_weight, class_weight, len(x), "evaluate")
        self._reset_metrics()
        n_all = len(x)
        mine = strategy.shard(n_all)   # each process its share; sums and outputs combined
        x, y = x[mine], y[mine]
        weights = None if weights is None else weights[mine]
        # several processes gather their outputs once, at the end, for the metrics
        gathered: tuple[list, list, list] | None = ([], [], []) if strategy.size > 1 else None
        total = 0.0
        with self._process_share(), placement.weights(write_back=False), placement.kernels():
            for k, i in enumerate(tqdm(range(0, len(x), batch_size),
                                       disable=verbose != 1 or not self.is_chief,
                                       desc="evaluate")):
                hooks.on_test_batch_begin(k)
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                wb = None if weights is None else weights[i:i + batch_size]
                loss, out = self._test_loss(xb, yb, wb)
                total += loss * len(xb)
                if model.compiled_metrics:
                    pred = self._host_outputs(out)
                    if gathered is None:
                        self._update_metrics(yb, pred, wb, xb)
                    else:
                        gathered[0].append(yb)
                        gathered[1].append(pred)
                        gathered[2].append(wb)
                hooks.on_test_batch_end(k, {"loss": total / (i + len(xb)),
                                            **(self._batch_metrics(hooks) if gathered is None
                                               else {})})
        total = strategy.sum([total])[0]
        if gathered is not None and model.compiled_metrics:
            labels = np.concatenate(gathered[0]) if gathered[0] else y[:0]
            preds = np.concatenate(gathered[1]) if gathered[1] else \
                self._host_outputs(model.empty_output())
            w_all = None
            if weights is not None:
                w_all = strategy.gather_rows(np.concatenate(gathered[2]) if gathered[2]
                                             else weights[:0])
            self._update_metrics(strategy.gather_rows(labels), strategy.gather_rows(preds),
                                 w_all)
        return {"loss": total / n_all, **self._metric_results()}


def _whole(n: int) -> slice:
    """A single process's share of a batch: all of it."""
    return slice(0, n)


def resolve_verbose(verbose: int | str) -> int:
    """fit's verbose as 0 (silent), 1 (a progress bar) or 2 (one line per epoch);
    "auto" is 1 when the progress bar's stream (stderr, where tqdm writes) is a
    terminal and 2 otherwise, so logs get no carriage-return redraws (Keras's "auto")."""
    if isinstance(verbose, str) and verbose == "auto":
        stream = sys.stderr
        return 1 if stream is not None and hasattr(stream, "isatty") and stream.isatty() else 2
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def hessian_vector_products(model: TrainableModel, x: np.ndarray, y: np.ndarray,
                            rng: np.random.Generator,
                            sample_weight: np.ndarray | None = None) -> Callable[[list], list]:
    """vectors -> [H @ v] for the Hessian of the batch's training loss with respect to the
    trainable parameters, at their current values, with the step's dropout mask: what
    curvature-aware optimizers (ESGD, `needs_hvp`) ask for. Built on adkit.hvp."""
    leaves, treedef = tree_flatten(model.trainable_part(model.params))
    seeds = rng.bit_generator.seed_seq

    def loss_only(trainable: dict) -> Any:
        params = {**model.params, **trainable}
        if sample_weight is None:
            return model.loss_fn(params, x, y, np.random.default_rng(seeds))[0]
        return model.loss_fn(params, x, y, np.random.default_rng(seeds),
                             sample_weight=sample_weight)[0]

    def hvp(vectors: list) -> list:
        primal = tree_unflatten(treedef, leaves)
        tangent = tree_unflatten(treedef, list(vectors))
        return tree_flatten(adkit.hvp(loss_only, (primal,), (tangent,)))[0]
    return hvp


def _zero_products(vectors: list) -> list:
    """An empty shard's share of the Hessian-vector products."""
    return [np.zeros_like(v) for v in vectors]


def _check_validation_freq(value: Any) -> None:
    """Keras's validation_freq: a positive int, or a collection of positive epoch numbers."""
    if isinstance(value, bool) or not (
            isinstance(value, int) and value > 0 or
            isinstance(value, (list, tuple, set, range)) and all(
                isinstance(e, int) and not isinstance(e, bool) and e > 0 for e in value)):
        raise ValueError(f"fit: validation_freq must be a positive int (validate every N "
                         f"epochs) or a list of epoch numbers counted from 1, got {value!r}")


def require_targets(y: Any, what: str) -> None:
    """ValueError when array data comes without its targets (y), before it fails deep
    inside the loss."""
    if y is None:
        raise ValueError(f"{what}: y (the targets) is missing; pass them as {what}(x, y), or "
                         "pass x as a generator, iterable or Sequence of (x, y) batches")


def check_positive_int(value: Any, name: str) -> None:
    """ValueError naming `name` unless value is a positive int (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _log_value(result: Any) -> float | np.ndarray:
    """A metric's result as the logs hold it: a float, or an array for a metric with one
    value per class or threshold (F1Score(average=None), Precision(thresholds=[...]))."""
    values = np.asarray(result, dtype=np.float64)
    return float(values) if values.ndim == 0 else values


def format_logs(logs: dict) -> str:
    """"loss: 0.1234 - accuracy: 0.9500", the logs as the progress bar shows them."""
    return " - ".join(f"{k}: {v:.4f}" if np.ndim(v) == 0 else
                      f"{k}: {np.array2string(np.asarray(v), precision=4)}"
                      for k, v in logs.items())


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
