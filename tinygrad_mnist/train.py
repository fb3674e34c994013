"""The training loop shared by the command line and the examples: `fit`, `evaluate` and the `History`.

One loop for everyone, so the examples show the same steps a learner writes by hand (forward, loss,
zero_grad, backward, step) and every run reports the same numbers the same way.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tinygrad_mnist.atomic import atomic_write_text
from tinygrad_mnist.data.loader import DataLoader
from tinygrad_mnist.tensor import Tensor, no_grad

LossFn = Callable[[Tensor, np.ndarray], Tensor]
"""loss_fn(model_output, integer_labels) -> the batch's mean loss per sample, as a scalar Tensor.

A mean (not a sum) keeps train and test losses comparable whatever the batch sizes; squared-error
losses turn the labels into one-hot targets inside (see `recipes.squared_error`)."""


class Optimizer(Protocol):
    def zero_grad(self) -> None: ...
    def step(self) -> None: ...


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or exploded far past where it started: stopping beats training on garbage."""


DIVERGENCE_FACTOR = 100.0
"""A batch loss over this many times the first batch's (at least 1.0) counts as diverged: an
untrained MNIST net starts near 2.3 (cross-entropy) or ~1 (squared error); a healthy run only goes
down, and a cross-entropy of 230 per sample means logits hundreds apart on the wrong class."""


class _DivergenceGuard:
    """Stops a run whose loss is non-finite, or finite but exploding (`--lr 1e6` gave 1.2e28 and exit 0)."""

    def __init__(self, factor: float | None) -> None:
        self.factor, self.start = factor, None

    def check(self, value: float, where: str, optimizer: Any) -> None:
        if not math.isfinite(value):
            raise TrainingDiverged(_diverged_message(value, where, optimizer))
        if self.factor is None:
            return
        if self.start is None:
            self.start = value
        elif value > self.factor * max(self.start, 1.0):
            what = f"{value:.4g} {where}, over {self.factor:g}x its start ({self.start:.4g})"
            raise TrainingDiverged(_diverged_message(what, "", optimizer))


@dataclass
class EpochResult:
    """One line of the history: what an epoch cost and how well the model did after it."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float | None
    test_accuracy: float | None
    seconds: float


@dataclass
class History:
    """Per-epoch results as data: plot them, compare runs, or write them to JSON/CSV."""

    epochs: list[EpochResult] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, index: int) -> EpochResult:
        return self.epochs[index]

    def column(self, name: str) -> list[Any]:
        return [getattr(e, name) for e in self.epochs]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `.json` (a list of epoch records) or `.csv` (one row per epoch), atomically."""
        path = Path(path)
        rows = [asdict(e) for e in self.epochs]
        if path.suffix == ".json":
            text = json.dumps(rows, indent=2) + "\n"
        elif path.suffix == ".csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(EpochResult)])
            writer.writeheader()
            writer.writerows(rows)
            text = buffer.getvalue()
        else:
            raise ValueError(f"history file {path} must end in .json or .csv")
        atomic_write_text(path, text)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        path = Path(path)
        from tinygrad_mnist.inputs import check_regular_file

        check_regular_file(path, "history file")  # a FIFO would block read_text forever
        try:
            if path.suffix == ".json":
                rows = json.loads(path.read_text())
            elif path.suffix == ".csv":
                rows = [
                    {k: (None if v == "" else float(v)) for k, v in row.items()}
                    for row in csv.DictReader(path.read_text().splitlines())
                ]
            else:
                raise ValueError(f"history file {path} must end in .json or .csv")
            return cls([EpochResult(**{**row, "epoch": int(row["epoch"])}) for row in rows])
        except (KeyError, TypeError, ValueError) as err:  # JSONDecodeError is a ValueError
            raise ValueError(f"{path} is not a training history written by tinygrad_mnist: {err}") from None


Transform = Callable[[np.ndarray], np.ndarray]


def _check_data(x: np.ndarray, y: np.ndarray, what: str, transform: Transform | None = None) -> None:
    if transform is None and np.asarray(x).dtype.kind != "f":
        raise TypeError(
            f"{what}: inputs must be floats, got dtype {np.asarray(x).dtype}; scale 0..255 pixels first "
            "(x.astype(np.float32) / 255, or pass transform=data.scale to scale each batch), as a float "
            "model would otherwise see values 255x too large"
        )
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} inputs but {len(y)} labels (shapes {x.shape} and {y.shape})")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")


@contextmanager
def evaluating(model: Any) -> Iterator[Any]:
    """`model.eval()` and `no_grad()` for the block, then the mode the model had: for inference code."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            yield model
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def evaluate(
    model: Callable[[Tensor], Tensor],
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: LossFn | None = None,
    batch_size: int = 1000,
    transform: Transform | None = None,
) -> tuple[float | None, float]:
    """Mean loss per sample (None without `loss_fn`) and accuracy over (x, y), under no_grad.
    `transform` (e.g. `data.scale`) turns each batch of `x` into the model's inputs first."""
    _check_data(x, y, "evaluate", transform)
    total_loss, correct = 0.0, 0
    with evaluating(model):
        for xb, yb in DataLoader(x, y, batch_size):
            out = model(Tensor(xb if transform is None else transform(xb)))
            if loss_fn is not None:
                total_loss += float(loss_fn(out, yb).data) * len(yb)
            correct += int((out.data.argmax(axis=1) == yb).sum())
    return (total_loss / len(y) if loss_fn is not None else None), correct / len(y)


def _progress_enabled(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def fit(
    model: Any,
    optimizer: Optimizer,
    loss_fn: LossFn,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    epochs: int = 1,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int | None = 0,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    eval_batch_size: int = 1000,
    progress: bool | None = None,
    log: Callable[[str], None] | None = print,
    checkpoint: str | os.PathLike[str] | None = None,
    best_checkpoint: str | os.PathLike[str] | None = None,
    history_path: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
    log_every: int = 1,
    scheduler: Any = None,
    divergence_factor: float | None = DIVERGENCE_FACTOR,
    augment: Callable[[np.ndarray], np.ndarray] | None = None,
    compile: bool | str = True,
    transform: Transform | None = None,
) -> History:
    """Train `model` for `epochs` passes over (x_train, y_train) and return the per-epoch `History`.

    Each step is the textbook one: forward, loss, `zero_grad`, `backward`, `step`. Batches come from a
    `DataLoader` shuffled by `seed`, so the same seed gives the same run. After each epoch the test set
    (if given) is evaluated under no_grad in batches of `eval_batch_size`, one summary line goes to `log`,
    and the history is written to `history_path`. `checkpoint` is saved at the end and `best_checkpoint`
    whenever test accuracy improves. With `log_every=k` the test set is evaluated and a line printed only
    every k epochs and after the last (full-batch runs have hundreds of one-step epochs). The progress bar shows itself only on a terminal unless
    `progress` says otherwise. A `scheduler` (see `optim.lr_scheduler`) is stepped after each epoch, or
    after each batch if it has `per_batch = True` (OneCycleLR). `augment` (e.g.
    `data.augment.RandomAffine`) transforms each training batch of images before the forward pass.
    A NaN or infinite loss, or a batch loss over `divergence_factor` times the first one (None: no such
    check), raises `TrainingDiverged` naming the epoch, batch and learning rate; nothing is saved then,
    so `checkpoint` keeps what it held and `best_checkpoint` the best epoch before the explosion.
    Integer inputs are refused (scale 0..255 pixels to floats first), as PyTorch's layers refuse them,
    unless a `transform` (e.g. `data.scale`) turns each batch, training and test, into floats first
    (before `augment`): then the images can stay uint8, a quarter of the memory, with no pass over all of
    them at the start, and the numbers are the same as scaling them all first.
    With `compile` (the default) each batch shape's step is captured once and replayed as generated
    numpy (`tinygrad_mnist.compile`, the same numbers); a step it cannot replay runs eagerly.
    `compile="fast"` replays in the fast mode (`exact=False`: equal to the eager numbers up to float32
    rounding, faster for plain SGD and per-sample steps); `compile=False` runs the eager engine.
    """
    if compile not in (True, False, "fast"):
        raise ValueError(f"fit: compile must be True, False or 'fast', got {compile!r}")
    _check_data(x_train, y_train, "fit", transform)
    if epochs < 1 or log_every < 1:
        raise ValueError(f"epochs and log_every must be at least 1, got {epochs} and {log_every}")
    loader = DataLoader(x_train, y_train, batch_size, shuffle=shuffle, seed=seed)
    history, best_accuracy = History(), -1.0
    guard = _DivergenceGuard(divergence_factor)
    show_bar = _progress_enabled(progress)
    step = None
    if compile:
        from tinygrad_mnist.compile import compile_step  # the speed layer sits above nn and optim

        step = compile_step(model, loss_fn, optimizer, warn=False, exact=compile != "fast")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        per_batch = scheduler if getattr(scheduler, "per_batch", False) else None
        train_loss, train_accuracy = _train_epoch(
            model,
            optimizer,
            loss_fn,
            loader,
            f"{epoch}/{epochs}",
            show_bar,
            guard,
            per_batch,
            augment,
            step,
            transform,
        )
        seconds = time.perf_counter() - start
        if scheduler is not None and per_batch is None:
            scheduler.step()
        report = epoch % log_every == 0 or epoch == epochs
        test_loss, test_accuracy = None, None
        if test is not None and report:
            test_loss, test_accuracy = evaluate(model, *test, loss_fn, eval_batch_size, transform)
            guard.check(test_loss, f"on the test set after epoch {epoch}", optimizer)
        result = EpochResult(epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds)
        history.epochs.append(result)
        if log is not None and report:
            log(format_epoch(result, epochs))
        if history_path is not None:
            history.save(history_path)
        if best_checkpoint is not None and test_accuracy is not None and test_accuracy > best_accuracy:
            best_accuracy = test_accuracy
            _save(model, best_checkpoint, metadata, result)
    if checkpoint is not None:
        _save(model, checkpoint, metadata, history[-1])
    return history


def _train_epoch(
    model: Any,
    optimizer: Optimizer,
    loss_fn: LossFn,
    loader: DataLoader,
    epoch: str,
    show_bar: bool,
    guard: _DivergenceGuard,
    scheduler: Any = None,
    augment: Callable[[np.ndarray], np.ndarray] | None = None,
    compiled: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]] | None = None,
    transform: Transform | None = None,
) -> tuple[float, float]:
    """One pass over `loader`, the textbook step per batch; returns mean loss and accuracy of the pass.
    A `compiled` step does the same five things in one call (so its loss is checked after the update)."""
    if hasattr(model, "train"):
        model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = _progress_bar(loader, f"epoch {epoch}") if show_bar else None
    # numpy's overflow warnings would only repeat, less clearly, what the finite-loss check reports
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step, (xb, yb) in enumerate(loader if bar is None else bar, start=1):
            xb = xb if transform is None else transform(xb)
            xb = xb if augment is None else augment(xb)
            where = f"at epoch {epoch.split('/')[0]}, batch {step}/{len(loader)}"
            if compiled is not None:
                value, outputs = compiled(xb, yb)
                guard.check(value, where, optimizer)
            else:
                out = model(Tensor(xb))
                loss = loss_fn(out, yb)
                value, outputs = float(loss.data), out.data
                guard.check(value, where, optimizer)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += value * len(yb)
            correct += int((outputs.argmax(axis=1) == yb).sum())
            seen += len(yb)
            if bar is not None and step % 20 == 0:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.2%}", refresh=False)
    if bar is not None:
        bar.close()
    return total_loss / seen, correct / seen


def _progress_bar(loader: DataLoader, desc: str) -> Any:
    from tqdm.auto import tqdm  # only on a terminal: importing it costs 0.03 s of every run's start

    return tqdm(loader, desc=desc, leave=False, unit="batch")


def _save(
    model: Any, path: str | os.PathLike[str], metadata: dict[str, Any] | None, result: EpochResult
) -> None:
    from tinygrad_mnist.checkpoint import save  # checkpoints sit beside nn; imported only when used

    save(
        model,
        path,
        metadata={**(metadata or {}), "epoch": result.epoch, "test_accuracy": result.test_accuracy},
    )


def _diverged_message(value: float | str, where: str, optimizer: Any) -> str:
    groups = getattr(optimizer, "param_groups", None)
    lr = groups[0].get("lr") if groups else getattr(optimizer, "lr", None)
    hint = (
        f"the learning rate ({lr:g}) is probably too high"
        if lr is not None
        else "the learning rate may be too high"
    )
    return f"{f'loss became {value} {where}'.rstrip()}; training stopped. Likely cause: {hint}: try a smaller --lr (e.g. 10x smaller)."


def format_epoch(result: EpochResult, epochs: int) -> str:
    """One summary line: train loss/accuracy, test loss/accuracy, seconds."""
    line = (
        f"epoch {result.epoch:>{len(str(epochs))}}/{epochs}  "
        f"train loss {result.train_loss:.4f}  acc {result.train_accuracy:6.2%}"
    )
    if result.test_accuracy is not None:
        test_loss = "n/a" if result.test_loss is None else f"{result.test_loss:.4f}"
        line += f"  |  test loss {test_loss}  acc {result.test_accuracy:6.2%}"
    return line + f"  |  {result.seconds:.1f} s"
