"""tinygrad_mnist: a small, readable autograd engine on numpy that trains MNIST and teaches backprop."""

import importlib
from typing import Any

from tinygrad_mnist.autograd import (
    Function,
    Tensor,
    cat,
    enable_grad,
    gather,
    grad,
    hessian,
    hvp,
    is_grad_enabled,
    maximum,
    minimum,
    no_grad,
    pad,
    set_grad_enabled,
    stack,
    take_along_axis,
    topological_order,
    where,
)
from tinygrad_mnist.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradgradcheck

_LAZY_SUBMODULES = {"checkpoint", "nn", "optim"}


def __getattr__(name: str) -> Any:
    """`tinygrad_mnist.nn` (and optim, checkpoint) load on first use: the engine doesn't depend on them."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"tinygrad_mnist.{name}")
    raise AttributeError(f"module 'tinygrad_mnist' has no attribute {name!r}")


__all__ = [
    "Function",
    "GradcheckError",
    "GradcheckReport",
    "Tensor",
    "cat",
    "checkpoint",
    "enable_grad",
    "gather",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "maximum",
    "minimum",
    "nn",
    "no_grad",
    "optim",
    "pad",
    "set_grad_enabled",
    "stack",
    "take_along_axis",
    "topological_order",
    "where",
]
__version__ = "0.1.0"
