"""Speed helpers of the engine: numpy-only shortcuts that give the same numbers faster.

Kept apart from the ops so that `ops.py` reads as the math. Each helper says what plain expression it
stands for; an op's backward uses one only when it is handed numpy arrays (first-order backward), and
the plain expression when it is handed Tensors (a recorded backward, for second derivatives).
"""

from __future__ import annotations

import numpy as np


def matmul_2d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`x @ y` for matrices. A sum over one term (a batch of one sample) is an outer product, which
    numpy's broadcasting does several times faster than its matmul. A small product goes to `np.dot`,
    the same BLAS call with less of `@`'s general (stacked, broadcast) dispatch in front (up to 1.5 µs
    less); a big one stays with `@`, because `np.dot` first zeroes its output (4 µs for 128x784)."""
    if x.shape[1] == 1:
        return x * y
    return np.dot(x, y) if x.shape[0] * y.shape[1] <= 4096 else x @ y


def sum_rows(x: np.ndarray) -> np.ndarray:
    """`x.sum(axis=0)`. A single row (a batch of one sample) is its own sum: no reduction to call."""
    return x[0] if x.shape[0] == 1 else x.sum(axis=0)


def matmul_like(x: np.ndarray, y: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`x @ y` (matrices) laid out in memory like `like`. The gradient of a transposed input such as
    `weight.T` is then itself transposed, and goes back through the transpose to the weight as a
    C-ordered array that needs no copy."""
    if like.flags.f_contiguous and not like.flags.c_contiguous:
        return matmul_2d(y.T, x.T).T
    return matmul_2d(x, y)


def spread(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`np.broadcast_to(x, shape)` as a fresh, writable array: 8x faster than np.broadcast_to on the
    small arrays of a training step."""
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x
    return out


def accumulate(old: np.ndarray | None, g: np.ndarray, dtype: np.dtype, handed_out: set[int]) -> np.ndarray:
    """`old + g` (or `g`), as the new `.grad` of a leaf of `dtype`, copying `g` only when it must.

    Every gradient is a fresh array made during this backward, or a view of one (reshape, transpose):
    it may be stored as is unless its memory already went to another tensor's `.grad`, which
    `handed_out` (ids of stored memory, for one backward pass) keeps track of.
    """
    if old is not None:  # never in place: the old array may be referenced elsewhere
        return np.add(old, g, dtype=old.dtype)  # a float64 path can't up-cast it
    if type(g) is not np.ndarray:  # a numpy scalar
        g = np.asarray(g)
    memory = g if g.base is None else g.base
    if g.dtype != dtype:
        g = memory = g.astype(dtype)  # e.g. a float64 constant met a float32 parameter
    elif not g.flags.writeable or id(memory) in handed_out:
        g = memory = g.copy()
    handed_out.add(id(memory))
    return g
