"""draw_graph's default layout: short graphs left to right, deep ones (any MNIST model) top to bottom."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn
from tinygrad_mnist.models import MODELS, build_model
from tinygrad_mnist.viz import backward_for_drawing, draw_graph
from tinygrad_mnist.viz.graph import AUTO_RANKDIR_MAX_RANKS


def rankdir_of(graph) -> str:
    (value,) = {
        line.split("rankdir=")[1].split()[0] for line in graph.source.splitlines() if "rankdir=" in line
    }
    return value


def chain(length: int) -> Tensor:
    """A leaf and `length` ops: 2 * length + 1 nodes on one path (tensor, op, tensor, ...)."""
    t = Tensor([1.0, 2.0], requires_grad=True, name="x")
    for _ in range(length):
        t = t.sigmoid()
    return t


def model_loss(name: str) -> tuple[nn.Module, Tensor]:
    model = build_model(name)
    rng = np.random.default_rng(0)
    loss = nn.CrossEntropyLoss()(
        model(Tensor(rng.random((4, 784), dtype=np.float32))), rng.integers(0, 10, 4)
    )
    return model, loss


def test_a_short_expression_is_drawn_left_to_right():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    y = (a * b + Tensor([0.5, 0.5])).sum()
    assert rankdir_of(draw_graph(y)) == "LR"
    backward_for_drawing(y)
    assert rankdir_of(draw_graph(y)) == "LR"


def test_the_switch_is_at_the_documented_chain_length():
    # x -> sigmoid -> t -> sigmoid -> t ...: a chain of n ops has 2n + 1 nodes
    longest_lr = (AUTO_RANKDIR_MAX_RANKS - 1) // 2
    assert rankdir_of(draw_graph(chain(longest_lr))) == "LR"
    assert rankdir_of(draw_graph(chain(longest_lr + 1))) == "TB"


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("collapse", [None, True, "cluster"])
def test_every_model_loss_is_drawn_top_to_bottom(name, collapse):
    model, loss = model_loss(name)
    assert rankdir_of(draw_graph(loss, module=model, collapse=collapse)) == "TB"


@pytest.mark.parametrize("rankdir", ["LR", "TB", "RL", "BT"])
def test_an_explicit_rankdir_wins(rankdir):
    model, loss = model_loss("mlp-128")
    assert rankdir_of(draw_graph(loss, module=model, rankdir=rankdir)) == rankdir
    assert rankdir_of(draw_graph(chain(1), rankdir=rankdir)) == rankdir
