"""Draw the computation-graph pictures used in docs/visualisation.md (written to docs/images/).

    python examples/draw_graph.py [--out docs/images]

Four pictures: a tiny expression with its gradients, a one-hidden-layer MLP's loss with gradients
(every op, framed by module), the same MLP collapsed to one box per layer, and a deep sigmoid network
next to the same network with ReLU in one picture, where the red boxes show the vanishing gradients.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from tinygrad_mnist import Tensor, nn  # noqa: E402
from tinygrad_mnist.models import build_model, mlp_from_sizes  # noqa: E402
from tinygrad_mnist.viz import backward_for_drawing, draw_graph, render  # noqa: E402


def small_expression(out: Path) -> None:
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="a")
    b = Tensor([4.0, 5.0, 6.0], requires_grad=True, name="b")
    c = Tensor([0.5, 0.5, 0.5], name="c")
    y = (a * b + c).sum()
    y.name = "y"
    backward_for_drawing(y)
    graph = draw_graph(y, title="y = (a*b + c).sum()  after backward")
    for suffix in (".svg", ".png"):
        render(graph, out / f"graph_small{suffix}")


def mnist_batch(batch: int, seed: int = 0) -> tuple[Tensor, np.ndarray]:
    """Random images in [0, 1) and labels: the graph only depends on shapes, not on real digits."""
    rng = np.random.default_rng(seed)
    images = Tensor(rng.random((batch, 784), dtype=np.float32), name="images")
    return images, rng.integers(0, 10, batch)


def mlp_loss(out: Path) -> None:
    model = build_model("mlp-128")
    images, labels = mnist_batch(4)
    loss = nn.CrossEntropyLoss()(model(images), labels)
    loss.name = "loss"
    backward_for_drawing(loss)
    start = time.perf_counter()
    graph = draw_graph(
        loss, module=model, collapse="cluster", rankdir="TB", title="784-128-10 MLP, batch of 4"
    )
    render(graph, out / "graph_mlp.png")
    print(f"graph_mlp.png: drawn and rendered in {time.perf_counter() - start:.2f} s")
    graph = draw_graph(loss, module=model, collapse=True, title="784-128-10 MLP, one box per layer")
    render(graph, out / "graph_mlp_collapsed.png")


class SideBySide(nn.Module):
    """Two networks in one model, so one picture names their layers `sigmoid.fc1`, `relu.fc1`, ..."""

    def __init__(self, **networks: nn.Module) -> None:
        super().__init__()
        for name, network in networks.items():
            setattr(self, name, network)


def vanishing(out: Path) -> None:
    """One picture, two columns fed by the same images: 7 sigmoid layers next to 7 ReLU layers."""
    images, labels = mnist_batch(8)
    nets = {
        activation: mlp_from_sizes([784] + [32] * 6 + [10], activation) for activation in ("sigmoid", "relu")
    }
    losses = []
    for activation, net in nets.items():
        loss = nn.CrossEntropyLoss()(net(images), labels)
        loss.name = f"loss ({activation})"
        backward_for_drawing(loss)
        losses.append(loss)
    graph = draw_graph(
        losses,
        module=SideBySide(**nets),
        collapse=True,
        show_values=False,
        rankdir="TB",
        grad_range=(1e-7, 0.1),  # fixed, so the two columns' colours compare
        title="The same 7-layer network with sigmoid and with ReLU: mean |gradient| per layer",
    )
    render(graph, out / "graph_vanishing.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    args = parser.parse_args(argv)
    small_expression(args.out)
    mlp_loss(args.out)
    vanishing(args.out)
    for path in sorted(args.out.glob("graph_*")):
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
