"""Names for the user's own objects, as Keras's `keras.saving` keeps them.

A saved model names its loss, metrics and activations; a custom one (a function
or class the user wrote) is found again by that name when the file is loaded,
from, in order: the `custom_objects` given to `load_model` (or an enclosing
`custom_object_scope`), then the objects registered with
`@register_keras_serializable()` or put in `get_custom_objects()`. Layer classes
need none of this: every Layer subclass is known by its class name once defined
(nn/layers/base.py); registering one does no harm.

>>> @register_keras_serializable(package="demo")
... def scaled_mse(y_true, y_pred):
...     return ((y_true - y_pred) ** 2).mean()
>>> get_registered_name(scaled_mse)
'demo>scaled_mse'
>>> lookup("scaled_mse") is scaled_mse, lookup("demo>scaled_mse") is scaled_mse
(True, True)
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

__all__ = ["register_keras_serializable", "get_custom_objects", "custom_object_scope",
           "CustomObjectScope", "get_registered_name", "get_registered_object", "lookup"]

_GLOBAL: dict[str, Any] = {}    # Keras's GLOBAL_CUSTOM_OBJECTS: "package>name" -> object
_NAMES: dict[int, str] = {}     # id(object) -> its registered name
_scopes = threading.local()


def register_keras_serializable(package: str = "Custom",
                                name: str | None = None) -> Callable[[Any], Any]:
    """Decorator: register a class or function under "package>name" (name defaults to
    its __name__), so a saved model that uses it loads without custom_objects."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without "
                         f"'>', got {package!r}")

    def register(obj: Any) -> Any:
        key = f"{package}>{name or getattr(obj, '__name__', None)}"
        if key.endswith(">None"):
            raise ValueError(f"register_keras_serializable: {obj!r} has no __name__; pass "
                             "name=...")
        _GLOBAL[key] = obj
        _NAMES[id(obj)] = key
        return obj

    return register


def get_custom_objects() -> dict[str, Any]:
    """The global dict of registered objects; adding to it registers (Keras's way)."""
    return _GLOBAL


def _stack() -> list[dict]:
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


@contextmanager
def custom_object_scope(*scopes: Mapping[str, Any] | None) -> Iterator[None]:
    """Inside the block, these names resolve to these objects (innermost first)."""
    merged: dict[str, Any] = {}
    for scope in scopes:
        if scope is None:
            continue
        if not isinstance(scope, Mapping):
            raise TypeError(f"custom objects are a dict of name -> class or function, got "
                            f"{type(scope).__name__}")
        merged.update(scope)
    _stack().append(merged)
    try:
        yield
    finally:
        _stack().pop()


CustomObjectScope = custom_object_scope


def get_registered_name(obj: Any) -> str:
    """The name `obj` was registered under, else its __name__."""
    return _NAMES.get(id(obj), getattr(obj, "__name__", type(obj).__name__))


def get_registered_object(name: str, custom_objects: Mapping[str, Any] | None = None,
                          module_objects: Mapping[str, Any] | None = None) -> Any:
    """The object registered or given under `name` (None when there is none)."""
    for source in (custom_objects or {}, module_objects or {}):
        if name in source:
            return source[name]
    return lookup(name)


def lookup(name: str) -> Any:
    """The object `name` stands for in the active scopes, then the global registry, or
    None. A bare name also finds "package>name" when only one package registered it."""
    if not isinstance(name, str):
        return None
    for scope in reversed(_stack()):
        if name in scope:
            return scope[name]
    if name in _GLOBAL:
        return _GLOBAL[name]
    matches = [obj for key, obj in _GLOBAL.items() if key.split(">", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else None
