"""Run every example in examples/ at full length and print the README's accuracy table (markdown).

    python benchmarks/run_examples.py                 # seeds 0 1 2: ~3 minutes a seed on 2 cores; needs MNIST
    python benchmarks/run_examples.py --seeds 0       # one run each

Each example runs in its own process, one after another, once per seed ($TINYGRAD_MNIST_SEED, which
the examples pass to `nn.manual_seed` and their batch order), timed by the wall clock (data loading and
evaluation included). The accuracy is the example's own last line, `test accuracy: NN.NN%`. Runs use
one BLAS thread (OPENBLAS_NUM_THREADS=1, the library's default policy): a seeded rerun gives the same
digits only with the same BLAS kernels and thread count, since those decide the order of float32 sums.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    ("hello_world.py", "784-128-10 ReLU", "cross-entropy, SGD lr 0.1 momentum 0.9, batch 64, 1 epoch"),
    ("sigmoid_24_per_sample.py", "784-24-10 sigmoid everywhere", "sum((out - onehot)^2), per-sample SGD lr 0.01, 3 passes over 50,000"),
    ("sigmoid_16_16_minibatch.py", "784-16-16-10 sigmoid", "quadratic cost, mini-batch SGD batch 10 lr 3.0, 3 epochs over 50,000"),
    ("relu_softmax_full_batch.py", "784-10-10 ReLU + softmax", "cross-entropy, full-batch gradient descent lr 0.1, 500 iterations over 50,000"),
    ("strong_mlp.py", "784-256-256-10 ReLU", "cross-entropy, SGD momentum 0.9 lr 0.05 cosine, batch 128, 10 epochs"),
    ("custom_op.py", "784-128-10 with your own SiLU `Function`", "cross-entropy, SGD lr 0.1 momentum 0.9, batch 64, 1 epoch"),
    ("cnn.py", "conv 5x5 (16), conv 3x3 (32), 128, batch norm, dropout", "cross-entropy, AdamW one-cycle lr peak 0.01 (20% warm-up), batch 128, 3 epochs"),
]  # fmt: skip


def run(name: str, seed: int = 0) -> tuple[float, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TINYGRAD_MNIST_SEED": str(seed),
        "OPENBLAS_NUM_THREADS": "1",
    }
    env.pop("TINYGRAD_MNIST_QUICK", None)
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as scratch
    ):  # strong_mlp.py and cnn.py write their checkpoints to the cwd
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / name)],
            capture_output=True,
            text=True,
            env=env,
            cwd=scratch,
        )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr}")
    accuracy = re.findall(r"test accuracy: ([\d.]+)%", result.stdout)
    if not accuracy:
        raise SystemExit(f"{name} printed no 'test accuracy: N%' line:\n{result.stdout}")
    return float(accuracy[-1]), seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="run only these example files")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to run (default: 0 1 2)"
    )
    args = parser.parse_args(argv)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"seeds {' '.join(map(str, args.seeds))}, load average {os.getloadavg()[0]:.1f} at the start"
    )
    print()
    print(
        f"| example | network | recipe | test accuracy, seed {args.seeds[0]} | over seeds (min-max, mean) | wall time |"
    )
    print("|---|---|---|---:|---:|---:|")
    for name, network, recipe in EXAMPLES:
        if args.only and name not in args.only:
            continue
        runs = [run(name, seed) for seed in args.seeds]
        accuracies = [a for a, _ in runs]
        seconds = statistics.median(s for _, s in runs)
        print(
            f"| [{name}](examples/{name}) | {network} | {recipe} | {accuracies[0]:.2f}% | "
            f"{min(accuracies):.2f}-{max(accuracies):.2f}% ({statistics.mean(accuracies):.2f}%) | {seconds:.0f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
