"""Fused ops: one graph node for what several primitives compute, where training spends its time.

Each is faster than its composition (fewer Python steps, no intermediate arrays, a simpler gradient:
softmax + cross-entropy's is just `softmax - onehot`) and each carries its `reference`, the same math
written with primitives. The tests compare the two in value and gradient; `backward(create_graph=True)`
differentiates the reference, since these backwards are written for numpy arrays only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_mnist.autograd import fast
from tinygrad_mnist.autograd.composed import logsumexp
from tinygrad_mnist.autograd.function import Function
from tinygrad_mnist.autograd.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) along `axis`, shifted so the largest logit is 0: exp can't overflow, and logits
    of +-1000 give finite values and gradients (softmax, log_softmax and cross_entropy all use it)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _reduce(per_element: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_element.mean()
    return per_element.sum() if reduction == "sum" else per_element


class Linear(Function):
    """`x @ weight.T + bias`, with `weight` shaped (out_features, in_features) as in PyTorch.

    What `nn.Linear` computes: one node instead of transpose, matmul and add; the bias is added in
    place; and the weight's gradient `g.T @ x` comes out in the weight's own layout. Inputs may have
    any leading (batch) axes, or be a single vector. VJP: dX = g·W, dW = gᵀ·x, db = Σ g over the batch.
    """

    formula, arg_names = "x·Wᵀ + b", ("x", "W", "b")
    __slots__ = ("has_bias",)  # fields in slots, not a per-node dict: this op runs every layer, every step

    def forward(self, x, w, b=None):
        if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} does not fit weight of shape {w.shape} "
                "(weight is (out_features, in_features); the input's last size must be in_features)"
            )
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(
                f"linear: bias has shape {b.shape}, expected ({w.shape[0]},) for weight {w.shape}"
            )
        out, self.has_bias = fast.matmul_2d(x, w.T) if x.ndim == 2 else x @ w.T, b is not None
        if b is not None:
            if out.dtype == b.dtype:
                out += b  # `out` is fresh: no second array
            else:
                out = out + b
        return out

    def backward(self, g, out, x, w, b=None):
        needs = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])  # rows = samples, whatever the batch axes
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        gx = g @ w if needs[0] else None
        gw = fast.matmul_2d(g2.T, x2) if needs[1] else None
        gb = fast.sum_rows(g2) if b is not None and needs[2] else None
        return gx, gw, gb

    def describe(self) -> str:
        return "x·Wᵀ + b" if getattr(self, "has_bias", True) else "x·Wᵀ"

    def reference(self, x, w, b=None):
        out = x @ w.T
        return out if b is None else out + b


class Softmax(Function):
    formula = "eˣ / Σ eˣ"

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        return np.exp(_log_softmax(x, self.axis))

    def backward(self, g, out, x):
        return (out * (g - (g * out).sum(axis=self.axis, keepdims=True)),)

    def reference(self, x):
        e = (x - x.max(axis=self.axis, keepdims=True).detach()).exp()
        return e / e.sum(axis=self.axis, keepdims=True)


class LogSoftmax(Function):
    formula = "x − log Σ eˣ"

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        return _log_softmax(x, self.axis)

    def backward(self, g, out, x):
        return (g - np.exp(out) * g.sum(axis=self.axis, keepdims=True),)

    def reference(self, x):
        return x - logsumexp(x, axis=self.axis, keepdims=True)


class CrossEntropy(Function):
    """Softmax + negative log-likelihood: logits (N, C), target class indices (N,) or probabilities (N, C).

    Fused because the combined gradient is simply `softmax - onehot` (divided by N for "mean"), which
    is both faster and stabler than back-propagating through softmax and log separately.
    """

    formula, arg_names = "−Σ y · log softmax(z)", ("z", "y")
    __slots__ = ("reduction", "labels", "rows", "probs", "log_probs", "scale")  # as Linear's

    def __init__(self, reduction: str = "mean"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits, t):
        if logits.ndim != 2:
            raise ValueError(f"cross_entropy: logits must be 2-D (batch, classes), got shape {logits.shape}")
        n, classes = logits.shape
        if n == 0:
            raise ValueError(f"cross_entropy: empty batch, logits of shape {logits.shape}")
        if t.dtype.kind == "f" and t.shape == (n,):
            raise TypeError(
                f"cross_entropy: class indices must be integers, got {t.dtype} labels of shape {t.shape} "
                "(convert with labels.astype(np.int64))"
            )
        self.labels = self.probs = None
        if t.dtype.kind in "iub":
            if t.shape != (n,):
                raise ValueError(
                    f"cross_entropy: target shape {t.shape} must be ({n},) for logits {logits.shape}"
                )
            if np.minimum.reduce(t) < 0 or np.maximum.reduce(t) >= classes:  # t.min(): a Python call more
                raise ValueError(
                    f"cross_entropy: class indices must be in [0, {classes}), got {t.min()}..{t.max()}"
                )
            self.labels, self.rows = t.astype(np.intp, copy=False), np.arange(n)  # no one-hot matrix is built
        elif t.shape == logits.shape:
            self.probs = t.astype(logits.dtype, copy=False)
        else:
            raise ValueError(
                f"cross_entropy: target shape {t.shape} matches neither ({n},) nor {logits.shape}"
            )
        self.log_probs = _log_softmax(logits, 1)
        if self.labels is not None:
            per_row = -self.log_probs[self.rows, self.labels]
        else:
            per_row = -(self.probs * self.log_probs).sum(axis=1)
        self.scale = 1.0 / n if self.reduction == "mean" else 1.0
        out = per_row if self.reduction == "none" else per_row.sum() * logits.dtype.type(self.scale)
        return np.asarray(out, dtype=logits.dtype)

    def backward(self, g, out, logits, t):
        g_rows = g[:, None] if self.reduction == "none" else g * self.scale
        grad = np.exp(self.log_probs)  # softmax, a fresh array: safe to update in place
        if self.labels is not None:
            grad[self.rows, self.labels] -= 1  # softmax - onehot
        else:
            grad *= self.probs.sum(axis=1, keepdims=True)
            grad -= self.probs
        grad *= g_rows
        return grad, None

    def reference(self, logits, t):
        log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
        if t.dtype.kind in "iub":
            per_row = -log_probs[np.arange(len(t.data)), t.data.astype(np.intp)]
        else:
            per_row = -(t * log_probs).sum(axis=1)
        return _reduce(per_row, self.reduction)


class MseLoss(Function):
    """Squared error `(x - target) ** 2`, averaged over every element ("mean"), summed ("sum") or per
    element ("none"), as one op; `target` must have the input's shape.

    Fused because per-sample training spends much of its time on the loss's tiny ops: one node instead
    of sub, pow and sum, and the gradient is simply `2 * d * g` with `d = x - target` (over the element
    count for "mean"), and its negative for a target that requires grad.
    """

    formula, arg_names = "Σ (x − y)²", ("x", "y")
    __slots__ = ("reduction", "d", "scale")  # as Linear's: the loss of every per-sample step

    def __init__(self, reduction: str = "mean"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, x, t):
        if x.shape != t.shape:
            raise ValueError(f"mse_loss: input shape {x.shape} and target shape {t.shape} must be equal")
        if x.size == 0:
            raise ValueError(f"mse_loss: empty input of shape {x.shape}")
        self.d = d = x - t
        squared = d * d
        if self.reduction == "none":
            self.scale = 2.0
            return squared
        if self.reduction == "sum":
            self.scale = 2.0
            return np.asarray(squared.sum())
        self.scale = 2.0 / d.size
        return np.asarray(squared.mean())

    def backward(self, g, out, x, t):
        gd = self.d * (g * self.scale)  # a fresh array: the input's gradient, negated for the target's
        dx, dt = self.needs_input_grad
        return (gd if dx else None), (-gd if dt else None)

    def reference(self, x, t):
        d = x - t
        return _reduce(d * d, self.reduction)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """The fused op on a Tensor of logits; integer labels stay integers (they are not cast to floats)."""
    if isinstance(target, Tensor) and target.requires_grad:
        raise ValueError("cross_entropy: no gradient flows into the target; pass target.detach()")
    target = target if isinstance(target, Tensor) else Tensor._constant(np.asarray(target))
    if isinstance(logits, Tensor):  # what nn.CrossEntropyLoss and F.cross_entropy hand in: record it directly
        return CrossEntropy(reduction)._record((logits, target), (logits.data, target.data))
    return CrossEntropy.apply(logits, target, reduction=reduction)


def linear(x: Tensor, weight: Any, bias: Any = None) -> Tensor:
    """`x @ weight.T + bias` as one node (what `nn.Linear` calls, so its tensors go straight in)."""
    if isinstance(weight, Tensor) and (bias is None or isinstance(bias, Tensor)):
        if bias is None:
            return Linear()._record((x, weight), (x.data, weight.data))
        return Linear()._record((x, weight, bias), (x.data, weight.data, bias.data))
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)


def mse_loss(x: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    t = target if isinstance(target, Tensor) else x._lift(target)
    return MseLoss(reduction)._record((x, t), (x.data, t.data))
