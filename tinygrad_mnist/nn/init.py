"""Random initialisation, reproducible: every layer draws from an explicit `np.random.Generator`.

A layer given `rng=None` draws from this module's default generator. It starts from fresh OS entropy
(numpy's convention: unseeded runs differ); `manual_seed(seed)` replaces it with a seeded one, like
`torch.manual_seed`, so that

    nn.manual_seed(0); a = MLP()
    nn.manual_seed(0); b = MLP()

gives identical parameters bit for bit. Passing `rng=` to a layer (an int seed or a Generator) bypasses
the default generator entirely.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinygrad_mnist.autograd import Tensor

_default_generator: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator that layers built with `rng=None` draw from; returns it."""
    global _default_generator
    _default_generator = np.random.default_rng(_check_seed(seed))
    return _default_generator


def default_generator() -> np.random.Generator:
    """The generator layers use when given `rng=None` (replaced by each `manual_seed` call)."""
    return _default_generator


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def get_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """`rng` as a Generator: None -> the default generator, an int -> a new generator seeded with it."""
    if rng is None:
        return _default_generator
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(_check_seed(rng))


def uniform_(tensor: Tensor, low: float, high: float, rng: np.random.Generator | int | None = None) -> Tensor:
    """Fill `tensor.data` in place with U(low, high) samples, keeping its dtype; returns the tensor.

    Samples are drawn in float64 and rounded to the tensor's dtype, so a float32 and a float64 model
    built from the same seed hold the same numbers up to float32 rounding.
    """
    if not low <= high:
        raise ValueError(f"uniform_: need low <= high, got low={low}, high={high}")
    samples = get_generator(rng).uniform(low, high, size=tensor.shape)
    np.copyto(tensor.data, samples, casting="same_kind")
    return tensor
