"""What a layer's forward pass is given besides its parameters (`Context`), and the
error a layer raises for a shape it cannot take (`ShapeError`). A leaf module: the
layers and the graph recorder (nodes.py) both build on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class ShapeError(ValueError):
    """A layer cannot take the shape it is given."""


@dataclass
class Context:
    """What one forward pass knows besides parameters and input."""

    training: bool = False
    rng: np.random.Generator | None = None
    state: dict = field(default_factory=dict)       # layer name -> current state
    new_state: dict = field(default_factory=dict)   # layer name -> state after this pass
    #: the Keras masks of the model's outputs (None where an output has none), set by
    #: the forward pass: the training loss leaves masked steps out, as Keras's does
    output_masks: list = field(default_factory=list)

    def random(self, who: str) -> np.random.Generator:
        if self.rng is None:
            raise ValueError(f"{who} needs a random generator in training mode; pass rng= "
                             "to the forward pass (Model.fit does this for you)")
        return self.rng
