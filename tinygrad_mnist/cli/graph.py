"""`tinygrad-mnist graph`: draw a model's loss graph on a random batch to an SVG, PNG or PDF file.

    tinygrad-mnist graph --model mlp --out graph.svg --grads --rankdir TB --collapse

The batch is random images with random labels: the graph's shape depends only on the model and the
batch size, so no MNIST files are needed. The loss is the one the model trains with (its recipe in
`tinygrad_mnist.recipes`), unless --loss says otherwise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tinygrad_mnist import Tensor
from tinygrad_mnist.cli.arguments import SEED_MAX, check_outputs, int_in
from tinygrad_mnist.cli.errors import CLIError
from tinygrad_mnist.models import MODELS, build_model
from tinygrad_mnist.recipes import LOSSES, get_recipe, make_loss
from tinygrad_mnist.viz import GraphvizError, backward_for_drawing, draw_graph, render
from tinygrad_mnist.viz.graph import RANKDIRS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "graph",
        help="draw a model's loss computation graph to an image",
        description="Draw the computation graph of a model's training loss on a random batch.",
    )
    parser.add_argument("--model", default="mlp", choices=list(MODELS), help="architecture (default: mlp)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output file: .svg, .png, .pdf (or .dot for the source)"
    )
    parser.add_argument(
        "--batch", type=int_in(1, 10_000), default=4, help="batch size of the random input (default: 4)"
    )
    parser.add_argument(
        "--seed", type=int_in(0, SEED_MAX), default=0, help="seed for the weights and the random batch"
    )
    parser.add_argument(
        "--loss",
        choices=list(LOSSES),
        default=None,
        help="loss to draw (default: the one the model's recipe trains with)",
    )
    parser.add_argument(
        "--grads", action="store_true", help="run backward first and colour the graph by gradient size"
    )
    parser.add_argument(
        "--rankdir",
        choices=RANKDIRS,
        help="LR: left to right; TB: top down (default: LR for short graphs, TB for deep ones)",
    )
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--collapse", action="store_true", help="draw each layer as one box")
    layout.add_argument("--cluster", action="store_true", help="frame each layer's ops in a box")
    parser.add_argument("--no-values", action="store_true", help="leave out the value statistics of tensors")
    parser.add_argument(
        "--max-nodes",
        type=int_in(2, 20_000),
        default=400,
        help="above this many nodes, collapse layers/trim (default: 400)",
    )
    parser.add_argument("--dpi", type=int_in(10, 600), default=None, help="PNG resolution (default: 110)")
    parser.add_argument("--title", default=None, help="caption above the graph")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    check_outputs([("--out", args.out)])
    start = time.perf_counter()
    model = build_model(args.model, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    images = Tensor(rng.random((args.batch, 784), dtype=np.float32), name="images")
    labels = rng.integers(0, 10, args.batch)
    out = model(images)
    loss = make_loss(args.loss or get_recipe(args.model).loss)(out, labels)
    loss.name = "loss"
    if args.grads:
        backward_for_drawing(loss)
    collapse = True if args.collapse else "cluster" if args.cluster else None
    graph = draw_graph(
        loss,
        module=model,
        show_values=not args.no_values,
        rankdir=args.rankdir,
        collapse=collapse,
        max_nodes=args.max_nodes,
        title=args.title,
    )
    try:
        path = render(graph, args.out, dpi=args.dpi)
    except GraphvizError as err:
        raise CLIError(str(err)) from err
    print(f"wrote {path} ({args.model}, batch {args.batch}) in {time.perf_counter() - start:.2f} s")
    return 0
