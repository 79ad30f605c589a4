"""Image files -> MNIST-style 28x28 uint8 digits, following MNIST's own recipe.

MNIST digits are white ink on black, the ink's bounding box scaled (anti-aliased, aspect ratio
kept) so that its longer side is 20 pixels, then placed in a 28x28 field so that the ink's
centre of mass sits at the centre. preprocess() does the same to any picture of a digit: EXIF
orientation, transparency composited on the paper, grey, polarity (dark ink on light paper is
inverted), the paper's own grey level removed (for photos, the clean-up of front_end: uneven
light, grain, ruled lines, specks), bounding box, scale, centre of mass.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from nnmnist.errors import DataError, ImageError, Refused
from nnmnist.io.reading import MAX_IMAGE_FILE_BYTES, open_file
from nnmnist.vision import gate
from nnmnist.vision.cleanup import INK_THRESHOLD, WORK_SIDE, at_most, cleaned
from nnmnist.vision.marks import _kind, not_one_digit

# Decoding is bounded by bytes, not pixels, and checked from the header before a pixel is
# decoded: 64 MB is a 16-megapixel colour picture (Pillow keeps RGB in 4 bytes a pixel) or a
# 64-megapixel grey one. Larger JPEGs are decoded at a reduced scale instead.
MB = 1 << 20
MAX_DECODED_BYTES = 64 * MB
MAX_SIDE = 2048  # longer sides are reduced first: a digit ends up 20 pixels tall anyway
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "PPM", "WEBP")
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF, PBM/PGM/PPM or WebP"
FIELD = 28  # MNIST's image size
BOX = 20  # the longer side of the ink's bounding box
MIN_CONTRAST = 0.15  # below this much ink (on a 0-1 scale) an image is blank


def decoded_bytes(size: tuple[int, int], mode: str) -> int:
    """The memory Pillow takes for a decoded image of this size and mode."""
    return size[0] * size[1] * _BYTES_PER_PIXEL.get(mode, 4)


def load_image(path: str | os.PathLike[str], name: str | None = None) -> Image.Image:
    """Open an image with its decoding bounded, and EXIF orientation applied.

    Only the formats in FORMATS are tried (ICO, for one, decodes inside Image.open). The
    decoded size is known from the header: above MAX_DECODED_BYTES the image is refused before
    a pixel is decoded; a JPEG of twice WORK_SIDE or more is decoded at 1/2, 1/4 or 1/8 scale
    (draft mode), down to no less than WORK_SIDE.
    Anything longer than MAX_SIDE pixels is reduced (box filter) before the rest of the work.
    name: how errors call the file (default: the path).
    """
    shown = name or str(path)
    with open_file(path, shown, ImageError, MAX_IMAGE_FILE_BYTES) as f:
        return open_image(f, shown)


def open_image(f: BinaryIO, shown: str) -> Image.Image:
    """load_image's work on an open binary file (a regular file, or bytes read from stdin)."""
    try:
        with warnings.catch_warnings():  # our own limit, below, is stricter than Pillow's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(f, formats=FORMATS)
            im.seek(0)  # the first frame of an animation, the first page of a TIFF
            if im.format == "JPEG" and max(im.size) >= 2 * WORK_SIDE:
                # decoded at 1/2, 1/4 or 1/8 scale, no smaller than front_end works at: a 1 MP
                # photo decodes in a third of the time
                scale = max(im.size) / WORK_SIDE
                mode = "L" if im.mode == "RGB" else im.mode  # luma alone: what to_grey keeps
                im.draft(mode, (math.ceil(im.size[0] / scale), math.ceil(im.size[1] / scale)))
    except UnidentifiedImageError:
        raise ImageError(f"{shown}: not an image nnmnist reads ({_FORMAT_NAMES})") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{shown}: not read: {exc}") from None
    except Exception as exc:  # Pillow's parsers raise OSError, ValueError, SyntaxError...
        raise ImageError(f"{shown}: not an image Pillow can read ({exc})") from None
    need = decoded_bytes(im.size, im.mode)
    if need > MAX_DECODED_BYTES:
        im.close()
        raise ImageError(
            f"{shown}: not read: {im.size[0]}x{im.size[1]} pixels ({im.mode}) decode to "
            f"{need / MB:,.0f} MB, more than the {MAX_DECODED_BYTES // MB} MB allowed "
            "(a decompression bomb, or a picture to scale down first)"
        )
    try:
        im.load()
        if max(im.size) > MAX_SIDE:
            im = im.reduce(math.ceil(max(im.size) / MAX_SIDE))
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
    else:  # (an "L" picture as it is: converting it would copy it)
        grey = np.asarray(im if im.mode == "L" else im.convert("L"), dtype=np.float32) / 255
    if alpha is not None:
        opaque = alpha > 0.5
        ink_is_dark = grey[opaque].mean() < 0.5 if opaque.any() else True
        paper = 1.0 if ink_is_dark else 0.0
        grey = grey * alpha + paper * (1 - alpha)
    return _unit(grey)


def unblocked(grey: NDArray[np.float32]) -> NDArray[np.float32]:
    """A low-resolution picture shown enlarged as blocks of k x k equal pixels (an 8x8 digit
    shown at 64x64 by nearest-neighbour scaling) at the resolution it has, one pixel a block,
    so that it is scaled up smoothly like any small picture; other pictures as they are.
    Only pictures of at most FRONT_END_MIN_SIDE pixels a block are reduced: a photo's flat
    areas are never blocks over all of it."""
    h, w = grey.shape
    for k in range(math.gcd(h, w), 1, -1):
        if h % k or w % k or min(h, w) // k > FRONT_END_MIN_SIDE:
            continue
        middle = grey[h // 2]  # first a row through the middle (a photo fails there)
        if not (middle.reshape(-1, k) == middle[::k, None]).all():
            continue
        blocks = grey.reshape(h // k, k, w // k, k)
        if (blocks == blocks[:, :1, :, :1]).all():
            return np.ascontiguousarray(grey[::k, ::k])
    return grey


def _unit(a: NDArray[Any]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = np.clip(a, 0, 1).astype(np.float32, copy=False)
    return out


def _border(a: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def light_paper(grey: NDArray[np.float32]) -> bool:
    """Whether the paper is lighter than the ink. A border that is clearly light or dark, and
    even, says so. Otherwise (a shadow or dim light across the border) the ink is the minority
    that stands out from the paper around it: the pixels' differences from a local mean are
    skewed towards the ink's side (a shadow's edge, noise and paper texture are symmetric).
    Measured at 64 px over the whole picture (the border's rows and columns included: leaving
    out an eighth of the side each way lost the digits near the edge of 17% of the bench's
    1-megapixel photos of small digits). Wrong, either way round, for 1 of bench/photos.py's
    5,400 pictures of seed 0 (300 per condition and 600 photos: a hard-edged shadow) and none
    of seed 1's."""
    border = _border(grey)
    paper = float(np.median(border))
    low, high = np.percentile(border, [25, 75])
    if abs(paper - 0.5) >= 0.2 and high - low < 0.2:
        return paper > 0.5
    from scipy import ndimage

    small = at_most(grey, POLARITY_SIDE)
    window = max(5, max(small.shape) // 4) | 1
    residual = small - ndimage.uniform_filter(small, window)
    return float((residual.astype(np.float64) ** 3).sum()) <= 0


POLARITY_SIDE = 64


def preprocess(
    image: Image.Image | NDArray[Any],
    invert: bool | None = None,
    name: str = "image",
    check: bool = True,
    stages: dict[str, NDArray[Any]] | None = None,
    gated: bool = True,
) -> NDArray[np.uint8]:
    """A picture of one digit -> a (28, 28) uint8 MNIST-style digit, white on black.

    invert: None detects the polarity from the border (the paper); True or False forces it.
    Raises ImageError for a blank image and, with check, for ink that is not one digit's
    strokes (see not_one_digit) or that the digit-or-not gate calls a letter, a sign or
    another mark (gate.py; gated=False leaves the gate out). Strokes much thicker than MNIST's
    are thinned (even_strokes). stages: filled with every step's picture, in [0, 1] or as a
    mask (for --debug-stages), as far as the picture got.
    """
    grey = to_grey(image)  # (h, w) in [0, 1]
    if grey.ndim != 2 or grey.size == 0:
        raise ImageError(f"{name}: not a two-dimensional image")
    grey = unblocked(grey)
    paper = float(np.median(_border(grey)))
    if invert is None:
        invert = light_paper(grey) if min(grey.shape) >= FRONT_END_MIN_SIDE else paper > 0.5
    if stages is not None:
        stages["1-grey"] = grey
    if min(grey.shape) >= FRONT_END_MIN_SIDE:
        ink, mask = cleaned(grey, invert, name, stages, one_digit=True)
    else:  # a small crop (an MNIST-sized picture): the paper's grey level alone is removed
        ink = 1 - grey if invert else grey
        background = 1 - paper if invert else paper
        ink = np.clip((ink - background) / max(1 - background, 1e-6), 0, 1)
        strongest = float(ink.max())
        if strongest < MIN_CONTRAST:
            raise Refused(f"{name}: blank image (no ink stands out from the background)", "blank")
        mask = ink >= INK_THRESHOLD * strongest
    if check and (why := not_one_digit(mask)):
        raise Refused(f"{name}: {why}; not predicted (--any-shape predicts it anyway)", _kind(why))
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    digit = even_strokes(fit_to_field(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]))
    if stages is not None:
        stages["6-digit"] = digit
    if check and gated and (refused := gate_refusals(digit, [name])):
        raise refused[0][1]
    return digit


def unchecked_digit(path: str, invert: bool | None = None) -> NDArray[np.uint8] | None:
    """The 28x28 digit a refused picture would have been given to the network as (preprocess
    without its checks), to show beside its refusal; None when it has no ink or cannot be read
    again."""
    try:
        with load_image(path) as im:
            return preprocess(im, invert, path, check=False)
    except DataError:
        return None


def gate_refusals(digits: NDArray[np.uint8], names: list[str]) -> list[tuple[int, Refused]]:
    """The preprocessed pictures ((n, 784) or (n, 28, 28), named) that the digit-or-not gate
    calls not a digit: (index, the error it is told), in order; one call for all of them."""
    sure = gate.not_digit_probability(digits)
    return [
        (
            i,
            Refused(
                f"{names[i]}: not a digit (a letter, a sign or another mark, {p:.0%} sure); "
                "not predicted (--any-shape predicts it anyway)",
                "not a digit",
            ),
        )
        for i, p in enumerate(sure)
        if p >= gate.NOT_A_DIGIT
    ]


def gate_number(digits: NDArray[np.uint8], name: str) -> None:
    """The ImageError of the first of a number's digits ((n, 784), as split_lines frames them)
    that the digit-or-not gate calls not a digit: a letter among digits makes it no number."""
    n = len(digits)
    refused = gate_refusals(digits, [f"{name} (mark {i + 1} of {n})" for i in range(n)])
    if refused:
        raise refused[0][1]


FRONT_END_MIN_SIDE = 56  # pictures at least this big go through front_end


def fit_to_field(digit: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Scale the cropped ink so its longer side is 20 pixels, then centre its mass in 28x28."""
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = _float_image(digit).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    box = np.clip(_float_pixels(small), 0, 1)  # (<=20, <=20)
    total = float(box.sum())
    if total <= 0:
        raise Refused("blank image (no ink left after scaling)", "blank")
    ys, xs = _grid(box.shape)
    cy, cx = float((ys * box).sum() / total), float((xs * box).sum() / total)
    # Translate so that the centre of mass lands on the field's centre, to a sub-pixel.
    # MNIST digits have their centre of mass at (14.0, 14.0) in pixel-index coordinates on
    # average (measured on the test set), not at the geometric centre 13.5: for a network
    # trained without shifts the half pixel costs over a point of accuracy.
    target = FIELD / 2
    field = _float_image(box).transform(
        (FIELD, FIELD),
        Image.Transform.AFFINE,
        (1, 0, cx - target, 0, 1, cy - target),
        resample=Image.Resampling.BILINEAR,
    )
    out = np.clip(_float_pixels(field), 0, 1)
    return np.round(out * 255).astype(np.uint8)


# fit_to_field runs once or twice for every picture: Image.frombytes and tobytes convert a small
# float picture in two thirds of the time of Image.fromarray and np.asarray (the same values).
def _float_image(a: NDArray[Any]) -> Image.Image:
    """A 2-D array as a Pillow 32-bit float picture ("F")."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return Image.frombytes("F", (a.shape[1], a.shape[0]), a.tobytes())


def _float_pixels(im: Image.Image) -> NDArray[np.float32]:
    """A Pillow "F" picture's pixels, (height, width) float32."""
    return np.frombuffer(im.tobytes(), np.float32).reshape(im.size[1], im.size[0])


@functools.cache
def _grid(shape: tuple[int, ...]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """np.indices(shape) as floats (row and column numbers), for centres of mass: fit_to_field
    asks for at most 400 shapes (up to 20 x 20). Read only."""
    ys, xs = np.indices(shape, dtype=np.float64)
    ys.flags.writeable = False
    xs.flags.writeable = False
    return ys, xs


# Strokes at 28x28, 2 x the distance to the nearest background pixel, median over the ridge:
# MNIST's test digits measure 2.8 (median), 5.7 at the 99th percentile; a thick marker's 5.7
# at the median (bench/photos.py).
THICK_STROKES = 5.0
VERY_THICK_STROKES = 7.0


def _has_core(mask: NDArray[np.bool_]) -> bool:
    """Whether some pixel has every pixel nearer than sqrt(8) inked: the 5x5 square without its
    corners (beyond the picture counts as ink, as for the distance transform). A width of
    THICK_STROKES needs ridge pixels 2.5 from the background, and distances are square roots of
    whole numbers, so sqrt(8) at least: without such a pixel (most digits) the distance
    transform is not needed. Two 1-D erosions per axis, on views: a few microseconds."""
    m = np.ones((mask.shape[0] + 4, mask.shape[1] + 4), bool)
    m[2:-2, 2:-2] = mask
    across3 = m[:, 1:-3] & m[:, 2:-2] & m[:, 3:-1]  # 3 wide, centred
    across5 = across3 & m[:, :-4] & m[:, 4:]  # 5 wide
    wide = across5[1:-3] & across5[2:-2] & across5[3:-1]  # 5 wide and 3 tall
    tall = across3[:-4] & across3[1:-3] & across3[2:-2] & across3[3:-1] & across3[4:]
    return bool((wide & tall).any())


def stroke_width(digit: NDArray[np.uint8]) -> float:
    """The typical width of a 28x28 digit's strokes, in pixels (0 without ink)."""
    from scipy import ndimage

    mask = digit > 127
    if not mask.any():
        return 0.0
    depth = ndimage.distance_transform_edt(mask)
    ridge = mask & (depth == ndimage.maximum_filter(depth, size=3))
    return 2 * float(np.median(depth[ridge]))


def even_strokes(digit: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A 28x28 digit written with a much thicker pen than MNIST's, thinned by one grey erosion
    (a 3x3 cross, or square for the thickest) and framed again; others as they are. Thick
    strokes fill a digit's loops and gaps, and the network was trained on thinner ones."""
    if not _has_core(digit > 127):
        return digit
    width = stroke_width(digit)
    if width < THICK_STROKES:
        return digit
    from scipy import ndimage

    footprint = ndimage.generate_binary_structure(2, 1 if width < VERY_THICK_STROKES else 2)
    thinner = ndimage.grey_erosion(digit, footprint=footprint)
    rows = np.flatnonzero(thinner.max(axis=1) > 64)
    cols = np.flatnonzero(thinner.max(axis=0) > 64)
    if not len(rows):  # nothing but strokes' edges: keep it as it was
        return digit
    crop = thinner[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return fit_to_field(crop.astype(np.float32) / 255)


def raw_image(
    image: Image.Image, invert: bool | None = None, name: str = "image"
) -> NDArray[np.uint8]:
    """An image that is already MNIST-style 28x28: grey levels only, inverted only if asked."""
    if image.size != (FIELD, FIELD):
        raise Refused(
            f"{name}: --raw needs 28x28 images, this one is {image.size[0]}x{image.size[1]}",
            "not 28x28",
        )
    grey = to_grey(image)
    if invert:
        grey = 1 - grey
    return np.round(grey * 255).astype(np.uint8)


def save_stages(
    stages: dict[str, NDArray[Any]], folder: Path, stem: str, *, overwrite: bool = False
) -> None:
    """Write each recorded stage as an 8-bit grey PNG, STEM-STAGE.png, through the one writer."""
    from nnmnist.io.atomic import failures_as, write_file

    for stage, a in stages.items():
        img = a.astype(np.float32) if a.dtype == bool else np.clip(a, 0, 1)
        if a.dtype == np.uint8:
            img = a.astype(np.float32) / 255
        picture = Image.fromarray(np.round(img * 255).astype(np.uint8), mode="L")
        path = folder / f"{stem}-{stage}.png"

        def write(f: BinaryIO, picture: Image.Image = picture) -> None:
            picture.save(f, format="PNG")

        with failures_as(ImageError, path):
            write_file(path, write, overwrite=overwrite)


def save_digit(pixels: NDArray[Any], path: Path, *, overwrite: bool = False) -> None:
    """Write 784 pixels (uint8 0-255, or floats in [0, 1]) as a 28x28 8-bit grey PNG, through
    the one writer (never over a link, an input or, without overwrite, an existing file)."""
    from nnmnist.io.atomic import failures_as, write_file

    img = np.asarray(pixels).reshape(FIELD, FIELD)
    if img.dtype != np.uint8:
        img = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(img, mode="L")
    with failures_as(ImageError, path):
        write_file(path, lambda f: picture.save(f, format="PNG"), overwrite=overwrite)
