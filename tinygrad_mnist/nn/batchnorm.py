"""`BatchNorm1d` and `BatchNorm2d`: normalise each channel over the batch, then scale and shift it.

Normalising every layer's inputs keeps their scale steady while the layers below change, so a network
trains with larger learning rates in fewer epochs. Training uses each batch's statistics and keeps
running averages of them (buffers: saved in `state_dict`, not trained); `eval()` uses the averages,
so a prediction does not depend on the other images in its batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn.functional import as_tensor, batch_norm
from tinygrad_mnist.nn.module import Module, Parameter


class _BatchNorm(Module):
    """PyTorch's batch norm over axis 1. `weight` (γ, ones) and `bias` (β, zeros) if `affine`;
    buffers `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked` if
    `track_running_stats`. Running statistics follow PyTorch's momentum convention,
    `running = (1 - momentum) * running + momentum * batch` (momentum=None: the cumulative average)."""

    dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: Any = np.float32,
    ):
        super().__init__()
        if (
            isinstance(num_features, bool)
            or not isinstance(num_features, int | np.integer)
            or num_features <= 0
        ):
            raise ValueError(
                f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}"
            )
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"{type(self).__name__}: eps must be positive, got {eps!r}")
        dtype = np.dtype(dtype)
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype), dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype), dtype=dtype) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x, self.weight.dtype if self.affine else None, where=type(self).__name__)
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            dims = " or ".join(f"{d}-D" for d in self.dims)
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): input has shape {x.shape}; expected {dims} "
                f"with {self.num_features} channels on axis 1"
            )
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if momentum is None:  # the cumulative average of every batch so far
                momentum = 1.0 / int(self.num_batches_tracked.data)
        return batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=use_batch, momentum=momentum if momentum is not None else 0.0, eps=self.eps,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) features or (N, C, L) sequences, per channel C."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) images, per channel C (statistics over batch, height and width)."""

    dims = (4,)
