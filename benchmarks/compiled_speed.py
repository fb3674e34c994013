"""The compiled step against the eager engine, the hand-written numpy floor and PyTorch, per step.

    python benchmarks/compiled_speed.py            # 4 setups, 7 interleaved rounds each; ~2-4 minutes
    python benchmarks/compiled_speed.py --quick    # a few steps of each, to check the script runs

The contestants and setups are train_speed.py's (same weights, same batches, same order): "ours" (the
eager engine in a bare loop), "ours, compiled" (`compile_step`, bit for bit the engine), "ours,
compiled fast" (`compile_step(..., exact=False)`), "numpy (by hand)" (benchmarks/
numpy_mlp.py) and PyTorch when importable, here with as many threads as OPENBLAS_NUM_THREADS allows
numpy. Rounds are shorter than an epoch (`--samples`) so that more of them fit, interleaved, in the
same minutes: on a shared machine a median of many short rounds moves less than one of a few long
ones. Each row prints the median µs per step, compiled / numpy for both modes, and the fast mode's
ratio beside the issue-14 target.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import train_speed  # noqa: E402

from tinygrad_mnist.recipes import mnist_arrays  # noqa: E402

SETUPS = [  # (name, model, loss, lr, batch size)
    ("per-sample", "sigmoid-24", "squared_error", 0.01, 1),
    ("batch 32", "mlp-128", "cross_entropy", 0.1, 32),
    ("batch 128", "mlp-128", "cross_entropy", 0.1, 128),
    ("batch 512", "mlp-128", "cross_entropy", 0.1, 512),
]


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rounds", type=int, default=7, help="timed rounds per setup, after a warm-up (default 7)"
    )
    p.add_argument("--samples", type=int, default=6_000, help="samples per round (default 6,000)")
    p.add_argument("--quick", action="store_true", help="a few steps of each (for tests)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when it is installed")
    p.add_argument(
        "--only", nargs="*", default=None, help="run only these setups (e.g. per-sample 'batch 32')"
    )
    p.add_argument(
        "--data", default=None, help="MNIST folder (default: $TINYGRAD_MNIST_DATA, then the cache)"
    )
    args = p.parse_args(argv)
    rounds, samples = (1, 1024) if args.quick else (args.rounds, args.samples)
    data = mnist_arrays(args.data, samples, 256 if args.quick else 2_000, download=False)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    contestants: list[type] = [
        train_speed.Ours,
        train_speed.OursCompiled,
        train_speed.OursCompiledFast,
        train_speed.Numpy,
    ]
    torch_v = None if args.no_torch else train_speed.torch_version()
    if torch_v is not None:
        import torch

        torch.set_num_threads(int(threads) if threads.isdigit() else 2)
        contestants.append(train_speed.Torch)
    print(f"BLAS: {train_speed.blas_description()}; OPENBLAS_NUM_THREADS={threads}")
    print(f"PyTorch: {torch_v or 'skipped'}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    labels = [c.label for c in contestants]
    print(f"median µs per step over {rounds} rounds of {samples:,} samples, interleaved\n")
    header = f"| setup | {' | '.join(labels)} | compiled / numpy | fast / numpy | target (fast) |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    results = []
    for name, model, loss, lr, batch in SETUPS:
        if args.only and name not in args.only:
            continue
        setup = train_speed.Setup(name, model, loss, lr, batch, samples)
        result = train_speed.race(setup, contestants, data, rounds, 0, lambda s: None)
        steps = samples // batch
        cells = [f"{result['contestants'][label]['median_s'] / steps * 1e6:.1f}" for label in labels]
        exact = train_speed.ratio(result, "ours, compiled", "numpy (by hand)")
        fast = train_speed.ratio(result, "ours, compiled fast", "numpy (by hand)")
        target = train_speed.COMPILED_TARGETS.get(batch, 0.95)
        verdict = "met" if fast <= target else "not met"
        print(
            f"| {name} | {' | '.join(cells)} | {exact:.2f} | {fast:.2f} | ≤ {target:.2f}: {verdict} |",
            flush=True,
        )
        results.append(result)
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return results


if __name__ == "__main__":
    main()
