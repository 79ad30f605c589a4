"""A report of an evaluation (or a training run) as one self-contained HTML page.

Nothing in the page is fetched when it opens: no scripts, no fonts, no style sheets from
elsewhere; charts are inline SVG written here, digits are PNG data URIs (Pillow, a dependency
already), and the links from the confusion matrix to the misread digits are anchors in the
page. Every name that came from outside (file names, the command line) is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core.evaluation import Evaluation
from nnmnist.core.metrics import precision_recall
from nnmnist.core.network import Network, forward
from nnmnist.io.formats import printable

MISTAKES_SHOWN = 100  # the most confident mistakes, on top
PER_PAIR = 60  # misread digits shown under each (true, predicted) cell


@dataclass
class Mistakes:
    """The misread images of an evaluation: indices, predictions and the top-3 of each."""

    index: NDArray[np.intp]  # (m,) rows of the evaluated images
    predicted: NDArray[np.intp]  # (m,)
    top3: NDArray[np.intp]  # (m, 3) labels, best first
    top3_probs: NDArray[np.floating]  # (m, 3)


class MistakeCollector:
    """Keeps the misread rows of an evaluation as its batches go by (evaluation.evaluate's
    on_probs), so that a report needs no second pass over the images."""

    def __init__(self, labels: NDArray[np.integer], refused: Any = ()) -> None:
        self.labels = labels
        self.answered = np.ones(len(labels), dtype=bool)  # refused rows are not mistakes
        self.answered[list(refused)] = False
        self.parts: list[tuple[Any, Any, Any, Any]] = []

    def __call__(self, lo: int, probs: NDArray[np.floating]) -> None:
        guess = probs.argmax(axis=1)
        rows = slice(lo, lo + len(probs))
        wrong = np.flatnonzero((guess != self.labels[rows]) & self.answered[rows])
        order = np.argsort(-probs[wrong], axis=1, kind="stable")[:, :3]
        top = np.take_along_axis(probs[wrong], order, axis=1)
        self.parts.append((lo + wrong, guess[wrong], order, top))

    def mistakes(self) -> Mistakes:
        if not self.parts:
            return Mistakes(
                np.zeros(0, np.intp),
                np.zeros(0, np.intp),
                np.zeros((0, 3), np.intp),
                np.zeros((0, 3)),
            )
        index, predicted, top3, probs = (np.concatenate(p) for p in zip(*self.parts, strict=True))
        return Mistakes(index, predicted, top3, probs)


def find_mistakes(
    probs_of: Any, images: NDArray[np.uint8], labels: NDArray[np.integer], block: int = 1000
) -> Mistakes:
    """Run probs_of (images -> (n, 10) probabilities) block by block; keep the misread ones."""
    collect = MistakeCollector(labels)
    for lo in range(0, len(labels), block):
        collect(lo, probs_of(images[lo : lo + block]))
    return collect.mistakes()


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: right; }
th { font-weight: 600; } .summary td { text-align: left; } .summary td:first-child { color: #555; }
table.confusion td { width: 3.2em; height: 2.2em; text-align: center; border: 1px solid #fff; }
table.confusion a { color: inherit; font-weight: 600; }
.digits { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; width: 92px; text-align: center; font-size: 11px; }
figure img { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #ccc; }
code, pre { background: #f4f4f4; padding: 2px 4px; white-space: pre-wrap; word-break: break-all; }
svg text { font: 11px sans-serif; fill: #444; }
"""


def _e(text: Any) -> str:
    return html.escape(printable(str(text)))


def digit_uri(pixels: NDArray[np.uint8]) -> str:
    """A 28x28 digit as a PNG data URI, dark ink on white."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(255 - pixels.reshape(28, 28).astype(np.uint8)).save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def line_chart(
    series: Sequence[tuple[str, str, Sequence[float]]],
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 240,
) -> str:
    """An inline SVG chart of a few series over 1..n: (name, colour, values) each."""
    left, right, top, bottom = 56, 16, 12, 36
    values = [v for _, _, ys in series for v in ys]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    n = max((len(ys) for _, _, ys in series), default=1)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(y_label)} by {_e(x_label)}">',
        f'<rect x="{left}" y="{top}" width="{width - left - right}" '
        f'height="{height - top - bottom}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#e4e4e4"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.4g}</text>'
        )
    for i in sorted({0, n - 1, (n - 1) // 2}):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">{i + 1}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 4}" text-anchor="middle">'
        f"{_e(x_label)}</text>"
    )
    for k, (name, colour, ys) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(ys))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        parts.append(
            f'<text x="{width - right - 8}" y="{height - bottom - 10 - 14 * k}" '
            f'text-anchor="end" style="fill:{colour}">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _heat(share: float, diagonal: bool) -> str:
    """A cell's colour: blue for right answers, red for mistakes, deeper for a larger share."""
    if diagonal:
        return f"background: rgba(31, 119, 180, {0.15 + 0.85 * share:.3f}); color: #fff"
    if share == 0:
        return "background: #fff; color: #bbb"
    return f"background: rgba(214, 39, 40, {min(1.0, 0.12 + 4 * share):.3f})"


def refused_section(
    refused: dict[int, str],
    labels: NDArray[np.integer],
    names: Sequence[str],
    pictures: dict[int, NDArray[np.uint8]] | None = None,
) -> str:
    """The inputs refused, by name, true digit and kind (each counted as not read right), each
    with the digit it would have been (pictures, where given: preprocessed without checks)."""
    if not refused:
        return ""
    pictures = pictures or {}

    def shown(r: int) -> str:
        if r not in pictures:
            return "-"
        return f"<img src='{digit_uri(pictures[r])}' width='28' height='28' alt=''>"

    rows = "".join(
        f"<tr><td>{shown(r)}</td><td style='text-align:left'>{_e(names[r])}</td>"
        f"<td>{int(labels[r])}</td><td style='text-align:left'>{_e(kind)}</td></tr>"
        for r, kind in sorted(refused.items())
    )
    return (
        f"<h2 id='refused'>Refused ({len(refused):,})</h2><p>Read, and not predicted: each "
        "counts as not read right in the accuracy (<code>--any-shape</code> predicts them). "
        "The picture is the digit as it would have been read.</p>"
        "<table><tr><th>picture</th><th>input</th><th>true digit</th><th>refused as</th></tr>"
        f"{rows}</table>"
    )


def confusion_table(confusion: NDArray[np.int64], unanswered: Any = None) -> str:
    precision, recall = precision_recall(confusion, unanswered)
    rows = ["<table class='confusion' id='confusion'><tr><th>true \\ predicted</th>"]
    rows += [f"<th>{p}</th>" for p in range(10)] + ["<th>recall</th></tr>"]
    for t in range(10):
        total = max(int(confusion[t].sum()), 1)
        cells = []
        for p in range(10):
            count = int(confusion[t, p])
            text = f"<a href='#t{t}p{p}'>{count}</a>" if count and p != t else str(count)
            cells.append(f"<td style='{_heat(count / total, p == t)}'>{text}</td>")
        rows.append(f"<tr><th>{t}</th>{''.join(cells)}<td>{recall[t]:.1%}</td></tr>")
    rows.append("<tr><th>precision</th>")
    rows += [f"<td>{precision[p]:.1%}</td>" for p in range(10)] + ["<td></td></tr></table>"]
    return "".join(rows)


def _figure(pixels: NDArray[np.uint8], caption: str) -> str:
    return (
        f"<figure><img alt='' src='{digit_uri(pixels)}'><figcaption>{caption}</figcaption></figure>"
    )


def _top3(m: Mistakes, k: int) -> str:
    return "<br>".join(
        f"{int(lb)}: {p:.3f}" for lb, p in zip(m.top3[k], m.top3_probs[k], strict=True)
    )


def mistakes_sections(
    m: Mistakes, images: NDArray[np.uint8], labels: NDArray[np.integer], names: Sequence[str]
) -> str:
    """The most confident mistakes, then every misread digit under its (true, predicted) cell."""
    order: Any = np.argsort(-m.top3_probs[:, 0], kind="stable") if len(m.index) else []
    top = [
        _figure(
            images[m.index[k]],
            f"true {int(labels[m.index[k]])}, read {int(m.predicted[k])}<br>{_top3(m, k)}"
            f"<br><span title='{_e(names[m.index[k]])}'>#{int(m.index[k])}</span>",
        )
        for k in list(order)[:MISTAKES_SHOWN]
    ]
    parts = [
        f"<h2 id='mistakes'>The {min(MISTAKES_SHOWN, len(m.index))} most confident mistakes</h2>",
        "<p>Each digit as the network saw it (28x28), with its true label and the network's "
        "three most probable answers.</p>",
        f"<div class='digits'>{''.join(top) or '<p>None: every image was read right.</p>'}</div>",
        "<h2>Misread digits by cell of the confusion matrix</h2>",
    ]
    for t in range(10):
        for p in range(10):
            ks = [k for k in range(len(m.index)) if labels[m.index[k]] == t and m.predicted[k] == p]
            if not ks:
                continue
            shown = [
                _figure(images[m.index[k]], f"{m.top3_probs[k, 0]:.3f}<br>#{int(m.index[k])}")
                for k in ks[:PER_PAIR]
            ]
            more = f" (the first {PER_PAIR} shown)" if len(ks) > PER_PAIR else ""
            parts.append(
                f"<h3 id='t{t}p{p}'>true {t}, read as {p}: {len(ks)}{more} "
                "<a href='#confusion'>back to the matrix</a></h3>"
                f"<div class='digits'>{''.join(shown)}</div>"
            )
    return "".join(parts)


def evaluation_page(
    result: Evaluation,
    mistakes: Mistakes,
    images: NDArray[np.uint8],
    labels: NDArray[np.integer],
    names: Sequence[str],
    *,
    title: str,
    summary: dict[str, str],
    command: str,
    extra: str = "",
    refused: dict[int, str] | None = None,
    refused_pictures: dict[int, NDArray[np.uint8]] | None = None,
) -> str:
    """The whole page. summary: label -> value lines of the summary table (model, data, ...);
    refused: the inputs refused (row -> kind), listed by name, with refused_pictures (row ->
    the digit as it would have been read) where given."""
    unanswered = getattr(result, "refused_by_label", None)
    precision, recall = precision_recall(result.confusion, unanswered)
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in summary.items())
    per_class = "".join(
        f"<tr><td>{d}</td>"
        f"<td>{int(result.confusion[d].sum()) + (0 if unanswered is None else int(unanswered[d])):,}</td>"
        f"<td>{precision[d]:.2%}</td><td>{recall[d]:.2%}</td></tr>"
        for d in range(10)
    )
    chart = line_chart(
        [("running accuracy", "#1f77b4", result.running_accuracy)], "batch", "running accuracy"
    )
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<table class='summary'>{rows}</table>",
        extra,
        "<h2>Running accuracy, batch by batch</h2>",
        chart,
        "<h2>Confusion matrix</h2><p>Rows: the true digit; columns: the network's answer. "
        "A mistake's count links to those digits.</p>",
        confusion_table(result.confusion, unanswered),
        "<h2>Per class</h2><table><tr><th>digit</th><th>images</th><th>precision</th>"
        f"<th>recall</th></tr>{per_class}</table>",
        refused_section(refused or {}, labels, names, refused_pictures),
        mistakes_sections(mistakes, images, labels, names),
        f"<h2>Command</h2><pre>{_e(command)}</pre>",
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def evaluation_html(
    result: Evaluation,
    net: Network,
    model: str,
    data: str,
    images: NDArray[np.uint8],
    labels: NDArray[np.integer],
    names: Sequence[str],
    *,
    command: str,
    mistakes: Mistakes | None = None,
    refused: dict[int, str] | None = None,
    refused_pictures: dict[int, NDArray[np.uint8]] | None = None,
) -> tuple[str, int]:
    """`nnmnist evaluate --report`'s page and how many misread digits it shows: the mistakes
    collected during the evaluation, or (when the Dask engine ran it) found by a pass here."""
    if mistakes is None:
        mistakes = find_mistakes(lambda x: forward(net, x), images, labels)
    summary = {
        "model": model,
        "data": data,
        "accuracy": f"{result.accuracy:.4f} ({result.correct:,} of {result.total:,} inputs)",
        "refused": _refused_text(result),
        "batches": f"{len(result.running_accuracy):,} of {result.batch_size:,} images",
        "speed": f"{result.total / max(result.seconds, 1e-9):,.0f} images/s",
    }
    page = evaluation_page(
        result,
        mistakes,
        images,
        labels,
        names,
        title=f"nnmnist evaluate: accuracy {result.accuracy:.4f}",
        summary=summary,
        command=command,
        refused=refused,
        refused_pictures=refused_pictures,
    )
    return page, len(mistakes.index)


def _refused_text(result: Evaluation) -> str:
    if not result.refused:
        return "none"
    answered = result.answered_accuracy
    shown = "-" if answered is None else f"{answered:.4f}"
    return (
        f"{result.refused:,} ({result.refusal_kinds()}), counted as not right; accuracy over the "
        f"{result.answered:,} answered: {shown}"
    )


def training_section(history: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """Curves and a per-epoch table of a training run, for the top of its report."""
    epochs = "".join(
        f"<tr><td>{h['epoch']}</td><td>{h['train_loss']:.4f}</td><td>{h['train_accuracy']:.4f}</td>"
        f"<td>{'-' if h['val_accuracy'] is None else format(h['val_accuracy'], '.4f')}</td>"
        f"<td>{h['lr']:.3g}</td><td>{h['seconds']:.1f}</td><td>{'yes' if h['improved'] else ''}</td></tr>"
        for h in history
    )
    accuracy = [("training", "#1f77b4", [h["train_accuracy"] for h in history])]
    if all(h["val_accuracy"] is not None for h in history):
        accuracy.append(("validation", "#ff7f0e", [h["val_accuracy"] for h in history]))
    settings = ", ".join(f"{_e(k)} {_e(v)}" for k, v in config.items())
    return (
        "<h2>Training</h2>"
        f"<p>{settings}</p>"
        + line_chart([("loss", "#d62728", [h["train_loss"] for h in history])], "epoch", "loss")
        + line_chart(accuracy, "epoch", "accuracy")
        + "<table><tr><th>epoch</th><th>loss</th><th>train acc</th><th>val acc</th><th>lr</th>"
        f"<th>seconds</th><th>best so far</th></tr>{epochs}</table>"
        + "<h2>Final evaluation: the best epoch on the MNIST test split</h2>"
    )
