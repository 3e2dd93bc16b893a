"""Where a model's parameters live while the training loop runs: in host memory
(`HostPlacement`) or on an OpenCL device (`DevicePlacement`, from
`compile(device="opencl")`).

A fit, evaluate or predict call opens a `weights()` block: on a device the
parameters are copied there once for the whole call (counted transfers), and
with write_back the host copies get their trained values at the end. Inside the
block `params` are the arrays the passes run on and `leaves` the trainable ones
the optimizer updates in place.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from adkit.pytree import tree_flatten, tree_map

from . import backend
from .layers.base import Layer


class HostPlacement:
    """Parameters and batches stay in host memory; passes run under the CPU
    backend's threading policy."""

    #: the backend the passes run on; None: the active (CPU) one
    backend: Any = None

    def __init__(self, model: Any) -> None:
        self.model = model
        #: inside weights(): the parameter tree passes run on, and its trainable leaves
        self.params: dict | None = None
        self.leaves: list = []
        self._depth = 0   # nested weights() blocks (evaluate inside fit) share the outer one

    @contextmanager
    def weights(self, write_back: bool) -> Iterator[None]:
        """Place the parameters for the block; with write_back the host copies have
        the block's updates when it ends."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.params = self._place(self.model.params)
        self.leaves = tree_flatten(self.model.trainable_part(self.params))[0]
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            if write_back:
                self.to_host()
            self.params, self.leaves = None, []

    def _place(self, params: dict) -> dict:
        return params

    def updated(self) -> None:
        """The optimizer changed `leaves` in place."""

    def to_host(self) -> None:
        """Bring the host copies up to date (callbacks read model.params)."""

    def to_backend(self, *arrays: np.ndarray) -> tuple:
        """The batch where the passes run."""
        return arrays

    @contextmanager
    def kernels(self) -> Iterator[None]:
        """The backend's context for one pass over the model."""
        heavy = any(layer.batch_parallel for layer in self.model.layers)
        with backend.get_backend().step_scope(heavy):
            yield


class DevicePlacement(HostPlacement):
    """Parameters on an OpenCL device for the length of a call; batches copied
    there as they are used."""

    def __init__(self, model: Any, device_backend: Any) -> None:
        super().__init__(model)
        self.backend = device_backend
        self._host_stale = False   # whether an update made the host copies out of date

    def _place(self, params: dict) -> dict:
        self._host_stale = False
        return tree_map(self.backend.to_device, params)

    def updated(self) -> None:
        self._host_stale = True

    def to_host(self) -> None:
        """Copy the device parameters into the host ones, in place (counted transfers)."""
        if self.params is not None and self._host_stale:
            for host, dev in zip(tree_flatten(self.model.params)[0],
                                 tree_flatten(self.params)[0]):
                np.copyto(host, np.asarray(dev))
            self._host_stale = False

    def to_backend(self, *arrays: np.ndarray) -> tuple:
        return tuple(self.backend.to_device(a) for a in arrays)

    @contextmanager
    def kernels(self) -> Iterator[None]:
        with backend.activate(self.backend):
            yield


def device_layers() -> list[str]:
    """The layer classes that run on an OpenCL device (runs_on_device), by name."""
    return sorted(name for name, cls in Layer.REGISTRY.items()
                  if getattr(cls, "runs_on_device", False) is True
                  and not name.startswith("_") and name != "InputLayer")


def device_placement(model: Any, device: str, where: str, distribute: Any) -> DevicePlacement:
    """The placement on OpenCL `device`, after checking that `model` (compiled with its
    optimizer) can train there. `where` says where the device name came from."""
    who = f"device {device!r}{where}"
    for layer in model.layers:
        if not layer.runs_on_device:
            raise ValueError(
                f"{who}: layer {layer.name!r} ({type(layer).__name__}) has no OpenCL "
                f"implementation yet; on an OpenCL device use {', '.join(device_layers())}, "
                "or train this model on device='cpu'")
        if any(c is not None for c in layer.constraints.values()):
            raise ValueError(f"{who}: layer {layer.name!r} has weight constraints, which "
                             "run on the host only; drop them or use device='cpu'")
    if distribute is not None:
        raise ValueError(f"{who}: distribute={distribute!r} trains on the CPU of each MPI "
                         "rank; use device='cpu' with it")
    try:
        model.optimizer.require_device_support()
    except NotImplementedError as e:
        raise ValueError(f"{who}: {e}") from None
    from .opencl_backend import OpenCLBackend   # pyopencl is an optional install
    return DevicePlacement(model, OpenCLBackend(device))
