"""Entry point of `tinygrad-mnist`: builds the argument parser from one module per subcommand.

Each subcommand module defines `add_parser(subparsers)` and `run(args) -> int`. Modules are imported
lazily so `--help` stays fast and an optional extra (Pillow, matplotlib) is only needed by the command
that uses it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tinygrad_mnist.cli.errors import CLIError

# name -> module (under tinygrad_mnist.cli) that implements the subcommand
SUBCOMMANDS: dict[str, str] = {
    "train": "train",
    "eval": "evaluate",
    "graph": "graph",
    "predict": "predict",
    "plot": "plot",
    "serve": "serve",
}


def _available_modules():
    for name, module in SUBCOMMANDS.items():
        try:
            yield name, importlib.import_module(f"tinygrad_mnist.cli.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"tinygrad_mnist.cli.{module}":
                raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-mnist",
        description="Train, evaluate and look inside MNIST networks built on a small numpy autograd engine.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _, module in _available_modules():
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (CLIError, FileNotFoundError, ValueError, OSError) as err:
        if args.debug:
            raise
        message = " ".join(line.strip() for line in str(err).splitlines())  # one line, all the facts
        print(f"tinygrad-mnist {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
