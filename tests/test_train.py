"""The training loop: it learns real MNIST, is reproducible, writes its history and checkpoints, and stops
on a diverging loss with a clear message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn, optim
from tinygrad_mnist.checkpoint import load_into
from tinygrad_mnist.models import build_model
from tinygrad_mnist.recipes import make_loss, mnist_arrays
from tinygrad_mnist.train import History, TrainingDiverged, evaluate, fit


@pytest.fixture(scope="module")
def small_mnist(mnist_dir):
    return mnist_arrays(mnist_dir, train_size=10_000, test_size=2000, download=False)


def test_one_epoch_on_10000_real_images_beats_85_percent(small_mnist, tmp_path):
    x, y, xt, yt = small_mnist
    model = build_model("mlp-128", seed=0)
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.1, momentum=0.5),
        make_loss("cross_entropy"),
        x,
        y,
        epochs=1,
        batch_size=16,
        test=(xt, yt),
        log=None,
        checkpoint=tmp_path / "final.npz",
        history_path=tmp_path / "history.json",
    )
    assert history[-1].test_accuracy > 0.85
    records = json.loads((tmp_path / "history.json").read_text())
    assert records[0]["epoch"] == 1 and records[0]["test_accuracy"] == history[-1].test_accuracy
    restored = build_model("mlp-128", seed=99)
    load_into(restored, tmp_path / "final.npz")
    assert evaluate(restored, xt, yt)[1] == history[-1].test_accuracy


def test_same_seed_same_result_to_the_last_digit(small_mnist):
    x, y, xt, yt = small_mnist

    def run(seed):
        model = build_model("sigmoid-16-16", seed=seed)
        return fit(
            model,
            optim.SGD(model.parameters(), lr=3.0),
            make_loss("quadratic_cost"),
            x[:1000],
            y[:1000],
            batch_size=10,
            seed=seed,
            test=(xt[:500], yt[:500]),
            log=None,
        )[-1]

    first, second, other = run(3), run(3), run(4)
    for field in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert getattr(first, field) == getattr(second, field), field
    assert other.train_loss != first.train_loss


def test_nan_loss_stops_training_with_epoch_batch_and_cause():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    with pytest.raises(
        TrainingDiverged, match=r"epoch \d+, batch \d+/\d+.*learning rate \(1e\+30\) is probably too high"
    ):
        fit(
            model,
            optim.SGD(model.parameters(), lr=1e30),
            make_loss("cross_entropy"),
            x,
            y,
            epochs=5,
            batch_size=8,
            log=None,
        )


def test_best_checkpoint_history_csv_and_summary_lines(small_mnist, tmp_path):
    x, y, xt, yt = small_mnist
    lines = []
    model = build_model("relu-10", seed=0)
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.5),
        make_loss("cross_entropy"),
        x[:2000],
        y[:2000],
        epochs=4,
        batch_size=2000,
        test=(xt, yt),
        log=lines.append,
        log_every=2,
        best_checkpoint=tmp_path / "best.npz",
        history_path=tmp_path / "history.csv",
    )
    assert len(history) == 4 and [e.test_accuracy is None for e in history.epochs] == [
        True,
        False,
        True,
        False,
    ]
    assert len(lines) == 2 and "epoch 4/4" in lines[1] and "test loss" in lines[1] and " s" in lines[1]
    reloaded = History.load(tmp_path / "history.csv")
    assert reloaded.column("train_loss") == pytest.approx(history.column("train_loss"))
    assert (tmp_path / "best.npz").exists()


def test_evaluate_runs_under_no_grad_and_restores_training_mode(small_mnist):
    _, _, xt, yt = small_mnist
    model = build_model("relu-10", seed=0)
    model.train()
    seen = []
    original = model.forward

    def spy(x: Tensor) -> Tensor:
        out = original(x)
        seen.append(out.requires_grad)
        return out

    model.forward = spy
    evaluate(model, xt[:10], yt[:10])
    assert seen == [False] and model.training


def test_bad_inputs_are_named():
    model = build_model("relu-10")
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        fit(
            model, opt, make_loss("cross_entropy"), np.zeros((3, 784), np.float32), np.zeros(2, int), log=None
        )
    with pytest.raises(ValueError, match="history file .* must end in .json or .csv"):
        History().save("history.txt")


def test_history_load_names_the_file_of_a_broken_history(tmp_path):
    broken = tmp_path / "history.csv"
    broken.write_text("epoch,train_loss\n1,not-a-number\n")
    with pytest.raises(ValueError, match="history.csv is not a training history"):
        History.load(broken)
