"""The hand-derived convolution and max-pool gradients (handderived.py, section 5) equal autograd's.

A small CNN (conv -> ReLU -> 2x2 max-pool -> flatten -> linear -> mean cross-entropy) is built from the
project's `nn` modules in float64; its gradients from `loss.backward()` must match the chain rule written
out by hand with rtol=1e-10, for random shapes, strides, paddings and values. docs/backprop.md, section 5.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from tinygrad_mnist import handderived as hd
from tinygrad_mnist import nn
from tinygrad_mnist.autograd import Tensor

F64 = np.float64


def assert_same(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12, err_msg=what)


@st.composite
def cnn_problems(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    k, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    ho, wo = draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 4]))
    h, w = (ho - 1) * stride + k - 2 * padding, (wo - 1) * stride + k - 2 * padding
    assume(h >= k - 2 * padding and h >= 1 and w >= 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    classes = 3
    return dict(
        x=rng.standard_normal((n, c, h, w)),
        w=rng.standard_normal((o, c, k, k)),
        b=rng.standard_normal(o),
        fc_w=rng.standard_normal((classes, o * ho * wo // 4)),
        fc_b=rng.standard_normal(classes),
        labels=rng.integers(0, classes, n),
        stride=stride,
        padding=padding,
    )


def by_hand(p):
    """The chain rule, layer by layer, from the loss back to the conv weights."""
    z = hd.conv2d_forward(p["x"], p["w"], p["b"], p["stride"], p["padding"])
    a = hd.relu(z)
    pooled = hd.max_pool_forward(a, 2)
    flat = pooled.reshape(len(pooled), -1)
    logits = flat @ p["fc_w"].T + p["fc_b"]
    n = len(logits)
    probs = hd.softmax_columns(logits.T).T
    d_logits = (probs - np.eye(logits.shape[1])[p["labels"]]) / n  # mean cross-entropy: (softmax - y) / N
    d_fc_w, d_fc_b = d_logits.T @ flat, d_logits.sum(axis=0)
    d_pooled = (d_logits @ p["fc_w"]).reshape(pooled.shape)
    d_a = hd.max_pool_gradient(a, d_pooled, 2)  # to the arg-max of each tile
    d_z = d_a * hd.relu_prime(z)
    dx, dw, db = hd.conv2d_gradients(p["x"], p["w"], d_z, p["stride"], p["padding"])
    return dict(x=dx, w=dw, b=db, fc_w=d_fc_w, fc_b=d_fc_b)


@given(cnn_problems())
def test_conv_relu_pool_linear_gradients_match_autograd(p):
    conv = nn.Conv2d(p["x"].shape[1], p["w"].shape[0], p["w"].shape[2], p["stride"], p["padding"], dtype=F64)
    fc = nn.Linear(p["fc_w"].shape[1], p["fc_w"].shape[0], dtype=F64)
    conv.weight.data[...], conv.bias.data[...] = p["w"], p["b"]
    fc.weight.data[...], fc.bias.data[...] = p["fc_w"], p["fc_b"]
    model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), fc)
    x = Tensor(p["x"], requires_grad=True, dtype=F64)
    nn.CrossEntropyLoss()(model(x), p["labels"]).backward()
    expected = by_hand(p)
    assert_same(x.grad, expected["x"], "dC/dx")
    assert_same(conv.weight.grad, expected["w"], "dC/dw (conv)")
    assert_same(conv.bias.grad, expected["b"], "dC/db (conv)")
    assert_same(fc.weight.grad, expected["fc_w"], "dC/dW (linear)")
    assert_same(fc.bias.grad, expected["fc_b"], "dC/db (linear)")


@given(cnn_problems())
def test_conv2d_forward_by_hand_matches_the_engine(p):
    x, w, b = (Tensor(p[k], dtype=F64) for k in ("x", "w", "b"))
    expected = hd.conv2d_forward(p["x"], p["w"], p["b"], p["stride"], p["padding"])
    assert_same(x.conv2d(w, b, p["stride"], p["padding"]).data, expected, "conv2d forward")


def test_max_pool_gradient_splits_ties_as_the_engine_does():
    x = np.array([[[[2.0, 2.0], [1.0, 2.0]]]])
    t = Tensor(x, requires_grad=True, dtype=F64)
    t.max_pool2d(2).sum().backward()
    assert_same(hd.max_pool_gradient(x, np.ones((1, 1, 1, 1))), t.grad, "tied maxima")
    assert_same(t.grad, np.array([[[[1 / 3, 1 / 3], [0.0, 1 / 3]]]]), "a third each")
