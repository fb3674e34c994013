"""compile_step(..., exact=False), the fast mode: the eager step's numbers up to float32 rounding.

The fast mode folds plain SGD's learning rate into the loss gradient, adds weight gradients into the
weights (or SGD's momentum buffers) with one BLAS call each, uses `np.dot` and a BLAS dot for the
squared error: each changes the order or the grouping of float32 roundings, never the arithmetic,
so parameters after a few steps agree with the eager engine's to about 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from test_compile import (  # noqa: E402
    OPTIMIZERS,
    Twins,
    batches,
    mlp,
    random_mlp_runs,
    step_random_mlp,
    step_with_halving_lr,
)

from tinygrad_mnist import Tensor, models, recipes
from tinygrad_mnist.compile import blas, compile_step
from tinygrad_mnist.compile import optimizers as update_rules
from tinygrad_mnist.optim import SGD, lr_scheduler
from tinygrad_mnist.train import fit


def close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=what)


class FastTwins(Twins):
    """One model stepped eagerly, its twin through the fast mode: equal to rounding, not bit for bit."""

    def __init__(self, make_model, loss_fn, make_opt):
        super().__init__(make_model, loss_fn, make_opt, exact=False)

    def both(self, x, y):
        expected, expected_out = self.eager_step(x, y)
        got, got_out = self.step(x, y)
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)
        close(got_out, expected_out, "output")

    def assert_close(self):
        for (name, a), b in zip(self.eager_model.named_parameters(), self.model.parameters()):
            close(b.data, a.data, name)


@settings(max_examples=60, deadline=None)
@random_mlp_runs
def test_fast_mode_equals_eager_to_rounding(sizes, activation, loss, optimizer, batch, seed):
    twins = step_random_mlp(FastTwins, sizes, activation, loss, optimizer, batch, seed)
    assert twins.step.replays == 4
    twins.assert_close()


@pytest.mark.parametrize("name", ["sigmoid-24", "sigmoid-16-16", "mlp-128", "mlp"])
@pytest.mark.parametrize("with_blas", [True, False])
def test_registry_models_in_fast_mode(name, with_blas, monkeypatch):
    if not with_blas:  # no usable BLAS library: the fast mode writes numpy lines instead
        monkeypatch.setattr(update_rules.blas, "library", lambda: None)
    elif blas.library() is None:
        pytest.skip("numpy's OpenBLAS was not found here")
    else:  # one sample's update uses BLAS only while it runs one thread (the test suite's default)
        monkeypatch.setattr(update_rules.blas, "single_threaded", lambda lib: True)
    recipe = recipes.get_recipe(name)
    twins = FastTwins(
        lambda: models.build_model(name),
        recipes.make_loss(recipe.loss),
        lambda ps: recipes.make_optimizer(recipe.optimizer, ps, recipe.lr, recipe.momentum, recipe.nesterov),
    )
    batch = min(recipe.batch_size, 16)
    for x, y in batches(np.random.default_rng(1), 0, batch, 784, 10, 6):
        twins.both(x, y)
    twins.assert_close()
    source = twins.step.source
    assert ("one BLAS call" in source) is with_blas
    assert "np.dot(x, fc1_weight_T" in source and "np.take(eye" not in source  # no one-hot array
    for p in twins.model.parameters():
        assert p.grad is None  # the fast mode hands out no gradients (the buffers may hold lr * grad)


def test_plain_sgd_folds_the_learning_rate_and_reads_it_every_step():
    twins = FastTwins(lambda: mlp([4, 5, 3], "sigmoid"), recipes.squared_error, OPTIMIZERS["sgd"])
    step_with_halving_lr(twins, np.random.default_rng(4), rounds=5, batch=2, features=4)
    assert twins.step.replays == 13
    twins.assert_close()
    assert "float(group0['lr'])" in twins.step.source and "lr_times" in twins.step.source


def test_the_exact_mode_stays_bit_for_bit_after_a_fast_step_was_built():
    """The two modes share the rules: building a fast program leaves the exact program unchanged."""
    rng = np.random.default_rng(5)
    data = list(batches(rng, 0, 4, 6, 3, 5))
    models_ = [mlp([6, 5, 3], "relu") for _ in range(3)]
    opts = [OPTIMIZERS["sgd"](m.parameters()) for m in models_]
    exact = compile_step(models_[0], recipes.cross_entropy, opts[0], strict=True)
    fast = compile_step(models_[1], recipes.cross_entropy, opts[1], strict=True, exact=False)
    for x, y in data:
        exact(x, y)
        fast(x, y)
        out = models_[2](Tensor(x))
        loss = recipes.cross_entropy(out, y)
        opts[2].zero_grad()
        loss.backward()
        opts[2].step()
    for a, b in zip(models_[0].parameters(), models_[2].parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert "BLAS" not in exact.source and "np.matmul" in exact.source


@pytest.mark.skipif(blas.library() is None, reason="numpy's OpenBLAS was not found here")
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("batch_is_fixed", [True, False])
def test_one_blas_call_adds_the_product_into_the_matrix(n, batch_is_fixed):
    rng = np.random.default_rng(n)
    W, g = rng.random((4, 5), dtype=np.float32), rng.random((n, 4), dtype=np.float32)
    x = rng.random((n, 5), dtype=np.float32)
    expected = 0.5 * W - 2 * (g.T @ x) if n > 1 else W - 2 * (g.T @ x)
    update = blas.gemm_update(blas.library(), W, g, x if batch_is_fixed else None, -2.0)
    beta = [0.5] if n > 1 else []
    update(*beta) if batch_is_fixed else update(np.asfortranarray(x), *beta)  # any layout of a batch
    np.testing.assert_allclose(W, expected, rtol=1e-6)
    buf, before = rng.random((4, 5), dtype=np.float32), W.copy()
    blas.axpy_update(blas.library(), W, buf)(-1.5)
    np.testing.assert_allclose(W, before - 1.5 * buf, rtol=1e-6)
    with pytest.raises(ValueError, match="shapes"):
        blas.axpy_update(blas.library(), W, buf[:2])


def test_blas_refuses_arrays_it_cannot_read_by_address():
    a = np.zeros((4, 6), np.float32)
    assert blas.usable(a) and not blas.usable(a.T) and not blas.usable(a.astype(np.float64))
    assert not blas.usable(a[:, ::2])


def test_fit_can_train_in_the_fast_mode():
    rng = np.random.default_rng(6)
    x, y = rng.random((40, 784), dtype=np.float32), rng.integers(0, 10, 40)
    runs = []
    for mode in (True, "fast"):
        model = models.build_model("sigmoid-24")
        opt = recipes.make_optimizer("sgd", model.parameters(), 0.1, 0.0)
        runs.append(fit(model, opt, recipes.squared_error, x, y, epochs=2, batch_size=1, log=None,
                        progress=False, compile=mode))  # fmt: skip
    for a, b in zip(*runs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)


@pytest.mark.skipif(blas.library() is None, reason="numpy's OpenBLAS was not found here")
@pytest.mark.parametrize(("one_thread", "routine"), [(True, "sger"), (False, "sgemm")])
def test_one_sample_updates_by_sger_on_one_thread_and_by_sgemm_on_several(one_thread, routine, monkeypatch):
    monkeypatch.setattr(update_rules.blas, "single_threaded", lambda lib: one_thread)
    twins = FastTwins(lambda: models.build_model("sigmoid-24"), recipes.squared_error, OPTIMIZERS["sgd"])
    for x, y in batches(np.random.default_rng(7), 0, 1, 784, 10, 4):
        twins.both(x, y)
    twins.assert_close()
    update = next(iter(twins.step.programs.values())).namespace["fc1_weight_update"]
    assert update.func is getattr(blas.library(), routine)  # OpenBLAS splits sger between threads
    assert "fc1_weight_update()  # fc1_weight -= dx" in twins.step.source


@pytest.mark.parametrize(
    ("loss", "batch"), [("cross_entropy", 4), ("squared_error", 1), ("squared_error", 3)]
)
def test_the_fast_mode_refuses_bad_labels_too(loss, batch):
    model = mlp([5, 4, 3], "sigmoid")
    step = compile_step(
        model, recipes.LOSSES[loss], OPTIMIZERS["sgd"](model.parameters()), strict=True, exact=False
    )
    rng = np.random.default_rng(8)
    for _ in range(3):
        step(rng.random((batch, 5), dtype=np.float32), rng.integers(0, 3, batch))
    assert step.replays == 1
    before = [p.data.copy() for p in model.parameters()]
    for bad in (3, -1):
        with pytest.raises(ValueError, match="labels must be in"):
            step(rng.random((batch, 5), dtype=np.float32), np.full(batch, bad))
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)  # refused before anything was updated


def test_fit_refuses_an_unknown_compile_mode():
    model = models.build_model("sigmoid-24")
    opt = recipes.make_optimizer("sgd", model.parameters(), 0.1, 0.0)
    x, y = np.zeros((4, 784), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="compile must be True, False or 'fast', got 'quick'"):
        fit(model, opt, recipes.squared_error, x, y, log=None, progress=False, compile="quick")


@pytest.mark.parametrize("batch", [16, 128])
def test_nesterov_adds_each_weight_product_once_and_never_stores_it(batch):
    """SGD with Nesterov momentum in the fast mode: for each big weight one axpy with the old buffer,
    one sgemm into the buffer, one axpy with the new, no weight gradient written; under a one-cycle
    schedule, which moves both the learning rate and the momentum every step."""
    if blas.library() is None:
        pytest.skip("numpy's OpenBLAS was not found here")
    twins = FastTwins(
        lambda: models.build_model("mlp-128"),
        recipes.make_loss("cross_entropy"),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    )
    schedules = [lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=12) for o in (twins.eager_opt, twins.opt)]
    for x, y in batches(np.random.default_rng(3), 0, batch, 784, 10, 10):
        twins.both(x, y)
        for schedule in schedules:
            schedule.step()
    twins.assert_close()
    assert twins.step.replays == 8 and len(twins.step.programs) == 1  # momentum changes did not recapture
    source = twins.step.source
    body = source.split("def step")[1]
    assert "fc1_weight_momentum_update(x, momentum)" in body
    assert body.count("fc1_weight_axpy(") == 2 and "dfc1_weight" not in source  # no gradient buffer
    # fc2 (10x128) is too small for BLAS calls to repay: its gradient is written once, read twice
    assert body.count("dfc2_weight") == 3 and "fc2_weight_momentum_update" not in source
