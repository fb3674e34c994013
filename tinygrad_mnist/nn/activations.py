"""Activation layers: modules wrapping the engine's elementwise and softmax ops, so they fit in a Sequential."""

from __future__ import annotations

from typing import Any

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn.functional import as_tensor
from tinygrad_mnist.nn.module import Module


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise: the squashing function of classic backprop networks."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).sigmoid()


class ReLU(Module):
    """max(x, 0), elementwise (gradient 0 at x == 0, as in PyTorch)."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).relu()


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).tanh()


class _AlongDim(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """exp(x) / sum(exp(x)) along `dim`: turns logits into probabilities (computed stably)."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).softmax(axis=self.dim)


class LogSoftmax(_AlongDim):
    """log(softmax(x)) along `dim`, computed without forming softmax (no log(0))."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).log_softmax(axis=self.dim)
