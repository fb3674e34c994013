"""Issue 15 items 4 (conflicting/unwritable outputs), 5 (stale temp files), 8 (divergence), 9 (numeric
flags) and 10 (umask, empty path, quick-mode env var, Ctrl-C, integer input to fit)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from clitools import assert_one_line_error, run_cli

from tinygrad_mnist import checkpoint, nn, optim
from tinygrad_mnist.atomic import atomic_write_text
from tinygrad_mnist.cli import main as cli_main
from tinygrad_mnist.recipes import quick_mode
from tinygrad_mnist.train import TrainingDiverged, evaluate, fit

DEAD_PID = 2**31 - 1


# --------------------------------------------------------------------------- item 9: numeric flags
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--seed", "-1"], "--seed must be at least 0, got -1"),
        (["train", "--lr", "0"], "--lr must be in (0, 1e+06]"),
        (["train", "--lr", "nan"], "--lr must be in"),
        (["train", "--momentum", "1.5"], "--momentum must be in [0, 1)"),
        (["train", "--epochs", "ten"], "--epochs must be an integer, got 'ten'"),
        (["graph", "--out", "g.svg", "--batch", "1000000000"], "--batch must be at most 10000"),
        (["graph", "--out", "g.svg", "--dpi", "-1"], "--dpi must be at least 10, got -1"),
        (["graph", "--out", "g.svg", "--dpi", "0"], "--dpi must be at least 10, got 0"),
        (["graph", "--out", "g.svg", "--seed", "-1"], "--seed must be at least 0"),
        (["plot", "--out", "f", "--history", "h.json", "--dpi", "100000"], "--dpi must be at most 600"),
        (["eval", "--checkpoint", "m.npz", "--test-size", "0"], "--test-size must be at least 1"),
    ],
)
def test_every_numeric_flag_has_a_range_named_in_one_line(
    tmp_path: Path, monkeypatch, capsys, args, fragment
):
    monkeypatch.chdir(tmp_path)
    assert cli_main.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert list(tmp_path.iterdir()) == []  # nothing was written


# --------------------------------------------------------------------------- item 4: output paths
@pytest.mark.parametrize(
    "flags",
    [["--save", "run.json", "--history", "run.json"], ["--save", "x.npz", "--save-best", "./x.npz"]],
)
def test_two_flags_naming_one_file_are_refused_before_training(tmp_path: Path, flags):
    (tmp_path / flags[1]).write_text("precious")
    result = run_cli("train", "--model", "relu-10", "--epochs", "1", *flags, cwd=tmp_path)
    assert_one_line_error(result, flags[0], flags[2], "overwrite")
    assert (tmp_path / flags[1]).read_text() == "precious" and "epoch" not in result.stdout


@pytest.mark.parametrize("flag", ["--save", "--save-best", "--history"])
def test_an_unwritable_output_is_reported_before_training(tmp_path: Path, flag: str):
    (tmp_path / "a_file").write_text("")
    target = tmp_path / "a_file" / "out.json"  # a file as a folder: unwritable even for root
    result = run_cli("train", "--model", "relu-10", "--epochs", "1", flag, str(target), cwd=tmp_path)
    assert_one_line_error(result, flag, "cannot write there")
    assert "epoch" not in result.stdout and "training" not in result.stdout


def test_graph_and_plot_check_their_outputs_first(tmp_path: Path):
    (tmp_path / "a_file").write_text("")
    assert_one_line_error(run_cli("graph", "--out", str(tmp_path / "a_file" / "g.svg")), "--out")
    (tmp_path / "h.json").write_text("[]")
    result = run_cli("plot", "--history", str(tmp_path / "h.json"), "--out", str(tmp_path / "a_file"))
    assert_one_line_error(result, "--out", "not a folder")


# --------------------------------------------------------------------------- item 8: divergence
def _data(n: int = 256):
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def test_an_exploding_but_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path):
    x, y = _data()
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    path = checkpoint.save(model, tmp_path / "last.safetensors")
    before = path.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"over 100x its start.*learning rate \(1e\+06\)"):
        fit(model, optim.SGD(model.parameters(), lr=1e6), nn.CrossEntropyLoss(), x, y,
            epochs=3, batch_size=16, checkpoint=path, log=None, progress=False)  # fmt: skip
    assert path.read_bytes() == before


def test_a_healthy_run_is_not_called_diverged():
    x, y = _data()
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    history = fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), x, y,
                  epochs=3, batch_size=1, log=None, progress=False)  # fmt: skip
    assert len(history) == 3


def test_lr_1e6_on_the_command_line_exits_non_zero_and_saves_nothing(mnist_dir, tmp_path: Path):
    """Full-batch relu-10: one step, a train loss of 2.3, then a finite test loss of 5e9 and exit 0."""
    result = run_cli(
        "train", "--model", "relu-10", "--epochs", "1", "--train-size", "2000", "--test-size", "100",
        "--lr", "1e6", "--save", str(tmp_path / "m.npz"), data=mnist_dir,
    )  # fmt: skip
    assert_one_line_error(result, "learning rate (1e+06)", "--lr")
    assert not (tmp_path / "m.npz").exists()


# --------------------------------------------------------------------------- item 10: small ones
def test_integer_pixels_are_refused_by_fit_and_evaluate():
    x, y = _data(8)
    model = nn.Sequential(nn.Linear(784, 10))
    pixels = (x * 255).astype(np.uint8)
    with pytest.raises(TypeError, match=r"evaluate: inputs must be floats, got dtype uint8.*/ 255"):
        evaluate(model, pixels, y)
    with pytest.raises(TypeError, match=r"fit: inputs must be floats"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), pixels, y, log=None)


def test_new_files_follow_the_umask_and_rewrites_keep_the_mode(tmp_path: Path):
    old = os.umask(0o077)
    try:
        checkpoint.save(nn.Linear(2, 2), tmp_path / "private.npz")
        assert stat.S_IMODE((tmp_path / "private.npz").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    (tmp_path / "secret.json").write_text("{}")
    os.chmod(tmp_path / "secret.json", 0o600)
    atomic_write_text(tmp_path / "secret.json", "[]")
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600


def test_saving_to_an_empty_path_or_a_folder_names_the_problem(tmp_path: Path):
    with pytest.raises(ValueError, match="'' is not a file name"):
        checkpoint.save(nn.Linear(2, 2), "")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        checkpoint.save(nn.Linear(2, 2), tmp_path)


def test_a_killed_save_s_temp_files_are_cleaned_on_the_next_save(tmp_path: Path):
    stale = [tmp_path / f".m.npz.{DEAD_PID}.k{i}llme.part" for i in range(3)]
    for path in stale:
        path.write_bytes(bytes(100))
    legacy = tmp_path / ".m.npz.ab12cd34.part"  # written before pids were in the name: cleaned when old
    legacy.write_bytes(b"")
    os.utime(legacy, (0, 0))
    live = tmp_path / f".m.npz.{os.getppid()}.abcdefgh.part"  # a live process's write in progress
    live.write_bytes(b"")
    checkpoint.save(nn.Linear(2, 2), tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "m.npz"])


@pytest.mark.parametrize(("value", "quick"), [("", False), ("0", False), ("false", False), ("No", False),
                                              ("1", True), ("true", True), ("yes", True)])  # fmt: skip
def test_quick_mode_reads_the_env_var_as_a_boolean(monkeypatch, value, quick):
    monkeypatch.setenv("TINYGRAD_MNIST_QUICK", value)
    assert quick_mode() is quick


def test_ctrl_c_while_the_subcommands_load_exits_130_without_a_traceback(monkeypatch, capsys):
    def interrupted(*names):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(cli_main, "_available_modules", interrupted)
    assert cli_main.main(["train"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_train_saves_safetensors_that_eval_reads(mnist_dir, tmp_path: Path):
    path = tmp_path / "m.safetensors"
    trained = run_cli("train", "--model", "relu-10", "--epochs", "1", "--train-size", "500", "--test-size", "100",
                      "--save", str(path), data=mnist_dir)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert checkpoint.load(path).metadata["model"] == "relu-10" and path.read_bytes()[8:9] == b"{"
    evaluated = run_cli("eval", "--checkpoint", str(path), "--test-size", "100", data=mnist_dir)
    assert evaluated.returncode == 0 and "model relu-10" in evaluated.stdout, evaluated.stderr


def test_input_flags_refuse_a_fifo_instead_of_blocking(tmp_path: Path, capsys):
    os.mkfifo(tmp_path / "pipe.json")
    assert (
        cli_main.main(["plot", "--history", str(tmp_path / "pipe.json"), "--out", str(tmp_path / "f")]) == 1
    )
    assert "--history" in capsys.readouterr().err
    assert cli_main.main(["predict", "--checkpoint", str(tmp_path / "pipe.json"), "x.png"]) == 1
    err = capsys.readouterr().err
    assert "--checkpoint" in err and "FIFO" in err
