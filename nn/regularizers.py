"""Weight penalties added to the training loss (Keras names and formulas).

``L1(l1)`` adds ``l1 * sum|w|``, ``L2(l2)`` adds ``l2 * sum w^2`` (no factor 1/2, as in
Keras), ``L1L2(l1, l2)`` both, ``OrthogonalRegularizer(factor, mode)`` pushes the rows
(or columns) of a 2-D kernel towards orthogonality. Keras 3's defaults: 0.01 for
``L1``/``L2``/``OrthogonalRegularizer``, 0.0 for ``L1L2``; the functions ``l1``, ``l2``,
``l1_l2`` keep Keras 2's defaults (0.01 each). Any callable ``f(w) -> scalar`` is a
regularizer too (a subclass of ``Regularizer`` that defines ``__call__``, as Keras
code writes them), but only this module's classes can be saved in a model file.

>>> import numpy as np
>>> float(L1L2(l1=0.5, l2=0.25)(np.array([1.0, -2.0])))
2.75
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Mapping

import numpy as np

from .configured import Configured

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize", "config_of"]


def _factor(who: str, name: str, value: Any) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value >= 0):
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


class Regularizer(Configured):
    """A penalty a layer adds to the loss for one of its weights: ``l1 * sum|w| +
    l2 * sum w^2``. Subclass it and define ``__call__(w)`` (and ``get_config``) for
    another penalty, as in Keras."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        who = type(self).__name__
        self.l1, self.l2 = _factor(who, "l1", l1), _factor(who, "l2", l2)

    def __call__(self, w: Any) -> Any:
        penalty = 0.0
        if getattr(self, "l1", 0.0):
            penalty = penalty + self.l1 * np.sum(np.abs(w))
        if getattr(self, "l2", 0.0):
            penalty = penalty + self.l2 * np.sum(w * w)
        return penalty

    def get_config(self) -> dict:
        """The constructor arguments, JSON-able."""
        return {"l1": self.l1, "l2": self.l2}



class L1L2(Regularizer):
    """``l1 * sum|w| + l2 * sum w^2`` (Keras 3 defaults 0.0 and 0.0)."""


class L1(Regularizer):
    """``l1 * sum|w|`` (Keras 3 default 0.01)."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum w^2`` (Keras 3 default 0.01)."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keras's soft orthogonality penalty on a 2-D kernel: with the rows (``mode="rows"``)
    or columns (``"columns"``) scaled to unit norm, ``factor * 0.5 * sum|off-diagonal of
    the Gram matrix| / (n (n - 1) / 2)``, n the number of rows (columns).

    >>> float(OrthogonalRegularizer(1.0)(np.eye(3)))
    0.0
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', "
                             f"got {mode!r}")
        self.mode = mode

    def __call__(self, w: Any) -> Any:
        if np.ndim(w) != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D kernel, got shape "
                             f"{np.shape(w)}; use it on Dense kernels")
        axis = 1 if self.mode == "rows" else 0
        norms = np.sqrt(np.sum(w * w, axis=axis, keepdims=True))
        # a zero row stays zero, as Keras's normalize (norm 0 counted as 1)
        unit = w / np.where(norms == 0, 1.0, norms)
        gram = unit @ unit.T if self.mode == "rows" else unit.T @ unit
        n = gram.shape[0]
        if n < 2:
            return 0.0 * np.sum(gram)
        off = gram * (1.0 - np.eye(n, dtype=np.result_type(gram)))
        return self.factor * 0.5 * np.sum(np.abs(off)) / (n * (n - 1.0) / 2.0)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


def l1(l1: float = 0.01) -> L1:
    """A penalty l1 * sum(|w|)."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """A penalty l2 * sum(w ** 2)."""
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """A penalty l1 * sum(|w|) + l2 * sum(w ** 2) (Keras 2's defaults, 0.01 each)."""
    return L1L2(l1=l1, l2=l2)


orthogonal_regularizer = OrthogonalRegularizer

NAMES: dict[str, Callable[[], Regularizer]] = {"l1": l1, "l2": l2, "l1_l2": l1_l2,
                                               "orthogonal_regularizer": OrthogonalRegularizer}
CLASSES: dict[str, type] = {c.__name__: c for c in (Regularizer, L1, L2, L1L2,
                                                    OrthogonalRegularizer)}


def _from_keys(config: Mapping) -> type | None:
    """The class a bare config dict (adkit's saved form) belongs to, by its keys."""
    keys = set(config)
    if keys == {"l1"}:
        return L1
    if keys == {"l2"}:
        return L2
    if keys and keys <= {"l1", "l2"}:
        return L1L2
    if keys and keys <= {"factor", "mode"}:
        return OrthogonalRegularizer
    return None


def get(identifier: Any) -> Any:
    """None, a Regularizer or any callable ``f(w) -> scalar``, a name (``"l1"``, ``"l2"``,
    ``"l1_l2"``, ``"L2"``, ``"orthogonal_regularizer"``, ...), a ``{"class_name",
    "config"}`` dict, or a bare config dict (``{"l2": 0.01}``).

    >>> get("L2"), get({"class_name": "L1", "config": {"l1": 0.5}})
    (L2(l2=0.01), L1(l1=0.5))
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    valid = sorted(NAMES) + sorted(c for c in CLASSES if c != "Regularizer")
    if isinstance(identifier, str):
        key = identifier if identifier in CLASSES else identifier.lower()
        if key in NAMES:
            return NAMES[key]()
        if key in CLASSES and key != "Regularizer":
            return CLASSES[key]()
        raise ValueError(f"unknown regularizer {identifier!r}; valid names: {', '.join(valid)}")
    if isinstance(identifier, Mapping):
        if "class_name" in identifier:
            cls = CLASSES.get(str(identifier["class_name"]))
            if cls is None:
                name = str(identifier["class_name"]).lower()
                cls = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2,
                       "orthogonal_regularizer": OrthogonalRegularizer}.get(name)
            config = identifier.get("config") or {}
        else:
            cls, config = _from_keys(identifier), identifier
        if cls is None or not isinstance(config, Mapping):
            raise ValueError(f"unknown regularizer config {dict(identifier)!r}; valid class "
                             f"names: {', '.join(valid)}")
        try:
            return cls.from_config(config)
        except TypeError as e:
            raise ValueError(f"regularizer {cls.__name__}: bad config {dict(config)} ({e})") from None
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot make a regularizer from {identifier!r}; use one of "
                     f"{', '.join(valid)}, a Regularizer, a callable f(w) -> scalar, or a dict "
                     "{'class_name', 'config'}")


def serialize(regularizer: Any) -> dict | None:
    """``{"class_name", "config"}`` of a regularizer, for saving (None stays None).

    >>> serialize(L2(0.5))
    {'class_name': 'L2', 'config': {'l2': 0.5}}
    """
    if regularizer is None:
        return None
    config_of(regularizer)   # a function: refused as code
    if not isinstance(regularizer, Regularizer) or type(regularizer).__name__ not in CLASSES:
        raise ValueError(f"the regularizer {regularizer!r} is not one of adkit.nn.regularizers' "
                         f"classes ({', '.join(CLASSES)}), so a saved model could not rebuild "
                         "it; use one of them, or save the weights alone")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def config_of(regularizer: Any) -> dict:
    """The config a layer saves for its regularizer (``get_config()``); a plain function
    has none and is refused by name.

    >>> config_of(L2(0.5))
    {'l2': 0.5}
    """
    if not callable(getattr(regularizer, "get_config", None)):
        raise ValueError(f"the regularizer {regularizer!r} is code, which a saved model never "
                         "holds; use one of adkit.nn.regularizers' classes (L1, L2, L1L2, "
                         "OrthogonalRegularizer) or save the weights alone")
    return regularizer.get_config()


def deserialize(config: Any) -> Any:
    """The regularizer ``serialize`` described."""
    return get(config)
