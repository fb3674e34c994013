"""Render a graph picture to a PNG, SVG or PDF file with graphviz's `dot` program, atomically.

`dot` is run directly (not through the graphviz package's `render`) so the output goes to a temporary
file that replaces the target only when complete, a runaway layout is stopped by a timeout, and a
missing `dot` gives an error that says how to install it, with the `.dot` source saved for later.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import graphviz

from tinygrad_mnist.atomic import atomic_write
from tinygrad_mnist.autograd import Tensor

IMAGE_FORMATS = ("png", "svg", "pdf")
SOURCE_FORMATS = ("dot", "gv")
DEFAULT_PNG_DPI = 110
PNG_MAX_INCHES = (
    100  # a bigger drawing is scaled down in PNG (11,000 px at 110 dpi): rasters that big are slow
)

INSTALL_HINT = (
    "Install Graphviz (the Python package `graphviz` only drives it): "
    "Debian/Ubuntu `sudo apt-get install graphviz`, macOS `brew install graphviz`, "
    "conda `conda install graphviz`, Windows `winget install graphviz` (then add it to PATH)."
)


class GraphvizError(RuntimeError):
    """Graphviz's `dot` failed on a graph (bad input, or it ran past the time limit)."""


class GraphvizNotFoundError(GraphvizError):
    """The `dot` program is not on PATH, so no image can be made (the `.dot` source is still written)."""


def render(
    graph_or_tensor: graphviz.Digraph | Tensor,
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    dpi: int | None = None,
    timeout: float = 60.0,
    **draw_kwargs: Any,
) -> Path:
    """Write `graph_or_tensor` as an image to `path` and return the path written.

    The format comes from the suffix (.png, .svg, .pdf; .dot/.gv write the source only) or from
    `format=`, which adds the suffix to a path without one. A tensor is drawn first with
    `draw_graph(tensor, **draw_kwargs)`. `dpi` sets PNG resolution (default 110); a PNG more than
    100 inches wide or tall is scaled down to that (use SVG or PDF for huge graphs). Missing parent
    folders are created.
    """
    from tinygrad_mnist.viz.graph import draw_graph

    if isinstance(graph_or_tensor, Tensor):
        graph = draw_graph(graph_or_tensor, **draw_kwargs)
    elif isinstance(graph_or_tensor, graphviz.Digraph | graphviz.Graph):
        if draw_kwargs:
            raise TypeError(f"render: drawing options {sorted(draw_kwargs)} only apply when given a Tensor")
        graph = graph_or_tensor
    else:
        raise TypeError(
            f"render: expected a graphviz.Digraph or a Tensor, got {type(graph_or_tensor).__name__}"
        )
    out, fmt = _resolve(Path(path), format)
    out.parent.mkdir(parents=True, exist_ok=True)
    source = graph.source.encode()
    if fmt in SOURCE_FORMATS:
        _write_atomic(out, source)
        return out
    dot = shutil.which("dot")
    if dot is None:
        source_path = out.with_suffix(".dot")
        _write_atomic(source_path, source)
        raise GraphvizNotFoundError(
            f"cannot render {out}: the Graphviz program `dot` is not on PATH. {INSTALL_HINT} "
            f"The graph's source was written to {source_path}; render it later with "
            f"`dot -T{fmt} {source_path} -o {out}`."
        )
    command = [dot, f"-T{fmt}"]
    if fmt == "png":
        command += [f"-Gdpi={dpi or DEFAULT_PNG_DPI}", f"-Gsize={PNG_MAX_INCHES},{PNG_MAX_INCHES}"]
    try:
        result = subprocess.run(command, input=source, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"dot took longer than {timeout:g} s to lay out the graph for {out}; draw fewer nodes "
            "(draw_graph(..., max_nodes=...) or collapse=True with module=)"
        ) from None
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode(errors="replace").strip() or "no output"
        raise GraphvizError(f"dot failed to render {out} (exit code {result.returncode}): {message}")
    _write_atomic(out, result.stdout)
    return out


def _resolve(path: Path, format: str | None) -> tuple[Path, str]:
    """Output path and format: from the suffix, or `format` (added as the suffix if there is none)."""
    known = IMAGE_FORMATS + SOURCE_FORMATS
    suffix = path.suffix.lower().lstrip(".")
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt not in known:
            raise ValueError(f"render: unknown format {format!r}; use one of {', '.join(known)}")
        if not suffix:
            return path.with_name(path.name + "." + fmt), fmt
        if suffix != fmt:
            raise ValueError(f"render: format={format!r} contradicts the file suffix of {path}")
        return path, fmt
    if suffix not in known:
        raise ValueError(
            f"render: cannot tell the image format from {path}; use a suffix among "
            f"{', '.join('.' + k for k in known)} or pass format="
        )
    return path, suffix


def _write_atomic(path: Path, data: bytes) -> None:
    """Temporary file in the same folder, renamed over `path` when complete: never a half-written file."""
    with atomic_write(path) as f:
        f.write(data)
