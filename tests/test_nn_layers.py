"""Layers' forward values against numpy, initialisation, dtypes, and input errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn


def test_linear_shapes_forward_and_pytorch_default_init():
    layer = nn.Linear(400, 30, rng=0)
    assert layer.weight.shape == (30, 400) and layer.bias.shape == (30,)
    bound = 1 / np.sqrt(400)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32
        assert np.all(np.abs(p.data) <= bound)
    # Uniform on [-k, k]: fills the interval (max near k), centred, with the uniform's variance k^2 / 3.
    w = layer.weight.data
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.mean()) < 0.02 * bound
    assert abs(w.var() - bound**2 / 3) < 0.03 * bound**2
    x = np.random.default_rng(1).standard_normal((7, 400)).astype(np.float32)
    np.testing.assert_allclose(layer(x).data, x @ w.T + layer.bias.data, rtol=1e-5, atol=1e-6)


def test_linear_without_bias_and_batched_input():
    layer = nn.Linear(3, 2, bias=False, rng=0, dtype=np.float64)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.random.default_rng(0).standard_normal((4, 5, 3))
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data.T)


def test_linear_records_one_fused_op_with_its_gradients():
    """One `linear` node whose inputs are x, weight, bias (no bias: x, weight), and whose gradients
    are the textbook dX = g·W, dW = gᵀ·x, db = Σg."""
    layer = nn.Linear(3, 2, rng=0, dtype=np.float64)
    x = Tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True, dtype=np.float64)
    out = layer(x)
    assert out.op == "linear" and out.parents == (x, layer.weight, layer.bias)
    g = np.random.default_rng(3).standard_normal((4, 2))
    out.backward(g)
    np.testing.assert_allclose(x.grad, g @ layer.weight.data, rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, g.T @ x.data, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=1e-12)
    no_bias = nn.Linear(3, 2, bias=False, rng=0)
    out = no_bias(np.ones((1, 3)))
    assert out.op == "linear" and out.parents[1:] == (no_bias.weight,)


def test_linear_float64_model_stays_float64():
    layer = nn.Linear(3, 2, rng=0, dtype=np.float64)
    out = layer(np.ones((1, 3)))
    assert layer.weight.dtype == layer.bias.dtype == out.dtype == np.float64
    out.sum().backward()
    assert layer.weight.grad.dtype == np.float64


def test_linear_input_errors_name_the_shapes_and_dtypes():
    layer = nn.Linear(784, 10)
    with pytest.raises(ValueError, match=r"\(8, 28, 28\).*784.*Flatten"):
        layer(np.zeros((8, 28, 28)))
    with pytest.raises(TypeError, match="float64.*float32"):
        layer(Tensor(np.zeros((2, 784)), requires_grad=True, dtype=np.float64))
    # Plain data (uint8 pixels, float64 arrays) is converted to the parameters' dtype.
    assert layer(np.zeros((2, 784), dtype=np.uint8)).dtype == np.float32
    assert layer(np.zeros((2, 784))).dtype == np.float32
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match="in_features"):
            nn.Linear(bad, 3)
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(2, 3, dtype=np.int32)
    with pytest.raises(TypeError, match="seed"):
        nn.Linear(2, 3, rng="seed")


def test_reset_parameters_redraws_from_the_given_seed():
    a = nn.Linear(5, 4, rng=3)
    b = nn.Linear(5, 4, rng=9)
    b.reset_parameters(3)
    assert (
        a.weight.data.tobytes() == b.weight.data.tobytes() and a.bias.data.tobytes() == b.bias.data.tobytes()
    )


@pytest.mark.parametrize(
    ("layer", "reference"),
    [
        (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.Tanh(), np.tanh),
        (nn.Softmax(dim=-1), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
        (nn.Softmax(dim=0), lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True)),
        (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
        (nn.LogSoftmax(dim=0), lambda x: x - np.log(np.exp(x).sum(0, keepdims=True))),
    ],
    ids=lambda v: repr(v) if isinstance(v, nn.Module) else "",
)
def test_activations_match_numpy_and_keep_float32(layer, reference):
    x = np.random.default_rng(0).standard_normal((4, 6)) * 3
    out = layer(Tensor(x, dtype=np.float64))
    np.testing.assert_allclose(out.data, reference(x), rtol=1e-12, atol=1e-12)
    assert layer(Tensor(x)).dtype == np.float32
    assert layer(x.astype(np.float32)).dtype == np.float32  # plain arrays are accepted too


def test_softmax_is_stable_for_huge_logits():
    out = nn.Softmax()(Tensor([[1000.0, 0.0, -1000.0]], dtype=np.float64))
    np.testing.assert_allclose(out.data, [[1.0, 0.0, 0.0]])
    logp = nn.LogSoftmax()(Tensor([[1000.0, 0.0]], dtype=np.float64))
    np.testing.assert_allclose(logp.data, [[0.0, -1000.0]])


def test_flatten_shapes_and_errors():
    x = Tensor(np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten()(x).data, x.data.reshape(2, 60))
    assert nn.Flatten()(np.zeros((0, 28, 28))).shape == (0, 784)  # an empty batch still flattens
    with pytest.raises(ValueError, match="out of range"):
        nn.Flatten(3)(Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="after end_dim"):
        nn.Flatten(2, 1)(x)
