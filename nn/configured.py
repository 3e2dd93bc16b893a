"""What Keras's configured objects share (initializers, regularizers, constraints,
learning-rate schedules): rebuilt from their config, equal when of one class with one
config, and shown as the constructor call that makes them.

>>> from adkit.nn.regularizers import L2
>>> L2(0.5), L2(0.5) == L2.from_config(L2(0.5).get_config())
(L2(l2=0.5), True)
"""

from __future__ import annotations

from typing import Any, Mapping


class Configured:
    """Base of an object described by get_config() (its constructor's arguments)."""

    def get_config(self) -> dict:
        """The constructor arguments, JSON-able."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        """The object get_config described."""
        return cls(**dict(config))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__   # by identity: equality by config is for comparing

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
