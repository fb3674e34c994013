"""Time to 98% test accuracy with `tinygrad-mnist train --model mlp`, from process start, as a user
sees it: the command itself, run in a fresh process, timed from the outside.

    python benchmarks/time_to_98.py                  # 3 rounds of the four settings below, ~1.5 minutes
    python benchmarks/time_to_98.py --rounds 5 --seeds 0 1 2
    python benchmarks/time_to_98.py --quick          # a small run of each, to check the script works

Each round runs every setting once, interleaved, so the machine's load falls on all alike:
`OPENBLAS_NUM_THREADS=1`, the default thread policy (one BLAS thread unless told otherwise),
`--threads 2` and `--compile fast` (the fast mode of the compiled step, one thread). A run's times come from its own lines (each epoch line ends with the seconds since the
process started); the wall time is measured here, around the process. Printed per run: the load
average when it started, the seconds to the first line, the epoch that first reached the target and
when, the final accuracy and the wall time; then the medians per setting.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # name -> (extra environment, extra flags)
    "OPENBLAS_NUM_THREADS=1": ({"OPENBLAS_NUM_THREADS": "1"}, ()),
    "default": ({}, ()),
    "--threads 2": ({}, ("--threads", "2")),
    "--compile fast": ({}, ("--compile", "fast")),
}
QUICK_ARGS = ("--train-size", "2000", "--test-size", "500", "--epochs", "2")
EPOCH_LINE = re.compile(r"^epoch +(\d+)/\d+ .* acc +([\d.]+)%  \|  [\d.]+ s  \(([\d.]+) s since start\)$")


@dataclass
class Run:
    setting: str
    seed: int
    load: float
    first_line: float
    reached: tuple[int, float] | None  # (epoch, seconds since start) of the first epoch at the target
    final: float
    wall: float


def command() -> list[str]:
    """The installed `tinygrad-mnist` script beside this Python, else `python -m tinygrad_mnist`."""
    script = Path(sys.executable).with_name("tinygrad-mnist")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tinygrad_mnist"]


def run_once(setting: str, seed: int, target: float, extra: tuple[str, ...]) -> Run:
    env_extra, flags = SETTINGS[setting]
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(env_extra)
    env.setdefault("PYTHONPATH", str(ROOT))
    load = os.getloadavg()[0]
    cli = [*command(), "train", "--model", "mlp", "--seed", str(seed), "--no-progress", *flags, *extra]
    start = time.perf_counter()
    process = subprocess.Popen(cli, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    first_line, reached, final = None, None, float("nan")
    assert process.stdout is not None
    for line in process.stdout:
        if first_line is None:
            first_line = time.perf_counter() - start
        match = EPOCH_LINE.match(line.rstrip("\n"))
        if match:
            epoch, accuracy, since = int(match[1]), float(match[2]), float(match[3])
            final = accuracy
            if reached is None and accuracy >= target:
                reached = (epoch, since)
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(cli)} failed with exit code {process.returncode}")
    wall = time.perf_counter() - start
    return Run(setting, seed, load, first_line or wall, reached, final, wall)


def report(runs: list[Run], target: float) -> None:
    print(f"| setting | seed | load | first line | {target:g}% after epoch, at | final accuracy | wall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        reached = f"{r.reached[0]}, {r.reached[1]:.2f} s" if r.reached else "not reached"
        print(
            f"| {r.setting} | {r.seed} | {r.load:.2f} | {r.first_line:.2f} s | {reached} | {r.final:.2f}% "
            f"| {r.wall:.2f} s |"
        )
    print("\nmedians per setting (runs that reached the target):")
    for setting in SETTINGS:
        mine = [r for r in runs if r.setting == setting]
        times = [r.reached[1] for r in mine if r.reached]
        if mine:
            median = f"{statistics.median(times):.2f} s" if times else "n/a"
            print(
                f"  {setting:<24} to {target:g}%: {median} ({len(times)} of {len(mine)} runs), first line "
                f"{statistics.median(r.first_line for r in mine):.2f} s, wall {statistics.median(r.wall for r in mine):.2f} s"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting (default 3)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1], help="seeds to run (default: 1, the CLI's)"
    )
    parser.add_argument("--target", type=float, default=98.0, help="test accuracy in percent (default 98)")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--quick", action="store_true", help=f"train briefly ({' '.join(QUICK_ARGS)})")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    extra = QUICK_ARGS if args.quick else ()
    print(f"tinygrad-mnist train --model mlp{' ' + ' '.join(extra) if extra else ''}, {os.cpu_count()} cores")
    runs = []
    for round_ in range(args.rounds):
        for seed in args.seeds:
            for setting in args.settings:
                runs.append(run_once(setting, seed, args.target, extra))
                print(f"  round {round_ + 1}, seed {seed}, {setting}: done", file=sys.stderr, flush=True)
    report(runs, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
