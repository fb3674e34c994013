"""`Flatten`: merge axes into one, e.g. (N, 28, 28) images into (N, 784) rows for a Linear layer."""

from __future__ import annotations

from typing import Any

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn.functional import as_tensor
from tinygrad_mnist.nn.module import Module


class Flatten(Module):
    """Merge axes `start_dim` through `end_dim` (inclusive); the default keeps the batch axis."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 2 and self.start_dim in (1, -1) and self.end_dim == -1:
            return x  # (batch, features) rows: already flat, nothing to record
        shape = x.shape
        start, end = self.start_dim, self.end_dim
        if x.ndim == 0 or not (-x.ndim <= start < x.ndim and -x.ndim <= end < x.ndim):
            raise ValueError(
                f"Flatten(start_dim={start}, end_dim={end}): dims out of range for input shape {shape}"
            )
        start, end = start % x.ndim, end % x.ndim
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim}")
        merged = 1
        for side in shape[start : end + 1]:
            merged *= side
        new_shape = shape[:start] + (merged,) + shape[end + 1 :]
        return x if new_shape == shape else x.reshape(new_shape)  # already flat: no op to record

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
