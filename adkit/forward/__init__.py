"""Forward mode: dual numbers pushed through the primitive table."""

from .api import derivative, jacobian, jvp
from .dual import Dual, ForwardTrace

__all__ = ["Dual", "ForwardTrace", "derivative", "jvp", "jacobian"]
