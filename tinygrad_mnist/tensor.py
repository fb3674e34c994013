"""The autograd engine: a `Tensor` that remembers the op that made it, and reverse-mode backprop over that graph.

Every op below has the same shape: compute the forward value with numpy, then define `backward(g)`, the
vector-Jacobian product that turns the gradient of the output `g` into one gradient per input (or `None`
for inputs that need none, so no work is wasted on data). Read one op and you have read them all.

Rules the ops keep, so the engine stays correct and cheap:
- a backward never modifies `g` in place (the same array may flow to several inputs);
- gradients are summed back to each input's own shape (`_unbroadcast`), so broadcasting just works;
- float data is float32 unless asked otherwise; Python scalars and numpy arrays adopt the tensor's dtype.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

BackwardFn = Callable[[np.ndarray], Sequence["np.ndarray | None"]]


_creation_counter = itertools.count()
_creation_number = operator.attrgetter("_id")


class _GradMode:
    """Global switch read by every op: under `no_grad()` nothing is recorded."""

    enabled = True


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) that records no graph: inference costs only the numpy math.

    The states it replaced are kept on a stack: a decorated function that calls itself (one instance,
    entered several times) still restores the mode it found.
    """

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> no_grad:
        self._previous.append(_GradMode.enabled)
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self._previous.pop()


def is_grad_enabled() -> bool:
    return _GradMode.enabled


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """numpy array for `data`: float becomes float32 unless `dtype` says otherwise; ints and bools stay."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        return array.astype(np.float32)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor data must be numeric, got dtype {array.dtype}")
    return array


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`: the VJP of numpy broadcasting (an input used many times gets the sum)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _broadcasting(op: str, ufunc: np.ufunc, a: Tensor, b: Tensor) -> np.ndarray:
    """Apply a binary ufunc, turning numpy's broadcast error into one that names the op and both shapes."""
    try:
        return ufunc(a.data, b.data)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.data.shape} and {b.data.shape} cannot be broadcast together"
        ) from None


def _swap(x: np.ndarray) -> np.ndarray:
    return x.swapaxes(-1, -2)


def _matmul_2d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`x @ y` for matrices. A sum over one term (a batch of one sample) is an outer product, which
    numpy's broadcasting does several times faster than its matmul."""
    return x * y if x.shape[1] == 1 else x @ y


def _sum_rows(x: np.ndarray) -> np.ndarray:
    """`x.sum(axis=0)`. A single row (a batch of one sample) is its own sum: no reduction to call."""
    return x[0] if x.shape[0] == 1 else x.sum(axis=0)


def _matmul_like(x: np.ndarray, y: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`x @ y` (matrices) laid out in memory like `like`. The gradient of a transposed input such as
    `weight.T` is then itself transposed, and goes back through the transpose to the weight as a
    C-ordered array that needs no copy."""
    if like.flags.f_contiguous and not like.flags.c_contiguous:
        return _matmul_2d(y.T, x.T).T
    return _matmul_2d(x, y)


def _normalize_axis(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
    return tuple(int(a) % ndim for a in axes)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with the reduced `axes` kept as size 1 (what keepdims=True gives): the reduction's
    gradient reshaped to it broadcasts against the reduction's input."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(g: np.ndarray, kept_shape: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The VJP of a sum: each input element gets the gradient of the total it went into (a fresh array)."""
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g.reshape(kept_shape)
    return out


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) along `axis`, shifted so the largest logit is 0: exp can't overflow, and logits
    of +-1000 give finite values and gradients (softmax, log_softmax and cross_entropy all use it)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Tensor:
    """An n-dimensional array that records the op that produced it, so `backward()` can run the chain rule."""

    # _id: creation number (inputs are always older than outputs, which gives the backward order for free)
    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "op",
        "name",
        "_parents",
        "_backward",
        "_retain_grad",
        "_id",
        "__weakref__",
    )
    __array_ufunc__ = None  # `ndarray + Tensor` defers to Tensor.__radd__ instead of looping over elements

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.op: str | None = None  # name of the op that made this tensor; None for a leaf
        self._parents: tuple[Tensor, ...] = ()
        self._backward: BackwardFn | None = None
        self._retain_grad = False
        self.name = name
        self._id = next(_creation_counter)
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    # ------------------------------------------------------------------ graph bookkeeping
    @staticmethod
    def _make(data: np.ndarray, op: str, parents: tuple[Tensor, ...], backward: BackwardFn) -> Tensor:
        """Wrap an op's result; link it into the graph only if gradients are on and an input needs one."""
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out.op, out._retain_grad, out.name = data, None, op, False, None
        out.requires_grad, out._parents, out._backward, out._id = False, (), None, next(_creation_counter)
        if _GradMode.enabled:
            for p in parents:
                if p.requires_grad:
                    out.requires_grad, out._parents, out._backward = True, parents, backward
                    break
        return out

    @staticmethod
    def _constant(data: np.ndarray) -> Tensor:
        """A leaf that needs no gradient, built without __init__'s checks (the hot path of `x * 2`)."""
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out.op, out._retain_grad, out.name = data, None, None, False, None
        out.requires_grad, out._parents, out._backward, out._id = False, (), None, next(_creation_counter)
        return out

    def _lift(self, other: Any) -> Tensor:
        """A Python scalar or numpy array joins an op as a constant of this tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        if self.data.dtype.kind == "f":
            return Tensor._constant(np.asarray(other, dtype=self.data.dtype))
        return Tensor(other)

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The inputs of the op that made this tensor (empty for leaves and after the graph is released)."""
        return self._parents

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    # ------------------------------------------------------------------ elementwise binary ops
    def __add__(self, other: Any) -> Tensor:
        a, b = self, self._lift(other)

        def backward(g):
            ga = _unbroadcast(g, a.data.shape) if a.requires_grad else None
            gb = _unbroadcast(g, b.data.shape) if b.requires_grad else None
            return ga, gb

        return Tensor._make(_broadcasting("add", np.add, a, b), "add", (a, b), backward)

    def __sub__(self, other: Any) -> Tensor:
        a, b = self, self._lift(other)

        def backward(g):
            ga = _unbroadcast(g, a.data.shape) if a.requires_grad else None
            gb = _unbroadcast(-g, b.data.shape) if b.requires_grad else None
            return ga, gb

        return Tensor._make(_broadcasting("sub", np.subtract, a, b), "sub", (a, b), backward)

    def __mul__(self, other: Any) -> Tensor:
        a, b = self, self._lift(other)

        def backward(g):
            ga = _unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None
            gb = _unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None
            return ga, gb

        return Tensor._make(_broadcasting("mul", np.multiply, a, b), "mul", (a, b), backward)

    def __truediv__(self, other: Any) -> Tensor:
        a, b = self, self._lift(other)
        out = _broadcasting("div", np.divide, a, b)

        def backward(g):
            ga = _unbroadcast(g / b.data, a.data.shape) if a.requires_grad else None
            gb = _unbroadcast(-g * out / b.data, b.data.shape) if b.requires_grad else None
            return ga, gb

        return Tensor._make(out, "div", (a, b), backward)

    def __radd__(self, other: Any) -> Tensor:
        return self._lift(other) + self

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return self._lift(other) * self

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __neg__(self) -> Tensor:
        def backward(g):
            return (-g,)

        return Tensor._make(-self.data, "neg", (self,), backward)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError(
                "pow: the exponent must be a Python or numpy scalar (use exp/log for tensor powers)"
            )
        x, p = self.data, exponent.item() if isinstance(exponent, np.generic) else exponent

        def backward(g):
            return (g * p * x ** (p - 1) if p != 0 else np.zeros_like(g),)  # x**0 is flat, even at 0

        return Tensor._make(x**p, f"pow {p:g}", (self,), backward)

    # ------------------------------------------------------------------ matrix product
    def __matmul__(self, other: Any) -> Tensor:
        a, b = self, self._lift(other)
        if (
            a.data.ndim == 0
            or b.data.ndim == 0
            or a.data.shape[-1] != b.data.shape[-2 if b.data.ndim > 1 else 0]
        ):
            raise ValueError(
                f"matmul: shapes {a.data.shape} and {b.data.shape} are not aligned (inner sizes differ)"
            )

        def backward(g):
            if a.data.ndim == 2 and b.data.ndim == 2:  # the common case, without the general bookkeeping
                ga = _matmul_like(g, b.data.T, a.data) if a.requires_grad else None
                gb = _matmul_like(a.data.T, g, b.data) if b.requires_grad else None
                return ga, gb
            # 1-D operands are treated as a row (left) / column (right) matrix, as numpy does.
            a2 = a.data[None, :] if a.data.ndim == 1 else a.data
            b2 = b.data[:, None] if b.data.ndim == 1 else b.data
            g2 = g[..., None] if b.data.ndim == 1 else g
            g2 = g2[..., None, :] if a.data.ndim == 1 else g2
            ga = _unbroadcast(g2 @ _swap(b2), a2.shape).reshape(a.data.shape) if a.requires_grad else None
            gb = _unbroadcast(_swap(a2) @ g2, b2.shape).reshape(b.data.shape) if b.requires_grad else None
            return ga, gb

        return Tensor._make(a.data @ b.data, "matmul", (a, b), backward)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    def linear(self, weight: Any, bias: Any = None) -> Tensor:
        """`self @ weight.T + bias` as one op, with `weight` shaped (out_features, in_features) as in PyTorch.

        What `nn.Linear` computes, fused because it is where training spends its time: one node instead
        of transpose, matmul and add; the bias is added in place; and the weight's gradient `g.T @ x`
        comes out in the weight's own layout, where the unfused graph hands back a transposed view that
        must be copied. Inputs may have any leading (batch) axes, or be a single vector.
        """
        x, w = self, self._lift(weight)
        b = None if bias is None else self._lift(bias)
        if w.data.ndim != 2 or x.data.ndim == 0 or x.data.shape[-1] != w.data.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.data.shape} does not fit weight of shape {w.data.shape} "
                "(weight is (out_features, in_features); the input's last size must be in_features)"
            )
        if b is not None and b.data.shape != (w.data.shape[0],):
            raise ValueError(
                f"linear: bias has shape {b.data.shape}, expected ({w.data.shape[0]},) for weight {w.data.shape}"
            )
        out = x.data @ w.data.T
        if b is not None:
            if out.dtype == b.data.dtype:
                out += b.data  # `out` is fresh: no second array
            else:
                out = out + b.data

        def backward(g):
            g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])  # rows = samples, whatever the batch axes
            x2 = x.data if x.data.ndim == 2 else x.data.reshape(-1, x.data.shape[-1])
            gx = g @ w.data if x.requires_grad else None
            gw = _matmul_2d(g2.T, x2) if w.requires_grad else None
            gb = _sum_rows(g2) if b is not None and b.requires_grad else None
            return gx, gw, gb

        parents = (x, w) if b is None else (x, w, b)
        return Tensor._make(out, "linear", parents, backward)

    # ------------------------------------------------------------------ elementwise unary ops
    def exp(self) -> Tensor:
        out = np.exp(self.data)

        def backward(g):
            return (g * out,)

        return Tensor._make(out, "exp", (self,), backward)

    def log(self) -> Tensor:
        x = self.data

        def backward(g):
            return (g / x,)

        return Tensor._make(np.log(x), "log", (self,), backward)

    def sigmoid(self) -> Tensor:
        # Below x = -88 (float32; -709 in float64) exp(-x) overflows to inf and the result is 0, where
        # the true value is under 1e-38: the overflow is harmless, so its warning is silenced.
        with np.errstate(over="ignore"):
            out = 1.0 / (1.0 + np.exp(-self.data))

        def backward(g):
            return (g * out * (1.0 - out),)

        return Tensor._make(out, "sigmoid", (self,), backward)

    def relu(self) -> Tensor:
        out = np.maximum(self.data, 0)

        def backward(g):
            return (g * (out > 0),)  # gradient 0 at the kink x == 0, as PyTorch does

        return Tensor._make(out, "relu", (self,), backward)

    def tanh(self) -> Tensor:
        out = np.tanh(self.data)

        def backward(g):
            return (g * (1.0 - out * out),)

        return Tensor._make(out, "tanh", (self,), backward)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        shape, axes = self.data.shape, _normalize_axis(axis, self.data.ndim)
        kept = _kept_shape(shape, axes)

        def backward(g):
            return (_spread(g, kept, shape),)

        return Tensor._make(self.data.sum(axis=axes, keepdims=keepdims), "sum", (self,), backward)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        shape, axes = self.data.shape, _normalize_axis(axis, self.data.ndim)
        kept, count = _kept_shape(shape, axes), math.prod(shape[a] for a in axes)

        def backward(g):
            return (_spread(g / count, kept, shape),)

        return Tensor._make(self.data.mean(axis=axes, keepdims=keepdims), "mean", (self,), backward)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum along `axis`. Ties split the gradient evenly among the tied elements (like tinygrad)."""
        x, axes = self.data, _normalize_axis(axis, self.data.ndim)
        top = x.max(axis=axes, keepdims=True)

        def backward(g):
            winners = x == top
            share = winners / winners.sum(axis=axes, keepdims=True, dtype=x.dtype)  # keeps float32
            return (share * g.reshape(top.shape),)

        return Tensor._make(top if keepdims else top.squeeze(axes), "max", (self,), backward)

    # ------------------------------------------------------------------ shape ops
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        new_shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        old_shape = self.data.shape
        try:
            out = self.data.reshape(new_shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {old_shape} into {new_shape}"
            ) from None

        def backward(g):
            return (g.reshape(old_shape),)

        return Tensor._make(out, "reshape", (self,), backward)

    def transpose(self, *axes: int) -> Tensor:
        """Permute axes (all reversed when none are given), like numpy's `transpose`."""
        order = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int) else axes
        out = self.data.transpose(order or None)  # numpy checks the axes; None reverses them all
        inverse = None  # `.T`: a reversal is its own inverse
        if order:
            position = [axis % self.data.ndim for axis in order]  # negative axes counted from the end
            inverse = tuple(sorted(range(len(order)), key=position.__getitem__))

        def backward(g):
            return (g.transpose(inverse),)

        return Tensor._make(out, "transpose", (self,), backward)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, index: Any) -> Tensor:
        """Slicing and integer-array indexing, e.g. `logp[np.arange(n), labels]` picks one class per row."""
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        shape, dtype = self.data.shape, self.data.dtype
        fancy = any(
            isinstance(i, list | np.ndarray) for i in (index if isinstance(index, tuple) else (index,))
        )

        def backward(g):
            grad = np.zeros(shape, dtype=dtype)
            if fancy:
                np.add.at(grad, index, g)  # repeated indices must add up, not overwrite
            else:
                grad[index] = g
            return (grad,)

        return Tensor._make(self.data[index], "getitem", (self,), backward)

    # ------------------------------------------------------------------ numerically stable fused ops
    def softmax(self, axis: int = -1) -> Tensor:
        out = np.exp(_log_softmax(self.data, axis))

        def backward(g):
            return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

        return Tensor._make(out, "softmax", (self,), backward)

    def log_softmax(self, axis: int = -1) -> Tensor:
        out = _log_softmax(self.data, axis)

        def backward(g):
            return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

        return Tensor._make(out, "log_softmax", (self,), backward)

    def cross_entropy(self, target: Any, reduction: str = "mean") -> Tensor:
        """Softmax + negative log-likelihood fused: logits (N, C), target class indices (N,) or probabilities (N, C).

        Fused because the combined gradient is simply `softmax - onehot` (divided by N for "mean"),
        which is both faster and stabler than back-propagating through softmax and log separately.
        """
        logits = self.data
        t = target.data if isinstance(target, Tensor) else np.asarray(target)
        if logits.ndim != 2:
            raise ValueError(f"cross_entropy: logits must be 2-D (batch, classes), got shape {logits.shape}")
        n, classes = logits.shape
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if n == 0:
            raise ValueError(f"cross_entropy: empty batch, logits of shape {logits.shape}")
        if isinstance(target, Tensor) and target.requires_grad:
            raise ValueError("cross_entropy: no gradient flows into the target; pass target.detach()")
        if t.dtype.kind == "f" and t.shape == (n,):
            raise TypeError(
                f"cross_entropy: class indices must be integers, got {t.dtype} labels of shape {t.shape} "
                "(convert with labels.astype(np.int64))"
            )
        if t.dtype.kind in "iub":
            if t.shape != (n,):
                raise ValueError(
                    f"cross_entropy: target shape {t.shape} must be ({n},) for logits {logits.shape}"
                )
            if t.min() < 0 or t.max() >= classes:
                raise ValueError(
                    f"cross_entropy: class indices must be in [0, {classes}), got {t.min()}..{t.max()}"
                )
            labels, rows = t.astype(np.intp, copy=False), np.arange(n)  # no one-hot matrix is built
        elif t.shape == logits.shape:
            labels, probs_target = None, t.astype(logits.dtype, copy=False)
        else:
            raise ValueError(
                f"cross_entropy: target shape {t.shape} matches neither ({n},) nor {logits.shape}"
            )
        log_probs = _log_softmax(logits, 1)
        if labels is not None:
            per_row = -log_probs[rows, labels]
        else:
            per_row = -(probs_target * log_probs).sum(axis=1)
        scale = 1.0 / n if reduction == "mean" else 1.0
        out = per_row if reduction == "none" else per_row.sum() * logits.dtype.type(scale)

        def backward(g):
            g_rows = g[:, None] if reduction == "none" else g * scale
            grad = np.exp(log_probs)  # softmax, a fresh array: safe to update in place
            if labels is not None:
                grad[rows, labels] -= 1  # softmax - onehot
            else:
                grad *= probs_target.sum(axis=1, keepdims=True)
                grad -= probs_target
            grad *= g_rows
            return (grad,)

        return Tensor._make(np.asarray(out, dtype=logits.dtype), "cross_entropy", (self,), backward)

    def mse_loss(self, target: Any, reduction: str = "mean") -> Tensor:
        """Squared error `(self - target) ** 2`, averaged over every element ("mean"), summed ("sum") or
        per element ("none"), as one op; `target` must have this tensor's shape.

        Fused because per-sample training spends much of its time on the loss's tiny ops: one node
        instead of sub, pow and sum, and the gradient is simply `2 * d * g` with `d = self - target`
        (divided by the element count for "mean"), and its negative for a target that requires grad.
        """
        x, t = self, self._lift(target)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if x.data.shape != t.data.shape:
            raise ValueError(
                f"mse_loss: input shape {x.data.shape} and target shape {t.data.shape} must be equal"
            )
        if x.data.size == 0:
            raise ValueError(f"mse_loss: empty input of shape {x.data.shape}")
        d = x.data - t.data
        squared = d * d
        if reduction == "none":
            out, scale = squared, 2.0
        elif reduction == "sum":
            out, scale = np.asarray(squared.sum()), 2.0
        else:
            out, scale = np.asarray(squared.mean()), 2.0 / max(d.size, 1)

        def backward(g):
            gd = d * (g * scale)  # a fresh array: the input's gradient, negated for the target's
            return (gd if x.requires_grad else None), (-gd if t.requires_grad else None)

        return Tensor._make(out, "mse_loss", (x, t), backward)

    # ------------------------------------------------------------------ backward pass
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Fill `.grad` of every leaf that requires grad with d(self)/d(leaf), added to any earlier `.grad`.

        The graph's saved intermediates are released afterwards (a training loop can't leak through them)
        unless `retain_graph=True`, which allows calling backward through the same graph again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad, so there is nothing to differentiate. "
                "Create the inputs you want gradients for with requires_grad=True, and don't compute "
                "the output under no_grad()."
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): output of shape {self.data.shape} is not a scalar; reduce it first "
                    "(e.g. .sum() or .mean()) or pass gradient= with the same shape"
                )
            seed = np.array(1, dtype=self.data.dtype).reshape(self.data.shape)  # np.ones costs 4x more
        else:
            seed = np.array(
                gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.data.dtype
            )
            if seed.shape != self.data.shape:
                raise ValueError(
                    f"backward(): gradient shape {seed.shape} must equal output shape {self.data.shape}"
                )

        # Newest node first: every consumer of a node was created after it, so by the time a node comes
        # off the heap all the gradient flowing into it has been summed (PyTorch orders its engine the same
        # way). Only nodes that receive a gradient are visited: no separate topological sort.
        grads: dict[Tensor, np.ndarray] = {self: seed}
        heap = [(-self._id, self)]
        handed_out: set[int] = set()  # memory already stored in some .grad: never share it between tensors
        while heap:
            node = heappop(heap)[1]
            g = grads.pop(node)
            vjp = node._backward
            if vjp is None:  # a leaf, or a node whose graph an earlier backward() released
                if node.op is not None:
                    raise RuntimeError(
                        f"backward(): the graph through '{node.op}' was already released by an earlier "
                        "backward(). Pass retain_graph=True to the first backward() to back-propagate "
                        "through it twice."
                    )
                node._accumulate_grad(g, handed_out)
                continue
            if node._retain_grad:
                node._accumulate_grad(g, handed_out)
            for parent, parent_grad in zip(node._parents, vjp(g)):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if parent_grad.shape != parent.data.shape:
                    raise RuntimeError(
                        f"backward of '{node.op}' returned a gradient of shape {parent_grad.shape} "
                        f"for an input of shape {parent.data.shape}: that op's VJP is wrong"
                    )
                if parent in grads:  # reached along a second path: add (never in place)
                    grads[parent] = grads[parent] + parent_grad
                else:
                    grads[parent] = parent_grad
                    heappush(heap, (-parent._id, parent))
            if not retain_graph:
                node._backward, node._parents = None, ()

    def _accumulate_grad(self, g: np.ndarray, handed_out: set[int]) -> None:
        if self.grad is not None:  # never in place: the old array may be referenced elsewhere
            self.grad = np.add(self.grad, g, dtype=self.grad.dtype)  # a float64 path can't up-cast it
            return
        # Every gradient is a fresh array made during this backward, or a view of one (reshape, transpose):
        # it may be stored as is unless its memory already went to another tensor's .grad.
        memory = g if g.base is None else g.base
        if g.dtype != self.data.dtype:
            g = memory = g.astype(self.data.dtype)  # e.g. a float64 constant met a float32 parameter
        elif not g.flags.writeable or id(memory) in handed_out:
            g = memory = g.copy()
        handed_out.add(id(memory))
        self.grad = g

    # ------------------------------------------------------------------ conveniences
    def zero_grad(self) -> None:
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, this one is {self.data.dtype}"
            )
        if self.op is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) only works on leaves; use .detach() on a computed tensor"
            )
        if requires_grad and self.op is not None and not self.requires_grad:
            self.op = None  # computed from constants (e.g. `Tensor(w) * 0.01`): it becomes a leaf to train
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's gradient in `.grad` after backward (leaves always keep theirs)."""
        self._retain_grad = True
        return self

    def detach(self) -> Tensor:
        """The same data, cut off from the graph: no gradient flows back through it."""
        return Tensor(self.data, dtype=self.data.dtype)

    def item(self) -> float | int:
        if self.data.size != 1:
            raise ValueError(
                f"item(): only a one-element tensor converts to a Python number, shape {self.shape}"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def argmax(self, axis: int | None = None) -> Tensor:
        return Tensor(self.data.argmax(axis=axis))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2, prefix="Tensor(")
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.requires_grad:
            extras.append("requires_grad=True")
        if self.op is not None:
            extras.append(f"op={self.op}")
        return f"Tensor({body}, {', '.join(extras)})"

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def zeros(*shape: int, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
        return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad, dtype=dtype)

    @staticmethod
    def ones(*shape: int, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
        return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad, dtype=dtype)


def topological_order(roots: Iterable[Tensor] | Tensor, needs_grad_only: bool = False) -> list[Tensor]:
    """Every tensor that produced `roots`, inputs before outputs (for drawing and inspecting a graph).

    A tensor is always created after its inputs, so sorting the reachable tensors by creation number is
    a topological order: no recursion (a chain of 100,000 ops is fine) and no per-node Python bookkeeping
    beyond one set. `needs_grad_only` skips constants and data that no gradient flows to.
    """
    stack = [roots] if isinstance(roots, Tensor) else list(roots)
    seen = set(stack)
    while stack:
        for parent in stack.pop()._parents:
            if parent not in seen and (parent.requires_grad or not needs_grad_only):
                seen.add(parent)
                stack.append(parent)
    return sorted(seen, key=_creation_number)
