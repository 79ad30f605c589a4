"""Written numbers: a picture of several digits split into lines of writing and digits, left
to right, joined digits cut apart (what `predict --number` reads). Each digit is framed as
images.py frames one digit."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from nnmnist.errors import Refused
from nnmnist.vision import gate
from nnmnist.vision.cleanup import EDGE_GROW, WORK_SIDE, at_most, cleaned
from nnmnist.vision.images import (
    FIELD,
    FRONT_END_MIN_SIDE,
    even_strokes,
    fit_to_field,
    light_paper,
    to_grey,
)
from nnmnist.vision.marks import MAX_MARKS

Box = tuple[int, int, int, int]  # left, top, right, bottom, in the picture's pixels


Reader = Callable[[NDArray[np.uint8]], NDArray[np.floating]]  # (n, 784) -> (n, 10) probabilities


def split_digits(
    image: Image.Image | NDArray[Any],
    invert: bool | None = None,
    name: str = "image",
    read: Reader | None = None,
) -> list[tuple[Box, NDArray[np.uint8]]]:
    """The digits of a written number, lines top to bottom and each left to right: each
    digit's box and its 28x28 field (split_lines, one list)."""
    return [d for line in split_lines(image, invert, name, read) for d in line]


def split_lines(
    image: Image.Image | NDArray[Any],
    invert: bool | None = None,
    name: str = "image",
    read: Reader | None = None,
) -> list[list[tuple[Box, NDArray[np.uint8]]]]:
    """The digits of a written number, line by line (top to bottom), each line left to right:
    each digit's box and its 28x28 digit.

    The picture goes through front_end; its connected marks are sorted into lines by the rows
    they span (_lines); in a line, marks whose columns overlap by at least half of the narrower
    one's width are one digit (a 5's detached bar, a broken stroke), unless both are tall
    (slanted digits that overlap). A mark much wider than the line is tall is digits written
    joined, cut where they are thinnest (_cut_joined); with read (a network's probabilities),
    a mark of about a digit's width is cut too when a cut reads better than the whole
    (_read_cut). Each digit is framed as preprocess frames one.
    """
    from scipy import ndimage

    grey = to_grey(image)
    if grey.ndim != 2 or min(grey.shape) < FRONT_END_MIN_SIDE:
        raise Refused(
            f"{name}: a number needs a picture of {FRONT_END_MIN_SIDE} px a side", "too small"
        )
    if invert is None:
        invert = light_paper(grey)
    scale = max(1.0, max(grey.shape) / WORK_SIDE)
    ink, mask = cleaned(grey, invert, name)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count > MAX_MARKS:  # as not_one_digit says of one digit: no number has that many
        raise Refused(f"{name}: ink scattered in {count:,} marks (noise, or no number)", "specks")
    objects = ndimage.find_objects(labels)
    out = []
    for line in _lines(objects):
        line_height = max(objects[j][0].stop for j in line) - min(objects[j][0].start for j in line)
        groups = _group_marks(objects, line, TALL_SHARE * line_height)
        groups = [  # a dot or a speck beside the digits is none of them
            g
            for g in groups
            if max(objects[j][0].stop for j in g) - min(objects[j][0].start for j in g)
            >= DOT_SHARE * line_height
        ] or groups
        spans = [
            max(objects[j][0].stop for j in g) - min(objects[j][0].start for j in g) for g in groups
        ]
        tall = int(np.median(spans))  # a number's digits are about as tall as each other
        digits = []
        for group in groups:
            top = min(objects[j][0].start for j in group)
            left = min(objects[j][1].start for j in group)
            area = (
                slice(top, max(objects[j][0].stop for j in group)),
                slice(left, max(objects[j][1].stop for j in group)),
            )
            own = np.isin(labels[area], [j + 1 for j in group])
            height = max(tall, own.shape[0])
            parts = _cut_joined(own, height)
            if read is not None and len(parts) <= 2:  # the cut, or whether to cut, by reading
                whole = _piece(own, slice(0, own.shape[1]), ink[area])
                pieces = _read_cut(own, whole, ink[area], height, read, must=len(parts) == 2)
            else:
                pieces = [_piece(own, part, ink[area]) for part in parts]
            for (y0, x0, y1, x1), digit in pieces:
                edges = (left + x0, top + y0, left + x1, top + y1)
                digits.append((tuple(round(v * scale) for v in edges), digit))
        out.append(digits)
    return out  # type: ignore[return-value]


def _lines(objects: list[tuple[slice, slice]]) -> list[list[int]]:
    """The marks (indexes into objects) of each line of writing, top to bottom. Marks at least
    half as tall as the tallest make the lines: one joins a line whose rows overlap half of the
    shorter's; the smaller marks (a 5's bar, a broken stroke) join the line whose rows they
    overlap most, or else the nearest. Lines less than LINE_GAP of their height apart are one
    (the top and bottom strokes of a line's digits)."""
    heights = [o[0].stop - o[0].start for o in objects]
    big = [k for k in range(len(objects)) if heights[k] >= 0.5 * max(heights)]
    spans: list[list[int]] = []  # per line: top, bottom
    members: list[list[int]] = []
    for k in sorted(big, key=lambda k: objects[k][0].start + objects[k][0].stop):
        top, bottom = objects[k][0].start, objects[k][0].stop
        for span, line in zip(spans, members, strict=True):
            overlap = min(bottom, span[1]) - max(top, span[0])
            if overlap >= 0.5 * min(bottom - top, span[1] - span[0]):
                line.append(k)
                span[:] = [min(top, span[0]), max(bottom, span[1])]
                break
        else:
            spans.append([top, bottom])
            members.append([k])
    for k in range(len(objects)):
        if k in big:
            continue
        top, bottom = objects[k][0].start, objects[k][0].stop
        middle = (top + bottom) / 2
        best = max(
            range(len(spans)),
            key=lambda i: (
                min(bottom, spans[i][1]) - max(top, spans[i][0]),
                -abs(middle - (spans[i][0] + spans[i][1]) / 2),
            ),
        )
        members[best].append(k)
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    lines = [members[order[0]]]
    last = spans[order[0]]
    for i in order[1:]:  # pieces of one line's digits (a 4 in two strokes): no gap between
        gap = spans[i][0] - last[1]
        if gap < LINE_GAP * min(spans[i][1] - spans[i][0], last[1] - last[0]):
            lines[-1] += members[i]
            last = [min(last[0], spans[i][0]), max(last[1], spans[i][1])]
        else:
            lines.append(members[i])
            last = spans[i]
    return lines


def ink_picture(
    image: Image.Image | NDArray[Any], invert: bool | None = None
) -> tuple[NDArray[np.float32], float]:
    """A picture with its ink bright, at most WORK_SIDE a side, to be drawn (--number --show),
    and how many of the picture's pixels each of its pixels is (split_digits' boxes are in the
    picture's pixels)."""
    grey = to_grey(image)
    if invert is None:
        invert = light_paper(grey)
    ink = 1 - grey if invert else grey
    return at_most(ink, WORK_SIDE), max(1.0, max(ink.shape) / WORK_SIDE)


def _group_marks(
    objects: list[tuple[slice, slice]], line: list[int], tall: float
) -> list[list[int]]:
    """The marks (indexes into objects) of each digit of a line, left to right: a mark joins the
    digit before it when their columns overlap by half the narrower's width, unless both are
    tall."""
    marks = sorted(line, key=lambda k: objects[k][1].start)
    groups: list[list[int]] = []
    for k in marks:
        (r, cols) = objects[k]
        if groups:
            last = groups[-1]
            left = min(objects[j][1].start for j in last)
            right = max(objects[j][1].stop for j in last)
            overlap = min(right, cols.stop) - max(left, cols.start)
            both_tall = r.stop - r.start >= tall and any(
                objects[j][0].stop - objects[j][0].start >= tall for j in last
            )
            if overlap >= 0.5 * min(right - left, cols.stop - cols.start) and not both_tall:
                last.append(k)
                continue
        groups.append([k])
    return groups


Piece = tuple[tuple[int, int, int, int], NDArray[np.uint8]]  # (top, left, bottom, right), digit


def _piece(own: NDArray[np.bool_], part: slice, ink: NDArray[np.float32]) -> Piece:
    """The digit made of a mark's columns part: its box within the mark and its 28x28 field."""
    piece = np.zeros_like(own)
    piece[:, part] = own[:, part]
    return _framed(piece, ink)


def _framed(piece: NDArray[np.bool_], ink: NDArray[np.float32]) -> Piece:
    """The digit whose pixels are piece (a mask over ink): its box and its 28x28 field."""
    from scipy import ndimage

    ys = np.flatnonzero(piece.any(axis=1))
    xs = np.flatnonzero(piece.any(axis=0))
    near = ndimage.maximum_filter(piece, size=2 * EDGE_GROW + 1)
    digit = even_strokes(fit_to_field(np.where(near, ink, 0).astype(np.float32)))
    return (int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1), digit


def _path_cut(own: NDArray[np.bool_], column: int, band: int) -> NDArray[np.bool_]:
    """The pixels left of the cheapest path from top to bottom through a mark, within band
    columns of column: each step goes down, down-left or down-right, and an inked pixel costs
    as much as ten of paper (so the path slips between touching strokes where it can)."""
    h, w = own.shape
    lo, hi = max(1, column - band), min(w - 1, column + band + 1)
    cost = own[:, lo:hi] * 10.0 + 1.0
    acc = cost[0].copy()
    moves = np.empty((h, hi - lo), np.intp)
    inf = np.array([np.inf])
    for y in range(1, h):
        options = np.stack([np.r_[inf, acc[:-1]], acc, np.r_[acc[1:], inf]])
        moves[y] = options.argmin(axis=0)
        acc = options.min(axis=0) + cost[y]
    x = int(acc.argmin())
    path = np.empty(h, np.intp)
    for y in range(h - 1, -1, -1):
        path[y] = lo + x
        if y:
            x += int(moves[y, x]) - 1
    left: NDArray[np.bool_] = np.arange(w)[None, :] < path[:, None]
    return left


def _read_cut(
    own: NDArray[np.bool_],
    piece: Piece,
    ink: NDArray[np.float32],
    height: int,
    read: Reader,
    must: bool = False,
) -> list[Piece]:
    """piece, or its two sides when it is at least MIN_CUT_RATIO times height wide and a cut
    reads better. From each of up to CUT_TRIES columns where the fewest of its pixels are (in
    its middle three fifths), the cheapest path through the ink (_path_cut); a cut is a
    candidate when both sides look like digits' strokes (_whole_sides); the candidate whose
    sides the network reads most surely (the product of the two) is kept when _cut_wins says
    so (always, with must)."""
    (_, x0, _, x1), whole = piece
    w = x1 - x0
    if w < MIN_CUT_RATIO * height and not must:
        return [piece]
    profile = own[:, x0:x1].sum(axis=0)[w // 5 : w - w // 5]
    cuts: list[int] = []
    for k in np.argsort(profile, kind="stable"):
        if all(abs(int(k) - c) >= max(2, w // 10) for c in cuts):
            cuts.append(int(k))
        if len(cuts) == CUT_TRIES:
            break
    tries = []
    for c in cuts:
        left = _path_cut(own, x0 + w // 5 + c, max(2, w // 4))
        sides = own & left, own & ~left
        if _whole_sides(*sides, height):
            tries.append((_framed(sides[0], ink), _framed(sides[1], ink)))
    if not tries:
        return [piece]
    fields = [whole] + [d for pair in tries for _, d in pair]
    sure = read(np.stack(fields).reshape(len(fields), FIELD * FIELD)).max(axis=1)
    pairs = sure[1:].reshape(len(tries), 2)
    best = int(np.argmax(pairs.prod(axis=1)))
    if must or _cut_wins(w / height, float(sure[0]), float(pairs[best].min()), whole):
        return list(tries[best])
    return [piece]


def _whole_sides(left: NDArray[np.bool_], right: NDArray[np.bool_], height: int) -> bool:
    """Whether both sides of a cut could be digits: each at least MIN_SIDE_HEIGHT of the
    number's height tall and MIN_SIDE_SHARE of the ink (not a speck or a stroke's tip, which a
    path slipping round a digit leaves, and which the network reads surely as a 1)."""
    inked = [int(left.sum()), int(right.sum())]
    for side, count in zip((left, right), inked, strict=True):
        rows = np.flatnonzero(side.any(axis=1))
        if not len(rows) or rows[-1] - rows[0] + 1 < MIN_SIDE_HEIGHT * height:
            return False
        if count < MIN_SIDE_SHARE * sum(inked):
            return False
    return True


def _cut_wins(ratio: float, whole: float, side: float, digit: NDArray[np.uint8]) -> bool:
    """Whether a mark ratio times as wide as the number is tall is two digits rather than one:
    a logistic rule on the width, how surely the network reads the whole and the less sure
    side of the best cut, and how surely the digit-or-not gate calls the whole not a digit
    (CUT_RULE)."""
    not_digit = float(gate.not_digit_probability(digit.reshape(1, FIELD * FIELD))[0])
    w_ratio, w_whole, w_side, w_gate, bias = CUT_RULE
    score = w_ratio * ratio + w_whole * _logit(whole) + w_side * _logit(side)
    return score + w_gate * _logit(not_digit) + bias > 0


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


# A mark wider than this times the number's height is taken for digits written joined (99% of
# MNIST's training digits are narrower than 1.43 times their height at 28x28; tuned on
# bench/photos.py numbers, seed 0) and cut where the fewest of its pixels are, in its middle
# half. From MIN_CUT_RATIO up, a cut is tried and kept if the network reads both sides better.
JOINED_RATIO = 1.3
LINE_GAP = 0.25  # of the shorter line's height: two lines of writing are further apart
DOT_SHARE = 0.25  # of the line's height: a mark no taller than this is a dot, not a digit
MIN_CUT_RATIO = 0.75
CUT_TRIES = 5
MIN_SIDE_HEIGHT = 0.5  # of the number's height: a cut's side shorter than this is no digit
MIN_SIDE_SHARE = 0.1  # of the mark's pixels: nor a side with fewer
# _cut_wins' weights (ratio, logit of the whole, logit of the less sure side, logit of the gate's
# "not a digit", bias): a logistic regression (scikit-learn, C=10, separated digits weighted
# 3 to 1) on bench/photos.py's seed 0 (148 touching pairs in one mark, 416 single digits of
# numbers wide enough to try). The rule it replaced (cut when the less sure side is surer than
# the whole and than 0.9, or 0.5 from 1.1 times as wide as tall) read 74.0% of seed 0's
# touching pairs with --model cnn; with this one and _whole_sides, 79.0% (separated numbers
# 97.0% -> 96.7%); the default model, trained later (on font digits too), reads 84.0%.
CUT_RULE = (4.04, -0.31, 0.37, 0.20, -1.99)
TALL_SHARE = 0.6  # of the ink's height: two marks this tall are two digits, however they overlap


def _cut_joined(own: NDArray[np.bool_], height: int | None = None) -> list[slice]:
    """The column ranges of the digits in one mark: the whole mark, or for one wider than
    JOINED_RATIO times its height (or the number's, when it is a part), the two sides of the
    cheapest cut, each cut again while still that wide."""
    h, w = own.shape
    height = height or h
    if w <= JOINED_RATIO * height or w < 8:
        return [slice(0, w)]
    profile = own.sum(axis=0)
    lo, hi = w // 4, w - w // 4
    cut = lo + int(np.argmin(profile[lo:hi]))
    out = []
    for part in (slice(0, cut), slice(cut, w)):
        for sub in _cut_joined(own[:, part], height):
            out.append(slice(part.start + sub.start, part.start + sub.stop))
    return out
