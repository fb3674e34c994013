"""784-10-10: ReLU, then softmax with cross-entropy, full-batch gradient descent (lr 0.1, 500 iterations)
on the first 50,000 training images: the set-up of the from-scratch numpy write-ups whose gradients
are dZ2 = A2 - Y, dW2 = dZ2 A1^T / m, db2 = sum(dZ2) / m, dZ1 = W2^T dZ2 * relu'(Z1), dW1 = dZ1 X^T / m.

Here the engine computes exactly those: `cross_entropy` is softmax + log-loss fused, and its backward is
(softmax - onehot) / m, which is dZ2 / m; the matmul VJPs give dW2 and dW1 (see docs/backprop.md).
"""

from tinygrad_mnist import nn, optim
from tinygrad_mnist.recipes import cross_entropy, example_data, example_seed, quick_mode
from tinygrad_mnist.train import fit

x_train, y_train, x_test, y_test = example_data(train_size=50_000)
iterations = 20 if quick_mode() else 500

nn.manual_seed(example_seed())  # 0 unless $TINYGRAD_MNIST_SEED is set (full batch: no order to seed)
model = nn.Sequential(nn.Linear(784, 10), nn.ReLU(), nn.Linear(10, 10))  # softmax lives in the loss
optimizer = optim.SGD(model.parameters(), lr=0.1)
# One batch holding every image = full-batch gradient descent: each "epoch" is one iteration.
history = fit(
    model, optimizer, cross_entropy, x_train, y_train,
    epochs=iterations, batch_size=len(x_train), shuffle=False, test=(x_test, y_test), log_every=50,
)  # fmt: skip
print(f"test accuracy: {history[-1].test_accuracy:.2%}")
