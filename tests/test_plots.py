"""Each plot is a real PNG of figsize x dpi pixels, written atomically, drawn without pyplot's global state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinygrad_mnist import plots
from tinygrad_mnist.models import build_model
from tinygrad_mnist.train import EpochResult, History

ROOT = Path(__file__).resolve().parents[1]


def png_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.load()  # decodes the whole file: a truncated PNG fails here
        return image.size


def expected_size(fig) -> tuple[int, int]:
    width, height = fig.get_size_inches() * fig.dpi
    return round(width), round(height)


def history(epochs: int = 6, log_every: int = 1) -> History:
    rows = []
    for e in range(1, epochs + 1):
        tested = e % log_every == 0 or e == epochs
        rows.append(
            EpochResult(
                e, 1.0 / e, 1 - 0.3 / e, 0.9 / e if tested else None, 1 - 0.25 / e if tested else None, 0.5
            )
        )
    return History(rows)


def test_curves_png_has_the_figure_size(tmp_path):
    out = tmp_path / "curves.png"
    fig = plots.plot_curves(history(), out, figsize=(8, 3), dpi=90)
    assert png_size(out) == (720, 270) == expected_size(fig)
    loss_ax, acc_ax = fig.axes[:2]
    train, test = acc_ax.get_lines()
    np.testing.assert_allclose(test.get_ydata(), [100 * (1 - 0.25 / e) for e in range(1, 7)])


def test_curves_skip_epochs_without_test_values_and_read_files(tmp_path):
    h = history(epochs=10, log_every=4)  # test values at epochs 4, 8 and 10 only
    for suffix in (".json", ".csv"):
        saved = h.save(tmp_path / f"history{suffix}")
        fig = plots.plot_curves(saved, tmp_path / f"curves{suffix}.png")
        train, test = fig.axes[0].get_lines()
        assert list(train.get_xdata()) == list(range(1, 11))
        assert list(test.get_xdata()) == [4, 8, 10]
        assert png_size(tmp_path / f"curves{suffix}.png") == expected_size(fig)
    with pytest.raises(ValueError, match="no epochs"):
        plots.plot_curves(History())


def test_confusion_matrix_counts():
    labels = np.array([0, 0, 1, 2, 2, 2, 9])
    predicted = np.array([0, 1, 1, 2, 0, 2, 9])
    counts = plots.confusion_matrix(labels, predicted)
    assert counts.shape == (10, 10) and counts.sum() == 7
    assert counts[0, 0] == 1 and counts[0, 1] == 1 and counts[2, 2] == 2 and counts[2, 0] == 1
    assert counts[9, 9] == 1
    with pytest.raises(ValueError, match=r"classes 0\.\.9"):
        plots.confusion_matrix(np.array([10]), np.array([0]))
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        plots.confusion_matrix(np.zeros(3, int), np.zeros(2, int))


def test_confusion_png_is_annotated(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    predicted = np.where(rng.random(500) < 0.9, labels, rng.integers(0, 10, 500))
    out = tmp_path / "confusion.png"
    fig = plots.plot_confusion(labels, predicted, out, dpi=80)
    assert png_size(out) == expected_size(fig) == (600, 496)
    texts = {t.get_text() for t in fig.axes[0].texts}
    counts = plots.confusion_matrix(labels, predicted)
    assert {str(n) for n in counts[counts > 0]} <= texts  # every non-zero count is written
    assert f"{(labels == predicted).mean():.2%}" in fig.texts[0].get_text()


def test_most_confident_mistakes_are_ordered():
    probs = np.array(
        [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]]
    )  # predictions 0, 1, 1, 1, 0
    labels = np.array([0, 0, 0, 0, 1])
    np.testing.assert_array_equal(plots.most_confident_mistakes(probs, labels, n=10), [3, 1, 4, 2])
    np.testing.assert_array_equal(plots.most_confident_mistakes(probs, labels, n=2), [3, 1])


def test_mistakes_png(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.random((50, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 50)
    probs = rng.dirichlet(np.ones(10), 50)
    out = tmp_path / "mistakes.png"
    fig = plots.plot_mistakes(images, labels, probs, out, n=10, columns=5)
    assert png_size(out) == expected_size(fig)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    worst = plots.most_confident_mistakes(probs, labels, 10)
    assert len(titles) == 10
    assert titles[0].startswith(f"{labels[worst[0]]} → {probs[worst[0]].argmax()}")
    # a perfect model has nothing to show, and says so
    perfect = np.eye(10)[labels]
    fig = plots.plot_mistakes(images, labels, perfect, tmp_path / "none.png")
    assert "no mistakes" in [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.mark.parametrize("model_name, tiles", [("sigmoid-24", 24), ("relu-10", 10), ("mlp-128", 128)])
def test_weights_png_one_tile_per_neuron_symmetric_scale(tmp_path, model_name, tiles):
    model = build_model(model_name, seed=0)
    w = model.fc1.weight.data
    out = tmp_path / "weights.png"
    fig = plots.plot_weights(model, out, dpi=60)
    assert png_size(out) == expected_size(fig)
    [image] = fig.axes[0].get_images()
    mosaic = np.ma.filled(image.get_array(), np.nan)
    rows, columns = plots._grid(tiles)
    assert rows * columns >= tiles and (rows - 1) * columns < tiles
    gy, gx = (9, 3) if tiles <= 40 else (2, 2)
    for i in (0, 3, tiles - 1):  # tile i sits at row i // columns, column i % columns
        r, c = divmod(i, columns)
        tile = mosaic[r * (28 + gy) : r * (28 + gy) + 28, c * (28 + gx) : c * (28 + gx) + 28]
        np.testing.assert_array_equal(tile, w[i].reshape(28, 28))
    assert np.count_nonzero(~np.isnan(mosaic)) == tiles * 784  # every weight once, gaps are NaN
    low, high = image.get_clim()
    assert low == -high and high == pytest.approx(np.percentile(np.abs(w), 99.5))
    assert image.get_cmap().name == "RdBu_r"
    numbers = [t.get_text() for t in fig.axes[0].texts]
    assert numbers == ([f"neuron {i}" for i in range(tiles)] if tiles <= 40 else [])


def test_weights_subset_array_and_bad_shapes():
    w = np.linspace(-1, 2, 5 * 784).reshape(5, 784)
    fig = plots.plot_weights(w, clip_percentile=100)
    assert fig.axes[0].get_images()[0].get_clim() == (-2.0, 2.0)
    fig = plots.plot_weights(w, neurons=2, clip_percentile=100)  # the scale still comes from all five
    assert fig.axes[0].get_images()[0].get_clim() == (-2.0, 2.0)
    assert "first 2 of 5" in fig.texts[0].get_text()
    with pytest.raises(ValueError, match=r"shape \(hidden, 784\), got \(5, 10\)"):
        plots.plot_weights(np.zeros((5, 10)))


def test_tile_mosaic():
    tiles = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    mosaic = plots.tile_mosaic(tiles, columns=2, gap=(1, 1))
    expected = np.array(
        [
            [0, 1, np.nan, 4, 5],
            [2, 3, np.nan, 6, 7],
            [np.nan] * 5,
            [8, 9, np.nan, np.nan, np.nan],
            [10, 11, np.nan, np.nan, np.nan],
        ]
    )
    np.testing.assert_array_equal(mosaic, expected)


def test_save_is_atomic_and_png_only(tmp_path, monkeypatch):
    out = tmp_path / "sub" / "curves.png"
    fig = plots.plot_curves(history())
    plots.save_figure(fig, out)
    before = out.read_bytes()

    def broken(file, **kwargs):
        file.write(b"\x89PNG half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.save_figure(fig, out)
    assert out.read_bytes() == before  # the old picture is intact
    assert sorted(p.name for p in out.parent.iterdir()) == ["curves.png"]  # no temporary left behind
    with pytest.raises(ValueError, match=r"curves\.svg: figures are written as PNG"):
        plots.save_figure(fig, tmp_path / "curves.svg")


def test_write_figures(tmp_path):
    model = build_model("relu-10", seed=0)
    rng = np.random.default_rng(2)
    x, y = rng.random((40, 784)).astype(np.float32), rng.integers(0, 10, 40)
    written = plots.write_figures(model, tmp_path, x, y, history(), dpi=50)
    assert sorted(written) == sorted(plots.FIGURE_NAMES)
    for name, path in written.items():
        assert path == tmp_path / f"{name}.png" and png_size(path)[0] > 100
    only = plots.write_figures(model, tmp_path / "w", which=["weights"])
    assert list(only) == ["weights"]
    with pytest.raises(ValueError, match="unknown figure"):
        plots.write_figures(model, tmp_path, which=["nope"])


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'tinygrad_mnist\[plots\]'"):
        plots.plot_curves(history())


def test_a_one_epoch_curve_has_one_tick_at_epoch_1_and_says_1_epoch():
    one = History([EpochResult(1, 0.3, 0.91, 0.15, 0.955, 1.0)])
    fig = plots.plot_curves(one)
    for ax in fig.axes[:2]:
        assert list(ax.get_xticks()) == [1]
        low, high = ax.get_xlim()
        assert low < 1 < high and high - low == 2
    assert fig._suptitle.get_text() == "Training curves (1 epoch)"
    three = History([EpochResult(e, 0.3, 0.91, 0.15, 0.955, 1.0) for e in (1, 2, 3)])
    fig = plots.plot_curves(three)
    assert list(fig.axes[0].get_xticks()) == [1, 2, 3]
    assert fig._suptitle.get_text() == "Training curves (3 epochs)"


def test_no_pyplot_global_state(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from tinygrad_mnist import plots\n"
        "from tinygrad_mnist.models import build_model\n"
        f"plots.plot_weights(build_model('relu-10'), {str(tmp_path / 'w.png')!r})\n"
        "plots.plot_confusion(np.arange(10), np.arange(10))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
