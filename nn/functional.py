"""The functional API: `Input`, and `Model(inputs, outputs)` over a graph of layers.

Layers called on KerasTensors record nodes (nn/layers/nodes.py); a Model walks
them back from its outputs into a topological order, with several inputs and
outputs (lists or dicts), shared layers (one layer called twice: one set of
weights, whose gradient is the sum over its uses) and nested models (a Model or
Sequential called as a layer). The core is Sequential's: the parameters are a
pytree outside the layers (one entry per layer), `apply(params, x)` a pure
function of them, and `loss_fn` the training loss the Trainer (nn/training.py)
differentiates once per step. What does not depend on the graph (fit, evaluate,
train_on_batch, weights, saving) is Sequential's own code, shared below.

>>> import numpy as np
>>> from adkit.nn import Input, Model
>>> from adkit.nn.layers import Add, Dense
>>> inp = Input(shape=(3,), name="x")
>>> h = Dense(3, activation="relu", name="h")(inp)
>>> model = Model(inp, Dense(1, name="y")(Add()([inp, h])), seed=0)
>>> model.predict(np.ones((2, 3), np.float32)).shape
(2, 1)
"""

from __future__ import annotations

import copy
import os
from typing import Any, Callable

import numpy as np

from adkit.pytree import tree_flatten

from . import losses as losses_module
from . import metrics as metrics_module
from .data_adapters import StreamBatches, is_batch_source
from .layers.base import Context, Layer, ShapeError, deserialize, serialize, unique_name
from .layers.core import Embedding, _Activated
from .layers.input_layer import Input, InputLayer, input_tensor
from .layers.masking import call_masked, has_mask, output_mask
from .layers.nested import MODEL_CLASSES, ModelLayer, NestedState, call_model
from . import subclassed_model
from .callbacks.base import around_inference
from .layers.nodes import KerasTensor, Node, call_layer, flat
from .model import (Sequential, _as_array, _compatible, _walk, example_shape_of,
                    unbuilt_sequential, with_unit_axis)
from .seeding import fresh_seed
from .outputs import OutputLoss, OutputMetric, Rows, per_output
from .summary_table import summary_lines
from .training import Trainer, check_positive_int

__all__ = ["Input", "InputLayer", "Model"]


class Model:
    """A graph of layers from `inputs` to `outputs` (KerasTensors: one, a list, or a
    dict by name), trained and saved as Sequential is.

    >>> from adkit.nn import Input, Model
    >>> from adkit.nn.layers import Concatenate, Dense
    >>> a, b = Input(shape=(2,), name="a"), Input(shape=(3,), name="b")
    >>> out = Dense(1, name="out")(Concatenate()([a, b]))
    >>> Model([a, b], out, seed=0).count_params()
    6
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 seed: int | None = None) -> None:
        if inputs is None and outputs is None:   # a subclass with call (subclassed_model.py)
            subclassed_model.start(self, name, seed)
            return
        self._setup(inputs, outputs, name, seed)
        self.build()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if subclassed_model.is_subclass_with_call(cls):
            subclassed_model.adapt_class(cls)

    # --- the graph -----------------------------------------------------------------------
    def _setup(self, inputs: Any, outputs: Any, name: str | None, seed: int | None) -> None:
        self.name = name or unique_name("functional")
        self.seed = fresh_seed() if seed is None else int(seed)
        self.inputs, self.input_names = _tensors(inputs, "inputs")
        self.outputs, self.output_keys = _tensors(outputs, "outputs")
        self._dict_inputs = isinstance(inputs, dict)
        self._dict_outputs = isinstance(outputs, dict)
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model inputs must come from adkit.nn.Input; {t.name!r} was "
                                 f"made by layer {t.node.layer.name!r} "
                                 f"({type(t.node.layer).__name__})")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("Model inputs list the same Input twice")
        self.nodes = _topological(self.inputs, self.outputs)
        self._read = {id(t) for node in self.nodes for t in node.input_tensors}
        self.layers: list[Layer] = []
        for node in self.nodes:
            if all(node.layer is not layer for layer in self.layers):
                self.layers.append(node.layer)
        names = [layer.name for layer in self.layers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"the model has several layers named {twice}; layer names must be "
                             "unique (pass name= to the layers)")
        self.output_names = [self.output_keys[i] if self._dict_outputs else t.node.layer.name
                             for i, t in enumerate(self.outputs)]
        if len(set(self.output_names)) != len(self.output_names):
            self.output_names = [f"{n}_{i}" if self.output_names.count(n) > 1 else n
                                 for i, n in enumerate(self.output_names)]
        # batch axis excluded; input_shape / output_shape are Keras's (batch axis first)
        self.example_input_shape = self.inputs[0].example_shape if len(self.inputs) == 1 else \
            [t.example_shape for t in self.inputs]
        self.example_output_shape = self.outputs[0].example_shape if len(self.outputs) == 1 else \
            [t.example_shape for t in self.outputs]
        # every layer's first call's input shape: what its weights are built for
        self._layer_shapes: dict[str, Any] = {}
        for node in self.nodes:
            if not isinstance(node.layer, InputLayer):
                self._layer_shapes.setdefault(node.layer.name,
                                              _shape_of(node.inputs))
        self._init_training_attributes()
        # layers that already have weights in another built model keep them: both models
        # then hold the same arrays, as Keras models built from the same layers share them
        self._earlier_weights = {layer.name: owner for layer in self.layers
                                 if (owner := _built_owner(layer)) is not None}
        for layer in self.layers:
            layer._attach(self)

    def _init_training_attributes(self) -> None:
        """What compile, fit and the Trainer read and set, before any of them ran."""
        self.params: dict | None = None
        self.state: dict = {}
        self.optimizer: Any = None
        self.loss: Any = None
        self.losses: list[Callable] = []
        self.loss_weights: list[float] = []
        self.compiled_metrics: list = []
        self.stop_training = False
        self.history: Any = None
        self.device: str | None = None
        self._metric_specs: Any = []
        self._metric_keys: list[str] = []
        self._loss_specs: Any = None
        self._trainable_leaves: list[np.ndarray] = []
        self.trainer = Trainer(self)

    def fresh_weights(self, input_shape: Any = None) -> tuple[dict, dict]:
        """(params, state) as built from the model's seed (nothing is stored)."""
        if input_shape is not None:
            self.output_shape_for(input_shape)
        rng = np.random.default_rng(self.seed)
        params, state = {}, {}
        for layer in self.layers:
            shape = self._layer_shapes.get(layer.name)
            owner = self._earlier_weights.get(layer.name)
            if owner is not None:
                params[layer.name] = owner.params[layer.name]
                if layer.name in owner.state:
                    state[layer.name] = owner.state[layer.name]
                continue
            params[layer.name] = {} if shape is None else layer.init_params(rng, shape)
            if layer.has_state and shape is not None:
                state[layer.name] = layer.init_state(shape)
        return params, state

    def build(self, input_shape: Any = None, weights: tuple[dict, dict] | None = None) -> None:
        """Create the parameters from the model's seed, or adopt `weights` = (params,
        state) (load_model's arrays, or an outer model's for a nested one). input_shape,
        if given, must be the model's: Keras's form (None, *shape), or one example's."""
        if input_shape is not None:
            try:
                self.output_shape_for(input_shape)
            except ShapeError:
                self.output_shape_for(example_shape_of(input_shape))
        self.params, state = weights if weights is not None else self.fresh_weights()
        self._earlier_weights = {}   # adopted now; keep no other model alive
        self.state = NestedState(state, {layer.name for layer in self.layers
                                         if isinstance(layer, ModelLayer)})
        for layer in self.layers:
            if isinstance(layer, ModelLayer):
                layer.adopt(self._layer_shapes[layer.name], self.params[layer.name],
                            self.state.get(layer.name, {}))
        self._trainable_leaves = tree_flatten(self.trainable_part(self.params))[0]

    def output_shape_for(self, input_shape: Any) -> Any:
        """The output shape(s) for inputs of `input_shape`, which must be the model's."""
        given = input_shape if isinstance(input_shape, list) else [input_shape]
        expected = [t.example_shape for t in self.inputs]
        if len(given) != len(expected) or not all(
                _compatible(tuple(g), e) for g, e in zip(given, expected)):
            raise ShapeError(f"model {self.name!r} takes inputs of shapes "
                             f"{[(None,) + e for e in expected]}, got "
                             f"{[(None,) + tuple(g) for g in given]}")
        return self.example_output_shape

    def trainable_part(self, tree: dict) -> dict:
        """The entries of a per-layer tree (params, grads) that the optimizer updates."""
        part = {}
        for layer in self.layers:
            if not layer.trainable or layer.name not in tree:
                continue
            part[layer.name] = layer.trainable_part(tree[layer.name]) \
                if hasattr(layer, "trainable_part") else tree[layer.name]
        return part

    # --- the functional core -------------------------------------------------------------
    def apply(self, params: dict, x: Any, *, training: bool = False,
              rng: np.random.Generator | None = None, state: dict | None = None,
              logits: bool = False) -> tuple[Any, dict]:
        """(outputs, new_state): a pure function of params and the inputs (one array, a
        list in the order of `inputs`, or a dict by input name). Outputs are one array
        or a list; logits=True stops the outputs whose loss is fused to their
        activation (softmax + cross-entropy) before that activation."""
        ctx = Context(training=training, rng=rng, state=self.state if state is None else state)
        return self._forward(params, x, ctx, logits), ctx.new_state

    def _forward(self, params: dict, x: Any, ctx: Context, logits: bool) -> Any:
        """apply's outputs, computed in ctx (which also gets the outputs' masks)."""
        values: dict[int, Any] = {id(t): v for t, v in zip(self.inputs, self._input_list(x))}
        masks: dict[int, Any] = {}   # Keras masks (nn/layers/masking.py), where made
        fused = set(self._fused_outputs()) if logits else set()
        pre: dict[int, Any] = {}
        for node in self.nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            args = _map(node.inputs, values)
            wanted = [i for i in fused if self.outputs[i].node is node]
            if wanted:
                z = layer.pre_activation(params[layer.name], args, ctx)
                for i in wanted:
                    pre[i] = z
                # the activated value only where another layer reads it
                out = layer.activation(z) if id(node.outputs[0]) in self._read else z
                in_mask = _map_masks(node.inputs, masks)   # the loss leaves masked steps out
                if has_mask(in_mask):
                    masks[id(node.outputs[0])] = output_mask(layer, args, in_mask)
            else:
                out, mask = call_masked(layer, params[layer.name], args, ctx,
                                        _map_masks(node.inputs, masks), node.options)
                if mask is not None:
                    masks[id(node.outputs[0])] = mask
            results = out if len(node.outputs) > 1 else [out]
            for t, v in zip(node.outputs, results):
                values[id(t)] = v
        outs = [pre[i] if i in pre else values[id(t)] for i, t in enumerate(self.outputs)]
        ctx.output_masks = [masks.get(id(t)) for t in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    def layer_outputs(self, x: Any) -> dict[str, list]:
        """layer name -> its outputs on x (one per call of the layer), in inference mode:
        what TensorBoard's activation histograms read."""
        ctx = Context(training=False, rng=None, state=self.state)
        values: dict[int, Any] = {id(t): v for t, v in zip(self.inputs, self._input_list(x))}
        masks: dict[int, Any] = {}
        found: dict[str, list] = {}
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            out, mask = call_masked(node.layer, self.params[node.layer.name],
                                    _map(node.inputs, values), ctx,
                                    _map_masks(node.inputs, masks), node.options)
            if mask is not None:
                masks[id(node.outputs[0])] = mask
            results = out if len(node.outputs) > 1 else [out]
            for t, v in zip(node.outputs, results):
                values[id(t)] = v
            found.setdefault(node.layer.name, []).extend(results)
        return found

    def _input_list(self, x: Any) -> list:
        if isinstance(x, Rows):
            return x.arrays
        if isinstance(x, dict):
            return [x[name] for name in self.input_names]
        if len(self.inputs) == 1 and not isinstance(x, (list, tuple)):
            return [x]
        return list(x)

    def loss_fn(self, params: dict, x: Any, y: Any, rng: np.random.Generator | None = None,
                training: bool = True, sample_weight: Any = None,
                state: dict | None = None) -> tuple[Any, tuple[Any, dict]]:
        """(sum over outputs of loss_weight * mean loss, plus weight penalties,
        (outputs, new_state)) for one batch; sample_weight (one per example) weighs
        each example's loss in every output's mean. state: the layers' state to start
        from (default: the model's)."""
        ctx = Context(training=training, rng=rng, state=self.state if state is None else state)
        out = self._forward(params, x, ctx, logits=True)
        new_state = ctx.new_state
        outs = out if isinstance(out, list) else [out]
        ys = y.arrays if isinstance(y, Rows) else [y]
        fused = self._fused_outputs()
        total = 0.0
        for i, (yi, oi) in enumerate(zip(ys, outs)):
            per_example = (fused.get(i) or self.losses[i])(yi, oi)
            weights = losses_module.masked_weights(ctx.output_masks[i], per_example,
                                                   sample_weight)
            total = total + self.loss_weights[i] * losses_module.weighted_mean(per_example,
                                                                               weights)
        for layer in self.layers:
            total = total + layer.penalty(params[layer.name])
        return total, (out, new_state)

    def _fused_outputs(self) -> dict[int, Callable]:
        """output index -> the loss computed from logits, for outputs of a softmax or
        sigmoid layer whose loss is the matching cross-entropy."""
        fused = {}
        for i, (t, loss) in enumerate(zip(self.outputs, self.losses)):
            layer = t.node.layer
            if isinstance(layer, _Activated) and len(t.node.outputs) == 1:
                logits_loss = losses_module.fused(loss, layer.activation)
                if logits_loss is not None:
                    fused[i] = logits_loss
        return fused

    def final_outputs(self, out: Any) -> Any:
        """The model's outputs from what loss_fn computed the loss from (logits)."""
        fused = self._fused_outputs()
        if not fused:
            return out
        outs = out if isinstance(out, list) else [out]
        done = [self.outputs[i].node.layer.activation(o) if i in fused else o
                for i, o in enumerate(outs)]
        return done if isinstance(out, list) else done[0]

    def final_structure(self, outs: Any) -> Any:
        """Outputs as the model was given them: a dict by name for dict outputs."""
        if self._dict_outputs:
            listed = outs if isinstance(outs, list) else [outs]
            return dict(zip(self.output_keys, listed))
        return outs

    def empty_output(self) -> Any:
        """The outputs of zero examples."""
        outs = [np.zeros((0,) + t.example_shape, t.dtype) for t in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    # --- compile -------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, device: str | None = None,
                distribute: Any = None, weighted_metrics: Any = None,
                jit_compile: bool | str = "auto", run_eagerly: bool = False,
                steps_per_execution: int = 1, auto_scale_loss: bool = True) -> None:
        """Sequential's compile, with a loss (and metrics, weighted metrics, loss weights)
        per output: one for all, a list in output order, or a dict by output name
        (`output_names`). jit_compile, run_eagerly, steps_per_execution and
        auto_scale_loss as Sequential's."""
        names = self.output_names
        several = len(self.inputs) > 1 or len(self.outputs) > 1
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy' (or "
                             f"one per output of {names}, as a list or a dict)")
        specs = per_output(loss, names, "loss")
        missing = [n for n, s in zip(names, specs) if s is None]
        if missing:
            raise ValueError(f"compile loss: no loss for outputs {missing}; give one for each "
                             f"of {names}")
        weights = per_output(loss_weights, names, "loss_weights", default=1.0)
        for n, w in zip(names, weights):
            if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) \
                    or not np.isfinite(w):
                raise ValueError(f"compile loss_weights: output {n!r} has weight {w!r}; give "
                                 "finite numbers")
        fns = [losses_module.get(s) for s in specs]
        metric_lists = self._metric_lists(metrics, names)
        weighted_lists = self._metric_lists(weighted_metrics, names)
        chosen = str(device or os.environ.get("ADKIT_DEVICE", "cpu")).strip().lower()
        if several and (chosen != "cpu" or distribute is not None):
            raise ValueError(f"model {self.name!r} has {len(self.inputs)} inputs and "
                             f"{len(self.outputs)} outputs; device='opencl' and distribute="
                             "'mpi' train models of one input and one output so far; use "
                             "device='cpu' without distribute")
        single = len(names) == 1
        Sequential.compile(self, optimizer, loss=specs[0],
                           metrics=metric_lists[0] if single else None,
                           device=device, distribute=distribute,
                           weighted_metrics=weighted_lists[0] if single else None,
                           jit_compile=jit_compile, run_eagerly=run_eagerly,
                           steps_per_execution=steps_per_execution)
        self.losses, self.loss_weights = fns, [float(w) for w in weights]
        self.loss = fns[0] if len(fns) == 1 else fns
        self._loss_specs = loss
        self._loss_weight_specs = loss_weights
        self._metric_specs = metrics if metrics is not None else []
        if len(names) > 1:
            self.compiled_metrics, self._metric_keys = [], []
            for i, (name, fn) in enumerate(zip(names, fns)):
                self.compiled_metrics.append(OutputLoss(fn, i, f"{name}_loss"))
            for i, (name, fn) in enumerate(zip(names, fns)):
                for spec in metric_lists[i]:
                    m = metrics_module.get(spec, loss=getattr(fn, "__name__", None))
                    key = spec if isinstance(spec, str) else m.name
                    self.compiled_metrics.append(OutputMetric(m, i, f"{name}_{key}"))
            for i, (name, fn) in enumerate(zip(names, fns)):
                for spec in weighted_lists[i]:   # fit's sample weights apply to these
                    m = metrics_module.get(spec, loss=getattr(fn, "__name__", None))
                    key = f"{name}_{spec if isinstance(spec, str) else m.name}"
                    if any(c.name == key for c in self.compiled_metrics):
                        key = f"{name}_weighted_{spec if isinstance(spec, str) else m.name}"
                    self.compiled_metrics.append(
                        metrics_module.WeightedMetric(OutputMetric(m, i, key), key))
            self._metric_keys = [m.name for m in self.compiled_metrics]

    def _metric_lists(self, metrics: Any, names: list[str]) -> list[list]:
        """compile's metrics as one list per output (a flat list applies to each)."""
        if metrics is None:
            return [[] for _ in names]
        if isinstance(metrics, dict):
            lists = per_output(metrics, names, "metrics", default=[])
            return [list(m) if isinstance(m, (list, tuple)) else [m] for m in lists]
        if not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list, e.g. ['accuracy'], or a dict by output "
                            f"name, got {metrics!r}")
        if len(names) > 1 and metrics and all(isinstance(m, (list, tuple)) for m in metrics):
            return [list(m) for m in per_output(list(metrics), names, "metrics")]
        return [list(metrics) if i == 0 else copy.deepcopy(list(metrics))
                for i in range(len(names))]

    def compile_config(self) -> dict:
        """What save_model stores to compile the model again on load."""
        name = losses_module.serialize
        if isinstance(self._loss_specs, dict):
            loss = {k: name(f) for k, f in zip(self.output_names, self.losses)}
        elif len(self.losses) > 1 and isinstance(self._loss_specs, (list, tuple)):
            loss = [name(f) for f in self.losses]
        else:
            loss = name(self.losses[0]) if all(name(f) == name(self.losses[0])
                                               for f in self.losses) else \
                [name(f) for f in self.losses]
        specs = self._metric_specs
        if isinstance(specs, dict):
            metrics: Any = {k: metrics_module.saved_metrics(
                v if isinstance(v, (list, tuple)) else [v]) for k, v in specs.items()}
        else:
            metrics = metrics_module.saved_metrics(specs)
        return {"loss": loss, "metrics": metrics, "loss_weights": list(self.loss_weights),
                "jit_compile": self.jit_compile}

    @property
    def is_chief(self) -> bool:
        """Whether this process shows progress and writes files."""
        return self.trainer.is_chief

    @property
    def metrics_names(self) -> list[str]:
        """"loss", then each output's loss (with several outputs), then the metrics."""
        return ["loss"] + self._metric_keys

    # --- data ----------------------------------------------------------------------------
    def prepare_data(self, x: Any, y: Any | None, what: str) -> tuple[Any, Any]:
        """(x, y) checked against the model's inputs and outputs and cast to their
        dtypes: arrays for one input / output, Rows for several."""
        xs = [with_unit_axis(a, t.example_shape) for a, t in
              zip(self._arrays(x, self.inputs, self.input_names, "x", what), self.inputs)]
        n = xs[0].shape[0]
        for t, a, name in zip(self.inputs, xs, self.input_names):
            if not _compatible(a.shape[1:], t.example_shape):
                raise ShapeError(f"{what}: input {name!r} expects shape {t.shape}, but x "
                                 f"{'for it ' if len(xs) > 1 else ''}has shape {a.shape}")
            if a.shape[0] != n:
                raise ValueError(f"{what}: the inputs hold different numbers of examples: "
                                 f"{[b.shape[0] for b in xs]}")
        if n == 0:
            raise ValueError(f"{what}: x has no examples")
        xs = [a if np.issubdtype(a.dtype, np.integer) and _feeds_embedding(self, t)
              else a.astype(t.dtype, copy=False) for a, t in zip(xs, self.inputs)]
        x_out = xs[0] if len(xs) == 1 else Rows(xs)
        if y is None:
            return x_out, None
        ys = self._arrays(y, self.outputs, self.output_names, "y", what)
        for i, (a, t) in enumerate(zip(ys, self.outputs)):
            if a.shape[0] != n:
                raise ValueError(f"{what}: x has {n} examples but y for output "
                                 f"{self.output_names[i]!r} has {a.shape[0]}")
            loss = self.losses[i] if self.losses else None
            if loss is not None:
                losses_module.check_targets(loss, a, t.example_shape)
            if getattr(loss, "__name__", "") != "sparse_categorical_crossentropy":
                ys[i] = a.astype(t.dtype, copy=False)
        return x_out, (ys[0] if len(ys) == 1 else Rows(ys))

    _prepare = prepare_data

    def _arrays(self, data: Any, tensors: list, names: list[str], what: str,
                where: str) -> list[np.ndarray]:
        """`data` (one array, a list in order, or a dict by name) as one array per tensor."""
        n = len(tensors)
        if isinstance(data, Rows):
            return data.arrays
        if isinstance(data, dict):
            unknown = [k for k in data if k not in names]
            missing = [k for k in names if k not in data]
            if unknown or missing:
                raise ValueError(f"{where}: {what} as a dict needs the keys {names}; "
                                 + (f"missing {missing}" if missing else "")
                                 + ("; " if missing and unknown else "")
                                 + (f"unknown {unknown}" if unknown else ""))
            data = [data[k] for k in names]
        elif n == 1 and isinstance(data, (list, tuple)) and len(data) == 1 \
                and not np.isscalar(data[0]) and np.ndim(data[0]) >= 1 \
                and _is_array_list(data):
            data = list(data)
        elif n == 1:
            data = [data]
        elif not isinstance(data, (list, tuple)):
            raise ValueError(f"{where}: the model has {n} {'inputs' if what == 'x' else 'outputs'}"
                             f" {names}; pass {what} as a list of {n} arrays or a dict by name")
        if len(data) != n:
            raise ValueError(f"{where}: the model has {n} {'inputs' if what == 'x' else 'outputs'}"
                             f" {names}, but {what} holds {len(data)} arrays")
        return [_as_array(a, f"{what} for {name!r}" if n > 1 else what, where,
                          strings=getattr(t, "dtype", None) == object)
                for a, name, t in zip(data, names, tensors)]

    # --- training and inference: the Trainer's loop ----------------------------------------
    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0,
                steps: int | None = None, callbacks: list | None = None) -> Any:
        """The model's outputs for x (arrays as fit takes them, or a generator / Sequence
        of batches): an array, or a list per output (a dict for dict outputs), computed
        in batches in inference mode. callbacks get on_predict_begin/end."""
        return around_inference(callbacks, self, "predict",
                                lambda hooks: self._predict(x, batch_size, verbose, steps, hooks))

    def _predict(self, x: Any, batch_size: int | None, verbose: int | str,
                 steps: int | None, hooks: Any) -> Any:
        if len(self.outputs) == 1:
            return self.final_structure(self.trainer.predict(
                x, batch_size=batch_size, verbose=verbose, steps=steps, hooks=hooks))
        if is_batch_source(x):
            if steps is not None:
                check_positive_int(steps, "steps")
            stream = StreamBatches(x, steps, self.prepare_data, "predict", needs_y=False)
            batches = (xb for xb, _, _, _ in stream.epoch_batches(None, lambda n: slice(0, n)))
        else:
            batch_size = 32 if batch_size is None else batch_size
            check_positive_int(batch_size, "batch_size")
            x, _ = self.prepare_data(x, None, "predict")
            batches = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
        placement = self.trainer.placement
        parts: list[list] = [[] for _ in self.outputs]
        with placement.weights(write_back=False), placement.kernels():
            for i, xb in enumerate(batches):
                hooks.on_predict_batch_begin(i)
                outs = [np.asarray(o) for o in self.apply(placement.params, xb)[0]]
                for part, o in zip(parts, outs):
                    part.append(o)
                hooks.on_predict_batch_end(i, {"outputs": self.final_structure(outs)})
        if not parts[0]:
            return self.final_structure(self.empty_output())
        return self.final_structure([np.concatenate(p) for p in parts])

    def __call__(self, x: Any, training: bool = False) -> Any:
        """model(x): on KerasTensors, the model as a layer of another graph (its
        weights shared); on arrays, its outputs (inference unless training=True)."""
        return call_model(self, x, training)

    @property
    def input(self) -> Any:
        """The model's input KerasTensor, or a list (a dict) of them, as given to Model."""
        return self._given_structure(self.inputs, self._dict_inputs, self.input_names)

    @property
    def output(self) -> Any:
        """The model's output KerasTensor, or a list (a dict) of them, as given to Model."""
        return self._given_structure(self.outputs, self._dict_outputs, self.output_keys)

    @staticmethod
    def _given_structure(tensors: list, as_dict: bool, keys: list[str]) -> Any:
        if as_dict:
            return dict(zip(keys, tensors))
        return tensors[0] if len(tensors) == 1 else list(tensors)

    # --- what Sequential does the same way ---------------------------------------------------
    _json_class_name = "Functional"   # Keras's class_name for a functional model in to_json
    trainable = Sequential.trainable
    input_shape = Sequential.input_shape
    output_shape = Sequential.output_shape
    weights = Sequential.weights
    trainable_weights = Sequential.trainable_weights
    non_trainable_weights = Sequential.non_trainable_weights
    variables = Sequential.variables
    trainable_variables = Sequential.trainable_variables
    non_trainable_variables = Sequential.non_trainable_variables
    predict_on_batch = Sequential.predict_on_batch
    test_on_batch = Sequential.test_on_batch
    to_json = Sequential.to_json
    fit = Sequential.fit
    evaluate = Sequential.evaluate
    train_on_batch = Sequential.train_on_batch
    weight_slots = Sequential.weight_slots
    current_weight_slots = Sequential.current_weight_slots
    apply_constraints = Sequential.apply_constraints
    jit_compile = Sequential.jit_compile
    get_weights = Sequential.get_weights
    set_weights = Sequential.set_weights
    count_params = Sequential.count_params
    save = Sequential.save
    save_weights = Sequential.save_weights
    load_weights = Sequential.load_weights
    get_layer = Sequential.get_layer
    _require_built = Sequential._require_built
    _require_compiled = Sequential._require_compiled
    _index_parameters = Sequential._index_parameters

    def export_onnx(self, path: str | os.PathLike) -> None:
        """Write the graph as an ONNX file for inference (adkit.nn.onnx_graph)."""
        from .onnx_graph import export_graph_onnx   # onnx is an optional install
        export_graph_onnx(self, path)

    # --- summary and saving --------------------------------------------------------------
    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Callable[[str], None] | None = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Any = None) -> None:
        """Layers, output shapes, parameter counts and the layers each is connected to,
        as Keras prints a functional model; print_fn is called once per line. Keras's
        layout options are taken and change nothing (Sequential.summary)."""
        print_fn = print if print_fn is None else print_fn
        rows = [("Layer (type)", "Output Shape", "Param #", "Connected to")]
        index = _tensor_index(self.nodes)
        trainable = non_trainable = 0
        for layer in self.layers:
            calls = [n for n in self.nodes if n.layer is layer]
            node = calls[0]
            n = sum(w.size for _, w in _walk(self.params.get(layer.name, {})))
            n_state = sum(w.size for _, w in _walk(self.state.get(layer.name, {})))
            trainable += n if layer.trainable else 0
            non_trainable += n_state + (0 if layer.trainable else n)
            shapes = [str(t.shape) for t in node.outputs]
            # Keras's "layer[call][output]" for each tensor a call of the layer reads
            sources = "; ".join(", ".join("{}[{}][{}]".format(*index[id(t)])
                                          for t in call.input_tensors)
                                for call in calls if call.input_tensors) or "-"
            kind = type(layer.model if isinstance(layer, ModelLayer) else layer).__name__
            rows.append((f"{layer.name} ({kind})", ", ".join(shapes),
                         f"{n + n_state:,}", sources))
        for line in summary_lines(self.name, rows, trainable, non_trainable):
            print_fn(line)

    # from_config is attached by nn/models.py, which knows both model classes

    def get_config(self) -> dict:
        """The graph: its layers, each call (node) in topological order with the
        tensors it took, and which tensors are the inputs and outputs."""
        index = _tensor_index(self.nodes)
        nodes = []
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            refs = [index[id(t)] for t in node.input_tensors]
            nodes.append({"layer": node.layer.name, "list": isinstance(node.inputs, list),
                          "inputs": refs})
            if node.options:
                nodes[-1]["options"] = dict(node.options)
        return {"class_name": "Model", "name": self.name, "seed": self.seed,
                "layers": [serialize(layer) for layer in self.layers], "nodes": nodes,
                "inputs": [index[id(t)] for t in self.inputs],
                "outputs": [index[id(t)] for t in self.outputs],
                "input_keys": self.input_names if self._dict_inputs else None,
                "output_keys": self.output_keys if self._dict_outputs else None}


def from_config(config: dict, layers: list[Layer] | None = None) -> Model:
    """An unbuilt Model (no weights) from Model.get_config(): load_model and nested
    models build it from the file's arrays."""
    if not isinstance(config.get("layers"), list) or not isinstance(config.get("nodes"), list):
        raise ValueError("the functional model config has no list of layers or nodes")
    layers = layers if layers is not None else [deserialize(c) for c in config["layers"]]
    by_name = {layer.name: layer for layer in layers}
    if len(by_name) != len(layers):
        raise ValueError("the functional model config repeats a layer name")
    tensors: dict[tuple, KerasTensor] = {}
    calls: dict[str, int] = {}
    for layer in layers:
        if isinstance(layer, InputLayer):
            tensors[(layer.name, 0, 0)] = input_tensor(layer)
            calls[layer.name] = 1

    def tensor(ref: Any) -> KerasTensor:
        key = tuple(ref) if isinstance(ref, list) and len(ref) == 3 else None
        if key is None or key not in tensors:
            raise ValueError(f"the functional model config refers to tensor {ref!r}, which "
                             "no earlier node makes")
        return tensors[key]

    for spec in config["nodes"]:
        layer = by_name.get(spec.get("layer")) if isinstance(spec, dict) else None
        if layer is None or isinstance(layer, InputLayer):
            raise ValueError(f"the functional model config has a node of unknown layer "
                             f"{spec!r}")
        args = [tensor(r) for r in spec.get("inputs", [])]
        options = spec.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError(f"the functional model config gives node {spec!r} options that "
                             "are not a dict")
        out = call_layer(layer, args if spec.get("list") else args[0], options=options)
        k = calls.get(layer.name, 0)
        calls[layer.name] = k + 1
        for i, t in enumerate(out if isinstance(out, list) else [out]):
            tensors[(layer.name, k, i)] = t
    inputs = [tensor(r) for r in config.get("inputs", [])]
    outputs = [tensor(r) for r in config.get("outputs", [])]
    in_keys, out_keys = config.get("input_keys"), config.get("output_keys")
    model = Model.__new__(Model)
    model._setup(dict(zip(in_keys, inputs)) if in_keys else inputs,
                 dict(zip(out_keys, outputs)) if out_keys else outputs,
                 config.get("name"), config.get("seed"))
    return model


def _sequential_from_config(config: dict) -> Sequential:
    """An unbuilt Sequential from its get_config() (its weights come from outside)."""
    return unbuilt_sequential([deserialize(c) for c in config["layers"]],
                              config.get("name"), config.get("seed"))


MODEL_CLASSES["Model"] = from_config
MODEL_CLASSES["Functional"] = from_config   # Keras's name for it (to_json writes it)
MODEL_CLASSES["Sequential"] = _sequential_from_config


def _tensors(structure: Any, what: str) -> tuple[list[KerasTensor], list[str]]:
    """The KerasTensors of a Model's inputs or outputs and their names (dict keys, or
    the tensors' own names)."""
    if isinstance(structure, dict):
        keys = list(structure)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"Model {what} as a dict needs string keys, got {keys}")
    tensors = flat(structure)
    if not tensors:
        raise ValueError(f"Model needs at least one tensor in {what}")
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model {what} must be KerasTensors (from adkit.nn.Input and "
                            f"layers called on it), got {type(t).__name__}")
    names = list(structure) if isinstance(structure, dict) else [t.name for t in tensors]
    return tensors, names


def _topological(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Node]:
    """The nodes from the inputs to the outputs, each after the nodes it reads; refuses
    an output that needs an Input not among `inputs`, and an input no output uses."""
    given = {id(t) for t in inputs}
    order: list[Node] = []
    state: dict[int, int] = {}   # id(node) -> 1 visiting, 2 done
    reached: set[int] = set()
    for out in outputs:
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                state[id(node)] = 2
                order.append(node)
                continue
            if state.get(id(node)) == 2:
                continue
            state[id(node)] = 1
            stack.append((node, True))
            if isinstance(node.layer, InputLayer):
                tensor = node.outputs[0]
                if id(tensor) not in given:
                    raise ValueError(
                        f"graph disconnected: output {out.name!r} depends on Input "
                        f"{tensor.name!r}, which is not among the model's inputs "
                        f"{[t.name for t in inputs]}; add it to inputs")
                reached.add(id(tensor))
                continue
            for t in reversed(node.input_tensors):   # the first input is visited first
                if state.get(id(t.node)) != 2:
                    stack.append((t.node, False))
    unused = [t.name for t in inputs if id(t) not in reached]
    if unused:
        raise ValueError(f"the model's inputs {unused} are not used by any of its outputs "
                         f"{[t.name for t in outputs]}; drop them from inputs or connect them")
    # the Inputs first, in the order given (as Keras lists them), then the rest
    return [t.node for t in inputs] + [n for n in order if not isinstance(n.layer, InputLayer)]


def _built_owner(layer: Layer) -> Any:
    """The built model holding `layer`'s weights (for the shapes it was called with), or
    None."""
    owner = None if layer._owner is None else layer._owner()
    params = getattr(owner, "params", None)
    if params is None or layer.name not in params or isinstance(layer, InputLayer):
        return None
    return owner


def _map(structure: Any, values: dict[int, Any]) -> Any:
    if isinstance(structure, list):
        return [values[id(t)] for t in structure]
    return values[id(structure)]


def _map_masks(structure: Any, masks: dict[int, Any]) -> Any:
    """The masks of a node's inputs (None where none), shaped as its inputs; None when
    no input has one."""
    if not masks:
        return None
    if isinstance(structure, list):
        found = [masks.get(id(t)) for t in structure]
        return found if any(m is not None for m in found) else None
    return masks.get(id(structure))


def _shape_of(inputs: Any) -> Any:
    if isinstance(inputs, list):
        return [t.example_shape for t in inputs]
    return inputs.example_shape


def _tensor_index(nodes: list[Node]) -> dict[int, list]:
    """id(tensor) -> [layer name, call number of that layer in this graph, output index]."""
    calls: dict[str, int] = {}
    index: dict[int, list] = {}
    for node in nodes:
        k = calls.get(node.layer.name, 0)
        calls[node.layer.name] = k + 1
        for i, t in enumerate(node.outputs):
            index[id(t)] = [node.layer.name, k, i]
    return index


def _feeds_embedding(model: Model, tensor: KerasTensor) -> bool:
    return any(isinstance(n.layer, Embedding) and any(t is tensor for t in n.input_tensors)
               for n in model.nodes)


def _is_array_list(data: Any) -> bool:
    return all(isinstance(a, np.ndarray) for a in data)


subclassed_model.register(Model, Input)   # a subclassed model's graph is one of these
