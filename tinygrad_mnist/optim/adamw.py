"""AdamW: Adam with the weight decay taken out of the gradient and applied to the weights directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.optim.adam import Adam
from tinygrad_mnist.optim.optimizer import ParamsArg


class AdamW(Adam):
    """PyTorch's AdamW (Loshchilov & Hutter, 2019). For each parameter p, before Adam's update:

        p = p * (1 - lr * weight_decay)                (decoupled: not added to the gradient)

    then Adam's update with the raw gradient. With Adam's L2 form (`weight_decay` added to g) the
    decay is divided by sqrt(v) like the gradient, so weights with large gradients barely decay;
    decoupled, every weight shrinks by the same factor. PyTorch's default weight_decay is 0.01.
    """

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _gradients(self, group: dict[str, Any]) -> Iterator[tuple[Tensor, np.ndarray]]:
        """The raw gradients (no L2 term), each parameter decayed in place just before its update."""
        decay = 1.0 - float(group["lr"]) * float(group["weight_decay"])
        for p, grad in super()._gradients({**group, "weight_decay": 0.0}):
            if decay != 1.0:
                p.data *= p.data.dtype.type(decay)
            yield p, grad
