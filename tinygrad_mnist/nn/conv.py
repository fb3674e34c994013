"""`Conv2d`: a bank of learned kh x kw filters slid over NCHW images, recorded as one `conv2d` op."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.autograd.conv import pair
from tinygrad_mnist.nn import init
from tinygrad_mnist.nn.functional import as_tensor
from tinygrad_mnist.nn.module import Module, Parameter


class Conv2d(Module):
    """2-D convolution layer, PyTorch's `nn.Conv2d` without groups: input (N, in_channels, H, W),
    `weight` (out_channels, in_channels, kh, kw), `bias` (out_channels,).

    Each output channel is one filter cross-correlated with every input channel and summed, plus its
    bias: the same small weight matrix is reused at every position, so a 5x5 filter learns an edge or
    stroke detector wherever it appears. Initialisation is PyTorch's default: weight and bias uniform
    in [-k, k] with k = 1 / sqrt(in_channels * kh * kw), drawn from `rng` (int seed, Generator, or
    None for the default generator that `nn.manual_seed` reseeds), weight first.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        bias: bool = True,
        *,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {value!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Conv2d: dtype must be a floating-point type, got {dtype}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size", 1)
        self.stride = pair(stride, "Conv2d: stride", 1)
        self.padding = pair(padding, "Conv2d: padding", 0)
        self.dilation = pair(dilation, "Conv2d: dilation", 1)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dtype), dtype=dtype)
        self.bias = Parameter(np.empty(self.out_channels, dtype=dtype), dtype=dtype) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | int | None = None) -> None:
        """Redraw weight then bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels·kh·kw."""
        generator = init.get_generator(rng)
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        x = as_tensor(x, self.weight.dtype, where="Conv2d")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d(in_channels={self.in_channels}): input has shape {x.shape}; expected "
                f"(batch, {self.in_channels}, height, width)"
            )
        return x.conv2d(self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        )
        if any(self.padding):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        return text + ("" if self.bias is not None else ", bias=False")
