"""Layers and models written the Keras way, by subclassing: weights made in `build`
with `self.add_weight(...)`, the forward pass in `call(self, inputs, training=None)`,
other layers kept as attributes and called on the way.

>>> import numpy as np
>>> from adkit.nn import Sequential
>>> from adkit.nn.layers import Layer
>>> class Scale(Layer):
...     def build(self, input_shape):
...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
...     def call(self, inputs):
...         return inputs * self.w
>>> model = Sequential([Scale(input_shape=(3,))])
>>> model.predict(np.array([[1.0, 2.0, 3.0]]))
array([[1., 2., 3.]], dtype=float32)

adkit keeps every model's parameters outside its layers (layers/base.py), so such a
layer is adapted to that contract: `add_weight` returns a `Variable`, a placeholder
for a weight the model holds; `init_params` runs `build` and one call on zeros (which
builds the sublayers and finds the output shape), and `call(params, x, ctx)` puts the
parameters, traced or not, in place of the Variables in the layer's attributes for the
length of the user's call. Sublayers called inside it compute with their entries of
the same parameters (`active_frame`). Weights that are not trainable are the layer's
state; `variable.assign(value)` in a training call updates it.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from typing import Any, Callable

import numpy as np

import adkit

from .. import constraints as constraints_module
from .. import initializers
from .. import regularizers as regularizers_module
from ..seeding import fresh_seed
from .context import Context, ShapeError

_local = threading.local()


# --- Variables ------------------------------------------------------------------------------


class Variable:
    """One weight made by `add_weight`: its value lives in the model holding the layer.

    In the layer's call, the attribute holding it holds the parameter itself (a traced
    value while differentiating); elsewhere `value`, `numpy()` and NumPy functions read
    the model's current weight, and `assign` writes it."""

    def __init__(self, layer: Any, key: str, initial: np.ndarray, trainable: bool) -> None:
        self._layer = layer
        self.name = key
        self._initial = initial
        self.trainable = trainable
        self._initializer: Any = None
        self._in_init = False         # made in the layer's __init__, not its build

    @property
    def path(self) -> str:
        return self.name

    @property
    def value(self) -> np.ndarray:
        """The weight's current value (the model's array once the model is built)."""
        owner = self._layer._owner() if self._layer._owner is not None else None
        tree = None
        if owner is not None and getattr(owner, "params", None) is not None:
            tree = (owner.params if self.trainable else owner.state).get(self._layer.name)
        if tree is not None and self.name in tree:
            return tree[self.name]
        return self._initial

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return np.array(self.value)

    def assign(self, value: Any) -> None:
        """Set the weight: inside a training call (a state variable) it is the layer's new
        state; elsewhere it is written into the model's array."""
        frame = active_frame()
        if frame is not None and frame.binds(self):
            if self.trainable:
                raise ValueError(f"variable {self.name!r} of layer {self._layer.name!r} is "
                                 "trainable: the optimizer sets it; assign in call only to "
                                 "weights made with trainable=False")
            frame.assign(self, value)
            return
        np.copyto(self.value, np.asarray(value), casting="same_kind")

    def assign_add(self, delta: Any) -> None:
        """assign(value + delta)."""
        self.assign(self._current() + delta)

    def assign_sub(self, delta: Any) -> None:
        """assign(value - delta)."""
        self.assign(self._current() - delta)

    def _current(self) -> Any:
        frame = active_frame()
        return frame.value_of(self) if frame is not None and frame.binds(self) else self.value

    shape = property(lambda self: self._initial.shape, doc="The weight's shape.")
    dtype = property(lambda self: self._initial.dtype, doc="The weight's dtype.")
    ndim = property(lambda self: self._initial.ndim, doc="The number of axes.")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)

    def __len__(self) -> int:
        return len(self._initial)

    def __repr__(self) -> str:
        return (f"<Variable {self._layer.name}/{self.name} shape={self.shape} "
                f"dtype={self.dtype.name} trainable={self.trainable}>")


def _on_value(name: str) -> Callable:
    """Variable's operator `name`: the ndarray's, on the current value."""
    def operator(self: Variable, *others: Any) -> Any:
        return getattr(np.asarray(self.value), name)(*others)
    operator.__name__ = name
    return operator


# arithmetic outside the layer's call reads the current value, as a Keras variable's
# (inside the call the attribute holds the parameter itself)
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__matmul__", "__rmatmul__", "__pow__",
              "__neg__", "__getitem__", "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(Variable, _name, _on_value(_name))
del _name


# --- the frame of a subclassed layer's call ---------------------------------------------------


def active_frame() -> "Frame | None":
    """The innermost subclassed layer's call in progress on this thread, if any."""
    stack = getattr(_local, "frames", None)
    return stack[-1] if stack else None


class StateArray(np.ndarray):
    """The value of a weight that is not trainable, in the call of its layer: an array
    whose assign (assign_add, assign_sub) sets the layer's new state."""

    _binding: Any = None

    def assign(self, value: Any) -> None:
        """Make value the weight's new state (after this step, in training)."""
        if self._binding is None:
            raise AttributeError("assign: this array is computed from a weight, not the "
                                 "weight itself; assign to the layer's attribute")
        frame, variable = self._binding
        frame.assign(variable, value)

    def assign_add(self, delta: Any) -> None:
        """assign(value + delta)."""
        self.assign(self.view(np.ndarray) + delta)

    def assign_sub(self, delta: Any) -> None:
        """assign(value - delta)."""
        self.assign(self.view(np.ndarray) - delta)


class Frame:
    """One call of a subclassed layer: its parameters and state by variable and sublayer,
    the step's context, and (while building) the generator new weights are drawn from."""

    def __init__(self, layer: Any, params: dict, state: dict, ctx: Context,
                 rng: np.random.Generator | None) -> None:
        self.layer = layer
        self.params = params
        self.state = state
        self.new_state: dict = {}
        self.ctx = ctx
        self.rng = rng

    def binds(self, variable: Variable) -> bool:
        return variable._layer is self.layer

    def value_of(self, variable: Variable) -> Any:
        if variable.name in self.new_state:
            return self.new_state[variable.name]
        return (self.params if variable.trainable else self.state)[variable.name]

    def assign(self, variable: Variable, value: Any) -> None:
        if self.rng is not None:   # not while building
            return
        self.new_state[variable.name] = \
            np.asarray(adkit.stop_gradient(value)).astype(variable.dtype)
        # later reads in this call see the new value, as a Keras variable's do
        for attr, held in list(vars(self.layer).items()):
            if isinstance(held, StateArray) and held._binding is not None \
                    and held._binding[1] is variable:
                object.__setattr__(self.layer, attr, self.state_value(variable))

    def state_value(self, variable: Variable) -> "StateArray":
        """A state weight's value as its attribute holds it in the call: an array with
        Keras's assign. (A staged value, which is not an array, makes adkit.compile run
        the step eagerly, so that assign always has arrays to work on.)"""
        value = self.value_of(variable)
        if not isinstance(value, np.ndarray):
            raise NotImplementedError(
                f"layer {self.layer.name!r} keeps a weight that is not trainable "
                f"({variable.name!r}, set by assign in call), so its steps run eagerly")
        held = value.view(StateArray)
        held._binding = (self, variable)
        return held

    def run(self, layer: Any, inputs: Any, training: bool | None, options: dict) -> Any:
        """A sublayer called on values inside this call: its own call with its entry of
        this frame's parameters (made now, while building)."""
        key = _attribute_key(getattr(self.layer, "attribute_owner", self.layer), layer)
        if key not in self.params:
            if self.rng is None:
                raise ValueError(
                    f"layer {layer.name!r} ({type(layer).__name__}) is called inside "
                    f"{self.layer.name!r} but was not called when {self.layer.name!r} was "
                    "built; make sublayers in __init__ or build, not in call (a layer made "
                    "in call is a new one at each call), and call each on every call (a "
                    "branch that calls a layer only for some inputs cannot make its weights)")
            self.layer.__dict__.setdefault("_sublayers", {})[key] = layer
            SublayerWeights.attach(self.layer, key, layer)
            shape = _example_shape(inputs)
            self.params[key] = layer.init_params(self.rng, shape)
            if layer.has_state:
                self.state[key] = layer.init_state(shape)
        flag = self.ctx.training if training is None else bool(training)
        # the sublayer reads and writes its state under its own name
        sub = Context(training=flag, rng=self.ctx.rng,
                      state={layer.name: self.state.get(key, {})})
        out = layer.call(self.params[key], inputs, sub, **options)
        if layer.name in sub.new_state:
            self.new_state[key] = sub.new_state[layer.name]
        return out


class SublayerWeights:
    """Where a subclassed layer's sublayer finds its weights (its `_owner`): its entry,
    under its attribute key, of the weights of the model holding the outer layer. So
    `model.hidden.get_weights()`, `set_weights`, `.kernel` and `model.hidden(x)` work on
    a sublayer as in Keras."""

    def __init__(self, outer: Any, key: str, layer: Any) -> None:
        self._outer = weakref.ref(outer)
        self.key = key
        self.name = layer.name

    @classmethod
    def attach(cls, outer: Any, key: str, layer: Any) -> None:
        """Make `layer` (kept by `outer` under `key`) read its weights through outer's
        model, unless another model holds it already (a shared layer keeps those)."""
        if hasattr(layer, "inner_layers"):   # a model kept as an attribute: its own
            return
        current = None if layer._owner is None else layer._owner()
        if current is not None and not isinstance(current, cls):
            return
        holder = cls(outer, key, layer)
        layer.__dict__["_sublayer_weights"] = holder   # the owner reference is weak
        layer._owner = weakref.ref(holder)

    def _tree(self, which: str) -> dict | None:
        outer = self._outer()
        ref = None if outer is None else outer._owner
        owner = None if ref is None else ref()
        tree = getattr(owner, which, None)
        return None if tree is None else tree.get(outer.name)

    @property
    def params(self) -> dict | None:
        """{sublayer name: its parameters}, or None until the outer model is built."""
        tree = self._tree("params")
        return None if tree is None or self.key not in tree else {self.name: tree[self.key]}

    @property
    def state(self) -> dict:
        """{sublayer name: its state} (empty when it has none)."""
        tree = self._tree("state") or {}
        return {self.name: tree[self.key]} if self.key in tree else {}

    def weight_slots(self) -> list[tuple[str, np.ndarray]]:
        """The outer layer's weight slots under this sublayer's key, named by the
        sublayer ("params/<sublayer>/kernel")."""
        outer = self._outer()
        slots = []
        for path, w in outer._weight_slots("get_weights"):
            kind, _, rest = path.split("/", 2)
            if rest.startswith(f"{self.key}/"):
                slots.append((f"{kind}/{self.name}/{rest[len(self.key) + 1:]}", w))
        return slots


def _attribute_key(owner: Any, layer: Any) -> str:
    """The name of the attribute of owner holding layer ("ffn", or "blocks_1" for the
    second of a list): a sublayer's key in its owner's parameters, the same for every
    instance of the class, as Keras's weight paths. A layer held nowhere: its name."""
    keys = owner.__dict__.setdefault("_sublayer_keys", {})
    key = keys.get(id(layer))
    if key is None:
        key = layer.name
        # a model kept as an attribute is called as its ModelLayer (nested.as_layer)
        wanted = layer.model if hasattr(layer, "inner_layers") else layer
        for attr, held in vars(owner).items():
            if held is wanted:
                key = attr
                break
            if isinstance(held, (list, tuple)) and any(item is wanted for item in held):
                key = f"{attr}_{next(i for i, item in enumerate(held) if item is wanted)}"
                break
        keys[id(layer)] = key
    return key


def _example_shape(inputs: Any) -> Any:
    if isinstance(inputs, (list, tuple)):
        return [tuple(np.shape(x))[1:] for x in inputs]
    return tuple(np.shape(inputs))[1:]


# --- the adapter ------------------------------------------------------------------------------


def is_keras_style(cls: type) -> bool:
    """True when cls defines `call` the Keras way: call(self, inputs, ...) rather than
    adkit's call(self, params, x, ctx)."""
    call = cls.__dict__.get("call")
    if call is None or getattr(call, "_adapted", False):
        return False
    parameters = list(inspect.signature(call).parameters.values())[1:]
    if parameters and parameters[0].name == "params":
        return False
    # adkit's call takes three arguments without defaults (params, x, ctx); Keras's
    # takes the inputs, then training=None, mask=None, ... with defaults
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) < 3


def adapt(cls: type) -> None:
    """Give a Keras-style subclass adkit's layer contract (see the module)."""
    cls.call_alone = _call_alone
    cls._user_call = cls.__dict__["call"]
    user_shape = cls.__dict__.get("compute_output_shape")
    if user_shape is not None:
        cls._user_output_shape = user_shape
    cls.call = _call
    cls.penalty = _penalty
    cls.trainable_part = _trainable_part
    cls.add_loss = _add_loss
    cls.losses = property(_losses, doc="The losses add_loss gave in the last call, until "
                                       "the training loss takes them.")
    cls.compute_output_shape = _compute_output_shape
    cls.init_params = _init_params
    cls.init_state = _init_state


def add_weight(layer: Any, shape: Any = None, initializer: Any = None, dtype: Any = None,
               trainable: bool = True, regularizer: Any = None, constraint: Any = None,
               name: str | None = None, **ignored: Any) -> Variable:
    """Keras's Layer.add_weight, in build or (shapes known) in __init__: a weight of the
    given shape, drawn from initializer (default glorot_uniform for floats, zeros
    otherwise), held by the model that holds the layer (or by the layer, called alone)."""
    building = getattr(_local, "building", None)
    in_build = bool(building) and building[-1][0] is layer
    # made in __init__ (shapes known there): drawn now, and again from the model's
    # generator when the model builds the layer
    rng = building[-1][1] if in_build else np.random.default_rng(fresh_seed())
    weights = layer.__dict__.setdefault("_variables", {})
    key = name or ("variable" if "variable" not in weights else f"variable_{len(weights)}")
    if key in weights:
        raise ValueError(f"layer {layer.name!r} already has a weight named {key!r}; give "
                         "each add_weight a different name")
    shape = () if shape is None else (shape,) if isinstance(shape, (int, np.integer)) \
        else shape
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        shape = None
    if shape is None or any(n < 0 for n in shape):
        raise ValueError(f"layer {layer.name!r}: add_weight(name={name!r}) needs a shape of "
                         "non-negative ints, e.g. (input_shape[-1], units); an unknown "
                         "(None) axis cannot size a weight")
    dtype = np.dtype(dtype or layer.dtype)
    if initializer is None:
        initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
    value = np.asarray(initializers.get(initializer)(rng, shape, dtype), dtype=dtype)
    variable = Variable(layer, key, value, bool(trainable))
    variable._initializer = initializer
    variable._in_init = not in_build
    weights[key] = variable
    if regularizer is not None:
        layer.regularizers[key] = regularizers_module.get(regularizer)
    if constraint is not None:
        layer.constraints[key] = constraints_module.get(constraint)
    return variable


def _build(layer: Any, rng: np.random.Generator, input_shape: Any) -> tuple[dict, dict]:
    """Run the user's build and one call on zeros with fresh weights from rng; return
    (params, state) and remember the output shape."""
    made_in_init = {k: v for k, v in layer.__dict__.get("_variables", {}).items()
                    if v._in_init}
    for v in made_in_init.values():
        v._initial = np.asarray(initializers.get(v._initializer)(rng, v.shape, v.dtype),
                                dtype=v.dtype)
    layer.__dict__["_variables"] = dict(made_in_init)
    layer.__dict__["_sublayers"] = {}
    for key in [k for k, c in layer.constraints.items() if isinstance(c, SublayerConstraints)]:
        del layer.constraints[key]
    _local.__dict__.setdefault("building", []).append((layer, rng))
    try:
        full = _with_batch(input_shape)
        build = getattr(layer, "build", None)
        if build is not None:
            build(full if not isinstance(full, list) else full)
        variables = layer.__dict__["_variables"]
        params = {k: v._initial for k, v in variables.items() if v.trainable}
        state = {k: v._initial for k, v in variables.items() if not v.trainable}
        ctx = Context(training=False, rng=np.random.default_rng(0), state={})
        out_shape = _output_shape(_run(layer, params, state, ctx, rng,
                                       _zeros(input_shape, layer.dtype, 2), {}))
        if _has_unknown(input_shape):
            # an axis of unknown length (Input(shape=(None,))) was probed at length 2: a
            # second call at length 3, with the same weights, tells which output axes
            # follow it
            again = _output_shape(_run(layer, params, state, ctx, None,
                                       _zeros(input_shape, layer.dtype, 3), {}))
            out_shape = _unknown_where_different(out_shape, again)
    finally:
        _local.building.pop()
    layer.__dict__["_built_for"] = (_freeze(input_shape), out_shape)
    layer.has_state = bool(state)
    # the sublayers' constraints hold after every update, as Keras's optimizer applies
    # every trainable variable's: under the sublayer's key in this layer's parameters
    for key, sublayer in layer.__dict__["_sublayers"].items():
        if any(c is not None for c in getattr(sublayer, "constraints", {}).values()):
            layer.constraints[key] = SublayerConstraints(sublayer)
    return params, state


class SublayerConstraints:
    """A layer's weight constraints, applied (in place) to its entry of the parameters of
    the layer holding it (a subclassed layer's sublayer, a Bidirectional's direction);
    nothing while the sublayer is frozen, whose weights the optimizer leaves alone."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def __call__(self, params: dict) -> None:
        if not self.layer.trainable:
            return
        for pname, constraint in self.layer.constraints.items():
            if constraint is not None and pname in params:
                constraint(params[pname])


def _init_params(self: Any, rng: np.random.Generator, input_shape: Any) -> dict:
    params, state = _build(self, rng, input_shape)
    self.__dict__["_initial_state"] = state
    return params


def _init_state(self: Any, input_shape: Any) -> dict:
    return self.__dict__.get("_initial_state", {})


def _call_alone(self: Any, inputs: Any, training: bool | None, options: dict) -> Any:
    """layer(arrays) for a layer in no model (nodes.call_layer asks): Keras's standalone
    call, which builds the layer's own weights (its Variables' values) on the first call
    and computes with them."""
    shape = _example_shape(inputs)
    if self.__dict__.get("_built_for", (None,))[0] != _freeze(shape):
        _build(self, np.random.default_rng(fresh_seed()), shape)
    variables = self.__dict__["_variables"]
    params = {k: v._initial for k, v in variables.items() if v.trainable}
    state = {k: v._initial for k, v in variables.items() if not v.trainable}
    ctx = Context(training=bool(training), rng=np.random.default_rng(fresh_seed()), state={})
    out, new_state = _run_frame(self, params, state, ctx, None, inputs, options)
    for key, value in new_state.items():
        variables[key]._initial = np.asarray(value, dtype=variables[key].dtype)
    return out


def _compute_output_shape(self: Any, input_shape: Any, **options: Any) -> Any:
    user = getattr(type(self), "_user_output_shape", None)
    if user is not None:
        out = user(self, _with_batch(input_shape))
        return [tuple(s)[1:] for s in out] if isinstance(out, list) else tuple(out)[1:]
    built = self.__dict__.get("_built_for")
    if built is None or built[0] != _freeze(input_shape):
        _build(self, np.random.default_rng(0), input_shape)
        built = self.__dict__["_built_for"]
    return built[1]


def _add_loss(self: Any, loss: Any) -> None:
    """Keras's add_loss in call: a term added to the training loss of this step (an
    activity regularizer, a KL divergence)."""
    self.__dict__.setdefault("_call_losses", []).append(loss)


def _losses(self: Any) -> list:
    return list(self.__dict__.get("_call_losses", []))


def _trainable_part(self: Any, tree: dict) -> dict:
    """The entries of this layer's part of a params or grads tree that the optimizer
    updates: its trainable weights and its trainable sublayers' parts (a sublayer set
    trainable = False stays out, as in Keras)."""
    variables = self.__dict__.get("_variables", {})
    part = {k: tree[k] for k, v in variables.items() if v.trainable and k in tree}
    for key, sublayer in self.__dict__.get("_sublayers", {}).items():
        if sublayer.trainable and key in tree:
            part[key] = sublayer.trainable_part(tree[key]) \
                if hasattr(sublayer, "trainable_part") else tree[key]
    return part


def _penalty(self: Any, params: dict) -> Any:
    """The layer's regularizers on its own weights and its sublayers', plus what its
    last call gave add_loss (the model adds this to the loss after the forward pass)."""
    total = 0.0
    for key, regularizer in self.regularizers.items():
        if regularizer is not None:
            total = total + regularizer(params[key])
    for key, sublayer in self.__dict__.get("_sublayers", {}).items():
        total = total + sublayer.penalty(params[key])
    call_losses = self.__dict__.get("_call_losses", [])
    for loss in call_losses:
        total = total + loss
    # taken: the list would otherwise keep the step's traced (or staged) values alive
    call_losses.clear()
    return total


def _call(self: Any, params: dict, x: Any, ctx: Context, **options: Any) -> Any:
    state = ctx.state.get(self.name, {})
    frame_state = dict(state)
    out, new_state = _run_frame(self, params, frame_state, ctx, None, x, options)
    if new_state:
        ctx.new_state[self.name] = {**state, **new_state}
    return out


_call._adapted = True


def _run(layer: Any, params: dict, state: dict, ctx: Context, rng: Any, x: Any,
         options: dict) -> Any:
    return _run_frame(layer, params, state, ctx, rng, x, options)[0]


def _run_frame(layer: Any, params: dict, state: dict, ctx: Context, rng: Any, x: Any,
               options: dict) -> tuple[Any, dict]:
    frame = Frame(layer, params, state, ctx, rng)
    # add_loss's, for this call's penalty: the same list each call (the compiled step's
    # key watches the layer's attributes by identity)
    layer.__dict__.setdefault("_call_losses", []).clear()
    variables = layer.__dict__.get("_variables", {})
    swapped = _swap_in(layer, variables, frame)
    stack = _local.__dict__.setdefault("frames", [])
    stack.append(frame)
    try:
        out = _call_user(layer, x, ctx.training, options)
    finally:
        stack.pop()
        for attr, held in swapped.items():
            object.__setattr__(layer, attr, held)
    return out, frame.new_state


def _swap_in(layer: Any, variables: dict, frame: Frame) -> dict:
    """Put each Variable's parameter in the attributes holding it (also inside lists and
    tuples); return what to put back."""
    if not variables:
        return {}
    mine = {id(v) for v in variables.values()}
    swapped = {}
    for attr, held in list(vars(layer).items()):
        if isinstance(held, Variable) and id(held) in mine:
            swapped[attr] = held
            object.__setattr__(layer, attr, frame.value_of(held) if held.trainable
                               else frame.state_value(held))
        elif isinstance(held, (list, tuple)) and any(isinstance(v, Variable) and id(v) in mine
                                                     for v in held):
            swapped[attr] = held
            object.__setattr__(layer, attr, type(held)(
                frame.value_of(v) if isinstance(v, Variable) and id(v) in mine else v
                for v in held))
    return swapped


def _call_user(layer: Any, x: Any, training: bool, options: dict) -> Any:
    user: Callable = type(layer)._user_call
    accepted = _parameters(type(layer))
    kwargs = dict(options)
    if "training" in accepted:
        kwargs["training"] = training
    return user(layer, x, **kwargs)


def _parameters(cls: type) -> frozenset:
    cached = cls.__dict__.get("_user_call_parameters")
    if cached is None:
        cached = frozenset(inspect.signature(cls._user_call).parameters)
        type.__setattr__(cls, "_user_call_parameters", cached)
    return cached


def _with_batch(shape: Any) -> Any:
    if isinstance(shape, list):
        return [(None,) + tuple(s) for s in shape]
    return (None,) + tuple(shape)


def _zeros(shape: Any, dtype: np.dtype, unknown: int) -> Any:
    """One example of zeros, axes of unknown length given length `unknown`."""
    if isinstance(shape, list):
        return [_zeros(s, dtype, unknown) for s in shape]
    return np.zeros((1,) + tuple(unknown if n is None else n for n in shape), dtype=dtype)


def _has_unknown(shape: Any) -> bool:
    if isinstance(shape, list):
        return any(_has_unknown(s) for s in shape)
    return any(n is None for n in shape)


def _unknown_where_different(first: Any, second: Any) -> Any:
    if isinstance(first, list):
        return [_unknown_where_different(a, b) for a, b in zip(first, second)]
    if len(first) != len(second):
        raise ShapeError(f"a subclassed layer gave outputs of rank {len(first)} and "
                         f"{len(second)} for inputs of different lengths; give it "
                         "compute_output_shape")
    return tuple(a if a == b else None for a, b in zip(first, second))


def _output_shape(out: Any) -> Any:
    if isinstance(out, (list, tuple)):
        return [tuple(np.shape(o))[1:] for o in out]
    return tuple(np.shape(out))[1:]


def _freeze(shape: Any) -> Any:
    return tuple(tuple(s) for s in shape) if isinstance(shape, list) else tuple(shape)
