"""Functional forms of the losses (the loss modules call these), `one_hot`, and input conversion.

Every loss checks shapes up front and names both: numpy would happily broadcast an (N, 10) output
against (N,) labels into an (N, N) "loss" that trains nothing, so here that is an error instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def as_tensor(x: Any, dtype: Any = None, *, where: str = "input") -> Tensor:
    """`x` as a Tensor of `dtype` (if given). Data is converted; a Tensor that requires grad must
    already have that dtype, since converting it would cut it off from its graph."""
    if isinstance(x, Tensor):
        if dtype is None or x.dtype == dtype:
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
    hits = labels[..., None] == np.arange(num_classes)
    if hits.sum() != labels.size:  # a label outside [0, num_classes) hits no column
        raise ValueError(
            f"one_hot: labels must be in [0, {num_classes}), got values {labels.min()}..{labels.max()}"
        )
    return Tensor(hits.astype(dtype), dtype=dtype)


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
