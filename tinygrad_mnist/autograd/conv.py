"""The ops of convolutional networks: conv2d, max and average pooling, batch normalisation.

Images are NCHW (batch, channels, height, width) and conv weights (out_channels, in_channels, kh, kw),
as in PyTorch. Each op is one fused node: its forward and backward are written with numpy's sliding
windows and one BLAS contraction (`fast_conv.py`), and its `reference` is the same math written with
primitives (pad, slicing, stack, matmul, max, mean), which the tests compare it with and which
`backward(create_graph=True)` differentiates for second derivatives.

The gradients, derived in docs/backprop.md (and written out by hand in `handderived.py`):

- conv2d: dW is the cross-correlation of the input with the output gradient; dX is the *full*
  convolution of the output gradient with the kernel (a correlation with the flipped kernel); db sums g.
- max_pool2d: each window's gradient goes to its arg-max (ties split evenly, as in `max`).
- avg_pool2d: each window's gradient is spread evenly over its kh·kw inputs.
- batch_norm: x̂ = (x − μ)/σ over the batch; dx = (g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)) / σ.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import composed, fast_conv
from tinygrad_mnist.autograd.function import Function
from tinygrad_mnist.autograd.tensor import Tensor

Pair = tuple[int, int]


def pair(value: Any, name: str, minimum: int = 0) -> Pair:
    """An int or a pair of ints as (height, width), checked to be >= `minimum`."""
    values = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def _check_images(op: str, x: Any) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (batch, channels, height, width), got shape {x.shape}")


def _out_hw(op: str, hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Pair:
    out = tuple(fast_conv.output_size(hw[a], kernel[a], stride[a], padding[a], dilation[a]) for a in range(2))
    if min(out) < 1:
        raise ValueError(
            f"{op}: a {kernel[0]}x{kernel[1]} kernel (dilation {dilation}) does not fit an input of "
            f"{hw[0]}x{hw[1]} with padding {padding}"
        )
    return out


def _pad_width(padding: Pair) -> tuple[tuple[int, int], ...]:
    (ph, pw) = padding
    return ((0, 0), (0, 0), (ph, ph), (pw, pw))


def _window_stack(xp: Tensor, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> Tensor:
    """The windows of a padded Tensor written with primitives: (N, C, Ho, Wo, kh·kw), one strided
    slice per kernel offset, stacked on a new last axis (what `fast_conv.windows` is a view of)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    taps = [
        xp[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    return composed.stack(taps, axis=-1)


class Conv2d(Function):
    """2-D cross-correlation (what deep learning calls convolution) of NCHW images with
    (out_channels, in_channels, kh, kw) weights, plus a bias per output channel:

        out[n, o, h, w] = b[o] + Σ_{c,i,j} x_padded[n, c, h·sh + i·dh, w·sw + j·dw] · W[o, c, i, j]

    VJP: dW = x ⋆ g (the input cross-correlated with the output gradient), dX = g ∗ W (the full
    convolution of the output gradient with the kernel), db = Σ g over batch and pixels.
    """

    formula, arg_names = "x ⋆ W + b", ("x", "W", "b")

    def __init__(self, stride: Any = 1, padding: Any = 0, dilation: Any = 1):
        self.stride = pair(stride, "conv2d: stride", 1)
        self.padding = pair(padding, "conv2d: padding", 0)
        self.dilation = pair(dilation, "conv2d: dilation", 1)

    def _shapes(self, x: Any, w: Any, b: Any) -> Pair:
        _check_images("conv2d", x)
        if w.ndim != 4 or w.shape[1] != x.shape[1]:
            raise ValueError(
                f"conv2d: weight of shape {w.shape} does not fit input of shape {x.shape} (weight is "
                "(out_channels, in_channels, kh, kw); in_channels must equal the input's channels)"
            )
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"conv2d: bias has shape {b.shape}, expected ({w.shape[0]},)")
        return _out_hw("conv2d", x.shape[2:], w.shape[2:], self.stride, self.padding, self.dilation)

    def forward(self, x, w, b=None):
        self.out_hw = self._shapes(x, w, b)
        self.has_bias = b is not None
        kernel, n, o = w.shape[2:], x.shape[0], w.shape[0]
        cols = fast_conv.im2col(
            fast_conv.pad(x, self.padding), kernel, self.stride, self.dilation, self.out_hw
        )
        out = w.reshape(o, -1) @ cols  # (O, N·Ho·Wo): the whole convolution is this one matmul
        if b is not None:
            out += b.reshape(-1, 1).astype(out.dtype, copy=False)
        self.cols = cols  # for dW; dropped by backward, or at once when no gradient is recorded
        return out.reshape(o, n, *self.out_hw).transpose(1, 0, 2, 3)

    def _record(self, tensors: tuple[Tensor, ...], arrays: tuple[np.ndarray, ...]) -> Tensor:
        out = super()._record(tensors, arrays)
        if not out.requires_grad or not self.needs_input_grad[1]:
            self.__dict__.pop("cols", None)  # memory stays bounded: no im2col buffer outlives its use
        return out

    def backward(self, g, out, x, w, b=None):
        needs = self.needs_input_grad
        kernel, o = w.shape[2:], w.shape[0]
        g2 = fast_conv.channels_first(g)  # (O, N·Ho·Wo)
        gx = gw = gb = None
        if needs[1]:
            cols = self.__dict__.pop("cols", None)
            if cols is None:  # a second backward (retain_graph) rebuilds it
                xp = fast_conv.pad(x, self.padding)
                cols = fast_conv.im2col(xp, kernel, self.stride, self.dilation, self.out_hw)
            gw = (g2 @ cols.T).reshape(w.shape)  # the input cross-correlated with g
        if needs[0]:
            (ph, pw), (h, wd) = self.padding, x.shape[2:]
            padded = (*x.shape[:2], h + 2 * ph, wd + 2 * pw)
            dcols = w.reshape(o, -1).T @ g2  # g spread back through every tap of the kernel
            dxp = fast_conv.col2im(dcols, padded, kernel, self.stride, self.dilation, self.out_hw)
            gx = dxp[:, :, ph : ph + h, pw : pw + wd]
        if b is not None and needs[2]:
            gb = g2.sum(axis=1)
        return gx, gw, gb

    def describe(self) -> str:
        return "x ⋆ W + b" if getattr(self, "has_bias", True) else "x ⋆ W"

    def reference(self, x, w, b=None):
        n, c = x.shape[:2]
        o, _, kh, kw = w.shape
        out_hw = self._shapes(x, w, b)
        xp = composed.pad(x, _pad_width(self.padding))
        cols = _window_stack(xp, (kh, kw), self.stride, self.dilation, out_hw)  # N C Ho Wo K
        cols = composed.permute(cols, 0, 2, 3, 1, 4).reshape(n, *out_hw, c * kh * kw)
        # permute(1, 0), not .T: the engine's `.T` cannot yet be differentiated twice
        out = composed.permute(cols @ composed.permute(w.reshape(o, c * kh * kw), 1, 0), 0, 3, 1, 2)
        return out if b is None else out + b.reshape(1, o, 1, 1)


class _Pool2d:
    """Shared by the pooling ops (a mixin, not an op of its own): a kernel slid over each channel of
    NCHW images, no weights."""

    name: str

    pad_value = 0.0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1):
        self.kernel_size = pair(kernel_size, f"{self.name}: kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, f"{self.name}: stride", 1)
        self.padding = pair(padding, f"{self.name}: padding", 0)
        self.dilation = pair(dilation, f"{self.name}: dilation", 1)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"{self.name}: padding {self.padding} must be at most half the kernel {self.kernel_size}"
            )

    def _padded(self, x: np.ndarray) -> np.ndarray:
        _check_images(self.name, x)
        self.out_hw = _out_hw(
            self.name, x.shape[2:], self.kernel_size, self.stride, self.padding, self.dilation
        )
        return fast_conv.pad(x, self.padding, self.pad_value)

    def _crop(self, dxp: np.ndarray, x: np.ndarray) -> np.ndarray:
        (ph, pw) = self.padding
        return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]

    def _reference_windows(self, x: Tensor) -> Tensor:
        _check_images(self.name, x)
        out_hw = _out_hw(self.name, x.shape[2:], self.kernel_size, self.stride, self.padding, self.dilation)
        xp = composed.pad(x, _pad_width(self.padding), value=self.pad_value)
        return _window_stack(xp, self.kernel_size, self.stride, self.dilation, out_hw)


class MaxPool2d(_Pool2d, Function):
    """The largest value of each kh x kw window (padding counts as −∞, so it never wins).

    VJP: each window's gradient goes to the position of its maximum; tied maxima split it evenly, as
    in `max`. Overlapping windows (stride < kernel) add up what they route to a shared input.
    """

    formula = "max over {kernel_size} windows"
    pad_value = -math.inf

    def forward(self, x):
        xp = self._padded(x)
        return fast_conv.max_pool(xp, self.kernel_size, self.stride, self.dilation, self.out_hw)

    def backward(self, g, out, x):
        xp = self._padded(x)
        return (
            self._crop(
                fast_conv.max_pool_gradient(xp, out, g, self.kernel_size, self.stride, self.dilation), x
            ),
        )

    def reference(self, x):
        return self._reference_windows(x).max(axis=-1)


class AvgPool2d(_Pool2d, Function):
    """The mean of each kh x kw window; zero padding counts in the mean (PyTorch's default,
    count_include_pad=True). VJP: each window's gradient is spread evenly over its kh·kw inputs."""

    formula = "mean over {kernel_size} windows"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__(kernel_size, stride, padding)

    def forward(self, x):
        xp = self._padded(x)
        total = fast_conv.window_sum(xp, self.kernel_size, self.stride, self.out_hw)
        return total * x.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))

    def backward(self, g, out, x):
        xp_shape = self._padded(x).shape
        share = g * g.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        return (self._crop(fast_conv.spread(share, xp_shape, self.kernel_size, self.stride), x),)

    def reference(self, x):
        return self._reference_windows(x).mean(axis=-1)


class BatchNorm(Function):
    """Batch normalisation with the batch's own statistics (training mode), over every axis but the
    channels (axis 1): x̂ = (x − μ) / √(σ² + ε), out = γ·x̂ + β (γ, β optional, per channel).

    Fused because the composed form records a dozen nodes over the whole activation. The mean `mean`
    and biased variance `var` of this batch stay on the op for the running statistics.
    VJP: dγ = Σ g·x̂, dβ = Σ g, dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / √(σ² + ε) with ĝ = g·γ.
    """

    formula, arg_names = "γ·(x − μ)/√(σ² + ε) + β", ("x", "γ", "β")

    def __init__(self, eps: float = 1e-5):
        self.eps = eps

    def _axes(self, x: Any, w: Any, b: Any) -> tuple[int, ...]:
        if x.ndim < 2:
            raise ValueError(f"batch_norm: input must have a channel axis (N, C, ...), got shape {x.shape}")
        for what, p in (("weight", w), ("bias", b)):
            if p is not None and p.shape != (x.shape[1],):
                raise ValueError(f"batch_norm: {what} has shape {p.shape}, expected ({x.shape[1]},)")
        axes = (0, *range(2, x.ndim))
        if math.prod(x.shape[a] for a in axes) < 2:
            raise ValueError(
                f"batch_norm: expected more than one value per channel in training, got input shape {x.shape}"
            )
        return axes

    def forward(self, x, w=None, b=None):
        self._axes(x, w, b)
        xc = fast_conv.channels_first(x)  # (C, everything else): per-channel rows
        mean = xc.mean(axis=1)
        centred = xc - mean[:, None]
        var = fast_conv.row_dots(centred, centred) / centred.shape[1]
        self.mean, self.var = mean, var
        self.inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        centred *= self.inv_std[:, None]
        self.x_hat = centred  # (C, M), the normalised input
        out = centred if w is None else centred * w[:, None]
        if b is not None:
            out += b[:, None]
        return fast_conv.from_channels_first(out, x.shape)

    def backward(self, g, out, x, w=None, b=None):
        needs = self.needs_input_grad + (False,) * (3 - len(self.needs_input_grad))
        x_hat, g2 = self.x_hat, fast_conv.channels_first(g)
        gw = fast_conv.row_dots(g2, x_hat) if w is not None and needs[1] else None
        gb = g2.sum(axis=1) if b is not None and needs[2] else None
        gx = None
        if needs[0]:
            gh = g2 if w is None else g2 * w[:, None]
            m = g2.shape[1]
            mean_gh = gh.mean(axis=1)
            mean_gh_xhat = fast_conv.row_dots(gh, x_hat) / m
            dx = x_hat * -mean_gh_xhat[:, None]
            dx += gh
            dx -= mean_gh[:, None]
            dx *= self.inv_std[:, None]
            gx = fast_conv.from_channels_first(dx, x.shape)
        return gx, gw, gb

    def reference(self, x, w=None, b=None):
        axes = self._axes(x, w, b)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        centred = x - x.mean(axis=axes, keepdims=True)
        var = (centred * centred).mean(axis=axes, keepdims=True)
        out = centred * (var + self.eps) ** -0.5
        out = out if w is None else out * w.reshape(shape)
        return out if b is None else out + b.reshape(shape)


# ---------------------------------------------------------------------- the ops as functions
def conv2d(
    x: Tensor, weight: Tensor, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Tensor:
    """PyTorch's `F.conv2d` (without groups): one `conv2d` node."""
    params = dict(stride=stride, padding=padding, dilation=dilation)
    return Conv2d.apply(x, weight, **params) if bias is None else Conv2d.apply(x, weight, bias, **params)


def max_pool2d(
    x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1
) -> Tensor:
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


def batch_norm(x: Tensor, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalise with the batch's statistics (training mode); the op keeps them as `.grad_fn.mean`
    and `.grad_fn.var` for whoever tracks running statistics (`nn.BatchNorm2d`)."""
    inputs = [x] + ([weight, bias] if bias is not None else [weight] if weight is not None else [])
    if weight is None and bias is not None:
        raise ValueError("batch_norm: a bias without a weight is not supported; pass both or neither")
    return BatchNorm.apply(*inputs, eps=eps)
