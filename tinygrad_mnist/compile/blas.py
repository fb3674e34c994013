"""One BLAS call per weight update, for the fast mode: `W += alpha * g.T @ x (+ (beta - 1) * W)`.

numpy has no way to ask its BLAS to add a product into an existing matrix, so the textbook update
`W -= lr * (g.T @ x)` costs a pass to write the product, one to scale it and one to subtract it. The
CBLAS routines numpy itself is built on do it in one: `sgemm` with beta = 1 (or beta = momentum,
for SGD's momentum buffer), `sger` for one sample's outer product, `saxpy` for `W -= lr * buf`.
The library is the OpenBLAS that numpy loaded, found through threadpoolctl; every array handed to
it is float32, C-ordered and fixed for the program's life (preallocated buffers, parameters whose
arrays the program's guard checks by identity), so its address is read once, at capture. Where no
such library is found, `library()` is None and the fast mode writes the numpy lines instead.
The sums come out in BLAS's own order (fused multiply-adds): equal to numpy's to float32 rounding.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_SYMBOLS = (  # (prefix, suffix, integer type) of the CBLAS names, as OpenBLAS builds export them
    ("scipy_cblas_", "64_", ctypes.c_int64),  # numpy's wheels: scipy-openblas64
    ("scipy_cblas_", "", ctypes.c_int32),  # scipy-openblas32
    ("cblas_", "64_", ctypes.c_int64),
)


class Blas:
    """`sgemm`, `sger`, `saxpy` of one OpenBLAS, called with arguments converted once."""

    def __init__(self, lib: Any, prefix: str, suffix: str, integer: Any, path: str = ""):
        self.integer, self.path = integer, path
        self.sgemm = getattr(lib, f"{prefix}sgemm{suffix}")
        self.sger = getattr(lib, f"{prefix}sger{suffix}")
        self.saxpy = getattr(lib, f"{prefix}saxpy{suffix}")
        for fn in (self.sgemm, self.sger, self.saxpy):
            fn.restype = None

    def _ints(self, *values: int) -> list[Any]:
        return [self.integer(v) for v in values]


def _address(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.__array_interface__["data"][0])


def usable(*arrays: np.ndarray) -> bool:
    """Whether BLAS may read these arrays by address: float32, C-ordered, aligned, writable."""
    return all(
        a.dtype == np.float32 and a.flags.c_contiguous and a.flags.aligned and a.flags.writeable
        for a in arrays
    )


@functools.lru_cache(maxsize=1)
def library() -> Blas | None:
    """numpy's OpenBLAS (the first loaded OpenBLAS whose path is inside numpy's install), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a runtime dependency
        return None
    numpy_home = str(np.__file__).rsplit("/numpy/", 1)[0]
    for info in threadpool_info():
        path = str(info.get("filepath", ""))
        if info.get("internal_api") != "openblas" or not path.startswith(numpy_home):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, integer in _SYMBOLS:
            if hasattr(lib, f"{prefix}sgemm{suffix}"):
                return Blas(lib, prefix, suffix, integer, path)
    return None


def single_threaded(blas_lib: Blas) -> bool:
    """Whether numpy's OpenBLAS runs one thread now. A vector update (`sger`, one sample) is too small
    to split: with two threads OpenBLAS still splits it, and on a busy machine a step took 13x as long
    (613 µs against 10 µs for 24x784); `sgemm` with one inner term keeps such sizes on one thread."""
    from threadpoolctl import threadpool_info

    return all(
        info.get("num_threads", 1) == 1 for info in threadpool_info() if info.get("filepath") == blas_lib.path
    )


def gemm_update(
    blas: Blas, W: np.ndarray, g: np.ndarray, x: np.ndarray | None, alpha: float, outer: bool = True
) -> Callable[..., None]:
    """`W = alpha * g.T @ x + beta * W` for `g` (n, out) and `x` (n, in), W (out, in), in one call.

    `x=None`: x is the step's batch, whose address is read on each call, `update(x, beta)`; otherwise
    x is a buffer fixed at capture, `update(beta)`. A single row (n = 1) has beta = 1 and no argument
    for it: `sger` (4 µs for 24x784, one thread), or with `outer=False` `sgemm` with one inner term
    (6 µs), which OpenBLAS does not split between threads where it splits `sger`.
    """
    update = _gemm_update(blas, W, g, x, alpha, outer)
    update.arrays = (W, g, x)  # BLAS holds only their addresses: the arrays must outlive the program
    return update


def _gemm_update(
    blas: Blas, W: np.ndarray, g: np.ndarray, x: np.ndarray | None, alpha: float, outer: bool
) -> Any:
    n, out_features = g.shape
    if W.shape[0] != out_features or (x is not None and (x.shape[0] != n or x.shape[1] != W.shape[1])):
        raise ValueError(
            f"gemm_update: shapes {W.shape}, {g.shape}, {None if x is None else x.shape} do not fit"
        )
    if not usable(W, g, *([] if x is None else [x])):
        raise ValueError("gemm_update: BLAS reads these arrays by address: float32, C-ordered, writable")
    in_features = x.shape[1] if x is not None else W.shape[1]
    fixed = None if x is None else _address(x)
    if n == 1 and outer:  # W += alpha * outer(g[0], x[0]); beta must be 1 (checked by the caller)
        head = [*blas._ints(ROW_MAJOR, out_features, in_features), ctypes.c_float(alpha), _address(g)]
        head.append(blas.integer(1))
        tail = [blas.integer(1), _address(W), blas.integer(in_features)]
        if fixed is not None:
            return functools.partial(blas.sger, *head, fixed, *tail)

        def outer(batch: np.ndarray) -> None:
            batch = np.ascontiguousarray(batch, dtype=np.float32)  # kept alive through the call
            blas.sger(*head, _address(batch), *tail)

        return outer
    head = [*blas._ints(ROW_MAJOR, TRANS, NO_TRANS, out_features, in_features, n), ctypes.c_float(alpha)]
    head += [_address(g), blas.integer(out_features)]
    c = [_address(W), blas.integer(in_features)]
    ldb = blas.integer(in_features)
    if fixed is not None and n == 1:  # one row: beta is 1
        return functools.partial(blas.sgemm, *head, fixed, ldb, ctypes.c_float(1.0), *c)
    if fixed is not None:
        return lambda beta: blas.sgemm(*head, fixed, ldb, ctypes.c_float(beta), *c)

    def product(batch: np.ndarray, beta: float = 1.0) -> None:
        batch = np.ascontiguousarray(batch, dtype=np.float32)  # kept alive through the call
        blas.sgemm(*head, _address(batch), ldb, ctypes.c_float(beta), *c)

    return product


def axpy_update(blas: Blas, W: np.ndarray, buf: np.ndarray) -> Callable[[float], None]:
    """`W += alpha * buf` in one pass: `update(alpha)`."""
    if W.shape != buf.shape or not usable(W, buf):
        raise ValueError(
            f"axpy_update: needs two float32 C-ordered arrays of one shape, got shapes {W.shape} and {buf.shape}"
        )
    n, one, w, b = blas.integer(W.size), blas.integer(1), _address(W), _address(buf)

    def axpy(alpha: float) -> None:
        blas.saxpy(n, ctypes.c_float(alpha), b, one, w, one)

    axpy.arrays = (W, buf)  # type: ignore[attr-defined]  # kept alive with the program
    return axpy
