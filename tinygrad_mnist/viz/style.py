"""The visual convention of graph pictures: one place that decides colours, shapes and the gradient scale.

Kinds of node (fill colour and shape), so a picture reads the same every time:
- input / constant: grey box (a leaf that needs no gradient: data, labels, literal numbers);
- parameter: gold box with a bold border (a leaf that requires grad: what training changes);
- intermediate: light-blue box (a tensor some op computed);
- output: green box with a double border (the tensor you asked to draw, e.g. the loss);
- op: white ellipse with the op's name (`linear`, `relu`, `cross_entropy`, ...) and, for a fused op that
  stands for several steps, a second line saying what it computes (`x·Wᵀ + b`);
- module: orange 3-D box (a module's ops collapsed into one node) or a dashed orange frame (a cluster).

Gradients (when they exist) colour the borders of tensor nodes and the edges next to them, on a
logarithmic scale of the mean absolute gradient: dark blue and thick = large, red and thin = tiny,
red dashed = exactly zero, purple = NaN or infinite. Vanishing gradients show up as red, thin lines.
"""

from __future__ import annotations

import html
import math

import numpy as np

FONT = "Helvetica"

KIND_STYLE: dict[str, dict[str, str]] = {
    "input": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e6e6e6", "color": "#7f7f7f"},
    "parameter": {
        "shape": "box",
        "style": "rounded,filled,bold",
        "fillcolor": "#ffe39a",
        "color": "#a07800",
    },
    "intermediate": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dcebf7", "color": "#6f8fae"},
    "output": {
        "shape": "box",
        "style": "rounded,filled,bold",
        "fillcolor": "#bfe5b4",
        "color": "#2e7d32",
        "peripheries": "2",
    },
    # ordering="in": an op's inputs are placed in argument order (x, W, b), as its formula reads
    "op": {
        "shape": "ellipse",
        "style": "filled",
        "fillcolor": "#ffffff",
        "color": "#555555",
        "ordering": "in",
    },
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#fdd9b5", "color": "#b35900"},
}
CLUSTER_STYLE = {"style": "rounded,dashed", "color": "#b35900", "fontcolor": "#b35900", "fontname": FONT}
KIND_LABELS = {
    "input": "input / constant",
    "parameter": "parameter (requires grad)",
    "intermediate": "intermediate",
    "output": "output",
    "op": "op",
    "module": "module (collapsed)",
}

# Gradient scale, weakest to strongest: red, orange, gold, green, teal, dark blue. Neighbours mix into
# clear colours (never grey, which means "no gradient"), and every step stays visible on white.
GRAD_STOPS = ["#d73027", "#f46d43", "#d9a400", "#41ab5d", "#1d91c0", "#253494"]
GRAD_ZERO = "#d73027"
GRAD_NONFINITE = "#8e24aa"
NO_GRAD_EDGE = "#9e9e9e"
MIN_DECADES = 4  # an automatic scale spans at least this many powers of ten: small differences stay calm


def esc(text: object) -> str:
    """Text made safe inside a graphviz HTML-like label."""
    return html.escape(str(text), quote=True)


def fmt(x: float) -> str:
    """A number in 3 significant digits, short enough for a node label."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}"


def grad_magnitude(grad: np.ndarray) -> float:
    """What the colour encodes: the mean absolute gradient (NaN or inf if any entry is)."""
    g = np.asarray(grad, dtype=np.float64)
    return float(np.abs(g).mean()) if g.size else 0.0


def auto_grad_range(magnitudes: list[float]) -> tuple[float, float]:
    """Whole powers of ten around the positive finite magnitudes, at least MIN_DECADES apart."""
    positive = [m for m in magnitudes if math.isfinite(m) and m > 0]
    if not positive:
        return 10.0**-MIN_DECADES, 1.0
    hi = 10.0 ** math.ceil(math.log10(max(positive)))
    lo = min(10.0 ** math.floor(math.log10(min(positive))), hi * 10.0**-MIN_DECADES)
    return lo, hi


class GradScale:
    """Maps a gradient magnitude to a colour and a line width on a log scale from `lo` to `hi`."""

    def __init__(self, lo: float, hi: float):
        if not (0 < lo < hi):
            raise ValueError(f"grad_range must be two positive numbers, low < high; got ({lo}, {hi})")
        self.lo, self.hi = lo, hi

    def position(self, magnitude: float) -> float:
        """0 at or below `lo`, 1 at or above `hi`."""
        if magnitude <= 0:
            return 0.0
        t = (math.log10(magnitude) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return min(max(t, 0.0), 1.0)

    def colour(self, magnitude: float) -> str:
        if not math.isfinite(magnitude):
            return GRAD_NONFINITE
        if magnitude == 0:
            return GRAD_ZERO
        t = self.position(magnitude) * (len(GRAD_STOPS) - 1)
        i = min(int(t), len(GRAD_STOPS) - 2)
        return _mix(GRAD_STOPS[i], GRAD_STOPS[i + 1], t - i)

    def attrs(self, magnitude: float) -> dict[str, str]:
        """Edge/border attributes for a gradient of this magnitude."""
        if not math.isfinite(magnitude):
            return {"color": GRAD_NONFINITE, "penwidth": "3"}
        width = 0.8 + 3.2 * self.position(magnitude)
        attrs = {"color": self.colour(magnitude), "penwidth": f"{width:.2f}"}
        if magnitude == 0:
            attrs["style"] = "dashed"
        return attrs


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def legend_label(kinds: list[str], scale: GradScale | None, notes: list[str]) -> str:
    """An HTML-like table: one swatch per node kind present, the gradient scale, and any notes."""
    rows = ['<TR><TD COLSPAN="2"><B>Legend</B></TD></TR>']
    for kind in sorted(kinds, key=list(KIND_STYLE).index):
        style = KIND_STYLE[kind]
        rows.append(
            f'<TR><TD BGCOLOR="{style["fillcolor"]}" WIDTH="28"> </TD>'
            f'<TD ALIGN="LEFT">{esc(KIND_LABELS[kind])}</TD></TR>'
        )
    if scale is not None:
        steps = 6
        cells = "".join(
            f'<TD BGCOLOR="{scale.colour(scale.lo * (scale.hi / scale.lo) ** (k / (steps - 1)))}" WIDTH="14"> </TD>'
            for k in range(steps)
        )
        rows.append('<TR><TD COLSPAN="2" ALIGN="LEFT">borders and edges: mean |grad|</TD></TR>')
        rows.append(
            f'<TR><TD COLSPAN="2"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0"><TR>{cells}</TR></TABLE></TD></TR>'
        )
        rows.append(
            f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="10">log scale: {esc(fmt(scale.lo))} (vanishing, thin)'
            f' … {esc(fmt(scale.hi))} (thick)<BR ALIGN="LEFT"/>'
            f'<FONT COLOR="{GRAD_ZERO}">dashed: exactly 0</FONT>   '
            f'<FONT COLOR="{NO_GRAD_EDGE}">grey: no gradient</FONT><BR ALIGN="LEFT"/></FONT></TD></TR>'
        )
    for note in notes:
        rows.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="10">{esc(note)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + "".join(rows) + "</TABLE>>"
