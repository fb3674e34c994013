"""Hello, MNIST: a two-layer network trained for one epoch in a few lines of the public API."""

from tinygrad_mnist import nn, optim
from tinygrad_mnist.recipes import cross_entropy, example_data, example_seed
from tinygrad_mnist.train import fit

x_train, y_train, x_test, y_test = example_data()  # downloads MNIST on first use
seed = example_seed()  # 0 unless $TINYGRAD_MNIST_SEED is set
nn.manual_seed(seed)
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
history = fit(
    model, optimizer, cross_entropy, x_train, y_train, batch_size=64, seed=seed, test=(x_test, y_test)
)
print(f"test accuracy: {history[-1].test_accuracy:.2%}")
