"""The classic networks' steps carry the hand-derived quantity they equal, and the numbers agree."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist.backprop_steps import digit_backprop, explain_digit
from tinygrad_mnist.models import build_model

EXPECTED = {  # model -> the labelled quantities, in the engine's backward order
    "sigmoid-24": ["∂C/∂a⁽ᴸ⁾", "δ⁽²⁾", "δ⁽¹⁾", "∂C/∂b⁽²⁾", "∂C/∂W⁽²⁾", "∂C/∂b⁽¹⁾", "∂C/∂W⁽¹⁾"],
    "sigmoid-16-16": ["∂C/∂a⁽ᴸ⁾", "δ⁽³⁾", "δ⁽²⁾", "δ⁽¹⁾", "∂C/∂b⁽³⁾", "∂C/∂W⁽³⁾", "∂C/∂b⁽²⁾", "∂C/∂W⁽²⁾",
                      "∂C/∂b⁽¹⁾", "∂C/∂W⁽¹⁾"],
    "relu-10": ["dZ2", "dZ1", "db2", "dW2", "db1", "dW1"],
}  # fmt: skip


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(784).astype(np.float32)


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("label", [0, 7])
def test_every_labelled_step_equals_handderived(name, label):
    model = build_model(name, seed=3)
    trace, annotations = digit_backprop(name, model, image(label), label)
    quantities = [a.quantity.split(" = ")[0] for k in sorted(annotations) for a in annotations[k]]
    assert quantities == EXPECTED[name]
    for k, notes in annotations.items():
        step = trace.steps[k]
        for a in notes:
            assert a.value.size == step.grad.size, a.quantity
            np.testing.assert_allclose(step.grad, a.value.reshape(step.grad.shape), rtol=1e-4, atol=1e-7)
            assert "backprop.md#" in a.link
    weight = trace.steps[max(annotations)]
    assert weight.tensor is model.fc1.weight  # the last step is the first layer's weight gradient
    np.testing.assert_array_equal(weight.grad, model.fc1.weight.grad)


def test_the_labels_would_catch_a_wrong_engine_gradient():
    """The comparison is not vacuous: the hand value differs from a perturbed autograd value."""
    model = build_model("relu-10", seed=3)
    trace, annotations = digit_backprop("relu-10", model, image(), 4)
    k = min(annotations)
    a = annotations[k][0]
    wrong = trace.steps[k].grad * 1.01
    assert not np.allclose(wrong, a.value.reshape(wrong.shape), rtol=1e-4, atol=1e-7)


def test_sigmoid_16_16_values_are_half_the_writeups_because_of_its_cost():
    model = build_model("sigmoid-16-16", seed=1)
    _, annotations = digit_backprop("sigmoid-16-16", model, image(), 3)
    assert all("½" in a.note for notes in annotations.values() for a in notes)
    model = build_model("sigmoid-24", seed=1)
    _, annotations = digit_backprop("sigmoid-24", model, image(), 3)
    assert all(a.note == "" for notes in annotations.values() for a in notes)


def test_other_models_get_a_page_without_labels(tmp_path):
    model = build_model("mlp-128")
    trace, annotations = digit_backprop("mlp-128", model, image(), 5)
    assert annotations == {} and trace.all_checks_pass
    path = explain_digit("mlp-128", model, image(), 5, tmp_path / "p.html", "seeded")
    assert "true label 5; weights: seeded" in path.read_text(encoding="utf-8")


def test_a_label_outside_0_to_9_is_refused():
    with pytest.raises(ValueError, match="label must be a digit 0-9, got 10"):
        digit_backprop("relu-10", build_model("relu-10"), image(), 10)
