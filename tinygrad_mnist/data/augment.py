"""Data augmentation for MNIST in numpy: random shifts and small affine warps, seeded, off by default.

A network that sees each digit slightly moved, turned and resized every epoch can't memorise pixel
positions, so it generalises better; it also learns more slowly, which is why augmentation pays off
on longer runs. Each transform takes a batch of images (N, 784), (N, 28, 28) or (N, 1, 28, 28) and
returns a new batch of the same shape and dtype; the input is never modified.

    augment = RandomAffine(degrees=10, translate=2, scale=(0.9, 1.1), seed=0)
    fit(model, opt, loss, x_train, y_train, augment=augment)
"""

from __future__ import annotations

import numpy as np

__all__ = ["RandomAffine", "RandomShift"]


def _as_images(batch: np.ndarray, side: int) -> np.ndarray:
    batch = np.asarray(batch)
    if batch.ndim < 2 or batch.size != len(batch) * side * side:
        raise ValueError(f"augment: expected a batch of {side}x{side} images, got shape {batch.shape}")
    if batch.dtype.kind != "f":
        raise TypeError(f"augment: expected float images (after scaling), got dtype {batch.dtype}")
    return batch.reshape(len(batch), side, side)


class RandomShift:
    """Move each image by a random whole number of pixels, up to `max_shift` in each direction,
    filling the uncovered border with 0 (the background)."""

    def __init__(self, max_shift: int = 2, seed: int | None = 0, side: int = 28):
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or not 0 <= max_shift < side:
            raise ValueError(f"RandomShift: max_shift must be an int in [0, {side}), got {max_shift!r}")
        self.max_shift, self.side = max_shift, side
        self.generator = np.random.default_rng(seed)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        images, m = _as_images(batch, self.side), self.max_shift
        n = len(images)
        padded = np.pad(images, ((0, 0), (m, m), (m, m)))
        dy, dx = self.generator.integers(-m, m + 1, size=(2, n))
        rows = np.arange(self.side)[None, :] + (m - dy)[:, None]  # (N, side): source row per output row
        cols = np.arange(self.side)[None, :] + (m - dx)[:, None]
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out.reshape(np.shape(batch))

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"


class RandomAffine:
    """Rotate by up to ±`degrees`, scale by a factor in `scale`, and shift by up to ±`translate`
    pixels, each drawn per image, about the image centre; bilinear interpolation, 0 outside."""

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 2.0,
        scale: tuple[float, float] = (0.9, 1.1),
        seed: int | None = 0,
        side: int = 28,
    ):
        if not 0 <= degrees <= 180 or translate < 0 or not 0 < scale[0] <= scale[1]:
            raise ValueError(
                f"RandomAffine: need 0 <= degrees <= 180, translate >= 0, 0 < scale[0] <= scale[1]; "
                f"got degrees={degrees}, translate={translate}, scale={scale}"
            )
        self.degrees, self.translate, self.scale, self.side = degrees, translate, tuple(scale), side
        self.generator = np.random.default_rng(seed)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        images = _as_images(batch, self.side)
        n, side, rng = len(images), self.side, self.generator
        angle = np.radians(rng.uniform(-self.degrees, self.degrees, n))
        zoom = rng.uniform(*self.scale, n)
        shift = rng.uniform(-self.translate, self.translate, (2, n))
        # Each output pixel p samples the input at  R(-angle) (p - centre - shift) / zoom + centre.
        centre = (side - 1) / 2
        grid = np.arange(side, dtype=np.float64) - centre
        py = grid[None, :, None] - shift[0][:, None, None]
        px = grid[None, None, :] - shift[1][:, None, None]
        cos, sin = (np.cos(angle) / zoom)[:, None, None], (np.sin(angle) / zoom)[:, None, None]
        sy, sx = cos * py - sin * px + centre, sin * py + cos * px + centre
        return _bilinear(images, sy, sx).astype(images.dtype, copy=False).reshape(np.shape(batch))

    def __repr__(self) -> str:
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale})"


def _bilinear(images: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """images sampled at fractional (sy, sx) per output pixel, 0 outside the image."""
    n, side = images.shape[:2]
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))  # a ring of background: neighbours stay in range
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = sy - y0, sx - x0
    y0 = np.clip(y0.astype(np.intp) + 1, 0, side)
    x0 = np.clip(x0.astype(np.intp) + 1, 0, side)
    inside = (sy > -1) & (sy < side) & (sx > -1) & (sx < side)
    batch = np.arange(n)[:, None, None]
    out = (
        padded[batch, y0, x0] * (1 - fy) * (1 - fx)
        + padded[batch, y0, x0 + 1] * (1 - fy) * fx
        + padded[batch, y0 + 1, x0] * fy * (1 - fx)
        + padded[batch, y0 + 1, x0 + 1] * fy * fx
    )
    return np.where(inside, out, 0.0)
