"""`tinygrad-mnist predict` and `plot` as real subprocesses, with a checkpoint the test trains itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clitools import ROOT, assert_one_line_error, run_cli
from PIL import Image, ImageDraw

from tinygrad_mnist.models import load_trained_model
from tinygrad_mnist.predict import format_percent, predict_digits
from tinygrad_mnist.recipes import mnist_arrays

EXAMPLES = ROOT / "tinygrad_mnist" / "sample_digits"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, mnist_dir) -> Path:
    """mlp-128 trained by `tinygrad-mnist train` for one epoch on 3,000 images: model.npz, history.json."""
    folder = tmp_path_factory.mktemp("run")
    result = run_cli(
        "train", "--model", "mlp-128", "--epochs", "1", "--train-size", "3000", "--test-size", "500",
        "--save", str(folder / "model.npz"), "--history", str(folder / "history.json"), "--no-download",
        data=mnist_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


def test_predict_prints_digit_and_top3_for_each_file(run_dir, mnist_dir, tmp_path):
    _, _, x_test, _ = mnist_arrays(mnist_dir, train_size=1, test_size=3)
    mnist_pngs = []
    for i, row in enumerate(x_test):
        path = tmp_path / f"mnist_{i}.png"
        Image.fromarray(np.round(row.reshape(28, 28) * 255).astype(np.uint8)).save(path)
        mnist_pngs.append(path)
    samples = sorted(EXAMPLES.glob("*.png")) + sorted(EXAMPLES.glob("*.jpg"))
    assert len(samples) >= 5
    files = [str(p) for p in mnist_pngs + samples]
    result = run_cli("predict", "--checkpoint", str(run_dir / "model.npz"), *files)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(files)
    model, _ = load_trained_model(str(run_dir / "model.npz"))
    expected = predict_digits(model, files)
    for line, name, (digit, top3) in zip(lines, files, expected):
        fields = line.split()
        assert fields[0] == name and fields[1] == str(digit)
        assert "top-3 probabilities" in line
        assert [f"{d}:" for d, _ in top3] == [f for f in fields if f.endswith(":")]
        assert format_percent(top3[0][1]) in line


def test_predict_show_prints_what_the_network_sees(run_dir):
    result = run_cli(
        "predict", "--checkpoint", str(run_dir / "model.npz"), "--show", str(EXAMPLES / "seven.png")
    )
    assert result.returncode == 0, result.stderr
    art = result.stdout.splitlines()[1:29]
    assert len(art) == 28 and any("@@" in row for row in art)


def test_predict_errors_are_one_line(run_dir, tmp_path):
    checkpoint = str(run_dir / "model.npz")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert_one_line_error(
        run_cli("predict", "--checkpoint", checkpoint, str(text)),
        "tinygrad-mnist predict: error:", "notes.txt", "not an image",
    )  # fmt: skip
    blank = tmp_path / "blank.png"
    Image.new("L", (280, 280), 255).save(blank)
    assert_one_line_error(run_cli("predict", "--checkpoint", checkpoint, str(blank)), "blank.png", "blank")
    assert_one_line_error(
        run_cli("predict", "--checkpoint", str(tmp_path / "none.npz"), str(EXAMPLES / "seven.png")),
        "checkpoint", "none.npz", "not found",
    )  # fmt: skip
    assert_one_line_error(
        run_cli("predict", "--checkpoint", checkpoint, str(tmp_path / "missing.png")), "missing.png"
    )
    not_a_checkpoint = tmp_path / "fake.npz"
    not_a_checkpoint.write_bytes(b"not a zip at all")
    assert_one_line_error(
        run_cli("predict", "--checkpoint", str(not_a_checkpoint), str(EXAMPLES / "seven.png")), "fake.npz"
    )


def test_predict_goes_on_after_a_bad_file(run_dir, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    good = str(EXAMPLES / "zero.png")
    result = run_cli("predict", "--checkpoint", str(run_dir / "model.npz"), str(bad), good)
    assert_one_line_error(result, "broken.png")
    assert result.stdout.startswith(good)


def test_plot_writes_all_four_pictures(run_dir, mnist_dir, tmp_path):
    out = tmp_path / "figures"
    result = run_cli(
        "plot", "--checkpoint", str(run_dir / "model.npz"), "--history", str(run_dir / "history.json"),
        "--out", str(out), "--test-size", "500", "--dpi", "50", "--no-download",
        data=mnist_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = ("curves", "confusion", "mistakes", "weights")
    assert result.stdout.splitlines() == [f"wrote {out / name}.png" for name in names]
    sizes = {}
    for name in names:
        with Image.open(out / f"{name}.png") as image:
            image.load()
            sizes[name] = image.size
    assert sizes["curves"] == (500, 200) and sizes["confusion"] == (375, 310)  # default figsizes at 50 dpi
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in names)  # no temporaries


def test_plot_history_only_and_errors(run_dir, tmp_path):
    out = tmp_path / "curves_only"
    result = run_cli("plot", "--history", str(run_dir / "history.json"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["curves.png"]
    assert_one_line_error(
        run_cli("plot", "--checkpoint", str(tmp_path / "none.npz"), "--out", str(out)),
        "none.npz",
        "not found",
    )
    assert_one_line_error(
        run_cli("plot", "--only", "curves", "--out", str(out)), "--only curves needs --history"
    )  # without --checkpoint the shipped weights stand in, but curves need a training history
    broken = tmp_path / "history.json"
    broken.write_text('[{"epoch": 1}]')
    assert_one_line_error(
        run_cli("plot", "--history", str(broken), "--out", str(out)), "history.json", "not a training history"
    )
    assert_one_line_error(
        run_cli("plot", "--history", str(run_dir / "history.json"), "--only", "weights", "--out", str(out)),
        "--only weights needs --checkpoint",
    )  # fmt: skip


def draw_in_tmp(tmp_path: Path) -> Path:
    image = Image.new("L", (100, 100), 255)
    ImageDraw.Draw(image).line([(50, 10), (50, 90)], fill=0, width=8)
    path = tmp_path / "one.png"
    image.save(path)
    return path


def test_predict_without_pillow_says_how_to_install(run_dir, tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "PIL.py").write_text("raise ImportError('No module named PIL')\n")
    env = dict(os.environ, PYTHONPATH=f"{blocker}{os.pathsep}{ROOT}")
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_mnist", "predict", "--checkpoint", str(run_dir / "model.npz"), str(draw_in_tmp(tmp_path))],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert_one_line_error(result, "pip install 'tinygrad_mnist[images]'")
