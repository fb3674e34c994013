"""tinygrad_mnist: a small, readable autograd engine on numpy that trains MNIST and teaches backpropagation."""

from tinygrad_mnist.gradcheck import GradcheckError, GradcheckReport, gradcheck
from tinygrad_mnist.tensor import Tensor, is_grad_enabled, no_grad, topological_order

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "Tensor",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "topological_order",
]
__version__ = "0.1.0"
