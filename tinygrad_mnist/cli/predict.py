"""`tinygrad-mnist predict`: read pictures of digits, bring them to MNIST's form, print what the model says.

    tinygrad-mnist predict --checkpoint model.npz digit.png more.jpg [--show]
    tinygrad-mnist predict digit.png            # the weights shipped in the package

Each file is preprocessed as `tinygrad_mnist.predict.preprocess_image` describes (grayscale, inverted
if the background is light, cropped, scaled into 20x20, centred by centre of mass in 28x28). A file
that cannot be read or holds no digit gets a one-line error naming it; the others are still predicted,
and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from tinygrad_mnist.cli.arguments import check_input
from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.cli.weights import add_weights_arguments, load_weights


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict the digits in your own images (PNG, JPEG, ...)",
        description="Predict the digit in each image with a checkpoint written by `tinygrad-mnist train "
        "--save` (or the weights shipped in the package), printing the top three probabilities. Images are converted to MNIST's form first: "
        "white digit on black, cropped, scaled into 20x20, centred in 28x28. Needs Pillow.",
    )
    add_weights_arguments(parser)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files of single digits")
    parser.add_argument(
        "--show", action="store_true", help="also print each 28x28 input as text: what the network sees"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tinygrad_mnist.predict import (
        ImageError,
        ascii_art,
        format_percent,
        has_sigmoid_output,
        predict_digits,
        preprocess_image,
    )

    if args.checkpoint is not None:
        check_input("--checkpoint", args.checkpoint, "checkpoint")
    inputs, names, failed = [], [], 0
    for name in args.images:
        try:
            inputs.append(preprocess_image(name))
            names.append(name)
        except ImportError as err:
            raise CLIError(str(err)) from None
        except (ImageError, OSError) as err:
            print(f"tinygrad-mnist predict: error: {err}", file=sys.stderr)
            failed += 1
    if inputs:
        weights = load_weights(args)
        model = weights.model
        if weights.shipped is not None:
            print(f"using {weights.label}")
        what = "scores" if has_sigmoid_output(model) else "probabilities"
        width = max(len(n) for n in names)
        for name, image, (digit, top3) in zip(names, inputs, predict_digits(model, inputs, preprocess=False)):
            ranked = "  ".join(f"{d}: {format_percent(p):>6}" for d, p in top3)
            print(f"{name:<{width}}  {digit}   top-3 {what}  {ranked}")
            if args.show:
                print(ascii_art(np.asarray(image)), end="\n\n")
    return 1 if failed else 0
