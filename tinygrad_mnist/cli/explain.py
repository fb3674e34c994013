"""`tinygrad-mnist explain`: write a page that steps through backprop node by node, offline.

    tinygrad-mnist explain --model sigmoid-16-16 --out backprop.html
    tinygrad-mnist explain --expression "(a * b + a.exp()).sum()" --out expr.html

With --model: the model's training loss on one MNIST test image (--index) and its label (or --label),
with the shipped weights of that model when there are any (else freshly seeded ones, --seed); for the
classic networks the steps carry the hand-derived formulas (`tinygrad_mnist.backprop_steps`). With
--expression: any Tensor expression of a, b, c (3 numbers each) and W (3x3), all requiring grad.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tinygrad_mnist import Tensor
from tinygrad_mnist.cli.arguments import SEED_MAX, check_outputs, int_in
from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.cli.train import add_data_arguments
from tinygrad_mnist.models import MODELS, build_model
from tinygrad_mnist.pretrained import PretrainedError, load_checkpoint, load_shipped, shipped
from tinygrad_mnist.viz import GraphvizError, write_backprop_page

WEIGHTS = ("auto", "shipped", "seeded")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "explain",
        help="write an offline page that steps through backprop node by node",
        description="Trace backward() on one MNIST digit (or a small expression) and write a self-contained "
        "HTML page that replays it node by node, with the hand-derived formulas for the classic networks.",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--model", choices=list(MODELS), help="architecture (default: sigmoid-16-16)")
    what.add_argument("--expression", metavar="EXPR", help="a Tensor expression of a, b, c (3,) and W (3, 3)")
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument(
        "--index", type=int_in(0, 9_999), default=0, help="which MNIST test image (default: 0)"
    )
    parser.add_argument(
        "--label", type=int_in(0, 9), default=None, help="true label (default: the image's own)"
    )
    parser.add_argument(
        "--weights",
        choices=WEIGHTS,
        default="auto",
        help="shipped: the model's shipped weights; seeded: fresh ones from --seed; auto (default): "
        "shipped when the model has them, else seeded",
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH", help="weights from a checkpoint written by train --save"
    )
    parser.add_argument(
        "--seed", type=int_in(0, SEED_MAX), default=0, help="seed for seeded weights / expression"
    )
    add_data_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def _model(args: argparse.Namespace, name: str):
    """(model, description of its weights) as --weights / --checkpoint ask."""
    if args.checkpoint is not None:
        loaded = load_checkpoint(args.checkpoint)
        if loaded.metadata.get("model") not in (None, name):
            raise CLIError(
                f"--checkpoint {args.checkpoint} holds a {loaded.metadata.get('model')} model, not {name}"
            )
        return loaded.model, loaded.label
    seeded = f"freshly seeded (seed {args.seed}), untrained"
    if args.weights == "shipped" or (args.weights == "auto" and name in shipped()):
        try:
            loaded = load_shipped(name)
        except PretrainedError as err:
            if args.weights == "shipped":
                raise CLIError(str(err)) from None
            seeded += f" (the shipped ones are unavailable: {err})"
        else:
            return loaded.model, loaded.label
    return build_model(name, seed=args.seed), seeded


def _expression_loss(text: str, seed: int) -> Tensor:
    rng = np.random.default_rng(seed)
    names = {
        n: Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True, name=n)
        for n, s in (("a", (3,)), ("b", (3,)), ("c", (3,)), ("W", (3, 3)))
    }
    try:
        value = eval(text, {"__builtins__": {}}, {**names, "Tensor": Tensor})  # noqa: S307 - the user's own expression
    except Exception as err:  # any mistake in the expression is the user's to fix: say which
        raise CLIError(f"--expression {text!r} failed: {type(err).__name__}: {err}") from None
    if not isinstance(value, Tensor) or not value.requires_grad:
        raise CLIError(f"--expression {text!r} must give a Tensor computed from a, b, c or W")
    if value.size != 1:
        raise CLIError(f"--expression {text!r} gives shape {value.shape}; reduce it to one number (.sum())")
    return value


def run(args: argparse.Namespace) -> int:
    check_outputs([("--out", args.out)])
    start = time.perf_counter()
    if args.expression is not None:
        image_flags = [
            flag
            for flag, given in (
                ("--index", args.index != 0),
                ("--label", args.label is not None),
                ("--weights", args.weights != "auto"),
                ("--checkpoint", args.checkpoint is not None),
            )
            if given
        ]
        if image_flags:
            raise CLIError(f"{', '.join(image_flags)} only apply with --model, not with --expression")
    if args.checkpoint is not None and args.weights != "auto":
        raise CLIError("give --checkpoint or --weights, not both")
    try:
        if args.expression is not None:
            loss = _expression_loss(args.expression, args.seed)
            path = write_backprop_page(
                loss, args.out, title="Step through backprop", subtitle=args.expression
            )
            what = f"expression {args.expression}"
        else:
            from tinygrad_mnist.backprop_steps import explain_digit
            from tinygrad_mnist.recipes import mnist_test_arrays

            name = args.model or "sigmoid-16-16"
            model, weights = _model(args, name)
            images, labels = mnist_test_arrays(args.data_dir, args.index + 1, download=not args.no_download)
            label = int(labels[args.index]) if args.label is None else args.label
            path = explain_digit(name, model, images[args.index], label, args.out, weights)
            what = f"{name}, test image {args.index}, label {label}, weights {weights}"
    except GraphvizError as err:
        raise CLIError(str(err)) from err
    print(f"wrote {path} ({what}) in {time.perf_counter() - start:.2f} s")
    return 0
