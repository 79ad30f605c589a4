"""A photo's clean-up: uneven light divided out, grain, ruled lines, specks and the marks at a
picture's edge dropped, the ink stretched to full contrast and thresholded (front_end)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from nnmnist.errors import Refused

INK_THRESHOLD = 0.25  # fraction of the strongest ink that counts towards the bounding box


def at_most(a: NDArray[np.float32], side: int) -> NDArray[np.float32]:
    """a reduced by averaging (a box filter) so that its longer side is at most side pixels."""
    h, w = a.shape
    if max(h, w) <= side:
        return a
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    out: NDArray[np.float32] = np.asarray(
        Image.fromarray(a, mode="F").resize(size, Image.Resampling.BOX)
    )
    return out


# front_end works at most at this size (160 lost 4 points on small digits in big sheets)
WORK_SIDE = 480
BACKGROUND_WINDOW = 0.25  # of the longer side: the paper's brightness is the brightest nearby
# (a blurred estimate at 64 px, used before, drew a shadow's hard edge as a line, 94% against
# 97% on seed 0; 0.14 of the side took the junctions of thick strokes in small crops for paper)
SAUVOLA_K, SAUVOLA_R = 0.1, 0.5  # k 0.1 kept faint ink whole (0.2: 94% against 100%)
# The percentile of the ink stretched to full ink: 99.5 was grain, not ink, for a small digit;
# 99.9 still was for a digit a seventeenth of a 1-megapixel photo's height (0.1% of the working
# picture's pixels or less): 99.97 read 86% of those against 78% (seed 0; seed 1: 83% against
# 79%), every 112x112 condition as before.
INK_TOP = 99.97
EDGE_GROW = 2  # pixels around the mask whose grey levels are kept (the strokes' soft edges)
SPECK_SHARE = 0.1  # marks under this share of the largest mark's pixels are specks
EDGE_MARK_SHARE = 0.5  # in a picture of one digit, the same for marks touching its edge,
MAX_EDGE_MARKS = 3  # when there are so few: a shadow leaves one or two, noise dozens (which
# not_one_digit must still see scattered: 50 at the edge of the uniform noise of test_shapes)


def cleaned(
    grey: NDArray[np.float32],
    invert: bool,
    name: str,
    stages: dict[str, NDArray[Any]] | None = None,
    one_digit: bool = False,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """front_end on a picture of either polarity, and ImageError when no ink is left. (Every
    pixel of the mask has ink above INK_THRESHOLD, so an empty mask is the only blank case.)"""
    ink, mask = front_end(grey if invert else 1 - grey, stages, one_digit)
    if not mask.any():
        raise Refused(f"{name}: blank image (no ink stands out from the background)", "blank")
    return ink, mask


def front_end(
    paper: NDArray[np.float32],
    stages: dict[str, NDArray[Any]] | None = None,
    one_digit: bool = False,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """A photo's clean-up, on a grey picture with bright paper and dark ink in [0, 1]: returns
    the ink (bright, in [0, 1], at the working size) and the mask of the digit's pixels.

    Reduced by averaging to WORK_SIDE (which also averages noise away), a median (a pixel and
    its four neighbours) against the remaining grain (where there is some, _grainy), the
    paper's brightness estimated by a grey closing wider than the strokes (_paper_light) and
    divided out (uneven light, shadows), the ink stretched to full contrast, a Sauvola
    threshold over windows a sixth of the picture, ruled lines and borders dropped
    (_ruled_lines), and specks (marks under a tenth of the largest) dropped; for a picture of
    one_digit, up to three marks touching the picture's edge under half the largest too (the
    corners of a shadow whose edge runs out of the picture, which the closing takes for ink;
    the edge of another sheet). scipy.ndimage does the filtering.
    """
    from scipy import ndimage

    paper = at_most(paper, WORK_SIDE)
    h, w = paper.shape
    if _grainy(paper):  # the median costs as much as the rest: only where there is grain
        paper = ndimage.median_filter(paper, footprint=_CROSS)
    light = _paper_light(paper)
    flat = np.clip(paper / np.maximum(light, 0.05), 0, 1).astype(np.float32)
    if stages is not None:
        stages.update({"2-denoised": paper, "3-light": light, "4-flattened": flat})
    ink = 1 - flat
    top = _top_percentile(ink, INK_TOP)
    if top > 0:
        ink = np.clip(ink / top, 0, 1)
    win = max(15, min(h, w) // 6) | 1
    # Sauvola's threshold, only where the ink is strong enough to count (the mask needs both):
    # over the box of those pixels grown by half a window, the filters' values there are the
    # whole picture's (on a photo, a few percent of it).
    mask = ink > INK_THRESHOLD
    if (box := _grown_box(mask, win // 2 + 1)) is not None:
        local = flat[box]
        mean = ndimage.uniform_filter(local, win)
        sq = ndimage.uniform_filter(local * local, win)
        std = np.sqrt(np.maximum(sq - mean * mean, 0))
        mask[box] &= local < mean * (1 + SAUVOLA_K * (std / SAUVOLA_R - 1))
    mask &= ~_ruled_lines(mask)
    out = np.zeros_like(ink)
    if (box := _grown_box(mask, EDGE_GROW)) is not None:  # the marks' box, and beside them
        part = mask[box]
        labels, count = ndimage.label(part, structure=np.ones((3, 3), bool))
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        kept = sizes >= SPECK_SHARE * sizes.max()
        at_edge = _at_edge(labels, box, (h, w)) if one_digit else np.zeros(0, np.intp)
        if len(at_edge) <= MAX_EDGE_MARKS:  # the edge's small marks are not the digit
            kept[at_edge] &= sizes[at_edge] >= EDGE_MARK_SHARE * sizes.max()
        mask[box] = part = kept[labels]
        # the digit's grey levels where the mask is, grown by EDGE_GROW pixels (soft edges)
        near = ndimage.maximum_filter(part, size=2 * EDGE_GROW + 1)  # EDGE_GROW 3x3 dilations
        out[box] = np.where(near, ink[box], 0)
    if stages is not None:
        stages["5-mask"] = mask
    return out, mask


def _at_edge(
    labels: NDArray[np.int32], box: tuple[slice, slice], shape: tuple[int, int]
) -> NDArray[np.intp]:
    """The labels (of marks labelled over the picture's box) that touch the picture's edge."""
    rows, cols = box
    edges = [
        labels[0] if rows.start == 0 else None,
        labels[-1] if rows.stop == shape[0] else None,
        labels[:, 0] if cols.start == 0 else None,
        labels[:, -1] if cols.stop == shape[1] else None,
    ]
    found = np.unique(np.concatenate([e for e in edges if e is not None] or [labels[:0, 0]]))
    return found[found > 0]


def _grown_box(mask: NDArray[np.bool_], margin: int) -> tuple[slice, slice] | None:
    """The bounding box of the mask's pixels grown by margin on every side (within the
    picture), or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
        slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)),
    )


def _top_percentile(a: NDArray[np.float32], q: float) -> float:
    """np.percentile(a, q) (linear interpolation) for a high q, ranking only the values at the
    top: numpy partitions the whole array around four ranks, which cost a photo 1.8 ms.

    The two order statistics numpy interpolates between are found among the values above a
    bound guessed from a sample (all of them, if the guess leaves too few), and interpolated by
    numpy itself with the same weight: np.quantile of the two, at the fraction numpy computes
    for the whole array ((n - 1) * q / 100, as its linear method does). A test compares the
    two on thousands of arrays."""
    flat = a.ravel()
    n = flat.size
    virtual = (n - 1) * (q / 100)
    i = math.floor(virtual)
    need = n - i  # ranks i and i + 1 (numbered from the smallest) lie among the top `need`
    if n < 1000 or need + 1 > n // 50:
        return float(np.percentile(flat, q))
    sample = flat[::16]
    k = min(len(sample), 4 * (need // 16 + 2))  # about four times as many as needed
    bound = np.partition(sample, len(sample) - k)[len(sample) - k]
    top = flat[flat >= bound]
    if len(top) < need:
        return float(np.percentile(flat, q))
    rank = i - (n - len(top))
    pair = np.partition(top, [rank, rank + 1] if rank + 1 < len(top) else [rank])
    low = pair[rank]
    high = pair[rank + 1] if rank + 1 < len(top) else low
    return float(np.quantile(np.array([low, high], dtype=flat.dtype), virtual - i))


# the median over a pixel and its four neighbours: every bench/photos.py condition read as with
# the 3x3 square (seeds 0 and 1), in under half the time
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
GRAIN = 0.02  # pixel noise (a robust sigma, on 0-1) above which the median runs


def _paper_light(paper: NDArray[np.float32]) -> NDArray[np.float32]:
    """The paper's brightness: a grey closing wider than any stroke (it keeps a shadow's hard
    edge sharp), on the picture halved by averaging (a quarter of the work, and half the grain
    that would push the closing's maxima up), brought back to full size."""
    from scipy import ndimage

    h, w = paper.shape
    if min(h, w) < 64:
        small = paper
    else:
        half = ((w + 1) // 2, (h + 1) // 2)
        small = np.asarray(Image.fromarray(paper, mode="F").resize(half, Image.Resampling.BOX))
    k = max(3, round(BACKGROUND_WINDOW * max(small.shape)))
    light = ndimage.grey_closing(small, size=(k, k))
    if light.shape != paper.shape:
        light = np.asarray(
            Image.fromarray(light, mode="F").resize((w, h), Image.Resampling.BILINEAR)
        )
    out: NDArray[np.float32] = light.astype(np.float32, copy=False)
    return out


def _grainy(paper: NDArray[np.float32]) -> bool:
    """Whether a picture has pixel noise: the median absolute difference between each pixel and
    its 3x3 neighbourhood's mean, scaled to a Gaussian's sigma, is above GRAIN. Measured on
    every other row and column (a quarter will do), where the nine neighbours are summed
    directly (edges mirrored, as scipy's uniform filter does): a filter over the whole picture
    did four times the work."""
    padded = np.pad(paper, 1, mode="symmetric")
    h, w = paper.shape
    total = np.zeros(((h + 1) // 2, (w + 1) // 2), np.float32)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + h : 2, dx : dx + w : 2]
    detail = np.abs(paper[::2, ::2] - total / 9)
    return float(np.median(detail)) * 1.4826 > GRAIN


def _ruled_lines(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Thin bands of rows (or columns) mostly inked across the picture: ruled or squared
    paper, a table's border. A digit's strokes are never that long and that thin."""
    from scipy import ndimage

    out = np.zeros_like(mask)
    for axis, share in ((1, 0.5), (0, 0.9)):  # columns: only borders (a 1 is tall and thin)
        h = mask.shape[1 - axis]
        across = mask.mean(axis=axis) >= share
        labels, count = ndimage.label(across)
        thin = max(2, h // 30)
        for k in range(1, count + 1):
            run = labels == k
            if run.sum() <= thin:
                if axis == 1:
                    out[run, :] = True
                else:
                    out[:, run] = True
    return out
