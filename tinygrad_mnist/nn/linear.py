"""`Linear`: the fully connected layer, `y = x @ weight.T + bias`, recorded as one fused `linear` op."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn import init
from tinygrad_mnist.nn.functional import as_tensor
from tinygrad_mnist.nn.module import Module, Parameter


class Linear(Module):
    """Fully connected layer: `weight` has shape (out_features, in_features), `bias` shape (out_features,).

    Initialisation is PyTorch's default: weight and bias both uniform in [-k, k] with
    k = 1 / sqrt(in_features), which keeps the pre-activations' scale roughly independent of the fan-in.
    Weight is drawn first, then bias, from `rng`: an int seed or `np.random.Generator` (pass one
    Generator to every layer of a model to build it from a single seed), or None for the default
    generator that `tinygrad_mnist.nn.manual_seed` reseeds. `dtype` is the parameters' dtype (float32;
    float64 for gradient checks).

    The forward is one fused engine op, `Tensor.linear`: a single graph node instead of transpose,
    matmul and add, so fewer Python steps per call; its backward is dX = g @ W, dW = g.T @ x,
    db = g summed over the batch.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating-point type, got {dtype}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype), dtype=dtype)
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype), dtype=dtype) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | int | None = None) -> None:
        """Redraw weight then bias from U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        generator = init.get_generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        init.uniform_(self.weight, -bound, bound, generator)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        x = as_tensor(x, self.weight.dtype, where="Linear")
        shape = x.data.shape
        if not shape or shape[-1] != self.in_features:
            hint = " (flatten images first, e.g. with Flatten())" if len(shape) > 2 else ""
            raise ValueError(
                f"Linear(in_features={self.in_features}): input has shape {shape}; its last "
                f"dimension must be {self.in_features}{hint}"
            )
        return x.linear(self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )
