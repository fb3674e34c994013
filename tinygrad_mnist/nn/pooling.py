"""`MaxPool2d` and `AvgPool2d`: shrink NCHW feature maps by summarising each window, no weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.autograd.conv import AvgPool2d as _AvgPoolOp
from tinygrad_mnist.autograd.conv import MaxPool2d as _MaxPoolOp
from tinygrad_mnist.nn.functional import as_tensor
from tinygrad_mnist.nn.module import Module


class MaxPool2d(Module):
    """The largest value of each kernel_size window (stride defaults to kernel_size, as in PyTorch):
    2x2 pooling halves height and width, keeping the strongest response of each feature."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1):
        super().__init__()
        op = _MaxPoolOp(kernel_size, stride, padding, dilation)  # checks the settings now, not at forward
        self.kernel_size, self.stride, self.padding, self.dilation = (
            op.kernel_size, op.stride, op.padding, op.dilation,
        )  # fmt: skip

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return as_tensor(x, where="MaxPool2d").max_pool2d(
            self.kernel_size, self.stride, self.padding, self.dilation
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """The mean of each kernel_size window (zero padding counts in the mean, as PyTorch's default)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        op = _AvgPoolOp(kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = op.kernel_size, op.stride, op.padding

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return as_tensor(x, where="AvgPool2d").avg_pool2d(self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
