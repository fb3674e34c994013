"""The registry's recipes as the command line builds them: optimiser, schedule, and the compiled replay."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import data, models, optim, recipes
from tinygrad_mnist.train import evaluate, fit


def _fit_mlp_recipe(compile: bool, x: np.ndarray, y: np.ndarray):
    """Train the registry's mlp the way `tinygrad-mnist train` does, on a few random images."""
    recipe = recipes.get_recipe("mlp")
    model = models.build_model("mlp", seed=3)
    optimizer = recipes.make_optimizer(
        recipe.optimizer, model.parameters(), recipe.lr, recipe.momentum, recipe.nesterov
    )
    batch, epochs = 16, 2
    scheduler = recipes.make_scheduler(
        recipe.lr_schedule, optimizer, epochs, -(-len(y) // batch), recipe.pct_start
    )
    history = fit(
        model, optimizer, recipes.make_loss(recipe.loss), x, y, epochs=epochs, batch_size=batch,
        test=(x[:20], y[:20]), scheduler=scheduler, log=None, progress=False, compile=compile,
    )  # fmt: skip
    return history, model, optimizer


def test_the_mlp_recipe_replays_its_nesterov_one_cycle_steps_exactly():
    """One-cycle moves SGD's momentum every batch and Nesterov's update reads it: the replayed
    program must follow both, to the last bit of the eager engine's numbers."""
    rng = np.random.default_rng(11)
    x, y = rng.random((50, 784), dtype=np.float32), rng.integers(0, 10, 50)
    (eager, eager_model, eager_opt), (compiled, model, opt) = (
        _fit_mlp_recipe(c, x, y) for c in (False, True)
    )
    assert opt.param_groups[0]["nesterov"] is True
    momentum = opt.param_groups[0]["momentum"]  # cycled: back up near 0.95 at the end of the run
    assert eager_opt.param_groups[0]["momentum"] == momentum and 0.9 < momentum < 0.95
    assert eager.column("train_loss") == compiled.column("train_loss")
    for a, b in zip(eager_model.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_the_mlp_recipe_is_nesterov_sgd_with_one_cycle():
    recipe = recipes.get_recipe("mlp")
    assert (recipe.optimizer, recipe.nesterov, recipe.lr_schedule) == ("sgd", True, "onecycle")
    optimizer = recipes.make_optimizer("sgd", models.build_model("mlp").parameters(), 0.4, 0.9, True)
    assert isinstance(optimizer, optim.SGD) and optimizer.param_groups[0]["nesterov"] is True


def test_nesterov_is_refused_for_adam_and_without_momentum():
    params = list(models.build_model("relu-10").parameters())
    with pytest.raises(ValueError, match="nesterov applies to the sgd optimizer only, not 'adamw'"):
        recipes.make_optimizer("adamw", params, 1e-3, nesterov=True)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        recipes.make_optimizer("sgd", params, 0.1, 0.0, nesterov=True)
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        recipes.make_optimizer("lamb", params, 0.1, nesterov=True)


def test_uint8_images_scaled_batch_by_batch_train_to_the_same_numbers():
    """What the command line does (`mnist_arrays(scaled=False)`, `fit(transform=data.scale)`) is what
    scaling every image first does, bit for bit: one float division per pixel either way."""
    rng = np.random.default_rng(12)
    pixels, y = rng.integers(0, 256, (70, 784), dtype=np.uint8), rng.integers(0, 10, 70)
    runs = []
    for x, transform in ((data.scale(pixels), None), (pixels, data.scale)):
        model = models.build_model("mlp-128", seed=2)
        optimizer = recipes.make_optimizer("sgd", model.parameters(), 0.1, 0.9, True)
        history = fit(
            model, optimizer, recipes.cross_entropy, x, y, epochs=2, batch_size=16, test=(x[:30], y[:30]),
            log=None, progress=False, transform=transform,
        )  # fmt: skip
        runs.append((history, model))
    (floats, float_model), (uint8, uint8_model) = runs
    assert floats.column("train_loss") == uint8.column("train_loss")
    assert floats.column("test_loss") == uint8.column("test_loss")
    for a, b in zip(float_model.parameters(), uint8_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert evaluate(uint8_model, pixels, y, transform=data.scale) == evaluate(
        uint8_model, data.scale(pixels), y
    )
    with pytest.raises(TypeError, match="fit: inputs must be floats, got dtype uint8.*transform=data.scale"):
        fit(uint8_model, optimizer, recipes.cross_entropy, pixels, y, log=None)


def test_mnist_arrays_unscaled_are_the_files_uint8_rows(mnist_dir):
    scaled = recipes.mnist_arrays(mnist_dir, train_size=100, test_size=50, download=False)
    raw = recipes.mnist_arrays(mnist_dir, train_size=100, test_size=50, download=False, scaled=False)
    assert [a.shape for a in raw] == [a.shape for a in scaled] == [(100, 784), (100,), (50, 784), (50,)]
    assert raw[0].dtype == raw[2].dtype == np.uint8
    np.testing.assert_array_equal(data.scale(raw[0]), scaled[0])
    np.testing.assert_array_equal(data.scale(raw[2]), scaled[2])
