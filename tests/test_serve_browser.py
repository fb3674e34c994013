"""The draw-a-digit page in a real headless Chromium (Debian's chromium + chromium-driver, via selenium).

Strokes are drawn with mouse events; the test reads what the page shows. Set
TINYGRAD_MNIST_SCREENSHOTS=DIR to keep the screenshots (docs/images/page.png is made this way).
Skips only when Chromium is not installed and CI is not set: in CI it must run.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from browsertools import headless_chromium, require_browser, wait_for
from clitools import ROOT
from PIL import Image
from servetools import request, running_server


@pytest.fixture(scope="module")
def page():
    """(driver, server): Chromium showing the page of a live server on a free port of 127.0.0.1."""
    require_browser()
    with running_server() as server, headless_chromium() as driver:
        driver.get(server.url)
        wait_for(driver, lambda d: len(d.find_elements("css selector", "#filters canvas")) > 0)
        yield driver, server


def predictions_shown(driver) -> int:
    return int(driver.find_element("id", "digit").get_attribute("data-count") or 0)


def draw(driver, points: list[tuple[int, int]]) -> None:
    """One stroke through `points` (pixels from the canvas centre) with mouse down, moves, mouse up."""
    from selenium.webdriver.common.action_chains import ActionChains

    pad = driver.find_element("id", "pad")
    actions = ActionChains(driver).move_to_element_with_offset(pad, *points[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for t in np.linspace(0, 1, 8)[1:]:
            actions.move_to_element_with_offset(pad, round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0)))
    actions.release().perform()


def draw_and_read(driver, points) -> tuple[str, list[str]]:
    before = predictions_shown(driver)
    draw(driver, points)
    wait_for(driver, lambda d: predictions_shown(d) > before)
    bars = driver.find_elements("css selector", "#bars .bar")
    return driver.find_element("id", "digit").text, [
        b.find_element("css selector", ".value").text for b in bars
    ]


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(2400, height + 140))  # the whole page (window chrome: ~140 px)
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1300)
    keep = os.environ.get("TINYGRAD_MNIST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


SEVEN = [(-70, -95), (75, -95), (-10, 105)]  # a bar across the top, then down to the left
ONE = [(0, -100), (0, 100)]


def test_drawing_a_digit_shows_the_prediction_and_ten_bars(page, tmp_path):
    driver, _ = page
    digit, bars = draw_and_read(driver, SEVEN)
    assert digit == "7"
    assert len(bars) == 10 and all(b.endswith("%") for b in bars)
    assert float(bars[7].rstrip("%")) > 50
    assert driver.find_element("id", "status").text == ""
    layers = driver.find_elements("css selector", "#activations .layer")
    assert [len(layer.find_elements("css selector", ".cell")) for layer in layers] == [256, 256]
    assert "gradient of the logit of 7" in driver.find_element("id", "saliency-of").text
    # What the model sees: the 28x28 canvas holds a white digit on black, as MNIST does.
    seen = driver.execute_script(
        "const c = document.getElementById('model-input');"
        "return Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data);"
    )
    gray = np.array(seen).reshape(28, 28, 4)[..., 0]
    assert gray[0].max() == 0 and gray.max() > 200
    screenshot(driver, tmp_path, "page.png")


def test_the_canvas_export_is_black_on_transparent_and_reads_like_white_on_black(page):
    """The PNG the page posts, as Chromium makes it, against the same strokes white on black."""
    driver, server = page
    data_url = driver.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    exported = base64.b64decode(data_url.split(",", 1)[1])
    export = Image.open(io.BytesIO(exported))
    assert export.mode == "RGBA" and export.size == (280, 280)
    rgba = np.asarray(export)
    alpha = rgba[..., 3]
    assert alpha[0, 0] == 0 and alpha.max() == 255  # transparent background, opaque strokes
    assert rgba[alpha == 255][:, :3].max() == 0  # the strokes are black
    white_on_black = io.BytesIO()
    Image.fromarray(alpha).save(white_on_black, format="PNG")
    answers = []
    for body in (exported, white_on_black.getvalue()):
        status, _, answer = request(server, "POST", "/api/predict", body, {"Content-Type": "image/png"})
        assert status == 200, answer
        answers.append(answer)
    assert answers[0]["digit"] == answers[1]["digit"] == 7
    np.testing.assert_allclose(answers[0]["probabilities"], answers[1]["probabilities"], atol=1e-4)


def test_model_picker_clear_and_upload(page, tmp_path):
    from selenium.webdriver.support.ui import Select

    driver, _ = page
    before = predictions_shown(driver)
    Select(driver.find_element("id", "model")).select_by_value("sigmoid-16-16")  # re-reads the drawing
    wait_for(driver, lambda d: predictions_shown(d) > before)
    wait_for(driver, lambda d: len(d.find_elements("css selector", "#filters canvas")) == 16)
    layers = driver.find_elements("css selector", "#activations .layer")
    assert [len(layer.find_elements("css selector", ".cell")) for layer in layers] == [16, 16]
    assert "sigmoid-16-16" in driver.find_element("id", "weights-label").text
    screenshot(driver, tmp_path, "page_sigmoid.png")

    driver.find_element("id", "clear").click()
    assert driver.find_element("id", "digit").text == ""
    assert driver.find_elements("css selector", "#bars .bar") == []

    digit, bars = draw_and_read(driver, ONE)
    assert digit == "1" and len(bars) == 10

    before = predictions_shown(driver)
    driver.find_element("id", "upload").send_keys(str(ROOT / "tinygrad_mnist/sample_digits/three.jpg"))
    wait_for(driver, lambda d: predictions_shown(d) > before)
    assert driver.find_element("id", "digit").text == "3"


def test_an_upload_that_is_not_an_image_shows_the_servers_error(page, tmp_path):
    driver, _ = page
    bogus = tmp_path / "notes.png"
    bogus.write_text("not a picture")
    driver.find_element("id", "upload").send_keys(str(bogus))
    wait_for(driver, lambda d: "error" in d.find_element("id", "status").get_attribute("class"))
    assert "not an image" in driver.find_element("id", "status").text
