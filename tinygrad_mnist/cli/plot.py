"""`tinygrad-mnist plot`: write pictures of a trained model and its training run as PNG files.

    tinygrad-mnist plot --checkpoint model.npz --history history.json --out figures/
    tinygrad-mnist plot --out figures/         # the shipped weights: confusion, mistakes, weights

curves.png comes from the history (`train --history`); confusion.png and mistakes.png from the
checkpoint run on the MNIST test set; weights.png from the checkpoint's first layer. Either input may
be left out, and --only picks some of the figures. With neither, or with --pretrained, the weights
shipped in the package stand in for the checkpoint. Needs matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tinygrad_mnist.cli.arguments import check_input, check_output_folder, int_in
from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.cli.train import add_data_arguments
from tinygrad_mnist.cli.weights import add_weights_arguments, load_weights

FIGURES = ("curves", "confusion", "mistakes", "weights")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw training curves, confusion matrix, worst mistakes and first-layer weights",
        description="Write curves.png (from --history), confusion.png and mistakes.png (the checkpoint "
        "on the MNIST test set) and weights.png (the checkpoint's first layer: one 28x28 tile per "
        "hidden neuron, or one tile per filter when it is a convolution) into --out. Needs matplotlib.",
    )
    add_weights_arguments(parser)
    parser.add_argument("--history", metavar="PATH", help="the .json or .csv file written by train --history")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the PNG files")
    parser.add_argument(
        "--only", nargs="+", choices=FIGURES, metavar="NAME",
        help=f"draw only these figures ({', '.join(FIGURES)})",
    )  # fmt: skip
    parser.add_argument(
        "--test-size", type=int_in(1, 10_000), metavar="N", help="use the first N test images only"
    )
    parser.add_argument(
        "--mistakes",
        type=int_in(1, 200),
        default=24,
        metavar="N",
        help="how many mistakes to show (default: 24)",
    )
    parser.add_argument(
        "--neurons",
        type=int_in(1, 4096),
        metavar="N",
        help="weights.png: draw only the first N hidden neurons (default: all)",
    )
    parser.add_argument(
        "--dpi", type=int_in(10, 600), default=100, help="pixels per inch of the PNGs (default: 100)"
    )
    add_data_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    shipped = args.checkpoint is None and (args.pretrained is not None or args.history is None)
    for flag, path in (("checkpoint", args.checkpoint), ("history", args.history)):
        if path is not None:
            check_input(f"--{flag}", path, f"{flag} file")
    check_output_folder("--out", args.out)
    which = list(args.only or FIGURES)
    if args.history is None:
        which = [w for w in which if w != "curves"]
    if args.checkpoint is None and not shipped:
        which = [w for w in which if w == "curves"]
    if not which:
        raise CLIError(
            f"--only {' '.join(args.only)} needs {'--history' if args.history is None else '--checkpoint'}"
        )
    try:
        from tinygrad_mnist import plots
    except ImportError as err:
        raise CLIError(str(err)) from None
    from tinygrad_mnist.train import History

    history = History.load(args.history) if args.history else None
    model = x_test = y_test = None
    if args.checkpoint is not None or shipped:
        weights = load_weights(args)
        model = weights.model
        if shipped:
            print(f"using {weights.label}")
    if {"confusion", "mistakes"} & set(which):
        from tinygrad_mnist.recipes import mnist_test_arrays

        x_test, y_test = mnist_test_arrays(args.data_dir, args.test_size, download=not args.no_download)
    try:
        written = plots.write_figures(
            model,
            args.out,
            x_test,
            y_test,
            history,
            which=which,
            mistakes=args.mistakes,
            neurons=args.neurons,
            dpi=args.dpi,
        )
    except ImportError as err:
        raise CLIError(str(err)) from None
    for path in written.values():
        print(f"wrote {path}")
    return 0
