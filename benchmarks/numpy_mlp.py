"""The floor: the benchmarked training steps written by hand in plain numpy, no autograd.

Same math as the framework's step (forward, loss, backward, SGD update), written the way a careful
person would write it once for one network: each layer's forward and backward spelled out, float32
throughout, `W -= lr * dW` updates, no one-hot array or `np.outer` per sample. Plain numpy: fresh
arrays from expressions and numpy's `@`, no preallocated work buffers, no BLAS called by address;
the compiled fast mode's tricks of that kind (tinygrad_mnist/compile/blas.py) are what it adds over
hand-written numpy, so they are not given to the floor.

Weights are stored like `nn.Linear`'s: `W` has shape (out_features, in_features), `y = x @ W.T + b`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]  # (W of shape (out, in), b of shape (out,))


def copy_layers(model: Any) -> list[Layer]:
    """Copies of a framework model's `nn.Linear` weights, in order, so both start from identical numbers."""
    from tinygrad_mnist.nn import Linear

    layers = [(m.weight.data.copy(), m.bias.data.copy()) for m in model.modules() if isinstance(m, Linear)]
    if not layers:
        raise ValueError(f"copy_layers: {type(model).__name__} has no Linear layers to copy")
    return layers


def relu_mlp_gradients(layers: list[Layer], x: np.ndarray, labels: np.ndarray) -> tuple[float, list[Layer]]:
    """Loss and (dW, db) per layer of a ReLU MLP with softmax cross-entropy (mean over the batch).

    Hidden layers use ReLU, the last layer outputs logits.
    """
    # forward: keep each layer's input for the weight gradients
    inputs, a = [], x
    for i, (W, b) in enumerate(layers):
        inputs.append(a)
        z = a @ W.T + b
        a = np.maximum(z, 0) if i < len(layers) - 1 else z
    n = len(labels)
    rows = np.arange(n)
    shifted = a - a.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, labels].mean()
    # backward: d loss / d logits = (softmax - onehot) / n
    g = np.exp(log_probs)
    g[rows, labels] -= 1
    g /= n
    grads: list[Layer] = [None] * len(layers)  # type: ignore[list-item]
    for i in range(len(layers) - 1, -1, -1):
        W, _ = layers[i]
        a_in = inputs[i]
        grads[i] = (g.T @ a_in, g.sum(axis=0))
        if i > 0:
            g = (g @ W) * (a_in > 0)  # a_in is the previous layer's ReLU output
    return float(loss), grads


def relu_mlp_train_step(layers: list[Layer], x: np.ndarray, labels: np.ndarray, lr: float) -> float:
    """One SGD step of a ReLU MLP with softmax cross-entropy (mean over the batch); returns the loss.

    Updates `layers` in place.
    """
    loss, grads = relu_mlp_gradients(layers, x, labels)
    for (W, b), (dW, db) in zip(layers, grads):
        W -= lr * dW
        b -= lr * db
    return loss


def sigmoid_squared_error_step(layers: list[Layer], x: np.ndarray, label: int, lr: float) -> float:
    """One per-sample SGD step of a one-hidden-layer sigmoid net with cost sum_k (a_k - onehot_k)^2.

    `x` is one image as a vector (784,). Updates `layers` in place; returns the cost. Written the
    careful way, for this one network: both layers spelled out (no list of activations), the target
    subtracted by indexing (no one-hot array per step), outer products by broadcasting (`np.outer`
    makes its inputs contiguous and is slower), the cost as one dot product.
    """
    if len(layers) != 2:
        raise ValueError(f"sigmoid_squared_error_step: written for one hidden layer, got {len(layers) - 1}")
    (W1, b1), (W2, b2) = layers
    a1 = 1.0 / (1.0 + np.exp(-(W1 @ x + b1)))
    a2 = 1.0 / (1.0 + np.exp(-(W2 @ a1 + b2)))
    diff = a2.copy()
    diff[label] -= 1  # a2 - onehot(label)
    cost = float(diff @ diff)
    delta2 = 2 * diff * a2 * (1 - a2)  # dC/dz of the output layer
    delta1 = (W2.T @ delta2) * a1 * (1 - a1)  # dC/dz of the hidden layer (before W2 changes)
    W2 -= lr * (delta2[:, None] * a1)
    b2 -= lr * delta2
    W1 -= lr * (delta1[:, None] * x)
    b1 -= lr * delta1
    return cost


def predict(layers: list[Layer], x: np.ndarray, activation: str) -> np.ndarray:
    """Class predictions for rows of `x` (activation "relu" between layers, or "sigmoid" everywhere)."""
    a = x
    for i, (W, b) in enumerate(layers):
        a = a @ W.T + b
        if activation == "sigmoid":
            a = 1.0 / (1.0 + np.exp(-a))
        elif i < len(layers) - 1:
            a = np.maximum(a, 0)
    return a.argmax(axis=1)
