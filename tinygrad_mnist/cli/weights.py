"""--checkpoint / --pretrained, shared by every command that runs a trained model (predict, eval, plot, serve).

Without --checkpoint a command uses the weights shipped in the package (`tinygrad_mnist.pretrained`),
so it works before anything is trained, and it says which weights it used.
"""

from __future__ import annotations

import argparse

from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.pretrained import LoadedWeights, resolve


def add_weights_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="the checkpoint written by train --save (.safetensors or .npz; default: the shipped weights)",
    )
    parser.add_argument(
        "--pretrained",
        metavar="NAME",
        help="which shipped weights to use when no --checkpoint is given (default: mlp; see README)",
    )


def load_weights(args: argparse.Namespace) -> LoadedWeights:
    """The model the flags ask for; a missing checkpoint or a clash of flags is a one-line CLIError."""
    if args.checkpoint is not None and args.pretrained is not None:
        raise CLIError("give --checkpoint or --pretrained, not both")
    return resolve(args.checkpoint, args.pretrained)
