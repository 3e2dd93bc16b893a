"""The random generators a function may draw from, and whether it drew while staged.

A program replays what staging recorded, so numbers drawn while f was staged would
come back at every call. adkit.compile takes these states before staging f, asks
`drawn()` after it (a reason to run f eagerly, naming the generator), and `restore()`s
them before that eager call, so it draws what f alone would have drawn.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np


__all__ = ["RandomStates"]


class RandomStates:
    """The states of the random generators f may draw from (NumPy's and Python's global
    ones, and the NumPy generators it captures), taken before f is staged. A program
    would replay the draws made while staging, so drawing makes f run eagerly, from
    the states it was staged from."""

    def __init__(self, generators: list) -> None:
        """generators: (generator, path) pairs, as captures.random_generators gives them."""
        self.captured = [(g, path, _state(g)) for g, path in generators]
        self.numpy, self.python = np.random.get_state(), random.getstate()

    def drawn(self) -> str | None:
        """Why a program would not draw as f does (the generator drawn from), or None."""
        if not _same_state(np.random.get_state(), self.numpy) \
                or random.getstate() != self.python:
            return "it draws from NumPy's or Python's global random generator"
        for g, path, before in self.captured:
            if not _same_state(_state(g), before):
                return (f"it draws from the random generator {path} (a program would repeat "
                        "the numbers drawn while staging it); pass the random numbers as an "
                        "argument to compile the rest")
        return None

    def restore(self) -> None:
        """Put every generator back in the state it had when this was made."""
        np.random.set_state(self.numpy)
        random.setstate(self.python)
        for g, _, before in self.captured:
            if isinstance(g, np.random.RandomState):
                g.set_state(before)
            else:
                (g if isinstance(g, np.random.BitGenerator) else g.bit_generator).state = before


def _state(g: Any) -> Any:
    """A NumPy random generator's state (RandomState, Generator or BitGenerator)."""
    if isinstance(g, np.random.RandomState):
        return g.get_state(legacy=False)
    return (g if isinstance(g, np.random.BitGenerator) else g.bit_generator).state


def _same_state(a: Any, b: Any) -> bool:
    """Equality of generator states: dicts, tuples, numbers and arrays (MT19937's key)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            _same_state(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(
            _same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return a == b
