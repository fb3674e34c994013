"""Shared test set-up: hypothesis profiles and the MNIST data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI: derandomized and a fixed number of examples, so runs are repeatable; no deadline (noisy machines).
settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def _mnist_dir() -> Path | None:
    candidates = [
        os.environ.get("TINYGRAD_MNIST_DATA"),
        Path(__file__).resolve().parents[2] / "shared/data/mnist",
    ]
    for c in candidates:
        if c and any((Path(c) / f"train-labels-idx1-ubyte{ext}").exists() for ext in ("", ".gz")):
            return Path(c)  # raw or gzipped files, as the data layer accepts
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder with the real MNIST files (CI sets TINYGRAD_MNIST_DATA); skips when absent."""
    path = _mnist_dir()
    if path is None:
        message = "real MNIST files not found: set TINYGRAD_MNIST_DATA to a folder with the four files"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI always provides them: a skip there would hide a broken set-up
        pytest.skip(message)
    return path
