"""Running `python -m tinygrad_mnist` in a subprocess the way a user does, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, data: Path | None = None, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run the command line with the repository importable; `data` sets TINYGRAD_MNIST_DATA."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if data is not None:
        full_env["TINYGRAD_MNIST_DATA"] = str(data)
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_mnist", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 1) -> None:
    """Exit code `code` (1; 2 for bad arguments), one line on stderr containing each fragment, no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_error(result: subprocess.CompletedProcess, *fragments: str) -> list[str]:
    """Exit code 1, no traceback, `tinygrad-mnist CMD: error: ...` first, each fragment somewhere in the
    message (which may span several lines, one fact per line); returns the lines."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("tinygrad-mnist ") and ": error: " in lines[0], result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return lines
