"""The Makefile sets a fresh clone up by itself: it rebuilds a broken .venv, and `make train` installs
what the README's next commands (predict, plot) need."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def dry_run(target: str, venv: Path) -> subprocess.CompletedProcess:
    """`make -n TARGET` with VENV=venv: prints the commands; the venv health check still runs."""
    return subprocess.run(
        ["make", "-n", target, f"VENV={venv}"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_a_venv_without_pip_is_detected_and_rebuilt(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )  # what a failed venv leaves
    assert (venv / "bin" / "python").exists()
    result = dry_run("test", venv)
    assert result.returncode == 0, result.stderr
    assert "no working python/pip" in result.stdout + result.stderr
    assert not venv.exists()  # removed, so the venv is built again from scratch
    assert f"python3 -m venv {venv}" in result.stdout


def test_a_healthy_venv_is_kept(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = dry_run("train", venv)
    assert result.returncode == 0, result.stderr
    assert "no working" not in result.stdout + result.stderr
    assert (venv / "bin" / "python").exists()
    assert "python3 -m venv" not in result.stdout


def test_make_train_installs_what_the_readme_commands_need(tmp_path):
    venv = tmp_path / "missing"
    result = dry_run("train", venv)
    assert result.returncode == 0, result.stderr
    assert "pip install -q -e '.[cli]'" in result.stdout
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {spec.split(">")[0].split("=")[0] for spec in extras["cli"]}
    assert names >= {"Pillow", "matplotlib"}  # predict reads images, plot draws figures


def test_make_bench_installs_pytorch(tmp_path):
    result = dry_run("bench", tmp_path / "missing")
    assert "pip install -q -e '.[cli,bench]'" in result.stdout
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "torch==2.13.0" in extras["bench"]


def test_the_tests_find_mnist_where_make_train_downloads_it(tmp_path, monkeypatch):
    """After the README's `make train`, the MNIST tests use the per-user cache instead of skipping."""
    from conftest import _mnist_dir

    from tinygrad_mnist.data.mnist import MNIST_FILES

    cache = tmp_path / "cache" / "tinygrad_mnist" / "mnist"
    cache.mkdir(parents=True)
    monkeypatch.delenv("TINYGRAD_MNIST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for f in list(MNIST_FILES.values())[:3]:
        (cache / f.gz_name).write_bytes(b"")
    assert _mnist_dir() != cache  # three of four files: not a usable folder
    (cache / list(MNIST_FILES.values())[3].gz_name).write_bytes(b"")
    assert _mnist_dir() == cache
