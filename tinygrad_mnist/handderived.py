"""Backprop by hand: the chain-rule formulas of the classic derivations, written out in plain numpy.

No autograd here, and no import of the engine: every gradient below is the explicit per-layer formula
a person derives on paper, so `tests/test_handderived.py` can show that `loss.backward()` computes
exactly these numbers. `docs/backprop.md` derives each formula step by step and links back here.

Five write-ups, each in its own convention (kept as the write-ups state them, not unified):

1. Sigmoid network, one sample, cost `C = sum_k (a_k - y_k)^2`, weights (out, in) like `nn.Linear`:
   `sigmoid_squared_error_gradients` (vectorized per layer) and `..._by_index` (every i, j, k looped).
2. ReLU + softmax + cross-entropy, batched, one column per sample (X is (features, m)):
   `relu_softmax_cross_entropy_gradients`.
3. Sigmoid layers + mean-squared error, batched, one row per sample, weights (in, out):
   `sigmoid_mse_gradients`.
4. One explicit SGD step, weight by weight: `sgd_step_by_scalar_rule`.
5. Convolution and 2x2 max-pooling of NCHW images: `conv2d_gradients`, `max_pool_gradient`.

Everything is computed in float64: these are references to compare against, not training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

Layers = tuple[list[np.ndarray], list[np.ndarray]]  # (one array per layer for W, one for b)


# ---------------------------------------------------------------------- activations and their derivatives
def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^-z), via e^-|z| so it never overflows (the engine writes 1 / (1 + e^-z) directly)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    """σ'(z) = σ(z) (1 - σ(z)): the derivative needs only the forward value."""
    s = sigmoid(z)
    return s * (1.0 - s)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def relu_prime(z: np.ndarray) -> np.ndarray:
    """g'(z) = 1 where z > 0, else 0. At the kink z = 0 it is 0, the choice `Tensor.relu` (and PyTorch) make."""
    return (z > 0).astype(np.float64)


def softmax_columns(z: np.ndarray) -> np.ndarray:
    """Softmax down each column (one column per sample), shifted by the column max so exp can't overflow."""
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


# ---------------------------------------------------------------------- input checks
def _as_layers(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> Layers:
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError(
            f"need one bias per weight matrix and at least one layer, got {len(weights)} weights "
            f"and {len(biases)} biases"
        )
    ws = [np.asarray(w, dtype=np.float64) for w in weights]
    bs = [np.asarray(b, dtype=np.float64) for b in biases]
    for l, w in enumerate(ws):
        if w.ndim != 2:
            raise ValueError(f"weights[{l}] must be a 2-D matrix, got shape {w.shape}")
    return ws, bs


def _check_out_in(ws: list[np.ndarray], bs: list[np.ndarray], n_in: int) -> None:
    """Weights (out, in) like nn.Linear: layer l maps ws[l].shape[1] inputs to ws[l].shape[0] outputs."""
    for l, (w, b) in enumerate(zip(ws, bs)):
        if w.shape[1] != n_in:
            raise ValueError(f"weights[{l}] has shape {w.shape} (out, in) but its input has {n_in} units")
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"biases[{l}] has shape {b.shape}, expected ({w.shape[0]},) for weights {w.shape}"
            )
        n_in = w.shape[0]


# ====================================================================== 1. sigmoid net, squared error, one sample
def sigmoid_network_forward(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Forward pass for one sample: z(l) = W(l) a(l-1) + b(l), a(l) = σ(z(l)), with a(0) = x.

    Returns `(zs, activations)`: zs[l] is z(l+1) and activations[l] is a(l), so activations[0] is x and
    activations[-1] the network's output. Weights are (out, in): w_ij connects input j to output i.
    """
    ws, bs = _as_layers(weights, biases)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"x must be one sample of shape (inputs,), got shape {a.shape}")
    _check_out_in(ws, bs, a.shape[0])
    zs, activations = [], [a]
    for w, b in zip(ws, bs):
        z = w @ a + b
        a = sigmoid(z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def _check_target(y: np.ndarray, output: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != output.shape:
        raise ValueError(f"target y has shape {y.shape} but the network's output has shape {output.shape}")
    return y


def sigmoid_squared_error_cost(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
) -> float:
    """C = Σ_k (a_k(L) - y_k)²  for one sample."""
    _, activations = sigmoid_network_forward(weights, biases, x)
    y = _check_target(y, activations[-1])
    return float(((activations[-1] - y) ** 2).sum())


def sigmoid_squared_error_gradients(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
) -> Layers:
    """dC/dW(l) and dC/db(l) for every layer, one sample, C = Σ_k (a_k(L) - y_k)².

    Output layer:  δ_i(L) = 2 (a_i(L) - y_i) σ'(z_i(L));  dC/dw_ij(L) = δ_i(L) a_j(L-1);  dC/db_i(L) = δ_i(L).
    Hidden layer:  δ_i(l) = σ'(z_i(l)) Σ_k δ_k(l+1) w_ki(l+1)   (every path from a_i(l) through layer l+1),
                   dC/dw_ij(l) = δ_i(l) a_j(l-1);  dC/db_i(l) = δ_i(l).
    In vector form the sum over k is `W(l+1).T @ δ(l+1)` and dC/dW(l) is the outer product δ(l) a(l-1)ᵀ.
    """
    ws, _ = _as_layers(weights, biases)
    zs, activations = sigmoid_network_forward(weights, biases, x)
    y = _check_target(y, activations[-1])
    n_layers = len(ws)
    grad_w: list[np.ndarray] = [np.empty(0)] * n_layers
    grad_b: list[np.ndarray] = [np.empty(0)] * n_layers

    delta = 2.0 * (activations[-1] - y) * sigmoid_prime(zs[-1])  # δ(L)
    for l in reversed(range(n_layers)):  # layer l+1 in the write-up's 1-based numbering
        grad_w[l] = np.outer(delta, activations[l])  # δ_i(l) a_j(l-1)
        grad_b[l] = delta
        if l > 0:
            delta = sigmoid_prime(zs[l - 1]) * (ws[l].T @ delta)  # σ'(z_i) Σ_k δ_k w_ki
    return grad_w, grad_b


def sigmoid_squared_error_gradients_by_index(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
) -> Layers:
    """The same gradients as `sigmoid_squared_error_gradients`, one scalar at a time, exactly as written on paper.

    Pure Python loops over i, j and k (slow: for reading and for tiny test networks, not for training).
    """
    ws, _ = _as_layers(weights, biases)
    zs, activations = sigmoid_network_forward(weights, biases, x)
    y = _check_target(y, activations[-1])
    n_layers = len(ws)
    grad_w = [np.zeros_like(w) for w in ws]
    grad_b = [np.zeros(w.shape[0]) for w in ws]

    a_out, z_out = activations[-1], zs[-1]
    delta = [2.0 * (a_out[i] - y[i]) * sigmoid_prime(z_out[i]) for i in range(len(a_out))]  # δ_i(L)
    for l in reversed(range(n_layers)):
        w, a_prev = ws[l], activations[l]
        for i in range(w.shape[0]):
            grad_b[l][i] = delta[i]  # dC/db_i = δ_i
            for j in range(w.shape[1]):
                grad_w[l][i, j] = delta[i] * a_prev[j]  # dC/dw_ij = δ_i a_j(l-1)
        if l > 0:
            # a_i(l-1) feeds every unit k of this layer: sum the chain rule over all those paths.
            delta = [
                sigmoid_prime(zs[l - 1][i]) * sum(delta[k] * w[k, i] for k in range(w.shape[0]))
                for i in range(w.shape[1])
            ]
    return grad_w, grad_b


def sigmoid_squared_error_batch_gradients(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
) -> Layers:
    """Gradients of the batch cost Σ_n C_n (rows of x and y are samples): the per-sample gradients, summed.

    A derivative of a sum is the sum of derivatives, so a batch adds nothing new to the derivation; this
    is what `nn.MSELoss(reduction="sum")` over a batch of sigmoid outputs differentiates.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must be (samples, features) with equal sample counts, got {x.shape} and {y.shape}"
        )
    ws, bs = _as_layers(weights, biases)
    total_w, total_b = [np.zeros_like(w) for w in ws], [np.zeros_like(b) for b in bs]
    for x_n, y_n in zip(x, y):
        grad_w, grad_b = sigmoid_squared_error_gradients(ws, bs, x_n, y_n)
        total_w = [t + g for t, g in zip(total_w, grad_w)]
        total_b = [t + g for t, g in zip(total_b, grad_b)]
    return total_w, total_b


# ====================================================================== 2. ReLU + softmax + cross-entropy, columns
class TwoLayerGradients(NamedTuple):
    """dCost/d(parameter) for the two-layer column-per-sample network, each shaped like its parameter."""

    dW1: np.ndarray
    db1: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray


class TwoLayerForward(NamedTuple):
    Z1: np.ndarray
    A1: np.ndarray
    Z2: np.ndarray
    A2: np.ndarray


def one_hot_columns(labels: np.ndarray, classes: int) -> np.ndarray:
    """Y of shape (classes, m): column n is the one-hot vector of labels[n]."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got {labels.min()}..{labels.max()}")
    y = np.zeros((classes, labels.size))
    y[labels, np.arange(labels.size)] = 1.0
    return y


def relu_softmax_forward(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray
) -> TwoLayerForward:
    """Z1 = W1 X + b1, A1 = ReLU(Z1), Z2 = W2 A1 + b2, A2 = softmax(Z2), one column per sample."""
    W1, b1, W2, b2, X = (np.asarray(t, dtype=np.float64) for t in (W1, b1, W2, b2, X))
    if X.ndim != 2 or W1.ndim != 2 or W2.ndim != 2 or W1.shape[1] != X.shape[0] or W2.shape[1] != W1.shape[0]:
        raise ValueError(
            f"shapes don't chain: X {X.shape} must be (features, m), W1 {W1.shape} (hidden, features), "
            f"W2 {W2.shape} (classes, hidden)"
        )
    if b1.shape != (W1.shape[0], 1) or b2.shape != (W2.shape[0], 1):
        raise ValueError(
            f"biases must be columns: b1 {b1.shape} should be ({W1.shape[0]}, 1), b2 {b2.shape} ({W2.shape[0]}, 1)"
        )
    Z1 = W1 @ X + b1
    A1 = relu(Z1)
    Z2 = W2 @ A1 + b2
    return TwoLayerForward(Z1, A1, Z2, softmax_columns(Z2))


def _check_one_hot(Y: np.ndarray, A2: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != A2.shape:
        raise ValueError(f"Y has shape {Y.shape}, expected (classes, m) = {A2.shape}")
    if not np.allclose(Y.sum(axis=0), 1.0):
        raise ValueError("each column of Y must sum to 1 (one-hot): dZ2 = A2 - Y relies on it")
    return Y


def relu_softmax_cross_entropy_cost(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> float:
    """Cost = -(1/m) Σ_n Σ_k Y_kn log A2_kn: the mean over samples of the cross-entropy."""
    Z2 = relu_softmax_forward(W1, b1, W2, b2, X).Z2
    Y = _check_one_hot(Y, Z2)
    shifted = Z2 - Z2.max(axis=0, keepdims=True)
    log_a2 = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))  # log softmax, never log(0)
    return float(-(Y * log_a2).sum() / X.shape[1])


def relu_softmax_cross_entropy_gradients(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> TwoLayerGradients:
    """The six lines of the classic derivation (X (features, m), Y one-hot (classes, m)).

        dZ2 = A2 - Y                    dZ1 = W2ᵀ dZ2 ⊙ g'(Z1)
        dW2 = dZ2 A1ᵀ / m               dW1 = dZ1 Xᵀ / m
        db2 = Σ_columns dZ2 / m         db1 = Σ_columns dZ1 / m

    dZ2 here is m times dCost/dZ2 (the 1/m is applied to dW and db), as in the write-up.
    """
    Z1, A1, _, A2 = relu_softmax_forward(W1, b1, W2, b2, X)
    Y = _check_one_hot(Y, A2)
    X, W2 = np.asarray(X, dtype=np.float64), np.asarray(W2, dtype=np.float64)
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * relu_prime(Z1)
    dW1 = dZ1 @ X.T / m
    db1 = dZ1.sum(axis=1, keepdims=True) / m
    return TwoLayerGradients(dW1, db1, dW2, db2)


# ====================================================================== 3. sigmoid + MSE, batched, rows, W (in, out)
def mse_scale(reduction: Literal["mean", "sum"], n_samples: int, n_outputs: int) -> float:
    """dLoss/da_L = scale · (a_L - y): 2/(N·outputs) for the mean over all N·outputs squared errors, 2 for the sum."""
    if reduction == "mean":
        return 2.0 / (n_samples * n_outputs)
    if reduction == "sum":
        return 2.0
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def sigmoid_rows_forward(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """a_L = σ(a_{L-1} W_L + b_L) with one sample per row; W_L is (in, out), the transpose of nn.Linear's.

    Returns `(zs, activations)` with activations[0] = x, as `sigmoid_network_forward` does.
    """
    ws, bs = _as_layers(weights, biases)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"x must be a batch of shape (samples, inputs), got shape {a.shape}")
    _check_out_in([w.T for w in ws], bs, a.shape[1])
    zs, activations = [], [a]
    for w, b in zip(ws, bs):
        z = a @ w + b
        a = sigmoid(z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def sigmoid_mse_loss(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    reduction: Literal["mean", "sum"] = "mean",
) -> float:
    """Loss = mean (or sum) over every sample and output of (a_L - y)²."""
    _, activations = sigmoid_rows_forward(weights, biases, x)
    y = _check_target(y, activations[-1])
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    squared = (activations[-1] - y) ** 2
    return float(squared.mean() if reduction == "mean" else squared.sum())


def sigmoid_mse_gradients(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    reduction: Literal["mean", "sum"] = "mean",
) -> Layers:
    """dLoss/dW_L = a_{L-1}ᵀ (scale · (a_L - y) ⊙ σ'(z_L)), propagated to earlier layers through W_Lᵀ.

    With E_L = scale · (a_L - y) ⊙ σ'(z_L) (scale from `mse_scale`):
        dLoss/dW_L = a_{L-1}ᵀ E_L        (in, out), the sum over samples is inside the matrix product
        dLoss/db_L = Σ_rows E_L          (a bias is added to every row, so its gradient sums over them)
        E_{L-1}    = (E_L W_Lᵀ) ⊙ σ'(z_{L-1})
    """
    ws, _ = _as_layers(weights, biases)
    zs, activations = sigmoid_rows_forward(weights, biases, x)
    y = _check_target(y, activations[-1])
    n_layers = len(ws)
    grad_w: list[np.ndarray] = [np.empty(0)] * n_layers
    grad_b: list[np.ndarray] = [np.empty(0)] * n_layers

    error = mse_scale(reduction, *y.shape) * (activations[-1] - y) * sigmoid_prime(zs[-1])  # E_L
    for l in reversed(range(n_layers)):
        grad_w[l] = activations[l].T @ error
        grad_b[l] = error.sum(axis=0)
        if l > 0:
            error = (error @ ws[l].T) * sigmoid_prime(zs[l - 1])
    return grad_w, grad_b


# ====================================================================== 4. one SGD step, weight by weight
def sgd_step_by_scalar_rule(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    lr: float,
    convention: Literal["a - y", "y - a"] = "a - y",
) -> Layers:
    """One plain SGD step on C = Σ_n Σ_k (a_k - y_k)² (rows of x, y are samples; one row is the classic case).

    The last layer's weights and biases are updated one scalar at a time by the rule of the write-up,
        "a - y":  w_ij ← w_ij - lr · Σ_n 2 (a_i - y_i) σ'(z_i) a_j(L-1)
        "y - a":  w_ij ← w_ij + lr · Σ_n 2 (y_i - a_i) σ'(z_i) a_j(L-1)
    (the two are the same step: both signs flip). Earlier layers take w ← w - lr · dC/dw with dC/dw from
    `sigmoid_squared_error_gradients`. Returns new arrays; the inputs are not modified.
    """
    if convention not in ("a - y", "y - a"):
        raise ValueError(f"convention must be 'a - y' or 'y - a', got {convention!r}")
    ws, bs = _as_layers(weights, biases)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    grad_w, grad_b = sigmoid_squared_error_batch_gradients(ws, bs, x, y)
    new_w = [w - lr * g for w, g in zip(ws[:-1], grad_w[:-1])]
    new_b = [b - lr * g for b, g in zip(bs[:-1], grad_b[:-1])]

    w_last, b_last = ws[-1].copy(), bs[-1].copy()
    passes = [sigmoid_network_forward(ws, bs, x_n) for x_n in x]
    for i in range(w_last.shape[0]):
        for j in range(-1, w_last.shape[1]):  # j = -1 is the bias: its "a_prev" is the constant 1
            step = 0.0
            for (zs, activations), y_n in zip(passes, y):
                a_i, z_i = activations[-1][i], zs[-1][i]
                a_prev_j = 1.0 if j < 0 else activations[-2][j]
                error = (a_i - y_n[i]) if convention == "a - y" else (y_n[i] - a_i)
                step += 2.0 * error * sigmoid_prime(z_i) * a_prev_j
            if j < 0:
                b_last[i] = b_last[i] - lr * step if convention == "a - y" else b_last[i] + lr * step
            else:
                w_last[i, j] = w_last[i, j] - lr * step if convention == "a - y" else w_last[i, j] + lr * step
    return new_w + [w_last], new_b + [b_last]


# ====================================================================== 5. convolution and max-pooling
def _padded(x: np.ndarray, padding: int) -> np.ndarray:
    return np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """z[n, o, h, v] = b[o] + Σ_{c,i,j} x_pad[n, c, s·h + i, s·v + j] · w[o, c, i, j], one kernel tap (i, j)
    at a time: x (N, C, H, W), w (O, C, kh, kw), b (O,), square stride s and zero padding p."""
    xp, w = _padded(x, padding), np.asarray(w, dtype=np.float64)
    if xp.ndim != 4 or w.ndim != 4 or xp.shape[1] != w.shape[1]:
        raise ValueError(
            f"x (N, C, H, W) and w (O, C, kh, kw) must agree on C, got {np.shape(x)} and {w.shape}"
        )
    (n, _, hp, wp), (o, _, kh, kw) = xp.shape, w.shape
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    z = np.broadcast_to(np.asarray(b, dtype=np.float64)[:, None, None], (n, o, ho, wo)).copy()
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride]
            z += np.einsum("nchv,oc->nohv", tap, w[:, :, i, j])
    return z


def conv2d_gradients(
    x: np.ndarray, w: np.ndarray, g: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dC/dx, dC/dw, dC/db) of a convolution, given g = dC/dz of its output (N, O, Ho, Wo).

    dw[o, c, i, j] = Σ_{n,h,v} x_pad[n, c, s·h + i, s·v + j] · g[n, o, h, v]: the input cross-correlated
    with the output gradient. dx is the full convolution of g with the kernel: g spread out by the
    stride (zeros between), padded by k - 1 all round, cross-correlated with the kernel flipped in
    both axes and with in/out channels swapped; then the padding's rows and columns are cut off.
    db[o] = Σ_{n,h,v} g[n, o, h, v].
    """
    xp, w, g = _padded(x, padding), np.asarray(w, dtype=np.float64), np.asarray(g, dtype=np.float64)
    (n, c, hp, wp), (o, _, kh, kw), (_, _, ho, wo) = xp.shape, w.shape, g.shape
    dw = np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride]
            dw[:, :, i, j] = np.einsum("nchv,nohv->oc", tap, g)
    spread = np.zeros((n, o, stride * (ho - 1) + 1, stride * (wo - 1) + 1))
    spread[:, :, ::stride, ::stride] = g
    full = np.pad(spread, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    dxp = np.zeros((n, c, hp, wp))
    reached = conv2d_forward(full, flipped, np.zeros(c))  # rows the forward never read stay 0
    dxp[:, :, : reached.shape[2], : reached.shape[3]] = reached
    dx = dxp[:, :, padding : hp - padding, padding : wp - padding]
    return dx, dw, g.sum(axis=(0, 2, 3))


def max_pool_forward(x: np.ndarray, k: int = 2) -> np.ndarray:
    """The maximum of each k x k tile (stride k): x (N, C, H, W) with H and W multiples of k."""
    x = np.asarray(x, dtype=np.float64)
    n, c, h, w = x.shape
    if h % k or w % k:
        raise ValueError(f"max_pool_forward: height and width {h}x{w} must be multiples of k={k}")
    return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))


def max_pool_gradient(x: np.ndarray, g: np.ndarray, k: int = 2) -> np.ndarray:
    """dC/dx of k x k max-pooling: each tile's gradient g goes to the arg-max of the tile (the only
    input that moves the output), split evenly between tied maxima; every other input gets 0."""
    x, g = np.asarray(x, dtype=np.float64), np.asarray(g, dtype=np.float64)
    n, c, h, w = x.shape
    tiles = x.reshape(n, c, h // k, k, w // k, k)
    winners = tiles == tiles.max(axis=(3, 5), keepdims=True)
    share = g[:, :, :, None, :, None] / winners.sum(axis=(3, 5), keepdims=True)
    return (winners * share).reshape(n, c, h, w)
