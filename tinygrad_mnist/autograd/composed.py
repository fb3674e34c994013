"""Ops composed of primitives: no VJP of their own to get wrong, and second derivatives for free.

Each is a few lines of the primitives in `ops.py` (as tinygrad builds its op set), so the graph shows
the steps it takes; `methods.py` attaches them to Tensor under their PyTorch names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import ops
from tinygrad_mnist.autograd.tensor import Tensor

Axis = int | Sequence[int] | None


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------------- elementwise
def where(condition: Any, x: Any, y: Any) -> Tensor:
    """`x` where `condition` holds, else `y` (broadcast together); the gradient goes to what was picked."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: the condition must be boolean, got dtype {cond.dtype}")
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = Tensor(x)
    return ops.Where.apply(Tensor._constant(cond), x, y)


def maximum(a: Any, b: Any) -> Tensor:
    return ops.Maximum.apply(_tensor(a), b)


def minimum(a: Any, b: Any) -> Tensor:
    """min(a, b) = −max(−a, −b)."""
    return -maximum(-_tensor(a), -_tensor(b) if isinstance(b, Tensor) else -np.asarray(b))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    return ops.Clip.apply(x, min=min, max=max)


def square(x: Tensor) -> Tensor:
    return x * x


def masked_fill(x: Tensor, mask: Any, value: float) -> Tensor:
    """`value` where `mask` is True, `x` elsewhere (the filled places get no gradient)."""
    return where(mask, value, x)


def log_sigmoid(x: Tensor) -> Tensor:
    """log σ(x) = −softplus(−x), finite for large |x|."""
    return -softplus(-x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(βx)) / β. PyTorch switches to x above `threshold` only to avoid overflow, which the
    primitive (numpy's logaddexp) never has, so `threshold` is accepted and not needed."""
    if beta == 1.0:
        return ops.Softplus.apply(x)
    return ops.Softplus.apply(x * beta) * (1.0 / beta)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return where(x > 0, x, x * negative_slope)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x · Φ(x), Φ the standard normal CDF (exact, with erf), or PyTorch's tanh approximation."""
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * 0.5 * (inner.tanh() + 1)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x * 0.5 * (ops.Erf.apply(x * (1 / math.sqrt(2))) + 1)


def erf(x: Tensor) -> Tensor:
    return ops.Erf.apply(x)


# ---------------------------------------------------------------------- reductions
def min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """min x = −max(−x): ties split the gradient, as in max."""
    return -((-x).max(axis=axis, keepdims=keepdims))


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log Σ eˣ, shifted by the (detached) maximum so exp can't overflow; the shift cancels exactly."""
    top = x.max(axis=axis, keepdims=True).detach()
    out = (x - top).exp().sum(axis=axis, keepdims=True).log() + top
    return out if keepdims else out.reshape(np.squeeze(top.data, axis=ops.normalize_axis(axis, x.ndim)).shape)


def var(x: Tensor, axis: Axis = None, correction: int = 1, keepdims: bool = False) -> Tensor:
    """Variance, Σ (x − mean)² / (n − correction): PyTorch's default is the unbiased correction=1."""
    axes = ops.normalize_axis(axis, x.ndim)
    n = math.prod(x.shape[a] for a in axes)
    centred = x - x.mean(axis=axes, keepdims=True)
    divisor = n - correction
    return (centred * centred).sum(axis=axes, keepdims=keepdims) * (
        1.0 / divisor if divisor > 0 else math.nan
    )


def std(x: Tensor, axis: Axis = None, correction: int = 1, keepdims: bool = False) -> Tensor:
    return var(x, axis, correction, keepdims).sqrt()


# ---------------------------------------------------------------------- movement
def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """A new axis of size 1 at `dim` (negative counts from the end of the result, as in PyTorch)."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise ValueError(f"unsqueeze: dim {dim} is out of range for a tensor with {x.ndim} dimension(s)")
    dim = dim % (x.ndim + 1)
    return x.reshape(x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x: Tensor, dim: Axis = None) -> Tensor:
    """Drop axes of size 1 (all of them, or those in `dim`; a named axis of another size is kept, as in PyTorch)."""
    axes = ops.normalize_axis(dim, x.ndim) if dim is not None else tuple(range(x.ndim))
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return x.reshape((1,))
    start, end = ops.normalize_axis((start_dim, end_dim), x.ndim)
    return x.reshape(x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :])


def permute(x: Tensor, *dims: int) -> Tensor:
    return ops.Transpose.apply(x, axes=ops.as_shape(dims))


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    order = list(range(x.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return ops.Transpose.apply(x, axes=tuple(order))


def expand(x: Tensor, *shape: int) -> Tensor:
    """Broadcast to `shape`; -1 keeps that axis' size (PyTorch's `expand`)."""
    sizes = ops.as_shape(shape)
    lead = len(sizes) - x.ndim
    return ops.BroadcastTo.apply(
        x, shape=tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    )


def cat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    tensors = list(tensors)
    if not any(isinstance(t, Tensor) for t in tensors):
        tensors[0] = Tensor(tensors[0])
    return ops.Cat.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join along a new axis: each tensor gets an axis of size 1 there, then they are concatenated."""
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {np.shape(t.data if isinstance(t, Tensor) else t) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return cat([unsqueeze(_tensor(t), axis) for t in tensors], axis=axis)


def pad(x: Tensor, pad: Sequence[Any], value: float = 0.0) -> Tensor:
    """Constant padding. `pad` is PyTorch's flat (left, right, top, bottom, ...) from the last axis
    backwards, or numpy's ((before, after), ...) per axis."""
    if len(pad) and all(isinstance(p, Sequence) for p in pad):
        width = tuple((int(a), int(b)) for a, b in pad)
        if len(width) != x.ndim:
            raise ValueError(f"pad: {len(width)} (before, after) pairs for a tensor with {x.ndim} dimensions")
    else:
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ValueError(
                f"pad: {pad} must be pairs (left, right, ...) for at most {x.ndim} trailing axes"
            )
        pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]
        width = tuple([(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1])
    if any(a < 0 or b < 0 for a, b in width):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    return ops.Pad.apply(x, pad_width=width, value=value)


def take_along_axis(x: Tensor, indices: Any, axis: int) -> Tensor:
    """numpy's take_along_axis (PyTorch's `gather(dim, index)`): one getitem with index arrays, so
    repeated indices add up their gradients."""
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu" or idx.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis: indices must be integers with {x.ndim} dimensions, got {idx.dtype} {idx.shape}"
        )
    axis = ops.normalize_axis(axis, x.ndim)[0]
    grids = list(np.ogrid[tuple(slice(n) for n in idx.shape)])
    grids[axis] = idx
    return x[tuple(grids)]


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    return take_along_axis(x, index, dim)
