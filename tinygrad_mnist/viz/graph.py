"""`draw_graph`: a graphviz picture of everything that produced a tensor, for teaching and debugging backprop.

The picture has a tensor node for every tensor and an op node for every recorded op (micrograd style:
inputs -> op -> output). See `tinygrad_mnist.viz.style` for the colour/shape convention and the gradient
scale. The graph is first built as plain node/edge lists, so collapsing modules and trimming huge graphs
are list operations, and only the final lists become a `graphviz.Digraph` (which Jupyter shows inline).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz
import numpy as np

from tinygrad_mnist.autograd import Tensor, topological_order
from tinygrad_mnist.viz import style
from tinygrad_mnist.viz.grouping import group_by_module, module_types, owner_of, parameter_names

RANKDIRS = ("LR", "TB", "RL", "BT")
AUTO_RANKDIR_MAX_RANKS = 8  # rankdir=None: left to right up to this many nodes in a chain, else top to bottom
COLLAPSE_MODES = (None, False, True, "cluster", "module")


class GraphReleasedError(RuntimeError):
    """The graph to draw was freed by an earlier `backward()` (it keeps no parents unless retain_graph=True)."""


@dataclass
class _Picture:
    """Graph as plain lists before it becomes a Digraph: node id -> attributes, edges, clusters."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # a label may be a callable
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    cluster_of: dict[str, str] = field(default_factory=dict)  # node id -> module name (cluster mode)
    roots: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # node kinds present, in legend order


def draw_graph(
    root: Tensor | Sequence[Tensor],
    *,
    module: Any = None,
    params: Mapping[str, Tensor] | None = None,
    show_values: bool = True,
    value_limit: int = 8,
    show_grads: bool = True,
    grad_range: tuple[float, float] | None = None,
    rankdir: str | None = None,
    collapse: bool | str | None = None,
    max_nodes: int = 400,
    legend: bool = True,
    title: str | None = None,
) -> graphviz.Digraph:
    """A `graphviz.Digraph` of every tensor and op that produced `root` (one tensor or a list of them).

    module / params: name parameters in the picture ("fc1.weight"), from `module.named_parameters()`
        and/or a `{name: tensor}` dict (as torchviz's `params=`); `tensor.name` names any other tensor.
    show_values: print the values of tensors with at most `value_limit` elements, and mean/std/min/max
        of bigger ones.
    show_grads: where `.grad` exists, print its mean |grad| and colour borders and edges by it on a log
        scale (`grad_range=(low, high)` fixes the scale; otherwise it fits this graph's gradients).
        Intermediate tensors only keep `.grad` if retained: see `backward_for_drawing`.
    rankdir: "LR" (inputs on the left) or "TB" (inputs on top), or "RL"/"BT"; None (default) picks "LR"
        for a short graph and "TB" when its longest chain has more than AUTO_RANKDIR_MAX_RANKS nodes,
        so a deep network is drawn tall (it scrolls) instead of too wide to read.
    collapse: False draws every op; "cluster" frames each module's ops; True (or "module") draws each
        module as one node; None (default) collapses automatically when the graph has more than
        `max_nodes` nodes and a module is given. Ops are assigned to modules by the parameters they use
        (see `tinygrad_mnist.viz.grouping`). A graph still above `max_nodes` keeps the nodes nearest the
        output and replaces the rest by one summary node, so rendering never hangs on a huge graph.
    """
    roots = [root] if isinstance(root, Tensor) else list(root)
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise TypeError("draw_graph: root must be a Tensor or a non-empty sequence of Tensors")
    if rankdir is not None and rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if collapse not in COLLAPSE_MODES:
        raise ValueError(f"draw_graph: collapse must be one of {COLLAPSE_MODES}, got {collapse!r}")
    if max_nodes < 2:
        raise ValueError(f"draw_graph: max_nodes must be at least 2, got {max_nodes}")

    tensors = topological_order(roots)
    _check_not_released(tensors)
    names = parameter_names(module, params)
    groups = group_by_module(roots, module, params) if names else {}
    notes: list[str] = []

    inlined = _inlined_scalars(tensors, {id(r) for r in roots}, names)
    n_flat = len(tensors) - len(inlined) + sum(1 for t in tensors if t.parents)
    mode = {None: "flat", False: "flat", True: "module", "module": "module", "cluster": "cluster"}[collapse]
    if collapse is None and n_flat > max_nodes and groups:
        mode = "module"
        notes.append(f"{n_flat:,} nodes > max_nodes={max_nodes}: modules collapsed automatically")
    if mode != "flat" and not groups:
        notes.append("collapse: no module groups found (pass module= or params=)")
        mode = "flat"

    mags = {id(t): style.grad_magnitude(t.grad) for t in tensors if t.grad is not None} if show_grads else {}
    scale = style.GradScale(*(grad_range or style.auto_grad_range(list(mags.values())))) if mags else None
    if mags and any(t.grad is None and t.parents for t in tensors):
        notes.append("grey: gradient not kept (use backward_for_drawing)")

    builder = _Builder(roots, names, groups, module_types(module), show_values, value_limit, scale, mags)
    picture = builder.build(tensors, mode, inlined)
    if len(picture.nodes) > max_nodes:
        hidden = _trim(picture, max_nodes)
        notes.append(
            f"{hidden:,} nodes far from the output are summarised (max_nodes={max_nodes}; "
            "raise it, or collapse modules with module= and collapse=True)"
        )
    if rankdir is None:
        rankdir = "TB" if _longest_chain(picture) > AUTO_RANKDIR_MAX_RANKS else "LR"
    return _to_digraph(picture, rankdir, legend, scale, notes, title, types=module_types(module))


def _longest_chain(picture: _Picture) -> int:
    """Nodes on the longest path along the edges: the number of ranks `dot` lays the graph out in."""
    successors: dict[str, list[str]] = {}
    indegree = dict.fromkeys(picture.nodes, 0)
    for src, dst, _ in picture.edges:
        successors.setdefault(src, []).append(dst)
        indegree[dst] = indegree.get(dst, 0) + 1
    depth = {n: 1 for n, d in indegree.items() if d == 0}
    queue = deque(depth)
    while queue:  # Kahn's topological order: a node's depth is final when its last input is seen
        node = queue.popleft()
        for nxt in successors.get(node, ()):
            depth[nxt] = max(depth.get(nxt, 1), depth[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    return max(depth.values(), default=0)


def _inlined_scalars(tensors: list[Tensor], root_ids: set[int], names: dict[int, str]) -> set[int]:
    """Unnamed scalar constants (the 2 in `x * 2`): written into their op's label, not drawn as nodes."""
    return {
        id(t)
        for t in tensors
        if t.op is None
        and not t.requires_grad
        and t.size == 1
        and not t.name
        and id(t) not in root_ids
        and id(t) not in names
    }


def _op_label(t: Tensor, inlined: set[int]) -> str:
    """The op's name, with inlined constants as arguments: `mul(·, 0.25)`, `sub(1, ·)`; under a fused
    op's name, what it computes (`linear` over `x·Wᵀ + b`)."""
    label = f"<B>{style.esc(t.op)}</B>"
    if any(id(p) in inlined for p in t.parents):
        args = [_scalar_text(p.data) if id(p) in inlined else "·" for p in t.parents]
        label += style.esc(f"({', '.join(args)})")
    formula = _fused_formula(t)
    if formula:
        label += f'<BR/><FONT POINT-SIZE="10">{style.esc(formula)}</FONT>'
    return f"<{label}>"


def _fused_formula(t: Tensor) -> str | None:
    """What a fused op computes (it stands for several steps, so the picture says them); None for a
    primitive, whose name says it all (its formula is the node's tooltip)."""
    fn = t.grad_fn
    return fn.describe() if fn is not None and fn.reference is not None else None


def _op_tooltip(t: Tensor) -> str:
    fn = t.grad_fn
    return f"{fn.name}: {fn.describe()}" if fn is not None and fn.formula else str(t.op)


def _op_text(t: Tensor) -> str:
    """The op's name with what it computes, as plain text: `linear (x·Wᵀ + b)`, `relu`."""
    formula = _fused_formula(t)
    return f"{t.op} ({formula})" if formula else t.op


def _scalar_text(data: np.ndarray) -> str:
    value = data.reshape(()).item()
    return style.fmt(value) if isinstance(value, float) else str(value)


def _check_not_released(tensors: list[Tensor]) -> None:
    for t in tensors:
        if t.op is not None and t.requires_grad and not t.parents:
            raise GraphReleasedError(
                f"draw_graph: the graph behind '{t.op}' (shape {t.shape}) was released by backward(), "
                "which frees it unless retain_graph=True. Draw before backward(), or call "
                "tinygrad_mnist.viz.backward_for_drawing(loss) instead of loss.backward() to draw it "
                "with gradients."
            )


class _Builder:
    """Turns tensors into picture nodes and edges, in flat, cluster or collapsed-module mode."""

    def __init__(self, roots, names, groups, types, show_values, value_limit, scale, mags):
        self.root_ids = {id(r) for r in roots}
        self.names, self.groups, self.types = names, groups, types
        self.show_values, self.value_limit, self.scale = show_values, value_limit, scale
        self.mags: dict[int, float] = mags  # id(tensor) -> mean |grad|, for tensors with a gradient
        self.pic = _Picture()
        self.module_edges: set[tuple[str, str]] = set()
        self.inlined: set[int] = set()  # id() of the scalar constants written into their ops' labels

    # -- one tensor node
    def kind(self, t: Tensor) -> str:
        if id(t) in self.root_ids:
            return "output"
        if t.op is None or not t.parents:
            return "parameter" if t.requires_grad else "input"
        return "intermediate"

    def tensor_node(self, node_id: str, t: Tensor) -> None:
        kind = self.kind(t)
        attrs: dict[str, Any] = dict(style.KIND_STYLE[kind])
        if self.scale is not None and id(t) in self.mags:
            attrs.update(self._grad_attrs(self.mags[id(t)], attrs["style"]))
        attrs["label"] = lambda: self.tensor_label(t)  # made only for the nodes that survive trimming
        self.add_node(node_id, kind, attrs)

    def tensor_label(self, t: Tensor) -> str:
        lines = []
        name = self.names.get(id(t)) or t.name
        if name:
            lines.append(f"<B>{style.esc(name)}</B>")
        shape = "scalar" if t.ndim == 0 else str(tuple(t.shape))
        lines.append(f"{style.esc(shape)} {t.dtype}")
        if t.op is not None and not t.parents:
            lines.append(f'<FONT POINT-SIZE="10">from {style.esc(t.op)} (not recorded)</FONT>')
        if self.show_values:
            lines.append(f'<FONT POINT-SIZE="10">{_describe(t.data, self.value_limit)}</FONT>')
        if self.scale is not None and id(t) in self.mags:
            grad_text = _describe_grad(t.grad, self.mags[id(t)], self.value_limit)
            lines.append(f'<FONT POINT-SIZE="10">{grad_text}</FONT>')
        return "<" + "<BR/>".join(lines) + ">"

    def _grad_attrs(self, mag: float, base_style: str) -> dict[str, str]:
        grad_attrs = self.scale.attrs(mag)
        if "style" in grad_attrs:
            grad_attrs["style"] = base_style + "," + grad_attrs["style"]
        return grad_attrs

    def edge_attrs(self, t: Tensor) -> dict[str, str]:
        """Edges next to tensor `t` show its gradient, or are grey when it has none."""
        if self.scale is None:
            return {}
        if id(t) not in self.mags:
            return {"color": style.NO_GRAD_EDGE}
        return self.scale.attrs(self.mags[id(t)])

    def add_node(self, node_id: str, kind: str, attrs: dict[str, str], cluster: str | None = None) -> None:
        self.pic.nodes[node_id] = attrs
        if kind not in self.pic.kinds:
            self.pic.kinds.append(kind)
        if kind == "output":
            self.pic.roots.append(node_id)
        if cluster is not None:
            self.pic.cluster_of[node_id] = cluster

    # -- whole graph
    def build(self, tensors: list[Tensor], mode: str, inlined: set[int]) -> _Picture:
        index = {id(t): i for i, t in enumerate(tensors)}
        self.inlined = inlined
        consumers: dict[int, list[Tensor]] = {}
        for t in tensors:
            for p in t.parents:
                consumers.setdefault(id(p), []).append(t)
        hidden = self._hidden_in_modules(tensors, consumers) if mode == "module" else set()
        module_nodes: dict[str, str] = {}
        if mode == "module":
            module_nodes = self._module_nodes(tensors)

        for i, t in enumerate(tensors):
            if id(t) in hidden or id(t) in inlined:
                continue
            cluster = self._cluster_of(t) if mode == "cluster" else None
            self.tensor_node(f"t{i}", t)
            if cluster is not None:
                self.pic.cluster_of[f"t{i}"] = cluster
        for i, t in enumerate(tensors):
            if not t.parents:
                continue
            group = self.groups.get(id(t))
            if mode == "module" and group is not None:
                self._module_edges(t, i, group, module_nodes[group], index, hidden)
                continue
            op_id = f"op{i}"
            attrs = dict(style.KIND_STYLE["op"], label=_op_label(t, inlined), tooltip=_op_tooltip(t))
            self.add_node(op_id, "op", attrs, group if mode == "cluster" else None)
            for p in t.parents:
                if id(p) not in inlined:
                    self.pic.edges.append((f"t{index[id(p)]}", op_id, self.edge_attrs(p)))
            self.pic.edges.append((op_id, f"t{i}", self.edge_attrs(t)))
        return self.pic

    def _cluster_of(self, t: Tensor) -> str | None:
        if id(t) in self.groups:
            return self.groups[id(t)]
        return owner_of(self.names[id(t)]) if t.is_leaf and id(t) in self.names else None

    def _hidden_in_modules(self, tensors: list[Tensor], consumers: dict[int, list[Tensor]]) -> set[int]:
        """Tensors used only inside their own module: its parameters and its internal intermediates."""
        hidden = set()
        for t in tensors:
            group = self._cluster_of(t)
            if group is None or id(t) in self.root_ids:
                continue
            users = consumers.get(id(t), [])
            if users and all(self.groups.get(id(u)) == group for u in users):
                hidden.add(id(t))
        return hidden

    def _module_nodes(self, tensors: list[Tensor]) -> dict[str, str]:
        """One node per module: its name and class, its parameters, and the ops it stands for."""
        ops: dict[str, list[str]] = {}
        for t in tensors:
            if id(t) in self.groups:
                ops.setdefault(self.groups[id(t)], []).append(_op_text(t))
        params: dict[str, list[Tensor]] = {}
        for t in tensors:
            if t.is_leaf and id(t) in self.names:
                params.setdefault(owner_of(self.names[id(t)]), []).append(t)
        node_ids = {}
        for k, (group, op_names) in enumerate(ops.items()):
            node_ids[group] = f"m{k}"
            title = style.esc(group or "model")
            kind_name = self.types.get(group)
            lines = [f"<B>{title}</B>" + (f" ({style.esc(kind_name)})" if kind_name else "")]
            attrs = dict(style.KIND_STYLE["module"])
            grads = []
            for p in params.get(group, []):
                short = self.names[id(p)].rpartition(".")[2]
                line = f"{style.esc(short)} {style.esc(tuple(p.shape))}"
                if self.scale is not None and id(p) in self.mags:
                    grads.append(p.grad)
                    line += f"  |grad| {style.fmt(self.mags[id(p)])}"
                lines.append(f'<FONT POINT-SIZE="10">{line}</FONT>')
            shown = op_names if len(op_names) <= 6 else [*op_names[:5], "…"]
            count = f"{len(op_names)} op" + ("s" if len(op_names) != 1 else "")
            lines.append(f'<FONT POINT-SIZE="10">{count}: {style.esc(", ".join(shown))}</FONT>')
            if grads:
                mag = sum(float(np.abs(np.asarray(g, np.float64)).sum()) for g in grads) / sum(
                    g.size for g in grads
                )
                attrs.update(self._grad_attrs(mag, attrs["style"]))
            attrs["label"] = "<" + "<BR/>".join(lines) + ">"
            self.add_node(f"m{k}", "module", attrs)
        return node_ids

    def _module_edges(self, t, i, group, node_id, index, hidden) -> None:
        for p in t.parents:
            if id(p) in hidden or id(p) in self.inlined or self.groups.get(id(p)) == group:
                continue
            src = f"t{index[id(p)]}"
            if (src, node_id) not in self.module_edges:
                self.module_edges.add((src, node_id))
                self.pic.edges.append((src, node_id, self.edge_attrs(p)))
        if id(t) not in hidden:
            self.pic.edges.append((node_id, f"t{i}", self.edge_attrs(t)))


def _describe(data: np.ndarray, value_limit: int) -> str:
    """The values of a small array, or summary statistics of a big one (HTML-escaped)."""
    if data.size == 0:
        return "empty"
    if data.size <= value_limit:
        if data.ndim == 0:
            return style.esc(style.fmt(data.item()) if data.dtype.kind == "f" else data.item())
        text = np.array2string(data, precision=3, separator=", ", suppress_small=True, max_line_width=48)
        return "<BR/>".join(style.esc(line) for line in text.splitlines())
    x = data.astype(np.float64)
    return (
        style.esc(f"mean {style.fmt(x.mean())}  std {style.fmt(x.std())}")
        + "<BR/>"
        + style.esc(f"min {style.fmt(x.min())}  max {style.fmt(x.max())}")
    )


def _describe_grad(grad: np.ndarray, mag: float, value_limit: int) -> str:
    if not math.isfinite(mag):
        return "<B>grad has NaN/inf!</B>"
    if grad.size <= value_limit:
        return "grad " + _describe(np.asarray(grad), value_limit)
    return style.esc(f"grad: mean |g| {style.fmt(mag)}")


def _trim(picture: _Picture, max_nodes: int) -> int:
    """Keep the `max_nodes - 1` nodes nearest the outputs; the rest become one summary node."""
    preds: dict[str, list[str]] = {}
    for src, dst, _ in picture.edges:
        preds.setdefault(dst, []).append(src)
    keep: dict[str, None] = dict.fromkeys(picture.roots[: max_nodes - 1])
    queue = deque(keep)
    while queue and len(keep) < max_nodes - 1:
        for p in preds.get(queue.popleft(), []):
            if p not in keep and len(keep) < max_nodes - 1:
                keep[p] = None
                queue.append(p)
    hidden = len(picture.nodes) - len(keep)
    picture.nodes = {k: v for k, v in picture.nodes.items() if k in keep}
    picture.nodes["more"] = {
        "shape": "note",
        "style": "filled",
        "fillcolor": "#f5f5f5",
        "label": f"… {hidden:,} more nodes",
    }
    edges, into_more = [], set()
    for src, dst, attrs in picture.edges:
        if dst not in keep:
            continue
        if src in keep:
            edges.append((src, dst, attrs))
        elif dst not in into_more:
            into_more.add(dst)
            edges.append(("more", dst, {"style": "dotted"}))
    picture.edges = edges
    picture.cluster_of = {k: v for k, v in picture.cluster_of.items() if k in keep}
    return hidden


def _resolved(attrs: dict[str, Any]) -> dict[str, str]:
    label = attrs.get("label")
    return {**attrs, "label": label()} if callable(label) else attrs


def _to_digraph(picture, rankdir, legend, scale, notes, title, types) -> graphviz.Digraph:
    dot = graphviz.Digraph("graph", comment="tinygrad_mnist computation graph")
    dot.attr(rankdir=rankdir, bgcolor="white", fontname=style.FONT, nodesep="0.3", ranksep="0.4", pad="0.2")
    dot.attr("node", fontname=style.FONT, fontsize="12", margin="0.12,0.05")
    dot.attr("edge", arrowsize="0.7", color="#555555")
    caption = [f"<B>{style.esc(title)}</B>"] if title else []
    if not legend:
        caption += [f'<FONT POINT-SIZE="10">{style.esc(note)}</FONT>' for note in notes]
    if caption:
        dot.attr(label="<" + "<BR/>".join(caption) + ">", labelloc="t", fontsize="16")
    clusters: dict[str, list[str]] = {}
    for node_id, cluster in picture.cluster_of.items():
        clusters.setdefault(cluster, []).append(node_id)
    in_cluster = set(picture.cluster_of)
    for k, (name, members) in enumerate(clusters.items()):
        with dot.subgraph(name=f"cluster_m{k}") as sub:
            kind_name = types.get(name)
            label = (name or "model") + (f" ({kind_name})" if kind_name else "")
            sub.attr(label=label, **style.CLUSTER_STYLE)
            for node_id in members:
                sub.node(node_id, **_resolved(picture.nodes[node_id]))
    for node_id, attrs in picture.nodes.items():
        if node_id not in in_cluster:
            dot.node(node_id, **_resolved(attrs))
    for src, dst, attrs in picture.edges:
        dot.edge(src, dst, **attrs)
    if legend:
        with dot.subgraph(name="legend_rank") as sub:
            sub.attr(rank="sink")
            sub.node("legend", label=style.legend_label(picture.kinds, scale, notes), shape="plaintext")
    return dot
