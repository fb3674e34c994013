"""What a newcomer sees from the command line: MNIST-not-found in CLI terms and on several lines, the
install hint when matplotlib is missing, and "1 epoch" rather than "1 epochs"."""

from __future__ import annotations

import pytest
from clitools import ROOT, assert_error, run_cli

from tinygrad_mnist.data import MNISTNotFoundError, load_mnist
from tinygrad_mnist.train import EpochResult, History


def test_missing_mnist_is_explained_on_several_lines_in_cli_terms(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        "TINYGRAD_MNIST_DATA": str(empty),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    result = run_cli("train", "--data-dir", str(empty), "--no-download", env=env)
    lines = assert_error(result, "MNIST files not found")
    assert lines[0].startswith("tinygrad-mnist train: error: MNIST files not found: train-images-idx3-ubyte")
    assert f"  1. {empty}  (--data-dir)" in lines
    assert f"  2. {empty}  ($TINYGRAD_MNIST_DATA)" in lines
    assert f"  3. {tmp_path / 'cache' / 'tinygrad_mnist' / 'mnist'}  (per-user cache)" in lines
    assert "--no-download was given, so nothing was downloaded." in lines
    text = result.stderr
    assert "--data-dir FOLDER" in text and "run again without --no-download" in text
    for api_term in ("root=", "download=", "mirrors=["):  # the Python API's words, not a CLI user's
        assert api_term not in text
    assert len(lines) >= 10 and max(len(line) for line in lines) < 170  # lines, not one of 1,300 characters


def test_the_python_api_message_keeps_its_own_terms(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGRAD_MNIST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(tmp_path, download=False)
    assert "pass root=FOLDER" in str(info.value) and "download=False, so nothing" in str(info.value)
    assert "--no-download" in info.value.cli_message() and "root=" not in info.value.cli_message()
    assert info.value.searched[0] == tmp_path and len(info.value.missing) == 4


def test_plot_without_matplotlib_prints_the_install_hint(tmp_path):
    """matplotlib absent (a stand-in package that fails to import, first on the path): one line, the pip command."""
    fake = tmp_path / "site" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n"
    )
    history = History([EpochResult(1, 0.3, 0.9, 0.2, 0.95, 1.0)]).save(tmp_path / "h.json")

    result = run_cli(
        "plot", "--history", str(history), "--out", str(tmp_path / "figs"),
        env={"PYTHONPATH": f"{tmp_path / 'site'}:{ROOT}"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "tinygrad-mnist plot: error: plotting needs matplotlib: pip install 'tinygrad_mnist[plots]'"
    ]


def test_one_epoch_is_singular(mnist_dir):
    result = run_cli(
        "train", "--model", "relu-10", "--epochs", "1", "--train-size", "200", "--test-size", "100",
        "--no-progress", data=mnist_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, last = result.stdout.splitlines()[0], result.stdout.splitlines()[-1]
    assert ", 1 epoch, seed" in first and "1 epochs" not in result.stdout
    assert last.startswith("test accuracy") and "after 1 epoch (" in last
