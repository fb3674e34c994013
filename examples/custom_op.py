"""Your own op: a `Function` with its forward and VJP, checked to second order, then trained on MNIST.

SiLU (x · σ(x), "swish") is not built in. Its derivative is σ(x) · (1 + x · (1 − σ(x))); the backward
is written with Tensor-friendly operations, so `gradgradcheck` can differentiate it again.
"""

import numpy as np

from tinygrad_mnist import Function, Tensor, gradcheck, gradgradcheck, nn, optim
from tinygrad_mnist.recipes import cross_entropy, example_data
from tinygrad_mnist.train import fit


class SiLU(Function):
    formula = "x · σ(x)"

    def forward(self, x):
        self.s = 1 / (1 + np.exp(-x))  # kept for the first-order backward
        return x * self.s

    def backward(self, g, out, x):
        s = x.sigmoid() if isinstance(x, Tensor) else self.s  # a Tensor when differentiated twice
        return (g * s * (1 + x * (1 - s)),)


class SiLULayer(nn.Module):
    def forward(self, x):
        return SiLU.apply(x)


x = Tensor(np.linspace(-3, 3, 7), requires_grad=True, dtype=np.float64)
print(
    "gradcheck:", bool(gradcheck(SiLU.apply, [x])), "| gradgradcheck:", bool(gradgradcheck(SiLU.apply, [x]))
)

x_train, y_train, x_test, y_test = example_data()
nn.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 128), SiLULayer(), nn.Linear(128, 10))
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
history = fit(model, optimizer, cross_entropy, x_train, y_train, batch_size=64, test=(x_test, y_test))
print(f"test accuracy: {history[-1].test_accuracy:.2%}")
