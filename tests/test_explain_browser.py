"""The backprop stepping page in a real headless Chromium, opened offline from a file, driven by the keyboard.

The test never reads the page's JSON: it reads what is highlighted in the SVG and the numbers printed,
and compares them with the engine (an independent log of backward calls, and `.grad`). Set
TINYGRAD_MNIST_SCREENSHOTS=DIR to keep screenshots (docs/images/explain-*.png are made this way).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from browsertools import headless_chromium, wait_for

from tinygrad_mnist import Tensor
from tinygrad_mnist.autograd import Function, topological_order
from tinygrad_mnist.backprop_steps import explain_digit
from tinygrad_mnist.models import build_model
from tinygrad_mnist.viz import retain_all_grads, write_backprop_page

BACKWARD_CALLS: list[int] = []  # id(output) of each Noted op, in the order the engine runs its backward


class Noted(Function):
    """Identity that logs when the engine runs its backward (what the page must replay, independently)."""

    formula = "x"

    def forward(self, x):
        return x.copy()

    def backward(self, g, out, x):
        BACKWARD_CALLS.append(self.output_id)
        return (g,)


def noted(t: Tensor) -> Tensor:
    out = Noted.apply(t)
    out._ctx.output_id = id(out)
    return out


def small_graph():
    rng = np.random.default_rng(0)
    a = Tensor(rng.standard_normal(3), requires_grad=True, name="a")
    w = Tensor(rng.standard_normal((3, 3)), requires_grad=True, name="w")
    h = noted((w @ a).tanh())
    loss = noted((noted(h * h) + noted(h.exp()) * a).sum())
    return loss, a, w


def shown_values(driver, css: str) -> np.ndarray:
    cells = driver.find_elements("css selector", f"{css} .cell")
    return np.array([float(c.text) for c in cells])


def press(driver, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def screenshot(driver, name: str) -> None:
    keep = os.environ.get("TINYGRAD_MNIST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / name))


@pytest.fixture(scope="module")
def browser():
    with headless_chromium("1400,1000") as driver:
        yield driver


def test_stepping_with_the_keyboard_replays_the_engines_backward(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    loss, a, w = small_graph()
    kept = retain_all_grads(loss)  # so every step's gradient can be compared with a .grad
    BACKWARD_CALLS.clear()
    page = write_backprop_page(loss, tmp_path / "small.html", title="small graph")
    order = {id(t): f"t{i}" for i, t in enumerate(topological_order(loss))}  # the SVG's node titles
    by_node = {f"t{i}": t for i, t in enumerate(topological_order(loss))}

    browser.get(page.as_uri())
    wait_for(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-step") == "-1")
    highlighted = []
    for k in range(len(kept) + 2):  # every op output and the two leaves
        press(browser, Keys.ARROW_RIGHT)
        assert browser.find_element("tag name", "body").get_attribute("data-step") == str(k)
        current = browser.find_elements("css selector", "#graph g.node.current")
        titles = {g.find_element("tag name", "title").get_attribute("textContent") for g in current}
        tensor_titles = sorted(t for t in titles if t.startswith("t"))
        assert len(tensor_titles) == 1, titles
        highlighted.append(tensor_titles[0])
        tensor = by_node[tensor_titles[0]]
        np.testing.assert_allclose(shown_values(browser, ".own-grad"), tensor.grad.reshape(-1), rtol=1e-5)
        if k == 3:
            screenshot(browser, "explain-small.png")
    # the highlighted order is the engine's: newest first, and the Noted ops where the engine ran them
    engine_order = [t for t in sorted(by_node, key=lambda n: -by_node[n]._id) if by_node[t].requires_grad]
    assert highlighted == engine_order
    noted_in_page = [id(by_node[t]) for t in highlighted if by_node[t].op == "noted"]
    assert noted_in_page == BACKWARD_CALLS and len(BACKWARD_CALLS) == 4
    assert {order[id(a)], order[id(w)]} == set(highlighted[-2:])

    press(browser, Keys.ARROW_RIGHT)  # past the end: stays on the last step
    assert browser.find_element("tag name", "body").get_attribute("data-step") == str(len(highlighted) - 1)
    for _ in highlighted:
        press(browser, Keys.ARROW_LEFT)
    assert browser.find_element("tag name", "body").get_attribute("data-step") == "-1"
    assert not browser.find_elements("css selector", "#graph g.node.current")
    assert not browser.find_elements("css selector", "#graph g.edge.carries")


def test_coloured_edges_grow_step_by_step_and_buttons_work(browser, tmp_path):
    loss, _, _ = small_graph()
    browser.get(write_backprop_page(loss, tmp_path / "s.html").as_uri())
    counts = []
    for _ in range(4):
        browser.find_element("id", "next").click()
        counts.append(len(browser.find_elements("css selector", "#graph g.edge.carries")))
    assert counts == sorted(counts) and counts[0] >= 1 and counts[-1] > counts[0]
    browser.find_element("id", "prev").click()
    assert browser.find_element("tag name", "body").get_attribute("data-step") == "2"
    browser.find_element("id", "play").click()
    wait_for(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-step") == "4", 10)


def test_a_classic_network_shows_the_hand_derived_values(browser, tmp_path, mnist_dir):
    from selenium.webdriver.common.keys import Keys

    from tinygrad_mnist.recipes import mnist_test_arrays

    model = build_model("relu-10", seed=2)
    images, labels = mnist_test_arrays(mnist_dir, 1, download=False)  # test image 0, a 7
    page = explain_digit("relu-10", model, images[0], int(labels[0]), tmp_path / "relu.html", "seeded")
    browser.get(page.as_uri())
    for _ in range(2):  # loss, then fc2's output: dZ2 = A2 - Y
        press(browser, Keys.ARROW_RIGHT)
    cards = browser.find_elements("css selector", ".handderived")
    assert len(cards) == 1 and "dZ2" in cards[0].text and "derivation" in cards[0].text
    hand, autograd = shown_values(browser, ".hand-value"), shown_values(browser, ".own-grad")
    assert hand.size == autograd.size == 10
    np.testing.assert_allclose(hand, autograd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(autograd, model.fc2.bias.grad, rtol=1e-5)  # dZ2 = db2 for one sample
    screenshot(browser, "explain-relu-10.png")
    for _ in range(6):
        press(browser, Keys.ARROW_RIGHT)
    assert "fc1.weight" in browser.find_element("id", "current").text
    assert "dW1" in browser.find_element("css selector", ".handderived").text
    assert len(browser.find_elements("css selector", ".own-grad canvas.tile")) == 10  # a 28x28 tile per row
    screenshot(browser, "explain-relu-10-fc1.png")


def test_the_draw_a_digit_page_opens_the_stepper_for_its_digit(browser):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    from servetools import running_server
    from test_serve_backprop import seeded_models

    with running_server(seeded_models()) as server:
        browser.get(server.url)
        wait_for(browser, lambda d: d.execute_script("return state.model") == "relu-10")
        image = np.zeros((28, 28))
        image[4:24, 13:16] = 1.0  # a stroke, as the model input (JSON pixels, MNIST's form)
        browser.execute_script("predict(arguments[0], 'application/json')", json_pixels(image))
        wait_for(browser, lambda d: d.find_element("id", "step-backprop").is_enabled())
        Select(browser.find_element("id", "true-label")).select_by_value("1")
        first = browser.current_window_handle
        browser.find_element("id", "step-backprop").click()
        wait_for(browser, lambda d: len(d.window_handles) == 2)
        assert "one SGD step on this digit (lr = 0.1" in browser.find_element("id", "sgd-effect").text
        browser.switch_to.window([h for h in browser.window_handles if h != first][0])
        try:
            wait_for(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-step") == "-1")
            assert "true label 1" in browser.find_element("css selector", ".subtitle").text
            press(browser, Keys.ARROW_RIGHT)
            press(browser, Keys.ARROW_RIGHT)
            assert "dZ2" in browser.find_element("css selector", ".handderived").text
        finally:
            browser.close()
            browser.switch_to.window(first)


def json_pixels(image: np.ndarray) -> str:
    import json

    return json.dumps({"pixels": image.tolist()})
