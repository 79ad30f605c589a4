"""Result lines for predict: text, CSV and JSON Lines. Plain Python, no terminal.

Both engines (local, and Dask's workers) produce their output through answer_lines, so the
same images give the same bytes whichever runs them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import numpy as np
from numpy.typing import NDArray

SUFFIXES = {"text": "txt", "csv": "csv", "jsonl": "jsonl"}  # for files of results
# What must not reach a terminal or a result line as it is: control characters (ESC, tab,
# newline, C1), bidirectional overrides, line separators, and the surrogates Python uses for
# bytes of a file name that are not UTF-8.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 name: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """text with control characters and the like shown visibly (ESC as \\x1b, newline as \\x0a)."""
    return _UNPRINTABLE.sub(_escape, text)


def printable_names(names: list[str]) -> list[str]:
    joined = "".join(names)  # one check per batch, not one per name
    if joined.isascii() and joined.isprintable():  # ASCII 0x20-0x7e only: the common case, fast
        return names
    if _UNPRINTABLE.search(joined):
        return [printable(n) for n in names]
    return names


def answer_lines(
    names: list[str],
    probs: NDArray[Any],
    reasons: list[str | None],
    failed: dict[int, str],
    fmt: str,
    top_k: int,
) -> list[str]:
    """A result line per image of an answered batch (engines.local.answer): the top_k labels
    and their probabilities; a row with a reason has no label, and a failed row (no picture at
    all) no probabilities either."""
    if top_k == 1:
        labels = probs.argmax(axis=1)[:, None]  # (b, 1)
    else:
        labels = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]  # (b, k), best first
    best = np.take_along_axis(probs, labels, axis=1)
    if not any(r is not None for r in reasons):
        return prediction_lines(names, labels, best, fmt)
    return prediction_lines(names, labels, best, fmt, reasons=reasons, unread=failed)


UNSURE = "below --min-confidence"


def blank_rows(pixels: NDArray[Any]) -> NDArray[np.bool_]:
    """(batch,) True where a row of pixels is all zeros: nothing to read, so no label."""
    if pixels.dtype == np.uint8 and pixels.flags.c_contiguous and pixels.shape[-1] % 8 == 0:
        pixels = pixels.view(np.uint64)  # eight pixels a word: the same answer, 1.3x faster
    inked: NDArray[np.bool_] = np.asarray(pixels.any(axis=1))
    return ~inked


_ROW = re.compile(r"(.*):([0-9]+)")


class BlankRows:
    """Counts the blank rows of each input and says so in one line per input at the end.

    Kept bounded: a count and the first few row names per input, however many rows are blank.
    """

    SHOWN = 3

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, list[str]]] = {}

    def add(self, names: list[str], blank: NDArray[np.bool_]) -> None:
        """Count the rows marked in blank (a blank_rows result for these names)."""
        for i in np.flatnonzero(blank).tolist():
            m = _ROW.fullmatch(names[i])
            source, row = (m.group(1), m.group(2)) if m else (names[i], "")
            count, shown = self._rows.get(source, (0, []))
            if len(shown) < self.SHOWN and row:
                shown.append(row)
            self._rows[source] = (count + 1, shown)

    def merge(self, other: BlankRows) -> None:
        """Take in another part's counts (a Dask chunk's), parts in input order."""
        for source, (count, shown) in other._rows.items():
            mine, mine_shown = self._rows.get(source, (0, []))
            self._rows[source] = (mine + count, (mine_shown + shown)[: self.SHOWN])

    def messages(self) -> list[str]:
        out = []
        for source, (count, shown) in self._rows.items():
            what = "1 row is" if count == 1 else f"{count:,} rows are"
            if not shown:  # one array, one image
                what = "the image is"
            where = ""
            if shown:
                more = ", ..." if count > len(shown) else ""
                where = f" (row{'s' if count > 1 else ''} {', '.join(shown)}{more})"
            out.append(f"{printable(source)}: {what} blank, every pixel 0{where}: no label given")
        return out


def number_line(
    name: str, boxes: list[Any], probs: NDArray[Any], fmt: str, lines: list[int] | None = None
) -> str:
    """One picture of a number: its digits (best label each, left to right, a space between
    lines when lines gives how many digits each line of writing holds) and the least sure
    digit's probability; jsonl adds each digit's label, probability, box and line."""
    labels = probs.argmax(axis=1).tolist()
    best = probs.max(axis=1).tolist()
    line_of = [i for i, n in enumerate(lines or [len(labels)]) for _ in range(n)]
    number = "".join(
        (" " if k and line_of[k] != line_of[k - 1] else "") + str(lb) for k, lb in enumerate(labels)
    )
    sure = min(best)
    shown = printable(name)
    if fmt == "jsonl":
        digits = [
            {"label": lb, "probability": round(p, 6), "box": list(map(int, box)), "line": ln}
            for lb, p, box, ln in zip(labels, best, boxes, line_of, strict=True)
        ]
        obj = {"input": shown, "number": number, "probability": round(sure, 6), "digits": digits}
        return json.dumps(obj)
    if fmt == "csv":
        return _csv_lines([[shown, number, f"{sure:.6f}", ""]])[0]
    return f"{shown}\t{number}\t{sure:.6f}"


NUMBER_HEADER = "input,number,probability,reason"


def unread_number_line(name: str, fmt: str, reason: str) -> str:
    """The line of a picture whose number was not read (refused, or not read): no number, no
    probability, the reason."""
    shown = printable(name)
    if fmt == "jsonl":
        return json.dumps({"input": shown, "number": None, "probability": None, "reason": reason})
    if fmt == "csv":
        return _csv_lines([[shown, "", "", reason]])[0]
    return f"{shown}\t?\t-\t{reason}"


def _csv_special(text: str) -> bool:
    """True if CSV must quote some of this text (four substring searches: faster than a regex)."""
    return "," in text or '"' in text or "\n" in text or "\r" in text


def csv_header(top_k: int) -> str:
    cols = ["input", "label", "probability"]
    for k in range(2, top_k + 1):
        cols += [f"label_{k}", f"probability_{k}"]
    return ",".join([*cols, "reason"])


def _csv_lines(rows: list[list[Any]]) -> list[str]:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().splitlines()


REJECTED = {"text": "?", "csv": "", "jsonl": None}  # the label of a rejected prediction


def prediction_lines(
    names: list[str],
    labels: Any,
    probs: Any,
    fmt: str,
    reasons: list[str | None] | None = None,
    unread: dict[int, str] | None = None,
) -> list[str]:
    """One line per image: text (name, label, probability), csv, or jsonl.

    labels and probs have shape (batch, k): the k best labels of each image, best first.
    reasons: per image, None or why its label is withheld (a refusal, a read failure, low
    confidence): the label is then '?', empty or null, and the reason follows (a last text
    column, csv's reason column, a "reason" field). unread: rows that hold no picture, given
    without probabilities. A batch of probabilities in [0, 1] with nothing withheld is
    formatted by NumPy's string functions a column at a time (_columns); anything else
    (outputs of an identity layer, a name CSV must quote, ...) line by line in Python (_rows).
    Both give the same bytes: a test compares them.
    """
    names = printable_names(names)
    columns = _columns(names, labels, probs, fmt) if reasons is None else None
    if columns is not None:
        return columns
    return _rows(names, labels, probs, fmt, reasons, unread)


def _rows(
    names: list[str],
    labels: Any,
    probs: Any,
    fmt: str,
    reasons: list[str | None] | None = None,
    unread: dict[int, str] | None = None,
) -> list[str]:
    k = labels.shape[1]
    label_rows, prob_rows = labels.tolist(), probs.tolist()
    # the label column: the best label, or the format's mark where the answer is withheld
    heads: list[Any] = [
        lb[0] if reasons is None or reasons[i] is None else REJECTED[fmt]
        for i, lb in enumerate(label_rows)
    ]
    why = reasons or [None] * len(names)
    empty = set(unread or ())
    rows = zip(names, heads, label_rows, prob_rows, why, strict=True)
    if fmt == "csv":
        table = []
        for i, (n, h, lb, p, r) in enumerate(rows):
            if i in empty:
                table.append([n, "", "", *([""] * (2 * (k - 1))), r])
                continue
            pairs = [x for a, b in zip(lb[1:], p[1:], strict=True) for x in (a, f"{b:.6f}")]
            table.append([n, h, f"{p[0]:.6f}", *pairs, r or ""])
        if _csv_special("".join(names) + "".join(r or "" for r in why)):
            return _csv_lines(table)  # quoting: the csv module's, for the batch
        return [",".join(map(str, row)) for row in table]
    if fmt == "jsonl":
        lines = []
        for i, (n, h, lb, p, r) in enumerate(rows):
            obj: dict[str, Any] = {"input": n, "label": h, "probability": None}
            if i not in empty:
                obj["probability"] = round(p[0], 6)
                if k > 1:
                    obj["top_k"] = [
                        {"label": a, "probability": round(b, 6)} for a, b in zip(lb, p, strict=True)
                    ]
            if r is not None:
                obj["reason"] = r
            lines.append(json.dumps(obj))
        return lines
    out = []
    for i, (n, h, lb, p, r) in enumerate(rows):
        if i in empty:
            out.append(f"{n}\t{h}\t-\t{r}")
            continue
        line = f"{n}\t{h}\t{p[0]:.6f}"
        if k > 1:
            line += "\t" + " ".join(f"{a}:{b:.6f}" for a, b in zip(lb[1:], p[1:], strict=True))
        out.append(line if r is None else f"{line}\t{r}")
    return out


# repr(round(p, 6)) of the probabilities under 1e-4, which Python writes as 1e-06, 1.2e-05, ...
_TINY = np.array([repr(q / 1e6) for q in range(100)])
_JSON_ESCAPED = re.compile(r'["\\]|[^\x20-\x7e]')  # what json.dumps writes escaped


def _columns(names: list[str], labels: Any, probs: Any, fmt: str) -> list[str] | None:
    """The lines of a batch built column by column with np.strings; None where this cannot
    give _rows' bytes (probabilities outside [0, 1], a name CSV quotes or JSON escapes)."""
    if len(names) == 0 or not ((probs >= 0).all() and (probs <= 1).all()):
        return None
    joined = "".join(names)
    if (fmt == "csv" and _csv_special(joined)) or (fmt == "jsonl" and _JSON_ESCAPED.search(joined)):
        return None
    micro = _micro_units(probs)
    if micro is None:
        return None
    add = np.strings.add
    digits = (labels + ord("0")).astype(np.uint32).view("U1")  # (b, k) code points as str
    if fmt == "jsonl":
        return _json_columns(names, digits, micro)
    fixed = _fixed6(micro)  # (b, k) "0.999995"
    head = digits[:, 0]
    sep = "," if fmt == "csv" else "\t"
    line = add(add(add(add(np.array(names), sep), head), sep), fixed[:, 0])
    for j in range(1, labels.shape[1]):
        before = "," if fmt == "csv" else ("\t" if j == 1 else " ")
        pair = add(add(digits[:, j], "," if fmt == "csv" else ":"), fixed[:, j])
        line = add(add(line, before), pair)
    if fmt == "csv":
        line = add(line, ",")  # the reason column, empty
    result: list[str] = line.tolist()
    return result


def _micro_units(probs: Any) -> Any:
    """Probabilities as whole millionths, rounded as f"{p:.6f}" and round(p, 6) round them
    (exactly, half to even); None when one lies so near a half millionth that the product's
    own rounding (at most 2**-53 of it) could decide. For a float32 p = m / 2**e (m < 2**24),
    x = p * 1e6 lies at least x / (2**25 * 1e6), about x * 3e-14, from any half: never here;
    a float64 p rarely."""
    scaled = np.asarray(probs, dtype=np.float64) * 1e6
    micro = np.rint(scaled)
    if (np.abs(np.abs(scaled - micro) - 0.5) <= scaled * 1e-15).any():
        return None
    return micro.astype(np.int64)


def _fixed6(micro: Any) -> Any:
    """Whole millionths 0..1,000,000 as "0.000000".."1.000000" (an array of str), built as
    the code points of each string (a "U8" element is eight of them)."""
    chars = np.empty((*micro.shape, 8), dtype=np.uint32)
    chars[..., 0] = micro // 1_000_000 + ord("0")
    chars[..., 1] = ord(".")
    rest = micro % 1_000_000
    for j in range(7, 1, -1):
        chars[..., j] = rest % 10 + ord("0")
        rest //= 10
    return chars.view("U8")[..., 0]


def _shortest(micro: Any) -> Any:
    """Whole millionths as repr(round(p, 6)) writes them: 0.0, 1e-06, 0.5, 0.999995, 1.0."""
    short = np.strings.rstrip(_fixed6(micro), "0")
    short = np.where(np.strings.endswith(short, "."), np.strings.add(short, "0"), short)
    return np.where(micro < 100, _TINY[np.minimum(micro, 99)], short)


def _json_columns(names: list[str], digits: Any, micro: Any) -> list[str]:
    """jsonl lines as json.dumps writes them: probabilities as repr(round(p, 6))."""
    add = np.strings.add
    short = _shortest(micro)
    head = digits[:, 0]
    line = add(add(add('{"input": "', np.array(names)), '", "label": '), head)
    line = add(add(line, ', "probability": '), short[:, 0])
    k = digits.shape[1]
    if k > 1:
        line = add(line, ', "top_k": [')
        for j in range(k):
            entry = add(add(add('{"label": ', digits[:, j]), ', "probability": '), short[:, j])
            line = add(add(line, ", " if j else ""), add(entry, "}"))
        line = add(line, "]")
    result: list[str] = add(line, "}").tolist()
    return result
