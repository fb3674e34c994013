"""Pictures of a training run and of what the network learned: curves, confusion, mistakes, weights.

    from tinygrad_mnist import plots
    plots.plot_curves(History.load("history.json"), "curves.png")
    plots.plot_confusion(y_test, probs.argmax(1), "confusion.png")
    plots.plot_mistakes(x_test, y_test, probs, "mistakes.png")
    plots.plot_weights(model, "weights.png")
    plots.plot_filters(cnn_model, "filters.png")        # a CNN's first conv filters
    plots.write_figures(model, "figures/", x_test, y_test, history)   # all four

Every function builds its own `matplotlib.figure.Figure` on an Agg canvas and returns it: nothing
touches pyplot's global state, so they are safe in scripts, tests and threads, and show in notebooks
(a Figure displays itself). Given a path, the PNG is written atomically (temporary file in the same
folder, then `os.replace`), figsize x dpi pixels exactly. Needs matplotlib:
`pip install 'tinygrad_mnist[plots]'`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_mnist.data.idx import atomic_write
from tinygrad_mnist.predict import format_percent
from tinygrad_mnist.train import History

PLOTS_HINT = "pip install 'tinygrad_mnist[plots]'"
FIGURE_NAMES = ("curves", "confusion", "mistakes", "weights")
TRAIN_COLOUR, TEST_COLOUR = "#1f77b4", "#d62728"


def _new_figure(figsize: tuple[float, float], dpi: float) -> Any:
    """A standalone Figure on an Agg canvas, constrained layout (labels never overlap or get clipped)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"plotting needs matplotlib: {PLOTS_HINT}") from None
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write `fig` as a PNG of figsize x dpi pixels, atomically; creates the folder. Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: figures are written as PNG; use a .png file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:  # temporary file in the same folder, then os.replace
        fig.savefig(f, format="png", dpi=fig.dpi)
    return path


def _finish(fig: Any, path: str | os.PathLike[str] | None) -> Any:
    if path is not None:
        save_figure(fig, path)
    return fig


# --- training curves -------------------------------------------------------------------------------


def plot_curves(
    history: History | str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (10, 4),
    dpi: float = 100,
) -> Any:
    """Loss and accuracy per epoch, train and test side by side, from a `History` or its .json/.csv file.

    Train values are averages over each epoch while the weights were still changing; test values are
    measured after the epoch. Epochs without a test value (training with log_every > 1) are skipped
    in the test line, which is drawn with a marker at each point it has.
    """
    if not isinstance(history, History):
        history = History.load(history)
    if len(history) == 0:
        raise ValueError("plot_curves: the history has no epochs")
    fig = _new_figure(figsize, dpi)  # first: it turns a missing matplotlib into the install hint
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    epochs = np.array(history.column("epoch"))
    loss_ax, acc_ax = fig.subplots(1, 2)
    many = len(epochs) > 40  # markers on hundreds of points would be a smear
    for ax, key, label in ((loss_ax, "loss", "loss per sample"), (acc_ax, "accuracy", "accuracy")):
        scale = 100.0 if key == "accuracy" else 1.0
        train = np.array(history.column(f"train_{key}"), dtype=float) * scale
        ax.plot(epochs, train, color=TRAIN_COLOUR, marker=None if many else "o", ms=4, label="train")
        test = [(e, v * scale) for e, v in zip(epochs, history.column(f"test_{key}")) if v is not None]
        if test:
            te, tv = zip(*test)
            last = f"{tv[-1]:.2f}%" if key == "accuracy" else f"{tv[-1]:.4f}"
            ax.plot(te, tv, color=TEST_COLOUR, marker="o", ms=4, label=f"test (last: {last})")
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel(label, fontsize=11)
        if len(epochs) <= 12:  # a tick at every epoch: a short run never shows fractional epochs
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if key == "accuracy" else "upper right", fontsize=10)
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)  # one point, centred, with its epoch as the only tick
    acc_ax.yaxis.set_major_formatter(PercentFormatter(decimals=1 if _span(acc_ax) < 5 else 0))
    loss_ax.set_title("Loss", fontsize=12)
    acc_ax.set_title("Accuracy", fontsize=12)
    count = f"{len(epochs)} epoch{'' if len(epochs) == 1 else 's'}"
    fig.suptitle(title or f"Training curves ({count})", fontsize=13)
    return _finish(fig, path)


def _span(ax: Any) -> float:
    low, high = ax.get_ylim()
    return high - low


# --- confusion matrix ------------------------------------------------------------------------------


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """counts[i, j] = how many images of true class i were predicted as j (rows: truth)."""
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    if labels.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: {labels.size} labels but {predictions.size} predictions")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"confusion_matrix: {name} must be classes 0..{num_classes - 1}, "
                f"got values in [{values.min()}, {values.max()}]"
            )
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def plot_confusion(
    labels: np.ndarray,
    predictions: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (7.5, 6.2),
    dpi: float = 100,
) -> Any:
    """The 10x10 confusion matrix with every count written in its cell.

    Colour shows only the mistakes (off-diagonal): the correct counts on the diagonal are ~100x larger
    and would wash every mistake out to white. The diagonal is grey with its count in bold, and the
    right-hand axis gives each digit's share of correct answers.
    """
    counts = confusion_matrix(labels, predictions)
    k = len(counts)
    off = counts.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    top = max(1.0, float(np.nanmax(off)))
    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(off), cmap="Reds", vmin=0, vmax=top)
    for i in range(k):
        ax.add_patch(_square(i, i, "#d9d9d9"))
        for j in range(k):
            n = int(counts[i, j])
            if i == j:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=9, fontweight="bold")
            elif n:
                colour = "white" if n > 0.6 * top else "black"
                ax.text(j, i, str(n), ha="center", va="center", fontsize=9.5, color=colour)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.tick_params(labelsize=11, length=0)
    ax.set_xlabel("predicted digit", fontsize=12)
    ax.set_ylabel("true digit", fontsize=12)
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    ax.set_xlim(-0.5, k - 0.5)
    ax.set_ylim(k - 0.5, -0.5)
    totals = counts.sum(axis=1)
    shares = [f"{counts[i, i] / totals[i]:.1%}" if totals[i] else "-" for i in range(k)]
    right = ax.secondary_yaxis("right")  # an axis, so the layout makes room for it
    right.set_yticks(range(k), labels=shares)
    right.tick_params(labelsize=9.5, length=0)
    right.set_ylabel("correct, per true digit", fontsize=10, rotation=270, labelpad=14)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    right.spines["right"].set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.75, pad=0.03)
    bar.set_label("mistakes (off-diagonal count)", fontsize=10)
    total, correct = int(counts.sum()), int(np.trace(counts))
    accuracy = correct / total if total else float("nan")
    fig.suptitle(title or f"Confusion matrix: {accuracy:.2%} of {total:,} test images correct", fontsize=13)
    return _finish(fig, path)


def _square(row: int, col: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor="none", zorder=0.5)


# --- most confident mistakes -----------------------------------------------------------------------


def most_confident_mistakes(probs: np.ndarray, labels: np.ndarray, n: int = 24) -> np.ndarray:
    """Indices of the (at most) n wrong predictions with the highest predicted probability, highest first."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"expected probs (N, C) and N labels, got shapes {probs.shape} and {labels.shape}")
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:n]]


def plot_mistakes(
    images: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    *,
    n: int = 24,
    columns: int = 8,
    title: str | None = None,
    dpi: float = 100,
) -> Any:
    """A grid of the test images the model got wrong most confidently: true label, prediction, confidence.

    `images` are (N, 784) or (N, 28, 28) in [0, 1], `probs` the model's (N, 10) class probabilities.
    Drawn dark on white (MNIST stores white on black) because that is how digits are written.
    """
    images = np.asarray(images).reshape(len(images), 28, 28)
    order = most_confident_mistakes(probs, labels, n)
    shown = max(1, len(order))
    columns = min(columns, shown)
    rows = math.ceil(shown / columns)
    fig = _new_figure((1.25 * columns + 0.2, 1.45 * rows + 0.6), dpi)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    predicted = np.asarray(probs).argmax(axis=1)
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, order):
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        p = predicted[i]
        ax.set_title(f"{labels[i]} → {p}  {format_percent(probs[i, p])}", fontsize=10, color="#b00000")
    if len(order) == 0:
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=12)
    fig.suptitle(
        title
        or f"Most confident mistakes ({len(order)} of {int((predicted != labels).sum())}): "
        "true → predicted, confidence",
        fontsize=12,
    )
    return _finish(fig, path)


# --- first-layer weights ---------------------------------------------------------------------------


def first_layer_weights(model_or_weights: Any) -> np.ndarray:
    """The (hidden, 784) weight matrix of a model's first Linear layer (or the array given)."""
    if isinstance(model_or_weights, np.ndarray):
        weights = model_or_weights
    else:
        from tinygrad_mnist import nn

        linear = next((m for m in model_or_weights.modules() if isinstance(m, nn.Linear)), None)
        if linear is None:
            raise ValueError(f"{type(model_or_weights).__name__} has no Linear layer to draw")
        weights = linear.weight.data
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != 784:
        raise ValueError(f"first-layer weights must have shape (hidden, 784), got {weights.shape}")
    return weights


def _grid(n: int) -> tuple[int, int]:
    """(rows, columns) for n tiles: no empty slots if possible, about twice as wide as tall."""
    low = math.ceil(math.sqrt(n))
    best = min(
        range(low, 2 * low + 1),
        key=lambda c: (math.ceil(n / c) * c - n, abs(c / math.ceil(n / c) - 2.0)),
    )
    return math.ceil(n / best), best


def tile_mosaic(tiles: np.ndarray, columns: int, gap: tuple[int, int] = (2, 2)) -> np.ndarray:
    """Lay (n, h, w) tiles out row by row in one array, `gap` = (rows, columns) of NaN between them.

    One image instead of one axes per tile: drawing 256 tiles takes a fraction of a second, not
    several, and NaN shows as the background colour.
    """
    n, h, w = tiles.shape
    rows = math.ceil(n / columns)
    gy, gx = gap
    mosaic = np.full((rows * (h + gy) - gy, columns * (w + gx) - gx), np.nan)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        mosaic[r * (h + gy) : r * (h + gy) + h, c * (w + gx) : c * (w + gx) + w] = tile
    return mosaic


def plot_weights(
    model_or_weights: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    neurons: int | None = None,
    columns: int | None = None,
    clip_percentile: float = 99.5,
    title: str | None = None,
    dpi: float = 100,
) -> Any:
    """Each hidden neuron's 784 input weights as a 28x28 picture: what that neuron "looks for".

    Red pixels push the neuron's input up when lit, blue ones down; white is zero. One colour scale,
    symmetric about zero, is shared by every tile so their strengths compare. Its limits are
    +-(the `clip_percentile` percentile of |w|): with 100 that is max|w|, but a handful of extreme
    weights would then wash the rest out, so by default the top 0.5% saturate (the colour bar's
    pointed ends say so). `neurons=n` draws only the first n (the scale still comes from all of them).
    Up to 40 tiles are numbered (neuron i is row i of the weight matrix).
    """
    if not 0 < clip_percentile <= 100:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    all_weights = first_layer_weights(model_or_weights)
    if neurons is not None and not 1 <= neurons:
        raise ValueError(f"neurons must be at least 1, got {neurons}")
    weights = all_weights[:neurons]
    hidden = len(weights)
    rows, columns = _grid(hidden) if columns is None else (math.ceil(hidden / columns), columns)
    numbered = hidden <= 40
    gap = (9, 3) if numbered else (2, 2)  # room above each tile for its number
    mosaic = tile_mosaic(weights.reshape(hidden, 28, 28), columns, gap)
    inch = (1.25 if numbered else 0.75) / (28 + gap[1])  # inches per weight pixel
    fig = _new_figure((columns * (28 + gap[1]) * inch + 1.3, rows * (28 + gap[0]) * inch + 0.65), dpi)
    ax = fig.add_subplot()
    limit = float(np.percentile(np.abs(all_weights), clip_percentile)) or 1.0
    clipped = bool(np.abs(weights).max() > limit)
    top = -gap[0] if numbered else -0.5
    image = ax.imshow(
        mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
        extent=(-0.5, mosaic.shape[1] - 0.5, mosaic.shape[0] - 0.5, -0.5),
    )  # fmt: skip
    ax.set_ylim(mosaic.shape[0] - 0.5, top)
    ax.set_axis_off()
    if numbered:
        for i in range(hidden):
            r, c = divmod(i, columns)
            x = c * (28 + gap[1]) + 13.5
            y = r * (28 + gap[0]) - 1.5
            ax.text(x, y, f"neuron {i}", ha="center", va="bottom", fontsize=9)
    bar = fig.colorbar(
        image, ax=ax, shrink=0.85, aspect=25 if rows > 2 else 12,
        extend="both" if clipped else "neither", pad=0.02,
    )  # fmt: skip
    bar.set_label("weight", fontsize=10)
    which = (
        f"{hidden} hidden neurons"
        if hidden == len(all_weights)
        else f"the first {hidden} of {len(all_weights)} hidden neurons"
    )
    fig.suptitle(
        title or f"First-layer weights of {which} (red: lit pixel excites, blue: inhibits)", fontsize=12
    )
    return _finish(fig, path)


def first_layer_is_conv(model: Any) -> bool:
    """True when the first layer with weights is a Conv2d (then weights.png shows its filters)."""
    from tinygrad_mnist import nn

    first = next((m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)), None)
    return isinstance(first, nn.Conv2d)


def plot_filters(
    model_or_filters: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    dpi: float = 100,
) -> Any:
    """The first convolution's filters, one kh x kw tile per (output channel, input channel): the
    stroke and edge detectors the network slides over the image. Red weights respond to ink, blue to
    background; one colour scale symmetric about zero is shared by every tile."""
    if isinstance(model_or_filters, np.ndarray):
        filters = model_or_filters
    else:
        from tinygrad_mnist import nn

        conv = next((m for m in model_or_filters.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is None:
            raise ValueError(f"{type(model_or_filters).__name__} has no Conv2d layer to draw")
        filters = conv.weight.data
    filters = np.asarray(filters, dtype=np.float64)
    if filters.ndim != 4:
        raise ValueError(f"conv filters must have shape (out, in, kh, kw), got {filters.shape}")
    o, c, kh, kw = filters.shape
    tiles = filters.reshape(o * c, kh, kw)
    rows, columns = _grid(len(tiles))
    mosaic = tile_mosaic(tiles, columns, (1, 1))
    inch = 0.16  # per weight pixel: a 5x5 filter is 0.8 inch
    fig = _new_figure((mosaic.shape[1] * inch + 1.4, mosaic.shape[0] * inch + 0.7), dpi)
    ax = fig.add_subplot()
    limit = float(np.abs(filters).max()) or 1.0
    image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(image, ax=ax, shrink=0.85, pad=0.02).set_label("weight", fontsize=10)
    which = f"{o} filters" + (f" x {c} input channels" if c > 1 else "")
    fig.suptitle(title or f"First-layer {kh}x{kw} conv filters ({which})", fontsize=12)
    return _finish(fig, path)


# --- everything at once ----------------------------------------------------------------------------


def write_figures(
    model: Any,
    out_dir: str | os.PathLike[str],
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    history: History | str | os.PathLike[str] | None = None,
    *,
    which: Iterable[str] = FIGURE_NAMES,
    mistakes: int = 24,
    neurons: int | None = None,
    dpi: float = 100,
) -> dict[str, Path]:
    """Write curves.png (needs `history`), confusion.png and mistakes.png (need the test set and a
    model) and weights.png (needs a model) into `out_dir`; returns {name: path} of what was written."""
    which = list(which)
    unknown = sorted(set(which) - set(FIGURE_NAMES))
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURE_NAMES)}")
    out = Path(out_dir)
    written: dict[str, Path] = {}
    needs_test = {"confusion", "mistakes"} & set(which)
    probs = None
    if needs_test and model is not None:
        if x_test is None or y_test is None:
            raise ValueError("confusion and mistakes need the test set (x_test, y_test)")
        from tinygrad_mnist.predict import predict_proba

        probs = predict_proba(model, x_test)
    for name in which:
        if name == "curves" and history is not None:
            fig = plot_curves(history, dpi=dpi)
        elif name == "confusion" and probs is not None:
            fig = plot_confusion(y_test, probs.argmax(axis=1), dpi=dpi)
        elif name == "mistakes" and probs is not None:
            fig = plot_mistakes(x_test, y_test, probs, n=mistakes, dpi=dpi)
        elif name == "weights" and model is not None:
            if first_layer_is_conv(model):
                fig = plot_filters(model, dpi=dpi)
            else:
                fig = plot_weights(model, neurons=neurons, dpi=dpi)
        else:
            continue
        written[name] = save_figure(fig, out / f"{name}.png")
    return written
