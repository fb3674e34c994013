"""Numpy preprocessing for MNIST: scale, normalise, flatten, split off validation, one-hot.

Kept numpy-only so the data layer does not depend on the autograd engine. Functions check their input
kind (e.g. `scale` wants uint8 pixels) because applying a step twice -- dividing by 255 twice, say --
does not crash, it just trains a worse model.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "flatten",
    "normalize",
    "one_hot",
    "preprocess",
    "scale",
    "train_val_split",
]

MNIST_MEAN = 0.1307  # mean pixel of the training images after scaling to [0, 1]
MNIST_STD = 0.3081  # their standard deviation


def scale(images: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """uint8 pixels 0..255 -> floats in [0, 1] (a new array)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"scale expects uint8 pixels 0..255, got dtype {images.dtype} (already scaled?)")
    x = images.astype(dtype)  # then divided in place: the same float division, twice as fast as
    np.divide(x, x.dtype.type(255), out=x)  # np.divide(images, 255, dtype=...) on 60,000 images
    return x


def normalize(x: np.ndarray, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> np.ndarray:
    """(x - mean) / std for float images already scaled to [0, 1] (a new array, same dtype)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"normalize expects float images in [0, 1], got dtype {x.dtype}; call scale() first")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    return ((x - x.dtype.type(mean)) / x.dtype.type(std)).astype(x.dtype, copy=False)


def flatten(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) -> (N, 784); a view when `images` is contiguous."""
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"flatten expects a batch of images (N, ...), got shape {images.shape}")
    return images.reshape(len(images), -1)


def preprocess(
    images: np.ndarray, *, normalize: bool = True, flatten: bool = False, dtype: DTypeLike = np.float32
) -> np.ndarray:
    """uint8 images -> float `dtype` in [0, 1], optionally normalised with the MNIST mean/std and flattened."""
    x = scale(images, dtype)
    if normalize:
        x -= x.dtype.type(MNIST_MEAN)  # in place: x is already a fresh array
        x /= x.dtype.type(MNIST_STD)
    return x.reshape(len(x), -1) if flatten else x


def train_val_split(
    images: np.ndarray, labels: np.ndarray, val_size: int = 10_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off the last `val_size` samples as validation: ``(x_train, y_train, x_val, y_val)``.

    On the 60,000 MNIST training images this is the classic 50,000 / 10,000 split. No shuffling, so it
    is the same split every time; the parts are views, not copies.
    """
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels must have the same length: images {np.shape(images)}, labels {np.shape(labels)}"
        )
    if not 0 < val_size < len(images):
        raise ValueError(
            f"val_size must be between 1 and {len(images) - 1} for {len(images)} samples, got {val_size}"
        )
    cut = len(images) - val_size
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def one_hot(labels: np.ndarray, num_classes: int = 10, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Integer labels (N,) -> (N, num_classes) array with a 1 in each label's column."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"one_hot expects integer labels, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1}, got values {labels.min()}..{labels.max()}")
    out = np.zeros((*labels.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, labels[..., None].astype(np.intp), 1, axis=-1)
    return out
