"""A strong modern MLP: 784-256-256-10 ReLU, cross-entropy, SGD with momentum and a cosine learning-rate
schedule, 10 epochs: 98%+ on the test set. The same network as `tinygrad-mnist train --model mlp`, whose
recipe gets there in 3 epochs (Nesterov momentum and a one-cycle learning rate; see docs/nn.md).
"""

from tinygrad_mnist import nn, optim
from tinygrad_mnist.recipes import cross_entropy, example_data, example_seed, quick_mode
from tinygrad_mnist.train import fit

x_train, y_train, x_test, y_test = example_data()
epochs = 1 if quick_mode() else 10

seed = example_seed()  # 0 unless $TINYGRAD_MNIST_SEED is set
nn.manual_seed(seed)
model = nn.Sequential(
    nn.Linear(784, 256), nn.ReLU(),
    nn.Linear(256, 256), nn.ReLU(),
    nn.Linear(256, 10),
)  # fmt: skip
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)  # big steps first, small steps last
history = fit(
    model, optimizer, cross_entropy, x_train, y_train,
    epochs=epochs, batch_size=128, seed=seed, scheduler=scheduler, test=(x_test, y_test), checkpoint="strong_mlp.npz",
)  # fmt: skip
print(f"test accuracy: {history[-1].test_accuracy:.2%} (model saved to strong_mlp.npz)")
