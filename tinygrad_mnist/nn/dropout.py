"""`Dropout`: in training, zero random activations (and scale the rest up); in eval, do nothing."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn import init
from tinygrad_mnist.nn.functional import dropout
from tinygrad_mnist.nn.module import Module


class Dropout(Module):
    """Inverted dropout with probability `p`: a network that can't rely on any one unit learns
    redundant features, which generalise better. Active only in `train()` mode; `eval()` makes it the
    identity. Masks come from `rng` (an int seed or Generator, held for the layer's life), or from the
    default generator that `nn.manual_seed` reseeds when `rng` is None."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.generator = None if rng is None else init.get_generator(rng)

    def forward(self, x: Any) -> Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
