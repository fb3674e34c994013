"""What the page shows about one digit: the prediction, the hidden activations, and a saliency map.

The saliency map is backprop pointed the other way. Training asks "how does the loss change when a
*weight* moves?" and reads `weight.grad`; here we ask "how does the predicted class's score change when
an *input pixel* moves?" and read `x.grad`. Same graph, same `backward()`: the only difference is that
the input is created with `requires_grad=True`. A positive value means more ink on that pixel would
raise the score; a negative one that ink there argues against the digit.

    result = explain(model, image)        # image: (28, 28) float32 in [0, 1], MNIST's form
    result.digit, result.probabilities, result.saliency, result.activations
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_mnist import Tensor, nn
from tinygrad_mnist.predict import has_sigmoid_output, predict_proba

HIDDEN_TYPES = (nn.ReLU, nn.Sigmoid, nn.Tanh)  # a hidden layer's output is what its activation returns
MAX_UNITS_SHOWN = 4096  # larger layers (convolution maps) are left out of the response


@dataclass
class Explanation:
    digit: int
    probabilities: np.ndarray  # (10,), as `predict` prints them
    score_name: str  # what the saliency differentiates, e.g. "logit of 7"
    saliency: np.ndarray  # (28, 28): d score / d pixel
    activations: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (layer name, values)


_lock = threading.Lock()  # backward() also fills the parameters' .grad: one explanation at a time


def _array(grad: Any) -> np.ndarray:
    return grad.data if isinstance(grad, Tensor) else np.asarray(grad)


def explain(model: Any, image: np.ndarray) -> Explanation:
    """Predict `image` (28x28 in [0, 1]) and explain it: saliency by backward() to the input."""
    image = np.asarray(image, dtype=np.float32).reshape(1, 784)
    probabilities = predict_proba(model, image)[0]
    digit = int(np.argmax(probabilities))
    with _lock:
        model.eval()
        x = Tensor(image, requires_grad=True)
        out, activations = _forward_recording(model, x)
        score = out[0, digit]  # the class's logit (or its sigmoid output for the classic nets)
        score.backward()
        saliency = _array(x.grad).reshape(28, 28).astype(np.float32)
        model.zero_grad()  # the parameters' gradients were a by-product; don't keep them around
    kind = "sigmoid output" if has_sigmoid_output(model) else "logit"
    return Explanation(digit, probabilities, f"{kind} of {digit}", saliency, activations)


def _forward_recording(model: Any, x: Tensor) -> tuple[Tensor, list[tuple[str, np.ndarray]]]:
    """Run the model layer by layer (a Sequential), keeping each hidden activation; other models in one call."""
    if not isinstance(model, nn.Sequential):
        return model(x), []
    layers = list(model.named_children())
    activations = []
    h = x
    for i, (name, layer) in enumerate(layers):
        h = layer(h)
        if i < len(layers) - 1 and isinstance(layer, HIDDEN_TYPES) and h.data[0].size <= MAX_UNITS_SHOWN:
            activations.append((name, h.data[0].copy()))
    return h, activations


def first_layer_weights(model: Any) -> tuple[str, np.ndarray] | None:
    """(name, (units, 784) array) of the first weight matrix that reads the 784 pixels, if there is one."""
    for name, value in model.state_dict().items():
        if name.endswith("weight") and value.ndim == 2 and value.shape[1] == 784:
            return name, value
    return None
