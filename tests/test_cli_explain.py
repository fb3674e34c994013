"""`tinygrad-mnist explain`: the stepping page for a registry model on an MNIST image, or an expression."""

from __future__ import annotations

import json
import re

import pytest
from clitools import assert_one_line_error, run_cli

from tinygrad_mnist.models import MODELS


def steps_of(path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r"<script id='trace' type='application/json'>(.*?)</script>", text, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))["steps"]


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registry_model_gets_a_page(name, mnist_dir, tmp_path):
    out = tmp_path / "backprop.html"
    result = run_cli("explain", "--model", name, "--out", str(out), "--index", "3", "--weights", "seeded",
                     data=mnist_dir)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote {out} ({name}, test image 3, label 0" in result.stdout  # MNIST test image 3 is a 0
    steps = steps_of(out)
    first_layer = "conv1.weight" if name == "cnn" else "fc1.weight"  # the last gradient backprop reaches
    assert steps[0]["label"] == "loss" and steps[-1]["label"] == first_layer
    # The cnn max-pools conv outputs of MNIST's blank background: windows of tied zeros, a kink where a
    # finite difference is one-sided and no derivative, so that op's check may honestly fail there.
    kinked = {"max_pool2d"} if name == "cnn" else set()
    assert all(s["check"]["passed"] for s in steps if s["check"] and s["op"] not in kinked)
    labelled = sum(len(s["annotations"]) for s in steps)
    assert labelled == {"sigmoid-24": 7, "sigmoid-16-16": 10, "relu-10": 6}.get(name, 0)


def test_a_chosen_label_and_an_expression(mnist_dir, tmp_path):
    out = tmp_path / "a.html"
    result = run_cli("explain", "--model", "relu-10", "--label", "9", "--out", str(out), data=mnist_dir)
    assert result.returncode == 0, result.stderr
    assert "label 9" in result.stdout and "true label 9" in out.read_text(encoding="utf-8")
    result = run_cli("explain", "--expression", "(a * b + a.exp()).sum()", "--out", str(out))
    assert result.returncode == 0, result.stderr
    steps = steps_of(out)
    assert [s["label"] for s in steps if s["op"] is None] == ["b", "a"]
    assert len(steps[-1]["received"]) == 2  # a reaches the sum along two paths


def test_errors_are_one_line(mnist_dir, tmp_path):
    out = str(tmp_path / "x.html")
    assert_one_line_error(
        run_cli("explain", "--expression", "a * b", "--out", out), "reduce it to one number"
    )
    assert_one_line_error(run_cli("explain", "--expression", "a +", "--out", out), "SyntaxError")
    assert_one_line_error(run_cli("explain", "--expression", "1 + 2", "--out", out), "must give a Tensor")
    assert_one_line_error(
        run_cli("explain", "--model", "relu-10", "--weights", "shipped", "--out", out, data=mnist_dir),
        "no shipped weights named 'relu-10'",
    )
    assert_one_line_error(
        run_cli("explain", "--model", "mlp", "--label", "12", "--out", out), "--label", code=2
    )


def test_weights_from_a_checkpoint_and_a_mismatched_model(mnist_dir, tmp_path):
    from tinygrad_mnist import checkpoint
    from tinygrad_mnist.models import build_model

    path = checkpoint.save(
        build_model("relu-10", seed=5), tmp_path / "r.safetensors", metadata={"model": "relu-10"}
    )
    out = tmp_path / "c.html"
    result = run_cli(
        "explain", "--model", "relu-10", "--checkpoint", str(path), "--out", str(out), data=mnist_dir
    )
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {path}" in result.stdout
    assert sum(len(s["annotations"]) for s in steps_of(out)) == 6
    result = run_cli(
        "explain", "--model", "sigmoid-24", "--checkpoint", str(path), "--out", str(out), data=mnist_dir
    )
    assert_one_line_error(result, "holds a relu-10 model, not sigmoid-24")
