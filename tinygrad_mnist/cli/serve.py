"""`tinygrad-mnist serve`: a local page to draw a digit and see what the network makes of it.

    tinygrad-mnist serve                       # http://127.0.0.1:8000/, the shipped weights
    tinygrad-mnist serve --checkpoint mine.npz --port 8080

The page and its JSON API are described in docs/page.md. Needs Pillow (to read the drawings).
"""

from __future__ import annotations

import argparse
from typing import Any

from tinygrad_mnist.cli.errors import CLIError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="a local web page: draw a digit, see the prediction, saliency and activations",
        description="Serve a page to draw digits on, with a JSON API (POST /api/predict). It offers the "
        "weights shipped in the package and any --checkpoint given. Needs Pillow.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="PATH",
        help="also offer this checkpoint written by train --save (repeatable); the first is preselected",
    )  # fmt: skip
    parser.add_argument("--pretrained", metavar="NAME", help="the model the page starts with (default: mlp)")
    parser.add_argument("--quiet", action="store_true", help="don't log each request")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import PIL  # noqa: F401  the page sends PNG drawings
    except ImportError:
        raise CLIError("serve needs Pillow to read drawings: pip install 'tinygrad_mnist[images]'") from None
    from tinygrad_mnist.serve import Models, make_server

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be between 0 and 65535, got {args.port}")
    models = Models.load(args.checkpoint, default=args.pretrained)
    try:
        server = make_server(models, args.host, args.port, quiet=args.quiet)
    except OSError as err:
        raise CLIError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err})") from None
    print(f"serving {server.url}  (models: {', '.join(models.weights)}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
