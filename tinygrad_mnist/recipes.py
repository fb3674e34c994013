"""How each named model is trained by default: its loss, optimiser, learning rate, batch size and data.

The classic networks come with the recipes of the derivations they reproduce, so `tinygrad-mnist train
--model sigmoid-24` is the per-sample squared-error set-up, not a modern one with a classic name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np

from tinygrad_mnist import optim
from tinygrad_mnist.autograd import Tensor
from tinygrad_mnist.data import MNIST, load_mnist, preprocess
from tinygrad_mnist.models import MODELS, Recipe
from tinygrad_mnist.nn import functional as F
from tinygrad_mnist.train import LossFn


def squared_error(out: Tensor, labels: np.ndarray) -> Tensor:
    """The classic cost `C = sum_k (a_k - y_k)^2` with one-hot y, averaged over the batch.

    With batch size 1 (per-sample SGD, the classic set-up) this is exactly C of that one sample.
    """
    target = F.one_hot(labels, out.shape[1], dtype=out.dtype)  # checks the labels, so the op needn't
    cost = out.mse_loss(target, reduction="sum")  # the engine's fused op (shapes equal by construction)
    # Per-sample training is per-op overhead: no extra node to multiply by 1 (10% of its time).
    return cost if len(labels) == 1 else cost * (1.0 / len(labels))


def quadratic_cost(out: Tensor, labels: np.ndarray) -> Tensor:
    """The quadratic cost `1/(2m) sum_x ||a(x) - y(x)||^2` of mini-batch SGD write-ups (Nielsen's)."""
    return squared_error(out, labels) * 0.5


cross_entropy: LossFn = F.cross_entropy  # softmax + cross-entropy of logits, mean over the batch (fused)


LOSSES: dict[str, LossFn] = {
    "cross_entropy": cross_entropy,
    "squared_error": squared_error,
    "quadratic_cost": quadratic_cost,
}


# Each named model's recipe lives beside its architecture in `models.MODELS` (one registry); this is
# the same information keyed by name, for code that only wants the recipes.
RECIPES: dict[str, Recipe] = {name: entry.recipe for name, entry in MODELS.items()}

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "onecycle")


def get_recipe(model: str) -> Recipe:
    try:
        return MODELS[model].recipe
    except KeyError:
        raise ValueError(f"unknown model {model!r}; known models: {', '.join(MODELS)}") from None


def make_optimizer(
    name: str, params: Iterable[Tensor], lr: float, momentum: float = 0.0, nesterov: bool = False
) -> optim.Optimizer:
    """`sgd` (with optional momentum, Nesterov's if `nesterov`), `adam` or `adamw` (weight decay 0.01),
    by name: --optimizer."""
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov)
    if nesterov and name in OPTIMIZERS:
        raise ValueError(f"nesterov applies to the sgd optimizer only, not {name!r}")
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "adamw":
        return optim.AdamW(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(
    name: str,
    optimizer: optim.Optimizer,
    epochs: int,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
) -> optim.lr_scheduler.LRScheduler | None:
    """`constant` (no scheduler), `cosine` (annealed to 0 over `epochs`) or `onecycle` (warm up to
    the optimiser's lr over the first `pct_start` of the run, then anneal, stepped every batch:
    needs `steps_per_epoch`), by name."""
    if name == "constant":
        return None
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "onecycle":
        if steps_per_epoch is None:
            raise ValueError("make_scheduler: the onecycle schedule needs steps_per_epoch")
        peak = float(optimizer.param_groups[0]["lr"])
        return optim.lr_scheduler.OneCycleLR(
            optimizer, peak, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=pct_start
        )
    raise ValueError(f"unknown learning-rate schedule {name!r}; choose one of {', '.join(LR_SCHEDULES)}")


def make_augment(enabled: bool, seed: int = 0) -> Callable[[np.ndarray], np.ndarray] | None:
    """The training-image augmentation of --augment: small random affine warps (or None)."""
    from tinygrad_mnist.data.augment import RandomAffine

    return RandomAffine(degrees=10, translate=2, scale=(0.9, 1.1), seed=seed) if enabled else None


def make_loss(name: str) -> LossFn:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}") from None


def _first(
    n: int | None, images: np.ndarray, labels: np.ndarray, split: str, scaled: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` images of a split (all when None) as float32 rows of 784 pixels in [0, 1]
    (or, not `scaled`, as the file's uint8 rows: a view)."""
    n = len(labels) if n is None else n
    if not 1 <= n <= len(labels):
        raise ValueError(f"{split} size must be between 1 and {len(labels)}, got {n}")
    if not scaled:
        return images[:n].reshape(n, -1), labels[:n]
    return preprocess(images[:n], normalize=False, flatten=True), labels[:n]


def mnist_arrays(
    data_dir: str | os.PathLike[str] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    download: bool = True,
    scaled: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST as float32 rows of 784 pixels in [0, 1] with int64 labels: (x_train, y_train, x_test, y_test).

    `train_size` keeps the first N training images (the classic set-ups train on 50,000 and keep the
    last 10,000 for validation); `test_size` the first N test images (for quick runs). With
    `scaled=False` the pixels stay uint8 0..255, for `fit(..., transform=data.scale)` to scale batch by
    batch (the command line does: a quarter of the memory, and no 0.1 to 0.9 s pass over all of them).
    """
    mnist = load_mnist(data_dir, download=download)
    x_train, y_train = _first(train_size, mnist.train_images, mnist.train_labels, "train", scaled)
    x_test, y_test = _first(test_size, mnist.test_images, mnist.test_labels, "test", scaled)
    return x_train, y_train, x_test, y_test


def mnist_test_arrays(
    data_dir: str | os.PathLike[str] | None = None, test_size: int | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Only the test split (x_test, y_test), as `mnist_arrays` gives it: evaluating needs no training files."""
    test = MNIST(data_dir, train=False, download=download)
    return _first(test_size, test.images, test.labels, "test")


QUICK_ENV_VAR = "TINYGRAD_MNIST_QUICK"


def quick_mode() -> bool:
    """True when $TINYGRAD_MNIST_QUICK is set to a true value (anything but "", 0, false, no, off):
    examples then train briefly on a small subset (the test suite runs every example this way, so
    none of them can rot)."""
    return os.environ.get(QUICK_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no", "off")


SEED_ENV_VAR = "TINYGRAD_MNIST_SEED"


def example_seed() -> int:
    """The examples' seed (weights and batch order): 0, or $TINYGRAD_MNIST_SEED, so
    `benchmarks/run_examples.py --seeds 0 1 2` can report the spread over seeds."""
    value = os.environ.get(SEED_ENV_VAR, "0")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${SEED_ENV_VAR} must be an integer, got {value!r}") from None


def example_data(train_size: int = 60_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`mnist_arrays` for the examples: the first `train_size` training images and the whole test set,
    or 10,000 training and 2,000 test images in quick mode."""
    if quick_mode():
        return mnist_arrays(train_size=min(train_size, 10_000), test_size=2000)
    return mnist_arrays(train_size=train_size)
