"""The command line as a newcomer uses it: train, eval, and the errors they meet, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from clitools import ROOT, assert_error, assert_one_line_error, run_cli


def test_help_explains_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0 and "train" in result.stdout and "eval" in result.stdout
    train_help = run_cli("train", "--help").stdout
    for flag in (
        "--epochs",
        "--lr",
        "--batch-size",
        "--momentum",
        "--nesterov",
        "--optimizer",
        "--seed",
        "--data-dir",
        "--save",
        "--no-progress",
    ):
        assert flag in train_help
    assert "sigmoid-24" in train_help


def test_train_then_eval_round_trips_the_checkpoint(mnist_dir, tmp_path):
    env = {"TINYGRAD_MNIST_DATA": str(mnist_dir)}
    ckpt, history = tmp_path / "model.npz", tmp_path / "history.json"
    trained = run_cli(
        "train", "--model", "mlp-128", "--epochs", "1", "--train-size", "3000", "--test-size", "1000",
        "--batch-size", "32", "--save", str(ckpt), "--history", str(history), "--no-progress", env=env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "epoch 1/1" in trained.stdout and "test accuracy" in trained.stdout
    accuracy = json.loads(history.read_text())[-1]["test_accuracy"]
    assert accuracy > 0.8
    evaluated = run_cli("eval", "--checkpoint", str(ckpt), "--test-size", "1000", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"test accuracy {accuracy:.2%}" in evaluated.stdout


def test_diverging_training_is_one_clear_line(mnist_dir):
    result = run_cli(
        "train", "--model", "relu-10", "--epochs", "1", "--train-size", "200", "--test-size", "100",
        "--lr", "1e6", "--batch-size", "10", env={"TINYGRAD_MNIST_DATA": str(mnist_dir)},
    )  # fmt: skip
    assert_one_line_error(result, "loss became", "epoch 1", "learning rate")


def test_missing_data_folder_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(
        "train", "--data-dir", str(empty), "--no-download",
        env={"TINYGRAD_MNIST_DATA": str(empty), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert_error(
        result, "MNIST files not found", str(empty), "--data-dir"
    )  # several lines: test_cli_messages.py


def test_bad_checkpoint_paths_are_one_clear_line(tmp_path):
    assert_one_line_error(run_cli("eval", "--checkpoint", str(tmp_path / "missing.npz")), "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a checkpoint at all")
    assert_one_line_error(run_cli("eval", "--checkpoint", str(garbage)), "garbage.npz")


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "eval", "--checkpoint", str(tmp_path / "missing.npz"))
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize("flag", [["--epochs", "0"], ["--batch-size", "0"]])
def test_invalid_settings_are_rejected(mnist_dir, flag):
    result = run_cli("train", "--model", "relu-10", *flag, env={"TINYGRAD_MNIST_DATA": str(mnist_dir)})
    assert_one_line_error(result, "must be at least 1", code=2)


def test_cli_module_run_directly_still_gives_one_line_errors():
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_mnist.cli.main", "train", "--model", "relu-10", "--epochs", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert_one_line_error(result, "--epochs must be at least 1", code=2)


def test_momentum_with_adam_and_bad_test_batch_size_are_rejected(mnist_dir):
    assert_one_line_error(
        run_cli("train", "--optimizer", "adam", "--momentum", "0.9", data=mnist_dir),
        "--momentum applies to SGD",
    )
    assert_one_line_error(
        run_cli("train", "--test-batch-size", "0", data=mnist_dir), "--test-batch-size", code=2
    )


def test_nesterov_needs_sgd_with_momentum(mnist_dir):
    assert_one_line_error(
        run_cli("train", "--optimizer", "adamw", "--nesterov", data=mnist_dir), "--nesterov applies to SGD"
    )
    assert_one_line_error(
        run_cli("train", "--momentum", "0", data=mnist_dir), "Nesterov momentum needs a momentum above 0"
    )


def test_each_epoch_line_says_how_long_since_the_start(mnist_dir):
    """When did the run reach 98%? Each line carries the wall time since the process started."""
    result = run_cli(
        "train", "--epochs", "2", "--train-size", "500", "--test-size", "100", "--no-progress", data=mnist_dir
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert "Nesterov momentum 0.95 to 0.85 and back (cycled)" in header and "sgd lr 0.4 (onecycle)" in header
    since = [float(m.group(1)) for line in lines if (m := re.search(r"[( ](\d+\.\d) s since start\)$", line))]
    assert len(since) == 3 and 0 < since[0] <= since[1] <= since[2] < 120  # two epochs, then the summary
    assert lines[-1].startswith("test accuracy") and "s training, " in lines[-1]


def test_eval_needs_only_the_test_files(mnist_dir, tmp_path):
    env = {"TINYGRAD_MNIST_DATA": str(mnist_dir)}
    ckpt = tmp_path / "model.npz"
    trained = run_cli(
        "train", "--model", "relu-10", "--epochs", "1", "--train-size", "500", "--test-size", "100",
        "--save", str(ckpt), env=env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    test_only = tmp_path / "test-only"
    test_only.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(mnist_dir / name, test_only / name)
    isolated = {
        "TINYGRAD_MNIST_DATA": str(test_only),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "c"),
    }
    result = run_cli("eval", "--checkpoint", str(ckpt), "--test-size", "100", "--no-download", env=isolated)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
