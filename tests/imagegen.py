"""Pictures of digits made from MNIST test digits (and drawn from scratch), for the image tests.

Each transformation turns a 28x28 MNIST digit into the kind of file people actually have:
bigger, black on white, off-centre in a larger sheet, in colour, with transparency, with a
palette, at 16 bits, JPEG-compressed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def _big(digit: np.ndarray, scale: int) -> Image.Image:
    """The digit enlarged with bicubic interpolation: white ink on black, (28*scale)^2."""
    im = Image.fromarray(digit.reshape(28, 28).astype(np.uint8), mode="L")
    return im.resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)


def _on_paper(
    ink: Image.Image, size: tuple[int, int], at: tuple[int, int], paper: int = 255
) -> Image.Image:
    """Black-on-paper version of white-on-black ink, pasted into a sheet of the given size."""
    a = np.asarray(ink, dtype=np.float32) / 255
    sheet = np.full((size[1], size[0]), paper, dtype=np.float32)
    h, w = a.shape
    region = sheet[at[1] : at[1] + h, at[0] : at[0] + w]
    sheet[at[1] : at[1] + h, at[0] : at[0] + w] = region * (1 - a)
    return Image.fromarray(sheet.round().astype(np.uint8), mode="L")


def scaled(d: np.ndarray) -> Image.Image:
    return _big(d, 4)


def inverted(d: np.ndarray) -> Image.Image:
    return _on_paper(_big(d, 3), (84, 84), (0, 0))


def off_centre(d: np.ndarray) -> Image.Image:
    return _on_paper(_big(d, 3), (240, 160), (150, 5))


def padded(d: np.ndarray) -> Image.Image:
    return _on_paper(_big(d, 2), (400, 300), (172, 122), paper=235)


def rgb(d: np.ndarray) -> Image.Image:
    """Dark blue ink on cream paper."""
    a = np.asarray(_big(d, 3), dtype=np.float32)[..., None] / 255
    paper, ink = np.array([245, 238, 220]), np.array([20, 30, 110])
    return Image.fromarray((paper * (1 - a) + ink * a).round().astype(np.uint8), mode="RGB")


def rgba(d: np.ndarray) -> Image.Image:
    """Black ink whose opacity is the stroke, on a transparent background."""
    alpha = _big(d, 3)
    im = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
    im.putalpha(alpha)
    return im


def palette(d: np.ndarray) -> Image.Image:
    return rgb(d).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)


def sixteen_bit(d: np.ndarray) -> Image.Image:
    a = np.asarray(_big(d, 3), dtype=np.uint16) * 257
    im = Image.fromarray(a.astype(np.uint16))
    assert im.mode.startswith("I;16"), im.mode
    return im


def jpeg(d: np.ndarray) -> Image.Image:
    buf = io.BytesIO()
    off_centre(d).convert("RGB").save(buf, format="JPEG", quality=75)
    buf.seek(0)
    return Image.open(buf)


def bilevel(d: np.ndarray) -> Image.Image:
    return inverted(d).convert("1")


TRANSFORMS = {
    "scaled": scaled,
    "inverted": inverted,
    "off-centre": off_centre,
    "padded": padded,
    "rgb": rgb,
    "rgba": rgba,
    "palette": palette,
    "16-bit": sixteen_bit,
    "jpeg": jpeg,
}


def drawn_digits() -> dict[int, Image.Image]:
    """A few digits painted from scratch with Pillow: thick black strokes on white paper."""
    out = {}
    w = 18
    im = Image.new("L", (200, 260), 255)
    ImageDraw.Draw(im).ellipse((40, 30, 160, 230), outline=0, width=w)
    out[0] = im
    im = Image.new("L", (200, 260), 255)
    d = ImageDraw.Draw(im)
    d.line((80, 60, 115, 30), fill=0, width=w)
    d.line((115, 30, 115, 230), fill=0, width=w)
    out[1] = im
    im = Image.new("L", (220, 260), 255)
    d = ImageDraw.Draw(im)
    d.line((40, 40, 180, 40), fill=0, width=w)
    d.line((180, 40, 90, 230), fill=0, width=w)
    out[7] = im
    im = Image.new("L", (220, 260), 255)
    d = ImageDraw.Draw(im)
    d.line((130, 30, 40, 170), fill=0, width=w)
    d.line((40, 170, 180, 170), fill=0, width=w)
    d.line((140, 90, 140, 240), fill=0, width=w)
    out[4] = im
    im = Image.new("RGB", (240, 300), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.ellipse((70, 30, 170, 130), outline=(0, 0, 0), width=w)
    d.ellipse((60, 125, 180, 260), outline=(0, 0, 0), width=w)
    out[8] = im
    return out
