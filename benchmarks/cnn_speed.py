"""CNN speed: conv2d forward+backward, the `cnn` model's training epoch, and time to 99% test accuracy,
ours next to PyTorch (CPU, eager) on the same shapes, weights, batches and recipe when torch imports.

    python benchmarks/cnn_speed.py                   # ~5-10 minutes on 2 cores
    python benchmarks/cnn_speed.py --quick           # a few steps of each, to check the script runs
    OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_speed.py   # one BLAS thread (torch gets one too)

1. conv2d alone: forward then backward (weight, bias and, past the first layer, input gradients) at
   the sizes of the `cnn` model and one wider layer; median of --rounds, ours and PyTorch interleaved.
2. Training steps of the `cnn` model with its recipe (AdamW, one-cycle lr, batch 128): the same
   batches for both, interleaved round by round; the epoch time is the median step time x 469 steps.
3. Time to 99.0% test accuracy: the whole run from loading MNIST, the recipe's training with the test
   set evaluated every quarter epoch (evaluation time included, in batches of 250 on both sides), stopped
   at the first evaluation >= 99.0%.
PyTorch runs with torch.set_num_threads equal to $OPENBLAS_NUM_THREADS (2 when unset).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package when it isn't installed

from tinygrad_mnist import nn  # noqa: E402
from tinygrad_mnist.autograd import Tensor  # noqa: E402
from tinygrad_mnist.models import build_model  # noqa: E402
from tinygrad_mnist.nn import functional as F  # noqa: E402
from tinygrad_mnist.recipes import get_recipe, make_optimizer, make_scheduler, mnist_arrays  # noqa: E402
from tinygrad_mnist.train import evaluate  # noqa: E402

CHECKS_PER_EPOCH = 4  # test-set evaluations per epoch in the time-to-99% runs (at 1/4, 1/2, 3/4, 1)
EVAL_BATCH = 250  # images per forward pass when evaluating, both sides (faster than 1000 for ours)
THREADS = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
CONV_SIZES = [  # (batch, in, out, kernel, side, padding, input needs a gradient)
    (128, 1, 16, 5, 28, 2, False),
    (128, 16, 32, 3, 14, 1, True),
    (128, 32, 64, 3, 14, 1, True),
]


def load_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def median_time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contestants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each contestant, run in turn round after round (noise hits all alike)."""
    for fn in contestants.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for r in range(rounds):
        names = list(contestants)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(median_time(contestants[name]))
    return {name: statistics.median(t) for name, t in times.items()}


def row(label: str, ours: float, theirs: float | None, unit: str = "ms", scale: float = 1e3) -> str:
    text = f"  {label:<38} ours {ours * scale:8.1f} {unit}"
    if theirs is not None:
        text += f"   PyTorch {theirs * scale:8.1f} {unit}   ratio {ours / theirs:5.2f}"
    return text


# ---------------------------------------------------------------------------------------------- 1. conv2d
def conv_rows(torch, rounds: int) -> None:
    print("conv2d forward + backward (float32, padding keeps the size):")
    rng = np.random.default_rng(0)
    for size in CONV_SIZES:
        conv_row(torch, size, rounds, rng)


def conv_row(torch, size: tuple, rounds: int, rng: np.random.Generator) -> None:
    n, c, o, k, side, pad, input_grad = size
    x = rng.standard_normal((n, c, side, side), dtype=np.float32)
    w = (rng.standard_normal((o, c, k, k)) * 0.1).astype(np.float32)
    b = np.zeros(o, np.float32)
    g = rng.standard_normal((n, o, side, side), dtype=np.float32)

    def ours():
        xt, wt = Tensor(x, requires_grad=input_grad), Tensor(w, requires_grad=True)
        xt.conv2d(wt, Tensor(b, requires_grad=True), padding=pad).backward(g)

    contestants = {"ours": ours}
    if torch is not None:
        tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))

        def theirs():
            xt = tx.clone().requires_grad_(input_grad)
            wt, bt = tw.clone().requires_grad_(), tb.clone().requires_grad_()
            torch.nn.functional.conv2d(xt, wt, bt, padding=pad).backward(tg)

        contestants["PyTorch"] = theirs
    t = interleaved(contestants, rounds)
    label = f"{n}x{c}x{side}x{side} * {o}x{c}x{k}x{k}" + ("" if input_grad else " (no dx)")
    print(row(label, t["ours"], t.get("PyTorch")))


# ---------------------------------------------------------------------------------------------- the model in torch
def torch_cnn(torch, ours: nn.Module):
    """The `cnn` model (models.MnistCNN) in torch, with our weights copied in."""
    tnn = torch.nn

    class TorchCNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 16, 5, padding=2, bias=False)
            self.pool1, self.bn1 = tnn.MaxPool2d(2), tnn.BatchNorm2d(16)
            self.conv2 = tnn.Conv2d(16, 32, 3, padding=1, bias=False)
            self.pool2, self.bn2 = tnn.MaxPool2d(2), tnn.BatchNorm2d(32)
            self.dropout = tnn.Dropout(0.25)
            self.fc1, self.fc2 = tnn.Linear(32 * 49, 128), tnn.Linear(128, 10)

        def forward(self, x):
            x = x.reshape(-1, 1, 28, 28)
            x = torch.relu(self.bn1(self.pool1(self.conv1(x))))
            x = torch.relu(self.bn2(self.pool2(self.conv2(x))))
            return self.fc2(torch.relu(self.fc1(self.dropout(x.flatten(1)))))

    model = TorchCNN()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            value.copy_(torch.from_numpy(np.asarray(ours.state_dict()[name])))
    return model


def torch_training(torch, model, steps_per_epoch: int, epochs: int):
    recipe = get_recipe("cnn")
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, recipe.lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=recipe.pct_start
    )

    def step(xb, yb):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    return step


def our_training(model, steps_per_epoch: int, epochs: int):
    recipe = get_recipe("cnn")
    opt = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr)
    sched = make_scheduler(recipe.lr_schedule, opt, epochs, steps_per_epoch, recipe.pct_start)

    def step(xb, yb):
        loss = F.cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return float(loss.data)

    return step


# ---------------------------------------------------------------------------------------------- 2. epoch time
def epoch_rows(torch, x: np.ndarray, y: np.ndarray, steps: int, rounds: int) -> None:
    batch, per_epoch = 128, -(-60_000 // 128)
    order = np.random.default_rng(0).permutation(len(y))
    batches = [
        (x[order[i * batch : (i + 1) * batch]], y[order[i * batch : (i + 1) * batch]]) for i in range(steps)
    ]
    nn.manual_seed(0)
    ours_model = build_model("cnn", seed=0)
    total = (rounds + 1) * steps + 1
    contestants = {"ours": our_training(ours_model, total, 1)}
    if torch is not None:
        torch.manual_seed(0)
        contestants["PyTorch"] = torch_training(torch, torch_cnn(torch, ours_model), total, 1)
    runs = {
        name: (lambda step=step: [step(xb, yb) for xb, yb in batches]) for name, step in contestants.items()
    }
    t = interleaved(runs, rounds)
    print(
        f"cnn training step (batch {batch}, AdamW + one-cycle; median of {rounds} rounds of {steps} steps):"
    )
    print(row("one step", t["ours"] / steps, t["PyTorch"] / steps if torch else None))
    print(row(f"epoch ({per_epoch} steps, estimated)", t["ours"] / steps * per_epoch,
              t["PyTorch"] / steps * per_epoch if torch else None, "s", 1.0))  # fmt: skip


# ---------------------------------------------------------------------------------------------- 3. time to 99%
def time_to_target(name: str, make_step, predict, data, target: float, epochs: int, quick: bool) -> None:
    start = time.perf_counter()
    x, y, xt, yt = data()
    steps_per_epoch = -(-len(y) // 128)
    step, accuracy, seen = make_step(steps_per_epoch, epochs), 0.0, 0
    checks = {round(k * steps_per_epoch / CHECKS_PER_EPOCH) for k in range(1, CHECKS_PER_EPOCH + 1)}
    for epoch in range(epochs):
        order = np.random.default_rng(1 + epoch).permutation(len(y))
        for i in range(steps_per_epoch):
            index = order[i * 128 : (i + 1) * 128]
            step(x[index], y[index])
            seen += 1
            if i + 1 in checks:
                accuracy = predict(xt, yt)
                if accuracy >= target:
                    print(f"  {name:<8} {accuracy:.2%} after {seen} steps ({seen / steps_per_epoch:.2f} epochs) "
                          f"in {time.perf_counter() - start:6.1f} s")  # fmt: skip
                    return
    print(f"  {name:<8} reached only {accuracy:.2%} in {time.perf_counter() - start:.1f} s ({epochs} epochs)")


def target_rows(torch, data_dir: str | None, quick: bool) -> None:
    target, epochs = (0.5, 1) if quick else (0.99, get_recipe("cnn").epochs)
    sizes = (2000, 500) if quick else (None, None)
    print(
        f"time to {target:.1%} test accuracy (whole run from loading MNIST; test set checked every quarter epoch):"
    )

    def data():
        return mnist_arrays(data_dir, *sizes)

    nn.manual_seed(0)
    model = build_model("cnn", seed=0)
    time_to_target("ours", lambda s, e: our_training(model, s, e), lambda xt, yt: evaluate(model, xt, yt, batch_size=EVAL_BATCH)[1],
                   data, target, epochs, quick)  # fmt: skip
    if torch is not None:
        torch.manual_seed(0)
        tmodel = torch_cnn(torch, build_model("cnn", seed=0))

        def predict(xt, yt):
            tmodel.eval()
            with torch.no_grad():
                correct = sum(int((tmodel(torch.from_numpy(xt[i : i + EVAL_BATCH])).argmax(1).numpy()
                                   == yt[i : i + EVAL_BATCH]).sum()) for i in range(0, len(yt), EVAL_BATCH))  # fmt: skip
            tmodel.train()
            return correct / len(yt)

        time_to_target(
            "PyTorch", lambda s, e: torch_training(torch, tmodel, s, e), predict, data, target, epochs, quick
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps of each part, to check the script")
    parser.add_argument(
        "--data", default=None, help="MNIST folder (default: $TINYGRAD_MNIST_DATA or the cache)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per timing (default: 5)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per round (default: 40)")
    parser.add_argument("--no-target", action="store_true", help="skip the time-to-99%% runs")
    args = parser.parse_args()
    rounds, steps = (2, 2) if args.quick else (args.rounds, args.steps)
    torch = load_torch()
    print(f"machine: {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"numpy {np.__version__}, " + (f"torch {torch.__version__} ({THREADS} threads)" if torch else "no torch"))  # fmt: skip
    if not args.quick:
        conv_rows(torch, rounds)
    x, y, _, _ = mnist_arrays(args.data, 2000 if args.quick else None, 100)
    epoch_rows(torch, x, y, steps, rounds)
    if not args.no_target:
        target_rows(torch, args.data, args.quick)


if __name__ == "__main__":
    main()
