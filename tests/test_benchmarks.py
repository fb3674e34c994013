"""The benchmarks run (tiny mode, so they never rot), the hand-written numpy floor computes the same
step as the framework, and the speed work kept float32 float32 and gradients unshared.

Timings are not asserted: they belong to docs/performance.md, not to a test on a shared machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn, optim
from tinygrad_mnist.autograd import topological_order
from tinygrad_mnist.models import build_model
from tinygrad_mnist.nn import functional as F
from tinygrad_mnist.recipes import squared_error

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import numpy_mlp  # noqa: E402


def run_script(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


# ---------------------------------------------------------------------------------------------- the scripts
def test_train_speed_quick_mode_runs_every_setup_and_contestant(mnist_dir, tmp_path):
    out_json = tmp_path / "speed.json"
    stdout = run_script(
        "benchmarks/train_speed.py", "--quick", "--data", str(mnist_dir), "--json", str(out_json)
    )
    for text in ("machine:", "BLAS:", "[batch 128]", "[batch 32]", "[batch 512]", "[per-sample]", "memory:"):
        assert text in stdout
    payload = json.loads(out_json.read_text())
    assert [r["setup"]["batch_size"] for r in payload["results"]] == [128, 32, 512, 1]
    for result in payload["results"]:
        contestants = result["contestants"]
        assert {"ours", "ours via fit()", "ours, unfused", "numpy (by hand)"} <= set(contestants)
        assert ("PyTorch" in contestants) == (payload["torch"] is not None)
        # Same weights, same batches, same math: every contestant ends with the same training loss.
        losses = [c["train_loss"] for c in contestants.values()]
        assert max(losses) - min(losses) < 1e-4 * max(1.0, abs(losses[0])), result["setup"]["name"]
        accuracies = [c["test_accuracy"] for c in contestants.values()]
        assert max(accuracies) - min(accuracies) <= 2 / 256  # at most a couple of borderline images
        assert all(c["median_s"] > 0 and c["samples_per_s"] > 0 for c in contestants.values())
    assert payload["memory"]["ours_working_mb"] > 0 and payload["machine"]["numpy"] == np.__version__


def test_train_speed_without_torch_says_it_skipped(mnist_dir):
    stdout = run_script(
        "benchmarks/train_speed.py",
        "--quick",
        "--data",
        str(mnist_dir),
        "--no-torch",
        "--no-fit",
        "--no-unfused",
        "--batch-sizes",
        "64",
        "--per-sample",
        "0",
    )
    assert "PyTorch: skipped (--no-torch)" in stdout and "[batch 64]" in stdout
    assert "[per-sample]" not in stdout and "PyTorch  " not in stdout
    assert "ours via fit()" not in stdout and "ours, unfused" not in stdout and "fused ops:" not in stdout


@pytest.mark.parametrize(
    ("model", "loss", "fused_ops", "unfused_ops"),
    [
        ("mlp-128", "cross_entropy", {"linear"}, {"transpose", "matmul", "add"}),
        (
            "sigmoid-24",
            "squared_error",
            {"linear", "mse_loss"},
            {"transpose", "matmul", "add", "sub", "pow"},
        ),
    ],
)
def test_ours_is_the_library_path_and_unfused_spells_the_ops_out(model, loss, fused_ops, unfused_ops):
    """ "ours" times nn.Linear and the recipe's loss as they are (fused ops); "ours, unfused" the old
    op-by-op graph, with the same value."""
    import train_speed

    setup = train_speed.Setup("check", model, loss, 0.1, 2, 2)
    x = np.random.default_rng(0).random((2, 784), dtype=np.float32)
    labels = np.array([3, 7])
    graphs = {}
    for runner in (train_speed.Ours(setup, 0), train_speed.OursUnfused(setup, 0)):
        out = runner.loss_fn(runner.model(Tensor(x)), labels)
        graphs[runner.label] = (out, {t.op for t in topological_order(out) if t.op})
    (ours, ours_ops), (unfused, unfused_ops_found) = graphs["ours"], graphs["ours, unfused"]
    assert fused_ops <= ours_ops and not (unfused_ops & ours_ops)
    assert unfused_ops <= unfused_ops_found and not (fused_ops & unfused_ops_found)
    np.testing.assert_allclose(ours.data, unfused.data, rtol=1e-6)


def test_engine_overhead_quick_mode_times_every_op():
    stdout = run_script("benchmarks/engine_overhead.py", "--quick")
    for op in ("add", "matmul", "sigmoid", "getitem int array", "log_softmax", "cross_entropy"):
        assert f"\n  {op} " in stdout
    assert "chain of 2,000 ops" in stdout and "backward in" in stdout


# ---------------------------------------------------------------------------------------------- the floor
def test_numpy_floor_takes_the_same_step_as_the_framework():
    rng = np.random.default_rng(0)
    x = rng.random((16, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 16)
    model = build_model("mlp-128")
    layers = numpy_mlp.copy_layers(model)
    loss = F.cross_entropy(model(Tensor(x)), labels)
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    numpy_loss = numpy_mlp.relu_mlp_train_step(layers, x, labels, lr=0.1)
    assert numpy_loss == pytest.approx(float(loss.data), rel=1e-6)
    for (W, b), (mine, bias) in zip(layers, numpy_mlp.copy_layers(model)):
        np.testing.assert_allclose(W, mine, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, bias, rtol=1e-5, atol=1e-6)
        assert W.dtype == np.float32


def test_numpy_per_sample_floor_matches_the_sigmoid_recipe():
    rng = np.random.default_rng(1)
    model = build_model("sigmoid-24")
    layers = numpy_mlp.copy_layers(model)
    opt = optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):
        x, label = rng.random(784, dtype=np.float32), int(rng.integers(0, 10))
        loss = squared_error(model(Tensor(x[None])), np.array([label]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        cost = numpy_mlp.sigmoid_squared_error_step(layers, x, label, lr=0.01)
        assert cost == pytest.approx(float(loss.data), rel=1e-5)
    for (W, b), (mine, bias) in zip(layers, numpy_mlp.copy_layers(model)):
        np.testing.assert_allclose(W, mine, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b, bias, rtol=1e-5, atol=1e-7)
    x = rng.random((5, 784), dtype=np.float32)
    np.testing.assert_array_equal(
        numpy_mlp.predict(layers, x, "sigmoid"), model(Tensor(x)).data.argmax(axis=1)
    )


def test_copy_layers_refuses_a_model_without_linear_layers():
    with pytest.raises(ValueError, match="no Linear layers"):
        numpy_mlp.copy_layers(nn.Sequential(nn.ReLU()))


# ---------------------------------------------------------------------------------------------- float32
@pytest.mark.parametrize("name", ["mlp-128", "sigmoid-24"])
@pytest.mark.parametrize("make_optimizer", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9), optim.Adam])
def test_float32_training_stays_float32_end_to_end(name, make_optimizer):
    """Parameters, every tensor of the graph, gradients and optimiser state: no float64 creeps in
    (from Python floats, np.ones defaults or constants) over a few real steps."""
    model = build_model(name)
    opt = make_optimizer(model.parameters())
    rng = np.random.default_rng(0)
    loss_fn = F.cross_entropy if name == "mlp-128" else squared_error
    for _ in range(3):
        x = rng.random((4, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 10, 4)
        loss = loss_fn(model(x), labels) * 0.5 + 1.0  # Python floats join as float32 constants
        graph = topological_order(loss)
        floats = {
            t.dtype for t in graph if t.dtype.kind != "i"
        }  # the labels (int64) are cross_entropy's input
        assert floats == {np.dtype(np.float32)}, [(t.op, t.dtype) for t in graph]
        opt.zero_grad()
        loss.backward()
        opt.step()
    for name_, p in model.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, name_
    state = [a for s in opt.state.values() for a in s.values() if isinstance(a, np.ndarray)]
    assert state and all(a.dtype == np.float32 for a in state)


def test_fused_linear_keeps_float32_and_float64():
    for dtype in (np.float32, np.float64):
        x = Tensor(np.ones((2, 3)), dtype=dtype, requires_grad=True)
        w = Tensor(np.ones((4, 3)), dtype=dtype, requires_grad=True)
        b = Tensor(np.ones(4), dtype=dtype, requires_grad=True)
        out = x.linear(w, b)
        out.sum().backward()
        assert out.dtype == dtype and x.grad.dtype == dtype and w.grad.dtype == dtype
        np.testing.assert_array_equal(out.data, np.full((2, 4), 4.0))
        np.testing.assert_array_equal(b.grad, [2.0] * 4)


# ---------------------------------------------------------------------------------------------- speed changes keep behaviour
def test_fused_linear_names_the_shapes_that_do_not_fit():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\).*weight of shape \(4, 5\)"):
        x.linear(Tensor(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(4,\)"):
        x.linear(Tensor(np.ones((4, 3))), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="weight of shape"):
        x.linear(Tensor(np.ones(3)))


def test_weight_gradient_through_a_transpose_is_c_ordered_and_unshared():
    w = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    x = Tensor(np.ones((2, 4)))
    y = x @ w.T
    (y + y).sum().backward()
    assert w.grad.flags.c_contiguous
    np.testing.assert_array_equal(w.grad, np.full((3, 4), 4.0))
    a = Tensor(np.ones((2, 2)), requires_grad=True)
    b = Tensor(np.ones((2, 2)), requires_grad=True)
    (a.reshape(4) + b.reshape(4) + a.T.reshape(4)).sum().backward()  # the same array, viewed 3 ways
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0, 0] = 100.0
    assert b.grad[0, 0] == 1.0


def test_reductions_refuse_axes_out_of_range():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    for reduce in (x.sum, x.mean, x.max):
        with pytest.raises(ValueError, match="axis 2 is out of range"):
            reduce(axis=2)
        with pytest.raises(ValueError, match="axis -3 is out of range"):
            reduce(axis=-3)


def test_transpose_with_negative_axes_backpropagates():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True, dtype=np.float64)
    weights = np.arange(24.0).reshape(2, 4, 3)
    (x.transpose(0, -1, 1) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad, weights.transpose(0, 2, 1))


def test_sigmoid_saturates_silently_and_exactly():
    """Below x = -88 the exponent is capped (no overflow, no warning): σ stays at σ(-88), under 6.1e-39."""
    x = Tensor([-1000.0, -89.0, -88.0, 0.0, 1000.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.sigmoid()
        y.sum().backward()
    floor = np.float32(1) / (np.float32(1) + np.exp(np.float32(88)))
    assert 0 < floor < 6.1e-39
    np.testing.assert_array_equal(y.data, np.array([floor, floor, floor, 0.5, 1.0], np.float32))
    np.testing.assert_array_equal(x.grad, np.array([floor, floor, floor, 0.25, 0.0], np.float32))


def test_flatten_of_flat_input_records_nothing():
    x = Tensor(np.ones((2, 784)), requires_grad=True)
    assert nn.Flatten()(x) is x
    assert nn.Flatten()(Tensor(np.ones((2, 28, 28)))).shape == (2, 784)


def test_module_attributes_follow_reassignment_and_deletion():
    """Registered parameters and sub-modules are mirrored in __dict__ for fast reads; the mirror follows."""
    layer = nn.Linear(3, 2, rng=0)
    new_weight = nn.Parameter(np.zeros((2, 3)))
    layer.weight = new_weight
    assert layer.weight is new_weight and dict(layer.named_parameters())["weight"] is new_weight
    layer.bias = None
    assert layer.bias is None and "bias" not in dict(layer.named_parameters())
    model = nn.Sequential()
    model.hidden = layer
    assert model.hidden is layer and model[0] is layer
    del model.hidden
    assert len(model) == 0
    with pytest.raises(AttributeError, match="hidden"):
        _ = model.hidden


def test_cnn_speed_quick_mode_prints_the_cnn_rows(mnist_dir):
    stdout = run_script("benchmarks/cnn_speed.py", "--quick", "--data", str(mnist_dir))
    for text in (
        "machine:",
        "cnn training step",
        "epoch (469 steps, estimated)",
        "time to 50.0% test accuracy",
    ):
        assert text in stdout
    assert "ours" in stdout.split("time to")[1]
