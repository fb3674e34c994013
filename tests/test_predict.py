"""preprocess_image brings drawn digits to MNIST's conventions; predict_digits agrees with the model."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from tinygrad_mnist import nn, optim
from tinygrad_mnist.models import build_model
from tinygrad_mnist.predict import (
    BOX,
    CENTRE,
    ImageError,
    Prediction,
    ascii_art,
    centre_of_mass,
    format_percent,
    load_grayscale,
    predict_digits,
    predict_proba,
    preprocess_image,
    resize,
    resize_matrix,
)
from tinygrad_mnist.recipes import cross_entropy, mnist_arrays
from tinygrad_mnist.train import fit


def draw_seven(size=(320, 240), background=255, ink=0, mode="L") -> Image.Image:
    """A thick 7, far from the centre of a wide canvas and much larger than 20 px."""
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    draw.line([(190, 20), (300, 20), (230, 210)], fill=ink, width=16, joint="curve")
    draw.line([(215, 110), (280, 110)], fill=ink, width=12)
    return image


def draw_zero() -> Image.Image:
    image = Image.new("L", (200, 260), 255)
    ImageDraw.Draw(image).ellipse([20, 30, 120, 230], outline=0, width=18)
    return image


def ink_box(x: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(x > 0)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.parametrize("draw", [draw_seven, draw_zero], ids=["seven", "zero"])
def test_drawn_digit_becomes_mnist_like(draw):
    x = preprocess_image(draw())
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and 0.99 <= x.max() <= 1.0  # in [0, 1], the stroke at full brightness
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    assert np.all(border == 0)  # inverted: the white paper became the black background
    assert x.mean() < 0.35  # mostly background, as in MNIST (mean pixel 0.13)
    cy, cx = centre_of_mass(x)
    assert abs(cy - CENTRE) <= 0.5 + 1e-4 and abs(cx - CENTRE) <= 0.5 + 1e-4  # whole-pixel shifts
    h, w = ink_box(x)
    assert max(h, w) == BOX and min(h, w) <= BOX


def test_light_and_dark_backgrounds_give_the_same_input():
    dark_on_light = draw_seven()
    light_on_dark = ImageOps.invert(dark_on_light)
    np.testing.assert_array_equal(preprocess_image(dark_on_light), preprocess_image(light_on_dark))


def test_aspect_ratio_is_kept():
    image = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(image).rectangle([100, 20, 139, 219], fill=0)  # 40 wide, 200 tall
    h, w = ink_box(preprocess_image(image))
    assert h == 20 and w == 4
    wide = image.transpose(Image.Transpose.ROTATE_90)  # 200 wide, 40 tall: the width sets the scale
    h, w = ink_box(preprocess_image(wide))
    assert h == 4 and w == 20


def test_transparent_png_with_dark_or_light_strokes():
    reference = preprocess_image(draw_seven())
    for ink in ((0, 0, 0, 255), (255, 255, 255, 255)):
        rgba = draw_seven(background=(0, 0, 0, 0), ink=ink, mode="RGBA")
        np.testing.assert_allclose(preprocess_image(rgba), reference, atol=1e-6)


def test_grey_background_and_colour_ink():
    image = draw_seven(background=(200, 190, 180), ink=(30, 30, 140), mode="RGB")
    np.testing.assert_allclose(preprocess_image(image), preprocess_image(draw_seven()), atol=0.02)


def test_files_are_read_and_errors_name_them(tmp_path):
    png = tmp_path / "seven.png"
    draw_seven().save(png)
    np.testing.assert_array_equal(preprocess_image(png), preprocess_image(draw_seven()))
    np.testing.assert_array_equal(preprocess_image(str(png)), preprocess_image(draw_seven()))

    text = tmp_path / "notes.png"
    text.write_text("not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png: not an image file"):
        preprocess_image(text)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(png.read_bytes()[:60])
    with pytest.raises(ImageError, match=r"cut\.png: cannot read the image"):
        preprocess_image(truncated)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        preprocess_image(tmp_path / "missing.png")


@pytest.mark.parametrize("colour", [255, 0, 128])
def test_blank_image_is_an_error_naming_the_file(tmp_path, colour):
    path = tmp_path / "canvas.png"
    Image.new("L", (280, 280), colour).save(path)
    with pytest.raises(ImageError, match=r"canvas\.png: no digit found: the image is blank"):
        preprocess_image(path)


def test_faint_noise_is_still_blank():
    rng = np.random.default_rng(0)
    noisy = np.clip(0.9 + rng.normal(0, 0.01, (100, 100)), 0, 1)
    with pytest.raises(ImageError, match="blank"):
        preprocess_image(noisy, name="scan")


def test_missing_pillow_says_how_to_install(monkeypatch, tmp_path):
    path = tmp_path / "seven.png"
    draw_seven().save(path)
    pixels = np.asarray(draw_seven())
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import Image` fail
    with pytest.raises(ImportError, match=r"pip install 'tinygrad_mnist\[images\]'"):
        preprocess_image(path)
    assert preprocess_image(pixels).shape == (28, 28)  # arrays need no Pillow


def test_array_inputs():
    u8 = np.asarray(draw_seven())
    expected = preprocess_image(u8)
    np.testing.assert_allclose(preprocess_image(u8 / 255.0), expected, atol=1e-6)
    np.testing.assert_allclose(preprocess_image(np.stack([u8] * 3, axis=-1)), expected, atol=1e-6)
    assert load_grayscale(np.zeros(784, dtype=np.float32)).shape == (28, 28)  # one mnist_arrays row
    with pytest.raises(ImageError, match=r"float pixels must lie in \[0, 1\], got \[0, 255\]"):
        preprocess_image(u8.astype(np.float64))
    with pytest.raises(ImageError, match=r"shape \(2, 3, 5\)"):
        preprocess_image(np.zeros((2, 3, 5)))
    with pytest.raises(TypeError, match="file path, a PIL image or a numpy array"):
        preprocess_image(42)


def test_resize_matrix():
    np.testing.assert_array_equal(resize_matrix(7, 7), np.eye(7))
    for n_in, n_out in ((300, 20), (20, 300), (13, 7)):
        m = resize_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in) and np.all(m >= 0)
        np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(resize(np.full((90, 40), 0.7), 20, 9), 0.7)
    # a one-pixel line survives a 10x shrink (averaged, not skipped)
    line = np.zeros((200, 200))
    line[:, 103] = 1.0
    assert resize(line, 20, 20).max() > 0.05


def test_ascii_art_shows_the_input():
    art = ascii_art(preprocess_image(draw_seven())).split("\n")
    assert len(art) == 28 and "@" in "".join(art)


@pytest.fixture(scope="module")
def trained(mnist_dir):
    """mlp-128 after one epoch on 4,000 images (~0.5 s), and the first test images."""
    x_train, y_train, x_test, y_test = mnist_arrays(mnist_dir, train_size=4000, test_size=200)
    nn.manual_seed(0)
    model = build_model("mlp-128", seed=0)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fit(
        model,
        optimizer,
        cross_entropy,
        x_train,
        y_train,
        epochs=1,
        batch_size=64,
        seed=0,
        log=None,
        progress=False,
    )
    return model, x_test, y_test


def test_mnist_image_through_png_is_predicted_like_the_array(trained, tmp_path):
    model, x_test, y_test = trained
    direct = predict_proba(model, x_test[:10]).argmax(axis=1)
    assert (predict_proba(model, x_test).argmax(axis=1) == y_test).mean() > 0.8  # it did learn
    paths = []
    for i, row in enumerate(x_test[:10]):
        path = tmp_path / f"mnist_{i}.png"
        Image.fromarray(np.round(row.reshape(28, 28) * 255).astype(np.uint8)).save(path)
        paths.append(path)
        # MNIST images already follow the conventions: preprocessing changes at most faint edge pixels
        assert np.abs(preprocess_image(path) - row.reshape(28, 28)).max() <= 0.1 + 1 / 255
    predictions = predict_digits(model, paths)
    assert [p.digit for p in predictions] == direct.tolist()
    for p in predictions:
        assert isinstance(p, Prediction) and len(p.top3) == 3
        digits, probs = zip(*p.top3)
        assert digits[0] == p.digit and len(set(digits)) == 3
        assert list(probs) == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
    raw = predict_digits(model, list(x_test[:10]), preprocess=False)
    assert [p.digit for p in raw] == direct.tolist()


def test_predict_digits_wants_a_list(trained):
    model, x_test, _ = trained
    with pytest.raises(TypeError, match=r"wrap a single image in \[ \]"):
        predict_digits(model, x_test[0])
    assert predict_digits(model, []) == []


def test_sigmoid_models_give_normalised_scores():
    probs = predict_proba(build_model("sigmoid-24", seed=0), np.random.default_rng(0).random((5, 784)))
    assert probs.shape == (5, 10) and np.all(probs > 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_format_percent_rounds_down():
    assert format_percent(0.99996) == "99.9%"
    assert format_percent(1.0) == "100.0%"
    assert format_percent(0.123) == "12.3%"
    assert format_percent(0.0) == "0.0%"
