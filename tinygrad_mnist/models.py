"""The named MNIST architectures, so the command line, examples and docs all build the same networks.

Every model takes images as (N, 28, 28) or (N, 784) and returns (N, 10). The ReLU models return
logits: softmax lives in the loss (`nn.CrossEntropyLoss`), where it is fused and numerically stable.
The two classic sigmoid networks are sigmoid everywhere, output layer included, as in the textbook
derivations they reproduce: their outputs are activations in (0, 1) for a squared-error cost against
one-hot labels. Layers are named ("fc1", "act1", ...) rather than numbered, so parameters read as
"fc1.weight" in state dicts and graph pictures.

| name           | layers, activation                | output              | parameters |
|----------------|-----------------------------------|---------------------|-----------:|
| mlp            | 784-256-256-10, ReLU              | logits              |    269,322 |
| mlp-128        | 784-128-10, ReLU                  | logits              |    101,770 |
| sigmoid-24     | 784-24-10, sigmoid                | sigmoid activations |     19,090 |
| sigmoid-16-16  | 784-16-16-10, sigmoid             | sigmoid activations |     13,002 |
| relu-10        | 784-10-10, ReLU                   | logits              |      7,960 |
| cnn            | conv 5x5 (16), conv 3x3 (32), 128, batch norm, ReLU | logits |    207,226 |
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_mnist import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def mlp_from_sizes(
    sizes: Sequence[int], activation: str = "relu", seed: int = 0, activate_output: bool = False
) -> nn.Sequential:
    """Fully connected network `sizes[0] -> ... -> sizes[-1]`: flatten, then Linear layers with
    `activation` between them, and after the last one too if `activate_output` (otherwise it
    outputs logits). One seeded generator draws every layer's weights in order, so `seed` alone
    fixes the model."""
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in sizes):
        raise ValueError(f"mlp_from_sizes: need at least two positive int layer sizes, got {list(sizes)}")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"mlp_from_sizes: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
        )
    rng = np.random.default_rng(seed)
    layers: dict[str, nn.Module] = {"flatten": nn.Flatten()}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        layers[f"fc{i}"] = nn.Linear(fan_in, fan_out, rng=rng)
        if i < len(sizes) - 1 or activate_output:
            layers[f"act{i}"] = ACTIVATIONS[activation]()
    return nn.Sequential(layers)


def mlp(seed: int = 0) -> nn.Module:
    """784-256-256-10 with ReLU: the default model, ~98% test accuracy."""
    return mlp_from_sizes([784, 256, 256, 10], "relu", seed)


def mlp_128(seed: int = 0) -> nn.Module:
    """784-128-10 with ReLU: one hidden layer, small and fast."""
    return mlp_from_sizes([784, 128, 10], "relu", seed)


def sigmoid_24(seed: int = 0) -> nn.Module:
    """784-24-10, sigmoid everywhere (output too): the classic textbook network."""
    return mlp_from_sizes([784, 24, 10], "sigmoid", seed, activate_output=True)


def sigmoid_16_16(seed: int = 0) -> nn.Module:
    """784-16-16-10, sigmoid everywhere (output too): two small hidden layers, as in Nielsen's book."""
    return mlp_from_sizes([784, 16, 16, 10], "sigmoid", seed, activate_output=True)


def relu_10(seed: int = 0) -> nn.Module:
    """784-10-10 with ReLU: tiny, to see every weight matter."""
    return mlp_from_sizes([784, 10, 10], "relu", seed)


class MnistCNN(nn.Module):
    """A small convolutional network: two conv blocks, then a fully connected head.

        (N, 1, 28, 28) -> conv1 5x5, 16 filters -> max-pool 2x2 -> batch norm -> ReLU   (16, 14, 14)
                       -> conv2 3x3, 32 filters -> max-pool 2x2 -> batch norm -> ReLU   (32, 7, 7)
                       -> flatten 1568 -> dropout 0.25 -> fc1 128 -> ReLU -> fc2 10 logits

    Padding keeps each conv's output the size of its input, so only pooling shrinks the maps. Pooling
    comes before batch norm and ReLU (max-pool and ReLU commute, and normalising after pooling is a
    quarter of the work); the convs have no bias, since batch norm's shift replaces it.
    """

    def __init__(self, seed: int = 0, channels: tuple[int, int] = (16, 32), hidden: int = 128):
        super().__init__()
        rng = np.random.default_rng(seed)
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2, bias=False, rng=rng)
        self.pool1 = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False, rng=rng)
        self.pool2 = nn.MaxPool2d(2)
        self.bn2 = nn.BatchNorm2d(c2)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.25, rng=rng)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden, rng=rng)
        self.fc2 = nn.Linear(hidden, 10, rng=rng)

    def forward(self, x: Any) -> Any:
        x = nn.functional.as_tensor(x, self.conv1.weight.dtype, where="MnistCNN")
        if x.size % 784 or x.ndim not in (2, 3, 4):
            raise ValueError(
                f"MnistCNN: expected 28x28 images, (N, 784), (N, 28, 28) or (N, 1, 28, 28); got {x.shape}"
            )
        x = x.reshape(-1, 1, 28, 28)
        x = self.bn1(self.pool1(self.conv1(x))).relu()
        x = self.bn2(self.pool2(self.conv2(x))).relu()
        x = self.dropout(self.flatten(x))
        return self.fc2(self.fc1(x).relu())


def cnn(seed: int = 0) -> nn.Module:
    """The convolutional network `MnistCNN`: over 99.2% test accuracy in a few epochs."""
    return MnistCNN(seed)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": mlp,
    "mlp-128": mlp_128,
    "sigmoid-24": sigmoid_24,
    "sigmoid-16-16": sigmoid_16_16,
    "relu-10": relu_10,
    "cnn": cnn,
}


def build_model(name: str, seed: int = 0) -> nn.Module:
    """The model registered as `name`, with weights drawn from `seed`."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
    return builder(seed=seed)


def load_trained_model(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model a checkpoint was trained as, with its weights, in eval mode, and the checkpoint's metadata.

    Works for checkpoints written by `tinygrad-mnist train --save` (or `train.fit` with metadata naming
    the model): their metadata says which architecture to rebuild.
    """
    from tinygrad_mnist.checkpoint import CheckpointError, load, load_into

    metadata = load(path).metadata
    name = metadata.get("model")
    if name not in MODELS:
        raise CheckpointError(
            f"{path}: the checkpoint's metadata names no known model ({name!r}); was it written by "
            f"`tinygrad-mnist train --save`? Known models: {', '.join(MODELS)}"
        )
    model = build_model(name)
    load_into(model, path)
    model.eval()
    return model, metadata
