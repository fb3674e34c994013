"""`tinygrad-mnist graph`: run as a real subprocess, it writes the picture; user errors are one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tinygrad_mnist.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


def run_cli(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_mnist", "graph", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@needs_dot
def test_graph_command_writes_an_svg_with_gradients(tmp_path):
    out = tmp_path / "graph.svg"
    result = run_cli("--model", "mlp-128", "--out", str(out), "--batch", "3", "--grads")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = out.read_text()
    assert "fc1.weight" in text and "(3, 784) float32" in text and "cross_entropy" in text
    assert "mean |g|" in text  # --grads coloured it


@needs_dot
def test_graph_command_collapsed_png(tmp_path):
    out = tmp_path / "graph.png"
    result = run_cli("--model", "sigmoid-16-16", "--out", str(out), "--collapse", "--rankdir", "TB")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_graph_command_without_dot_says_how_to_install(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "graph.png"
    result = run_cli("--model", "relu-10", "--out", str(out), path=str(empty))
    assert result.returncode == 1
    assert "apt-get install graphviz" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "graph.dot").read_text().startswith("// tinygrad_mnist computation graph")
    assert not out.exists()


def test_unknown_model_is_rejected_by_the_parser(tmp_path):
    result = run_cli("--model", "resnet", "--out", str(tmp_path / "g.svg"))
    assert result.returncode == 2
    assert "invalid choice: 'resnet'" in result.stderr and "sigmoid-16-16" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "0"], "--batch must be at least 1"),
        (["--max-nodes", "1"], "--max-nodes must be at least 2"),
    ],
)
def test_bad_numbers_are_user_errors(tmp_path, capsys, args, message):
    assert main(["graph", "--out", str(tmp_path / "g.svg"), *args]) == 2
    assert message in capsys.readouterr().err


def test_unknown_suffix_is_a_user_error(tmp_path, capsys):
    assert main(["graph", "--model", "relu-10", "--out", str(tmp_path / "g.jpg")]) == 1
    err = capsys.readouterr().err
    assert "cannot tell the image format" in err and len(err.strip().splitlines()) == 1


def test_dot_source_output_in_process(tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert main(["graph", "--model", "relu-10", "--out", str(out), "--cluster", "--no-values"]) == 0
    source = out.read_text()
    assert "cluster_m0" in source and "fc1 (Linear)" in source and "mean " not in source


def test_loss_follows_the_model_recipe_unless_chosen(tmp_path):
    sigmoid_out, logits_out, chosen = (tmp_path / n for n in ("s.dot", "r.dot", "c.dot"))
    assert main(["graph", "--model", "sigmoid-24", "--out", str(sigmoid_out)]) == 0
    assert main(["graph", "--model", "relu-10", "--out", str(logits_out)]) == 0
    assert main(["graph", "--model", "sigmoid-24", "--loss", "cross_entropy", "--out", str(chosen)]) == 0
    assert "mse_loss" in sigmoid_out.read_text() and "cross_entropy" not in sigmoid_out.read_text()
    assert "cross_entropy" in logits_out.read_text() and "mse_loss" not in logits_out.read_text()
    assert "cross_entropy" in chosen.read_text()
