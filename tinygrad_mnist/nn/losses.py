"""Loss modules: `loss_fn = CrossEntropyLoss(); loss = loss_fn(logits, labels)`.

Thin wrappers over `tinygrad_mnist.nn.functional`, holding the `reduction` so a training loop can take
any of them interchangeably.
"""

from __future__ import annotations

from typing import Any

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn import functional as F
from tinygrad_mnist.nn.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = F._check_reduction(reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Squared error, averaged ("mean") or summed ("sum"); input and target shapes must be equal.

    The classic backprop cost `sum((output - onehot)**2)` is `MSELoss(reduction="sum")` applied to
    `(output, one_hot(labels, 10))`.
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) (ndarray or integer Tensor).

    Give it raw logits, not softmax outputs: it applies log-softmax itself (fused, gradient
    `(softmax - onehot) / N` with "mean").
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C), e.g. from `LogSoftmax`, and labels (N,)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, reduction=self.reduction)
