"""Speed helpers of the convolution ops: sliding windows as strided views, and their adjoint.

Kept apart from `conv.py`, which reads as the math. Nothing here loops over pixels or samples:
`windows` is a view (no copy) and `fold` loops only over the kernel's kh x kw offsets.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Pair = tuple[int, int]


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """How many windows of `kernel` taps, `dilation` apart, fit along an axis of `size` padded by
    `padding` on both sides, stepping by `stride` (PyTorch's formula, rounding down)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair) -> np.ndarray:
    """The (N, C, Ho, Wo, kh, kw) view of every window of an already padded (N, C, H, W) array:
    `windows(xp)[n, c, h, w, i, j] = xp[n, c, h*sh + i*dh, w*sw + j*dw]`. A view: no memory is copied."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    view = sliding_window_view(xp, span, axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def fold(dwin: np.ndarray, padded_shape: tuple[int, ...], stride: Pair, dilation: Pair) -> np.ndarray:
    """The adjoint of `windows`: add each window's entries back where they were read from, giving an
    array of `padded_shape`. Overlapping windows add up. Non-overlapping windows (stride == kernel,
    no dilation) are a single reshape; otherwise one strided add per kernel offset."""
    n, c, ho, wo, kh, kw = dwin.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros(padded_shape, dtype=dwin.dtype)
    if (sh, sw) == (kh, kw) and (dh, dw) == (1, 1):
        out[:, :, : ho * kh, : wo * kw] = dwin.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho * kh, wo * kw)
        return out
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw] += (
                dwin[:, :, :, :, i, j]
            )
    return out


def correlate(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair) -> np.ndarray:
    """Valid cross-correlation of a padded (N, C, H, W) input with (O, C, kh, kw) weights, as one
    BLAS contraction over (c, i, j); returns a C-contiguous (N, O, Ho, Wo) array."""
    win = windows(xp, w.shape[2:], stride, dilation)
    out = np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
    return np.ascontiguousarray(out)


def weight_gradient(xp: np.ndarray, g: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair) -> np.ndarray:
    """dW[o, c, i, j] = Σ_{n,h,w} xp[n, c, h*sh + i*dh, w*sw + j*dw] · g[n, o, h, w]: the input
    cross-correlated with the output gradient, as one contraction."""
    win = windows(xp, kernel, stride, dilation)
    return np.einsum("nchwij,nohw->ocij", win, g, optimize=True)


def input_gradient(g: np.ndarray, w: np.ndarray, padded_hw: Pair, stride: Pair, dilation: Pair) -> np.ndarray:
    """dX of the padded input: the *full* convolution of the output gradient with the kernel, i.e. a
    correlation with the flipped kernel. A stride spreads g out with zeros between its entries first
    (what the strided forward skipped gets gradient 0); rows the forward never read stay 0."""
    n, o, ho, wo = g.shape
    _, c, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    if (sh, sw) != (1, 1):
        spread = np.zeros((n, o, (ho - 1) * sh + 1, (wo - 1) * sw + 1), dtype=g.dtype)
        spread[:, :, ::sh, ::sw] = g
        g = spread
    ph, pw = dh * (kh - 1), dw * (kw - 1)
    gp = np.pad(g, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, kh, kw)
    dxp = correlate(gp, flipped, (1, 1), dilation)
    hp, wp = padded_hw
    if dxp.shape[2:] == (hp, wp):
        return dxp
    out = np.zeros((n, c, hp, wp), dtype=dxp.dtype)
    out[:, :, : dxp.shape[2], : dxp.shape[3]] = dxp
    return out
