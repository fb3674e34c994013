"""784-16-16-10 sigmoid network, squared error, mini-batch SGD (batch 10, lr 3.0), 3 epochs.

The cost is the quadratic cost of the mini-batch write-ups, C = 1/(2m) sum_x ||a(x) - y(x)||^2 over a
mini-batch of m images, so lr 3.0 here is the same step as in those write-ups.
"""

from tinygrad_mnist import nn, optim
from tinygrad_mnist.recipes import example_data, example_seed, quadratic_cost, quick_mode
from tinygrad_mnist.train import fit

x_train, y_train, x_test, y_test = example_data(train_size=50_000)

seed = example_seed()  # 0 unless $TINYGRAD_MNIST_SEED is set
nn.manual_seed(seed)
model = nn.Sequential(
    nn.Linear(784, 16), nn.Sigmoid(),
    nn.Linear(16, 16), nn.Sigmoid(),
    nn.Linear(16, 10), nn.Sigmoid(),
)  # fmt: skip
optimizer = optim.SGD(model.parameters(), lr=3.0)
epochs = 1 if quick_mode() else 3
history = fit(
    model,
    optimizer,
    quadratic_cost,
    x_train,
    y_train,
    epochs=epochs,
    batch_size=10,
    seed=seed,
    test=(x_test, y_test),
)
print(f"test accuracy: {history[-1].test_accuracy:.2%}")
