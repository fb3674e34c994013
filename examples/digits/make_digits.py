"""Draw the package's sample digits (tinygrad_mnist/sample_digits/, shipped in the wheel) with Pillow,
the way a person would with a mouse or a pen.

    python examples/digits/make_digits.py          # rewrites the PNG/JPEG files in tinygrad_mnist/sample_digits/
    tinygrad-mnist predict --checkpoint runs/mlp.npz $(python -m tinygrad_mnist.samples)

They are deliberately unlike MNIST's files, to exercise `preprocess_image`: big canvases, digits off
centre, dark ink on light paper, a grey JPEG background, a transparent PNG and one white-on-black.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[2] / "tinygrad_mnist" / "sample_digits"  # shipped in the wheel


def stroke(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: int, fill) -> None:
    """A pen stroke: joined segments with round ends and joints."""
    draw.line(points, fill=fill, width=width, joint="curve")
    r = width / 2
    for x, y in points:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def canvas(size: tuple[int, int], background, mode: str = "L") -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new(mode, size, background)
    return image, ImageDraw.Draw(image)


def main() -> None:
    # a 7 high in the top-right corner of a wide white canvas
    image, draw = canvas((400, 300), 255)
    stroke(draw, [(230, 40), (340, 40), (275, 230)], 18, 0)
    stroke(draw, [(250, 135), (315, 135)], 14, 0)
    image.save(OUT / "seven.png")

    # a 0: an ellipse drawn with a thick pen, slightly tilted by hand
    image, draw = canvas((280, 280), 255)
    draw.ellipse([80, 40, 200, 240], outline=0, width=20)
    image.save(OUT / "zero.png")

    # a 1 with a flag and a slant, small on a big canvas
    image, draw = canvas((300, 300), 255)
    stroke(draw, [(138, 100), (155, 80), (135, 220)], 12, 0)
    image.save(OUT / "one.png")

    # a 4, white on black like MNIST itself (no inversion needed)
    image, draw = canvas((200, 200), 0)
    stroke(draw, [(120, 30), (50, 130), (150, 130)], 14, 255)
    stroke(draw, [(125, 60), (120, 180)], 14, 255)
    image.save(OUT / "four.png")

    # a 2 in blue ink on transparent background (RGBA, as drawing apps export)
    image, draw = canvas((240, 240), (0, 0, 0, 0), "RGBA")
    stroke(
        draw,
        [(70, 80), (90, 50), (130, 40), (165, 60), (165, 100), (75, 200), (175, 200)],
        16,
        (20, 40, 160, 255),
    )
    image.save(OUT / "two.png")

    # a 3 in dark grey pencil on grey paper, saved as JPEG (compression noise)
    image, draw = canvas((260, 320), 200)
    stroke(draw, [(80, 70), (130, 50), (175, 80), (165, 130), (120, 155)], 20, 50)
    stroke(draw, [(120, 155), (175, 185), (180, 240), (130, 270), (75, 250)], 20, 50)
    image.save(OUT / "three.jpg", quality=85)


if __name__ == "__main__":
    main()
