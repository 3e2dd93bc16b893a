"""The callback protocol: `Callback`, whose hooks the training loop calls at the
start and end of training, of each epoch and of each batch, and `CallbackList`,
which calls them on every callback in turn.

`logs` dicts hold plain floats: "loss", each metric, and "val_"-prefixed ones at
epoch ends when there is validation data.
"""

from __future__ import annotations

from typing import Any, Callable


class Callback:
    """Base class; override the hooks you need."""

    model: Any = None
    params: dict = {}
    #: what fit validates on, set before on_train_begin (Keras 2's attribute): a tuple
    #: (x_val, y_val, sample_weight_val or None) of checked arrays, fit's batches
    #: (nn/data_adapters.StreamBatches) for a generator, or None
    validation_data: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    # evaluate's and predict's (called with their callbacks=; per-batch hooks are not)
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before each training batch; by default on_batch_begin (Keras 2's name, which
        Keras 3 still calls)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After each training batch, with the batch's logs; by default on_batch_end."""
        self.on_batch_end(batch, logs)


class CallbackList:
    """Calls every callback in turn."""

    def __init__(self, callbacks: list[Callback], model: Any, params: dict) -> None:
        self.callbacks = callbacks
        for c in callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be adkit.nn.callbacks.Callback instances, "
                                f"got {type(c).__name__}")
            c.set_model(model)
            c.set_params(params)

    def __getattr__(self, hook: str) -> Callable:
        # Keras hands every hook a logs dict, {} where it has none: user callbacks do
        # logs.keys() / logs.get(...) in on_train_begin or on_*_batch_begin
        arity = 2 if hook.endswith(_INDEXED_HOOKS) else 1

        def call_all(*args: Any) -> None:
            filled = list(args) + [None] * (arity - len(args))
            if filled[-1] is None:
                filled[-1] = {}
            for c in self.callbacks:
                getattr(c, hook)(*filled)
        return call_all


#: the hooks whose first argument is an epoch or batch index (then the logs)
_INDEXED_HOOKS = ("epoch_begin", "epoch_end", "batch_begin", "batch_end")


class _NoHooks:
    """Stands for a CallbackList where no callbacks were given: every hook does nothing."""

    def __getattr__(self, hook: str) -> Callable:
        return _nothing


def _nothing(*args: Any) -> None:
    return None


#: the hooks of an evaluate or predict called without callbacks
NO_HOOKS: Any = _NoHooks()


def around_inference(callbacks: list | None, model: Any, phase: str,
                     run: Callable[[Any], Any]) -> Any:
    """run(hooks) for evaluate (phase "test") or predict ("predict"), between the
    callbacks' on_<phase>_begin and on_<phase>_end (evaluate's end gets its logs, as in
    Keras); run calls hooks.on_<phase>_batch_begin/end around each batch."""
    if not callbacks:
        return run(NO_HOOKS)
    hooks = CallbackList(list(callbacks), model, {})
    getattr(hooks, f"on_{phase}_begin")()
    result = run(hooks)
    logs = result if isinstance(result, dict) else None
    getattr(hooks, f"on_{phase}_end")(logs)
    return result
