"""Issue 15 items 3 (decompression bombs, FIFOs) and 10 (int32 TIFF, symlink loop, integer input)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from clitools import ROOT, run_cli

from tinygrad_mnist import checkpoint
from tinygrad_mnist.models import build_model
from tinygrad_mnist.predict import MAX_PIXELS, ImageError, predict_proba, preprocess_image

pytest.importorskip("PIL")
SEVEN = ROOT / "tinygrad_mnist/sample_digits/seven.png"


def png_header_only(path: Path, width: int, height: int, colour_type: int = 6) -> Path:
    """A PNG whose IHDR claims width x height (RGBA by default) and whose data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(body + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return checkpoint.save(build_model("relu-10"), tmp_path_factory.mktemp("m") / "m.safetensors")


def test_huge_images_are_refused_from_the_header_and_the_others_still_predicted(tmp_path, model_path):
    bomb = png_header_only(tmp_path / "bomb.png", 30000, 30000)  # Pillow's own DecompressionBombError
    big = png_header_only(tmp_path / "big.png", 12000, 12000)  # under Pillow's limit, 7.7 GB as floats
    for path in (bomb, big):
        with pytest.raises(ImageError, match=rf"{path.name}: .*(too large|over the 50-megapixel limit)"):
            preprocess_image(path)
    result = run_cli("predict", "--checkpoint", str(model_path), str(bomb), str(big), str(SEVEN))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "bomb.png" in errors[0] and "big.png" in errors[1], errors
    assert "seven.png" in result.stdout


def test_a_large_photo_is_shrunk_before_it_is_turned_into_floats(tmp_path: Path):
    from PIL import Image

    digit = np.asarray(Image.open(SEVEN).convert("L"))
    scale = 4000 // max(digit.shape)
    photo = np.kron(digit, np.ones((scale, scale), dtype=np.uint8))  # the same digit, 4000 px wide
    assert photo.size < MAX_PIXELS
    Image.fromarray(photo).save(tmp_path / "photo.png")
    small, large = preprocess_image(SEVEN), preprocess_image(tmp_path / "photo.png")
    assert np.abs(small - large).mean() < 0.05


def test_a_fifo_is_refused_instead_of_hanging(tmp_path: Path, model_path: Path):
    os.mkfifo(tmp_path / "pipe.png")
    result = run_cli("predict", "--checkpoint", str(model_path), str(tmp_path / "pipe.png"), str(SEVEN))
    assert result.returncode == 1 and "seven.png" in result.stdout
    assert "pipe.png" in result.stderr and "FIFO" in result.stderr and "Traceback" not in result.stderr


def test_a_symlink_loop_is_called_a_loop(tmp_path: Path):
    os.symlink(tmp_path / "b.png", tmp_path / "a.png")
    os.symlink(tmp_path / "a.png", tmp_path / "b.png")
    with pytest.raises(ImageError, match=r"a\.png: a symbolic link loop"):
        preprocess_image(tmp_path / "a.png")


def test_an_int32_tiff_with_values_0_to_255_is_a_digit_not_blank(tmp_path: Path):
    from PIL import Image

    gray = np.asarray(Image.open(SEVEN).convert("L"))
    Image.fromarray(gray.astype(np.int32)).save(tmp_path / "seven.tif")
    assert Image.open(tmp_path / "seven.tif").mode == "I"
    np.testing.assert_allclose(preprocess_image(tmp_path / "seven.tif"), preprocess_image(SEVEN), atol=1e-6)


def test_unscaled_integer_pixels_are_refused_as_pytorch_does():
    x = np.random.default_rng(0).integers(0, 256, (2, 784), dtype=np.uint8)
    with pytest.raises(TypeError, match=r"uint8.*/ 255"):
        predict_proba(build_model("relu-10"), x)
