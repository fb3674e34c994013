"""`DataLoader`: mini-batches of numpy arrays, optionally shuffled, reproducible from a seed.

Numpy-only on purpose: the data layer knows nothing about the autograd engine; the training loop wraps
each batch in a Tensor. Copies are kept to what is needed: without shuffling a batch is a contiguous
slice (a view); with shuffling the order is permuted once per epoch and each batch gathers its rows.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator

import numpy as np

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``(x_batch, y_batch)`` pairs; each `iter()` is one epoch.

    `len(loader)` is the number of batches per epoch. With `shuffle`, every epoch draws a new permutation
    from one generator (built from `seed`, or the `generator` you pass), so the same seed gives the same
    sequence of epochs. Every sample appears exactly once per epoch, except that `drop_last` drops the
    final short batch.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"x and y must be arrays of samples, got shapes x {x.shape}, y {y.shape}")
        if len(x) != len(y):
            raise ValueError(
                f"x and y must have the same number of samples: x has shape {x.shape}, y has shape {y.shape}"
            )
        if isinstance(batch_size, bool):
            raise TypeError("batch_size must be an integer, got a bool")
        try:
            batch_size = operator.index(batch_size)
        except TypeError:
            raise TypeError(f"batch_size must be an integer, got {type(batch_size).__name__}") from None
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed is not None and generator is not None:
            raise ValueError("pass either seed or generator, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator if generator is not None else np.random.default_rng(seed)

    @property
    def num_samples(self) -> int:
        """Samples per epoch actually yielded (fewer than len(x) when drop_last drops a short batch)."""
        return len(self) * self.batch_size if self.drop_last else len(self.x)

    def __len__(self) -> int:
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, b = len(self.x), self.batch_size
        stop = len(self) * b if self.drop_last else n
        if not self.shuffle:
            for start in range(0, stop, b):
                yield self.x[start : start + b], self.y[start : start + b]
            return
        order = self.generator.permutation(n)  # drawn when the epoch starts, not at construction
        for start in range(0, stop, b):
            index = order[start : start + b]
            yield self.x[index], self.y[index]

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.x)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, batches={len(self)})"
        )
