"""POST /api/backprop: the stepping page for the digit on the page, with one SGD step's effect.

Models are built here from seeded registry architectures, so these tests need no shipped weights."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from servetools import request, running_server

from tinygrad_mnist.models import build_model
from tinygrad_mnist.pretrained import LoadedWeights
from tinygrad_mnist.serve import Models


def seeded_models() -> Models:
    weights = {
        name: LoadedWeights(build_model(name, seed=1), {"model": name}, f"seeded {name}", Path(name))
        for name in ("relu-10", "sigmoid-16-16")
    }
    weights["custom"] = LoadedWeights(
        build_model("relu-10"), {}, "a checkpoint of no registry model", Path("c")
    )
    return Models(weights, "relu-10")


@pytest.fixture(scope="module")
def server():
    with running_server(seeded_models()) as server:
        yield server


def pixels(seed: int = 0) -> list:
    return np.round(np.random.default_rng(seed).random((28, 28)), 3).tolist()


def post(server, payload, path="/api/backprop", content_type="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(server, "POST", path, body, {"Content-Type": content_type})


def test_the_page_steps_through_this_digit_and_reports_one_sgd_step(server):
    status, _, result = post(server, {"pixels": pixels(), "label": 7}, "/api/backprop?model=sigmoid-16-16")
    assert status == 200, result
    assert result["model"] == "sigmoid-16-16" and result["label"] == 7
    page = result["html"]
    assert page.startswith("<!DOCTYPE html>") and "true label 7" in page and "<svg" in page
    steps = json.loads(re.search(r"type='application/json'>(.*?)</script>", page, re.S).group(1))["steps"]
    assert steps[-1]["label"] == "fc1.weight" and sum(len(s["annotations"]) for s in steps) == 10
    sgd = result["sgd"]
    assert sgd["lr"] == 3.0 and len(sgd["before"]) == len(sgd["after"]) == 10
    assert (
        sgd["after"][7] > sgd["before"][7]
    )  # a step down the gradient of this digit's loss favours its label
    assert "from 0." in sgd["summary"] and html_escaped(sgd["summary"]) in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_the_served_model_is_left_as_it_was(server):
    model = server.models.weights["relu-10"].model
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    status, _, _ = post(server, {"pixels": pixels(1), "label": 3, "model": "relu-10"})
    assert status == 200
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[n])
        assert p.grad is None, n


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"pixels": pixels(), "label": 10}, "'label' must be the true digit, an integer 0-9, got 10"),
        ({"pixels": pixels(), "label": True}, "'label' must be the true digit"),
        ({"pixels": pixels()}, "got None"),
        ({"pixels": pixels(), "label": 1, "extra": 1}, "unknown field(s) 'extra'"),
        ({"pixels": [[0.5] * 3], "label": 1}, "'pixels' must have shape (28, 28)"),
        ({"pixels": pixels(), "label": 1, "model": "nope"}, "unknown model 'nope'"),
        ({"pixels": pixels(), "label": 1, "model": "custom"}, "not a registry architecture"),
    ],
)
def test_bad_requests_say_what_is_wrong(server, payload, fragment):
    status, _, result = post(server, payload)
    assert status in (400, 404) and fragment in result["error"], result


def test_only_json_is_accepted(server):
    status, _, result = post(server, b"\x89PNG", content_type="image/png")
    assert status == 415 and "send JSON" in result["error"]
