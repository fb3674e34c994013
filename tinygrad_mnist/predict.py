"""Turn any picture of a digit into an MNIST-style 28x28 image, and ask a trained model what it says.

A network trained on MNIST has only ever seen MNIST's conventions, so a phone photo or a drawing must
be brought to them first (LeCun et al.'s description of how MNIST was made):

1. grayscale in [0, 1]; a light background is inverted, so the digit is bright on black (0);
2. the background level is subtracted, contrast stretched to [0, 1], faint noise below `NOISE_FLOOR` set to 0;
3. the image is cropped to the digit's bounding box and resized, keeping its aspect ratio, so the longer
   side is 20 pixels (antialiased: every output pixel averages the input pixels under it);
4. the 20-pixel box is placed in a 28x28 field so that the centre of mass of the ink falls on
   pixel (14, 14) (0-based row/column index; measured on MNIST's test set: mean 13.99, 14.01, every
   digit within half a pixel), shifting by whole pixels as MNIST did.

    from tinygrad_mnist.predict import preprocess_image, predict_digits
    x = preprocess_image("digit.png")                # (28, 28) float32 in [0, 1]
    [(digit, top3)] = predict_digits(model, ["digit.png"])   # top3: ((7, 0.98), (1, 0.01), (9, 0.004))

Pillow (`pip install 'tinygrad_mnist[images]'`) is needed only to read image files; numpy arrays are
preprocessed without it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np

from tinygrad_mnist.tensor import Tensor
from tinygrad_mnist.train import evaluating

SIZE = 28  # MNIST images are 28x28
BOX = 20  # the digit's longer side after resizing
CENTRE = 14.0  # where the centre of mass lands, as a 0-based (row, column) pixel index
NOISE_FLOOR = 0.1  # after the contrast stretch, ink fainter than this is noise (JPEG, paper texture)
MIN_CONTRAST = 0.1  # ink must differ from the background by this much (of the full 0..1 range)
MAX_PIXELS = 50_000_000  # larger images (a 50-megapixel photo is 8660x5770) are refused before decoding
WORK_SIDE = 1024  # bigger images are shrunk (antialiased) to this side first: memory stays ~ the decoded file

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

ImageInput: TypeAlias = "str | os.PathLike[str] | np.ndarray | PILImage"  # what preprocess_image reads
PILLOW_HINT = "pip install 'tinygrad_mnist[images]'"


class ImageError(ValueError):
    """A file or array cannot be turned into a digit image (unreadable, not an image, blank); names it."""


class Prediction(NamedTuple):
    """The predicted digit and the top three (digit, probability) pairs, most likely first."""

    digit: int
    top3: tuple[tuple[int, float], ...]


def _require_pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"reading image files needs Pillow: {PILLOW_HINT}") from None
    return Image


def _describe(source: ImageInput, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, np.ndarray):
        return f"array of shape {source.shape}"
    return f"{type(source).__name__} image"


def load_grayscale(source: ImageInput, name: str | None = None) -> np.ndarray:
    """Read a path, PIL image or array as a (H, W) float64 grayscale image in [0, 1] (1 = white).

    Arrays may be (H, W), (H, W, 3) RGB, (H, W, 4) RGBA, or one flat MNIST row of 784 pixels; uint8
    (0..255), bool, or floats already in [0, 1]. A transparent background is filled with the colour
    that contrasts with the opaque strokes (so a black or a white digit on transparency both work).
    """
    label = _describe(source, name)
    if isinstance(source, (str, os.PathLike)):
        array = _read_file(Path(source), label)
    elif isinstance(source, np.ndarray):
        array = _array_to_unit(source, label)
    elif hasattr(source, "mode") and hasattr(source, "convert"):  # a PIL image, without importing PIL
        array = _pil_to_unit(source, label)
    else:
        raise TypeError(f"expected a file path, a PIL image or a numpy array, got {type(source).__name__}")
    if array.ndim == 3:
        array = _flatten_colour(array)
    if min(array.shape) < 1:
        raise ImageError(f"{label}: the image is empty ({array.shape[1]}x{array.shape[0]} pixels)")
    return array


def _read_file(path: Path, label: str) -> np.ndarray:
    Image = _require_pillow()
    import warnings

    from PIL import ImageOps, UnidentifiedImageError

    from tinygrad_mnist.inputs import check_regular_file

    try:
        check_regular_file(path, "image file")
    except FileNotFoundError:
        raise FileNotFoundError(f"{label}: no such file") from None
    except OSError as error:
        raise ImageError(str(error)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap is lower
            with Image.open(path) as image:
                width, height = image.size  # from the header: nothing is decoded yet
                if width * height > MAX_PIXELS:
                    raise ImageError(_too_big(label, width, height))
                image = _shrink(image)
                image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
                return _pil_to_unit(image, label)
    except Image.DecompressionBombError as error:
        raise ImageError(f"{label}: too large to decode safely ({error})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file Pillow can read (PNG, JPEG, BMP, GIF, ...)") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"{label}: cannot read the image ({error})") from None


def _too_big(label: str, width: int, height: int) -> str:
    return (
        f"{label}: the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over the "
        f"{MAX_PIXELS / 1e6:.0f}-megapixel limit; crop or shrink it to the digit"
    )


def _shrink(image: Any) -> Any:
    """An image whose longer side is over WORK_SIDE, shrunk to it (box filter) before float conversion,
    which would otherwise cost 32 bytes per pixel (RGBA float64)."""
    width, height = image.size
    factor = math.ceil(max(width, height) / WORK_SIDE)
    if factor <= 1:
        return image
    image.draft(image.mode, (width // factor, height // factor))  # JPEG: decode at reduced size
    if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F") and not image.mode.startswith("I;16"):
        image = image.convert("RGBA")
    factor = math.ceil(max(image.size) / WORK_SIDE)
    return image.reduce(factor) if factor > 1 else image


def _pil_to_unit(image: Any, label: str) -> np.ndarray:
    """PIL image -> float array in [0, 1]: (H, W), or (H, W, 4) when it has transparency."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit PNGs, 32-bit TIFFs: scale by the range the values use
        values = np.asarray(image, dtype=np.float64)
        if values.size and values.min() < 0:
            raise ImageError(f"{label}: integer pixels must not be negative, got {values.min():g}")
        peak = float(values.max()) if values.size else 0.0
        full = next(top for top in (255.0, 65535.0, 2.0**32 - 1) if peak <= top)
        return np.clip(values / full, 0.0, 1.0)
    if mode == "F":
        return _array_to_unit(np.asarray(image, dtype=np.float64), label)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"), dtype=np.float64) / 255.0
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def _array_to_unit(array: np.ndarray, label: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 1 and array.size == SIZE * SIZE:
        array = array.reshape(SIZE, SIZE)  # one row of mnist_arrays()
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise ImageError(
            f"{label}: expected a (H, W), (H, W, 3) or (H, W, 4) image or 784 pixels, got shape {array.shape}"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(
            f"{label}: pixels must be uint8 (0..255), bool or floats in [0, 1], got {array.dtype}"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ImageError(f"{label}: the image contains NaN or infinite pixels")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ImageError(
            f"{label}: float pixels must lie in [0, 1], got [{array.min():g}, {array.max():g}]; "
            "divide 0..255 values by 255 first"
        )
    return array


def _flatten_colour(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) -> (H, W) luminance (ITU-R 601), transparency filled with a contrasting colour."""
    luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    if rgba.shape[2] == 3:
        return luma
    alpha = rgba[..., 3]
    if alpha.min() >= 1.0 or alpha.sum() == 0:
        return luma
    strokes = float((luma * alpha).sum() / alpha.sum())  # mean brightness of what is drawn
    fill = 1.0 if strokes < 0.5 else 0.0
    return luma * alpha + fill * (1.0 - alpha)


def background_level(gray: np.ndarray) -> float:
    """The background's brightness: the median of the border pixels (a digit rarely covers the border)."""
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return float(np.median(border))


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix that resamples one axis with an antialiased triangle (bilinear) filter.

    Shrinking widens the filter to cover every input pixel under an output pixel (so thin strokes
    average out instead of vanishing); n_out == n_in gives the identity. Rows sum to 1.
    """
    scale = n_out / n_in
    support = max(1.0, 1.0 / scale)  # half-width of the filter, in input pixels
    centres = (np.arange(n_out) + 0.5) / scale - 0.5  # output pixel centres in input coordinates
    weights = np.clip(1.0 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample a (H, W) image to (height, width): two matrix products, one per axis."""
    return resize_matrix(image.shape[0], height) @ image @ resize_matrix(image.shape[1], width).T


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the brightness-weighted mean pixel position, 0-based."""
    total = image.sum()
    rows, cols = np.arange(image.shape[0]), np.arange(image.shape[1])
    return float(image.sum(axis=1) @ rows / total), float(image.sum(axis=0) @ cols / total)


def to_mnist(gray: np.ndarray, name: str = "image") -> np.ndarray:
    """A (H, W) grayscale image in [0, 1] -> (28, 28) float32 in MNIST's conventions (see module doc)."""
    gray = np.asarray(gray, dtype=np.float64)
    background = background_level(gray)
    if background > 0.5:  # dark ink on light paper: MNIST is white on black
        gray, background = 1.0 - gray, 1.0 - background
    peak = float(gray.max())
    if peak - background < MIN_CONTRAST:
        raise ImageError(
            f"{name}: no digit found: the image is blank (brightest ink differs from the background "
            f"by {peak - background:.2f}, need at least {MIN_CONTRAST})"
        )
    ink = np.clip((gray - background) / (peak - background), 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    rows, cols = np.nonzero(ink)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = ink.shape
    scale = BOX / max(h, w)
    h2, w2 = max(1, round(h * scale)), max(1, round(w * scale))
    digit = np.clip(resize(ink, h2, w2), 0.0, 1.0)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    cy, cx = centre_of_mass(digit)
    top = int(np.clip(np.floor(CENTRE - cy + 0.5), 0, SIZE - h2))  # whole-pixel shift, kept in frame
    left = int(np.clip(np.floor(CENTRE - cx + 0.5), 0, SIZE - w2))
    out[top : top + h2, left : left + w2] = digit
    return out


def preprocess_image(source: ImageInput, name: str | None = None) -> np.ndarray:
    """A digit image (file path, PIL image or array) -> (28, 28) float32 in [0, 1], MNIST-style.

    Raises ImageError naming the file for unreadable files, non-images and blank images; ImportError
    (saying `pip install 'tinygrad_mnist[images]'`) when a file must be read and Pillow is missing.
    """
    return to_mnist(load_grayscale(source, name), _describe(source, name))


def has_sigmoid_output(model: Any) -> bool:
    """True if the model ends in a sigmoid (the classic squared-error nets): its outputs are scores, not logits."""
    from tinygrad_mnist import nn

    modules = list(model.modules()) if hasattr(model, "modules") else []
    return bool(modules) and isinstance(modules[-1], nn.Sigmoid)


def predict_proba(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities (N, 10) of images x (N, 784) or (N, 28, 28) in [0, 1], in eval mode.

    Logits go through a softmax. A model ending in a sigmoid (trained with squared error) outputs ten
    independent activations, not a distribution; they are divided by their sum so they rank the same
    and add up to 1 -- read them as scores, not calibrated probabilities.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(
            f"predict_proba: images must be floats in [0, 1], got dtype {x.dtype}; "
            "scale 0..255 pixels first (x.astype(np.float32) / 255)"
        )
    x = x.astype(np.float32, copy=False)
    if x.ndim not in (2, 3) or x.shape[1:] not in ((SIZE * SIZE,), (SIZE, SIZE)):
        raise ValueError(f"predict_proba: expected images of shape (N, 784) or (N, 28, 28), got {x.shape}")
    sigmoid_output = has_sigmoid_output(model)
    chunks = []
    with evaluating(model):
        for start in range(0, len(x), batch_size):
            out = model(Tensor(x[start : start + batch_size])).data.astype(np.float64)
            if sigmoid_output:
                probs = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
            else:
                probs = Tensor(out, dtype=np.float64).softmax(axis=1).data
            chunks.append(probs)
    return np.concatenate(chunks) if chunks else np.zeros((0, 10))


def predict_digits(
    model: Any, images: Sequence[ImageInput], *, preprocess: bool = True, k: int = 3
) -> list[Prediction]:
    """Predict each image's digit; returns one `Prediction(digit, top3)` per image, in order.

    Each image goes through `preprocess_image` (set `preprocess=False` for arrays already in MNIST's
    form: (28, 28) or 784 floats in [0, 1]). `top3` holds the `k` most probable (digit, probability).
    """
    if isinstance(images, (str, os.PathLike, np.ndarray)) or hasattr(images, "mode"):
        raise TypeError("predict_digits expects a list of images; wrap a single image in [ ]")
    if len(images) == 0:
        return []
    if preprocess:
        batch = np.stack([preprocess_image(image) for image in images])
    else:
        batch = np.stack([_array_to_unit(np.asarray(image), f"image {i}") for i, image in enumerate(images)])
        if batch.shape[1:] != (SIZE, SIZE):
            raise ValueError(
                f"predict_digits: with preprocess=False images must be 28x28, got {batch.shape[1:]}"
            )
    probs = predict_proba(model, batch)
    predictions = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:k]
        predictions.append(Prediction(int(order[0]), tuple((int(d), float(row[d])) for d in order)))
    return predictions


def format_percent(p: float) -> str:
    """A probability as a percentage with one decimal, rounded down: 0.99996 is "99.9%", never "100.0%"."""
    return f"{math.floor(p * 1000 + 1e-9) / 10:.1f}%"


def ascii_art(image: np.ndarray) -> str:
    """A 28x28 image as text, two characters per pixel: what the network is shown."""
    ramp = " .:-=+*#%@"
    levels = np.clip((np.asarray(image) * (len(ramp) - 1) + 0.5).astype(int), 0, len(ramp) - 1)
    return "\n".join("".join(ramp[v] * 2 for v in row).rstrip() for row in levels)
