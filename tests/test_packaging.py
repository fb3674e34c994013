"""The wheel ships what `predict` needs to be tried without drawing a digit: the sample digits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tinygrad_mnist.samples import SAMPLE_DIR, sample_digit, sample_digits

ROOT = Path(__file__).resolve().parents[1]


def test_the_samples_are_listed_and_found_by_name():
    names = [p.name for p in sample_digits()]
    assert names == sorted(p.name for p in SAMPLE_DIR.iterdir() if p.suffix in (".png", ".jpg"))
    assert {"seven.png", "three.jpg"} <= set(names)
    assert sample_digit("three") == SAMPLE_DIR / "three.jpg"
    try:
        sample_digit("eleven")
    except FileNotFoundError as err:
        assert "'eleven'" in str(err) and "seven" in str(err)
    else:
        raise AssertionError("an unknown sample name must raise")


def test_python_m_samples_prints_their_paths():
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_mnist.samples"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(p) for p in result.stdout.split()]
    assert paths == sample_digits() and all(p.is_file() for p in paths)


def test_the_wheel_contains_the_sample_digits_and_the_license(tmp_path):
    source = tmp_path / "src"  # a copy, so building leaves no build/ or egg-info in the checkout
    shutil.copytree(
        ROOT / "tinygrad_mnist", source / "tinygrad_mnist", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("tinygrad_mnist-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for digit in sample_digits():
        assert f"tinygrad_mnist/sample_digits/{digit.name}" in names
    assert any(n.endswith(".dist-info/LICENSE") or n.endswith("licenses/LICENSE") for n in names), names
