"""Neural-network building blocks: `Module`, layers, activations, losses (PyTorch names, numpy inside).

    from tinygrad_mnist import nn
    nn.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.Sigmoid(), nn.Linear(128, 10))
    loss = nn.CrossEntropyLoss()(model(images), labels)

See docs/nn.md.
"""

from tinygrad_mnist.nn import functional, init
from tinygrad_mnist.nn.activations import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinygrad_mnist.nn.batchnorm import BatchNorm1d, BatchNorm2d
from tinygrad_mnist.nn.containers import Sequential
from tinygrad_mnist.nn.conv import Conv2d
from tinygrad_mnist.nn.dropout import Dropout
from tinygrad_mnist.nn.flatten import Flatten
from tinygrad_mnist.nn.functional import one_hot
from tinygrad_mnist.nn.init import default_generator, manual_seed
from tinygrad_mnist.nn.linear import Linear
from tinygrad_mnist.nn.losses import CrossEntropyLoss, MSELoss, NLLLoss
from tinygrad_mnist.nn.module import LoadResult, Module, Parameter
from tinygrad_mnist.nn.pooling import AvgPool2d, MaxPool2d

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "MaxPool2d",
    "CrossEntropyLoss",
    "Flatten",
    "Linear",
    "LoadResult",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "default_generator",
    "functional",
    "init",
    "manual_seed",
    "one_hot",
]
