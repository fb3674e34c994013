"""Engine overhead: microseconds per recorded op on tiny tensors, where numpy's own work is negligible.

    python benchmarks/engine_overhead.py            # every primitive op, then a 100,000-op chain
    python benchmarks/engine_overhead.py --quick    # fewer repetitions and a 2,000-op chain (for tests)

For each op, a chain of `--length` applications is built on a 4x4 float32 tensor that requires grad
(binary ops take a second 4x4 leaf that requires grad, so both VJPs run) and back-propagated once:
"forward" is building the chain, "backward" is `backward()` over it, both divided by the chain length,
so `backward()`'s fixed cost is spread out. "numpy" is the same forward computation on bare arrays,
what the op would cost without an engine. Ops that change the shape are chained so that the shape
comes back (sum/mean/max with keepdims, transpose of a square, reshape to the same shape). The fused
`cross_entropy` ends a graph, so it is timed as one op plus one `backward()` call per repetition.
The best of `--repeats` runs is reported (the minimum is the least noisy estimate of the cost).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package when it isn't installed

from tinygrad_mnist.autograd import Tensor, no_grad  # noqa: E402

SHAPE = (4, 4)
_rng = np.random.default_rng(0)
_INDEX = np.array([1, 0, 3, 2])

# name -> (op on Tensors, the same op on arrays); `a` is the chain, `b` a second leaf/array.
OPS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "mul by scalar": (lambda a, b: a * 0.5, lambda a, b: a * 0.5),
    "neg": (lambda a, b: -a, lambda a, b: -a),
    "pow": (lambda a, b: a**2, lambda a, b: a**2),
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b),
    "exp": (lambda a, b: a.exp(), np.exp),
    "log": (lambda a, b: a.log(), lambda a, b: np.log(a)),
    "sigmoid": (lambda a, b: a.sigmoid(), lambda a, b: 1 / (1 + np.exp(-a))),
    "relu": (lambda a, b: a.relu(), lambda a, b: np.maximum(a, 0)),
    "tanh": (lambda a, b: a.tanh(), lambda a, b: np.tanh(a)),
    "sum(axis=1, keepdims)": (
        lambda a, b: a.sum(axis=1, keepdims=True),
        lambda a, b: a.sum(axis=1, keepdims=True),
    ),
    "mean(axis=1, keepdims)": (
        lambda a, b: a.mean(axis=1, keepdims=True),
        lambda a, b: a.mean(axis=1, keepdims=True),
    ),
    "max(axis=1, keepdims)": (
        lambda a, b: a.max(axis=1, keepdims=True),
        lambda a, b: a.max(axis=1, keepdims=True),
    ),
    "reshape": (lambda a, b: a.reshape(SHAPE), lambda a, b: a.reshape(SHAPE)),
    "transpose": (lambda a, b: a.T, lambda a, b: a.T),
    "getitem slice": (lambda a, b: a[:, :], lambda a, b: a[:, :]),
    "getitem int array": (lambda a, b: a[_INDEX], lambda a, b: a[_INDEX]),
    "softmax": (lambda a, b: a.softmax(axis=1), None),
    "log_softmax": (lambda a, b: a.log_softmax(axis=1), None),
}


def _leaf(positive: bool = False) -> Tensor:
    data = _rng.uniform(0.5, 1.5, SHAPE) if positive else _rng.uniform(-1, 1, SHAPE)
    return Tensor(data.astype(np.float32), requires_grad=True)


def time_chain(op: Callable[[Any, Any], Any], length: int, positive: bool) -> tuple[float, float]:
    """Seconds to build a chain of `length` ops and to back-propagate through it."""
    x, b = _leaf(positive), _leaf(positive)
    if op is OPS["matmul"][0]:
        b = Tensor(np.eye(4, dtype=np.float32), requires_grad=True)  # keeps values bounded
    gc.collect()
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = op(y, b)
    built = time.perf_counter()
    y.backward(np.ones(y.shape, dtype=np.float32))
    done = time.perf_counter()
    return built - start, done - built


def time_numpy(op: Callable[[np.ndarray, np.ndarray], np.ndarray], length: int, positive: bool) -> float:
    x = _leaf(positive).data
    b = np.eye(4, dtype=np.float32) if op is OPS["matmul"][1] else _leaf(positive).data
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = op(y, b)
    return time.perf_counter() - start


def time_cross_entropy(repeats: int) -> tuple[float, float]:
    logits = _leaf()
    labels = np.array([0, 3, 1, 2])
    start = time.perf_counter()
    for _ in range(repeats):
        logits.cross_entropy(labels)
    forward = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        logits.cross_entropy(labels).backward()
    return forward, time.perf_counter() - start - forward


def per_op_table(length: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for name, (op, np_op) in OPS.items():
        positive = name in ("log", "div")
        fwd, bwd = zip(*(time_chain(op, length, positive) for _ in range(repeats)))
        with no_grad():
            plain = min(time_chain_no_grad(op, length, positive) for _ in range(repeats))
        numpy_s = min(time_numpy(np_op, length, positive) for _ in range(repeats)) if np_op else None
        rows.append(
            {
                "op": name,
                "forward_us": min(fwd) / length * 1e6,
                "backward_us": min(bwd) / length * 1e6,
                "no_grad_us": plain / length * 1e6,
                "numpy_us": None if numpy_s is None else numpy_s / length * 1e6,
            }
        )
    fwd, bwd = zip(*(time_cross_entropy(length) for _ in range(repeats)))
    rows.append(
        {
            "op": "cross_entropy (+ backward() call)",
            "forward_us": min(fwd) / length * 1e6,
            "backward_us": min(bwd) / length * 1e6,
            "no_grad_us": None,
            "numpy_us": None,
        }
    )
    return rows


def time_chain_no_grad(op: Callable[[Any, Any], Any], length: int, positive: bool) -> float:
    x, b = _leaf(positive), _leaf(positive)
    if op is OPS["matmul"][0]:
        b = Tensor(np.eye(4, dtype=np.float32), requires_grad=True)
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = op(y, b)
    return time.perf_counter() - start


def long_chain(length: int) -> dict[str, float]:
    """A chain of `length` multiplications by a constant, then one backward through all of it."""
    x = Tensor(np.ones(SHAPE, dtype=np.float32), requires_grad=True)
    gc.collect()
    start = time.perf_counter()
    y = x
    for _ in range(length):
        y = y * 1.0
    built = time.perf_counter()
    y.sum().backward()
    done = time.perf_counter()
    assert x.grad is not None and np.all(x.grad == 1.0)
    return {"length": length, "forward_s": built - start, "backward_s": done - built}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", "--tiny", action="store_true", help="short chains, few repeats (for tests)")
    p.add_argument("--length", type=int, default=2000, help="ops per chain for the per-op table")
    p.add_argument("--repeats", type=int, default=5, help="runs per op; the fastest is reported")
    p.add_argument("--chain", type=int, default=100_000, help="length of the long chain")
    args = p.parse_args(argv)
    length, repeats, chain = (50, 1, 2000) if args.quick else (args.length, args.repeats, args.chain)

    with np.errstate(all="ignore"):  # long chains of exp or div overflow; only the time matters here
        rows = per_op_table(length, repeats)
    print(
        f"Per recorded op on {SHAPE[0]}x{SHAPE[1]} float32 tensors, microseconds (best of {repeats}, chains of {length}):"
    )
    print(f"  {'op':36}{'forward':>9}{'backward':>10}{'total':>8}{'no_grad':>9}{'numpy':>7}")
    for r in rows:
        total = r["forward_us"] + r["backward_us"]
        no_grad_us = "" if r["no_grad_us"] is None else f"{r['no_grad_us']:.2f}"
        numpy_us = "" if r["numpy_us"] is None else f"{r['numpy_us']:.2f}"
        print(
            f"  {r['op']:36}{r['forward_us']:9.2f}{r['backward_us']:10.2f}{total:8.2f}{no_grad_us:>9}{numpy_us:>7}"
        )
    engine = [r["forward_us"] + r["backward_us"] - (r["numpy_us"] or 0.0) for r in rows if r["numpy_us"]]
    print(f"  median engine overhead (total minus numpy): {float(np.median(engine)):.2f} us per op")
    result = long_chain(chain)
    print(
        f"\nchain of {chain:,} ops (y = y * 1.0): built in {result['forward_s']:.3f} s, "
        f"backward in {result['backward_s']:.3f} s"
    )
    return {"ops": rows, "chain": result}


if __name__ == "__main__":
    main()
