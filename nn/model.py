"""Sequential: a stack of layers with Keras's compile / fit / evaluate / predict.

The model is structure: its layers, their parameters (a pytree outside the
layers), `apply(params, x, ...)` (a pure function of them) and `loss_fn`, the
training loss that `adkit.value_and_grad` differentiates each step. How it
trains (epochs, batches, callbacks, one process or MPI ranks, host or OpenCL
device) is the Trainer's business (nn/training.py), which compile sets up.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable

import numpy as np

from adkit.pytree import tree_flatten

from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from . import strategies
from .callbacks import History
from .callbacks.base import NO_HOOKS, around_inference
from .compiled_step import keras_compile_options
from .layers.base import Context, Layer, Shape, ShapeError, _as_shape, serialize
from .layers.core import Embedding, _Activated
from .layers.fusion import apply_layers
from .layers.input_layer import Input, InputLayer, input_tensor
from .layers.nested import ModelLayer, NestedState, as_layer, call_model, stack_shapes
from .layers.nodes import KerasTensor, NoSymbolicTensorError, call_layer
from .layers.weight_view import walk as _walk
from .placement import HostPlacement, device_placement
from .legacy_h5 import save_model_h5
from .model_file import save_model
from .seeding import fresh_seed
from .subclassed_model import is_subclass_with_call
from .summary_table import summary_lines
from .data_adapters import is_batch_source
from .training import Trainer

#: what compile(device=...) accepts; "opencl" may name its device as adkit.kernels.device
#: does: "opencl:N", "opencl:P:D" or "opencl:<part of the device name>"
DEVICES = ("cpu", "opencl")


def _input_shape_of(item: Any) -> Shape | None:
    """The example shape an `Input(...)` tensor or an `InputLayer` declares, else None."""
    if isinstance(item, KerasTensor) and isinstance(item.node.layer, InputLayer):
        return item.node.layer.shape
    if isinstance(item, InputLayer):
        return item.shape
    return None


def _all_or_nothing(method: Callable) -> Callable:
    """method changes the model's attributes fully or, when it raises (an unknown metric,
    an OpenCL device that is missing), not at all: a failed compile leaves the model as
    it was, not with the new optimizer beside the old loss."""
    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
    return guarded


class Sequential:
    """Layers applied one after another.

    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)], seed=0)
    >>> model.predict(np.ones((2, 3), np.float32)).shape
    (2, 1)
    """

    #: the class_name to_json writes (Keras's)
    _json_class_name = "Sequential"

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None,
                 seed: int | None = None) -> None:
        self.name = name or "sequential"
        self.seed = fresh_seed() if seed is None else int(seed)
        self.layers: list[Layer] = []
        self.params: dict[str, dict] | None = None
        self.state: dict[str, dict] = {}
        #: the shape of one example in and out, batch axis excluded (None until built);
        #: the public input_shape / output_shape are Keras's, batch axis first
        self.example_input_shape: Shape | None = None
        self.example_output_shape: Shape | None = None
        self.optimizer: Any = None
        self.loss: Callable | None = None
        self.compiled_metrics: list = []
        self.stop_training = False
        self.history: History | None = None
        self.device: str | None = None
        self._metric_specs: list = []   # compile's metrics argument (save_model stores it)
        self._metric_keys: list[str] = []
        self._layer_shapes: list[Shape] = []
        self._declared_input_shape: Shape | None = None   # from an Input added first
        # the trainable leaves of params, in tree order (nn/distributed.py lays its
        # gradient buckets out by them)
        self._trainable_leaves: list[np.ndarray] = []
        #: runs fit / evaluate / predict; compile replaces it with one for its
        #: device and strategy (nn/training.py)
        self.trainer = Trainer(self)
        for layer in layers or []:
            self.add(layer)

    # --- building ------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        declared = _input_shape_of(layer)
        if declared is not None:   # keras.Input(shape=...) starting the stack
            self._declare_input(declared)
            self._declared_input = layer   # model.inputs is that tensor, as in Keras
            return
        if not isinstance(layer, Layer) and hasattr(layer, "trainable_part"):
            layer = as_layer(layer, first=not self.layers)   # a model in the stack, shared
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes an adkit.nn.layers layer, got "
                            f"{type(layer).__name__}")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"a layer named {layer.name!r} is already in the model; "
                             "layer names must be unique")
        if self.layers and layer.input_shape is not None:
            raise ValueError(f"only the first layer takes input_shape; layer {layer.name!r} "
                             f"has input_shape={layer.input_shape}")
        if not self.layers and layer.input_shape is None:
            layer.input_shape = self._declared_input_shape
        self.layers.append(layer)
        layer._attach(self)   # so that layer.get_weights() reads this model's weights
        self.params = None
        if self.layers[0].input_shape is not None:
            self.build_for_example(self.layers[0].input_shape)

    # --- the symbolic graph (Keras 3's Sequential builds a functional one) ---------
    @property
    def inputs(self) -> list[KerasTensor]:
        """[the model's input KerasTensor]: the Input it started with, or one made for its
        input shape; with `layer.output` it builds functional models from this one,
        e.g. `Model(model.inputs, model.layers[-2].output)` (a feature extractor)."""
        return self._symbolic_graph()[:1]

    @property
    def outputs(self) -> list[KerasTensor]:
        """[the last layer's output KerasTensor] in the model's symbolic graph."""
        return self._symbolic_graph()[-1:]

    @property
    def input(self) -> KerasTensor:
        """The model's input KerasTensor (see `inputs`)."""
        return self._symbolic_graph()[0]

    @property
    def output(self) -> KerasTensor:
        """The model's output KerasTensor (see `outputs`)."""
        return self._symbolic_graph()[-1]

    @property
    def input_shape(self) -> tuple:
        """Keras's input shape: the batch axis first, as None, e.g. (None, 28, 28, 1);
        `example_input_shape` is the same without the batch axis. AttributeError (as in
        Keras) until the model is built."""
        return batch_shapes(self, getattr(self, "example_input_shape", None), "input")

    @property
    def output_shape(self) -> tuple:
        """Keras's output shape, batch axis first: (None, 10) for Dense(10) last."""
        return batch_shapes(self, getattr(self, "example_output_shape", None), "output")

    def _symbolic_graph(self) -> list[KerasTensor]:
        """The input KerasTensor, then each layer's output on it: the layers called on
        KerasTensors once (again after add / pop), which records each layer's `input`
        and `output` (nn/layers/nodes.py)."""
        if self.params is None:
            raise NoSymbolicTensorError(
                f"Sequential model {self.name!r} has no defined inputs or outputs yet: it is "
                "not built; start it with keras.Input(shape=...), give the first layer "
                "input_shape=..., or call model.build(shape)")
        key = (tuple(id(layer) for layer in self.layers), tuple(self.example_input_shape))
        built = self.__dict__.get("_graph")
        if built is not None and built[0] == key:
            return built[1]
        start = self.__dict__.get("_declared_input")
        if isinstance(start, InputLayer):
            start = self._declared_input = input_tensor(start)
        if start is None or tuple(start.example_shape) != tuple(self.example_input_shape):
            start = Input(shape=self.example_input_shape, dtype=self.layers[0].dtype.name)
        tensors = [start]
        for layer in self.layers:
            tensors.append(call_layer(layer, tensors[-1], first_call=True))
        self._graph = (key, tensors)
        return tensors

    def pop(self) -> Layer:
        """Remove the last layer and return it, as Keras's Sequential.pop. The layers
        left keep their weights; a compiled model must be compiled again before training.

        >>> from adkit.nn import Sequential
        >>> from adkit.nn.layers import Dense
        >>> model = Sequential([Dense(3, input_shape=(2,), name="hidden"), Dense(1, name="out")])
        >>> model.pop().name, [layer.name for layer in model.layers], model.output_shape
        ('out', ['hidden'], (None, 3))
        """
        if not self.layers:
            raise TypeError(f"there are no layers in {self.name!r} to pop")
        layer = self.layers.pop()
        layer._owner = None
        self.optimizer = None   # its slots were sized for the popped layer's weights
        if self.params is not None and self.layers:
            kept = [kept_layer.name for kept_layer in self.layers]
            params = {name: self.params[name] for name in kept}
            state = {name: self.state[name] for name in kept if name in self.state}
            self.build_for_example(self.example_input_shape, weights=(params, state))
        elif not self.layers:
            self.params, self.state, self._layer_shapes = None, {}, []
            self.example_output_shape = None
        return layer

    def _declare_input(self, shape: Shape) -> None:
        """Keras 3's `Sequential([keras.Input(shape), ...])`: the shape goes to the first
        layer as its input_shape (the Input itself is not one of model.layers, as in Keras)."""
        if self.layers:
            raise ValueError(f"an Input can only start a Sequential model; {self.name!r} "
                             f"already has layers {[l.name for l in self.layers]}")
        self._declared_input_shape = shape

    def build(self, input_shape: Shape, weights: tuple[dict, dict] | None = None) -> None:
        """Keras's model.build(input_shape): the batch axis first, e.g.
        `model.build((None, 28, 28, 1))`; a shape starting with an int is one example's
        shape (adkit's form, `model.build((28, 28, 1))`). Creates the parameters, seeded
        by self.seed (see build_for_example for `weights`)."""
        self.build_for_example(example_shape_of(input_shape), weights)

    def build_for_example(self, input_shape: Shape,
                          weights: tuple[dict, dict] | None = None) -> None:
        """Check every layer's shapes for inputs of one example's `input_shape` (batch
        axis excluded) and create parameters (seeded by self.seed), or adopt `weights` =
        (params, state) without initialising any (load_model passes the file's arrays,
        checked against the shapes the layers imply)."""
        if not self.layers:
            raise ValueError("the model has no layers; add some before building it")
        shape = _as_shape(input_shape, self.layers[0].name)
        shapes = [shape]
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            if isinstance(shape, list):   # e.g. LSTM(return_state=True), as Keras says
                raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) gives "
                                 f"{len(shape)} outputs; every layer of a Sequential model "
                                 "must give one tensor: use the functional API (Model) for "
                                 "layers with several outputs")
            shapes.append(tuple(shape))
        self.params, self.state = weights if weights is not None else \
            self._initial_weights(shapes)
        nested = {layer.name for layer in self.layers if isinstance(layer, ModelLayer)}
        if nested:   # a nested model holds the same arrays and keeps its own state dict
            self.state = NestedState(self.state, nested)
        for layer, in_shape in zip(self.layers, shapes):
            if isinstance(layer, ModelLayer):
                layer.adopt(in_shape, self.params[layer.name], self.state.get(layer.name, {}))
        self.example_input_shape, self.example_output_shape = shapes[0], shapes[-1]
        self._layer_shapes = shapes
        self._index_parameters()

    def _initial_weights(self, shapes: list[Shape]) -> tuple[dict, dict]:
        """(params, state) initialised from the model's seed for the layers' input shapes."""
        rng = np.random.default_rng(self.seed)
        params, state = {}, {}
        for layer, in_shape in zip(self.layers, shapes):
            params[layer.name] = layer.init_params(rng, in_shape)
            if layer.has_state:
                state[layer.name] = layer.init_state(in_shape)
        return params, state

    def fresh_weights(self, input_shape: Shape) -> tuple[dict, dict]:
        """(params, state) as built from the model's seed for inputs of `input_shape`
        (nothing is stored): what the model gets as a layer of another (nn/layers/nested.py)."""
        return self._initial_weights(stack_shapes(self, input_shape))

    def output_shape_for(self, input_shape: Shape) -> Shape:
        """The output shape for inputs of `input_shape`, which must be the model's."""
        return stack_shapes(self, input_shape)[-1]

    @property
    def trainable(self) -> bool:
        """Whether fit trains the model; setting it sets every layer's, as Keras's (so
        `base.trainable = False` freezes a model used inside another, before compile)."""
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.__dict__["_trainable"] = bool(value)
        for layer in self.layers:
            layer.trainable = bool(value)

    def trainable_part(self, tree: dict) -> dict:
        """The entries of a per-layer tree (params, grads) that belong to trainable layers;
        a nested model or a subclassed layer contributes its own trainable part (its
        frozen layers stay out)."""
        return {l.name: l.trainable_part(tree[l.name]) if hasattr(l, "trainable_part")
                else tree[l.name] for l in self.layers if l.trainable}

    def _index_parameters(self) -> None:
        self._trainable_leaves = tree_flatten(self.trainable_part(self.params))[0]

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
        return apply_layers(self.layers, params, x, ctx, logits=logits), ctx.new_state

    def loss_fn(self, params: dict, x: Any, y: Any, rng: np.random.Generator | None = None,
                training: bool = True, sample_weight: Any = None,
                state: dict | None = None) -> tuple[Any, tuple[Any, dict]]:
        """(mean loss + weight penalties, (output, new_state)) for one batch; with
        sample_weight the mean is Keras's weighted "sum_over_batch_size". state: the
        layers' state to start from (default: the model's)."""
        fused = self._fused_loss
        ctx = Context(training=training, rng=rng, state=self.state if state is None else state)
        out = apply_layers(self.layers, params, x, ctx, logits=fused is not None)
        new_state = ctx.new_state
        per_example = (fused or self.loss)(y, out)
        weights = losses_module.masked_weights(ctx.output_masks[0], per_example, sample_weight)
        loss = losses_module.weighted_mean(per_example, weights)
        for layer in self.layers:
            if layer.regularizers or hasattr(layer, "add_loss"):   # add_loss: subclassing.py
                loss = loss + layer.penalty(params[layer.name])
        return loss, (out, new_state)

    def final_outputs(self, out: Any) -> Any:
        """The model's outputs from what loss_fn computed the loss from: with a loss fused
        to the last activation (softmax + cross-entropy) that was the logits."""
        return out if self._fused_loss is None else self.layers[-1].activation(out)

    def empty_output(self) -> np.ndarray:
        """The outputs of zero examples (an empty shard's)."""
        return np.zeros((0,) + tuple(self.example_output_shape), self.layers[-1].dtype)

    def apply_constraints(self) -> None:
        """Project trainable parameters onto their layers' constraints (after an update);
        a nested model projects its own."""
        for layer in self.layers:
            if not layer.trainable:
                continue
            if isinstance(layer, ModelLayer):
                layer.apply_constraints()
                continue
            for pname, constraint in layer.constraints.items():
                if constraint is not None:
                    constraint(self.params[layer.name][pname])

    # --- compile -------------------------------------------------------------
    @_all_or_nothing
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: list | None = None,
                device: str | None = None, distribute: Any = None,
                weighted_metrics: list | None = None, jit_compile: bool | str = "auto",
                run_eagerly: bool = False, steps_per_execution: int = 1,
                auto_scale_loss: bool = True) -> None:
        """Choose optimizer, loss and metrics (Keras names or objects). weighted_metrics
        are metrics that fit's and evaluate's sample_weight / class_weight apply to.

        Keras 3's run_eagerly=True is jit_compile=False. steps_per_execution (a positive
        int) and auto_scale_loss (mixed precision's) are taken and change nothing: a
        step is one program already, and adkit trains in float32.

        device="opencl" trains on an OpenCL device (default: $ADKIT_DEVICE, else "cpu");
        distribute="mpi" trains data-parallel over the MPI ranks this script was
        launched on (see adkit.nn.distributed).

        jit_compile (Keras's name): "auto" (the default) or True runs each training step
        as one adkit.compile program (loss, gradient and update; nn/compiled_step.py)
        where the configuration allows, else eagerly (`model.trainer.eager_reason` says
        why; with True a CompileWarning does too); False always steps eagerly."""
        jit_compile = keras_compile_options(jit_compile, run_eagerly, steps_per_execution)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'; valid "
                             f"names: {', '.join(list(losses_module.ALL) + list(losses_module.ALIASES))}")
        device = str(device or os.environ.get("ADKIT_DEVICE", "cpu")).strip()
        where = "" if "ADKIT_DEVICE" not in os.environ else \
            f" (from ADKIT_DEVICE={os.environ['ADKIT_DEVICE']!r})"
        if device.lower().split(":")[0] not in DEVICES:
            raise ValueError(f"unknown device {device!r}{where}; use 'cpu' or 'opencl' (or "
                             "'opencl:N', 'opencl:P:D', 'opencl:<part of a device name>')")
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list, e.g. ['accuracy'], got {metrics!r}")
        self.optimizer = optimizers_module.get(optimizer)
        self.optimizer.track_weight_names(self)   # for exclude_from_weight_decay(var_names=)
        placement = HostPlacement(self) if device.lower() == "cpu" else \
            device_placement(self, device, where, distribute)
        strategy = strategies.get(distribute)
        self.device = device
        self.loss = losses_module.get(loss)
        loss_name = getattr(self.loss, "__name__", None)
        self._metric_specs = list(metrics or [])
        self.compiled_metrics = [metrics_module.get(m, loss=loss_name) for m in self._metric_specs]
        self._metric_keys = [m if isinstance(m, str) else c.name
                             for m, c in zip(self._metric_specs, self.compiled_metrics)]
        add_weighted_metrics(self, weighted_metrics, loss_name)
        self.trainer = Trainer(self, strategy, placement, jit_compile=jit_compile)

    @property
    def jit_compile(self) -> bool | str:
        """compile's jit_compile: "auto" (default), True or False."""
        return self.trainer.jit_compile

    def compile_config(self) -> dict:
        """What save_model stores to compile the model again on load."""
        return {"loss": losses_module.serialize(self.loss),
                "metrics": metrics_module.saved_metrics(self._metric_specs),
                "jit_compile": self.jit_compile}

    @property
    def is_chief(self) -> bool:
        """Whether this process shows progress and writes files (rank 0, or the only one)."""
        return self.trainer.is_chief

    @property
    def _fused_loss(self) -> Callable | None:
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, _Activated):
            return None
        return losses_module.fused(self.loss, last.activation)

    @property
    def metrics_names(self) -> list[str]:
        """"loss", then each compiled metric's name: the order evaluate returns them in."""
        return ["loss"] + self._metric_keys

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None:
            raise ValueError(f"{what}: compile the model first, e.g. model.compile("
                             "optimizer='adam', loss='categorical_crossentropy')")

    # --- data checks ---------------------------------------------------------
    def prepare_data(self, x: Any, y: Any | None, what: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(x, y) as arrays of the dtypes the model takes, checked against its input shape
        and loss (errors name `what`); builds the model from x's shape if it is not built."""
        x = _as_array(x, "x", what, strings=self.layers[0].dtype == object)
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{what}: x has no examples (shape {x.shape})")
        if not np.issubdtype(x.dtype, np.integer) or not isinstance(self.layers[0], Embedding):
            x = x.astype(self.layers[0].dtype, copy=False)
        if self.params is not None:
            x = with_unit_axis(x, self.example_input_shape)
        if self.params is None:
            self.build_for_example(x.shape[1:])
        elif not _compatible(x.shape[1:], self.example_input_shape):
            first = self.layers[0]
            raise ShapeError(f"{what}: layer {first.name!r} ({type(first).__name__}) expects "
                             f"input of shape {tuple(self.example_input_shape)} per example, but x has "
                             f"shape {x.shape} (per example {x.shape[1:]})")
        if y is None:
            return x, None
        y = _as_array(y, "y", what)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"{what}: x has {x.shape[0]} examples but y has {y.shape[0]}")
        losses_module.check_targets(self.loss, y, self.example_output_shape)
        if getattr(self.loss, "__name__", "") != "sparse_categorical_crossentropy":
            y = y.astype(self.layers[-1].dtype, copy=False)
        return x, y

    _prepare = prepare_data   # the name nn/downpour.py calls it by

    # --- training and inference: the Trainer's loop --------------------------
    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                       class_weight: dict | None = None, return_dict: bool = False) -> Any:
        """One optimizer step on one batch; returns the batch loss, or [loss, *metrics]
        when metrics are compiled (the metrics on this batch alone), as Keras's
        (return_dict=True: a dict by name)."""
        self._require_compiled("train_on_batch")
        logs = self.trainer.train_on_batch(x, y, sample_weight=sample_weight,
                                           class_weight=class_weight)
        if return_dict:
            return logs
        values = list(logs.values())   # Keras's form: the loss alone, or [loss, *metrics]
        return values if len(values) > 1 else values[0]

    def fit(self, x: Any, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: list | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: Any = 1) -> History:
        """Train for `epochs` passes over (x, y), or over the batches of a generator,
        iterable or adkit.nn.utils.Sequence passed as x; returns a History. Arguments
        as Keras's (see adkit.nn.training.Trainer.fit and adkit.nn.data_adapters)."""
        self._require_compiled("fit")
        return self.trainer.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                                callbacks=callbacks, validation_split=validation_split,
                                validation_data=validation_data, shuffle=shuffle,
                                class_weight=class_weight, sample_weight=sample_weight,
                                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                                validation_steps=validation_steps,
                                validation_batch_size=validation_batch_size,
                                validation_freq=validation_freq)

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0,
                steps: int | None = None, callbacks: list | None = None) -> np.ndarray:
        """The model's outputs for x (arrays, or a generator / Sequence of batches),
        computed in batches (inference mode). callbacks get on_predict_begin/end and
        on_predict_batch_begin/end (the batch's outputs in logs["outputs"]). An unbuilt
        model is built from the arrays' shape, as in Keras."""
        if is_batch_source(x):
            self._require_built("predict")
        return around_inference(callbacks, self, "predict", lambda hooks: self.trainer.predict(
            x, batch_size=batch_size, verbose=verbose, steps=steps, hooks=hooks))

    def evaluate(self, x: Any, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = 0, sample_weight: Any = None,
                 class_weight: dict | None = None, steps: int | None = None,
                 return_dict: bool = False, callbacks: list | None = None) -> Any:
        """[loss, *metrics] on (x, y) (or a generator / Sequence of batches) in inference
        mode (just the loss without metrics), averaged over examples, like Keras.
        callbacks get on_test_begin/end (the end with the results as a dict) and
        on_test_batch_begin/end (the running results)."""
        self._require_compiled("evaluate")

        def results(as_dict: bool, hooks: Any = NO_HOOKS) -> Any:
            return self.trainer.evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                         sample_weight=sample_weight,
                                         class_weight=class_weight, steps=steps,
                                         return_dict=as_dict, hooks=hooks)
        if not callbacks:
            return results(return_dict)
        logs = around_inference(callbacks, self, "test", lambda hooks: results(True, hooks))
        if return_dict:
            return logs
        values = list(logs.values())   # Keras's form: the loss alone, or [loss, *metrics]
        return values if len(values) > 1 else values[0]

    def __call__(self, x: Any, training: bool = False) -> Any:
        """model(x): on KerasTensors, the model as one layer of a functional graph (its
        weights shared); on arrays, its outputs (inference unless training=True)."""
        return call_model(self, x, training)

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

    def current_weight_slots(self) -> list[tuple[str, np.ndarray]]:
        """weight_slots, once the host copies have caught up with an OpenCL device
        mid-fit (a batch callback's get_weights would read stale values otherwise)."""
        trainer = self.__dict__.get("trainer")
        if trainer is not None:
            trainer.placement.to_host()
        return self.weight_slots()

    @property
    def weights(self) -> list[np.ndarray]:
        """Every weight array of the model itself (not copies), in get_weights order:
        Keras's `model.weights`, as arrays rather than variables."""
        return [w for _, w in self.current_weight_slots()]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, layer by layer (parameters, then state)."""
        return [w.copy() for _, w in self.current_weight_slots()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Copy weights (in get_weights order) into the model, checking every shape first."""
        slots = self.weight_slots()
        if len(weights) != len(slots):
            raise ValueError(f"set_weights got {len(weights)} arrays; the model has {len(slots)}")
        for (name, w), new in zip(slots, weights):
            if np.shape(new) != w.shape:
                raise ValueError(f"set_weights: {name} has shape {w.shape}, got {np.shape(new)}")
            if not np.can_cast(np.asarray(new).dtype, w.dtype, "same_kind"):   # before any copy
                raise TypeError(f"set_weights: {name} holds {w.dtype}, got an array of "
                                f"{np.asarray(new).dtype}; pass numbers")
        for (_, w), new in zip(slots, weights):
            np.copyto(w, new, casting="same_kind")

    def count_params(self) -> int:
        """The number of values in all weights, state included (BatchNormalization's
        moving statistics), as Keras counts them: summary()'s "Total params"."""
        return sum(w.size for _, w in self.weight_slots())

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights fit updates, in `weights` order: those of trainable layers (a frozen
        layer's and a frozen model's are not), without state (BatchNormalization's moving
        statistics). Keras's `model.trainable_weights`, as arrays rather than variables."""
        trained = {id(w) for w in tree_flatten(self.trainable_part(self.params))[0]}
        return [w for w in self.weights if id(w) in trained]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The weights fit leaves alone, in `weights` order: a frozen layer's, and state."""
        trained = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trained]

    @property
    def variables(self) -> list[np.ndarray]:
        """Keras's `model.variables`: here the same arrays as `weights` (adkit.nn keeps no
        metric or random-generator variables in the model)."""
        return self.weights

    @property
    def trainable_variables(self) -> list[np.ndarray]:
        """Keras's name for `trainable_weights`."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[np.ndarray]:
        """Keras's name for `non_trainable_weights`."""
        return self.non_trainable_weights

    def predict_on_batch(self, x: Any) -> Any:
        """The model's outputs for one batch, all at once (Keras's predict_on_batch):
        what `predict(x)` gives, without splitting x into batches."""
        return self.predict(x, batch_size=_batch_length(x, "predict_on_batch"))

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        """The loss (and metrics) on one batch, as Keras's test_on_batch: what
        `evaluate(x, y)` returns on that batch alone (the metrics start afresh)."""
        self._require_compiled("test_on_batch")
        return self.evaluate(x, y, batch_size=_batch_length(x, "test_on_batch"),
                             sample_weight=sample_weight, return_dict=return_dict)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON, Keras's {"class_name", "config"}, without weights:
        `adkit.nn.models.model_from_json` builds the model again (fresh weights, from
        the config's seed). kwargs go to json.dumps (indent=2, say)."""
        class_name = getattr(type(self), "_json_class_name", None)
        if class_name is None or is_subclass_with_call(type(self)):
            raise TypeError(f"to_json: model {self.name!r} is a subclassed model "
                            f"({type(self).__name__}); its layers are code, which JSON does not "
                            "hold. Rebuild it from its class and use save_weights/load_weights")
        return json.dumps({"module": "adkit.nn", "class_name": class_name,
                           "config": self.get_config()}, **kwargs)

    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Callable[[str], None] | None = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Any = None) -> None:
        """Layers, output shapes and parameter counts, as a table; print_fn is called once
        per line, as Keras calls it (so a logger gets one record a line). Keras's layout
        options (line_length, positions, expand_nested, show_trainable, layer_range) are
        taken and change nothing: the table is sized to its content."""
        print_fn = print if print_fn is None else print_fn
        self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        trainable = non_trainable = 0
        for layer, shape in zip(self.layers, self._layer_shapes[1:]):
            n = sum(w.size for _, w in _walk(self.params[layer.name]))
            n_state = sum(w.size for _, w in _walk(self.state.get(layer.name, {})))
            trainable += n if layer.trainable else 0
            non_trainable += n_state + (0 if layer.trainable else n)
            kind = type(layer.model if isinstance(layer, ModelLayer) else layer).__name__
            rows.append((f"{layer.name} ({kind})", str((None,) + tuple(shape)),
                         f"{n + n_state:,}"))
        for line in summary_lines(self.name, rows, trainable, non_trainable):
            print_fn(line)

    # --- saving --------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name, "seed": self.seed,
                "input_shape": None if self.example_input_shape is None
                else list(self.example_input_shape),
                "layers": [serialize(layer) for layer in self.layers]}

    # from_config is attached by nn/models.py, which knows both model classes

    def save(self, path: str | os.PathLike, include_optimizer: bool = True,
             overwrite: bool = True) -> None:
        """Write config, weights (and optimizer state) to one file, atomically. Under
        distribute="mpi" only rank 0 writes (every rank holds the same weights).
        A name ending in .h5 or .hdf5 gets the legacy HDF5 layout Keras writes there
        (nn/legacy_h5.py); any other name, .keras included, adkit's file.
        overwrite=False refuses an existing file."""
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"model.save: {os.fspath(path)!r} exists and "
                                  "overwrite=False; pass overwrite=True to replace it")
        if not self.is_chief:
            return
        if os.fspath(path).lower().endswith((".h5", ".hdf5")):
            save_model_h5(self, path, include_optimizer=include_optimizer)
        else:
            save_model(self, path, include_optimizer=include_optimizer)

    # --- weights in and out as Keras does it (nn/weights_io.py, nn/onnx_export.py) ---
    def save_weights(self, path: str | os.PathLike, overwrite: bool = True) -> None:
        """Write the weights only: Keras 3's layout for names ending in .weights.h5
        (Keras can load them), adkit's model file otherwise. See adkit.nn.weights_io."""
        from .weights_io import save_weights
        if self.is_chief:
            save_weights(self, path, overwrite=overwrite)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Read weights from save_weights (either format), model.save, or Keras 3's
        save_weights into this model, built with the same layers in the same order."""
        from .weights_io import load_weights
        load_weights(self, path)

    def export_onnx(self, path: str | os.PathLike) -> None:
        """Write the model as an ONNX graph for inference (adkit.nn.onnx_export)."""
        from .onnx_export import export_onnx
        export_onnx(self, path)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called `name`, or at position `index`, as in Keras."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: pass a layer name or an index, not both nor neither")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model has "
                                 f"{len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; the model's layers are "
                         f"{[layer.name for layer in self.layers]}")


def unbuilt_sequential(layers: list[Layer], name: str | None, seed: int | None) -> Sequential:
    """A Sequential of `layers`, not built: add() builds (and initialises) as soon as the
    first layer knows its input shape, so that shape is hidden while adding (the weights
    come from elsewhere, a file or a config's owner)."""
    model = Sequential(name=name, seed=seed)
    first, layers[0].input_shape = layers[0].input_shape, None
    try:
        for layer in layers:
            model.add(layer)
    finally:
        layers[0].input_shape = first
    return model


def example_shape_of(input_shape: Any) -> Any:
    """One example's shape from what Keras's model.build takes: (None, *shape) loses its
    batch axis; a shape starting with an int (adkit's form) is kept; a list is one per input.

    >>> example_shape_of((None, 28, 28, 1)), example_shape_of((3,)), example_shape_of([(None, 2)])
    ((28, 28, 1), (3,), [(2,)])
    """
    if isinstance(input_shape, list) and input_shape and all(
            isinstance(shape, (tuple, list)) for shape in input_shape):
        return [example_shape_of(shape) for shape in input_shape]
    if isinstance(input_shape, (tuple, list)) and len(input_shape) >= 2 \
            and input_shape[0] is None:
        return tuple(input_shape[1:])
    return input_shape


def batch_shapes(model: Any, shapes: Any, which: str) -> Any:
    """Keras's model.input_shape / output_shape from example shapes (batch axis excluded):
    (None, *shape), or a list of them for several inputs or outputs.

    >>> class Built: name = "m"
    >>> batch_shapes(Built(), (28, 28, 1), "input"), batch_shapes(Built(), [(3,), (2,)], "output")
    ((None, 28, 28, 1), [(None, 3), (None, 2)])
    """
    if shapes is None:
        raise AttributeError(
            f"{type(model).__name__} model {model.name!r} has no defined {which} shape yet: it "
            "is not built; start it with keras.Input(shape=...), give the first layer "
            "input_shape=..., or call model.build(...) or fit first")
    if isinstance(shapes, list):
        return [(None,) + tuple(shape) for shape in shapes]
    return (None,) + tuple(shapes)


def add_weighted_metrics(model: Any, weighted_metrics: list | None, loss_name: Any) -> None:
    """Append compile's weighted_metrics to model's compiled metrics; a name that a plain
    metric has already gets "weighted_" in front (Keras 2's naming)."""
    if weighted_metrics is None:
        return
    if not isinstance(weighted_metrics, (list, tuple)):
        raise TypeError(f"weighted_metrics must be a list, e.g. ['accuracy'], got "
                        f"{weighted_metrics!r}")
    for spec in weighted_metrics:
        metric = metrics_module.get(spec, loss=loss_name)
        key = spec if isinstance(spec, str) else metric.name
        if key in model._metric_keys:
            key = "weighted_" + key
        model.compiled_metrics.append(metrics_module.WeightedMetric(metric, key))
        model._metric_keys.append(key)


def _batch_length(x: Any, what: str) -> int:
    """How many examples one batch x holds: an array, a list of arrays (one per input)
    or a dict of them by input name."""
    if isinstance(x, dict):
        first = next(iter(x.values()), None)
    elif isinstance(x, (list, tuple)) and x and all(isinstance(a, np.ndarray) for a in x):
        first = x[0]
    else:
        first = x
    if first is None or hasattr(first, "__next__") or hasattr(first, "on_epoch_end"):
        raise TypeError(f"{what} takes one batch of arrays (an array, a list of arrays per "
                        f"input, or a dict by input name), got {type(x).__name__}; for a "
                        "generator or Sequence of batches use predict / evaluate")
    shape = np.shape(first)
    if not shape or shape[0] == 0:
        raise ValueError(f"{what}: x has no examples (shape {shape})")
    return int(shape[0])




def _compatible(given: tuple, expected: tuple) -> bool:
    return len(given) == len(expected) and all(e is None or g == e for g, e in zip(given, expected))


def with_unit_axis(x: np.ndarray, expected: tuple) -> np.ndarray:
    """x with the trailing axis of length 1 that the model's input has and x lacks (a
    column of values given as a vector, shape (n,) for inputs (None, 1)), as Keras 3 adds it.

    >>> with_unit_axis(np.zeros(3), (1,)).shape
    (3, 1)
    """
    expected = tuple(expected)
    if expected and expected[-1] == 1 and x.ndim == len(expected) \
            and _compatible(x.shape[1:] + (1,), expected):
        return x[..., None]
    return x


def _as_array(a: Any, what: str, where: str, strings: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: {what} must be array-like ({e})") from None
    if strings and arr.dtype.kind in "USO":   # an Input(dtype="string") (StringLookup)
        return arr
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{where}: {what} must hold numbers, got dtype {arr.dtype}")
    return arr
