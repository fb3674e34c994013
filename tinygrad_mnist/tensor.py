"""Kept so that `from tinygrad_mnist.tensor import Tensor` still works: the engine lives in `autograd/`."""

from tinygrad_mnist.autograd import Function, Tensor, grad, is_grad_enabled, no_grad, topological_order

__all__ = ["Function", "Tensor", "grad", "is_grad_enabled", "no_grad", "topological_order"]
