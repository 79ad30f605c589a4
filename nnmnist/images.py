"""Image files -> MNIST-style 28x28 uint8 digits, following MNIST's own recipe.

MNIST digits are white ink on black, the ink's bounding box scaled (anti-aliased, aspect ratio
kept) so that its longer side is 20 pixels, then placed in a 28x28 field so that the ink's
centre of mass sits at the centre. preprocess() does the same to any picture of a digit: EXIF
orientation, transparency composited on the paper, grey, polarity (dark ink on light paper is
inverted), the paper's own grey level removed, bounding box, scale, centre of mass.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from nnmnist.errors import DataError

# Pillow itself refuses images above 2 * MAX_IMAGE_PIXELS (about 179 million) only when it
# decodes them; we refuse from the header, before any pixel is decoded.
MAX_PIXELS = 40_000_000
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".pgm",
        ".pbm",
        ".ppm",
        ".pnm",
        ".webp",
    }
)
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")

FIELD = 28  # MNIST's image size
BOX = 20  # the longer side of the ink's bounding box
INK_THRESHOLD = 0.25  # fraction of the strongest ink that counts towards the bounding box
MIN_CONTRAST = 0.15  # below this much ink (on a 0-1 scale) an image is blank


class ImageError(DataError):
    """One image that cannot be used (unreadable, too large, blank); the others go on."""


def looks_like_image(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    if head.startswith(_MAGIC):
        return True
    return len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"123456"  # PBM/PGM/PPM


def load_image(path: str | os.PathLike[str], name: str | None = None) -> Image.Image:
    """Open an image, refusing enormous ones from the header, with EXIF orientation applied.

    name: how errors call the file (default: the path).
    """
    shown = name or str(path)
    try:
        with warnings.catch_warnings():  # our own limit, below, is stricter than Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError:
        raise ImageError(f"{shown}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{shown}: not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{shown}: refused: {exc}") from None
    except OSError as exc:
        raise ImageError(f"{shown}: cannot read ({exc})") from None
    except Exception as exc:  # Pillow's parsers raise ValueError, SyntaxError, struct.error...
        raise ImageError(f"{shown}: not an image Pillow can read ({exc})") from None
    width, height = im.size
    if width * height > MAX_PIXELS:
        im.close()
        raise ImageError(
            f"{shown}: refused: {width}x{height} pixels is more than the {MAX_PIXELS:,} allowed "
            "(a decompression bomb, or a photo to scale down first)"
        )
    try:
        im.seek(0)  # the first frame of an animation
        im.load()
        transposed = ImageOps.exif_transpose(im)
    except Exception as exc:  # OSError for truncation, and whatever a damaged chunk raises
        raise ImageError(f"{shown}: truncated or corrupt image ({exc})") from None
    return transposed if transposed is not None else im


def to_grey(image: Image.Image | NDArray[Any]) -> NDArray[np.float32]:
    """Grey levels in [0, 1], shape (height, width); transparency composited onto the paper.

    The paper is whichever of black or white contrasts with the opaque pixels, so dark ink on a
    transparent background and light ink on one both keep their strokes.
    """
    if isinstance(image, np.ndarray):
        a = np.asarray(image, dtype=np.float32)
        if a.ndim == 3:
            a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
        scale = 255.0 if a.size and a.max() > 1 else 1.0
        return _unit(a / scale)
    im = image
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        top = 65535.0 if im.mode.startswith("I;16") or (a.size and a.max() > 255) else 255.0
        return _unit(a / top)
    alpha = None
    if im.mode in ("LA", "RGBA", "PA", "La", "RGBa") or (
        im.mode in ("L", "RGB") and "transparency" in im.info
    ):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
        grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
    else:
        grey = np.asarray(im.convert("L"), dtype=np.float32) / 255
    if alpha is not None:
        opaque = alpha > 0.5
        ink_is_dark = grey[opaque].mean() < 0.5 if opaque.any() else True
        paper = 1.0 if ink_is_dark else 0.0
        grey = grey * alpha + paper * (1 - alpha)
    return _unit(grey)


def _unit(a: NDArray[Any]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = np.clip(a, 0, 1).astype(np.float32, copy=False)
    return out


def _border(a: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def preprocess(
    image: Image.Image | NDArray[Any], invert: bool | None = None, name: str = "image"
) -> NDArray[np.uint8]:
    """A picture of one digit -> a (28, 28) uint8 MNIST-style digit, white on black.

    invert: None detects the polarity from the border (the paper); True or False forces it.
    Raises ImageError for a blank image.
    """
    grey = to_grey(image)  # (h, w) in [0, 1]
    if grey.ndim != 2 or grey.size == 0:
        raise ImageError(f"{name}: not a two-dimensional image")
    paper = float(np.median(_border(grey)))
    if invert is None:
        invert = paper > 0.5
    ink = 1 - grey if invert else grey
    background = 1 - paper if invert else paper
    # Remove the paper's own grey level (grey paper, a photo's shading) and rescale the ink.
    ink = np.clip((ink - background) / max(1 - background, 1e-6), 0, 1)
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise ImageError(f"{name}: blank image (no ink stands out from the background)")
    rows = np.flatnonzero((ink >= INK_THRESHOLD * strongest).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD * strongest).any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return fit_to_field(digit)


def fit_to_field(digit: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Scale the cropped ink so its longer side is 20 pixels, then centre its mass in 28x28."""
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(digit.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    box = np.clip(np.asarray(small, dtype=np.float32), 0, 1)  # (<=20, <=20)
    total = float(box.sum())
    if total <= 0:
        raise ImageError("blank image (no ink left after scaling)")
    ys, xs = np.indices(box.shape)
    cy, cx = float((ys * box).sum() / total), float((xs * box).sum() / total)
    # Translate so that the centre of mass lands on the field's centre, to a sub-pixel.
    # MNIST digits have their centre of mass at (14.0, 14.0) in pixel-index coordinates on
    # average (measured on the test set), not at the geometric centre 13.5: for a network
    # trained without shifts the half pixel costs over a point of accuracy.
    target = FIELD / 2
    field = Image.fromarray(box, mode="F").transform(
        (FIELD, FIELD),
        Image.Transform.AFFINE,
        (1, 0, cx - target, 0, 1, cy - target),
        resample=Image.Resampling.BILINEAR,
    )
    out = np.clip(np.asarray(field, dtype=np.float32), 0, 1)
    return np.round(out * 255).astype(np.uint8)


def raw_image(
    image: Image.Image, invert: bool | None = None, name: str = "image"
) -> NDArray[np.uint8]:
    """An image that is already MNIST-style 28x28: grey levels only, inverted only if asked."""
    if image.size != (FIELD, FIELD):
        raise ImageError(
            f"{name}: --raw needs 28x28 images, this one is {image.size[0]}x{image.size[1]}"
        )
    grey = to_grey(image)
    if invert:
        grey = 1 - grey
    return np.round(grey * 255).astype(np.uint8)


def save_digit(pixels: NDArray[Any], path: Path) -> None:
    """Write 784 pixels (uint8 0-255, or floats in [0, 1]) as a 28x28 8-bit grey PNG."""
    img = np.asarray(pixels).reshape(FIELD, FIELD)
    if img.dtype != np.uint8:
        img = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(img, mode="L").save(path, format="PNG")
