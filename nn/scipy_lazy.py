"""SciPy's modules for the few adkit.nn functions that need them (erf for exact gelu,
erfinv for truncated normals, logsumexp, scipy.linalg), imported at their first use:
adkit.nn itself runs without SciPy, and says what to install when one of them is called."""

from __future__ import annotations

import importlib
from types import ModuleType


def scipy_module(name: str) -> ModuleType:
    """scipy.<name>, or an ImportError naming the install command."""
    try:
        return importlib.import_module(f"scipy.{name}")
    except ImportError:
        raise ImportError(f"this function uses scipy.{name}, and SciPy is not installed: "
                          "pip install scipy") from None


def special() -> ModuleType:
    """scipy.special."""
    return scipy_module("special")


def linalg() -> ModuleType:
    """scipy.linalg."""
    return scipy_module("linalg")
