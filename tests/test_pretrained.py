"""The weights shipped in the package: each file matches its manifest (checksum, test accuracy on the real
MNIST test set, the command that made it), and predict / eval / plot use them when no checkpoint is given."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from clitools import ROOT, assert_one_line_error, run_cli

from tinygrad_mnist import checkpoint, pretrained
from tinygrad_mnist.predict import predict_proba
from tinygrad_mnist.recipes import mnist_test_arrays

sys.path.insert(0, str(ROOT / "benchmarks"))
import make_weights  # noqa: E402

SHIPPED = pretrained.shipped()


def test_the_manifest_lists_exactly_what_make_weights_builds():
    manifest = pretrained.read_manifest()
    assert list(manifest["weights"]) == [r.name for r in make_weights.SHIPPED]
    assert manifest["default"] == make_weights.SHIPPED[0].name
    for recipe in make_weights.SHIPPED:
        entry = manifest["weights"][recipe.name]
        assert entry["command"] == (
            f"tinygrad-mnist train {' '.join(recipe.train_args)} --save {recipe.name}{make_weights.FILE_SUFFIX}"
        )
    files = {p.name for p in pretrained.WEIGHTS_DIR.iterdir()} - {pretrained.MANIFEST_NAME}
    assert files == {entry["file"] for entry in manifest["weights"].values()}  # nothing stale ships


def test_shipped_files_are_small():
    assert sum(w.path.stat().st_size for w in SHIPPED.values()) < 5_000_000


@pytest.mark.parametrize("name", list(SHIPPED))
def test_each_shipped_file_matches_its_manifest_on_the_real_test_set(name, mnist_dir):
    weights = SHIPPED[name]
    entry = pretrained.read_manifest()["weights"][name]
    assert pretrained.sha256_of(weights.path) == weights.sha256
    assert weights.path.stat().st_size == entry["bytes"]
    loaded = checkpoint.load(weights.path)  # an ordinary checkpoint, read the safe way
    assert loaded.metadata["model"] == name
    model = pretrained.load_shipped(name).model
    x, y = mnist_test_arrays(mnist_dir)
    correct = int((predict_proba(model, x).argmax(axis=1) == y).sum())
    assert len(y) == entry["test_images"] == 10_000
    assert abs(correct - entry["test_correct"]) <= 2, (correct, entry)  # BLAS rounding may flip a tie
    assert entry["test_accuracy"] == entry["test_correct"] / 10_000
    assert entry["test_accuracy"] > {"mlp": 0.98, "sigmoid-16-16": 0.92}.get(name, 0.9)


def copy_of_weights(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS_DIR, folder)
    return folder


def test_a_damaged_or_missing_file_or_manifest_is_refused_by_name(tmp_path):
    folder = copy_of_weights(tmp_path)
    target = folder / SHIPPED["mlp"].path.name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="mlp.safetensors.*SHA-256"):
        pretrained.load_shipped("mlp", folder)
    pretrained.load_shipped("sigmoid-16-16", folder)  # the others still load
    target.unlink()
    with pytest.raises(pretrained.PretrainedError, match="missing"):
        pretrained.load_shipped("mlp", folder)
    with pytest.raises(pretrained.PretrainedError, match="no shipped weights named 'resnet'; shipped: mlp"):
        pretrained.get("resnet")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(pretrained.PretrainedError, match="manifest.json.*not valid JSON"):
        pretrained.shipped(folder)
    (folder / "manifest.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(pretrained.PretrainedError, match="not a manifest"):
        pretrained.shipped(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(pretrained.PretrainedError, match="make weights"):
        pretrained.shipped(folder)


def test_make_weights_builds_and_checks_a_folder(tmp_path, mnist_dir):
    """The real pipeline, briefly (--quick): train by the CLI, write file + manifest, check them."""
    folder = tmp_path / "weights"
    env = ["--out", str(folder), "--data-dir", str(mnist_dir)]
    result = make_weights_cli("--quick", "--only", "sigmoid-16-16", *env)
    assert "sigmoid-16-16: sha256 ok" in result.stdout, result.stdout + result.stderr
    manifest = pretrained.read_manifest(folder)
    entry = manifest["weights"]["sigmoid-16-16"]
    assert entry["command"].endswith("--train-size 10000 --epochs 1 --save sigmoid-16-16.safetensors")
    assert 0.5 < entry["test_accuracy"] < 1
    assert pretrained.load_shipped("sigmoid-16-16", folder).shipped.sha256 == entry["sha256"]
    again = make_weights_cli("--quick", "--only", "sigmoid-16-16", *env)  # seeded: the same bytes
    assert "byte-for-byte the same as before" in again.stdout
    assert make_weights_cli("--check", *env).returncode == 0
    # A file that no longer matches its manifest fails the check, naming it.
    manifest["weights"]["sigmoid-16-16"]["test_correct"] += 7
    (folder / "manifest.json").write_text(json.dumps(manifest))
    failed = make_weights_cli("--check", *env, check=False)
    assert failed.returncode == 1 and "sigmoid-16-16.safetensors" in failed.stderr


def make_weights_cli(*args, check=True):
    import subprocess

    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/make_weights.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


# ------------------------------------------------------------------ the commands without --checkpoint
def test_predict_uses_the_shipped_weights_and_says_so():
    result = run_cli("predict", str(ROOT / "tinygrad_mnist/sample_digits/seven.png"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"using {SHIPPED['mlp'].describe()}"
    assert lines[1].split()[1] == "7"
    result = run_cli(
        "predict", "--pretrained", "sigmoid-16-16", str(ROOT / "tinygrad_mnist/sample_digits/seven.png")
    )
    assert result.stdout.startswith("using the shipped sigmoid-16-16 weights") and "scores" in result.stdout


def test_eval_and_plot_use_the_shipped_weights(mnist_dir, tmp_path):
    result = run_cli("eval", "--test-size", "500", data=mnist_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("the shipped mlp weights (") and "model mlp" in result.stdout
    out = tmp_path / "figures"
    result = run_cli("plot", "--pretrained", "sigmoid-16-16", "--only", "weights", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"using {SHIPPED['sigmoid-16-16'].describe()}",
        f"wrote {out / 'weights.png'}",
    ]


def test_weights_flags_errors_are_one_line(tmp_path):
    seven = str(ROOT / "tinygrad_mnist/sample_digits/seven.png")
    assert_one_line_error(run_cli("predict", "--pretrained", "resnet", seven), "resnet", "mlp, sigmoid-16-16")
    assert_one_line_error(
        run_cli("eval", "--pretrained", "mlp", "--checkpoint", str(tmp_path / "x.npz")), "not both"
    )


def test_the_shipped_weights_predict_the_example_digits():
    model = pretrained.load_shipped().model
    from tinygrad_mnist.predict import predict_digits

    names = ["zero.png", "one.png", "two.png", "three.jpg", "four.png", "seven.png"]
    digits = [
        p.digit for p in predict_digits(model, [ROOT / "tinygrad_mnist/sample_digits" / n for n in names])
    ]
    assert digits == [0, 1, 2, 3, 4, 7]
    assert np.isfinite(predict_proba(model, np.zeros((1, 784)))).all()
