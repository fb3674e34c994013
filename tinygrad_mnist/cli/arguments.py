"""Argument types with ranges, and output-path checks, shared by the subcommands.

Every numeric flag has a range that argparse checks, so `--seed -1` or `--dpi 100000` is one line
naming the flag ("--dpi must be at most 600, got 100000") instead of a traceback, a 2.85 TiB
allocation or a minute of rendering. Output paths are checked before any work: two flags naming one
file would overwrite each other, and an unwritable path should fail now, not after all epochs.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from tinygrad_mnist.atomic import check_writable_target
from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.inputs import check_regular_file

SEED_MAX = 2**32 - 1  # numpy's seeds are non-negative; 32 bits is what people type


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an int in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse


def float_in(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite float in the interval from low to high (either end open if asked)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"must be in {interval}, got {text}")
        return value

    return parse


def check_input(flag: str, path: str | os.PathLike[str], what: str) -> None:
    """An input file must exist and be a regular file (a FIFO would block): CLIError naming the flag."""
    try:
        check_regular_file(path, what)
    except OSError as error:
        raise CLIError(f"{flag}: {error}") from None


def check_outputs(outputs: Sequence[tuple[str, str | os.PathLike[str] | None]]) -> None:
    """Refuse two flags naming the same file, and any output path that cannot be written (CLIError)."""
    seen: dict[str, str] = {}
    for flag, path in outputs:
        if path is None:
            continue
        key = os.path.realpath(os.path.abspath(os.fspath(path)))
        if key in seen:
            raise CLIError(f"{seen[key]} and {flag} both name {path}: one would overwrite the other")
        seen[key] = flag
    for flag, path in outputs:
        if path is not None:
            try:
                check_writable_target(path)
            except (OSError, ValueError) as error:
                raise CLIError(f"{flag}: {error}") from None


def check_output_folder(flag: str, folder: Path) -> None:
    """A folder that files will be written into: created now, and probed for writing (CLIError)."""
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"{flag}: {folder} is a file, not a folder")
    check_outputs([(flag, folder / ".tinygrad_mnist_probe")])
