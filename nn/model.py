"""Sequential: a stack of layers with Keras's compile / fit / evaluate / predict.

The model is a thin shell over a functional core: `apply(params, x, ...)` is a
pure function of the parameter pytree, and `loss_fn(params, x, y, rng)` is the
training loss that `adkit.value_and_grad` differentiates each step.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

import adkit
from adkit.pytree import tree_flatten, tree_map, tree_unflatten
from adkit.rules.helpers import is_duck_array

from . import allocator, backend
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .layers.base import Context, Layer, Shape, ShapeError, _as_shape
from .layers.core import Embedding, _Activated

#: what compile(device=...) accepts; "opencl" may name its device as adkit.kernels.device
#: does: "opencl:N", "opencl:P:D" or "opencl:<part of the device name>"
DEVICES = ("cpu", "opencl")


class Sequential:
    """Layers applied one after another.

    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)], seed=0)
    >>> model.predict(np.ones((2, 3), np.float32)).shape
    (2, 1)
    """

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None,
                 seed: int | None = None) -> None:
        self.name = name or "sequential"
        self.seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else int(seed)
        self.layers: list[Layer] = []
        self.params: dict[str, dict] | None = None
        self.state: dict[str, dict] = {}
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.optimizer: Any = None
        self.loss: Callable | None = None
        self.compiled_metrics: list = []
        self.stop_training = False
        self.history: callbacks_module.History | None = None
        self._backend: Any = None      # an OpenCL backend when compiled for a device
        self._live: dict | None = None  # the parameters on that device, while in use
        for layer in layers or []:
            self.add(layer)

    # --- building ------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes an adkit.nn.layers layer, got "
                            f"{type(layer).__name__}")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"a layer named {layer.name!r} is already in the model; "
                             "layer names must be unique")
        if self.layers and layer.input_shape is not None:
            raise ValueError(f"only the first layer takes input_shape; layer {layer.name!r} "
                             f"has input_shape={layer.input_shape}")
        self.layers.append(layer)
        self.params = None
        if self.layers[0].input_shape is not None:
            self.build(self.layers[0].input_shape)

    def build(self, input_shape: Shape, weights: tuple[dict, dict] | None = None) -> None:
        """Check every layer's shapes and create parameters (seeded by self.seed), or
        adopt `weights` = (params, state) without initialising any (load_model passes
        the file's arrays, checked against the shapes the layers imply)."""
        if not self.layers:
            raise ValueError("the model has no layers; add some before building it")
        shape = _as_shape(input_shape, self.layers[0].name)
        shapes = [shape]
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            shapes.append(tuple(shape))
        if weights is not None:
            self.params, self.state = weights
        else:
            rng = np.random.default_rng(self.seed)
            self.params, self.state = {}, {}
            for layer, in_shape in zip(self.layers, shapes):
                self.params[layer.name] = layer.init_params(rng, in_shape)
                if layer.has_state:
                    self.state[layer.name] = layer.init_state(in_shape)
        self.input_shape, self.output_shape = shapes[0], shapes[-1]
        self._layer_shapes = shapes
        self._index_parameters()

    def _trainable(self, tree: dict) -> dict:
        """The entries of a per-layer tree (params, grads) that belong to trainable layers."""
        return {l.name: tree[l.name] for l in self.layers if l.trainable}

    def _index_parameters(self) -> None:
        self._trainable_leaves, self._trainable_def = tree_flatten(self._trainable(self.params))

    def _require_built(self, what: str) -> None:
        if self.params is None:
            raise ValueError(f"{what}: the model is not built; give the first layer "
                             "input_shape=..., call model.build(shape), or call fit first")

    # --- the functional core -------------------------------------------------
    def apply(self, params: dict, x: Any, *, training: bool = False,
              rng: np.random.Generator | None = None, state: dict | None = None,
              logits: bool = False) -> tuple[Any, dict]:
        """(output, new_state): a pure function of params, input, rng and the
        training flag. logits=True stops before the last layer's activation."""
        ctx = Context(training=training, rng=rng, state=self.state if state is None else state)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if logits and i == last:
                x = layer.pre_activation(params[layer.name], x, ctx)
            else:
                x = layer.call(params[layer.name], x, ctx)
        return x, ctx.new_state

    def loss_fn(self, params: dict, x: Any, y: Any, rng: np.random.Generator | None = None,
                training: bool = True) -> tuple[Any, tuple[Any, dict]]:
        """(mean loss + weight penalties, (output, new_state)) for one batch."""
        fused = self._fused_loss
        out, new_state = self.apply(params, x, training=training, rng=rng, logits=fused is not None)
        per_example = (fused or self.loss)(y, out)
        loss = np.mean(per_example)
        for layer in self.layers:
            if layer.regularizers:
                loss = loss + layer.penalty(params[layer.name])
        return loss, (out, new_state)

    # --- compile -------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: list | None = None,
                device: str | None = None, distribute: Any = None) -> None:
        """Choose optimizer, loss and metrics (Keras names or objects).

        distribute="mpi" trains data-parallel over the MPI ranks this script was
        launched on (see adkit.nn.distributed)."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'; valid "
                             f"names: {', '.join(list(losses_module.ALL) + list(losses_module.ALIASES))}")
        device = str(device or os.environ.get("ADKIT_DEVICE", "cpu")).strip()
        where = "" if "ADKIT_DEVICE" not in os.environ else \
            f" (from ADKIT_DEVICE={os.environ['ADKIT_DEVICE']!r})"
        if device.lower().split(":")[0] not in DEVICES:
            raise ValueError(f"unknown device {device!r}{where}; use 'cpu' or 'opencl' (or "
                             "'opencl:N', 'opencl:P:D', 'opencl:<part of a device name>')")
        self.optimizer = optimizers_module.get(optimizer)
        self._backend = None if device.lower() == "cpu" else \
            self._device_backend(device, where, distribute)
        self.device = device
        self.loss = losses_module.get(loss)
        loss_name = getattr(self.loss, "__name__", None)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list, e.g. ['accuracy'], got {metrics!r}")
        self._metric_specs = list(metrics or [])
        self.compiled_metrics = [metrics_module.get(m, loss=loss_name) for m in self._metric_specs]
        self._metric_keys = [m if isinstance(m, str) else c.name
                             for m, c in zip(self._metric_specs, self.compiled_metrics)]
        self._step = adkit.value_and_grad(self.loss_fn, has_aux=True)
        self._strategy = None
        if distribute is not None:
            from . import distributed
            self._strategy = distributed.get(distribute)

    def _device_backend(self, device: str, where: str, distribute: Any) -> Any:
        """The OpenCL backend for `device`, after checking that this model can train there."""
        who = f"device {device!r}{where}"
        for layer in self.layers:
            if not layer.runs_on_device:
                raise ValueError(
                    f"{who}: layer {layer.name!r} ({type(layer).__name__}) has no OpenCL "
                    "implementation yet; on an OpenCL device use Dense, Activation, Conv2D, "
                    "MaxPooling2D, AveragePooling2D, Dropout, Flatten and Reshape, or train "
                    "this model on device='cpu'")
            if any(c is not None for c in layer.constraints.values()):
                raise ValueError(f"{who}: layer {layer.name!r} has weight constraints, which "
                                 "run on the host only; drop them or use device='cpu'")
        if distribute is not None:
            raise ValueError(f"{who}: distribute={distribute!r} trains on the CPU of each MPI "
                             "rank; use device='cpu' with it")
        try:
            self.optimizer.require_device_support()
        except NotImplementedError as e:
            raise ValueError(f"{who}: {e}") from None
        from .opencl_backend import OpenCLBackend
        return OpenCLBackend(device)

    @contextmanager
    def _weights_on_device(self, write_back: bool) -> Iterator[None]:
        """Inside the block, the parameters live on the model's device (self._live), if it
        has one; with write_back the host copies (self.params) get their values at the end.
        Nested blocks (evaluate inside fit) use the outer block's copies."""
        if self._backend is None or self._live is not None:
            yield
            return
        self._live = tree_map(self._backend.to_device, self.params)
        self._live_leaves = tree_flatten(self._trainable(self._live))[0]
        self._live_changed = False   # whether an update made the host copies stale
        try:
            yield
        finally:
            if write_back:
                self._weights_to_host()
            self._live = None

    def _weights_to_host(self) -> None:
        """Copy the device parameters into the host ones, in place (counted transfers)."""
        if self._live is not None and self._live_changed:
            for host, dev in zip(tree_flatten(self.params)[0], tree_flatten(self._live)[0]):
                np.copyto(host, np.asarray(dev))
            self._live_changed = False

    def _run_params(self) -> dict:
        return self.params if self._live is None else self._live

    def _to_backend(self, *arrays: np.ndarray) -> tuple:
        """The batch on the model's device (counted transfers), or as it is on the CPU."""
        if self._live is None:
            return arrays
        return tuple(self._backend.to_device(a) for a in arrays)

    @property
    def is_chief(self) -> bool:
        """Whether this process shows progress and writes files (rank 0, or the only one)."""
        strategy = getattr(self, "_strategy", None)
        return strategy is None or strategy.is_chief

    @property
    def _fused_loss(self) -> Callable | None:
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, _Activated):
            return None
        key = (getattr(self.loss, "__name__", None), getattr(last.activation, "__name__", None))
        return losses_module.FUSED.get(key)

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + list(getattr(self, "_metric_keys", []))

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None:
            raise ValueError(f"{what}: compile the model first, e.g. model.compile("
                             "optimizer='adam', loss='categorical_crossentropy')")

    # --- data checks ---------------------------------------------------------
    def _prepare(self, x: Any, y: Any | None, what: str) -> tuple[np.ndarray, np.ndarray | None]:
        x = _as_array(x, "x", what)
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{what}: x has no examples (shape {x.shape})")
        if not np.issubdtype(x.dtype, np.integer) or not isinstance(self.layers[0], Embedding):
            x = x.astype(self.layers[0].dtype, copy=False)
        if self.params is None:
            self.build(x.shape[1:])
        elif not _compatible(x.shape[1:], self.input_shape):
            first = self.layers[0]
            raise ShapeError(f"{what}: layer {first.name!r} ({type(first).__name__}) expects "
                             f"input of shape {tuple(self.input_shape)} per example, but x has "
                             f"shape {x.shape} (per example {x.shape[1:]})")
        if y is None:
            return x, None
        y = _as_array(y, "y", what)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"{what}: x has {x.shape[0]} examples but y has {y.shape[0]}")
        losses_module.check_targets(self.loss, y, self.output_shape)
        if getattr(self.loss, "__name__", "") != "sparse_categorical_crossentropy":
            y = y.astype(self.layers[-1].dtype, copy=False)
        return x, y

    # --- training ------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any) -> float:
        """One optimizer step on one batch; returns the batch loss."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare(x, y, "train_on_batch")
        with self._weights_on_device(write_back=True):
            loss, _ = self._train_step(x, y, epoch=0, batch=0, nan_guard=None)
        return loss

    def _train_step(self, x: np.ndarray, y: np.ndarray, epoch: int, batch: int,
                    nan_guard: callbacks_module.TerminateOnNaN | None,
                    global_size: int | None = None) -> tuple[float, Any]:
        """One update from the batch (x, y); under data parallelism (x, y) is this rank's
        shard of a global batch of global_size examples. Returns (loss, outputs)."""
        dp = self._strategy
        key = (self.seed, self.optimizer.iterations) + (() if dp is None else (dp.rank,))
        rng = np.random.default_rng(key)
        if len(x):
            with self._kernels_scope():
                (loss, (out, new_state)), grads = self._step(self._run_params(),
                                                             *self._to_backend(x, y), rng)
            loss = float(loss)
            grad_leaves = tree_flatten(self._trainable(grads))[0]
        else:  # an empty shard (a global batch smaller than the number of ranks)
            loss, out, new_state = 0.0, self._no_output(), self._state_copy()
            grad_leaves = [np.zeros_like(w) for w in self._trainable_leaves]
        hvp = self._hvp(x, y, rng) if getattr(self.optimizer, "needs_hvp", False) else None
        if dp is not None:
            weight = len(x) / global_size
            grad_leaves = dp.reduce_gradients(grad_leaves, weight)
            loss = dp.sum([loss * weight])[0]
            if new_state:
                dp.average_state(new_state, weight)
            if hvp is not None:
                local_hvp = hvp if len(x) else (lambda vs: [np.zeros_like(v) for v in vs])
                hvp = lambda vectors: dp.reduce_list(local_hvp(vectors), weight)  # noqa: E731
        if nan_guard is not None and nan_guard.check(epoch, batch, loss):
            return loss, out
        with _interrupts_deferred():
            leaves = self._trainable_leaves if self._live is None else self._live_leaves
            self.optimizer.apply_gradients(leaves, grad_leaves, hvp=hvp)
            self._live_changed = self._live is not None
            for layer in self.layers:
                for pname, constraint in layer.constraints.items():
                    if constraint is not None and layer.trainable:
                        constraint(self.params[layer.name][pname])
            for lname, s in new_state.items():
                self.state[lname] = s
        return loss, out

    def _no_output(self) -> np.ndarray:
        """The outputs of zero examples (an empty shard's)."""
        return np.zeros((0,) + tuple(self.output_shape), self.layers[-1].dtype)

    def _state_copy(self) -> dict:
        return {lname: {k: v.copy() for k, v in s.items()} for lname, s in self.state.items()}

    @contextmanager
    def _kernels_scope(self) -> Iterator[None]:
        """The backend's context for a pass over this model: the model's device backend
        made active, or the CPU backend's threading policy."""
        if self._backend is not None:
            with backend.activate(self._backend):
                yield
            return
        heavy = any(layer.batch_parallel for layer in self.layers)
        with backend.get_backend().step_scope(heavy):
            yield

    def _hvp(self, x: np.ndarray, y: np.ndarray, rng: Any) -> Callable:
        def loss_only(trainable: dict) -> Any:
            params = {**self.params, **trainable}
            return self.loss_fn(params, x, y, np.random.default_rng(rng.bit_generator.seed_seq))[0]

        def hvp(vectors: list) -> list:
            primal = tree_unflatten(self._trainable_def, self._trainable_leaves)
            tangent = tree_unflatten(self._trainable_def, list(vectors))
            return tree_flatten(adkit.hvp(loss_only, (primal,), (tangent,)))[0]
        return hvp

    def fit(self, x: Any, y: Any, batch_size: int = 32, epochs: int = 1, verbose: int = 1,
            callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: tuple | None = None, shuffle: bool = True,
            initial_epoch: int = 0) -> callbacks_module.History:
        """Train for `epochs` passes over (x, y); returns a History."""
        self._require_compiled("fit")
        allocator.reuse_freed_memory()
        x, y = self._prepare(x, y, "fit")
        _check_positive_int(batch_size, "batch_size")
        _check_positive_int(epochs, "epochs")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_split:
            cut = int(len(x) * (1.0 - validation_split))
            if cut == 0 or cut == len(x):
                raise ValueError(f"validation_split={validation_split} leaves an empty training "
                                 f"or validation set of {len(x)} examples")
            x, validation_data = x[:cut], (x[cut:], y[cut:])
            y = y[:cut]
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            validation_data = self._prepare(*validation_data, "fit validation_data")

        dp = self._strategy
        if dp is not None:
            if batch_size < dp.size:
                raise ValueError(f"batch_size {batch_size} is smaller than the {dp.size} ranks; "
                                 "each global batch is split over the ranks, so use "
                                 f"batch_size >= {dp.size}")
            dp.setup(self, x, y, batch_size)
            if not dp.is_chief:
                verbose = 0
        self.history = callbacks_module.History()
        cbs = list(callbacks or [])
        nan_guard = next((c for c in cbs if isinstance(c, callbacks_module.TerminateOnNaN)), None)
        if nan_guard is None:
            nan_guard = callbacks_module.TerminateOnNaN()
            cbs.append(nan_guard)
        steps = -(-len(x) // batch_size)
        cb = callbacks_module.CallbackList(
            cbs + [self.history], self,
            {"epochs": epochs, "steps": steps, "batch_size": batch_size, "verbose": verbose})
        self.stop_training = False
        order_rng = np.random.default_rng((self.seed, 1 << 20))
        cb.on_train_begin()
        try:
            with self._rank_threads(), self._weights_on_device(write_back=True):
                self._fit_epochs(x, y, batch_size, initial_epoch, epochs, steps, shuffle,
                                 order_rng, cb, nan_guard, validation_data, verbose)
        except BaseException as error:
            if dp is not None and dp.size > 1:
                dp.fail(error)   # the other ranks would wait for this one forever
            raise
        finally:
            cb.on_train_end()
        return self.history

    def _rank_threads(self) -> Any:
        """Under data parallelism, each rank's share of its machine's cores."""
        dp = getattr(self, "_strategy", None)
        if dp is None:
            return contextlib.nullcontext()
        return backend.get_backend().thread_limit(dp.threads)

    def _fit_epochs(self, x: np.ndarray, y: np.ndarray, batch_size: int, initial_epoch: int,
                    epochs: int, steps: int, shuffle: bool, order_rng: np.random.Generator,
                    cb: Any, nan_guard: Any, validation_data: tuple | None,
                    verbose: int) -> None:
        dp = self._strategy
        for epoch in range(initial_epoch, epochs):
            logs = self._fit_epoch(x, y, batch_size, epoch, epochs, steps, shuffle,
                                   order_rng, cb, nan_guard, validation_data, verbose)
            self._weights_to_host()   # callbacks (checkpoints) read model.params
            cb.on_epoch_end(epoch, logs)
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - " + _format_logs(logs))
            if dp is not None:
                self.stop_training = dp.any(self.stop_training)
            if self.stop_training:
                break

    def _fit_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, epoch: int,
                   epochs: int, steps: int, shuffle: bool, order_rng: np.random.Generator,
                   cb: Any, nan_guard: Any, validation_data: tuple | None,
                   verbose: int) -> dict:
        cb.on_epoch_begin(epoch)
        dp = self._strategy
        order = order_rng.permutation(len(x)) if shuffle else None
        loss_sum, seen = 0.0, 0
        for m in self.compiled_metrics:
            m.reset_state()
        started = time.perf_counter()
        bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=verbose != 1, leave=True, dynamic_ncols=True)
        logs: dict[str, float] = {}
        try:
            for batch in range(steps):
                cb.on_train_batch_begin(batch)
                rows = slice(batch * batch_size, min((batch + 1) * batch_size, len(x)))
                n = rows.stop - rows.start
                if dp is not None:   # this rank's part of the global batch
                    part = dp.shard(n)
                    rows = slice(rows.start + part.start, rows.start + part.stop)
                    dp.context = f"training epoch {epoch + 1}, batch {batch + 1}"
                if order is None:
                    xb, yb = x[rows], y[rows]
                else:
                    xb, yb = x[order[rows]], y[order[rows]]
                loss, out = self._train_step(xb, yb, epoch, batch, nan_guard, global_size=n)
                if self.stop_training and not np.isfinite(loss):
                    break
                loss_sum += loss * n
                seen += n
                if dp is not None and self.compiled_metrics:
                    out, yb = dp.gather_rows(np.asarray(out)), dp.gather_rows(yb)
                self._update_metrics(yb, out, fused=self._fused_loss is not None)
                logs = {"loss": loss_sum / seen, **self._metric_results()}
                cb.on_train_batch_end(batch, logs)
                bar.set_postfix_str(_format_logs(logs), refresh=False)
                bar.update(1)
                if self.stop_training:
                    break
            if validation_data is not None and not (self.stop_training and not logs):
                val = self.evaluate(*validation_data, batch_size=max(batch_size, 256),
                                    verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
                bar.set_postfix_str(_format_logs(logs), refresh=False)
            logs["epoch_time"] = time.perf_counter() - started
        finally:
            bar.close()
        return logs

    def _update_metrics(self, y: np.ndarray, out: Any, fused: bool) -> None:
        if not self.compiled_metrics:
            return
        if fused:
            with self._kernels_scope():
                out = self.layers[-1].activation(out)
        pred = np.asarray(out) if is_duck_array(out) else out   # metrics run on the host
        for m in self.compiled_metrics:
            m.update_state(y, pred)

    def _metric_results(self) -> dict:
        return {k: float(m.result()) for k, m in zip(self._metric_keys, self.compiled_metrics)}

    # --- inference -----------------------------------------------------------
    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """The model's outputs for x, computed in batches (inference mode)."""
        self._require_built("predict")
        x, _ = self._prepare(x, None, "predict")
        _check_positive_int(batch_size, "batch_size")
        dp = getattr(self, "_strategy", None)
        part = x if dp is None else x[dp.shard(len(x))]
        with self._rank_threads(), self._weights_on_device(write_back=False), \
                self._kernels_scope():
            outs = [np.asarray(self.apply(self._run_params(),
                                          *self._to_backend(part[i:i + batch_size]))[0])
                    for i in tqdm(range(0, len(part), batch_size),
                                  disable=verbose != 1 or not self.is_chief, desc="predict")]
        out = np.concatenate(outs) if outs else self._no_output()
        return out if dp is None else dp.gather_rows(out)

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, verbose: int = 0,
                 return_dict: bool = False) -> Any:
        """[loss, *metrics] on (x, y) in inference mode (just the loss without metrics),
        averaged over examples, like Keras."""
        self._require_compiled("evaluate")
        x, y = self._prepare(x, y, "evaluate")
        _check_positive_int(batch_size, "batch_size")
        fused = self._fused_loss is not None
        for m in self.compiled_metrics:
            m.reset_state()
        dp = self._strategy
        n_all = len(x)
        if dp is not None:   # each rank its share of the examples; sums and outputs combined
            mine = dp.shard(n_all)
            x, y = x[mine], y[mine]
            outs, labels = [], []
        total = 0.0
        with self._rank_threads(), self._weights_on_device(write_back=False), \
                self._kernels_scope():
            for i in tqdm(range(0, len(x), batch_size), disable=verbose != 1 or not self.is_chief,
                          desc="evaluate"):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                loss, (out, _) = self.loss_fn(self._run_params(), *self._to_backend(xb, yb),
                                              training=False)
                total += float(loss) * len(xb)
                if dp is None:
                    self._update_metrics(yb, out, fused)
                else:
                    outs.append(np.asarray(out))
                    labels.append(yb)
        if dp is not None:
            total = dp.sum([total])[0]
            if self.compiled_metrics:
                out = dp.gather_rows(np.concatenate(outs) if outs else self._no_output())
                self._update_metrics(dp.gather_rows(np.concatenate(labels) if labels else y[:0]),
                                     out, fused)
        result = {"loss": total / n_all, **self._metric_results()}
        if return_dict:
            return result
        return list(result.values()) if self.compiled_metrics else result["loss"]

    # --- weights -------------------------------------------------------------
    def weight_slots(self) -> list[tuple[str, np.ndarray]]:
        """("params/<layer>/<name>" or "state/<layer>/<name>", array) for every weight,
        in get_weights order; nested parameter dicts (Bidirectional) join with "/"."""
        self._require_built("weight_slots")
        slots = []
        for layer in self.layers:
            slots += [(f"params/{layer.name}/{k}", w) for k, w in _walk(self.params[layer.name])]
            slots += [(f"state/{layer.name}/{k}", w)
                      for k, w in _walk(self.state.get(layer.name, {}))]
        return slots

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, layer by layer (parameters, then state)."""
        return [w.copy() for _, w in self.weight_slots()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Copy weights (in get_weights order) into the model, checking every shape first."""
        slots = self.weight_slots()
        if len(weights) != len(slots):
            raise ValueError(f"set_weights got {len(weights)} arrays; the model has {len(slots)}")
        for (name, w), new in zip(slots, weights):
            if np.shape(new) != w.shape:
                raise ValueError(f"set_weights: {name} has shape {w.shape}, got {np.shape(new)}")
        for (_, w), new in zip(slots, weights):
            np.copyto(w, new, casting="same_kind")

    def count_params(self) -> int:
        return sum(w.size for name, w in self.weight_slots() if name.startswith("params/"))

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Layers, output shapes and parameter counts, as a table."""
        self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        trainable = non_trainable = 0
        for layer, shape in zip(self.layers, self._layer_shapes[1:]):
            n = sum(w.size for _, w in _walk(self.params[layer.name]))
            n_state = sum(w.size for _, w in _walk(self.state.get(layer.name, {})))
            trainable += n if layer.trainable else 0
            non_trainable += n_state + (0 if layer.trainable else n)
            rows.append((f"{layer.name} ({type(layer).__name__})", str((None,) + tuple(shape)),
                         f"{n + n_state:,}"))
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        rule = "=" * sum(widths)
        lines = [f'Model: "{self.name}"', rule]
        for i, r in enumerate(rows):
            lines.append("".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            lines.append(rule if i == 0 else "-" * sum(widths))
        lines[-1] = rule
        lines += [f"Total params: {trainable + non_trainable:,}",
                  f"Trainable params: {trainable:,}", f"Non-trainable params: {non_trainable:,}"]
        print_fn("\n".join(lines))

    # --- saving --------------------------------------------------------------
    def get_config(self) -> dict:
        from .layers.base import serialize
        return {"name": self.name, "seed": self.seed,
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "layers": [serialize(layer) for layer in self.layers]}

    def save(self, path: str | os.PathLike, include_optimizer: bool = True) -> None:
        """Write config, weights (and optimizer state) to one file, atomically. Under
        distribute="mpi" only rank 0 writes (every rank holds the same weights)."""
        if not self.is_chief:
            return
        from .saving import save_model
        save_model(self, path, include_optimizer=include_optimizer)


def _walk(tree: dict, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """(path, array) for each array in a nested dict, paths joined with "/"."""
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _walk(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


def _compatible(given: tuple, expected: tuple) -> bool:
    return len(given) == len(expected) and all(e is None or g == e for g, e in zip(given, expected))


def _as_array(a: Any, what: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: {what} must be array-like ({e})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{where}: {what} must hold numbers, got dtype {arr.dtype}")
    return arr


def _check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "epoch_time")


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
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
