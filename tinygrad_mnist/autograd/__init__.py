"""The autograd engine, at the bottom of the house: numpy only, nothing else of the project.

- `tensor.py`: `Tensor`, the graph bookkeeping and the backward pass (`backward`, `grad`);
- `function.py`: `Function`, the base class of every op (yours too), and the op `registry`;
- `ops.py`: the primitives, each one's forward and VJP side by side;
- `composed.py`: ops written with primitives (var, softplus, stack, ...);
- `fused.py`: one-node ops for speed (linear, softmax, cross_entropy, mse_loss), each with a `reference`;
- `conv.py`: conv2d, max/avg pooling and batch norm (NCHW), fused, each with a `reference`;
- `methods.py`: the table that attaches all of them to Tensor under their PyTorch names;
- `functional.py`: Hessian-vector products and Hessians, built on `grad`;
- `grad_mode.py`: `no_grad`, `enable_grad`, `set_grad_enabled` (per thread);
- `fast.py`, `fast_conv.py`: numpy-only speed helpers, kept out of the ops.
"""

from tinygrad_mnist.autograd import methods as _methods  # noqa: F401  (attaches the ops to Tensor)
from tinygrad_mnist.autograd.composed import (
    cat,
    gather,
    maximum,
    minimum,
    pad,
    stack,
    take_along_axis,
    where,
)
from tinygrad_mnist.autograd.conv import avg_pool2d, batch_norm, conv2d, max_pool2d
from tinygrad_mnist.autograd.function import Function, registry
from tinygrad_mnist.autograd.functional import hessian, hvp
from tinygrad_mnist.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_mnist.autograd.tensor import Tensor, grad, topological_order

__all__ = [
    "Function",
    "Tensor",
    "avg_pool2d",
    "batch_norm",
    "cat",
    "conv2d",
    "enable_grad",
    "gather",
    "grad",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "max_pool2d",
    "maximum",
    "minimum",
    "no_grad",
    "pad",
    "registry",
    "set_grad_enabled",
    "stack",
    "take_along_axis",
    "topological_order",
    "where",
]
