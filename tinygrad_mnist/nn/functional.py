"""Functional forms of the losses and of the CNN layers (the modules call these), `one_hot`, and input
conversion.

Every loss checks shapes up front and names both: numpy would happily broadcast an (N, 10) output
against (N,) labels into an (N, N) "loss" that trains nothing, so here that is an error instead.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.nn import init

_REDUCTIONS = ("mean", "sum", "none")


def as_tensor(x: Any, dtype: Any = None, *, where: str = "input") -> Tensor:
    """`x` as a Tensor of `dtype` (if given). Data is converted; a Tensor that requires grad must
    already have that dtype, since converting it would cut it off from its graph."""
    if isinstance(x, Tensor):
        if dtype is None or x.data.dtype == dtype:
            return x
        if x.requires_grad:
            raise TypeError(
                f"{where}: dtype {x.dtype} differs from the expected {np.dtype(dtype)}, and this tensor "
                "requires grad, so converting it would cut it off from its graph; build both in one dtype"
            )
        return Tensor(x.data, dtype=dtype)
    array = np.asarray(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{where}: expected numeric data, got dtype {array.dtype}")
    return Tensor(array, dtype=dtype)


def _float_input(x: Any, where: str) -> Tensor:
    """A loss's input as a floating Tensor: integer data (which can't carry gradients) becomes float32,
    so a loss is never computed, and truncated, in integer arithmetic."""
    tensor = as_tensor(x, where=where)
    return tensor if tensor.dtype.kind == "f" else Tensor(tensor.data, dtype=np.float32)


def _check_reduction(reduction: str, where: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _reduce(per_element: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_element.mean()
    if reduction == "sum":
        return per_element.sum()
    return per_element


def _class_labels(target: Any, where: str) -> np.ndarray:
    """Integer class labels as an ndarray (from an ndarray, integer Tensor or list); floats are refused."""
    labels = target.data if isinstance(target, Tensor) else np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{where}: class labels must be integers, got dtype {labels.dtype} "
            "(convert with labels.astype(np.int64) if they hold whole numbers)"
        )
    return labels


def one_hot(labels: Any, num_classes: int, dtype: Any = np.float32) -> Tensor:
    """One row per label with a 1 in that label's column: shape `labels.shape + (num_classes,)`."""
    labels = _class_labels(labels, "one_hot")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes <= 0:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    if labels.size and labels.dtype.kind == "i" and np.minimum.reduce(labels, axis=None) < 0:
        raise _labels_out_of_range(labels, num_classes)
    if num_classes <= _SMALL:  # the rows of an identity matrix: per-sample training does this every step
        try:
            return Tensor._constant(_identity(int(num_classes), np.dtype(dtype)).take(labels, axis=0))
        except IndexError:  # a label >= num_classes
            raise _labels_out_of_range(labels, num_classes) from None
    hits = labels[..., None] == np.arange(num_classes)
    if hits.sum() != labels.size:  # a label >= num_classes hits no column
        raise _labels_out_of_range(labels, num_classes)
    return Tensor(hits, dtype=dtype)


def _labels_out_of_range(labels: np.ndarray, num_classes: int) -> ValueError:
    return ValueError(
        f"one_hot: labels must be in [0, {num_classes}), got values {labels.min()}..{labels.max()}"
    )


_SMALL = 256  # classes up to which one_hot keeps an identity matrix (256 KB in float32) to copy rows from


@functools.lru_cache(maxsize=8)
def _identity(n: int, dtype: np.dtype) -> np.ndarray:
    eye = Tensor(np.eye(n), dtype=dtype).data  # Tensor's dtype rules: numeric, or a clear error
    eye.flags.writeable = False  # shared by every call: `take` copies out of it
    return eye


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of squared differences. `input` and `target` must have equal shapes.

    `reduction="sum"` is the classic cost of backprop tutorials, `sum((output - onehot)**2)`. The target
    is converted to the input's dtype unless it requires grad (then gradients flow into it too).
    Uses the engine's fused `Tensor.mse_loss`: one op whose gradient is `2 * (input - target)` (over
    the element count for "mean"), cheaper than recording sub, pow and sum (docs/performance.md).
    """
    _check_reduction(reduction, "mse_loss")
    input = _float_input(input, "mse_loss")
    target = as_tensor(target, input.dtype, where="mse_loss target")
    if input.shape != target.shape:
        hint = ""
        if target.ndim == input.ndim - 1:
            hint = " (for class labels use one_hot(labels, num_classes) or CrossEntropyLoss)"
        raise ValueError(
            f"mse_loss: input shape {input.shape} and target shape {target.shape} must be equal; "
            f"they are not broadcast{hint}"
        )
    return input.mse_loss(target, reduction=reduction)


def cross_entropy(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) (or class probabilities (N, C)).

    Uses the engine's fused `Tensor.cross_entropy`, whose gradient is `(softmax - onehot) / N` for "mean":
    cheaper and stabler than `log_softmax` followed by `nll_loss`, which computes the same value.
    No gradient flows into the target.
    """
    _check_reduction(reduction, "cross_entropy")
    input = _float_input(input, "cross_entropy")
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target.dtype.kind == "f" and target.ndim == 2:
        target = target.astype(input.dtype, copy=False)  # class probabilities
    else:
        target = _class_labels(target, "cross_entropy")
    return input.cross_entropy(target, reduction=reduction)


def nll_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: `-input[i, target[i]]` averaged (or summed) over the batch.

    `input` holds log-probabilities (N, C), e.g. from `log_softmax`; `target` integer labels (N,).
    """
    _check_reduction(reduction, "nll_loss")
    input = _float_input(input, "nll_loss")
    labels = _class_labels(target, "nll_loss")
    if input.ndim != 2:
        raise ValueError(f"nll_loss: input must be 2-D (batch, classes), got shape {input.shape}")
    n, classes = input.shape
    if labels.shape != (n,):
        raise ValueError(
            f"nll_loss: target shape {labels.shape} must be ({n},) for input shape {input.shape}"
        )
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"nll_loss: labels must be in [0, {classes}), got values {labels.min()}..{labels.max()}"
        )
    return _reduce(-input[np.arange(n), labels], reduction)


# Activations and other ops in PyTorch's functional spelling (`F.relu(x)`): each is the Tensor method.
def relu(input: Tensor) -> Tensor:
    return as_tensor(input).relu()


def sigmoid(input: Tensor) -> Tensor:
    return as_tensor(input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    return as_tensor(input).tanh()


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    return as_tensor(input).softmax(axis=dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    return as_tensor(input).log_softmax(axis=dim)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return as_tensor(input).leaky_relu(negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return as_tensor(input).gelu(approximate=approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return as_tensor(input).softplus(beta, threshold)


def logsigmoid(input: Tensor) -> Tensor:
    return as_tensor(input).log_sigmoid()


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return as_tensor(input).linear(weight, bias)


def pad(input: Tensor, pad: Any, value: float = 0.0) -> Tensor:
    """PyTorch's F.pad: `pad` is (left, right, top, bottom, ...) from the last axis backwards."""
    return as_tensor(input).pad(pad, value=value)


# ---------------------------------------------------------------------- convolutional networks
def conv2d(
    input: Any,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
) -> Tensor:
    """PyTorch's `F.conv2d` on NCHW images with (out_channels, in_channels, kh, kw) weights: one
    engine `conv2d` node (see `tinygrad_mnist.autograd.conv`)."""
    return as_tensor(input, weight.dtype, where="conv2d").conv2d(weight, bias, stride, padding, dilation)


def max_pool2d(
    input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1
) -> Tensor:
    """The maximum of each window (stride defaults to the kernel size, as in PyTorch)."""
    return as_tensor(input, where="max_pool2d").max_pool2d(kernel_size, stride, padding, dilation)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """The mean of each window; zero padding counts in the mean (PyTorch's count_include_pad=True)."""
    return as_tensor(input, where="avg_pool2d").avg_pool2d(kernel_size, stride, padding)


def dropout(
    input: Any, p: float = 0.5, training: bool = True, generator: np.random.Generator | None = None
) -> Tensor:
    """Inverted dropout: in training, zero each element with probability `p` and scale the survivors
    by 1/(1-p), so the expected activation is unchanged and evaluation needs no rescaling; outside
    training it is the identity. It is one `mul` by a constant mask (its gradient: the same mask).
    The mask is drawn from `generator`, or the default one that `nn.manual_seed` reseeds."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    x = as_tensor(input, where="dropout")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: input must be floating point, got {x.dtype}")
    if p == 1:
        return x * 0.0
    rng = generator if generator is not None else init.default_generator()
    keep = rng.random(x.shape) >= p
    return x * np.multiply(keep, 1.0 / (1.0 - p), dtype=x.dtype)


def batch_norm(
    input: Any,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """PyTorch's `F.batch_norm` over the channel axis 1 of (N, C) or (N, C, ...) inputs.

    In training the batch's own mean and (biased) variance normalise it, in one fused engine op, and
    the running statistics are updated in place with PyTorch's convention:
    `running = (1 - momentum) * running + momentum * batch`, the variance unbiased (n / (n - 1)).
    Outside training the running statistics are used instead: then it is an affine map per channel.
    """
    x = as_tensor(input, where="batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, ...), got shape {x.shape}")
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training or running_mean is None or running_var is None:
        out = x.batch_norm(weight, bias, eps) if weight is not None else x.batch_norm(eps=eps)
        if training and running_mean is not None and running_var is not None:
            stats, n = out.grad_fn, x.size // x.shape[1]
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * stats.mean.astype(running_mean.dtype, copy=False)
            running_var.data *= 1 - momentum
            running_var.data += (momentum * n / max(n - 1, 1)) * stats.var.astype(
                running_var.dtype, copy=False
            )
        return out
    for what, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat.shape != (x.shape[1],):
            raise ValueError(f"batch_norm: {what} has shape {stat.shape}, expected ({x.shape[1]},)")
    inv_std = (running_var.data.astype(x.dtype) + x.dtype.type(eps)) ** -0.5
    scale = inv_std if weight is None else weight * inv_std
    shift = -running_mean.data.astype(x.dtype) * scale
    if bias is not None:
        shift = shift + bias
    scale, shift = scale.reshape(shape), shift.reshape(shape)
    return x * scale + shift
