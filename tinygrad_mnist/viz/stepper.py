"""A self-contained HTML page that steps through a recorded backward pass, one node at a time.

    from tinygrad_mnist.viz import write_backprop_page
    write_backprop_page(loss, "backprop.html", module=model)   # runs trace_backward(loss) first

The page holds the graph (graphviz SVG, inline), the trace (JSON, inline) and plain JS/CSS: no CDN, no
server, it opens offline. Next/previous/play (or the arrow keys and space) move through the steps in the
engine's order; the current node is outlined, every edge that already carries a gradient is coloured by
its mean |gradient| (the log scale of `viz.style`), small tensors are printed in full and large ones as
shape, min/max/mean and a heat map. `annotations` put a hand-derived quantity next to a step (see
`tinygrad_mnist.backprop_steps` for the classic networks).
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_mnist.atomic import atomic_write_text
from tinygrad_mnist.autograd import Tensor, topological_order
from tinygrad_mnist.viz import style
from tinygrad_mnist.viz.graph import draw_graph
from tinygrad_mnist.viz.render import render
from tinygrad_mnist.viz.trace import BackwardTrace, trace_backward

SMALL = 64  # tensors with at most this many elements are shown in full
HEAT_ROWS, HEAT_COLS = 32, 64  # a larger tensor's heat map is block means on at most this grid
MAX_TILES = 64  # a matrix of at most this many rows of n² numbers (n >= 14; 784 = 28²) is drawn as n×n tiles
SIGNIFICANT = 7  # digits kept in the JSON (float32 has about 7)


@dataclass
class Annotation:
    """A hand-derived quantity that one step's gradient equals (the page shows both and their difference).

    `value` is compared with the step's own gradient (`on=None`) or with what it handed input `on`."""

    quantity: str  # "δ⁽²⁾", "∂C/∂W⁽¹⁾", "dZ2"
    formula: str  # "δ⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y) ⊙ σ'(z⁽ᴸ⁾)"
    value: np.ndarray
    link: str = ""  # where it is derived (a docs/backprop.md section)
    note: str = ""  # e.g. a factor between the write-up's cost and the one traced


def _round(x: float) -> float:
    return float(f"{x:.{SIGNIFICANT}g}") if math.isfinite(x) else str(x)  # type: ignore[return-value]


def tensor_view(a: Any) -> dict[str, Any]:
    """What the page shows of one array: every value when small, else statistics and a heat map."""
    a = np.asarray(a, dtype=np.float64)
    view: dict[str, Any] = {"shape": list(a.shape), "size": int(a.size)}
    if a.size == 0:
        return view
    view["stats"] = {"min": _round(a.min()), "max": _round(a.max()), "mean": _round(a.mean())}
    if a.size <= SMALL:
        view["values"] = [_round(v) for v in a.reshape(-1)]
        return view
    grid = a.reshape(1, -1) if a.ndim <= 1 else a.reshape(-1, a.shape[-1])
    rows = [r.mean(axis=0) for r in np.array_split(grid, min(HEAT_ROWS, grid.shape[0]), axis=0)]
    cells = [[float(c.mean()) for c in np.array_split(r, min(HEAT_COLS, r.size))] for r in rows]
    view["heat"] = [[_round(c) for c in row] for row in cells]
    side = math.isqrt(a.shape[-1]) if a.ndim == 2 else 0
    if side >= 14 and side * side == a.shape[-1] and a.shape[0] <= MAX_TILES:
        # one square tile per row: a first layer's weight gradient δ_i xᵀ shows the image in every row
        view["tiles"] = {"side": side, "rows": [[float(f"{v:.3g}") for v in row] for row in a]}
    return view


def _magnitude(a: Any) -> float:
    return style.grad_magnitude(np.asarray(a))


def _graph_svg(trace: BackwardTrace, module: Any) -> str:
    """The graph as inline SVG (graphviz `dot`), drawn without gradients: the page colours them step by step."""
    graph = draw_graph(trace.root, module=module, show_grads=False, collapse=False, legend=False)
    with tempfile.TemporaryDirectory() as folder:
        svg = render(graph, Path(folder) / "graph.svg").read_text(encoding="utf-8")
    return svg[svg.index("<svg") :]


def trace_json(
    trace: BackwardTrace, annotations: dict[int, list[Annotation]] | None = None
) -> dict[str, Any]:
    """The trace as the page's data: one entry per step, with graph node ids matching the SVG's."""
    index = {id(t): i for i, t in enumerate(topological_order(trace.root))}  # draw_graph's "t{i}" ids
    mags = [_magnitude(s.grad) for s in trace.steps]
    mags += [_magnitude(h.grad) for s in trace.steps for h in s.handed if h.grad is not None]
    scale = style.GradScale(*style.auto_grad_range(mags))
    labels = {id(s.tensor): s.label for s in trace.steps}
    steps = []
    for s in trace.steps:
        i = index[id(s.tensor)]
        entry: dict[str, Any] = {
            "index": s.index,
            "node": f"t{i}",
            "op_node": f"op{i}" if s.op is not None else None,
            "label": s.label,
            "op": s.op,
            "formula": s.formula,
            "grad": tensor_view(s.grad),
            "colour": scale.colour(_magnitude(s.grad)),
            "received": [{"from": j, "from_label": trace.steps[j].label} for j, _ in s.received],
            "handed": [],
            "check": None,
            "annotations": [],
        }
        for h in s.handed:
            p = index.get(id(h.input))
            entry["handed"].append(
                {
                    "arg": h.arg_name,
                    "to": labels.get(id(h.input)) or h.input.name or "constant",
                    "edge": None if p is None or s.op is None else f"t{p}->op{i}",
                    "value": None if h.grad is None else tensor_view(h.grad),
                    "colour": None if h.grad is None else scale.colour(_magnitude(h.grad)),
                }
            )
        if s.check is not None:
            entry["check"] = {
                "passed": s.check.passed,
                "max_error": _round(s.check.max_error),
                "elements": s.check.elements,
            }
        for a in (annotations or {}).get(s.index, []):
            value = np.asarray(a.value, dtype=np.float64)
            difference = float(np.abs(value.reshape(s.grad.shape) - s.grad).max())
            entry["annotations"].append(
                {
                    "quantity": a.quantity,
                    "formula": a.formula,
                    "value": tensor_view(value.reshape(s.grad.shape)),
                    "max_difference": _round(difference),
                    "link": a.link,
                    "note": a.note,
                }
            )
        steps.append(entry)
    return {"steps": steps, "scale": [_round(scale.lo), _round(scale.hi)]}


def _static(name: str) -> str:
    return resources.files("tinygrad_mnist.viz").joinpath("stepper_static", name).read_text(encoding="utf-8")


def backprop_page(
    trace: BackwardTrace,
    *,
    module: Any = None,
    title: str = "Step through backprop",
    subtitle: str = "",
    annotations: dict[int, list[Annotation]] | None = None,
    notes: list[str] | None = None,
) -> str:
    """The page's HTML for a recorded backward pass (`trace_backward(loss)` with its graph retained)."""
    data = json.dumps(trace_json(trace, annotations), ensure_ascii=False, allow_nan=False)
    data = data.replace("</", "<\\/")  # nothing in the JSON can close the <script> element
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_static('stepper.css')}</style></head>\n<body>"
        f"<header><h1>{html.escape(title)}</h1><p class='subtitle'>{html.escape(subtitle)}</p>"
        + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes or [])
        + "<nav><button id='prev' title='previous step (←)'>◀ previous</button>"
        "<button id='play' title='play / pause (space)'>▶ play</button>"
        "<button id='next' title='next step (→)'>next ▶</button>"
        "<span id='position'></span></nav></header>\n"
        f"<main><section id='graph'>{_graph_svg(trace, module)}</section>"
        "<section id='details' aria-live='polite'></section></main>\n"
        f"<script id='trace' type='application/json'>{data}</script>\n"
        f"<script>{_static('stepper.js')}</script></body></html>\n"
    )


def write_backprop_page(
    loss_or_trace: Tensor | BackwardTrace,
    path: str | os.PathLike[str],
    *,
    module: Any = None,
    title: str = "Step through backprop",
    subtitle: str = "",
    annotations: dict[int, list[Annotation]] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write the stepping page to `path` (atomically); a Tensor is traced first with `trace_backward`."""
    trace = loss_or_trace
    if isinstance(loss_or_trace, Tensor):
        trace = trace_backward(loss_or_trace, module=module)
    if not isinstance(trace, BackwardTrace):
        raise TypeError(
            f"write_backprop_page: expected a Tensor or a BackwardTrace, got {type(trace).__name__}"
        )
    page = backprop_page(
        trace, module=module, title=title, subtitle=subtitle, annotations=annotations, notes=notes
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path
