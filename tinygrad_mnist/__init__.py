"""tinygrad_mnist: a small, readable autograd engine on numpy that trains MNIST and teaches backprop."""

from tinygrad_mnist import checkpoint, nn, optim
from tinygrad_mnist.gradcheck import GradcheckError, GradcheckReport, gradcheck
from tinygrad_mnist.tensor import Tensor, is_grad_enabled, no_grad, topological_order

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
