"""Optimisers: update parameters in place from their gradients (PyTorch's formulas; see docs/nn.md).

opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
opt.zero_grad(); loss.backward(); opt.step()
"""

from tinygrad_mnist.optim import lr_scheduler
from tinygrad_mnist.optim.adam import Adam
from tinygrad_mnist.optim.adamw import AdamW
from tinygrad_mnist.optim.optimizer import Optimizer
from tinygrad_mnist.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
