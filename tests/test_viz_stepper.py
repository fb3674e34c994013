"""The stepping page: one self-contained file whose data is the trace, with ids that match its SVG."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tinygrad_mnist import Tensor
from tinygrad_mnist.models import build_model
from tinygrad_mnist.recipes import get_recipe, make_loss
from tinygrad_mnist.viz import trace_backward, write_backprop_page
from tinygrad_mnist.viz.stepper import SMALL, tensor_view, trace_json

pytestmark = pytest.mark.usefixtures("needs_dot")


@pytest.fixture
def needs_dot():
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` is not installed")


def page_data(text: str) -> dict:
    match = re.search(r"<script id='trace' type='application/json'>(.*?)</script>", text, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def expression():
    a = Tensor([1.0, -2.0], requires_grad=True, name="a")
    w = Tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True, name="w")
    h = (a @ w).tanh()
    return (h * h + h.exp()).sum(), a, w


def test_the_page_is_self_contained_and_its_steps_are_the_trace(tmp_path):
    loss, a, w = expression()
    path = write_backprop_page(loss, tmp_path / "sub" / "page.html", title="x <b>")
    text = path.read_text(encoding="utf-8")
    assert "<svg" in text and "x &lt;b&gt;" in text
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)  # no CDN, nothing fetched
    data = page_data(text)
    steps = data["steps"]
    assert [s["label"] for s in steps][-2:] in (["w", "a"], ["a", "w"])
    titles = set(re.findall(r"<title>([^<]*)</title>", text))
    for s in steps:
        assert s["node"] in titles and (s["op_node"] is None or s["op_node"] in titles)
        for h in s["handed"]:
            assert h["edge"] is None or h["edge"].replace("->", "&#45;&gt;") in titles
    leaf = {s["label"]: s for s in steps}
    np.testing.assert_allclose(leaf["a"]["grad"]["values"], a.grad, rtol=1e-6)
    np.testing.assert_allclose(leaf["w"]["grad"]["values"], w.grad.reshape(-1), rtol=1e-6)


def test_ids_follow_the_engine_order_of_a_model_and_big_tensors_become_heat_maps():
    model = build_model("sigmoid-16-16")
    x = Tensor(np.random.default_rng(0).random((1, 784), dtype=np.float32))
    loss = make_loss(get_recipe("sigmoid-16-16").loss)(model(x), np.array([2]))
    trace = trace_backward(loss, module=model)
    data = trace_json(trace)
    assert [s["index"] for s in data["steps"]] == list(range(len(trace.steps)))
    fc1 = data["steps"][-1]
    assert fc1["label"] == "fc1.weight" and fc1["grad"]["shape"] == [16, 784]
    assert "values" not in fc1["grad"] and len(fc1["grad"]["heat"]) == 16
    assert fc1["grad"]["stats"]["max"] == pytest.approx(float(model.fc1.weight.grad.max()), rel=1e-6)
    assert all(s["check"]["passed"] for s in data["steps"] if s["check"])


def test_tensor_view_in_full_when_small_and_summarised_when_large():
    small = tensor_view(np.arange(SMALL, dtype=np.float32))
    assert small["values"] == list(range(SMALL)) and "heat" not in small
    big = tensor_view(np.ones((40, 100)))
    assert "values" not in big and len(big["heat"]) == 32 and len(big["heat"][0]) == 64
    assert big["stats"] == {"min": 1.0, "max": 1.0, "mean": 1.0}
    assert tensor_view(np.zeros((0, 3)))["size"] == 0
    assert "tiles" not in big  # 100 is a square, but 10x10 tiles are too small to say anything


def test_rows_of_square_length_become_tiles_up_to_a_limit():
    rows = np.arange(3 * 784, dtype=np.float64).reshape(3, 784)
    tiles = tensor_view(rows)["tiles"]
    assert tiles["side"] == 28 and len(tiles["rows"]) == 3 and tiles["rows"][1][5] == 789.0
    assert "tiles" not in tensor_view(np.ones((65, 784)))  # too many rows: the heat map only
    assert "tiles" not in tensor_view(np.ones((3, 780)))


def test_bad_input_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="Tensor or a BackwardTrace"):
        write_backprop_page(np.ones(2), tmp_path / "x.html")
