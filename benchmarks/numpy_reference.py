"""The "hand-written numpy" accuracies in README's examples table: the four classic recipes trained
with plain numpy (no autograd, no tinygrad_mnist engine), over a few seeds.

    python benchmarks/numpy_reference.py                  # seeds 0 1 2; ~3 minutes on 2 cores; needs MNIST
    python benchmarks/numpy_reference.py --seeds 0 --quick

Same data as the examples (tinygrad_mnist.data: the first 50,000 training images, or all 60,000 for the
strong MLP, pixels in [0, 1]; the 10,000 test images), same networks, costs, optimisers and schedules; weights
drawn like PyTorch's nn.Linear (uniform in +-1/sqrt(fan_in)) from `np.random.default_rng(seed)`, so the
numbers differ from the examples' by seed noise only. Forward and backward are written out by hand in
benchmarks/numpy_mlp.py (per-sample sigmoid step, ReLU MLP gradients) and below.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from numpy_mlp import Layer, predict, relu_mlp_gradients, sigmoid_squared_error_step  # noqa: E402

from tinygrad_mnist.data import load_mnist, preprocess  # noqa: E402  (numpy only: no engine)


def init_layers(sizes: list[int], rng: np.random.Generator) -> list[Layer]:
    """PyTorch's nn.Linear initialisation: W (out, in) and b (out,) uniform in +-1/sqrt(in), float32."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(n_in)
        W = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, n_out).astype(np.float32)
        layers.append((W, b))
    return layers


def sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(
        over="ignore"
    ):  # exp(-z) overflows to inf for z << 0: the sigmoid is then 0, as it should be
        return 1.0 / (1.0 + np.exp(-z))


def quadratic_cost_step(layers: list[Layer], x: np.ndarray, labels: np.ndarray, lr: float) -> None:
    """Mini-batch SGD on C = 1/(2m) sum ||a - y||^2, sigmoid everywhere (the mini-batch write-ups)."""
    activations = [x]
    for W, b in layers:
        activations.append(sigmoid(activations[-1] @ W.T + b))
    a = activations[-1]
    y = np.zeros_like(a)
    y[np.arange(len(labels)), labels] = 1
    delta = (a - y) / len(labels) * a * (1 - a)  # dC/dz of the output layer
    for i in range(len(layers) - 1, -1, -1):
        W, b = layers[i]
        a_in = activations[i]
        dW, db = delta.T @ a_in, delta.sum(axis=0)
        if i > 0:
            delta = (delta @ W) * a_in * (1 - a_in)
        W -= lr * dW
        b -= lr * db


def sigmoid_24(data, rng, quick: bool) -> list[Layer]:
    """784-24-10 sigmoid, sum (a - onehot)^2, per-sample SGD lr 0.01, 3 passes over 50,000."""
    x, y = data["x50"], data["y50"]
    layers = init_layers([784, 24, 10], rng)
    for _ in range(1 if quick else 3):
        for i in rng.permutation(len(x)):
            sigmoid_squared_error_step(layers, x[i], int(y[i]), 0.01)
    return layers


def sigmoid_16_16(data, rng, quick: bool) -> list[Layer]:
    """784-16-16-10 sigmoid, quadratic cost, mini-batch SGD batch 10 lr 3.0, 3 epochs over 50,000."""
    x, y = data["x50"], data["y50"]
    layers = init_layers([784, 16, 16, 10], rng)
    for _ in range(1 if quick else 3):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 10):
            batch = order[start : start + 10]
            quadratic_cost_step(layers, x[batch], y[batch], 3.0)
    return layers


def relu_10(data, rng, quick: bool) -> list[Layer]:
    """784-10-10 ReLU + softmax, cross-entropy, full-batch gradient descent lr 0.1, 500 iterations."""
    x, y = data["x50"], data["y50"]
    layers = init_layers([784, 10, 10], rng)
    for _ in range(20 if quick else 500):
        _, grads = relu_mlp_gradients(layers, x, y)
        for (W, b), (dW, db) in zip(layers, grads):
            W -= 0.1 * dW
            b -= 0.1 * db
    return layers


def strong_mlp(data, rng, quick: bool) -> list[Layer]:
    """784-256-256-10 ReLU, cross-entropy, SGD momentum 0.9, lr 0.05 cosine over 10 epochs, batch 128."""
    x, y = data["x60"], data["y60"]
    layers = init_layers([784, 256, 256, 10], rng)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in layers]
    epochs = 1 if quick else 10
    for epoch in range(epochs):
        lr = 0.05 * (1 + math.cos(math.pi * epoch / epochs)) / 2  # CosineAnnealingLR, stepped per epoch
        order = rng.permutation(len(x))
        for start in range(0, len(x), 128):
            batch = order[start : start + 128]
            _, grads = relu_mlp_gradients(layers, x[batch], y[batch])
            for (W, b), (vW, vb), (dW, db) in zip(layers, velocity, grads):
                vW *= 0.9  # PyTorch's momentum: v = 0.9 v + g (v = g at the first step, as here from 0)
                vW += dW
                vb *= 0.9
                vb += db
                W -= lr * vW
                b -= lr * vb
    return layers


RECIPES: dict[str, tuple[Callable, str]] = {
    "sigmoid_24_per_sample.py": (sigmoid_24, "sigmoid"),
    "sigmoid_16_16_minibatch.py": (sigmoid_16_16, "sigmoid"),
    "relu_softmax_full_batch.py": (relu_10, "relu"),
    "strong_mlp.py": (strong_mlp, "relu"),
}


def load(quick: bool) -> dict[str, np.ndarray]:
    mnist = load_mnist()
    x = preprocess(mnist.train_images, normalize=False, flatten=True)
    n = 5_000 if quick else 50_000
    return {
        "x50": x[:n], "y50": mnist.train_labels[:n],
        "x60": x[: 6_000 if quick else 60_000], "y60": mnist.train_labels[: 6_000 if quick else 60_000],
        "x_test": preprocess(mnist.test_images, normalize=False, flatten=True), "y_test": mnist.test_labels,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="*", choices=list(RECIPES), help="run only these recipes")
    parser.add_argument(
        "--quick", action="store_true", help="a short run of each on a subset (for the tests)"
    )
    args = parser.parse_args(argv)
    data = load(args.quick)
    print("| example | numpy reference: test accuracy per seed | mean | seconds per run |")
    print("|---|---|---:|---:|")
    for name, (train, activation) in RECIPES.items():
        if args.only and name not in args.only:
            continue
        accuracies, seconds = [], []
        for seed in args.seeds:
            start = time.perf_counter()
            layers = train(data, np.random.default_rng(seed), args.quick)
            seconds.append(time.perf_counter() - start)
            with np.errstate(over="ignore"):  # numpy_mlp.predict's sigmoid, as above
                predicted = predict(layers, data["x_test"], activation)
            accuracies.append(float((predicted == data["y_test"]).mean()))
        per_seed = ", ".join(f"{a:.2%}" for a in accuracies)
        print(
            f"| {name} | {per_seed} | {statistics.mean(accuracies):.2%} | {statistics.median(seconds):.0f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
