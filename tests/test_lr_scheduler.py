"""Learning-rate schedules follow PyTorch's formulas, written out independently here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_mnist import nn, optim
from tinygrad_mnist.optim.lr_scheduler import CosineAnnealingLR, StepLR


def make_optimizer(lr=0.5):
    return optim.SGD(nn.Linear(2, 2, rng=0).parameters(), lr=lr, momentum=0.9)


def test_cosine_goes_from_base_lr_to_eta_min_along_half_a_cosine():
    opt = make_optimizer(0.5)
    scheduler = CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    seen = []
    for _ in range(4):
        scheduler.step()
        seen.append(scheduler.get_last_lr()[0])
    expected = [0.1 + 0.4 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(1, 5)]
    assert seen == pytest.approx(expected) and seen[-1] == pytest.approx(0.1)


def test_step_lr_divides_every_step_size_epochs():
    opt = make_optimizer(1.0)
    scheduler = StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])


def test_the_optimizer_uses_the_scheduled_lr():
    layer = nn.Linear(1, 1, bias=False, rng=0)
    opt = optim.SGD(layer.parameters(), lr=1.0)
    StepLR(opt, step_size=1, gamma=0.1).step()
    before = layer.weight.data.copy()
    layer.weight.grad = np.ones_like(before)
    opt.step()
    np.testing.assert_allclose(layer.weight.data, before - 0.1, rtol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(make_optimizer(), T_max=0)
    with pytest.raises(ValueError, match="step_size"):
        StepLR(make_optimizer(), step_size=0)
