"""tinygrad_mnist: a small, readable autograd engine on numpy that trains MNIST and teaches backprop."""

import importlib
from typing import Any

from tinygrad_mnist.gradcheck import GradcheckError, GradcheckReport, gradcheck
from tinygrad_mnist.tensor import Tensor, is_grad_enabled, no_grad, topological_order

_LAZY_SUBMODULES = {"checkpoint", "nn", "optim"}


def __getattr__(name: str) -> Any:
    """`tinygrad_mnist.nn` (and optim, checkpoint) load on first use: the engine doesn't depend on them."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"tinygrad_mnist.{name}")
    raise AttributeError(f"module 'tinygrad_mnist' has no attribute {name!r}")


__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "Tensor",
    "checkpoint",
    "gradcheck",
    "is_grad_enabled",
    "nn",
    "no_grad",
    "optim",
    "topological_order",
]
__version__ = "0.1.0"
