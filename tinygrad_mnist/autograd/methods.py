"""What a Tensor can do: every op attached under its PyTorch (and numpy) name, in one table.

The ops live in `ops.py` (primitives), `composed.py` and `fused.py`; this file only says which method
calls which, so `x.sum(axis=1)`, `x @ w`, `x.relu()` and `2 ** x` read as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_mnist.autograd import composed, conv, fused, ops
from tinygrad_mnist.autograd.function import Function
from tinygrad_mnist.autograd.tensor import Tensor


def _unary(op: type[Function]) -> Callable[..., Tensor]:
    """`x.op(**params)`: the op applied to this tensor, without `apply`'s general argument handling."""

    if op.__init__ is Function.__init__:  # no parameters: the cheapest call (this is every step's path)

        def method(x: Tensor) -> Tensor:
            return op()._record((x,), (x.data,))

    else:

        def method(x: Tensor, *args: Any, **params: Any) -> Tensor:
            return (op(*args, **params) if args or params else op())._record((x,), (x.data,))

    method.__name__, method.__doc__ = op.name, op.__doc__
    return method


def _binary(op: type[Function], reflected: bool = False) -> Callable[[Tensor, Any], Tensor]:
    """`a op b` (or `b op a` for the reflected `__radd__`-style methods): a number or array joins as a
    constant of the tensor's dtype."""

    def method(a: Tensor, b: Any) -> Tensor:
        if type(b) is not Tensor:
            b = a._lift(b)
        if reflected:
            a, b = b, a
        return op()._record((a, b), (a.data, b.data))

    method.__name__, method.__doc__ = op.name, op.__doc__
    return method


def _reduction(op: type[Function]) -> Callable[..., Tensor]:
    def method(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        return op(axis, keepdims)._record((x,), (x.data,))

    method.__name__, method.__doc__ = op.name, op.__doc__
    return method


def _index(index: Any) -> Any:
    """Tensors inside an index are used by value."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _reshape(x: Tensor, *shape: Any) -> Tensor:
    return ops.Reshape(ops.as_shape(shape))._record((x,), (x.data,))


def _transpose(x: Tensor, *axes: Any) -> Tensor:
    """No axes: reverse them (`.T`). A full permutation: numpy's transpose. Two axes of a tensor with
    more than two dimensions: PyTorch's transpose(dim0, dim1), which swaps them."""
    order = ops.as_shape(axes) if axes else ()
    if len(order) == 2 and x.ndim > 2:
        return composed.swapaxes(x, *order)
    return ops.Transpose(order or None)._record((x,), (x.data,))


_METHODS = {
    # arithmetic: a + b, a - b, a * b, a / b, a ** b, -a, a @ b (and the reflected forms 2 * a, 2 ** a)
    "__add__": _binary(ops.Add),
    "__radd__": _binary(ops.Add, reflected=True),
    "__sub__": _binary(ops.Sub),
    "__rsub__": _binary(ops.Sub, reflected=True),
    "__mul__": _binary(ops.Mul),
    "__rmul__": _binary(ops.Mul, reflected=True),
    "__truediv__": _binary(ops.Div),
    "__rtruediv__": _binary(ops.Div, reflected=True),
    "__pow__": _binary(ops.Pow),
    "__rpow__": _binary(ops.Pow, reflected=True),
    "__neg__": _unary(ops.Neg),
    "__matmul__": _binary(ops.MatMul),
    "__rmatmul__": _binary(ops.MatMul, reflected=True),
    "__getitem__": lambda x, index: ops.Getitem(_index(index))._record((x,), (x.data,)),
    # elementwise
    "exp": _unary(ops.Exp),
    "log": _unary(ops.Log),
    "log1p": _unary(ops.Log1p),
    "sqrt": _unary(ops.Sqrt),
    "sin": _unary(ops.Sin),
    "cos": _unary(ops.Cos),
    "tanh": _unary(ops.Tanh),
    "sigmoid": _unary(ops.Sigmoid),
    "relu": _unary(ops.Relu),
    "abs": _unary(ops.Abs),
    "__abs__": _unary(ops.Abs),
    "sign": _unary(ops.Sign),
    "erf": composed.erf,
    "clip": composed.clip,
    "clamp": composed.clip,
    "maximum": composed.maximum,
    "minimum": composed.minimum,
    "square": composed.square,
    "pow": _binary(ops.Pow),
    "softplus": composed.softplus,
    "log_sigmoid": composed.log_sigmoid,
    "leaky_relu": composed.leaky_relu,
    "gelu": composed.gelu,
    "masked_fill": composed.masked_fill,
    "where": lambda x, condition, other: composed.where(condition, x, other),  # PyTorch's x.where(cond, y)
    # dtypes
    "astype": lambda x, dtype: ops.Cast.apply(x, dtype=dtype),
    "to": lambda x, dtype: x if x.dtype == np.dtype(dtype) else ops.Cast.apply(x, dtype=dtype),
    "float": lambda x: x.to(np.float32),
    "double": lambda x: x.to(np.float64),
    "long": lambda x: x.to(np.int64),
    "int": lambda x: x.to(np.int32),
    "bool": lambda x: x.to(np.bool_),
    # reductions
    "sum": _reduction(ops.Sum),
    "mean": _reduction(ops.Mean),
    "max": _reduction(ops.Max),
    "prod": _reduction(ops.Prod),
    "min": composed.min,
    "var": composed.var,
    "std": composed.std,
    "logsumexp": composed.logsumexp,
    # movement
    "reshape": _reshape,
    "view": _reshape,
    "transpose": _transpose,
    "permute": composed.permute,
    "swapaxes": composed.swapaxes,
    "expand": composed.expand,
    "broadcast_to": lambda x, shape: ops.BroadcastTo.apply(x, shape=ops.as_shape((shape,))),
    "squeeze": composed.squeeze,
    "unsqueeze": composed.unsqueeze,
    "flatten": composed.flatten,
    "pad": composed.pad,
    "take_along_axis": composed.take_along_axis,
    "gather": composed.gather,
    # fused (one node each, with a reference composition)
    "linear": fused.linear,
    "softmax": _unary(fused.Softmax),
    "log_softmax": _unary(fused.LogSoftmax),
    "cross_entropy": fused.cross_entropy,
    "mse_loss": fused.mse_loss,
    # convolutional networks (conv.py: fused, each with a reference composition)
    "conv2d": conv.conv2d,
    "max_pool2d": conv.max_pool2d,
    "avg_pool2d": conv.avg_pool2d,
    "batch_norm": conv.batch_norm,
}

for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)
Tensor.T = property(
    lambda x: ops.Transpose()._record((x,), (x.data,)), doc="All axes reversed (the transpose of a matrix)."
)
