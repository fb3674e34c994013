"""Keep every gradient of a graph so it can be drawn: the engine normally frees both after `backward()`.

`loss.backward()` stores `.grad` only on leaves and then releases the graph (each intermediate's
`.parents` becomes empty), which keeps training memory flat but leaves nothing to draw. For a picture
with gradients, mark every intermediate with `retain_grad()` and keep the graph with `retain_graph=True`.
"""

from __future__ import annotations

from typing import Any

from tinygrad_mnist.autograd import Tensor, topological_order


def retain_all_grads(root: Tensor) -> list[Tensor]:
    """Call `retain_grad()` on every intermediate tensor behind `root` (root included); returns them."""
    kept = [t for t in topological_order(root) if t.op is not None and t.requires_grad]
    for t in kept:
        t.retain_grad()
    return kept


def backward_for_drawing(loss: Tensor, gradient: Any = None) -> Tensor:
    """`loss.backward()` that keeps the graph and every intermediate `.grad`, ready for `draw_graph(loss)`.

    Like any backward, it adds to existing `.grad` values: zero them first if they hold old gradients.
    """
    retain_all_grads(loss)
    loss.backward(gradient, retain_graph=True)
    return loss
