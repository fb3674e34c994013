"""`tinygrad-mnist eval`: load a checkpoint written by `train --save` (or the shipped weights) and report its test accuracy."""

from __future__ import annotations

import argparse
from typing import Any

from tinygrad_mnist.cli.arguments import int_in
from tinygrad_mnist.cli.train import add_data_arguments
from tinygrad_mnist.cli.weights import add_weights_arguments, load_weights
from tinygrad_mnist.recipes import make_loss, mnist_test_arrays
from tinygrad_mnist.train import evaluate


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a saved checkpoint on the MNIST test set",
        description="Load a checkpoint written by `tinygrad-mnist train --save` (default: the weights shipped in "
        "the package) and print its test loss and accuracy.",
    )
    add_weights_arguments(parser)
    parser.add_argument(
        "--test-batch-size", type=int_in(1, 60_000), default=1000, metavar="N", help="evaluation batch size"
    )
    parser.add_argument(
        "--test-size", type=int_in(1, 10_000), metavar="N", help="evaluate on the first N test images only"
    )
    add_data_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    weights = load_weights(args)
    model, metadata = weights.model, weights.metadata
    x_test, y_test = mnist_test_arrays(args.data_dir, args.test_size, download=not args.no_download)
    loss, accuracy = evaluate(
        model, x_test, y_test, make_loss(metadata.get("loss", "cross_entropy")), args.test_batch_size
    )
    print(
        f"{args.checkpoint or weights.label}: model {metadata.get('model') or 'rebuilt from its layer list'}, test loss {loss:.4f}, test accuracy {accuracy:.2%} on {len(y_test)} images"
    )
    return 0
