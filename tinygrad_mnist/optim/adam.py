"""Adam: per-parameter step sizes from running averages of the gradient and its square."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_mnist.optim.optimizer import Optimizer, ParamsArg, _check_number


class Adam(Optimizer):
    """PyTorch's Adam (Kingma & Ba, 2015). For each parameter p with gradient g, at its step t = 1, 2, ...:

        g = g + weight_decay * p                       (if weight_decay != 0; L2, not AdamW's decoupling)
        m = beta1 * m + (1 - beta1) * g                (m, v start at 0)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    The bias corrections undo the zero start of m and v, so early steps are not tiny. Parameters whose
    `.grad` is None are skipped and their t does not advance.
    """

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        _check_number(self, "betas[0]", betas[0], upper=1.0)
        _check_number(self, "betas[1]", betas[1], upper=1.0)
        _check_number(self, "eps", group["eps"])

    def step(self) -> None:
        for group in self.param_groups:
            lr, eps = float(group["lr"]), float(group["eps"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p, grad in self._gradients(group):  # weight decay included
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m *= beta1
                m += (1 - beta1) * grad
                v *= beta2
                v += (1 - beta2) * grad * grad
                step_size = lr / (1 - beta1**t)
                denom = np.sqrt(v)
                denom /= math.sqrt(1 - beta2**t)
                denom += eps
                np.divide(m, denom, out=denom)  # reuse the buffer: denom now holds m / denom
                denom *= step_size
                p.data -= denom
