"""Loss values against numpy formulas, one_hot, dtypes, and the shape/label errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn
from tinygrad_mnist.nn import functional as F

rng = np.random.default_rng(0)
LOGITS = rng.standard_normal((5, 4)) * 2
LABELS = np.array([0, 3, 1, 1, 2])


def _log_softmax(z):
    return z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))


def test_mse_loss_values_and_the_classic_sum_cost():
    out, target = rng.random((5, 4)), rng.random((5, 4))
    x = Tensor(out, dtype=np.float64)
    assert nn.MSELoss()(x, target).item() == pytest.approx(((out - target) ** 2).mean(), rel=1e-12)
    assert nn.MSELoss("sum")(x, target).item() == pytest.approx(((out - target) ** 2).sum(), rel=1e-12)
    np.testing.assert_allclose(nn.MSELoss("none")(x, target).data, (out - target) ** 2)
    # The tutorial cost sum((out - onehot)^2) is MSELoss(reduction="sum") against one_hot labels.
    onehot = np.eye(4)[LABELS]
    classic = ((out - onehot) ** 2).sum()
    assert nn.MSELoss(reduction="sum")(x, F.one_hot(LABELS, 4, dtype=np.float64)).item() == pytest.approx(
        classic
    )


def test_mse_loss_refuses_to_broadcast_and_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(5,\).*one_hot"):
        nn.MSELoss()(Tensor(LOGITS), LABELS)
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(1, 4\)"):
        nn.MSELoss()(Tensor(LOGITS), np.ones((1, 4)))


def test_mse_loss_is_one_fused_op_and_the_engine_op_checks_its_arguments():
    x = Tensor(LOGITS, requires_grad=True)
    for reduction, shape in (("mean", ()), ("sum", ()), ("none", (5, 4))):
        loss = nn.MSELoss(reduction)(x, np.ones((5, 4)))
        assert loss.op == "mse_loss" and loss.shape == shape and loss.parents[0] is x
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(5, 4\) and target shape \(4,\)"):
        x.mse_loss(np.ones(4))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'max'"):
        x.mse_loss(np.ones((5, 4)), reduction="max")


def test_mse_loss_keeps_float32_and_target_dtype_does_not_leak():
    x = Tensor(LOGITS, requires_grad=True)
    loss = nn.MSELoss()(x, np.ones((5, 4)))  # a float64 target array
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    with pytest.raises(TypeError, match="float64.*float32"):
        F.mse_loss(x, Tensor(np.ones((5, 4)), requires_grad=True, dtype=np.float64))


@pytest.mark.parametrize("labels", [LABELS, Tensor(LABELS), list(LABELS), LABELS.astype(np.uint8)])
def test_cross_entropy_matches_numpy_for_every_kind_of_labels(labels):
    per_row = -_log_softmax(LOGITS)[np.arange(5), LABELS]
    x = Tensor(LOGITS, dtype=np.float64)
    assert nn.CrossEntropyLoss()(x, labels).item() == pytest.approx(per_row.mean(), rel=1e-12)
    assert nn.CrossEntropyLoss("sum")(x, labels).item() == pytest.approx(per_row.sum(), rel=1e-12)
    np.testing.assert_allclose(nn.CrossEntropyLoss("none")(x, labels).data, per_row, rtol=1e-12)


def test_cross_entropy_float32_and_label_errors():
    x = Tensor(LOGITS, requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, LABELS)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    with pytest.raises(TypeError, match="integers"):
        nn.CrossEntropyLoss()(x, LABELS.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        nn.CrossEntropyLoss()(x, LABELS[:4])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        nn.CrossEntropyLoss()(x, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


def test_nll_loss_values_and_errors():
    logp = _log_softmax(LOGITS)
    x = Tensor(logp, dtype=np.float64)
    assert nn.NLLLoss()(x, LABELS).item() == pytest.approx(-logp[np.arange(5), LABELS].mean(), rel=1e-12)
    assert nn.NLLLoss("sum")(x, Tensor(LABELS)).item() == pytest.approx(-logp[np.arange(5), LABELS].sum())
    with pytest.raises(ValueError, match=r"\(3,\).*\(5,\)"):
        nn.NLLLoss()(x, LABELS[:3])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        nn.NLLLoss()(x, np.array([0, 1, 2, 3, -1]))
    with pytest.raises(ValueError, match="2-D"):
        nn.NLLLoss()(Tensor(np.zeros(4)), np.array([0]))
    with pytest.raises(TypeError, match="integers"):
        nn.NLLLoss()(x, LABELS * 1.0)


def test_one_hot():
    encoded = F.one_hot(np.array([2, 0, 1]), 3)
    assert isinstance(encoded, Tensor) and encoded.dtype == np.float32 and not encoded.requires_grad
    np.testing.assert_array_equal(encoded.data, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert F.one_hot(Tensor(np.array([[1], [0]])), 2, dtype=np.float64).shape == (2, 1, 2)
    assert nn.one_hot(np.array([], dtype=np.int64), 10).shape == (0, 10)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(np.array([0]), 0)
    with pytest.raises(TypeError, match="integers"):
        F.one_hot(np.array([0.5]), 3)


def test_loss_modules_repr():
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"


def test_integer_inputs_are_computed_in_floating_point():
    assert F.cross_entropy(np.array([[0, 5], [5, 0]]), np.array([0, 0])).item() == pytest.approx(
        np.log(1 + np.exp(5)) / 2 + np.log(1 + np.exp(-5)) / 2, rel=1e-5
    )
    assert F.mse_loss(np.array([1, 2]), np.array([1.5, 2.5])).item() == pytest.approx(0.25)
    assert F.nll_loss(np.array([[-1, -2]]), np.array([1])).item() == pytest.approx(2.0)


def test_a_target_in_another_dtype_that_requires_grad_is_named():
    target = Tensor(np.zeros(2), requires_grad=True, dtype=np.float64)
    with pytest.raises(TypeError, match="mse_loss target: dtype float64 differs from the expected float32"):
        F.mse_loss(Tensor(np.ones(2, np.float32)), target)
