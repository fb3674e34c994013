"""784-24-10, sigmoid everywhere, cost sum((out - onehot)^2), per-sample SGD, lr 0.01, 3 passes over
the first 50,000 training images: the set-up of the classic step-by-step backprop derivation.

The training loop is written out by hand here (no `fit`), so every step of the derivation is visible:
forward, the cost, backward (the chain rule, done by the engine), and the update w <- w - lr * dC/dw.
See docs/backprop.md for the same gradients derived by hand, and tests/test_handderived.py for the
proof that they are equal.
"""

import time

import numpy as np

from tinygrad_mnist import Tensor, nn, no_grad, optim
from tinygrad_mnist.recipes import example_data, example_seed, quick_mode

x_train, y_train, x_test, y_test = example_data(train_size=50_000)
passes = 1 if quick_mode() else 3

seed = example_seed()  # 0 unless $TINYGRAD_MNIST_SEED is set
nn.manual_seed(seed)
model = nn.Sequential(nn.Linear(784, 24), nn.Sigmoid(), nn.Linear(24, 10), nn.Sigmoid())
optimizer = optim.SGD(model.parameters(), lr=0.01)
targets = np.eye(10, dtype=np.float32)  # row k is the one-hot vector of digit k
order = np.random.default_rng(seed)

start = time.perf_counter()
for epoch in range(1, passes + 1):
    for i in order.permutation(len(x_train)):
        out = model(Tensor(x_train[i : i + 1]))  # a batch of one sample: shape (1, 784)
        cost = ((out - targets[y_train[i : i + 1]]) ** 2).sum()  # C = sum_k (a_k - y_k)^2
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()
    with no_grad():
        accuracy = (model(Tensor(x_test)).numpy().argmax(axis=1) == y_test).mean()
    print(f"pass {epoch}: test accuracy {accuracy:.2%} ({time.perf_counter() - start:.1f} s)")
print(f"test accuracy: {accuracy:.2%}")
