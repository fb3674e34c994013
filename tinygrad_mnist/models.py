"""The named MNIST models, each with its recipe, in one registry: the command line, examples and docs all
build (and train) the same networks.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygrad_mnist import nn

#: the losses a recipe may name (recipes.LOSSES implements them; models sit below recipes, so by name)
LOSS_NAMES = ("cross_entropy", "squared_error", "quadratic_cost")

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
    """The convolutional network `MnistCNN`: over 99.2% test accuracy in the three epochs of its recipe."""
    return MnistCNN(seed)


@dataclass(frozen=True)
class Recipe:
    """Default training settings of one named model (every field can be overridden on the command line)."""

    loss: str
    lr: float
    batch_size: int
    epochs: int
    optimizer: str = "sgd"
    momentum: float = 0.0  # SGD's; "onecycle" cycles it between 0.95 and 0.85 instead
    nesterov: bool = False  # SGD's Nesterov momentum: the gradient taken a step ahead
    train_size: int = 60_000  # the first N training images; the classic set-ups use 50,000
    log_every: int = 1  # evaluate and print every N epochs (full-batch runs have hundreds)
    lr_schedule: str = "constant"  # or "cosine": decay to 0 over the run; "onecycle": per batch, lr the peak
    pct_start: float = 0.3  # "onecycle": the fraction of the run spent warming up to the peak lr
    augment: bool = False  # random small affine warps of the training images (data.augment)
    description: str = ""


@dataclass(frozen=True)
class NamedModel:
    """One entry of the registry: how to build the network, and how it is trained by default."""

    build: Callable[..., nn.Module]
    recipe: Recipe


MODELS: dict[str, NamedModel] = {
    "mlp": NamedModel(
        mlp,
        Recipe(
            "cross_entropy",
            lr=0.4,
            batch_size=128,
            epochs=3,
            momentum=0.9,
            nesterov=True,
            lr_schedule="onecycle",
            pct_start=0.25,
            description="784-256-256-10 ReLU, cross-entropy, SGD with Nesterov momentum, one-cycle learning rate",
        ),
    ),
    "mlp-128": NamedModel(
        mlp_128,
        Recipe(
            "cross_entropy",
            lr=0.1,
            batch_size=128,
            epochs=5,
            momentum=0.9,
            description="784-128-10 ReLU, cross-entropy, SGD with momentum 0.9",
        ),
    ),
    "sigmoid-24": NamedModel(
        sigmoid_24,
        Recipe(
            "squared_error",
            lr=0.01,
            batch_size=1,
            epochs=3,
            train_size=50_000,
            description="784-24-10 sigmoid everywhere, cost sum((out - onehot)^2), per-sample SGD",
        ),
    ),
    "sigmoid-16-16": NamedModel(
        sigmoid_16_16,
        Recipe(
            "quadratic_cost",
            lr=3.0,
            batch_size=10,
            epochs=3,
            train_size=50_000,
            description="784-16-16-10 sigmoid, quadratic cost 1/(2m) sum ||a - y||^2, mini-batch SGD",
        ),
    ),
    "relu-10": NamedModel(
        relu_10,
        Recipe(
            "cross_entropy",
            lr=0.1,
            batch_size=50_000,
            epochs=500,
            train_size=50_000,
            log_every=50,
            description="784-10-10 ReLU then softmax, cross-entropy, full-batch gradient descent",
        ),
    ),
    "cnn": NamedModel(
        cnn,
        Recipe(
            "cross_entropy",
            lr=1e-2,
            batch_size=128,
            epochs=3,
            optimizer="adamw",
            lr_schedule="onecycle",
            pct_start=0.2,
            description="2 conv blocks (batch norm, max-pool) + 128 + 10, AdamW, one-cycle learning rate",
        ),
    ),
}


def build_model(name: str, seed: int = 0) -> nn.Module:
    """The model registered as `name`, with weights drawn from `seed`."""
    try:
        builder = MODELS[name].build
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
    return builder(seed=seed)


def load_trained_model(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The model a checkpoint was trained as, with its weights, in eval mode, and the checkpoint's metadata.

    The checkpoint's layer description (`checkpoint.save` writes one for any `nn.Sequential` of our
    layers) is rebuilt, after checking that its parameter shapes are the saved tensors' shapes; an
    older checkpoint without one is rebuilt from the registry name in its metadata ("model").
    Raises CheckpointError naming the file when neither is usable, or the metadata is malformed.
    """
    from tinygrad_mnist.architecture import ArchitectureError, build, parameter_shapes
    from tinygrad_mnist.checkpoint import CheckpointError, load, load_into

    checkpoint = load(path)
    metadata = checkpoint.metadata
    _check_metadata(path, metadata, CheckpointError)
    name = metadata.get("model")
    if checkpoint.layers is not None:
        try:
            shapes = parameter_shapes(checkpoint.layers)
        except ArchitectureError as error:
            raise CheckpointError(
                f"{path}: the checkpoint's layer description is malformed: {error}"
            ) from None
        saved = {key: tuple(array.shape) for key, array in checkpoint.state_dict.items()}
        if shapes != saved:
            raise CheckpointError(
                f"{path}: the layer description's parameters {_shapes(shapes)} are not the saved tensors "
                f"{_shapes(saved)}; the file was altered or damaged"
            )
        model = build(checkpoint.layers)
    elif name in MODELS:
        model = build_model(name)
    else:
        raise CheckpointError(
            f"{path}: the checkpoint has no layer description and its metadata names no known model "
            f"({name!r}); it was saved from a model with a layer of its own: rebuild that model in Python "
            f"and use checkpoint.load_into(model, path). Known models: {', '.join(MODELS)}"
        )
    load_into(model, checkpoint)
    model.eval()
    return model, metadata


def _check_metadata(path: str | os.PathLike[str], metadata: dict[str, Any], error: type[Exception]) -> None:
    """The metadata keys the command line reads must have the right type (a file may say anything)."""
    name, loss = metadata.get("model"), metadata.get("loss")
    if name is not None and not isinstance(name, str):
        raise error(f"{path}: metadata 'model' must be a model name (a string), got {type(name).__name__}")
    if loss is not None and (not isinstance(loss, str) or loss not in LOSS_NAMES):
        shown = repr(loss) if isinstance(loss, str) else f"a {type(loss).__name__}"
        raise error(f"{path}: metadata 'loss' must be one of {', '.join(LOSS_NAMES)}, got {shown}")


def _shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    items = [f"{k} {v}" for k, v in list(shapes.items())[:4]]
    return "{" + ", ".join(items) + (", ..." if len(shapes) > 4 else "") + "}"
