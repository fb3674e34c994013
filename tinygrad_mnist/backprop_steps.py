"""Backprop for one digit, step by step: a model's loss on one image, traced, with the seeds' formulas alongside.

    trace, annotations = digit_backprop("sigmoid-16-16", model, image, label)
    explain_digit("sigmoid-16-16", model, image, label, "backprop.html")

For the three classic networks the steps are labelled with the hand-derived quantity they equal, computed
by `tinygrad_mnist.handderived` (plain numpy, no autograd) and shown next to autograd's numbers:

- 784-24-10 and 784-16-16-10 sigmoid, squared error: ∂C/∂a⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y), δ⁽ˡ⁾ = ∂C/∂z⁽ˡ⁾,
  ∂C/∂W⁽ˡ⁾ = δ⁽ˡ⁾a⁽ˡ⁻¹⁾ᵀ, ∂C/∂b⁽ˡ⁾ = δ⁽ˡ⁾ (docs/backprop.md, section 1). sigmoid-16-16 trains with
  the quadratic cost ½Σ(a − y)², so its values are half the write-up's (said on the page).
- 784-10-10 ReLU + softmax + cross-entropy: dZ2 = A2 − Y, dW2, db2, dZ1 = W2ᵀdZ2 ⊙ g'(Z1), dW1, db1
  (section 2; one sample, m = 1).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_mnist import handderived, optim
from tinygrad_mnist.atomic import atomic_write_text
from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.predict import predict_proba
from tinygrad_mnist.recipes import get_recipe, make_loss
from tinygrad_mnist.viz import Annotation, BackwardTrace, trace_backward
from tinygrad_mnist.viz.stepper import backprop_page

DOC = Path(__file__).resolve().parents[1] / "docs" / "backprop.md"
SIGMOID_SECTION = "1-sigmoid-network-squared-error-one-sample"
SOFTMAX_SECTION = "2-relu--softmax--cross-entropy-one-column-per-sample"
SIGMOID_MODELS = {"sigmoid-24": 1.0, "sigmoid-16-16": 0.5}  # model -> its cost as a multiple of Σ(a − y)²
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _link(section: str) -> str:
    """The docs section, as a file link where the docs are on disk (a source checkout), else its name."""
    return f"{DOC.as_uri()}#{section}" if DOC.is_file() else f"docs/backprop.md#{section}"


def digit_loss(model_name: str, model: Any, image: np.ndarray, label: int) -> Tensor:
    """The loss `model_name` trains with, on one image (784 pixels in [0, 1]) with its true `label`."""
    x = Tensor(np.asarray(image, dtype=np.float32).reshape(1, 784), name="image")
    loss = make_loss(get_recipe(model_name).loss)(model(x), np.array([label]))
    loss.name = "loss"
    return loss


def _layers(model: Any) -> list[tuple[str, Any]]:
    return [(name, m) for name, m in model.named_modules() if name.startswith("fc")]


def _steps_by_role(trace: BackwardTrace, model: Any) -> dict[str, int]:
    """Step index of each parameter ("fc1.weight"), of each layer's output z ("fc1"), and of the
    activation each layer's z feeds ("act1", the op whose input is fc1's output)."""
    names = {id(p): n for n, p in model.named_parameters()}
    roles: dict[str, int] = {}
    z_of: dict[int, str] = {}
    for s in trace.steps:
        if s.op is None and id(s.tensor) in names:
            roles[names[id(s.tensor)]] = s.index
        for h in s.handed:
            if s.op == "linear" and id(h.input) in names:
                layer = names[id(h.input)].split(".")[0]
                roles[layer] = s.index
                z_of[id(s.tensor)] = layer
    for s in trace.steps:
        for h in s.handed:
            if id(h.input) in z_of and s.op != "linear":
                roles["act" + z_of[id(h.input)][2:]] = s.index
    return roles


def sigmoid_annotations(
    model_name: str, model: Any, image: np.ndarray, label: int, trace: BackwardTrace
) -> dict[int, list[Annotation]]:
    """δ⁽ˡ⁾, ∂C/∂W⁽ˡ⁾, ∂C/∂b⁽ˡ⁾ and ∂C/∂a⁽ᴸ⁾ from `handderived.sigmoid_squared_error_gradients`."""
    factor = SIGMOID_MODELS[model_name]
    layers = _layers(model)
    ws = [m.weight.data for _, m in layers]
    bs = [m.bias.data for _, m in layers]
    x = np.asarray(image, dtype=np.float64).reshape(784)
    y = np.eye(10)[label]
    grad_w, grad_b = handderived.sigmoid_squared_error_gradients(ws, bs, x, y)
    _, activations = handderived.sigmoid_network_forward(ws, bs, x)
    note = "" if factor == 1 else "½ × the write-up's, as this model's cost is ½ Σ (a − y)²"
    roles = _steps_by_role(trace, model)
    link = _link(SIGMOID_SECTION)
    out: dict[int, list[Annotation]] = {}

    def add(role: str, quantity: str, formula: str, value: np.ndarray) -> None:
        out.setdefault(roles[role], []).append(Annotation(quantity, formula, factor * value, link, note))

    n = len(layers)
    add(f"act{n}", "∂C/∂a⁽ᴸ⁾", "∂C/∂a⁽ᴸ⁾ = 2 (a⁽ᴸ⁾ − y)", 2 * (activations[-1] - y))
    for i, (name, _) in enumerate(layers):
        sup = str(i + 1).translate(SUPERSCRIPTS)
        if i == n - 1:
            formula = "δ⁽ᴸ⁾ = 2 (a⁽ᴸ⁾ − y) ⊙ σ'(z⁽ᴸ⁾)"
        else:
            formula = f"δ{'⁽' + sup + '⁾'} = σ'(z⁽{sup}⁾) ⊙ W⁽{str(i + 2).translate(SUPERSCRIPTS)}⁾ᵀ δ⁽{str(i + 2).translate(SUPERSCRIPTS)}⁾"
        add(name, f"δ⁽{sup}⁾ = ∂C/∂z⁽{sup}⁾", formula, grad_b[i])
        add(
            f"{name}.weight",
            f"∂C/∂W⁽{sup}⁾",
            f"∂C/∂W⁽{sup}⁾ = δ⁽{sup}⁾ a⁽{str(i).translate(SUPERSCRIPTS)}⁾ᵀ",
            grad_w[i],
        )
        add(f"{name}.bias", f"∂C/∂b⁽{sup}⁾", f"∂C/∂b⁽{sup}⁾ = δ⁽{sup}⁾", grad_b[i])
    return out


def softmax_annotations(
    model: Any, image: np.ndarray, label: int, trace: BackwardTrace
) -> dict[int, list[Annotation]]:
    """dZ2, dW2, db2, dZ1, dW1, db1 of the six-line derivation (`handderived.relu_softmax_...`), m = 1."""
    (_, fc1), (_, fc2) = _layers(model)
    W1, b1 = fc1.weight.data, fc1.bias.data.reshape(-1, 1)
    W2, b2 = fc2.weight.data, fc2.bias.data.reshape(-1, 1)
    X = np.asarray(image, dtype=np.float64).reshape(784, 1)
    Y = handderived.one_hot_columns(np.array([label]), 10)
    forward = handderived.relu_softmax_forward(W1, b1, W2, b2, X)
    grads = handderived.relu_softmax_cross_entropy_gradients(W1, b1, W2, b2, X, Y)
    dZ2 = forward.A2 - Y
    dZ1 = (np.asarray(W2, dtype=np.float64).T @ dZ2) * handderived.relu_prime(forward.Z1)
    roles = _steps_by_role(trace, model)
    link = _link(SOFTMAX_SECTION)
    table = [
        ("fc2", "dZ2", "dZ2 = A2 − Y", dZ2),
        ("fc2.weight", "dW2", "dW2 = dZ2 A1ᵀ / m", grads.dW2),
        ("fc2.bias", "db2", "db2 = Σ dZ2 / m", grads.db2),
        ("fc1", "dZ1", "dZ1 = W2ᵀ dZ2 ⊙ g'(Z1)", dZ1),
        ("fc1.weight", "dW1", "dW1 = dZ1 Xᵀ / m", grads.dW1),
        ("fc1.bias", "db1", "db1 = Σ dZ1 / m", grads.db1),
    ]
    out: dict[int, list[Annotation]] = {}
    for role, quantity, formula, value in table:
        as_engine = value.T if value.shape[1] == 1 else value  # columns become the engine's rows
        out.setdefault(roles[role], []).append(
            Annotation(quantity, formula, as_engine, link, "one sample: m = 1")
        )
    return out


def classic_annotations(
    model_name: str, model: Any, image: np.ndarray, label: int, trace: BackwardTrace
) -> dict[int, list[Annotation]]:
    """The hand-derived quantities for the classic networks; {} for any other model."""
    if model_name in SIGMOID_MODELS:
        return sigmoid_annotations(model_name, model, image, label, trace)
    if model_name == "relu-10":
        return softmax_annotations(model, image, label, trace)
    return {}


def digit_backprop(
    model_name: str, model: Any, image: np.ndarray, label: int
) -> tuple[BackwardTrace, dict[int, list[Annotation]]]:
    """Trace the backward pass of `model_name`'s loss on one image, and the hand-derived labels of its steps."""
    if not 0 <= int(label) <= 9:
        raise ValueError(f"label must be a digit 0-9, got {label}")
    model.zero_grad()
    trace = trace_backward(digit_loss(model_name, model, image, int(label)), module=model)
    return trace, classic_annotations(model_name, model, image, int(label), trace)


@dataclass
class SGDStep:
    """What one plain SGD step on this one digit does to the prediction (on a copy of the model)."""

    lr: float
    label: int
    before: np.ndarray  # (10,) probabilities (or normalised sigmoid scores) before the step
    after: np.ndarray

    def describe(self) -> str:
        b, a = self.before, self.after
        return (
            f"one SGD step on this digit (lr = {self.lr:g}, the recipe's) moves the output for {self.label} "
            f"from {b[self.label]:.3f} to {a[self.label]:.3f}; the prediction from {int(b.argmax())} to "
            f"{int(a.argmax())}"
        )


def one_sgd_step(
    model_name: str, model: Any, image: np.ndarray, label: int, lr: float | None = None
) -> SGDStep:
    """Take `W ← W − lr ∂C/∂W` once on a copy of `model` for this one image (the model is left as it was)."""
    lr = get_recipe(model_name).lr if lr is None else lr
    x = np.asarray(image, dtype=np.float32).reshape(1, 784)
    clone = copy.deepcopy(model)
    clone.zero_grad()
    before = predict_proba(clone, x)[0]
    clone.train()
    digit_loss(model_name, clone, image, label).backward()
    optim.SGD(clone.parameters(), lr=lr).step()
    return SGDStep(lr, int(label), before, predict_proba(clone, x)[0])


def explain_digit_page(
    model_name: str, model: Any, image: np.ndarray, label: int, weights: str = ""
) -> tuple[str, SGDStep]:
    """The stepping page (HTML) of `model_name`'s backward pass on one image with true `label`, with what one
    SGD step on it would do to the prediction (also returned)."""
    step = one_sgd_step(model_name, model, image, label)
    trace, annotations = digit_backprop(model_name, model, image, label)
    subtitle = f"{model_name} ({get_recipe(model_name).description}); one image, true label {label}"
    if weights:
        subtitle += f"; weights: {weights}"
    page = backprop_page(
        trace,
        module=model,
        title=f"Step through backprop: {model_name}",
        subtitle=subtitle,
        annotations=annotations,
        notes=[step.describe()],
    )
    return page, step


def explain_digit(
    model_name: str,
    model: Any,
    image: np.ndarray,
    label: int,
    path: str | os.PathLike[str],
    weights: str = "",
) -> Path:
    """Write `explain_digit_page` to `path` (atomically)."""
    page, _ = explain_digit_page(model_name, model, image, label, weights)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path
