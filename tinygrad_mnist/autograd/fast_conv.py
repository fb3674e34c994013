"""Speed helpers of the convolution ops: im2col and its adjoint, and pooling by kernel offsets.

Kept apart from `conv.py`, which reads as the math. Nothing here loops over pixels or samples: the
only Python loops run over the kh x kw offsets of a kernel, each one a whole-array numpy operation.

Layout: im2col lays the windows out as one (C·kh·kw, N·Ho·Wo) matrix, so a convolution is a single
BLAS matmul `W (O, C·kh·kw) @ cols`, and its result, (O, N, Ho, Wo) in memory, is handed on as the
NCHW view of that memory (a transpose, no copy). numpy's elementwise ops keep that layout, and
reductions over (N, H, W) per channel (batch norm) then read contiguous memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

Pair = tuple[int, int]


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """How many windows of `kernel` taps, `dilation` apart, fit along an axis of `size` padded by
    `padding` on both sides, stepping by `stride` (PyTorch's formula, rounding down)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def offsets(
    kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair
) -> Iterator[tuple[int, int, tuple[slice, slice]]]:
    """(i, j, (rows, cols)) for each kernel offset: the strided slices of the padded input that tap
    (i, j) reads across all windows, so `xp[:, :, rows, cols]` is (N, C, Ho, Wo)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            yield i, j, (rows, cols)


def pad(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    """x padded on height and width, laid out in memory like x (np.pad would reorder a transposed view)."""
    (ph, pw) = padding
    if not ph and not pw:
        return x
    n, c, h, w = x.shape
    channels_first = x.transpose(1, 0, 2, 3).flags.c_contiguous
    out = np.full(
        (c, n, h + 2 * ph, w + 2 * pw) if channels_first else (n, c, h + 2 * ph, w + 2 * pw), value, x.dtype
    )
    out = out.transpose(1, 0, 2, 3) if channels_first else out
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def im2col(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """The (C·kh·kw, N·Ho·Wo) matrix of every window of the padded input: row (c, i, j), column
    (n, h, w) holds xp[n, c, h·sh + i·dh, w·sw + j·dw]. One strided copy per kernel offset."""
    n, c = xp.shape[:2]
    cols = np.empty((c, kernel[0], kernel[1], n, *out_hw), dtype=xp.dtype)
    for i, j, window in offsets(kernel, stride, dilation, out_hw):
        cols[:, i, j] = xp[(slice(None), slice(None), *window)].transpose(1, 0, 2, 3)
    return cols.reshape(c * kernel[0] * kernel[1], -1)


def col2im(
    dcols: np.ndarray, padded_shape: tuple[int, ...], kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair
) -> np.ndarray:
    """The adjoint of im2col: each entry of the column matrix is added back where it was read from
    (overlapping windows add up), giving the gradient of the padded input."""
    n, c = padded_shape[:2]
    dcols = dcols.reshape(c, kernel[0], kernel[1], n, *out_hw)
    out = np.zeros((c, n, *padded_shape[2:]), dtype=dcols.dtype)  # channels first, like the forward
    for i, j, window in offsets(kernel, stride, dilation, out_hw):
        out[(slice(None), slice(None), *window)] += dcols[:, i, j]
    return out.transpose(1, 0, 2, 3)


def zeros_like_layout(x: np.ndarray, dtype: np.dtype, zeros: bool = True) -> np.ndarray:
    """Zeros (or, with `zeros=False`, an uninitialised array to be overwritten) of x's (N, C, H, W)
    shape, channels first in memory when x is (what the ops hand on, perhaps as a view cut out of a
    larger channels-first buffer)."""
    make = np.zeros if zeros else np.empty
    if min(x.shape[:2]) > 1 and abs(x.strides[1]) > abs(x.strides[0]):
        return make((x.shape[1], x.shape[0], *x.shape[2:]), dtype=dtype).swapaxes(0, 1)
    return make(x.shape, dtype=dtype)


def channels_first(x: np.ndarray) -> np.ndarray:
    """(N, C, ...) as a (C, N·...) matrix: a reshape, copying only when x is not already laid out so."""
    return x.swapaxes(0, 1).reshape(x.shape[1], -1)


def max_pool(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """The maximum over each window, as one np.maximum per kernel offset (a reduction over tiny
    strided window axes is many times slower)."""
    taps = offsets(kernel, stride, dilation, out_hw)
    _, _, first = next(taps)
    out = xp[(slice(None), slice(None), *first)].copy(order="K")  # keeps a channels-first layout
    for _, _, window in taps:
        np.maximum(out, xp[(slice(None), slice(None), *window)], out=out)
    return out


def max_pool_gradient(
    xp: np.ndarray, out: np.ndarray, g: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair
) -> np.ndarray:
    """Route each window's gradient to its maximum, split evenly between tied maxima (and to a NaN,
    which is the maximum). Returns the gradient of the padded input."""
    windows = [w for _, _, w in offsets(kernel, stride, dilation, out.shape[2:])]
    taps = [xp[(slice(None), slice(None), *w)] for w in windows]
    hits = [tap == out for tap in taps]
    if np.isnan(out).any():
        hits = [hit | (np.isnan(tap) & np.isnan(out)) for hit, tap in zip(hits, taps)]
    share = g
    if sum(np.count_nonzero(hit) for hit in hits) != out.size:  # some window has tied maxima
        count = hits[0].astype(g.dtype)
        for hit in hits[1:]:
            count += hit
        share = g / count
    tiled = tuple(stride) == tuple(kernel) and tuple(dilation) == (1, 1)  # each input in one window
    covered = tiled and all(o * k == s for o, k, s in zip(out.shape[2:], kernel, xp.shape[2:]))
    dxp = zeros_like_layout(xp, g.dtype, zeros=not covered)  # windows tiling xp write every element
    for hit, window in zip(hits, windows):
        where = (slice(None), slice(None), *window)
        if tiled:
            np.multiply(share, hit, out=dxp[where])
        else:
            dxp[where] += share * hit
    return dxp


def window_sum(xp: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair) -> np.ndarray:
    """The sum over each window, one add per kernel offset."""
    out = np.zeros((*xp.shape[:2], *out_hw), dtype=xp.dtype)
    for _, _, window in offsets(kernel, stride, (1, 1), out_hw):
        out += xp[(slice(None), slice(None), *window)]
    return out


def spread(g: np.ndarray, padded_shape: tuple[int, ...], kernel: Pair, stride: Pair) -> np.ndarray:
    """The adjoint of window_sum: each window's gradient added to every input of the window."""
    dxp = np.zeros(padded_shape, dtype=g.dtype)
    for _, _, window in offsets(kernel, stride, (1, 1), g.shape[2:]):
        dxp[(slice(None), slice(None), *window)] += g
    return dxp


def from_channels_first(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The (N, C, ...) view of a (C, N·...) matrix: the inverse of `channels_first`, never a copy."""
    return matrix.reshape(shape[1], shape[0], *shape[2:]).swapaxes(0, 1)


def row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_j a[i, j] · b[i, j] for each row i, without the temporary array a * b."""
    return np.einsum("ij,ij->i", a, b)
