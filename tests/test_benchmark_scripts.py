"""The scripts behind the README's and performance.md's figures run (short modes); they print the
figures, nothing here times anything."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def table_rows(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and "---" not in line
    ]


def test_blas_threads_quick_measures_both_settings_idle_and_under_load():
    out = run_script("benchmarks/blas_threads.py", "--quick", "--load-seconds", "60")
    assert "Idle" in out and "Under load (" in out
    rows = [r for r in table_rows(out) if r[0] != "workload"]
    assert len(rows) == 10  # five workloads, twice
    for row in rows:
        one, many = (float(c.removesuffix(" s")) for c in row[1:3])
        assert one > 0 and many > 0
        assert re.fullmatch(r"[\d.]+ \([\d.]+-[\d.]+\)", row[3])
    # the busy loops are gone afterwards: none of ours is left spinning
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "end = time.monotonic()" not in ps


def test_numpy_reference_quick_trains_all_four_recipes(mnist_dir):
    out = run_script(
        "benchmarks/numpy_reference.py",
        "--quick",
        "--seeds",
        "0",
        "1",
        env={"TINYGRAD_MNIST_DATA": str(mnist_dir)},
    )
    rows = {r[0]: r for r in table_rows(out) if r[0] != "example"}
    assert set(rows) == {
        "sigmoid_24_per_sample.py",
        "sigmoid_16_16_minibatch.py",
        "relu_softmax_full_batch.py",
        "strong_mlp.py",
    }
    for name, row in rows.items():
        per_seed = [float(a.removesuffix("%")) for a in row[1].split(", ")]
        assert len(per_seed) == 2 and all(25 < a <= 100 for a in per_seed), (
            name,
            row,
        )  # short runs: above chance (10%)


def test_run_examples_reports_the_spread_over_seeds(mnist_dir, tmp_path):
    """The shortest example (one epoch, a few seconds) over two seeds: seed 0's accuracy lies in the range."""
    out = run_script(
        "benchmarks/run_examples.py", "--only", "hello_world.py", "--seeds", "0", "1",
        env={"TINYGRAD_MNIST_DATA": str(mnist_dir)},
    )  # fmt: skip
    (row,) = [r for r in table_rows(out) if r[0].startswith("[hello_world.py]")]
    low, high = (float(x) for x in re.match(r"([\d.]+)-([\d.]+)%", row[4]).groups())
    assert low <= float(row[3].removesuffix("%")) <= high


def test_example_seed_comes_from_the_environment(monkeypatch):
    import pytest

    from tinygrad_mnist.recipes import SEED_ENV_VAR, example_seed

    monkeypatch.delenv(SEED_ENV_VAR, raising=False)
    assert example_seed() == 0
    monkeypatch.setenv(SEED_ENV_VAR, "7")
    assert example_seed() == 7
    monkeypatch.setenv(SEED_ENV_VAR, "seven")
    with pytest.raises(ValueError, match="TINYGRAD_MNIST_SEED must be an integer, got 'seven'"):
        example_seed()


def test_time_to_98_quick_times_the_command_line_in_each_setting(mnist_dir):
    out = run_script(
        "benchmarks/time_to_98.py", "--quick", "--rounds", "1", "--target", "50",
        "--settings", "OPENBLAS_NUM_THREADS=1", "default", env={"TINYGRAD_MNIST_DATA": str(mnist_dir)},
    )  # fmt: skip
    rows = [r for r in table_rows(out) if r[0] != "setting"]
    assert [r[0] for r in rows] == ["OPENBLAS_NUM_THREADS=1", "default"]
    for row in rows:
        first_line, wall = float(row[3].removesuffix(" s")), float(row[6].removesuffix(" s"))
        epoch, at = row[4].split(", ")
        assert 0 < first_line <= float(at.removesuffix(" s")) <= wall and epoch in ("1", "2")
    assert "to 50%:" in out and "(1 of 1 runs)" in out
