"""The sample digits shipped with the package, to try `predict` before drawing your own.

    tinygrad-mnist predict --checkpoint runs/mlp.npz $(python -m tinygrad_mnist.samples)

They are drawn by `examples/digits/make_digits.py` and deliberately unlike MNIST's files (big canvases,
off centre, dark ink on white, a transparent PNG, a grey JPEG), to exercise `predict.preprocess_image`.
"""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_digits"
SAMPLE_SUFFIXES = (".png", ".jpg")


def sample_digits() -> list[Path]:
    """Paths of every shipped sample digit, sorted by name."""
    return sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix in SAMPLE_SUFFIXES)


def sample_digit(name: str) -> Path:
    """The shipped sample called `name` ("seven", "three", ...), whatever its image format."""
    for path in sample_digits():
        if path.stem == name:
            return path
    known = ", ".join(p.stem for p in sample_digits())
    raise FileNotFoundError(f"no sample digit {name!r}; the samples are: {known}")


if __name__ == "__main__":
    print(" ".join(str(p) for p in sample_digits()))
    sys.exit(0)
