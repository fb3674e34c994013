"""compile_step: the replayed step gives the eager step's numbers, and never replays a stale program.

Equality is exact (`array_equal`, bit for bit): every replay rule runs the engine's own ufuncs in
the engine's order, only into preallocated buffers, which does not change any rounding.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_mnist import Tensor, models, nn, recipes
from tinygrad_mnist.cli.main import main
from tinygrad_mnist.compile import CompileError, compile_step
from tinygrad_mnist.optim import SGD, Adam, AdamW, lr_scheduler
from tinygrad_mnist.train import fit

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
OPTIMIZERS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "momentum": lambda ps: SGD(ps, lr=0.05, momentum=0.9),
    "nesterov": lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "nesterov-plain": lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "dampened": lambda ps: SGD(ps, lr=0.05, momentum=0.5, dampening=0.3),
    "decay": lambda ps: SGD(ps, lr=0.1, weight_decay=0.05),
    "adam": lambda ps: Adam(ps, lr=0.01),
    "adam-decay": lambda ps: Adam(ps, lr=0.01, weight_decay=0.1),
    "adamw": lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
}


def mlp(sizes, activation, seed=0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b, rng=seed + i))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Twins:
    """The same model and optimiser twice: one stepped eagerly, one through compile_step."""

    def __init__(self, make_model, loss_fn, make_opt, strict=True, exact=True):
        self.eager_model, self.model = make_model(), make_model()
        self.eager_opt, self.opt = make_opt(self.eager_model.parameters()), make_opt(self.model.parameters())
        self.loss_fn = loss_fn
        self.step = compile_step(self.model, loss_fn, self.opt, strict=strict, exact=exact)

    def eager_step(self, x, y):
        out = self.eager_model(Tensor(x))
        loss = self.loss_fn(out, y)
        self.eager_opt.zero_grad()
        loss.backward()
        self.eager_opt.step()
        return float(loss.data), out.data

    def both(self, x, y):
        expected, expected_out = self.eager_step(x, y)
        got, got_out = self.step(x, y)
        assert got == expected
        np.testing.assert_array_equal(got_out, expected_out)

    def assert_same(self):
        for (name, a), b in zip(self.eager_model.named_parameters(), self.model.parameters()):
            np.testing.assert_array_equal(b.data, a.data, err_msg=name)
            np.testing.assert_array_equal(b.grad, a.grad, err_msg=name)


def batches(rng, n, batch, features, classes, steps):
    for _ in range(steps):
        yield rng.random((batch, features), dtype=np.float32), rng.integers(0, classes, batch)


def step_with_halving_lr(twins, rng, rounds, batch, features):
    """`rounds` times: 3 batches through both twins, then both optimisers' lr halved (StepLR)."""
    schedulers = [lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in (twins.eager_opt, twins.opt)]
    for _ in range(rounds):
        for x, y in batches(rng, 0, batch, features, 3, 3):
            twins.both(x, y)
        for s in schedulers:
            s.step()


#: a random MLP (hidden sizes, activation), loss, optimiser, batch size and seed, for property tests
random_mlp_runs = given(
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    loss=st.sampled_from(sorted(recipes.LOSSES)),
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    batch=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)


def step_random_mlp(twins_class, sizes, activation, loss, optimizer, batch, seed):
    """Twins of a random MLP (3 classes), both stepped through the same 6 random batches."""
    classes = 3
    shape = [sizes[0] + 1, *sizes[1:], classes]
    twins = twins_class(lambda: mlp(shape, activation, seed), recipes.LOSSES[loss], OPTIMIZERS[optimizer])
    for x, y in batches(np.random.default_rng(seed), 0, batch, shape[0], classes, 6):
        twins.both(x, y)
    return twins


@random_mlp_runs
def test_replay_equals_eager_bit_for_bit(sizes, activation, loss, optimizer, batch, seed):
    twins = step_random_mlp(Twins, sizes, activation, loss, optimizer, batch, seed)
    assert twins.step.replays == 4 and twins.step.captures == 2
    twins.assert_same()


@pytest.mark.parametrize("name", ["sigmoid-24", "sigmoid-16-16", "mlp-128", "relu-10"])
def test_registry_models_replay_exactly(name):
    recipe = recipes.get_recipe(name)
    twins = Twins(
        lambda: models.build_model(name),
        recipes.make_loss(recipe.loss),
        lambda ps: recipes.make_optimizer(recipe.optimizer, ps, recipe.lr, recipe.momentum),
    )
    for x, y in batches(np.random.default_rng(1), 0, min(recipe.batch_size, 64), 784, 10, 5):
        twins.both(x, y)
    assert twins.step.replays == 3
    twins.assert_same()
    assert "np.matmul(x, fc1_weight_T" in twins.step.source


def test_images_are_flattened_by_a_reshape_that_replays():
    twins = Twins(lambda: models.build_model("relu-10"), recipes.cross_entropy, OPTIMIZERS["momentum"])
    rng = np.random.default_rng(2)
    for _ in range(4):
        twins.both(rng.random((3, 28, 28), dtype=np.float32), rng.integers(0, 10, 3))
    assert twins.step.replays == 2
    twins.assert_same()


def test_a_shorter_last_batch_captures_its_own_program():
    twins = Twins(lambda: mlp([4, 5, 3], "relu"), recipes.cross_entropy, OPTIMIZERS["momentum"])
    rng = np.random.default_rng(3)
    for _epoch in range(3):
        for batch in (4, 4, 4, 2):  # 14 samples in batches of 4
            twins.both(rng.random((batch, 4), dtype=np.float32), rng.integers(0, 3, batch))
    assert len(twins.step.programs) == 2
    assert twins.step.captures == 4  # two per shape (the second checks the first)
    twins.assert_same()


def test_the_learning_rate_is_read_every_step():
    twins = Twins(lambda: mlp([4, 5, 3], "sigmoid"), recipes.squared_error, OPTIMIZERS["nesterov"])
    step_with_halving_lr(twins, np.random.default_rng(4), rounds=5, batch=2, features=4)
    assert twins.step.replays == 13
    twins.assert_same()


def test_changing_the_optimizer_settings_shape_recaptures():
    twins = Twins(lambda: mlp([4, 3], "relu"), recipes.cross_entropy, OPTIMIZERS["sgd"])
    rng = np.random.default_rng(5)
    for x, y in batches(rng, 0, 2, 4, 3, 3):
        twins.both(x, y)
    for opt in (twins.eager_opt, twins.opt):
        opt.param_groups[0]["weight_decay"] = 0.1  # another line of the update runs now
    for x, y in batches(rng, 0, 2, 4, 3, 4):
        twins.both(x, y)
    assert twins.step.captures == 4
    twins.assert_same()


def test_a_swapped_parameter_is_noticed():
    twins = Twins(lambda: mlp([4, 5, 3], "tanh"), recipes.cross_entropy, OPTIMIZERS["momentum"])
    rng = np.random.default_rng(6)
    for x, y in batches(rng, 0, 2, 4, 3, 3):
        twins.both(x, y)
    for model in (twins.eager_model, twins.model):  # new arrays in place of the old ones
        model[0].weight.data = model[0].weight.data * 0.5
    for x, y in batches(rng, 0, 2, 4, 3, 3):
        twins.both(x, y)
    twins.assert_same()
    assert twins.step.captures == 4
    for model in (twins.eager_model, twins.model):  # a new Parameter the optimiser does not know
        model[2].bias = nn.Parameter(np.zeros(3, dtype=np.float32))
    for x, y in batches(rng, 0, 2, 4, 3, 4):  # it gets gradients (adding up: no one clears them)
        twins.both(x, y)
    twins.assert_same()
    assert twins.step.captures == 6


def test_requires_grad_changed_is_noticed():
    twins = Twins(lambda: mlp([4, 5, 3], "relu"), recipes.cross_entropy, OPTIMIZERS["adam"])
    rng = np.random.default_rng(7)
    for x, y in batches(rng, 0, 3, 4, 3, 3):
        twins.both(x, y)
    for model in (twins.eager_model, twins.model):  # freeze the first layer
        model[0].weight.requires_grad_(False)
        model[0].weight.grad = None
    for x, y in batches(rng, 0, 3, 4, 3, 4):
        twins.both(x, y)
    twins.assert_same()
    assert twins.step.captures == 4


class Softplus(nn.Module):
    def forward(self, x):
        return x.softplus()


def test_an_op_without_a_replay_rule_raises_when_strict_and_runs_eagerly_otherwise():
    make = lambda: nn.Sequential(nn.Linear(4, 5, rng=0), Softplus(), nn.Linear(5, 3, rng=1))  # noqa: E731
    x, y = np.ones((2, 4), np.float32), np.array([0, 2])
    strict = Twins(make, recipes.cross_entropy, OPTIMIZERS["sgd"], strict=True)
    with pytest.raises(CompileError, match="'softplus' has no replay rule"):
        strict.step(x, y)
    lenient = Twins(make, recipes.cross_entropy, OPTIMIZERS["sgd"], strict=False)
    with pytest.warns(UserWarning, match="running eagerly.*softplus"):
        lenient.both(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, then eager without a word
        for _ in range(3):
            lenient.both(x, y)
    assert lenient.step.replays == 0 and not lenient.step.programs
    lenient.assert_same()


def test_value_dependent_control_flow_is_refused():
    def moody_loss(out, y):  # a branch on the data: its graph differs from batch to batch
        loss = recipes.cross_entropy(out, y)
        return loss * 2.0 if y[0] == 0 else loss

    twins = Twins(lambda: mlp([4, 3], "relu"), moody_loss, OPTIMIZERS["sgd"])
    x = np.ones((2, 4), np.float32)
    twins.both(x, np.array([0, 1]))
    with pytest.raises(CompileError, match="value-dependent control flow"):
        twins.step(x, np.array([1, 1]))


def test_an_array_computed_outside_the_engine_is_refused():
    def weighted(out, y):  # weights from the batch, as a plain array: the program could not redo it
        weights = Tensor((y == 0).astype(np.float32)[:, None] + 1)
        return (out * weights).sum()

    twins = Twins(lambda: mlp([4, 3], "relu"), weighted, OPTIMIZERS["sgd"])
    with pytest.raises(CompileError, match=r"array of shape \(2, 1\) computed outside the engine"):
        twins.step(np.ones((2, 4), np.float32), np.array([0, 1]))


def test_bad_labels_are_refused_by_the_replay_too():
    twins = Twins(lambda: mlp([4, 3], "relu"), recipes.squared_error, OPTIMIZERS["sgd"])
    for x, y in batches(np.random.default_rng(8), 0, 2, 4, 3, 3):
        twins.step(x, y)
    assert twins.step.replays == 1
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got -1\.\.0"):
        twins.step(np.ones((2, 4), np.float32), np.array([-1, 0]))


def test_source_before_any_capture_says_so():
    step = compile_step(
        mlp([4, 3], "relu"), recipes.cross_entropy, SGD(mlp([4, 3], "relu").parameters(), lr=1)
    )
    with pytest.raises(RuntimeError, match="nothing captured yet"):
        _ = step.source


# ---------------------------------------------------------------------- fit and the command line
def _fit_twice(make_model, loss_fn, make_opt, x, y, **kwargs):
    results = []
    for compile in (False, True):
        model = make_model()
        opt = make_opt(model.parameters())
        history = fit(model, opt, loss_fn, x, y, log=None, progress=False, compile=compile, **kwargs)
        results.append((history, model))
    return results


def test_fit_compiles_by_default_and_gives_the_eager_numbers():
    rng = np.random.default_rng(9)
    x, y = rng.random((50, 784), dtype=np.float32), rng.integers(0, 10, 50)
    recipe = recipes.get_recipe("mlp-128")
    (eager, eager_model), (compiled, model) = _fit_twice(
        lambda: models.build_model("mlp-128"),
        recipes.cross_entropy,
        lambda ps: recipes.make_optimizer("sgd", ps, recipe.lr, recipe.momentum),
        x,
        y,
        epochs=3,
        batch_size=16,  # 3 full batches and a short one of 2 per epoch
        test=(x[:20], y[:20]),
        scheduler=None,
    )
    assert eager.column("train_loss") == compiled.column("train_loss")
    assert eager.column("test_accuracy") == compiled.column("test_accuracy")
    assert eager.column("test_loss") == compiled.column("test_loss")
    for a, b in zip(eager_model.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert inspect.signature(fit).parameters["compile"].default is True


def test_fit_with_a_model_the_compiler_cannot_replay_trains_eagerly_without_a_warning():
    make = lambda: nn.Sequential(nn.Linear(4, 5, rng=0), Softplus(), nn.Linear(5, 3, rng=1))  # noqa: E731
    rng = np.random.default_rng(10)
    x, y = rng.random((12, 4), dtype=np.float32), rng.integers(0, 3, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (eager, _), (compiled, _) = _fit_twice(
            make, recipes.cross_entropy, OPTIMIZERS["adam"], x, y, epochs=2, batch_size=5
        )
    assert eager.column("train_loss") == compiled.column("train_loss")


def test_the_train_command_has_compile_flags(monkeypatch):
    from tinygrad_mnist.cli import train as cli_train

    seen = {}

    def fake_fit(*args, **kwargs):  # stops the run right after the flag arrives
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_train, "fit", fake_fit)
    images, labels = np.zeros((2, 784), np.float32), np.zeros(2, np.int64)
    monkeypatch.setattr(cli_train, "mnist_arrays", lambda *args, **kwargs: (images, labels, images, labels))
    cases = [([], True), (["--no-compile"], False), (["--compile", "off"], False)]
    cases += [(["--compile", "exact"], True), (["--compile", "fast"], "fast")]
    for flags, expected in cases:
        seen.clear()
        assert main(["train", "--model", "relu-10", "--no-progress", *flags]) != 0  # "interrupted"
        assert seen["compile"] == expected and type(seen["compile"]) is type(expected)
        assert ("compile" in seen["metadata"]) is (expected == "fast")  # only fast changes the numbers


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--compile", "quick"], "argument --compile: invalid choice: 'quick'"),
        (["--compile", "fast", "--no-compile"], "argument --no-compile: not allowed with argument --compile"),
    ],
)
def test_the_train_command_refuses_a_bad_compile_flag(flags, message, capsys):
    assert main(["train", "--model", "relu-10", *flags]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1  # one line, no traceback


@pytest.mark.parametrize("which", [0, 1])  # the exact program, then the fast mode's
def test_performance_md_shows_the_program_its_example_prints(which):
    page = (Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text()
    section = page.split("## Capture and replay")[1].split("\n## ")[0]
    example = section.split("```python\n")[1 + which].split("```")[0]
    printed = section.split("```text\n")[1 + which].split("```")[0]
    lines = []
    exec(
        compile(example, "performance.md", "exec"), {"print": lambda *a: lines.append(" ".join(map(str, a)))}
    )
    assert lines[-1].strip() == printed.strip()


class Primitives(nn.Module):
    """A model written with the primitive ops: matmul, broadcast add, sub, mul, tanh, reshape, and a
    tensor used twice (its gradients meet and are summed)."""

    def __init__(self, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.w = nn.Parameter(rng.standard_normal((4, 6)).astype(np.float32) * 0.5)
        self.b = nn.Parameter(rng.standard_normal(6).astype(np.float32))
        self.scale = nn.Parameter(rng.standard_normal((1, 6)).astype(np.float32))
        self.v = nn.Parameter(rng.standard_normal((6, 3)).astype(np.float32) * 0.5)

    def forward(self, x):
        h = (x @ self.w + self.b).tanh()
        h = h * self.scale - h * 0.5 + h  # h reaches three ops
        return (h.reshape(h.shape[0], 2, 3).reshape(h.shape[0], 6) @ self.v).relu()


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("optimizer", ["momentum", "adam-decay"])
def test_primitive_ops_replay_exactly(batch, optimizer):
    twins = Twins(Primitives, recipes.cross_entropy, OPTIMIZERS[optimizer])
    for x, y in batches(np.random.default_rng(11), 0, batch, 4, 3, 6):
        twins.both(x, y)
    assert twins.step.replays == 4
    twins.assert_same()
    for op in ("np.matmul", "np.tanh", "unbroadcast", "reshape", "np.add(", "np.subtract("):
        assert op in twins.step.source, op


def test_the_compiled_speed_benchmark_runs_and_prints_every_setup(mnist_dir):
    """benchmarks/compiled_speed.py in its short mode: it prints the figures; nothing here times anything."""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "benchmarks/compiled_speed.py", "--quick", "--no-torch"],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(root), "TINYGRAD_MNIST_DATA": str(mnist_dir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "setup" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["per-sample", "batch 32", "batch 128", "batch 512"]
    for row in rows:
        assert re.search(r"\| [\d.]+ \| ≤ 0\.\d\d: (met|not met) \|$", row), row


def test_a_parameter_group_added_to_the_optimizer_is_noticed():
    twins = Twins(lambda: mlp([4, 5, 3], "relu"), recipes.cross_entropy, lambda ps: SGD(list(ps)[:2], lr=0.1))
    rng = np.random.default_rng(12)
    for x, y in batches(rng, 0, 2, 4, 3, 3):
        twins.both(x, y)
    for model, opt in ((twins.eager_model, twins.eager_opt), (twins.model, twins.opt)):
        opt.add_param_group({"params": list(model.parameters())[2:], "lr": 0.05})  # now train layer 2
    for x, y in batches(rng, 0, 2, 4, 3, 4):
        twins.both(x, y)
    twins.assert_same()
    assert twins.step.captures == 4 and twins.step.replays == 3


def test_a_tensor_that_requires_grad_made_during_the_step_is_refused():
    def loss_with_a_fresh_leaf(out, y):
        temperature = Tensor(np.ones(3, np.float32), requires_grad=True)  # new every step
        return recipes.cross_entropy(out * temperature, y)

    twins = Twins(lambda: mlp([4, 3], "relu"), loss_with_a_fresh_leaf, OPTIMIZERS["sgd"])
    with pytest.raises(CompileError, match=r"shape \(3,\) requires grad but is a parameter of neither"):
        twins.step(np.ones((2, 4), np.float32), np.array([0, 1]))


def test_a_batch_size_that_keeps_changing_keeps_a_bounded_number_of_programs():
    from tinygrad_mnist.compile.step import MAX_PROGRAMS

    twins = Twins(lambda: mlp([4, 3], "relu"), recipes.cross_entropy, OPTIMIZERS["sgd"])
    rng = np.random.default_rng(13)
    for batch in range(1, MAX_PROGRAMS + 4):
        for x, y in batches(rng, 0, batch, 4, 3, 3):
            twins.both(x, y)
    assert len(twins.step.programs) == MAX_PROGRAMS
    assert (1, 4) not in [key[0] for key in twins.step.programs]  # the oldest went first
    twins.assert_same()


def test_adamw_replays_exactly_with_its_decay_read_every_step():
    twins = Twins(lambda: mlp([6, 5, 3], "relu"), recipes.cross_entropy, OPTIMIZERS["adamw"])
    step_with_halving_lr(twins, np.random.default_rng(9), rounds=3, batch=4, features=6)
    assert twins.step.replays == 7
    twins.assert_same()
    assert "AdamW's decoupled weight decay" in twins.step.source


def test_saturated_sigmoids_replay_exactly_without_an_overflow_warning():
    def make():  # weights large enough that pre-activations pass -88, where exp(-x) would overflow
        model = mlp([6, 4, 3], "sigmoid")
        for p in model.parameters():
            p.data *= 400
        return model

    twins = Twins(make, recipes.squared_error, OPTIMIZERS["sgd"])
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn
        for _ in range(4):
            x = rng.random((2, 6), dtype=np.float32) * 4 - 2
            twins.both(x, rng.integers(0, 3, 2))
    assert twins.step.replays == 2
    twins.assert_same()
    hidden = twins.model[0](Tensor(x)).data
    assert hidden.min() < -88  # the exponent's cap was reached


class Counting(nn.Module):
    """A model whose forward sets a plain attribute every step (which registers nothing)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3, rng=0)

    def forward(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        return self.fc(x)


def test_module_registries_are_guarded_by_their_version_and_plain_attributes_do_not_recapture():
    twins = Twins(Counting, recipes.cross_entropy, OPTIMIZERS["sgd"])
    rng = np.random.default_rng(9)
    for x, y in batches(rng, 0, 2, 4, 3, 5):
        twins.both(x, y)
    assert twins.step.captures == 2 and twins.step.replays == 3  # `self.calls = ...` changed nothing
    guard = next(iter(twins.step.programs.values())).guard_source
    assert guard.count(".version ==") == 4 and ".get(" not in guard  # two modules, two registries each
    for model in (twins.eager_model, twins.model):  # past __setattr__, straight into the registry
        model.fc._parameters["bias"] = nn.Parameter(np.ones(3, dtype=np.float32))
    for x, y in batches(rng, 0, 2, 4, 3, 3):
        twins.both(x, y)
    twins.assert_same()
    assert twins.step.captures == 4  # the stale program was noticed and the step captured again


def test_a_registry_stamps_only_real_changes_with_a_fresh_version():
    from copy import deepcopy

    from tinygrad_mnist.nn.module import Registry

    registry = Registry(a=1)
    first = registry.version
    registry.pop("missing", None)
    registry.setdefault("a", 2)
    assert registry.version == first and registry == {"a": 1}
    versions = [first]
    for change in (lambda r: r.__setitem__("b", 2), lambda r: r.pop("b"), lambda r: r.update(c=3),
                   lambda r: r.setdefault("d", 4), lambda r: r.__delitem__("c"), Registry.popitem,
                   Registry.clear):  # fmt: skip
        change(registry)
        assert registry.version > versions[-1]
        versions.append(registry.version)
    copy = deepcopy(Registry(x=1))
    assert copy == {"x": 1} and Registry().version != copy.version
