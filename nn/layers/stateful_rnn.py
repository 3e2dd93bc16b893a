"""Keras's stateful=True recurrent layers: the final states of one batch start the next.

The states are not weights (Keras keeps them in untracked variables: not in
`model.weights`, get_weights, count_params or .weights.h5). Here they live in the
model's layer state under the key "<layer name>/states", which no layer name can
be (names have no "/"): the training step, compiled or eager, threads the model's
layer state through every batch as it does BatchNormalization's moving statistics,
while get_weights, the summary and the saved files, which read the state of each
layer by its name, never see them. A training step hands the new states back
through the step's new state; inference (predict, evaluate, model(x)) stores them
in the model's state directly, since those passes keep no other state (a state=
dict given to Model.apply is left as it is).

The batch size is fixed, as in Keras: Input(batch_shape=(batch, ...)) or
Input(shape=..., batch_size=batch), or batch_input_shape= on the first layer of
a Sequential. `layer.reset_state()` (Keras 3; reset_states() too) sets the states
to zeros, or to the given arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .nodes import NoSymbolicTensorError


def state_key(layer: Any) -> str:
    """The key of `layer`'s carried states in its model's layer state."""
    return f"{layer.name}/states"


def state_names(layer: Any) -> tuple[str, ...]:
    """The carried arrays' names: (h,) or (h, c) for an LSTM."""
    return ("h", "c")[:layer.state_size]


def _outer(layer: Any) -> Any:
    """The layer a model holds: Bidirectional for the directions it wraps."""
    ref = getattr(layer, "_stateful_parent", None)   # a weakref.ref to the wrapper
    parent = None if ref is None else ref()
    return layer if parent is None else _outer(parent)


def _owner(layer: Any) -> Any:
    ref = getattr(_outer(layer), "_owner", None)
    return None if ref is None else ref()


def declared_batch_size(layer: Any) -> int | None:
    """The fixed batch size declared for `layer`: its own batch_input_shape=, else that
    of the Input(s) its graph starts from (Input(batch_shape=...) or batch_size=)."""
    layer = _outer(layer) if getattr(layer, "declared_batch_size", None) is None else layer
    if getattr(layer, "declared_batch_size", None) is not None:
        return layer.declared_batch_size
    try:
        start = layer.input
    except (NoSymbolicTensorError, ValueError):
        return None
    seen: set[int] = set()
    pending = list(start) if isinstance(start, (list, tuple)) else [start]
    while pending:
        tensor = pending.pop()
        node = getattr(tensor, "node", None)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        batch = getattr(node.layer, "batch_size", None)
        if batch is None:
            batch = getattr(node.layer, "declared_batch_size", None)
        if isinstance(batch, int) and not isinstance(batch, bool):
            return batch
        pending += node.input_tensors
    return None


def _who(layer: Any) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__}, stateful=True)"


def carried_states(layer: Any, ctx: Any, batch: int, dtype: Any) -> list:
    """The states the layer's call starts from: those the last call left in the model's
    layer state, or zeros. The batch must be the declared one."""
    expected = declared_batch_size(layer)
    if expected is None:
        raise ValueError(f"{_who(layer)} keeps its states from batch to batch, so its batch "
                         "size must be fixed: start the model with "
                         "Input(batch_shape=(batch, timesteps, features)) or "
                         "Input(shape=(timesteps, features), batch_size=batch), or give the "
                         "first layer of a Sequential batch_input_shape=(batch, timesteps, "
                         "features)")
    if batch != expected:
        raise ValueError(f"{_who(layer)} was declared for batches of {expected} (one state "
                         f"per sample), got a batch of {batch}: pass batch_size={expected} to "
                         f"fit/predict/evaluate and give them a number of samples divisible "
                         f"by {expected}")
    owner = _owner(layer)
    if getattr(owner, "_layer", None) is not None and ctx.state is not owner.state:
        # run as a layer of another model, whose state holds no entry for the carried
        # states (and whose weights would list them): refused rather than silently reset
        raise ValueError(f"{_who(layer)} is in model {owner.name!r}, which is used as a "
                         "layer of another model; a stateful layer there is not supported: "
                         "build one model from the layers themselves, or call "
                         f"{owner.name!r} directly")
    held = ctx.state.get(state_key(layer)) if ctx.state is not None else None
    names = state_names(layer)
    if held is None:
        return [np.zeros((batch, layer.units), dtype) for _ in names]
    return [held[name] for name in names]


def keep_states(layer: Any, ctx: Any, states: Any) -> None:
    """Hand the final states on: through the step's new state (a training step's), and,
    in inference, straight into the model's layer state."""
    new = {name: s for name, s in zip(state_names(layer), states)}
    ctx.new_state[state_key(layer)] = new
    # only into the model's own state: a caller's state= dict (Model.apply as a pure
    # function, e.g. under finite differences) stays as given
    owner = _owner(layer)
    if not ctx.training and ctx.state is not None and \
            ctx.state is getattr(owner, "state", None) and \
            all(isinstance(s, np.ndarray) for s in new.values()):
        ctx.state[state_key(layer)] = new


def reset(layer: Any, states: Any = None) -> None:
    """Set the layer's carried states to zeros, or to `states` (one array, or a list:
    [h] or [h, c], each (batch, units))."""
    if not layer.stateful:
        raise AttributeError(f"layer {layer.name!r} ({type(layer).__name__}) is not stateful: "
                             "only a layer made with stateful=True keeps states to reset")
    owner = _owner(layer)
    if owner is None or getattr(owner, "params", None) is None:
        return   # no model holds states for it yet: its first call starts from zeros
    key, names = state_key(layer), state_names(layer)
    if states is None:
        held = owner.state.get(key)
        if held is not None:
            owner.state[key] = {name: np.zeros_like(held[name]) for name in names}
        return
    given = list(states) if isinstance(states, (list, tuple)) else [states]
    if len(given) != len(names):
        raise ValueError(f"reset_state on {_who(layer)}: it holds {len(names)} state(s) "
                         f"{list(names)}, got {len(given)}")
    batch = declared_batch_size(layer)
    arrays = {}
    for name, value in zip(names, given):
        a = np.asarray(value, dtype=layer.dtype)
        if a.ndim != 2 or a.shape[1] != layer.units or batch not in (None, a.shape[0]):
            raise ValueError(f"reset_state on {_who(layer)}: state {name} must be "
                             f"(batch, units) = {(batch, layer.units)}, got {a.shape}")
        arrays[name] = a.copy()
    owner.state[key] = arrays


def current(layer: Any) -> list[np.ndarray] | None:
    """Copies of the states the layer carries now (None before its first call), as
    Keras's `layer.states` holds them."""
    owner = _owner(layer)
    held = None if owner is None or getattr(owner, "state", None) is None \
        else owner.state.get(state_key(layer))
    return None if held is None else [np.array(held[name]) for name in state_names(layer)]
