"""End to end: small models built from nn + optim learn toy tasks to near-zero loss, reproducibly."""

from __future__ import annotations

import numpy as np

from tinygrad_mnist import nn
from tinygrad_mnist.optim import SGD, Adam

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0])


def train_xor(seed: int) -> tuple[float, nn.Module]:
    """The classic: 2-4-2 sigmoid network, squared-error cost sum((out - onehot)^2), SGD with momentum."""
    gen = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(2, 4, rng=gen), nn.Sigmoid(), nn.Linear(4, 2, rng=gen), nn.Sigmoid())
    opt = SGD(model.parameters(), lr=0.5, momentum=0.9)
    cost, target = nn.MSELoss(reduction="sum"), nn.one_hot(XOR_Y, 2)
    for _ in range(1500):
        loss = cost(model(XOR_X), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item(), model


def test_xor_is_learned_with_sgd_and_the_sum_of_squares_cost():
    loss, model = train_xor(seed=0)
    assert loss < 0.01
    np.testing.assert_array_equal(model(XOR_X).data.argmax(1), XOR_Y)


def test_same_seed_same_training_run_bit_for_bit():
    (loss_a, a), (loss_b, b) = train_xor(seed=3), train_xor(seed=3)
    assert loss_a == loss_b
    assert all(x.data.tobytes() == y.data.tobytes() for x, y in zip(a.parameters(), b.parameters()))


def two_moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles (like sklearn's make_moons), slightly noisy."""
    angle = rng.uniform(0, np.pi, n)
    labels = rng.integers(0, 2, n)
    x = np.where(labels == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(labels == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(0, 0.05, (n, 2))
    return points.astype(np.float32), labels


def test_two_moons_are_separated_with_adam_and_cross_entropy():
    rng = np.random.default_rng(0)
    points, labels = two_moons(200, rng)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = Adam(model.parameters(), lr=0.03)
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(400):
        loss = loss_fn(model(points), labels)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 0.3 and loss.item() < 0.02
    test_points, test_labels = two_moons(200, rng)
    model.eval()
    assert (model(test_points).data.argmax(1) == test_labels).mean() > 0.97
