"""Shared test set-up: BLAS threads, hypothesis profiles and the MNIST data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tinygrad_mnist.data.mnist import MNIST_FILES, default_cache_dir
from tinygrad_mnist.threads import THREADS_ENV_VAR, limit_threads

# The library's thread policy (one BLAS thread unless TINYGRAD_MNIST_THREADS or OPENBLAS_NUM_THREADS says
# otherwise), here and in every subprocess the tests start (examples, benchmarks, the CLI): on a busy
# 2-core machine the BLAS default made the suite 5x slower (docs/performance.md).
_threads = limit_threads()
if _threads is not None:
    os.environ.setdefault(THREADS_ENV_VAR, str(_threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(_threads))

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
        default_cache_dir(),  # where `make train` downloads MNIST
        Path(__file__).resolve().parents[2] / "shared/data/mnist",
    ]
    for c in candidates:
        if c and all(
            any((Path(c) / f"{f.name}{ext}").exists() for ext in ("", ".gz")) for f in MNIST_FILES.values()
        ):
            return Path(c)  # all four, raw or gzipped, as the data layer accepts
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder with the real MNIST files (CI sets TINYGRAD_MNIST_DATA); skips when absent."""
    path = _mnist_dir()
    if path is None:
        message = (
            "real MNIST files not found: set TINYGRAD_MNIST_DATA to a folder with the four files, "
            f"or run `make train` once (it downloads them into {default_cache_dir()})"
        )
        if os.environ.get("CI"):
            pytest.fail(message)  # CI always provides them: a skip there would hide a broken set-up
        pytest.skip(message)
    return path
