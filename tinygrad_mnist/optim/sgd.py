"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.optim.optimizer import Optimizer, ParamsArg, _check_number


class SGD(Optimizer):
    """PyTorch's SGD. For each parameter p with gradient g, at step t (mu = momentum, tau = dampening):

        g = g + weight_decay * p                       (if weight_decay != 0)
        b = g                       at the first step  (if mu != 0)
        b = mu * b + (1 - tau) * g  afterwards
        g = g + mu * b  if nesterov  else  g = b
        p = p - lr * g

    Plain SGD (momentum=0) is the textbook `p -= lr * grad`. Parameters whose `.grad` is None are skipped
    (and their momentum buffer is not advanced).
    """

    def __init__(
        self,
        params: ParamsArg,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _check_number(self, "momentum", group["momentum"])
        _check_number(self, "dampening", group["dampening"])
        if not isinstance(group["nesterov"], bool):
            raise TypeError(f"SGD: nesterov must be a bool, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")

    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum, dampening = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
            if momentum == 0 and group["weight_decay"] == 0:
                self._plain_step(group["params"], lr)
                continue
            for p, d_p in self._gradients(group):  # weight decay included
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(d_p, copy=True)
                    else:
                        buf *= momentum
                        buf += d_p if dampening == 0 else (1 - dampening) * d_p
                    d_p = d_p + momentum * buf if group["nesterov"] else buf
                p.data -= lr * d_p

    def _plain_step(self, params: list[Tensor], lr: float) -> None:
        """`p -= lr * grad`, the common case (no momentum, no weight decay), as a bare loop: the same
        update and checks as `_gradients`, without a generator per step (docs/performance.md)."""
        for p in params:
            grad = p.grad
            if grad is None:
                continue
            if grad.shape != p.data.shape:
                self._gradient_shape_error(p)
            if grad.dtype != p.data.dtype:
                grad = grad.astype(p.data.dtype)
            p.data -= lr * grad
