"""Everything the terminal sees: the only module that imports rich.

Results go to stdout, progress and messages to stderr. Colour follows Rich's own detection,
so NO_COLOR and pipes are honoured.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from nnmnist.core.evaluation import THRESHOLDS, BatchReport, Evaluation
from nnmnist.core.metrics import precision_recall
from nnmnist.io.formats import printable

if TYPE_CHECKING:
    from rich.live import Live

_stderr: Console | None = None
_stdout: Console | None = None


def err_console() -> Console:
    global _stderr
    if _stderr is None:
        _stderr = Console(stderr=True, highlight=False)
    return _stderr


def out_console() -> Console:
    global _stdout
    if _stdout is None:
        _stdout = Console(highlight=False)
    return _stdout


MAX_ERROR_CHARS = 1000  # a name of 100,000 characters is shown by its two ends


def shortened(line: str, limit: int = MAX_ERROR_CHARS) -> str:
    """line, or its first and last parts around a count of what was left out."""
    if len(line) <= limit:
        return line
    keep = (limit - 40) // 2
    return f"{line[:keep]}...({len(line) - 2 * keep:,} characters)...{line[-keep:]}"


def error(message: str) -> None:
    """The one line a failure gets: 'error: ...' on stderr (line breaks in it are folded, and
    a line past MAX_ERROR_CHARS is shortened in the middle)."""
    line = shortened(" ".join(printable(message).split()))
    err_console().print(
        Text.assemble(("error:", "bold red"), " ", line), soft_wrap=True, emoji=False
    )


def refusal(message: str) -> None:
    """The one line a refused input gets (read, and not predicted): 'refused: ...' on stderr,
    folded and shortened as error's."""
    line = shortened(" ".join(printable(message).split()))
    err_console().print(
        Text.assemble(("refused:", "bold yellow"), " ", line), soft_wrap=True, emoji=False
    )


def failure(exc: Exception) -> None:
    """A failed input's line: refusal for a refused picture, error for anything else."""
    from nnmnist.errors import Refused

    (refusal if isinstance(exc, Refused) else error)(str(exc))


def message(text: str) -> None:
    """A note for the user on stderr (never on stdout, which is for results)."""
    err_console().print(printable(text), markup=False, soft_wrap=True, emoji=False)


def emit_json(obj: Any) -> None:
    """One JSON document on stdout: strict JSON (NaN or infinity would be a bug: refused)."""
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


class EvalProgress:
    """Batch-by-batch progress on stderr.

    On a terminal: a live table of the last batches (batch, accuracy, running accuracy, speed).
    Otherwise: a plain line every `every` batches and for the last one.
    """

    ROWS = 10

    def __init__(self, batches: int, every: int | None = None, quiet: bool = False) -> None:
        self.console = err_console()
        self.batches = batches
        self.every = every or max(1, batches // 10)
        self.quiet = quiet
        self.rows: deque[BatchReport] = deque(maxlen=self.ROWS)
        self.live: Live | None = None
        self._last_draw = 0.0

    def __enter__(self) -> EvalProgress:
        if self.console.is_terminal and not self.quiet:
            from rich.live import Live  # only a terminal animates

            self.live = Live(
                console=self.console,
                auto_refresh=False,
                transient=False,
                redirect_stdout=False,  # results stay on stdout, whatever the terminal
                redirect_stderr=False,
            )
            self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            if self.rows:
                self.live.update(self._table(), refresh=True)
            self.live.__exit__(exc_type, exc, tb)

    def update(self, report: BatchReport) -> None:
        self.rows.append(report)
        if self.quiet:
            return
        last = report.number == report.batches
        if self.live is not None:
            now = time.monotonic()
            if last or now - self._last_draw > 0.05:
                self.live.update(self._table(), refresh=True)
                self._last_draw = now
        elif last or report.number % self.every == 0:
            self.console.print(
                f"batch {report.number}/{report.batches}  accuracy {report.accuracy:.4f}  "
                f"running {report.running_accuracy:.4f}  {report.images_per_second:,.0f} img/s",
                markup=False,
                highlight=False,
            )

    def _table(self) -> Group:
        table = Table(title=None, box=None, header_style="bold", pad_edge=False)
        table.add_column("batch", justify="right")
        table.add_column("accuracy", justify="right")
        table.add_column("running", justify="right")
        table.add_column("images/s", justify="right")
        for r in self.rows:
            table.add_row(
                f"{r.number}/{r.batches}",
                f"{r.accuracy:.4f}",
                f"{r.running_accuracy:.4f}",
                f"{r.images_per_second:,.0f}",
            )
        done = self.rows[-1].number if self.rows else 0
        width = 30
        filled = round(width * done / max(1, self.batches))
        bar = Text("━" * filled, style="green") + Text("━" * (width - filled), style="grey35")
        return Group(table, bar + Text(f" {done}/{self.batches} batches"))


def _percent(share: float) -> str:
    """A share as a percentage to one place; 100 without its '.0', so that ten columns of
    them and the headers fit 80 columns."""
    text = f"{100 * share:.1f}"
    return "100" if text == "100.0" else text


def _cell_style(count: int, row_total: int, diagonal: bool) -> str:
    if diagonal:
        return "bold green"
    if count == 0:
        return "grey35"
    share = count / max(1, row_total)
    return "bold red" if share >= 0.05 else "red" if share >= 0.01 else "yellow"


def evaluation_report(
    result: Evaluation, heading: str, min_confidence: float | None = None
) -> None:
    """The final figures on stdout: accuracy, the confusion matrix with recall and precision,
    and the accuracy-coverage trade-off (with min_confidence, the figures at that threshold).

    Off a terminal the lines carry no trailing spaces (Rich pads tables to their width)."""
    _to_stdout(lambda console: _report(console, result, heading, min_confidence))


def _to_stdout(draw: Callable[[Console], None]) -> None:
    """Draw on stdout: as it is on a terminal; elsewhere without Rich's trailing padding."""
    console = out_console()
    if console.is_terminal:
        draw(console)
        return
    with console.capture() as captured:
        draw(console)
    text = captured.get()
    sys.stdout.write("".join(line.rstrip() + "\n" for line in text.splitlines()))
    sys.stdout.flush()


def _report(
    console: Console, result: Evaluation, heading: str, min_confidence: float | None
) -> None:
    console.print(
        Text.assemble(
            ("accuracy ", "bold"),
            (f"{result.accuracy:.4f}", "bold cyan"),
            f"  ({result.correct:,}/{result.total:,} images)",
        )
    )
    if result.refused:  # every input in the figure above; the answered ones' figure beside it
        answered = result.answered_accuracy
        console.print(
            f"refused {result.refused:,} of {result.total:,} inputs ({result.refusal_kinds()}), "
            "counted as not "
            f"right above; accuracy over the {result.answered:,} answered: "
            + ("-" if answered is None else f"{answered:.4f}"),
            markup=False,
            emoji=False,
            soft_wrap=True,
        )
    console.print(printable(heading), markup=False, emoji=False, soft_wrap=True)
    console.print(confusion_table(result.confusion, result.refused_by_label))
    _tradeoff(console, result, min_confidence)


def confusion_table(confusion: Any, unanswered: Any = None) -> Table:
    """The confusion matrix with recall per row (of every input, refused ones included, when
    unanswered gives them per true digit) and precision per column, cells coloured by how
    much of their row they hold."""
    precision, recall = precision_recall(confusion, unanswered)
    table = _report_table(
        "confusion matrix (rows: true digit, columns: predicted digit)",
        show_footer=True,
        footer_style="bold",
    )
    table.add_column("true", justify="right", footer="prec%")
    for d in range(10):
        table.add_column(str(d), justify="right", footer=_percent(precision[d]))
    table.add_column("recall%", justify="right", style="bold", footer="")
    for t in range(10):
        row = confusion[t]
        cells = [
            Text(str(int(c)), style=_cell_style(int(c), int(row.sum()), p == t))
            for p, c in enumerate(row)
        ]
        table.add_row(str(t), *cells, _percent(recall[t]))
    return table


def _report_table(title: str, **extra: Any) -> Table:
    """The style of the report's tables: a bold title, a rule under the header, one space."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        padding=(0, 0, 0, 1),
        pad_edge=False,
        **extra,
    )


def _tradeoff(console: Console, result: Evaluation, min_confidence: float | None) -> None:
    table = _report_table("answers at or above a confidence")
    for name in ("threshold", "answered%", "accuracy%"):
        table.add_column(name, justify="right")
    thresholds = sorted({*THRESHOLDS, *([min_confidence] if min_confidence else [])})
    for t in thresholds:
        covered, accuracy = result.coverage(t)
        style = "bold" if t == min_confidence else ""
        table.add_row(
            f"{t:g}",
            f"{100 * covered:.1f}",
            "-" if accuracy is None else f"{100 * accuracy:.2f}",
            style=style,
        )
    console.print(table)


def models_table(rows: list[dict[str, Any]]) -> None:
    """The shipped models, a row each, then each one's layers on a line of its own."""

    def draw(console: Console) -> None:
        table = _report_table("shipped models, default first (--model)")
        timed = any(r["images_per_second"] is not None for r in rows)
        for name in ("name", "test acc%", "parameters", "file MB", "images/s")[: 4 + timed]:
            table.add_column(name, justify="left" if name == "name" else "right")
        for r in rows:
            accuracy = r["test_accuracy"]
            cells = [
                r["name"],
                "-" if accuracy is None else f"{100 * accuracy:.2f}",
                f"{r['parameters']:,}",
                f"{r['file_bytes'] / 1e6:.1f}",
            ]
            table.add_row(*cells, *([f"{r['images_per_second']:,}"] if timed else []))
        console.print(table)
        for r in rows:  # the spec under its name when both do not fit on 80 columns
            line = f"{r['name']}: {r['arch']}"
            if len(line) > 80:
                line = f"{r['name']}:\n  {r['arch']}"
            console.print(line, markup=False, emoji=False, soft_wrap=True)

    _to_stdout(draw)


def write_lines(lines: list[str]) -> None:
    """Result lines to stdout, as plain text (no markup, no wrapping)."""
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def maybe(value: float | None) -> str:
    """A figure to four places, or - where there is none."""
    return "-" if value is None else f"{value:.4f}"


class TrainProgress:
    """Per-epoch progress bar (batches, loss, ETA) and one table row per epoch, on stderr."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = err_console()
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
            redirect_stdout=False,  # results stay on stdout, whatever the terminal
            redirect_stderr=False,
        )
        self.task: Any = None
        self.epoch = 1
        self.header_done = False

    def __enter__(self) -> TrainProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def on_batch(self, batch: int, batches: int, loss: float) -> None:
        if self.task is None:
            self.task = self.progress.add_task("train", total=batches, epoch=self.epoch, loss=loss)
        self.progress.update(self.task, completed=batch, loss=loss)

    def on_epoch(self, report: Any) -> None:
        if not self.header_done:
            self.progress.console.print(
                f"{'epoch':>7}  {'train loss':>10}  {'train acc':>9}  {'val acc':>8}  {'seconds':>7}",
                style="bold",
                highlight=False,
            )
            self.header_done = True
        mark = "  *best" if report.improved else ""
        self.progress.console.print(
            f"{report.epoch:>3}/{report.epochs:<3}  {report.train_loss:>10.4f}  "
            f"{report.train_accuracy:>9.4f}  {maybe(report.val_accuracy):>8}  {report.seconds:>7.1f}{mark}",
            highlight=False,
        )
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.epoch = report.epoch + 1


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class InputProgress:
    """A progress bar over the inputs of predict, on stderr, when there are many on a terminal."""

    THRESHOLD = 100

    def __init__(self, total: int, what: str = "predicting", threshold: int = THRESHOLD) -> None:
        console = err_console()
        # Result lines stream to stdout while this runs: when stdout is the same terminal, the
        # lines themselves show the progress, and a bar redrawn between them would garble both.
        self.enabled = console.is_terminal and not _stdout_is_terminal() and total >= threshold
        self.progress: Any = None
        if not self.enabled:
            return  # nothing drawn, nothing imported (rich.progress costs 10 ms)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,  # never capture the results (they go to stdout, always)
            redirect_stderr=False,
        )
        self.task = self.progress.add_task("inputs", total=total)

    def __enter__(self) -> InputProgress:
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def step(self) -> None:
        """One more unit done (a chunk, with the Dask engine)."""
        if self.progress is not None:
            self.progress.advance(self.task)
