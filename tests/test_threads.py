"""The BLAS thread policy: one thread unless asked otherwise, --threads / $TINYGRAD_MNIST_THREADS to
override, the BLAS library's own variables respected, and the CLI applying it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from clitools import ROOT, assert_one_line_error, run_cli

from tinygrad_mnist.threads import DEFAULT_THREADS, THREADS_ENV_VAR, chosen_threads, parse_threads

CLEAN = {
    k: v
    for k, v in os.environ.items()
    if k not in (THREADS_ENV_VAR, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
}


@pytest.mark.parametrize(
    ("text", "count"), [("1", 1), ("2", 2), (" 3 ", 3), (4, 4), ("blas", None), ("BLAS", None)]
)
def test_parse_threads(text, count):
    assert parse_threads(text) == count


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", ""])
def test_parse_threads_refuses_what_is_not_a_count(text):
    with pytest.raises(ValueError, match="positive integer or 'blas'") as info:
        parse_threads(text)
    assert repr(text) in str(info.value)


def test_precedence_flag_then_our_variable_then_blas_variables_then_one():
    assert chosen_threads(None, {}) == DEFAULT_THREADS == 1
    assert chosen_threads(None, {"OPENBLAS_NUM_THREADS": "2"}) is None  # the user set BLAS up: left alone
    assert chosen_threads(None, {"OMP_NUM_THREADS": "4"}) is None
    assert chosen_threads(None, {THREADS_ENV_VAR: "2", "OPENBLAS_NUM_THREADS": "1"}) == 2
    assert chosen_threads(None, {THREADS_ENV_VAR: "blas"}) is None
    assert chosen_threads("3", {THREADS_ENV_VAR: "2"}) == 3
    with pytest.raises(ValueError, match=f"\\${THREADS_ENV_VAR}: .*'many'"):
        chosen_threads(None, {THREADS_ENV_VAR: "many"})


def blas_threads_after(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", f"from tinygrad_mnist.threads import *\n{code}\nprint(sorted({{n for _, n in blas_threads()}}))"],
        capture_output=True, text=True, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_limit_threads_sets_the_loaded_blas_library():
    assert blas_threads_after("print(limit_threads())", CLEAN).splitlines() == ["1", "[1]"]
    if (os.cpu_count() or 1) >= 2:
        assert blas_threads_after("limit_threads(2)", CLEAN) == "[2]"
        # the library's own default is one thread per core; "blas" leaves it
        assert blas_threads_after("limit_threads('blas')", CLEAN) != "[1]"


def test_the_cli_applies_the_policy_and_reports_it(mnist_dir):
    args = (
        "train",
        "--model",
        "relu-10",
        "--epochs",
        "1",
        "--train-size",
        "200",
        "--test-size",
        "100",
        "--no-progress",
    )
    default = run_cli(*args, data=mnist_dir, env=CLEAN)
    assert default.returncode == 0, default.stderr
    assert "1 BLAS thread" in default.stdout.splitlines()[0]
    if (os.cpu_count() or 1) >= 2:
        two = run_cli(*args, "--threads", "2", data=mnist_dir, env=CLEAN)
        assert "2 BLAS threads" in two.stdout.splitlines()[0], two.stdout + two.stderr
        by_env = run_cli(*args, data=mnist_dir, env={**CLEAN, THREADS_ENV_VAR: "2"})
        assert "2 BLAS threads" in by_env.stdout.splitlines()[0]


def test_bad_thread_counts_are_one_line_errors():
    assert_one_line_error(
        run_cli("graph", "--model", "mlp", "--out", "x.svg", "--threads", "0"), "--threads", "'0'"
    )
    result = run_cli("graph", "--model", "mlp", "--out", "x.svg", env={**CLEAN, THREADS_ENV_VAR: "lots"})
    assert_one_line_error(result, THREADS_ENV_VAR, "'lots'")


def test_the_test_suite_runs_with_one_blas_thread():
    """tests/conftest.py applies the policy here and passes it on to subprocesses (examples, the CLI)."""
    from tinygrad_mnist.threads import blas_threads

    if os.environ.get(THREADS_ENV_VAR) in (None, "1"):
        assert {n for _, n in blas_threads()} == {1}
        assert os.environ.get("OPENBLAS_NUM_THREADS") == os.environ.get(THREADS_ENV_VAR, "1")
