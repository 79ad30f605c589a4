"""Pictures in the terminal: digits, numbers, image grids and line charts drawn with half-block
characters (two pixel rows a character), in grey shades where the terminal has colour. With
terminal.py, the only modules that import rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from nnmnist.io.formats import printable

_BLOCK = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def _digit_lines(pixels: Any, colour: bool) -> list[Text]:
    """28x28 grey levels as 14 lines of half blocks: each character is two pixel rows."""
    import numpy as np

    img = np.asarray(pixels).reshape(28, 28)
    grey = (
        img.astype(int) if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255).round().astype(int)
    )
    return _half_blocks(grey, np.zeros(grey.shape, bool), colour)


HIGHLIGHT = "rgb(255,200,0)"


def _half_blocks(grey: Any, marked: Any, colour: bool) -> list[Text]:
    """Grey levels 0-255 (an even number of rows) as lines of half blocks, each character two
    pixel rows: in their grey shades, or without colour as blocks where the grey is 96 or more;
    marked pixels (a box drawn round a digit) in HIGHLIGHT, or as blocks."""
    lines = []
    for r in range(0, grey.shape[0], 2):
        line = Text()
        for c in range(grey.shape[1]):
            cells = [(int(grey[r + k, c]), bool(marked[r + k, c])) for k in (0, 1)]
            if colour:
                top, bottom = (HIGHLIGHT if on else f"rgb({v},{v},{v})" for v, on in cells)
                line.append("▀", style=f"{top} on {bottom}")
            else:
                line.append(
                    _BLOCK[(cells[0][0] >= 96 or cells[0][1], cells[1][0] >= 96 or cells[1][1])]
                )
        lines.append(line)
    return lines


def show_digit(console: Console, name: str, pixels: Any, probs: Any) -> None:
    """The 28x28 digit as the network saw it, beside a bar chart of the ten probabilities."""
    colour = console.color_system is not None and not console.no_color  # NO_COLOR: blocks
    digit = _digit_lines(pixels, colour)
    best = int(probs.argmax())
    bars = []
    for d in range(10):
        p = float(probs[d])
        width = round(p * 20)
        style = "bold green" if d == best else "cyan"
        bar = Text(f" {d} ", style="bold" if d == best else "")
        bar.append("█" * width, style=style)
        bar.append("·" * (20 - width), style="grey35")
        bar.append(f" {p:6.1%}")
        bars.append(bar)
    console.print(
        Text(printable(name), style="bold"), markup=False, highlight=False, soft_wrap=True
    )
    # 14 lines of digit; the 10 bars sit beside lines 2-11
    for i, line in enumerate(digit):
        row = Text("  ") + line
        if 2 <= i < 12:
            row += Text("  ") + bars[i - 2]
        console.print(row, highlight=False, soft_wrap=True)


NUMBER_LINES = 20  # a number's picture is drawn at most this many lines (40 pixel rows) tall


def show_number(
    console: Console, name: str, ink: Any, boxes: list[Any], probs: Any, scale: float
) -> None:
    """A picture of a number (ink bright, in [0, 1]) in half blocks with the box of each digit
    found drawn round it (yellow; in blocks without colour), then each digit's label and
    probability. scale: picture pixels per pixel of ink (the boxes are in picture pixels)."""
    import numpy as np
    from PIL import Image

    h, w = ink.shape
    f = min((console.width - 4) / w, 2 * NUMBER_LINES / h, 1.0)
    size = (max(1, round(w * f)), max(2, 2 * round(h * f / 2)))
    small = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size))
    edge = np.zeros(small.shape, bool)
    for edges in boxes:
        x0, y0, x1, y1 = (int(v / scale * f) for v in edges)
        x1, y1 = min(x1, size[0] - 1), min(y1, size[1] - 1)
        edge[y0 : y1 + 1, [x0, x1]] = True
        edge[[y0, y1], x0 : x1 + 1] = True
    colour = console.color_system is not None and not console.no_color
    grey = (np.clip(small, 0, 1) * 255).round().astype(int)
    console.print(Text(printable(name), style="bold"), markup=False, highlight=False)
    for line in _half_blocks(grey, edge, colour):
        console.print(Text("  ") + line, highlight=False, soft_wrap=True)
    digits = Text("  ")
    for p in probs:
        digits.append(f"{int(p.argmax())}", style="bold green")
        digits.append(f" {float(p.max()):.1%}  ")
    console.print(digits, highlight=False, soft_wrap=True)


def show_images(
    console: Console, title: str, images: Any, captions: list[str], per_row: int = 0
) -> None:
    """Small pictures (each (rows, cols) of grey levels 0-255, an even number of rows) side by
    side in half blocks, a caption under each, as many to a row as the terminal holds."""
    colour = console.color_system is not None and not console.no_color
    console.print(Text(title, style="bold"), markup=False, highlight=False)
    if not len(images):
        return
    width = images[0].shape[1] + 2
    per_row = per_row or max(1, console.width // width)
    for lo in range(0, len(images), per_row):
        blocks = [_half_blocks(img, img < -1, colour) for img in images[lo : lo + per_row]]
        for r in range(len(blocks[0])):
            line = Text()
            for b in blocks:
                line += b[r] + Text("  ")
            console.print(line, no_wrap=True, crop=True)
        console.print(
            "".join(c[: width - 1].ljust(width) for c in captions[lo : lo + per_row]),
            markup=False,
            highlight=False,
        )


def show_chart(
    console: Console, title: str, series: list[tuple[str, str, Any, Any]], height: int = 12
) -> None:
    """Curves in half blocks, one colour each: (name, colour, xs, ys) per series; the y range
    written at the left, the x range under the plot."""
    import numpy as np

    width = min(72, console.width - 10)
    xs = np.concatenate([np.asarray(x, float) for _, _, x, _ in series])
    ys = np.concatenate([np.asarray(y, float) for _, _, _, y in series])
    x0, x1 = float(xs.min()), float(xs.max())
    y0, y1 = float(ys.min()), float(ys.max())
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    grid: list[list[str | None]] = [[None] * width for _ in range(2 * height)]
    for _, colour, x, y in series:
        cols = np.clip(
            ((np.asarray(x, float) - x0) / max(x1 - x0, 1e-12) * (width - 1)).round(), 0, width - 1
        )
        rows = np.clip(
            ((y1 - np.asarray(y, float)) / (y1 - y0) * (2 * height - 1)).round(), 0, 2 * height - 1
        )
        for c, r in zip(cols.astype(int), rows.astype(int), strict=True):
            grid[r][c] = colour
    console.print(Text(title, style="bold"), markup=False, highlight=False)
    for r in range(0, 2 * height, 2):
        label = f"{y1:8.3g} " if r == 0 else f"{y0:8.3g} " if r == 2 * height - 2 else " " * 9
        line = Text(label + "│")
        for c in range(width):
            top, bottom = grid[r][c], grid[r + 1][c]
            if top and bottom:
                line.append(
                    "█" if top == bottom else "▀",
                    style=top if top == bottom else f"{top} on {bottom}",
                )
            elif top or bottom:
                line.append("▀" if top else "▄", style=top or bottom or "")
            else:
                line.append(" ")
        console.print(line, no_wrap=True, crop=True)
    console.print(" " * 9 + "└" + "─" * width, highlight=False)
    console.print(f"{'':9} {x0:<10.3g}{'':{max(0, width - 20)}}{x1:>10.3g}", highlight=False)
    legend = Text(" " * 10)
    for name, colour, _, _ in series:
        legend.append("━━ ", style=colour)
        legend.append(f"{name}   ")
    console.print(legend, highlight=False)
