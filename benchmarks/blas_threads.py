"""BLAS threads: training speed with one BLAS thread against the library's default (one per core),
on idle cores and under load, to choose the default of `tinygrad_mnist.threads`.

    python benchmarks/blas_threads.py               # ~3 minutes on a 2-core machine
    python benchmarks/blas_threads.py --quick       # a few steps of everything, to check the script runs

Each workload is `tinygrad_mnist.train.fit` for one epoch over random float32 images (speed does not
depend on the pixel values), with the recipe's batch size:
- mlp-128, batch 64 and 128 (784-128-10 ReLU, cross-entropy, SGD);
- mlp, batch 128 (784-256-256-10 ReLU);
- sigmoid-24, batch 1 (per-sample SGD on the squared error);
- relu-10, full batch (one batch of 50,000 images per step).
`--suite PATH ...` times pytest on those test files instead, with $TINYGRAD_MNIST_THREADS=1 and =blas
(the suite's conftest applies it, and passes it on to the examples and CLI runs it starts).
"Under load" starts one busy-loop process per core (plain Python `while` loops that end by themselves
after `--load-seconds` and are stopped when the script ends), the situation of a machine shared with
other jobs. Settings are interleaved workload by workload in every round (so load changes hit both
alike); the table gives median seconds over the rounds and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package when it isn't installed

from tinygrad_mnist.models import build_model  # noqa: E402
from tinygrad_mnist.recipes import get_recipe, make_loss, make_optimizer  # noqa: E402
from tinygrad_mnist.train import fit  # noqa: E402

BUSY_LOOP = (
    "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass\n"
)


def workload(model_name: str, batch_size: int, n: int) -> Callable[[], None]:
    """One epoch of `fit` over n random images for the named model and its recipe's loss and optimiser."""
    recipe = get_recipe(model_name)
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    loss = make_loss(recipe.loss)

    def run() -> None:
        model = build_model(model_name, seed=0)
        optimizer = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.momentum)
        fit(model, optimizer, loss, x, y, epochs=1, batch_size=batch_size, log=None, progress=False)

    return run


def workloads(quick: bool) -> dict[str, Callable[[], None]]:
    n = 3_000 if quick else 60_000
    steps = 1 if quick else 10
    return {
        f"mlp-128, batch 64, {n:,} images": workload("mlp-128", 64, n),
        f"mlp-128, batch 128, {n:,} images": workload("mlp-128", 128, n),
        f"mlp (784-256-256-10), batch 128, {n // 2:,} images": workload("mlp", 128, n // 2),
        f"sigmoid-24, per sample, {n // 12:,} samples": workload("sigmoid-24", 1, n // 12),
        f"relu-10, full batch of 50,000, {steps} steps": _repeat(workload("relu-10", 50_000, 50_000), steps),
    }  # fmt: skip


def _repeat(run: Callable[[], None], times: int) -> Callable[[], None]:
    def repeated() -> None:
        for _ in range(times):
            run()

    return repeated


@contextmanager
def busy_cores(count: int, seconds: float) -> Iterator[None]:
    """`count` busy-loop processes for at most `seconds`; stopped on exit whatever happens."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(seconds)]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let them start spinning
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def timed(run: Callable[[], None], threads: int | None) -> float:
    with threadpool_limits(limits=threads, user_api="blas"):
        start = time.perf_counter()
        run()
        return time.perf_counter() - start


def measure(
    jobs: dict[str, Callable[[], None]], rounds: int, cores: int
) -> dict[str, list[tuple[float, float]]]:
    """name -> [(seconds with 1 thread, seconds with `cores` threads)] per round, interleaved."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for run in jobs.values():  # warm-up: first-touch page faults, BLAS buffers, caches
        timed(run, 1)
        timed(run, cores)
    for r in range(rounds):
        for name, run in jobs.items():
            if r % 2:  # alternate which setting goes first
                many, one = timed(run, cores), timed(run, 1)
            else:
                one, many = timed(run, 1), timed(run, cores)
            results[name].append((one, many))
    return results


def suite_jobs(paths: list[str]) -> dict[str, Callable[[int | None], None]]:
    def run(threads: int | None) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
        env["TINYGRAD_MNIST_THREADS"] = str(threads or "blas")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths], env=env, check=True,
                       stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])  # fmt: skip

    return {f"pytest {' '.join(paths)}": run}


def measure_suite(
    jobs: dict[str, Callable[[int | None], None]], rounds: int, cores: int
) -> dict[str, list[tuple[float, float]]]:
    """Like `measure`, for runs that set their threads themselves (a whole pytest process)."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for r in range(rounds):
        for name, run in jobs.items():
            times = {}
            for threads in (cores, 1) if r % 2 else (1, cores):
                start = time.perf_counter()
                run(threads)
                times[threads] = time.perf_counter() - start
            results[name].append((times[1], times[cores]))
    return results


def report(title: str, results: dict[str, list[tuple[float, float]]], cores: int) -> None:
    print(f"\n{title}\n")
    print(f"| workload | 1 thread | {cores} threads (BLAS default) | {cores} threads / 1 thread |")
    print("|---|---:|---:|---|")
    for name, pairs in results.items():
        ones, manys = [p[0] for p in pairs], [p[1] for p in pairs]
        ratios = [m / o for o, m in pairs]
        print(
            f"| {name} | {statistics.median(ones):.2f} s | {statistics.median(manys):.2f} s | "
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a few steps of each workload, 1 round")
    parser.add_argument("--load-seconds", type=float, default=600, help="upper bound on the busy loops' life")
    parser.add_argument("--no-idle", action="store_true", help="measure only under load")
    parser.add_argument("--no-load", action="store_true", help="measure only without busy loops")
    parser.add_argument("--suite", nargs="+", metavar="PATH", help="time pytest on these test files instead")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    cores = os.cpu_count() or 1
    blas = [
        (i["internal_api"], i.get("version"), i["num_threads"])
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    print(
        f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, numpy {np.__version__}, BLAS {blas}"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}; {rounds} rounds, settings interleaved")
    jobs = suite_jobs(args.suite) if args.suite else workloads(args.quick)
    measure_jobs = measure_suite if args.suite else measure
    if not args.no_idle:
        report(
            "Idle (no busy loops of ours; other jobs on the machine as they come)",
            measure_jobs(jobs, rounds, cores),
            cores,
        )
        print(f"load average: {os.getloadavg()[0]:.2f}")
    if args.no_load:
        return
    with busy_cores(cores, args.load_seconds):
        results = measure_jobs(jobs, rounds, cores)
        load = os.getloadavg()[0]
    report(f"Under load ({cores} busy-loop processes, one per core)", results, cores)
    print(f"load average at the end of the loaded runs: {load:.2f}")


if __name__ == "__main__":
    main()
