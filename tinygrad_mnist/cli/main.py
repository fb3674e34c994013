"""Entry point of `tinygrad-mnist`: builds the argument parser from one module per subcommand.

Each subcommand module defines `add_parser(subparsers)` and `run(args) -> int`. Modules are imported
lazily so `--help` stays fast and an optional extra (Pillow, matplotlib) is only needed by the command
that uses it.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.threads import BLAS_DEFAULT, DEFAULT_THREADS, THREADS_ENV_VAR, limit_threads

# name -> module (under tinygrad_mnist.cli) that implements the subcommand
SUBCOMMANDS: dict[str, str] = {
    "train": "train",
    "eval": "evaluate",
    "graph": "graph",
    "predict": "predict",
    "plot": "plot",
    "serve": "serve",
    "explain": "explain",
}


def _available_modules(names: Sequence[str] = tuple(SUBCOMMANDS)):
    for name in names:
        module = SUBCOMMANDS[name]
        try:
            yield name, importlib.import_module(f"tinygrad_mnist.cli.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"tinygrad_mnist.cli.{module}":
                raise


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line naming the flag ("--seed must be at least 0, got -1"), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = re.sub(r"^argument (-[\w-]+)(?:/[\w-]+)?: (must be)", r"\1 \2", message)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _named_command(argv: Sequence[str] | None) -> list[str]:
    """The subcommand `argv` names ([] when none, or an unknown one): only its module need be imported
    to parse it (`train` then starts without loading the graph pictures or the web server)."""
    words = [word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")]
    return words[:1] if words and words[0] in SUBCOMMANDS else []


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the `argv` to parse, only the subcommand it names (if any)."""
    parser = _Parser(
        prog="tinygrad-mnist",
        description="Train, evaluate and look inside MNIST networks built on a small numpy autograd engine.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _, module in _available_modules(_named_command(argv) or tuple(SUBCOMMANDS)):
        module.add_parser(subparsers)
    for subparser in subparsers.choices.values():  # every subcommand does numpy math
        subparser.add_argument(
            "--threads",
            metavar="N",
            help=f"BLAS threads for matrix products: a number, or {BLAS_DEFAULT!r} for one per core "
            f"(default: ${THREADS_ENV_VAR}, else {DEFAULT_THREADS}, which is fastest on a busy machine)",
        )
    return parser


def error_lines(err: BaseException) -> list[str]:
    """The lines to print for a user-facing error: its command-line wording when it has one."""
    cli_message = getattr(err, "cli_message", None)
    text = cli_message() if callable(cli_message) else str(err)
    return [line.rstrip() for line in text.splitlines() if line.strip()] or [type(err).__name__]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit code (2: bad arguments, 1: an error, 130: Ctrl-C)."""
    args = None
    try:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help, or a bad argument already printed as one line
            return stop.code if isinstance(stop.code, int) else 2
        if args.command is None:
            parser.print_help()
            return 2
        try:
            limit_threads(args.threads)
        except ValueError as err:
            raise CLIError(f"--threads: {err}") from None
        return int(args.run(args) or 0)
    except (CLIError, FileNotFoundError, ValueError, OSError) as err:
        if args is None or args.debug:
            raise
        first, *rest = error_lines(err)  # a message of several lines (MNIST not found) stays several lines
        print(f"tinygrad-mnist {args.command}: error: {first}", *rest, sep="\n", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # also while the subcommands are still being imported
        if args is not None and args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
