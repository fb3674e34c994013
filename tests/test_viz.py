"""Graph pictures: exact nodes and edges for known expressions, module names, gradient colouring,
collapsing, trimming of huge graphs, and real rendering with (and without) Graphviz's `dot`."""

from __future__ import annotations

import re
import shutil
import struct
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import numpy as np
import pytest

from tinygrad_mnist import Tensor, nn, no_grad, topological_order
from tinygrad_mnist.models import build_model
from tinygrad_mnist.viz import (
    GraphReleasedError,
    GraphvizError,
    GraphvizNotFoundError,
    backward_for_drawing,
    draw_graph,
    group_by_module,
    render,
    retain_all_grads,
)
from tinygrad_mnist.viz.style import GradScale, auto_grad_range

# what gradient annotations look like: "grad [..]", "grad 1", "grad: mean |g| ..", the scale, line widths
GRAD_MARKS = re.compile(r"grad(:| \[| -?\d)|mean \|grad\||penwidth")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


# ---------------------------------------------------------------- reading a Digraph's source back
def nodes(graph: graphviz.Digraph) -> dict[str, str]:
    """node id -> its line's attributes, without the legend."""
    found = {}
    for line in graph.source.splitlines():
        m = re.match(r"\s*(\w+) \[(.*)\]$", line)
        if m and m.group(1) not in ("node", "edge", "graph", "legend"):
            found[m.group(1)] = m.group(2)
    return found


def edges(graph: graphviz.Digraph) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+)", graph.source, flags=re.M)


def op_label(attrs: str) -> str:
    return re.search(r"label=<<B>(.*?)</B>", attrs).group(1)


def tensor_name(attrs: str) -> str | None:
    m = re.search(r"label=<<B>(.*?)</B>", attrs)
    return m.group(1) if m else None


def named_structure(graph):
    """Edges with op nodes shown by op name and tensors by their name (or their id)."""
    found = nodes(graph)

    def show(node_id):
        if node_id.startswith("op"):
            return op_label(found[node_id])
        return tensor_name(found[node_id]) or node_id

    return [(show(a), show(b)) for a, b in edges(graph)]


@pytest.fixture
def expression():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="a")
    b = Tensor([4.0, 5.0, 6.0], requires_grad=True, name="b")
    c = Tensor([0.5, 0.5, 0.5], name="c")
    ab = a * b
    ab.name = "ab"
    s = ab + c
    s.name = "s"
    y = s.sum()
    y.name = "y"
    return a, b, c, y


def small_mlp(seed: int = 0) -> nn.Module:
    rng = np.random.default_rng(seed)
    return nn.Sequential({"fc1": nn.Linear(6, 5, rng=rng), "act": nn.ReLU(), "fc2": nn.Linear(5, 3, rng=rng)})


def mlp_loss(model, batch: int = 4, features: int = 6, classes: int = 3):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((batch, features)).astype(np.float32), name="x")
    return model(x).cross_entropy(rng.integers(0, classes, batch))


# ---------------------------------------------------------------- structure
def test_expression_has_exactly_its_ops_tensors_and_edges(expression):
    *_, y = expression
    graph = draw_graph(y)
    found = nodes(graph)
    ops = sorted(op_label(v) for k, v in found.items() if k.startswith("op"))
    assert ops == ["add", "mul", "sum"]
    assert sum(k.startswith("t") for k in found) == 6  # a, b, c, a*b, a*b+c, sum
    assert len(found) == 9
    assert sorted(named_structure(graph)) == sorted(
        [
            ("a", "mul"),
            ("b", "mul"),
            ("mul", "ab"),
            ("ab", "add"),
            ("c", "add"),
            ("add", "s"),
            ("s", "sum"),
            ("sum", "y"),
        ]
    )


def test_kinds_have_distinct_styles_and_legend(expression):
    a, _, c, y = expression
    found = nodes(draw_graph(y))
    by_name = {tensor_name(v): v for k, v in found.items() if k.startswith("t")}
    fills = {name: re.search(r'fillcolor="(#\w+)"', by_name[name]).group(1) for name in ("a", "c", "ab", "y")}
    assert len(set(fills.values())) == 4  # parameter, input, intermediate, output all differ
    assert "peripheries=2" in by_name["y"]
    source = draw_graph(y).source
    for text in ("Legend", "input / constant", "parameter", "intermediate", "output"):
        assert text in source
    assert "Legend" not in draw_graph(y, legend=False).source


def test_shared_input_gives_two_edges_and_one_node():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    graph = draw_graph((x * x).sum())
    assert sum(1 for k in nodes(graph) if k.startswith("t")) == 3
    assert named_structure(graph).count(("x", "mul")) == 2


def test_values_for_small_tensors_and_stats_for_big_ones():
    small = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    big = Tensor(np.arange(100, dtype=np.float32), requires_grad=True)
    source = draw_graph((small.sum() + big.sum()), value_limit=8).source
    assert "[1., 2., 3.]" in source
    assert "mean 49.5" in source and "std 28.9" in source and "min 0" in source and "max 99" in source
    assert "mean 49.5" not in draw_graph(big.sum(), show_values=False).source
    assert "(100,) float32" in source and "scalar float32" in source


def test_leaf_and_empty_tensors_are_drawn():
    graph = draw_graph(Tensor([1.0, 2.0], name="alone"))
    assert list(nodes(graph)) == ["t0"] and "alone" in graph.source and not edges(graph)
    empty = Tensor(np.zeros((0, 3), np.float32), requires_grad=True)
    assert "empty" in draw_graph(empty.sum()).source


def test_module_and_params_names_appear():
    model = small_mlp()
    loss = mlp_loss(model)
    source = draw_graph(loss, module=model).source
    for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "<B>x</B>"):
        assert name in source
    w = model.fc1.weight
    assert "first_layer" in draw_graph(loss, params={"first_layer": w}).source
    assert "fc1.weight" not in draw_graph(loss).source


def test_graph_released_by_backward_is_a_clear_error(expression):
    *_, y = expression
    y.backward()
    with pytest.raises(GraphReleasedError, match="backward_for_drawing"):
        draw_graph(y)


def test_unrecorded_op_is_drawn_as_a_constant():
    with no_grad():
        frozen = Tensor([1.0, 2.0], requires_grad=True) * 2
    w = Tensor([3.0, 4.0], requires_grad=True)
    graph = draw_graph((frozen * w).sum())
    assert "from mul (not recorded)" in graph.source
    assert sorted(op_label(v) for k, v in nodes(graph).items() if k.startswith("op")) == ["mul", "sum"]


def test_scalar_constants_are_written_into_their_op():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    half = Tensor(0.5, name="half")
    y = ((x * 2 - 1) * half + (1 - x)).sum()
    graph = draw_graph(y)
    found = nodes(graph)
    ops = sorted(op_label(v) for k, v in found.items() if k.startswith("op"))
    assert ops == ["add", "mul", "mul", "sub", "sub", "sum"]
    assert (
        "mul</B>(·, 2)" in graph.source
        and "sub</B>(·, 1)" in graph.source
        and "sub</B>(1, ·)" in graph.source
    )
    names = [tensor_name(v) for k, v in found.items() if k.startswith("t")]
    assert names.count("half") == 1  # a named constant stays a node
    assert len(names) == 2 + 6  # x, half and the six op results: no nodes for 2, 1 and 1
    assert all(a in found and b in found for a, b in edges(graph))


def test_several_roots_are_all_outputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    graph = draw_graph([x.sum(), (x * 2).mean()])
    assert graph.source.count("peripheries=2") == 2


def test_bad_arguments_are_rejected(expression):
    *_, y = expression
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(y, rankdir="sideways")
    with pytest.raises(ValueError, match="collapse"):
        draw_graph(y, collapse="boxes")
    with pytest.raises(TypeError, match="Tensor"):
        draw_graph([np.ones(2)])
    with pytest.raises(TypeError, match="named_parameters"):
        draw_graph(y, module=object())
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(y, max_nodes=1)
    backward_for_drawing(y)
    with pytest.raises(ValueError, match="grad_range"):
        draw_graph(y, grad_range=(1.0, 0.1))


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_rankdir(expression, rankdir):
    *_, y = expression
    assert f"rankdir={rankdir}" in draw_graph(y, rankdir=rankdir).source


# ---------------------------------------------------------------- gradients
def test_gradient_annotations_only_after_backward(expression):
    *_, y = expression
    before = draw_graph(y).source
    assert not GRAD_MARKS.search(before)
    backward_for_drawing(y)
    after = draw_graph(y)
    assert GRAD_MARKS.search(after.source)
    assert "grad [4., 5., 6.]" in after.source  # d y / d a = b
    assert "grad [1., 2., 3.]" in after.source  # d y / d b = a
    assert "grad [1., 1., 1.]" in after.source  # the intermediates were retained
    assert "mean |grad|" in after.source  # the scale in the legend
    assert "penwidth" in after.source
    assert not GRAD_MARKS.search(draw_graph(y, show_grads=False).source)


def test_retain_all_grads_marks_every_intermediate(expression):
    a, b, c, y = expression
    kept = retain_all_grads(y)
    assert {t.name for t in kept} == {"ab", "s", "y"}
    y.backward(retain_graph=True)
    assert all(t.grad is not None for t in kept)
    assert c.grad is None


def test_without_retained_intermediates_only_leaves_are_coloured(expression):
    *_, y = expression
    y.backward(retain_graph=True)
    source = draw_graph(y).source
    assert "grad [4., 5., 6.]" in source
    assert "grad [1., 1., 1.]" not in source
    assert "gradient not kept" in source
    assert 'color="#9e9e9e"' in source  # grey edges where no gradient was kept


def test_larger_gradient_is_thicker_and_zero_is_dashed():
    big = Tensor([1.0], requires_grad=True, name="big")
    small = Tensor([1.0], requires_grad=True, name="small")
    dead = Tensor([-1.0], requires_grad=True, name="dead")
    y = (big * 100.0 + small * 0.001 + dead.relu()).sum()
    backward_for_drawing(y)
    found = nodes(draw_graph(y))
    by_name = {tensor_name(v): v for v in found.values() if tensor_name(v)}
    width = {n: float(re.search(r"penwidth=([\d.]+)", by_name[n]).group(1)) for n in ("big", "small", "dead")}
    assert width["big"] > width["small"] >= width["dead"]
    assert "dashed" in by_name["dead"] and "dashed" not in by_name["small"]


def test_nonfinite_gradient_is_flagged():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        y = x.log().sum()
        backward_for_drawing(y)
    source = draw_graph(y).source
    assert "NaN/inf" in source and "#8e24aa" in source


def test_grad_scale():
    scale = GradScale(1e-6, 1.0)
    positions = [scale.position(10.0**k) for k in range(-7, 2)]
    assert positions == sorted(positions) and positions[0] == 0.0 and positions[-1] == 1.0
    assert scale.colour(1e-6) != scale.colour(1.0)
    assert auto_grad_range([0.3, 0.2]) == (1e-4, 1.0)  # at least four decades
    assert auto_grad_range([2e-9, 3.0]) == (1e-9, 10.0)
    with pytest.raises(ValueError):
        GradScale(0.0, 1.0)


# ---------------------------------------------------------------- modules
def test_group_by_module_uses_the_parameters_ops_consume():
    model = small_mlp()
    loss = mlp_loss(model)
    groups = group_by_module(loss, model)
    ops_by_group: dict[str | None, list[str]] = {}
    for t in topological_order(loss):
        if t.parents:
            ops_by_group.setdefault(groups.get(id(t)), []).append(t.op)
    assert ops_by_group == {"fc1": ["linear"], "fc2": ["linear"], None: ["relu", "cross_entropy"]}
    linear1 = next(t for t in topological_order(loss) if t.op == "linear" and groups[id(t)] == "fc1")
    assert linear1.parents[1:] == (model.fc1.weight, model.fc1.bias)  # x, then fc1's parameters


class HandWrittenLinear(nn.Module):
    """A layer spelled out as three ops, `x @ weight.T + bias`: grouping must still find its module."""

    def __init__(self, layer: nn.Linear):
        super().__init__()
        self.weight, self.bias = layer.weight, layer.bias

    def forward(self, x):
        return x @ self.weight.T + self.bias


def test_group_by_module_gathers_a_layer_of_several_ops():
    fused = small_mlp()
    model = nn.Sequential({"fc1": HandWrittenLinear(fused.fc1), "act": nn.ReLU(), "fc2": fused.fc2})
    loss = mlp_loss(model)
    groups = group_by_module(loss, model)
    ops_by_group: dict[str | None, list[str]] = {}
    for t in topological_order(loss):
        if t.parents:
            ops_by_group.setdefault(groups.get(id(t)), []).append(t.op)
    assert ops_by_group == {
        "fc1": ["transpose", "matmul", "add"],
        "fc2": ["linear"],
        None: ["relu", "cross_entropy"],
    }
    found = nodes(draw_graph(loss, module=model, collapse=True))
    assert "3 ops: transpose, matmul, add" in found["m0"] and "1 op: linear (x·Wᵀ + b)" in found["m1"]


def test_op_mixing_two_modules_belongs_to_neither():
    model = small_mlp()
    penalty = (model.fc1.weight * model.fc1.weight).sum() + (model.fc2.weight * model.fc2.weight).sum()
    groups = group_by_module(penalty, model)
    assert id(penalty) not in groups
    assert sorted(groups.values()) == ["fc1", "fc1", "fc2", "fc2"]


def test_cluster_mode_frames_each_module():
    model = small_mlp()
    graph = draw_graph(mlp_loss(model), module=model, collapse="cluster")
    assert graph.source.count("subgraph cluster_m") == 2
    assert "fc1 (Linear)" in graph.source and "fc2 (Linear)" in graph.source
    found = nodes(graph)
    assert len([k for k in found if k.startswith("op")]) == 4  # nothing hidden: linear, relu, linear, loss
    assert (
        len([k for k in found if k.startswith("t")]) == 10
    )  # x, 2 x (weight, bias), h, relu(h), logits, labels, loss
    structure = named_structure(graph)
    assert len(structure) == 13
    for name in ("x", "fc1.weight", "fc1.bias"):
        assert (name, "linear") in structure
    for name in ("fc2.weight", "fc2.bias"):
        assert (name, "linear") in structure
    # each module's frame holds its linear op and its two parameters
    for k, layer in ((0, "fc1"), (1, "fc2")):
        frame = re.search(rf"subgraph cluster_m{k} \{{(.*?)\n\s*\}}", graph.source, flags=re.S).group(1)
        assert f"label={layer}" in frame or f'label="{layer} (Linear)"' in frame
        assert frame.count("<B>linear</B>") == 1
        assert f"{layer}.weight" in frame and f"{layer}.bias" in frame


def test_linear_op_says_what_it_computes():
    x = Tensor(np.ones((2, 3), np.float32), name="x")
    w = Tensor(np.ones((4, 3), np.float32), requires_grad=True, name="w")
    b = Tensor(np.zeros(4, np.float32), requires_grad=True, name="b")
    graph = draw_graph(x.linear(w, b).sum())
    with_bias = nodes(graph)
    labels = [v for k, v in with_bias.items() if k.startswith("op") and op_label(v) == "linear"]
    assert len(labels) == 1 and '<B>linear</B><BR/><FONT POINT-SIZE="10">x·Wᵀ + b</FONT>' in labels[0]
    # inputs are drawn in argument order (ordering=in follows the edge order), as the formula reads
    assert "ordering=in" in labels[0]
    into_linear = [a for a, b in named_structure(graph) if b == "linear"]
    assert into_linear == ["x", "w", "b"]
    without = nodes(draw_graph(x.linear(w).sum()))
    (label,) = [v for k, v in without.items() if k.startswith("op") and op_label(v) == "linear"]
    assert "x·Wᵀ<" in label and "+ b" not in label
    summed = [v for k, v in without.items() if k.startswith("op") and op_label(v) == "sum"]
    assert "<BR/>" not in summed[0]  # ops that are one step keep a one-line label


def test_collapsed_modules_are_single_nodes():
    model = small_mlp()
    loss = mlp_loss(model)
    backward_for_drawing(loss)
    graph = draw_graph(loss, module=model, collapse=True)
    found = nodes(graph)
    modules = sorted(k for k in found if k.startswith("m"))
    assert modules == ["m0", "m1"]
    assert sorted(op_label(v) for k, v in found.items() if k.startswith("op")) == ["cross_entropy", "relu"]
    assert (
        "weight (5, 6)" in found["m0"]
        and "|grad|" in found["m0"]
        and "1 op: linear (x·Wᵀ + b)" in found["m0"]
    )
    # x -> fc1 -> h -> relu -> h' -> fc2 -> logits -> cross_entropy -> loss, and labels -> cross_entropy
    assert len(edges(graph)) == 9
    assert "fc1.weight" not in graph.source  # parameters live inside their module's box


def test_collapse_without_modules_says_so(expression):
    *_, y = expression
    graph = draw_graph(y, collapse=True)
    assert "no module groups" in graph.source
    assert len(nodes(graph)) == 9


# ---------------------------------------------------------------- big graphs
def test_big_graph_is_trimmed_with_a_note():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = x
    for i in range(2000):
        y = y * 1.001 if i % 2 else y + 1.0
    graph = draw_graph(y.sum(), max_nodes=300)
    found = nodes(graph)
    assert len(found) == 300 and "more" in found
    assert "more nodes" in found["more"]
    assert "summarised" in graph.source
    from_more = [b for a, b in edges(graph) if a == "more"]
    assert from_more and all(b in found for b in from_more)
    assert all(a in found and b in found for a, b in edges(graph))
    assert any("peripheries=2" in v for v in found.values())  # the output is kept


def test_big_model_is_collapsed_automatically():
    rng = np.random.default_rng(0)
    layers: list[nn.Module] = []
    for _ in range(150):
        layers += [nn.Linear(4, 4, rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers)
    loss = model(Tensor(np.ones((2, 4), np.float32))).sum()
    graph = draw_graph(loss, module=model, max_nodes=750)  # ~900 nodes flat, ~600 collapsed
    assert "collapsed automatically" in graph.source and "summarised" not in graph.source
    assert len([k for k in nodes(graph) if k.startswith("m")]) == 150
    assert not any(k.startswith("op") and op_label(v) == "linear" for k, v in nodes(graph).items())


@needs_dot
def test_thousands_of_nodes_render_quickly(tmp_path):
    rng = np.random.default_rng(0)
    ts = [Tensor(rng.random(4).astype(np.float32), requires_grad=True) for _ in range(20)]
    for i in range(3000):
        a, b = rng.integers(0, len(ts), 2)
        ts.append(ts[a] * ts[b] if i % 2 else ts[a] + ts[-1])
    loss = sum(ts[-50:], Tensor(0.0)).sum()
    path = render(loss, tmp_path / "big.svg", timeout=120)
    assert ET.parse(path).getroot().tag.endswith("svg")


# ---------------------------------------------------------------- rendering
def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_render_png_svg_pdf(expression, tmp_path):
    *_, y = expression
    graph = draw_graph(y)
    png = render(graph, tmp_path / "g.png")
    width, height = png_size(png)
    assert width > 50 and height > 50
    assert png.stat().st_size > 5000
    svg = render(graph, tmp_path / "g.svg")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "mul" in svg.read_text()
    pdf = render(y, tmp_path / "g.pdf")  # a tensor is drawn first
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pdf", "g.png", "g.svg"]  # no temp files


@needs_dot
def test_png_dpi_changes_size(expression, tmp_path):
    *_, y = expression
    low = png_size(render(y, tmp_path / "low.png", dpi=50))
    high = png_size(render(y, tmp_path / "high.png", dpi=150))
    assert high[0] > 2 * low[0]


@needs_dot
def test_format_argument_and_suffixes(expression, tmp_path):
    *_, y = expression
    graph = draw_graph(y)
    assert render(graph, tmp_path / "noext", format="svg") == tmp_path / "noext.svg"
    with pytest.raises(ValueError, match="contradicts"):
        render(graph, tmp_path / "a.png", format="svg")
    with pytest.raises(ValueError, match="suffix"):
        render(graph, tmp_path / "a.txt")
    with pytest.raises(ValueError, match="unknown format"):
        render(graph, tmp_path / "a", format="jpeg2000")
    with pytest.raises(TypeError, match="only apply"):
        render(graph, tmp_path / "a.svg", rankdir="TB")
    nested = render(graph, tmp_path / "new" / "dir" / "g.svg")
    assert nested.exists()


def test_dot_source_needs_no_graphviz(expression, tmp_path, monkeypatch):
    *_, y = expression
    monkeypatch.setenv("PATH", str(tmp_path))
    path = render(y, tmp_path / "g.dot")
    assert path.read_text().startswith("// tinygrad_mnist computation graph")


def test_missing_dot_is_a_clear_error_and_writes_the_source(expression, tmp_path, monkeypatch):
    *_, y = expression
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GraphvizNotFoundError) as info:
        render(draw_graph(y), tmp_path / "out" / "g.png")
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in message
    source = tmp_path / "out" / "g.dot"
    assert str(source) in message
    assert "digraph" in source.read_text() and "mul" in source.read_text()
    assert not (tmp_path / "out" / "g.png").exists()


@needs_dot
def test_failed_render_keeps_the_old_file(tmp_path):
    target = tmp_path / "g.svg"
    target.write_text("old")
    broken = graphviz.Digraph()
    broken.node("x", label="<<B>unclosed>")
    with pytest.raises(GraphvizError, match="dot failed"):
        render(broken, target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["g.svg"]


@needs_dot
def test_jupyter_display_still_works(expression):
    *_, y = expression
    bundle = draw_graph(y)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


# ---------------------------------------------------------------- the MNIST model
@needs_dot
def test_mnist_mlp_loss_graph_renders(tmp_path):
    model = build_model("mlp-128")
    rng = np.random.default_rng(0)
    images = Tensor(rng.random((8, 784), dtype=np.float32))
    loss = nn.CrossEntropyLoss()(model(images), rng.integers(0, 10, 8))
    backward_for_drawing(loss)
    start = time.perf_counter()
    graph = draw_graph(loss, module=model)
    path = render(graph, tmp_path / "mlp.png")
    elapsed = time.perf_counter() - start
    print(f"784-128-10 MLP loss graph: drawn and rendered in {elapsed:.3f} s")
    found = nodes(graph)
    ops = [op_label(v) for k, v in found.items() if k.startswith("op")]
    assert sorted(ops) == sorted(["linear", "relu", "linear", "cross_entropy"])
    assert (
        len(edges(graph)) == 13
    )  # x, fc1.weight, fc1.bias -> linear -> ... -> cross_entropy (with labels) -> loss
    assert "fc1.weight" in graph.source and "(128, 784) float32" in graph.source
    width, height = png_size(path)
    assert width > 500 and height > 100
