"""Every layer's and loss's gradient against finite differences (float64, the engine's gradcheck).

Outputs are reduced with random, non-uniform weights (a plain `.mean()` would hide a gradient that is
wrong by a permutation or a constant per element) and parameters are checked as well as inputs.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mnist import Tensor, gradcheck, nn
from tinygrad_mnist.nn import functional as F
from tinygrad_mnist.testing import arrays, kink_free_tensors, shapes, tensors

seeds = st.integers(0, 2**32 - 1)
reductions = st.sampled_from(["mean", "sum", "none"])


def weights_like(shape, seed):
    """Random weights in +-[0.5, 2]: every output element counts differently, none counts zero."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def check_module(module: nn.Module, x: Tensor, seed: int) -> None:
    """gradcheck `sum(weights * module(x))` with respect to x and every parameter of the module."""
    named = list(module.named_parameters())
    owners = dict(module.named_modules())
    weights = weights_like(module(x).shape, seed)

    def fn(x, *params):
        for (name, _), param in zip(named, params):
            owner, _, attr = name.rpartition(".")
            setattr(owners[owner], attr, param)  # the module now computes with gradcheck's leaves
        assert all(a is b for a, b in zip(module.parameters(), params))  # so a parameter can't go unchecked
        return (module(x) * weights).sum()

    leaves = [Tensor(p.data, requires_grad=True, dtype=np.float64, name=n) for n, p in named]
    gradcheck(fn, [x, *leaves])


def weighted(out: Tensor, seed: int) -> Tensor:
    return (out * weights_like(out.shape, seed)).sum() if out.ndim else out * weights_like((), seed)


@st.composite
def linear_cases(draw):
    batch, fan_in, fan_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layer = nn.Linear(fan_in, fan_out, bias=draw(st.booleans()), rng=draw(seeds), dtype=np.float64)
    return layer, draw(tensors(shape=(batch, fan_in)))


@given(linear_cases(), seeds)
def test_linear_gradients(case, seed):
    layer, x = case
    check_module(layer, x, seed)


@given(tensors(shape=shapes(1, 3)), st.sampled_from([nn.Sigmoid, nn.Tanh]), seeds)
def test_smooth_activation_gradients(x, layer, seed):
    check_module(layer(), x, seed)


@given(kink_free_tensors("relu", shape=shapes(1, 3)), seeds)
def test_relu_gradients(x, seed):
    check_module(nn.ReLU(), x, seed)


@given(tensors(shape=shapes(2, 3)), st.sampled_from([nn.Softmax, nn.LogSoftmax]), st.integers(-2, 1), seeds)
def test_softmax_gradients(x, layer, dim, seed):
    check_module(layer(dim=dim), x, seed)


@given(tensors(shape=shapes(2, 4, max_side=3)), seeds)
def test_flatten_gradients(x, seed):
    check_module(nn.Flatten(), x, seed)


@given(seeds, seeds)
def test_mlp_gradients_through_every_layer(model_seed, seed):
    gen = np.random.default_rng(model_seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, 4, rng=gen, dtype=np.float64),
        nn.Sigmoid(),
        nn.Linear(4, 3, rng=gen, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(3, 3, rng=gen, dtype=np.float64),
        nn.LogSoftmax(),
    )
    x = Tensor(np.random.default_rng(seed).standard_normal((2, 2, 3)), requires_grad=True, dtype=np.float64)
    check_module(model, x, seed)


@given(arrays(shape=shapes(1, 3)), st.data(), reductions, seeds)
def test_mse_loss_gradients_for_input_and_target(input, data, reduction, seed):
    target = data.draw(arrays(shape=input.shape))
    inputs = [
        Tensor(input, requires_grad=True, dtype=np.float64),
        Tensor(target, requires_grad=True, dtype=np.float64),
    ]
    gradcheck(lambda a, b: weighted(nn.MSELoss(reduction)(a, b), seed), inputs)


@st.composite
def logits_and_labels(draw):
    n, classes = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    logits = draw(tensors(shape=(n, classes)))
    labels = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    return logits, labels


@given(logits_and_labels(), reductions, st.booleans(), seeds)
def test_cross_entropy_gradients(case, reduction, labels_as_tensor, seed):
    logits, labels = case
    target = Tensor(labels) if labels_as_tensor else labels
    gradcheck(lambda z: weighted(nn.CrossEntropyLoss(reduction)(z, target), seed), [logits])


@given(logits_and_labels(), reductions, seeds)
def test_cross_entropy_gradients_with_probability_targets(case, reduction, seed):
    logits, _ = case
    probs = np.random.default_rng(seed).dirichlet(np.ones(logits.shape[1]), size=logits.shape[0])
    gradcheck(lambda z: weighted(F.cross_entropy(z, probs, reduction), seed), [logits])


@given(logits_and_labels(), reductions, seeds)
def test_nll_loss_gradients(case, reduction, seed):
    logp, labels = case
    gradcheck(lambda z: weighted(nn.NLLLoss(reduction)(z, labels), seed), [logp])


@given(logits_and_labels(), seeds)
def test_log_softmax_then_nll_equals_fused_cross_entropy(case, seed):
    logits, labels = case
    fused = Tensor(logits.data, requires_grad=True, dtype=np.float64)
    composed = Tensor(logits.data, requires_grad=True, dtype=np.float64)
    a = nn.CrossEntropyLoss()(fused, labels)
    b = nn.NLLLoss()(nn.LogSoftmax()(composed), labels)
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.grad, composed.grad, rtol=1e-10, atol=1e-12)
    # The fused gradient is (softmax - onehot) / N.
    softmax = np.exp(logits.data) / np.exp(logits.data).sum(1, keepdims=True)
    expected = (softmax - np.eye(logits.shape[1])[labels]) / len(labels)
    np.testing.assert_allclose(fused.grad, expected, rtol=1e-10, atol=1e-12)
