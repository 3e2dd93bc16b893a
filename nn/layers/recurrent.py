"""SimpleRNN, LSTM and GRU over (batch, timesteps, features), and Bidirectional.

Each layer's step equations are written once, in NumPy, in `_step`. They run
in one of two ways:

* implementation=1: the time loop runs on adkit's traced values, so reverse
  mode records every step and does backpropagation through time itself. Works
  with any activations.
* implementation=2 (the default, as in Keras): the whole loop is ONE operation
  (`_recurrence`, an adkit.custom_vjp whose forward rule hands its per-step
  intermediates to the backward rule as residuals), whose VJP is the hand-written
  backpropagation through time in `_step_back`: one tape entry instead of
  about 25 per LSTM step, no per-step cotangent bookkeeping, and the input
  projection of every timestep in one matmul. The hand-written derivatives
  assume Keras's default activations (tanh, and the sigmoid for gates); other
  activations fall back to implementation 1. The default LSTM without
  peepholes, the common case, has its own forward and backward pass with far
  fewer operations per step (fused_lstm.py). When no derivative is traced on
  its values (eager first-order training, or adkit.compile's staged values),
  each of the two is one opaque operation on plain arrays that splits the batch
  over the backend's threads (lstm_kernel.py): one statement each in a compiled
  training step instead of ~16 per timestep.

Both share `_step`, so the tests can compare the hand-written backward pass
with adkit's derivative of the very same forward pass. The backward pass is
written with NumPy operations and no in-place writes, so it is differentiable
again (forward mode and higher orders trace it).

Gate layouts follow Keras, so weights are interchangeable: LSTM columns are
(i, f, c, o), GRU columns (z, r, h). Keras's go_backwards reads the sequence
from the end and, with return_sequences, returns the outputs in that reading
order. A mask (Keras's, from Masking or Embedding(mask_zero=True); see
masking.py) makes every masked step keep the previous state, and its output the
previous output (zeros with zero_output_for_mask=True, which Bidirectional sets when
it returns sequences, as Keras does).

Keras's other arguments: return_state=True returns [output, *final states] (LSTM
[output, h, c], GRU and SimpleRNN [output, h]); `layer(x, initial_state=[...])`
starts the loop from given states (in a functional graph they join the node's
inputs); dropout / recurrent_dropout draw one mask per sequence for the inputs and
one for the state in training (per gate, as Keras, when recurrent_dropout > 0:
recurrent_options.py), and seed= is kept in the config while the masks come
from the model's generator (Sequential(seed=...)), as for Dropout; kernel_,
recurrent_ and bias_ initializer, regularizer and constraint are Keras's. A call
with a mask, an initial state, return_state or dropout masks runs the time loop
on adkit's traced values (implementation 1's path; the fused and opaque paths
compute the output alone from a zero state). Training an LSTM(64) on 4 batches of
128 x 20 steps took 28 ms with return_state against 26 ms without, compiled (the
default), and 54 against 34 ms with jit_compile=False (min of 3, 2 busy cores).
unroll is accepted and changes nothing (the loop is Python's either way);
use_cudnn takes "auto" or False (there is no cuDNN). stateful=True carries each
batch's final states to the next batch (and the next predict call) until
reset_state(), for a batch size fixed by Input(batch_shape=...) (stateful_rnn.py);
such calls run the traced loop from the carried states.
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import numpy as np

import adkit

from .. import activations
from . import fused_lstm, lstm_kernel
from . import recurrent_options as options
from . import stateful_rnn
from .base import Context, Layer, Shape, ShapeError, check_seed, deserialize, serialize
from .conv_options import refuse_activity_regularizer
from .nodes import call_layer, is_symbolic
from .subclassing import SublayerConstraints


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: configuration, weights and the time loop."""

    gates: ClassVar[int] = 1      # blocks of `units` columns in the kernels
    state_size: ClassVar[int] = 1  # arrays carried from step to step (h; LSTM adds c)
    sequence_input = True  # input_dim=n, input_length=t mean input_shape=(t, n), as in Keras
    takes_mask = True      # call(..., mask=) skips the masked steps (nn/layers/masking.py)

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 return_sequences: bool = False, go_backwards: bool = False,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None,
                 return_state: bool = False, stateful: bool = False, unroll: bool = False,
                 implementation: int = 2, zero_output_for_mask: bool = False,
                 **kwargs: Any) -> None:
        batch_input_shape = kwargs.get("batch_input_shape")
        super().__init__(**kwargs)
        kind = type(self).__name__
        who = f"{kind} {self.name!r}"
        #: the batch size batch_input_shape= fixes (a stateful layer's; stateful_rnn.py)
        self.declared_batch_size = None if batch_input_shape is None \
            else batch_input_shape[0]
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{kind} units must be a positive int, got {units!r}")
        if implementation not in (1, 2):
            raise ValueError(f"{kind} implementation must be 1 (traced step by step) or 2 "
                             f"(one fused operation), got {implementation!r}")
        refuse_activity_regularizer(activity_regularizer, who)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout = options.rate(dropout, "dropout", who)
        self.recurrent_dropout = options.rate(recurrent_dropout, "recurrent_dropout", who)
        self.seed = check_seed(seed, who)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        # as Keras: recurrent dropout runs the gates apart (one mask per gate)
        self.implementation = 1 if self.recurrent_dropout and self.gates > 1 \
            else int(implementation)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._set_kernel_options(kernel_regularizer, kernel_constraint)
        self._set_kernel_options(recurrent_regularizer, recurrent_constraint,
                                 names=("recurrent_kernel",))
        if self.use_bias:   # with no bias there is nothing to regularize or constrain
            self._set_kernel_options(bias_regularizer, bias_constraint, names=("bias",))

    # --- the functional API: the sequence, and the initial state ------------------------
    def __call__(self, inputs: Any, initial_state: Any = None, training: bool | None = None,
                 mask: Any = None) -> Any:
        """layer(sequence, initial_state=None): on KerasTensors a node of a functional
        graph (the initial state's tensors join its inputs: [sequence, *initial_state]),
        on arrays the layer's output. initial_state is a list of the states the loop
        starts from, (batch, units) each: [h] for SimpleRNN and GRU, [h, c] for LSTM,
        e.g. the states an encoder returned with return_state=True."""
        if initial_state is not None:
            if isinstance(inputs, (list, tuple)):
                raise TypeError(f"layer {self.name!r} ({type(self).__name__}): pass the "
                                "sequence alone when giving initial_state=, not a list")
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            inputs = [inputs, *states]
        call_options = {}
        if mask is not None:
            if is_symbolic(mask):
                raise TypeError(f"layer {self.name!r} ({type(self).__name__}): a mask= "
                                "KerasTensor is not recorded; make the mask with "
                                "Masking or Embedding(mask_zero=True) before the layer")
            call_options["mask"] = mask
        return call_layer(self, inputs, training, call_options)

    # --- shapes and weights ------------------------------------------------------------
    def compute_output_shape(self, input_shape: Any) -> Any:
        input_shape = self._sequence_shape(input_shape)
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise self.shape_error(input_shape, "(timesteps, features) with known features; "
                                   "a sequence of vectors, timesteps may be None")
        out = (input_shape[0], self.units) if self.return_sequences else (self.units,)
        if self.return_state:
            return [out] + [(self.units,)] * self.state_size
        return out

    def _sequence_shape(self, input_shape: Any) -> Shape:
        """The sequence's shape from the input shape(s): [sequence, *initial states]
        when an initial state is given, whose shapes are checked here."""
        if not isinstance(input_shape, list):
            return tuple(input_shape)
        self._check_state_count(len(input_shape) - 1)
        for i, shape in enumerate(input_shape[1:]):
            if tuple(shape) != (self.units,):
                raise ShapeError(f"layer {self.name!r} ({type(self).__name__}): initial "
                                 f"state {i} must have shape (batch, {self.units}), got "
                                 f"{(None,) + tuple(shape)}")
        return tuple(input_shape[0])

    def _check_state_count(self, count: int) -> None:
        if count != self.state_size:
            names = "[h, c]" if self.state_size == 2 else "[h]"
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes "
                             f"{self.state_size} initial state(s), {names}, each (batch, "
                             f"{self.units}); got {count}")

    def init_params(self, rng: np.random.Generator, input_shape: Any) -> dict:
        input_shape = self._sequence_shape(input_shape)
        width = self.gates * self.units
        params = {
            "kernel": self._weight(rng, self.kernel_initializer, (input_shape[-1], width)),
            "recurrent_kernel": self._weight(rng, self.recurrent_initializer,
                                             (self.units, width))}
        if self.use_bias:
            params["bias"] = self._init_bias(rng)
        return params

    def _init_bias(self, rng: np.random.Generator) -> np.ndarray:
        return self._weight(rng, self.bias_initializer, (self.gates * self.units,))

    # --- the forward pass --------------------------------------------------------------
    def call(self, params: dict, x: Any, ctx: Context, mask: Any = None) -> Any:
        initial_state = None
        if isinstance(x, (list, tuple)):   # [sequence, *initial states]
            self._check_state_count(len(x) - 1)
            x, initial_state = x[0], [s if hasattr(s, "shape") else np.asarray(s)
                                      for s in x[1:]]
            if isinstance(mask, list):   # each input's Keras mask: the sequence's counts
                mask = mask[0]
        if not hasattr(x, "shape"):
            x = np.asarray(x)
        if x.ndim != 3:
            raise self.shape_error(x.shape[1:], "(timesteps, features): the input must be "
                                   "(batch, timesteps, features)")
        if x.shape[1] == 0:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) got a sequence of "
                             "0 timesteps; it needs at least one")
        if initial_state is not None:
            for i, s in enumerate(initial_state):
                if tuple(s.shape) != (x.shape[0], self.units):
                    raise ValueError(f"layer {self.name!r} ({type(self).__name__}): initial "
                                     f"state {i} must be (batch, units) = "
                                     f"{(x.shape[0], self.units)}, got {tuple(s.shape)}")
        args = (x, params["kernel"], params["recurrent_kernel"], params.get("bias"),
                params.get("peephole"))
        dropped = options.dropout_masks(
            self.dropout, self.recurrent_dropout,
            self.gates if self.gates > 1 and self.implementation == 1 else None,
            (x.shape[0], x.shape[2]), self.units, _float_dtype(x), ctx,
            f"{type(self).__name__} {self.name!r}")
        if self.stateful and initial_state is None:
            initial_state = stateful_rnn.carried_states(
                self, ctx, x.shape[0], np.result_type(_dtype(x), _dtype(args[1])))
        if mask is not None or initial_state is not None or dropped is not None \
                or self.return_state:
            if mask is not None:
                mask = self._checked_mask(mask, x)
            out, state = self._scan_traced(*args, mask=mask, initial_state=initial_state,
                                           dropped=dropped)
            if self.stateful:
                stateful_rnn.keep_states(self, ctx, state)
            return [out, *state] if self.return_state else out
        if all(a is None or isinstance(a, np.ndarray) for a in args):
            # nothing to differentiate
            return self._scan(*args, per_step=False, residuals=False)[0]
        if self.implementation == 2 and self._fusable():
            return _recurrence(*args, layer=self)
        return self._scan(*args, per_step=True)[0]

    def _checked_mask(self, mask: Any, x: Any) -> Any:
        if not hasattr(mask, "shape"):
            mask = np.asarray(mask)
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}): the mask must be "
                             f"(batch, timesteps) = {tuple(x.shape[:2])}, got "
                             f"{tuple(mask.shape)}")
        return mask if mask.dtype == bool else mask != 0

    def _scan_traced(self, x: Any, kernel: Any, recurrent: Any, bias: Any, peephole: Any,
                     mask: Any = None, initial_state: list | None = None,
                     dropped: options.DropoutMasks | None = None) -> tuple[Any, tuple]:
        """(output, final state): the recurrence traced step by step (implementation 1's
        path), from initial_state (zeros by default), with the dropout masks of a
        training step, and with masked steps skipped as Keras's backend rnn does: where
        mask[:, t] is False the state stays, and the output is the previous one (zeros
        with zero_output_for_mask)."""
        n = x.shape[0]
        dtype = np.result_type(x.dtype, kernel.dtype)
        if initial_state is None:
            state = tuple(np.zeros((n, self.units), dtype) for _ in range(self.state_size))
        else:
            state = tuple(initial_state)
        in_mask, state_mask = dropped if dropped is not None else (None, None)
        zeros = np.zeros((), dtype)
        outputs = []
        for t in self._order(x.shape[1]):
            zx_t = options.project(x[:, t], kernel, in_mask, self.units)
            new_state, _ = self._step(zx_t, state, recurrent, bias, peephole, state_mask)
            if mask is None:
                state = new_state
                outputs.append(state[0])
                continue
            keep = mask[:, t][:, None]
            state = tuple(np.where(keep, new, old) for new, old in zip(new_state, state))
            outputs.append(np.where(keep, new_state[0], zeros) if self.zero_output_for_mask
                           else state[0])
        out = np.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return out, state

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The input's mask when returning sequences (one output per step), else none."""
        if isinstance(mask, list):   # [sequence, *initial states]
            mask = mask[0]
        return mask if self.return_sequences else None

    def _fusable(self) -> bool:
        """Whether `_step_back` knows the derivatives of this layer's activations."""
        return self.activation is activations.tanh

    def _scan(self, x: Any, kernel: Any, recurrent: Any, bias: Any, peephole: Any,
              per_step: bool, residuals: bool = True) -> tuple[Any, Any]:
        """Run the recurrence: (output, per step what `_step_back` needs).

        per_step projects each timestep's input on its own: on traced values a
        slice of one big projection would cost a full-size zero cotangent per
        step on the way back, while a slice of the (usually constant) input
        costs nothing. residuals=False says no backward pass will follow, so a
        layer that computes extra for it (LSTM's fused path) may skip that.
        """
        n, steps = x.shape[0], x.shape[1]
        if not per_step:  # one matmul for every timestep: (N*T, F) @ (F, gates*U)
            zx = np.reshape(np.reshape(x, (n * steps, x.shape[2])) @ kernel, (n, steps, -1))
        dtype = np.result_type(x.dtype, kernel.dtype)
        state = tuple(np.zeros((n, self.units), dtype) for _ in range(self.state_size))
        outputs, saved = [], []
        for t in self._order(steps):
            zx_t = x[:, t] @ kernel if per_step else zx[:, t]
            state, keep = self._step(zx_t, state, recurrent, bias, peephole)
            outputs.append(state[0])
            saved.append(keep)
        out = np.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return out, saved

    def _scan_back(self, saved: list, g: Any, x: Any, kernel: Any, recurrent: Any,
                   bias: Any, peephole: Any, wanted: set) -> list:
        """Backpropagation through time: cotangents of (x, kernel, recurrent_kernel,
        bias, peephole) from the output's cotangent g; those of x and kernel only if
        wanted (argument numbers), the others whenever they have one (else None)."""
        steps = len(saved)
        order = self._order(steps)
        dstate = tuple(np.zeros(np.shape(g)[:1] + (self.units,), _dtype(g))
                       for _ in range(self.state_size))
        dxs, sums = [None] * steps, [None, None, None, None]  # kernel, recurrent, bias, peephole
        for k in range(steps - 1, -1, -1):
            if self.return_sequences:
                dstate = (dstate[0] + g[:, k],) + dstate[1:]
            elif k == steps - 1:
                dstate = (dstate[0] + g,) + dstate[1:]
            dzx, dstate, grads = self._step_back(dstate, saved[k], recurrent, bias, peephole)
            t = order[k]
            if 0 in wanted:
                dxs[t] = dzx @ kernel.T
            dkernel = x[:, t].T @ dzx if 1 in wanted else None
            sums = [s if d is None else d if s is None else s + d
                    for s, d in zip(sums, (dkernel,) + grads)]
        dx = np.stack(dxs, axis=1) if 0 in wanted else None
        return [dx] + sums

    def _order(self, steps: int) -> list:
        return list(range(steps - 1, -1, -1)) if self.go_backwards else list(range(steps))

    def _step(self, zx_t: Any, state: tuple, recurrent: Any, bias: Any, peephole: Any,
              state_mask: Any = None) -> tuple[tuple, tuple]:
        """One timestep: (new state, whose first entry is the output; what
        `_step_back` needs). zx_t is the input projection x_t @ kernel; state_mask the
        recurrent dropout mask of a training step (recurrent_options.py), if any."""
        raise NotImplementedError(f"{type(self).__name__} is a recurrent layer without _step: "
                                  "define one timestep, as SimpleRNN, LSTM and GRU do")

    def _step_back(self, dstate: tuple, keep: tuple, recurrent: Any, bias: Any,
                   peephole: Any) -> tuple:
        """The VJP of one `_step` for the default activations: (cotangent of zx_t,
        cotangents of the previous state, this step's (recurrent, bias, peephole)
        cotangents)."""
        raise NotImplementedError(f"{type(self).__name__} is a recurrent layer without "
                                  "_step_back: define its one-step VJP, as SimpleRNN, LSTM "
                                  "and GRU do")

    # --- stateful=True: the states carried from batch to batch ----------------------------
    def reset_state(self, states: Any = None) -> None:
        """Keras's reset_state (stateful layers): the next call starts from zeros, or from
        `states` ([h], or [h, c] for an LSTM, each (batch, units))."""
        stateful_rnn.reset(self, states)

    def reset_states(self, states: Any = None) -> None:
        """Keras 2's name for reset_state (Keras 3 keeps it as an alias)."""
        stateful_rnn.reset(self, states)

    @property
    def states(self) -> list[np.ndarray] | None:
        """A stateful layer's carried states ([h], LSTM [h, c]; copies), None before its
        first call or when it is not stateful, as Keras's `layer.states`."""
        return stateful_rnn.current(self) if self.stateful else None

    # --- configuration -----------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        if self.declared_batch_size is not None and "input_shape" in config:
            config["batch_input_shape"] = [self.declared_batch_size,
                                           *config.pop("input_shape")]
        return {**config, "units": self.units,
                "activation": activations.name_of(self.activation),
                "use_bias": self.use_bias, "return_sequences": self.return_sequences,
                "go_backwards": self.go_backwards,
                "kernel_initializer": self.kernel_initializer,
                "recurrent_initializer": self.recurrent_initializer,
                "bias_initializer": self.bias_initializer, **self._weight_options_config(),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed, "return_state": self.return_state,
                "stateful": self.stateful, "unroll": self.unroll,
                "implementation": self.implementation,
                "zero_output_for_mask": self.zero_output_for_mask}

    def _weight_options_config(self) -> dict:
        """Keras's kernel_/recurrent_/bias_ regularizer and constraint entries."""
        config = {"activity_regularizer": None}
        for prefix, pname in (("kernel", "kernel"), ("recurrent", "recurrent_kernel"),
                              ("bias", "bias")):
            entries = self._kernel_options_config(pname)
            config[f"{prefix}_regularizer"] = entries["kernel_regularizer"]
            config[f"{prefix}_constraint"] = entries["kernel_constraint"]
        return config


def _dtype(x: Any) -> np.dtype:
    return getattr(x, "dtype", np.dtype(np.float64))


def _float_dtype(x: Any) -> np.dtype:
    """The float dtype of x's values (what a dropout mask on it is made of)."""
    dtype = np.dtype(_dtype(adkit.stop_gradient(x)))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


class SimpleRNN(_Recurrent):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias).

    >>> layer = SimpleRNN(4, return_sequences=True)
    >>> params = layer.init_params(np.random.default_rng(0), (5, 3))
    >>> layer.call(params, np.ones((2, 5, 3), np.float32), Context()).shape
    (2, 5, 4)
    """

    def _step(self, zx_t, state, recurrent, bias, peephole, state_mask=None):
        (h_prev,) = state
        z = zx_t + options.project(h_prev, recurrent, state_mask, self.units)
        if bias is not None:
            z = z + bias
        h = self.activation(z)
        return (h,), (h_prev, h)

    def _step_back(self, dstate, keep, recurrent, bias, peephole):
        (dh,), (h_prev, h) = dstate, keep
        dz = dh * (1 - h * h)
        return dz, (dz @ recurrent.T,), (h_prev.T @ dz, np.sum(dz, axis=0), None)


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), with optional peepholes.

        i = σ(x W_i + h R_i + p_i ⊙ c_prev + b_i)    input gate
        f = σ(x W_f + h R_f + p_f ⊙ c_prev + b_f)    forget gate
        z = g(x W_c + h R_c + b_c)                    block input
        c = i ⊙ z + f ⊙ c_prev                        cell state
        o = σ(x W_o + h R_o + p_o ⊙ c + b_o)         output gate
        h = o ⊙ g(c)                                  output

    σ is recurrent_activation and g is activation. The p terms exist only with
    peephole=True: one vector per gate, the "peephole" parameter of shape
    (3, units), rows (p_i, p_f, p_o), drawn with kernel_initializer as in Keras's
    PeepholeLSTMCell. unit_forget_bias starts the forget gate's bias at 1 so
    the cell remembers by default (Jozefowicz et al. 2015), as in Keras.

    >>> layer = LSTM(8)
    >>> params = layer.init_params(np.random.default_rng(0), (28, 28))
    >>> params["kernel"].shape, params["recurrent_kernel"].shape
    ((28, 32), (8, 32))
    """

    gates = 4
    state_size = 2

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 unit_forget_bias: bool = True, peephole: bool = False,
                 return_sequences: bool = False, go_backwards: bool = False,
                 use_cudnn: str | bool = "auto", **kwargs: Any) -> None:
        super().__init__(units, activation=activation, use_bias=use_bias,
                         return_sequences=return_sequences, go_backwards=go_backwards,
                         **kwargs)
        self.use_cudnn = options.use_cudnn(use_cudnn, f"LSTM {self.name!r}")
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.peephole = bool(peephole)

    def init_params(self, rng: np.random.Generator, input_shape: Shape) -> dict:
        params = super().init_params(rng, input_shape)
        if self.peephole:
            params["peephole"] = np.stack([self._weight(rng, self.kernel_initializer,
                                                        (self.units,)) for _ in range(3)])
        return params

    def _init_bias(self, rng: np.random.Generator) -> np.ndarray:
        bias = super()._init_bias(rng)
        if self.unit_forget_bias:
            bias[self.units:2 * self.units] = 1
        return bias

    def _fusable(self) -> bool:
        return super()._fusable() and self.recurrent_activation is activations.sigmoid

    def _fused(self) -> bool:
        """Whether fused_lstm (and lstm_kernel) compute this layer: Keras's default
        activations, no peepholes, and LSTM's own step (a subclass with its own _step
        computes something fused_lstm does not)."""
        own_steps = type(self)._step is LSTM._step and type(self)._step_back is LSTM._step_back
        return own_steps and not self.peephole and self._fusable()

    def _scan(self, x, kernel, recurrent, bias, peephole, per_step, residuals=True):
        if per_step or peephole is not None or not self._fused():
            return super()._scan(x, kernel, recurrent, bias, peephole, per_step)
        directions = dict(go_backwards=self.go_backwards,
                          return_sequences=self.return_sequences)
        if not lstm_kernel.underived(x, kernel, recurrent, bias):
            # a derivative traced on the values: differentiable NumPy (higher orders)
            return fused_lstm.forward(x, kernel, recurrent, bias, residuals=residuals,
                                      **directions)
        if not residuals:
            return lstm_kernel.lstm_output(x, kernel, recurrent, bias, **directions), None
        both = lstm_kernel.lstm_forward(x, kernel, recurrent, bias, **directions)
        return lstm_kernel.part(both, 0), lstm_kernel.Saved(lstm_kernel.part(both, 1))

    def _scan_back(self, saved, g, x, kernel, recurrent, bias, peephole, wanted):
        directions = dict(go_backwards=self.go_backwards,
                          return_sequences=self.return_sequences)
        if isinstance(saved, lstm_kernel.Saved):
            if lstm_kernel.underived(g, kernel, recurrent, bias):
                return self._opaque_back(saved, g, kernel, recurrent, bias, wanted)
            # forward mode transposes this backward pass, tracing it in g: fused_lstm's
            # differentiable one, on residuals recomputed from the plain values
            saved = fused_lstm.forward(x, kernel, recurrent, bias, **directions)[1]
        if not isinstance(saved, fused_lstm.Residuals):
            return super()._scan_back(saved, g, x, kernel, recurrent, bias, peephole, wanted)
        return fused_lstm.backward(saved, g, kernel, recurrent, bias, wanted=wanted,
                                   **directions) + [None]  # no peephole

    def _opaque_back(self, saved, g, kernel, recurrent, bias, wanted):
        """lstm_kernel's backward pass: cotangents of (x, kernel, recurrent_kernel, bias,
        peephole), those of x and of the weights only if wanted."""
        want_params = bool(wanted & {1, 2, 3})
        grads = lstm_kernel.lstm_backward(
            saved.residuals, g, kernel, recurrent, bias, go_backwards=self.go_backwards,
            return_sequences=self.return_sequences, want_x=0 in wanted,
            want_params=want_params)
        present = [0 in wanted, want_params, want_params, want_params and bias is not None]
        return [lstm_kernel.part(grads, i) if there else None
                for i, there in enumerate(present)] + [None]  # no peephole

    def _step(self, zx_t, state, recurrent, bias, peephole, state_mask=None):
        h_prev, c_prev = state
        u = self.units
        z = zx_t + options.project(h_prev, recurrent, state_mask, u)
        if bias is not None:
            z = z + bias
        gate, act = self.recurrent_activation, self.activation
        if peephole is None:
            i_f = gate(z[:, :2 * u])  # both gates in one call: fewer, larger operations
            i, f = i_f[:, :u], i_f[:, u:]
        else:
            i = gate(z[:, :u] + peephole[0] * c_prev)
            f = gate(z[:, u:2 * u] + peephole[1] * c_prev)
        block = act(z[:, 2 * u:3 * u])
        c = i * block + f * c_prev
        zo = z[:, 3 * u:]
        if peephole is not None:
            zo = zo + peephole[2] * c
        o = gate(zo)
        squashed = act(c)
        h = o * squashed
        return (h, c), (h_prev, c_prev, i, f, block, o, c, squashed)

    def _step_back(self, dstate, keep, recurrent, bias, peephole):
        dh, dc = dstate
        h_prev, c_prev, i, f, block, o, c, squashed = keep
        dzo = dh * squashed * o * (1 - o)
        dc = dc + dh * o * (1 - squashed * squashed)
        if peephole is not None:
            dc = dc + dzo * peephole[2]
        dzi = dc * block * i * (1 - i)
        dzf = dc * c_prev * f * (1 - f)
        dzc = dc * i * (1 - block * block)
        dz = np.concatenate([dzi, dzf, dzc, dzo], axis=1)
        dc_prev = dc * f
        dpeephole = None
        if peephole is not None:
            dc_prev = dc_prev + dzi * peephole[0] + dzf * peephole[1]
            dpeephole = np.stack([np.sum(dzi * c_prev, axis=0), np.sum(dzf * c_prev, axis=0),
                                  np.sum(dzo * c, axis=0)])
        return dz, (dz @ recurrent.T, dc_prev), (h_prev.T @ dz, np.sum(dz, axis=0), dpeephole)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias, "peephole": self.peephole,
                "use_cudnn": self.use_cudnn}


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras's and PyTorch's formulation.

        z = σ(x W_z + h R_z + b_z)                update gate
        r = σ(x W_r + h R_r + b_r)                reset gate
        ĥ = g(x W_h + r ⊙ (h R_h + b'_h) + b_h)   candidate  (reset_after=True)
        ĥ = g(x W_h + (r ⊙ h) R_h + b_h)          candidate  (reset_after=False)
        h' = z ⊙ h + (1 - z) ⊙ ĥ

    With reset_after=True (Keras 2's default, and PyTorch's GRU) the recurrent
    projection has its own bias, so "bias" has shape (2, 3 * units): row 0 for
    the input projection, row 1 for the recurrent one. With reset_after=False
    it has shape (3 * units,).

    >>> GRU(4, return_sequences=True).compute_output_shape((None, 3))
    (None, 4)
    """

    gates = 3

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 reset_after: bool = True, return_sequences: bool = False,
                 go_backwards: bool = False, use_cudnn: str | bool = "auto",
                 **kwargs: Any) -> None:
        super().__init__(units, activation=activation, use_bias=use_bias,
                         return_sequences=return_sequences, go_backwards=go_backwards,
                         **kwargs)
        self.use_cudnn = options.use_cudnn(use_cudnn, f"GRU {self.name!r}")
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _init_bias(self, rng: np.random.Generator) -> np.ndarray:
        if self.reset_after:
            return self._weight(rng, self.bias_initializer, (2, 3 * self.units))
        return super()._init_bias(rng)

    def _fusable(self) -> bool:
        return super()._fusable() and self.recurrent_activation is activations.sigmoid

    def _step(self, zx_t, state, recurrent, bias, peephole, state_mask=None):
        (h_prev,) = state
        u = self.units
        gate, act = self.recurrent_activation, self.activation
        if self.reset_after:
            rec = options.project(h_prev, recurrent, state_mask, u)
            if bias is not None:
                zx_t, rec = zx_t + bias[0], rec + bias[1]
            zr = gate(zx_t[:, :2 * u] + rec[:, :2 * u])
            z, r = zr[:, :u], zr[:, u:]
            rec_h = rec[:, 2 * u:]
            cand = act(zx_t[:, 2 * u:] + r * rec_h)
        else:
            if bias is not None:
                zx_t = zx_t + bias
            zr = gate(zx_t[:, :2 * u] + options.project(h_prev, recurrent[:, :2 * u],
                                                        state_mask, u))
            z, r = zr[:, :u], zr[:, u:]
            # the reset state, before its projection
            rec_h = r * options.gate_input(h_prev, state_mask, 2)
            cand = act(zx_t[:, 2 * u:] + rec_h @ recurrent[:, 2 * u:])
        h = z * h_prev + (1 - z) * cand
        return (h,), (h_prev, z, r, rec_h, cand)

    def _step_back(self, dstate, keep, recurrent, bias, peephole):
        (dh,), (h_prev, z, r, rec_h, cand) = dstate, keep
        u = self.units
        dz = dh * (h_prev - cand) * z * (1 - z)
        dcand = dh * (1 - z) * (1 - cand * cand)  # at the candidate's pre-activation
        if self.reset_after:
            dr = dcand * rec_h * r * (1 - r)
            dzx = np.concatenate([dz, dr, dcand], axis=1)
            drec = np.concatenate([dz, dr, dcand * r], axis=1)  # at h_prev @ R + bias[1]
            dh_prev = dh * z + drec @ recurrent.T
            dbias = np.stack([np.sum(dzx, axis=0), np.sum(drec, axis=0)])
            return dzx, (dh_prev,), (h_prev.T @ drec, dbias, None)
        drh = dcand @ recurrent[:, 2 * u:].T  # at r * h_prev
        dzr = np.concatenate([dz, drh * h_prev * r * (1 - r)], axis=1)
        dzx = np.concatenate([dzr, dcand], axis=1)
        dh_prev = dh * z + drh * r + dzr @ recurrent[:, :2 * u].T
        drecurrent = np.concatenate([h_prev.T @ dzr, rec_h.T @ dcand], axis=1)
        return dzx, (dh_prev,), (drecurrent, np.sum(dzx, axis=0), None)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "reset_after": self.reset_after, "use_cudnn": self.use_cudnn}


# --- the fused recurrence: one table entry, backpropagation through time by hand --------

@adkit.custom_vjp
def _recurrence(x, kernel, recurrent_kernel, bias, peephole, *, layer):
    """A recurrent layer's whole forward pass as one operation."""
    return layer._scan(x, kernel, recurrent_kernel, bias, peephole, per_step=False,
                       residuals=False)[0]


def _recurrence_fwd(*args, layer):
    """The forward pass, keeping what backpropagation through time needs: each step's
    intermediates, the arguments, and which arguments are differentiated (the
    cotangents of x and kernel cost a matmul per step, so only those asked for are
    computed)."""
    values = tuple(a.value for a in args)
    out, saved = layer._scan(*values, per_step=False)
    wanted = {i for i, a in enumerate(args) if a.perturbed}
    return out, (layer, saved, values, wanted)


def _recurrence_bwd(residuals, g):
    """Backpropagation through time: every argument's cotangent in one sweep."""
    layer, saved, values, wanted = residuals
    return tuple(layer._scan_back(saved, g, *values, wanted=wanted))


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd, symbolic_zeros=True)


# --- Bidirectional -------------------------------------------------------------------------

MERGE_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the same
    sequence, and merges the two outputs (concatenated on the last axis, summed,
    multiplied or averaged). With return_sequences the backward copy's outputs
    are put back in input order first, so step t of each sees the whole sequence.
    backward_layer: the backward direction's own layer (go_backwards=True, and the
    same return_sequences and return_state), instead of a copy of `layer`. With
    return_state the outputs are [merged output, *forward states, *backward
    states]; initial_state takes the forward states, then the backward ones.

    >>> layer = Bidirectional(LSTM(4, return_sequences=True))
    >>> layer.compute_output_shape((10, 3))
    (10, 8)
    """

    takes_mask = True

    def __init__(self, layer: Any, merge_mode: str = "concat", weights: Any = None,
                 backward_layer: Any = None, **kwargs: Any) -> None:
        batch_input_shape = kwargs.get("batch_input_shape")
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = deserialize(layer)
        if isinstance(backward_layer, dict):
            backward_layer = deserialize(backward_layer)
        who = f"Bidirectional {self.name!r}"
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"{who} wraps a recurrent layer (SimpleRNN, LSTM or GRU), got "
                            f"{layer!r}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"{who}: merge_mode must be one of {MERGE_MODES}, got "
                             f"{merge_mode!r}")
        if weights is not None:
            raise ValueError(f"{who}: weights= is not supported; call set_weights on the "
                             "layer once its model is built")
        self.merge_mode = merge_mode
        self.forward_layer = layer
        #: the batch size batch_input_shape= fixes, here or on `layer` (stateful_rnn.py)
        self.declared_batch_size = layer.declared_batch_size if batch_input_shape is None \
            else batch_input_shape[0]
        if self.input_shape is None:  # Bidirectional(LSTM(8, input_shape=...)), as in Keras
            self.input_shape = layer.input_shape
        if backward_layer is None:
            config = layer.get_config()
            config.update(name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            backward_layer = type(layer).from_config(config)
        else:
            _check_backward_layer(who, layer, backward_layer)
        self.backward_layer = backward_layer
        # as Keras: a masked step's output is zeros in each direction's sequence
        for inner in (self.forward_layer, self.backward_layer):
            inner.zero_output_for_mask = inner.return_sequences
            # its states live in the model holding this layer (a weak reference: walks over
            # the layers a layer holds, base.nested, must not loop back up)
            inner._stateful_parent = weakref.ref(self)
        # each direction's penalty and constraints, under the key its parameters have
        # here, so that a model treats this layer like any other
        for key, inner in (("forward", self.forward_layer), ("backward", self.backward_layer)):
            self.regularizers[key] = inner.penalty
            self.constraints[key] = SublayerConstraints(inner)

    @property
    def return_state(self) -> bool:
        """Whether the outputs include each direction's final states (the wrapped layer's
        return_state)."""
        return self.forward_layer.return_state

    @property
    def stateful(self) -> bool:
        """Whether each direction carries its final states to the next batch (the wrapped
        layer's stateful)."""
        return self.forward_layer.stateful

    def reset_state(self) -> None:
        """Keras's reset_state: both directions' carried states back to zeros."""
        if not self.stateful:
            raise AttributeError(f"layer {self.name!r} (Bidirectional) is not stateful: wrap "
                                 "a layer made with stateful=True to keep states")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        """Keras 2's name for reset_state."""
        self.reset_state()

    def __call__(self, inputs: Any, initial_state: Any = None, training: bool | None = None,
                 mask: Any = None) -> Any:
        """layer(sequence, initial_state=None): initial_state lists the forward
        direction's states, then the backward one's."""
        return _Recurrent.__call__(self, inputs, initial_state, training, mask)

    def _state_count(self) -> int:
        return self.forward_layer.state_size + self.backward_layer.state_size

    def _check_state_count(self, count: int) -> None:
        if count != self._state_count():
            raise ValueError(f"layer {self.name!r} (Bidirectional) takes "
                             f"{self._state_count()} initial states (the forward "
                             f"direction's, then the backward one's), got {count}")

    def _split(self, items: list) -> tuple[list, list]:
        """Inputs [sequence, *forward states, *backward states] (or their shapes) as each
        direction's [sequence, *its states]."""
        self._check_state_count(len(items) - 1)
        k = 1 + self.forward_layer.state_size
        return items[:k], [items[0]] + items[k:]

    def compute_output_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, list):
            forward_shape, backward_shape = self._split(input_shape)
            shape = self.forward_layer.compute_output_shape(forward_shape)
            self.backward_layer.compute_output_shape(backward_shape)
        else:
            shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:] + [(self.backward_layer.units,)] * \
                self.backward_layer.state_size
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (shape[-1] + self.backward_layer.units,)
        return [shape] + states if self.return_state else shape

    def init_params(self, rng: np.random.Generator, input_shape: Any) -> dict:
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        return {"forward": self.forward_layer.init_params(rng, input_shape),
                "backward": self.backward_layer.init_params(rng, input_shape)}

    def call(self, params: dict, x: Any, ctx: Context, mask: Any = None) -> Any:
        if isinstance(mask, list):
            mask = mask[0]
        x_forward = x_backward = x
        if isinstance(x, (list, tuple)):
            x_forward, x_backward = self._split(list(x))
        y = self.forward_layer.call(params["forward"], x_forward, ctx, mask=mask)
        y_back = self.backward_layer.call(params["backward"], x_backward, ctx, mask=mask)
        states: list = []
        if self.return_state:
            states = list(y[1:]) + list(y_back[1:])
            y, y_back = y[0], y_back[0]
        if self.forward_layer.return_sequences:
            y_back = y_back[:, ::-1]
        if self.merge_mode == "concat":
            out = np.concatenate([y, y_back], axis=-1)
        elif self.merge_mode == "sum":
            out = y + y_back
        elif self.merge_mode == "mul":
            out = y * y_back
        else:
            out = (y + y_back) * 0.5
        return [out] + states if self.return_state else out

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The input's mask when returning sequences, else none."""
        return self.forward_layer.compute_mask(x, mask)

    def get_config(self) -> dict:
        config = super().get_config()
        if self.declared_batch_size is not None and "input_shape" in config:
            config["batch_input_shape"] = [self.declared_batch_size,
                                           *config.pop("input_shape")]
        return {**config, "layer": serialize(self.forward_layer),
                "merge_mode": self.merge_mode,
                "backward_layer": serialize(self.backward_layer)}


def _check_backward_layer(who: str, layer: Layer, backward: Any) -> None:
    """Keras's checks of Bidirectional(backward_layer=): a recurrent layer reading the
    other way, returning what the forward layer returns."""
    if not isinstance(backward, _Recurrent):
        raise TypeError(f"{who}: backward_layer must be a recurrent layer (SimpleRNN, LSTM "
                        f"or GRU), got {backward!r}")
    if backward.go_backwards == layer.go_backwards:
        raise ValueError(f"{who}: backward_layer must read the sequence the other way from "
                         f"layer: give it go_backwards={not layer.go_backwards}")
    for attribute in ("stateful", "return_sequences", "return_state"):
        if getattr(backward, attribute) != getattr(layer, attribute):
            raise ValueError(f"{who}: backward_layer has {attribute}="
                             f"{getattr(backward, attribute)} and layer "
                             f"{getattr(layer, attribute)}; they must be equal")
    if backward.name == layer.name:
        raise ValueError(f"{who}: backward_layer and layer are both named {layer.name!r}; "
                         "give them different names")
