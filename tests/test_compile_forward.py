"""compile_forward: a model's forward pass replayed as numpy, the eager forward's numbers bit for bit.

The same capture as compile_step (two eager calls per input signature, then the program), with the
parameters' arrays, the layers and the training mode as the guard; an op without a replay rule, or a
forward that draws random numbers (dropout in training mode), runs eagerly instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compile import ACTIVATIONS, mlp

from tinygrad_mnist import Tensor, models, nn, no_grad, optim
from tinygrad_mnist.compile import CompileError, compile_forward


def eager(model, x):
    with no_grad():
        return model(Tensor(x)).data


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 7), min_size=2, max_size=4),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_the_replayed_forward_equals_the_eager_one_bit_for_bit(sizes, activation, batch, seed):
    model = mlp(sizes, activation, seed)
    forward = compile_forward(model, strict=True)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        np.testing.assert_array_equal(forward(x), eager(model, x))
    assert forward.captures == 2 and forward.replays == 2


@pytest.mark.parametrize("name", ["sigmoid-24", "sigmoid-16-16", "mlp-128", "mlp", "relu-10"])
@pytest.mark.parametrize("batch", [1, 64])
def test_registry_models_replay_their_forward(name, batch):
    model = models.build_model(name).eval()
    forward = compile_forward(model, strict=True)
    rng = np.random.default_rng(batch)
    images = rng.random((batch, 28, 28), dtype=np.float32)  # the models flatten images themselves
    for _ in range(3):
        np.testing.assert_array_equal(forward(images), eager(model, images))
    assert forward.replays == 1
    assert "def forward(x):" in forward.source and "x.reshape" in forward.source


def test_the_fast_forward_equals_the_eager_one_to_rounding():
    model = models.build_model("sigmoid-24")
    forward = compile_forward(model, strict=True, exact=False)
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    for _ in range(3):
        np.testing.assert_allclose(forward(x), eager(model, x), rtol=2e-6, atol=1e-7)
    assert forward.replays == 1 and "np.dot(" in forward.source


def test_each_call_returns_a_new_array():
    model = models.build_model("mlp-128")
    forward = compile_forward(model, strict=True)
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 4, 784), dtype=np.float32)
    for _ in range(2):
        forward(a)
    out_a, out_b = forward(a), forward(b)  # both replayed
    assert forward.replays == 2 and not np.shares_memory(out_a, out_b)
    np.testing.assert_array_equal(out_a, eager(model, a))


def test_trained_weights_are_read_where_they_are_and_a_swapped_layer_recaptures():
    model = models.build_model("mlp-128")
    forward = compile_forward(model, strict=True)
    x = np.random.default_rng(2).random((3, 784), dtype=np.float32)
    forward(x), forward(x)
    opt = optim.SGD(model.parameters(), lr=0.5)
    loss = model(Tensor(x)).sum()
    loss.backward()
    opt.step()  # in place: the program reads the same arrays, now changed
    np.testing.assert_array_equal(forward(x), eager(model, x))
    assert forward.replays == 1
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    first.weight = nn.Parameter(np.zeros_like(first.weight.data))  # a new Parameter: stale
    np.testing.assert_array_equal(forward(x), eager(model, x))
    assert forward.replays == 1 and forward.captures == 3


def test_a_new_shape_or_training_mode_gets_its_own_program():
    model = nn.Sequential(nn.Linear(6, 5, rng=0), nn.Dropout(0.5, rng=1), nn.ReLU(), nn.Linear(5, 2, rng=2))
    forward = compile_forward(model, warn=False)
    rng = np.random.default_rng(3)
    model.eval()  # dropout is the identity: the forward replays
    for batch in (4, 4, 4, 7, 7, 7):
        x = rng.random((batch, 6), dtype=np.float32)
        np.testing.assert_array_equal(forward(x), eager(model, x))
    assert forward.replays == 2 and len(forward.programs) == 2
    model.train()  # a fresh dropout mask every call: never a program
    outs = [forward(np.ones((4, 6), np.float32)) for _ in range(4)]
    assert forward.replays == 2 and forward.eager_reasons
    assert not all(np.array_equal(outs[0], o) for o in outs[1:])  # the masks still differ


def test_an_op_without_a_replay_rule_runs_eagerly_or_raises_when_strict():
    model = models.build_model("cnn").eval()
    x = np.random.default_rng(4).random((2, 28, 28), dtype=np.float32)
    with pytest.warns(UserWarning, match="compile_forward: running eagerly .* has no replay rule"):
        forward = compile_forward(model)
        first = forward(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per signature
        np.testing.assert_array_equal(forward(x), first)
    np.testing.assert_array_equal(first, eager(model, x))
    with pytest.raises(CompileError, match="has no replay rule"):
        compile_forward(model, strict=True)(x)


def test_capture_works_inside_no_grad_and_a_model_without_trainable_parameters_runs_eagerly():
    model = models.build_model("relu-10")
    forward = compile_forward(model, strict=True)
    x = np.random.default_rng(5).random((2, 784), dtype=np.float32)
    with no_grad():  # as in evaluation: capture records the graph anyway
        for _ in range(3):
            np.testing.assert_array_equal(forward(x), eager(model, x))
    assert forward.replays == 1
    for p in model.parameters():
        p.requires_grad = False
    frozen = compile_forward(model, warn=False)
    np.testing.assert_array_equal(frozen(x), eager(model, x))
    assert "no recorded graph" in next(iter(frozen.eager_reasons.values()))


def test_source_before_any_capture_says_so():
    with pytest.raises(RuntimeError, match="compile_forward: nothing captured yet"):
        _ = compile_forward(models.build_model("relu-10")).source
