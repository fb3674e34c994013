"""The JSON API behind the page, as plain functions of a request body (the HTTP server only routes).

    GET  /api/models                      -> {"default": "mlp", "models": [{"name", "label", ...}]}
    GET  /api/weights?model=NAME          -> the first layer's weights, one 28x28 tile per hidden unit
    POST /api/predict?model=NAME          -> {"digit", "probabilities", "input", "saliency", "activations", ...}
         body: an image file (Content-Type image/png, image/jpeg, ...), preprocessed like `predict`;
         or JSON {"pixels": 28x28 numbers in [0, 1], "model": NAME}: MNIST's form, used as given.
    POST /api/backprop?model=NAME         -> {"html": the stepping page of backward(), "sgd": {...}, ...}
         body: JSON {"pixels": 28x28, "label": the true digit, "model": NAME} (see docs/explain.md)

Every bad request raises `ApiError(status, message)`, which the server sends as {"error": message}.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_mnist.predict import ImageError, has_sigmoid_output, preprocess_image
from tinygrad_mnist.pretrained import LoadedWeights, load_checkpoint, load_shipped, shipped
from tinygrad_mnist.serve.explain import _lock, explain, first_layer_weights

MAX_BODY_BYTES = 8 * 1024 * 1024  # a phone photo fits; nothing bigger is read
MAX_IMAGE_PIXELS = 4096 * 4096  # checked before decoding: a tiny PNG can claim a huge canvas
MAX_WEIGHT_TILES = 64  # /api/weights sends at most this many units (a 256-unit layer is 200k numbers)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp", "application/octet-stream")


class ApiError(Exception):
    """A request the API refuses: an HTTP status (4xx) and a message naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Models:
    """The models a server offers, by name: the shipped weights, then any checkpoints given."""

    weights: dict[str, LoadedWeights]
    default: str

    @classmethod
    def load(cls, checkpoints: Sequence[str | os.PathLike[str]] = (), default: str | None = None) -> Models:
        weights = {name: load_shipped(name) for name in shipped()}
        for path in checkpoints:
            loaded = load_checkpoint(path)
            name = Path(path).name
            if name in weights:
                raise ValueError(f"two models would be called {name!r}: rename {path}")
            weights[name] = loaded
        first = Path(checkpoints[0]).name if checkpoints else next(iter(weights))
        default = first if default is None else default
        if default not in weights:
            raise ValueError(f"unknown model {default!r}; available: {', '.join(weights)}")
        return cls(weights, default)

    def get(self, name: str | None) -> tuple[str, LoadedWeights]:
        name = self.default if name is None else name
        if name not in self.weights:
            raise ApiError(404, f"unknown model {name!r}; available: {', '.join(self.weights)}")
        return name, self.weights[name]


def list_models(models: Models) -> dict[str, Any]:
    entries = []
    for name, loaded in models.weights.items():
        entries.append(
            {
                "name": name,
                "label": loaded.label,
                "source": "shipped" if loaded.shipped is not None else "checkpoint",
                "architecture": loaded.metadata.get("model"),
                "output": "scores" if has_sigmoid_output(loaded.model) else "probabilities",
            }
        )
    return {"default": models.default, "models": entries}


def weights(models: Models, query: dict[str, str]) -> dict[str, Any]:
    name, loaded = models.get(query.get("model"))
    found = first_layer_weights(loaded.model)
    if found is None:
        return {"model": name, "layer": None, "units": 0, "weights": []}
    layer, matrix = found
    shown = matrix[:MAX_WEIGHT_TILES]
    return {
        "model": name,
        "layer": layer,
        "units": int(matrix.shape[0]),
        "weights": np.round(shown, 4).tolist(),
    }


def predict(models: Models, query: dict[str, str], content_type: str, body: bytes) -> dict[str, Any]:
    """Read the digit from the body (an image file or JSON pixels), run the model, explain the answer."""
    if not body:
        raise ApiError(400, 'empty request body: send an image file or JSON {"pixels": 28x28}')
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        request = _parse_json(body)
        image = _pixels(request)
        if "model" in request and query.get("model", request["model"]) != request["model"]:
            raise ApiError(400, f"model {request['model']!r} in the body but {query['model']!r} in the URL")
        name = query.get("model", request.get("model"))
    elif media_type in IMAGE_TYPES:
        image, name = _decode_image(body), query.get("model")
    else:
        raise ApiError(
            415,
            f"unsupported Content-Type {media_type or '(none)'!r}: send an image "
            f"({', '.join(IMAGE_TYPES[:5])}) or application/json",
        )
    if name is not None and not isinstance(name, str):
        raise ApiError(400, f"'model' must be a string, got {type(name).__name__}")
    name, loaded = models.get(name)
    result = explain(loaded.model, image)
    return {
        "model": name,
        "weights": loaded.label,
        "digit": result.digit,
        "probabilities": [round(float(p), 6) for p in result.probabilities],
        "output": "scores" if has_sigmoid_output(loaded.model) else "probabilities",
        "input": np.round(image, 3).tolist(),
        "saliency": np.round(result.saliency, 6).tolist(),
        "saliency_of": result.score_name,
        "activations": [{"layer": n, "values": np.round(v, 4).tolist()} for n, v in result.activations],
    }


def backprop(models: Models, query: dict[str, str], content_type: str, body: bytes) -> dict[str, Any]:
    """The page that steps through backward() for this digit and its true label, and one SGD step's effect."""
    from tinygrad_mnist.backprop_steps import explain_digit_page
    from tinygrad_mnist.recipes import RECIPES

    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, 'send JSON {"pixels": 28x28, "label": 0-9} to /api/backprop')
    request = _parse_json(body, ("pixels", "model", "label"))
    image = _pixels(request)
    label = request.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        raise ApiError(400, f"'label' must be the true digit, an integer 0-9, got {label!r}")
    name, loaded = models.get(query.get("model", request.get("model")))
    architecture = loaded.metadata.get("model")
    if architecture not in RECIPES:
        raise ApiError(
            400, f"model {name!r} is not a registry architecture, so it has no loss to step through"
        )
    with _lock:  # backward fills the shared model's .grad
        page, step = explain_digit_page(architecture, loaded.model, image, label, loaded.label)
        loaded.model.zero_grad()
    return {
        "model": name,
        "label": label,
        "html": page,
        "sgd": {
            "lr": step.lr,
            "before": [round(float(p), 6) for p in step.before],
            "after": [round(float(p), 6) for p in step.after],
            "summary": step.describe(),
        },
    }


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_json(body: bytes, fields: tuple[str, ...] = ("pixels", "model")) -> dict[str, Any]:
    try:
        request = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "the JSON body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "the JSON body is nested too deeply") from None
    except ValueError as error:
        raise ApiError(400, f"the body is not valid JSON ({error})") from None
    if not isinstance(request, dict):
        raise ApiError(400, f"the JSON body must be an object with 'pixels', got a {type(request).__name__}")
    unknown = sorted(set(request) - set(fields))
    if unknown:
        expected = ", ".join(map(repr, fields[:-1])) + f" and {fields[-1]!r}"
        raise ApiError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; expected {expected}")
    return request


def _pixels(request: dict[str, Any]) -> np.ndarray:
    """'pixels': 28 rows of 28 numbers (or 784 numbers) in [0, 1], white digit on black, as in MNIST."""
    if "pixels" not in request:
        raise ApiError(400, "the JSON body has no 'pixels' (28 rows of 28 numbers in [0, 1])")
    try:
        pixels = np.array(request["pixels"], dtype=np.float64)
    except (ValueError, TypeError):
        raise ApiError(
            400, "'pixels' must be 28 rows of 28 numbers (ragged or non-numeric values found)"
        ) from None
    if pixels.shape == (784,):
        pixels = pixels.reshape(28, 28)
    if pixels.shape != (28, 28):
        raise ApiError(400, f"'pixels' must have shape (28, 28) or (784,), got {pixels.shape}")
    if not np.all(np.isfinite(pixels)) or pixels.min() < 0.0 or pixels.max() > 1.0:
        low, high = float(np.nanmin(pixels)), float(np.nanmax(pixels))
        raise ApiError(
            400, f"'pixels' must lie in [0, 1] (MNIST's form), got values from {low:g} to {high:g}"
        )
    return pixels.astype(np.float32)


def _decode_image(body: bytes) -> np.ndarray:
    """An image file's bytes -> (28, 28) in MNIST's form, by the same preprocessing as `predict`."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise ApiError(
            415, "this server cannot read image files (Pillow is not installed); send JSON pixels"
        ) from None
    try:
        with Image.open(io.BytesIO(body)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ApiError(
                    413,
                    f"the image is {width}x{height} pixels; at most {math.isqrt(MAX_IMAGE_PIXELS)}^2 are read",
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ApiError(
            400, "the body is not an image file Pillow can read (PNG, JPEG, GIF, BMP, WebP)"
        ) from None
    except Image.DecompressionBombError as error:  # Pillow's own limit, past ours
        raise ApiError(413, f"the image claims too many pixels ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ApiError(400, f"the image is damaged or truncated ({error})") from None
    try:
        return preprocess_image(image, "the image")
    except ImageError as error:
        raise ApiError(422, str(error)) from None
