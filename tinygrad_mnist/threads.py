"""How many threads BLAS (numpy's matrix products) may use: one, unless you ask for more.

Why one: this project's matrices are small (a batch of 128 images against 784x128 weights), so
splitting a product over threads saves at most a quarter even on idle cores, while on a busy machine every
product waits for its slowest thread to be scheduled: OpenBLAS's default of one thread per core made
batched training 2x to 12x slower on a loaded 2-core machine (docs/performance.md, `benchmarks/blas_threads.py`).

Precedence: an explicit `threads` argument (the CLI's `--threads`), then $TINYGRAD_MNIST_THREADS,
then the BLAS library's own variables (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS: if you
set one, it is left alone), then `DEFAULT_THREADS`. A value is a positive integer, or "blas" for the
library's own default (one thread per core). The limit is applied with threadpoolctl, at run time, to
the BLAS libraries numpy has loaded; OpenMP pools (PyTorch's) are not touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

THREADS_ENV_VAR = "TINYGRAD_MNIST_THREADS"
BLAS_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_THREADS = 1
BLAS_DEFAULT = "blas"  # the value that leaves the library's own thread count alone


def parse_threads(value: str | int) -> int | None:
    """A thread count from a flag or variable: a positive int, or None for "blas" (the library's own)."""
    text = str(value).strip().lower()
    if text == BLAS_DEFAULT:
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"threads must be a positive integer or {BLAS_DEFAULT!r} (the BLAS library's own default), "
            f"got {value!r}"
        )
    return count


def chosen_threads(threads: str | int | None = None, environ: Mapping[str, str] | None = None) -> int | None:
    """The thread count the policy picks (None: leave BLAS as it is), following the precedence above."""
    environ = os.environ if environ is None else environ
    if threads is not None:
        return parse_threads(threads)
    if environ.get(THREADS_ENV_VAR):
        try:
            return parse_threads(environ[THREADS_ENV_VAR])
        except ValueError as err:
            raise ValueError(f"${THREADS_ENV_VAR}: {err}") from None
    if any(environ.get(name) for name in BLAS_ENV_VARS):
        return None  # the user configured BLAS directly
    return DEFAULT_THREADS


def limit_threads(threads: str | int | None = None) -> int | None:
    """Apply the policy to the BLAS libraries loaded in this process; returns the limit set (None: none).

    Call it once at start-up (the CLI and the test suite do); it lasts until changed again.
    """
    count = chosen_threads(threads)
    if count is not None:
        import numpy  # noqa: F401  (loads the BLAS library, so threadpoolctl can find it)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=count, user_api="blas")
    return count


def blas_threads() -> list[tuple[str, int]]:
    """(library, threads) of every BLAS library loaded in this process, e.g. [("openblas", 1)]."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    return [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def describe_blas_threads() -> str:
    """What the CLI prints: "1 BLAS thread", "2 BLAS threads" (or "no BLAS library found")."""
    counts = sorted({n for _, n in blas_threads()})
    if not counts:
        return "no BLAS library found"
    return f"{'/'.join(map(str, counts))} BLAS thread{'' if counts == [1] else 's'}"
