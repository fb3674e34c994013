"""The page's JSON API over real HTTP: answers, saliency by backward(), and every kind of bad request."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from clitools import ROOT, assert_one_line_error, run_cli
from PIL import Image
from servetools import request, running_server

from tinygrad_mnist import Tensor
from tinygrad_mnist.predict import predict_proba, preprocess_image
from tinygrad_mnist.pretrained import load_shipped
from tinygrad_mnist.serve import Models
from tinygrad_mnist.serve.explain import explain
from tinygrad_mnist.serve.server import STATIC_DIR

SEVEN = ROOT / "tinygrad_mnist/sample_digits/seven.png"


@pytest.fixture(scope="module")
def server():
    with running_server(Models.load(), max_body=256 * 1024) as server:
        yield server


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def predict_png(server, data: bytes, model: str = "mlp") -> dict:
    status, _, body = request(
        server, "POST", f"/api/predict?model={model}", data, {"Content-Type": "image/png"}
    )
    assert status == 200, body
    return body


def test_the_page_and_its_files_are_served_and_fetch_nothing_from_elsewhere(server):
    status, headers, page = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for name in ("app.js", "style.css"):
        assert f"/static/{name}".encode() in page
        status, _, data = request(server, "GET", f"/static/{name}")
        assert status == 200 and data == (STATIC_DIR / name).read_bytes()
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


def test_models_lists_the_shipped_weights(server):
    status, _, body = request(server, "GET", "/api/models")
    assert status == 200
    assert body["default"] == "mlp"
    assert [m["name"] for m in body["models"]][:2] == ["mlp", "sigmoid-16-16"]
    assert all("test accuracy" in m["label"] for m in body["models"])


def test_predict_a_png_matches_the_predict_command(server):
    body = predict_png(server, SEVEN.read_bytes())
    model = load_shipped("mlp").model
    expected = predict_proba(model, preprocess_image(SEVEN)[None])[0]
    assert body["digit"] == 7 == int(np.argmax(expected))
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(body["input"], preprocess_image(SEVEN), atol=1e-3)
    assert body["weights"].startswith("the shipped mlp weights")
    assert np.array(body["saliency"]).shape == (28, 28)
    assert [(a["layer"], len(a["values"])) for a in body["activations"]] == [("act1", 256), ("act2", 256)]


def test_predict_json_pixels_of_an_mnist_test_image(server, mnist_dir):
    from tinygrad_mnist.recipes import mnist_test_arrays

    x, y = mnist_test_arrays(mnist_dir, 20)
    model = load_shipped("sigmoid-16-16").model
    fc1 = model.fc1
    for image in x[:5]:
        payload = json.dumps({"pixels": image.reshape(28, 28).tolist(), "model": "sigmoid-16-16"}).encode()
        status, _, body = request(
            server, "POST", "/api/predict", payload, {"Content-Type": "application/json"}
        )
        assert status == 200, body
        np.testing.assert_allclose(body["probabilities"], predict_proba(model, image[None])[0], atol=1e-5)
        assert body["output"] == "scores" and body["saliency_of"] == f"sigmoid output of {body['digit']}"
        assert [(a["layer"], len(a["values"])) for a in body["activations"]] == [("act1", 16), ("act2", 16)]
        by_hand = 1 / (1 + np.exp(-(fc1.weight.data @ image + fc1.bias.data)))  # act1 = sigmoid(W1 x + b1)
        np.testing.assert_allclose(body["activations"][0]["values"], by_hand, atol=1e-4)
    assert sum(predict_proba(model, x).argmax(1) == y) >= 18


def test_saliency_is_the_input_gradient_of_the_predicted_score():
    """Checked two ways: against the hand-written chain rule of the sigmoid net, and by finite differences."""
    loaded = load_shipped("sigmoid-16-16")
    state = loaded.model.state_dict()
    image = preprocess_image(SEVEN).astype(np.float64)
    result = explain(loaded.model, image)
    # By hand: a1 = s(W1 x + b1), a2 = s(W2 a1 + b2), a3 = s(W3 a2 + b3); d a3[k] / d x.
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    W = [state[f"fc{i}.weight"].astype(np.float64) for i in (1, 2, 3)]
    b = [state[f"fc{i}.bias"].astype(np.float64) for i in (1, 2, 3)]
    a1 = sig(W[0] @ image.ravel() + b[0])
    a2 = sig(W[1] @ a1 + b[1])
    a3 = sig(W[2] @ a2 + b[2])
    k = result.digit
    delta3 = a3[k] * (1 - a3[k]) * W[2][k]
    delta2 = (delta3 * a2 * (1 - a2)) @ W[1]
    by_hand = ((delta2 * a1 * (1 - a1)) @ W[0]).reshape(28, 28)
    np.testing.assert_allclose(result.saliency, by_hand, rtol=1e-3, atol=1e-6)
    # Finite differences on the mlp (ReLU) through the public Tensor API, at the pixels that matter most.
    mlp = load_shipped("mlp").model
    result = explain(mlp, image)
    for flat in np.argsort(-np.abs(result.saliency).ravel())[:5]:
        eps = 1e-3
        bumped = [image.ravel().copy() for _ in range(2)]
        bumped[0][flat] += eps
        bumped[1][flat] -= eps
        up, down = (float(mlp(Tensor(v[None].astype(np.float32))).data[0, result.digit]) for v in bumped)
        assert (up - down) / (2 * eps) == pytest.approx(result.saliency.ravel()[flat], rel=0.05, abs=1e-3)
    assert all(p.grad is None for p in mlp.parameters())  # explaining leaves no gradients on the weights


def test_first_layer_weights(server):
    status, _, body = request(server, "GET", "/api/weights?model=sigmoid-16-16")
    assert status == 200 and body["layer"] == "fc1.weight" and body["units"] == 16
    np.testing.assert_allclose(
        body["weights"], load_shipped("sigmoid-16-16").model.fc1.weight.data, atol=1e-4
    )
    status, _, body = request(server, "GET", "/api/weights")  # the default model: 256 units, 64 sent
    assert body["units"] == 256 and len(body["weights"]) == 64 and len(body["weights"][0]) == 784


def test_a_canvas_export_is_predicted_as_well_as_white_on_black(server, mnist_dir):
    """The page sends black strokes on a transparent RGBA canvas; MNIST digits drawn that way at the
    canvas's size must be read exactly as the same digits white on black."""
    from tinygrad_mnist.recipes import mnist_test_arrays

    x, y = mnist_test_arrays(mnist_dir, 60)
    right = {"white on black": 0, "canvas export": 0}
    for image, label in zip(x, y):
        ink = Image.fromarray((image.reshape(28, 28) * 255).astype(np.uint8)).resize(
            (280, 280), Image.BILINEAR
        )
        canvas = Image.new("RGBA", ink.size, (0, 0, 0, 0))
        canvas.putalpha(ink)  # black where drawn, transparent elsewhere
        answers = {}
        for name, picture in (("white on black", ink), ("canvas export", canvas)):
            body = predict_png(server, png(picture))
            answers[name] = body["probabilities"]
            right[name] += body["digit"] == label
        np.testing.assert_allclose(answers["canvas export"], answers["white on black"], atol=1e-4)
    assert right["canvas export"] == right["white on black"] >= 56, right


def post(server, body: bytes, content_type: str | None = "image/png", path: str = "/api/predict"):
    headers = {"Content-Type": content_type} if content_type else {}
    return request(server, "POST", path, body, headers)


def raw_http(server, data: bytes) -> bytes:
    """Send bytes as they are (no client library fixing them up) and return the whole answer."""
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def json_pixels(pixels) -> bytes:
    return json.dumps({"pixels": pixels}).encode()


BLANK = png(Image.new("L", (100, 100), 255))
HUGE = png(Image.new("1", (5000, 5000), 0))  # a few kB that claim 25 megapixels


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels and holds none: Pillow refuses it on opening."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


BAD_REQUESTS = [  # (what, send, status, words in the error)
    ("unknown path", lambda s: request(s, "GET", "/api/nothing"), 404, ["/api/nothing"]),
    ("GET on predict", lambda s: request(s, "GET", "/api/predict"), 405, ["GET", "POST"]),
    ("DELETE on models", lambda s: request(s, "DELETE", "/api/models"), 405, ["DELETE"]),
    ("POST on the page", lambda s: post(s, b"x", path="/"), 405, ["page file"]),
    ("unknown model", lambda s: post(s, SEVEN.read_bytes(), path="/api/predict?model=resnet"), 404, ["resnet", "mlp"]),
    ("empty body", lambda s: post(s, b""), 400, ["empty"]),
    ("not an image", lambda s: post(s, b"GIF89a but not really a picture"), 400, ["not an image"]),
    ("truncated PNG", lambda s: post(s, SEVEN.read_bytes()[:120]), 400, ["damaged or truncated"]),
    ("blank image", lambda s: post(s, BLANK), 422, ["no digit", "blank"]),
    ("too many pixels", lambda s: post(s, HUGE), 413, ["5000x5000"]),
    ("decompression bomb", lambda s: post(s, png_header_only(30_000, 30_000)), 413, ["too many pixels"]),
    ("body too large", lambda s: post(s, b"\0" * (300 * 1024)), 413, ["307,200 bytes", "262,144"]),
    ("wrong content type", lambda s: post(s, b"hello", "text/plain"), 415, ["text/plain"]),
    ("no content type", lambda s: post(s, b"hello", None), 415, ["(none)"]),
    ("invalid JSON", lambda s: post(s, b"{pixels: ", "application/json"), 400, ["not valid JSON"]),
    ("deeply nested JSON", lambda s: post(s, b"[" * 100_000, "application/json"), 400, ["nested too deeply"]),
    ("JSON not an object", lambda s: post(s, b"[1, 2]", "application/json"), 400, ["object", "list"]),
    ("JSON without pixels", lambda s: post(s, b'{"model": "mlp"}', "application/json"), 400, ["no 'pixels'"]),
    ("unknown JSON field", lambda s: post(s, b'{"pixel": []}', "application/json"), 400, ["'pixel'"]),
    ("wrong shape", lambda s: post(s, json_pixels([[0.0] * 28] * 27), "application/json"), 400, ["(27, 28)"]),
    ("ragged rows", lambda s: post(s, json_pixels([[0.0] * 28] * 27 + [[0.0]]), "application/json"), 400, ["ragged"]),
    ("out of range", lambda s: post(s, json_pixels([[255.0] * 28] * 28), "application/json"), 400, ["[0, 1]", "255"]),
    ("NaN pixels", lambda s: post(s, b'{"pixels": [NaN]}', "application/json"), 400, ["NaN"]),
    ("model not a string", lambda s: post(s, b'{"pixels": ' + json.dumps([0.5] * 784).encode() + b', "model": 3}', "application/json"), 400, ["string"]),  # fmt: skip
    ("bad Content-Length", lambda s: raw_http(s, b"POST /api/predict HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), 400, ["Content-Length"]),  # fmt: skip
    ("no Content-Length", lambda s: raw_http(s, b"POST /api/predict HTTP/1.1\r\nHost: x\r\n\r\n"), 411, ["Content-Length"]),
    ("chunked body", lambda s: raw_http(s, b"POST /api/predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 411, ["chunked"]),  # fmt: skip
    ("unknown method", lambda s: raw_http(s, b"BREW / HTTP/1.1\r\n\r\n"), 405, ["BREW"]),
    ("header too long", lambda s: raw_http(s, b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"), 431, ["too long"]),
]  # fmt: skip


@pytest.mark.parametrize("what, send, status, words", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_a_json_4xx_naming_the_problem_and_the_server_keeps_serving(
    server, what, send, status, words
):
    answer = send(server)
    if isinstance(answer, bytes):  # a raw exchange: parse the status line and the JSON body
        head, _, data = answer.partition(b"\r\n\r\n")
        got, body = int(head.split()[1]), json.loads(data)
        assert b"Content-Type: application/json" in head, head
    else:
        got, _, body = answer
    assert got == status, (what, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert "Traceback" not in body["error"]
    for word in words:
        assert word in body["error"], (what, body["error"])
    assert predict_png(server, SEVEN.read_bytes())["digit"] == 7  # still serving


def test_serve_command_prints_the_url_and_serves_the_page(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_mnist", "serve", "--port", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[1]
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        status, _, page = request(SimpleNamespace(server_address=(host, int(port))), "GET", "/")
        assert status == 200 and b"<canvas" in page
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_command_errors_are_one_line(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"nope")
    assert_one_line_error(run_cli("serve", "--checkpoint", str(bad)), "broken.npz")
    assert_one_line_error(run_cli("serve", "--pretrained", "resnet"), "resnet", "mlp")
    assert_one_line_error(run_cli("serve", "--port", "70000"), "--port")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert_one_line_error(run_cli("serve", "--port", port), f"127.0.0.1:{port}")
