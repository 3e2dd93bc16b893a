"""Reverse mode: a tape of primitives (a Wengert list), run backwards."""

from .api import grad, jacobian, value_and_grad, vjp
from .tape import Node, Tape, Var

__all__ = ["Tape", "Node", "Var", "vjp", "grad", "value_and_grad", "jacobian"]
