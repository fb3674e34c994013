"""Engine edge cases found in review: each was a silent wrong answer or a misleading error."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, is_grad_enabled, nn, no_grad


def test_a_computed_tensor_can_be_made_a_trainable_leaf():
    w = Tensor(np.ones((2, 2))) * 0.5  # a common way to scale an initialisation
    w.requires_grad_()
    assert w.is_leaf
    (w * 3).sum().backward()
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 3.0))

    layer = nn.Linear(2, 2, rng=0)
    scaled = (Tensor(np.ones((2, 2))) * 0.1).requires_grad_()
    layer.weight = scaled  # a trainable leaf now, so the module registers it as a parameter
    assert any(p is scaled for p in layer.parameters())


def test_nested_no_grad_decorator_restores_grad_mode():
    @no_grad()
    def countdown(n: int) -> None:
        if n:
            countdown(n - 1)

    countdown(3)
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


OPS = {
    "add": lambda t: t + t * 2,
    "mul": lambda t: t * t,
    "div": lambda t: t / (t * t + 1),
    "pow": lambda t: t**3,
    "exp_log": lambda t: (t * t + 1).log().exp(),
    "sigmoid_tanh_relu": lambda t: t.sigmoid() + t.tanh() + t.relu(),
    "sum_mean_max": lambda t: t.sum(axis=1) + t.mean(axis=1) + t.max(axis=1),
    "max_with_ties": lambda t: (t * 0).max(axis=0),
    "reshape_transpose": lambda t: t.reshape(3, 2).T,
    "getitem": lambda t: t[np.array([0, 0, 1]), np.array([1, 2, 0])],
    "softmax": lambda t: t.softmax(1) + t.log_softmax(1),
    "matmul_linear": lambda t: (t @ t.T) + t.linear(t * 1, t[0, :2] * 1),
    "cross_entropy": lambda t: t.cross_entropy(np.array([0, 2])),
    "mse_loss": lambda t: t.mse_loss(t * 0.5),
}


@pytest.mark.parametrize("name", OPS)
def test_every_vjp_keeps_float32(name):
    """Checked at each node, not at the leaves (the leaf cast would hide float64 creeping in)."""
    x = Tensor(np.arange(1.0, 7.0).reshape(2, 3) / 7, requires_grad=True)
    out = OPS[name](x)
    g = np.ones(out.shape, dtype=np.float32)
    stack = [(out, g)]
    while stack:
        node, grad = stack.pop()
        if node.grad_fn is None:
            continue
        for parent, parent_grad in zip(node.parents, node.grad_fn.vjp(grad, node.data)):
            if parent_grad is not None and parent.requires_grad:
                assert parent_grad.dtype == np.float32, f"{node.op} sends {parent_grad.dtype} to its input"
                stack.append((parent, parent_grad))


def test_accumulated_leaf_gradients_keep_the_leaf_dtype():
    w = Tensor(np.ones(3), requires_grad=True)
    w.max().backward()
    (w * Tensor(np.ones(3), dtype=np.float64)).sum().backward()  # a float64 path into a float32 leaf
    assert w.grad.dtype == np.float32


def test_pow_zero_has_zero_gradient_at_zero():
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_losses_of_an_empty_batch_say_so():
    with pytest.raises(ValueError, match="empty batch"):
        Tensor(np.zeros((0, 3)), requires_grad=True).cross_entropy(np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="empty"):
        Tensor(np.zeros((0, 3)), requires_grad=True).mse_loss(np.zeros((0, 3)))


def test_cross_entropy_names_float_labels_and_refuses_trainable_soft_targets():
    logits = Tensor(np.zeros((3, 4)), requires_grad=True)
    with pytest.raises(TypeError, match="class indices must be integers"):
        logits.cross_entropy(np.array([0.0, 1.0, 2.0]))
    soft = Tensor(np.full((3, 4), 0.25), requires_grad=True)
    with pytest.raises(ValueError, match="no gradient flows into the target"):
        logits.cross_entropy(soft)
