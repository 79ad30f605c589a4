"""The local engine: a model over many inputs in this process, batch by batch, in input order.

What `nnmnist predict`, `predict --number` and `evaluate` run, and what the Python API
(nnmnist.Model) runs: the command line only renders what these yield. Nothing here prints;
progress and failures are reported through callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from nnmnist.core.network import Network, forward, predict
from nnmnist.engines.inputs import ImageOptions, iter_placed
from nnmnist.errors import DataError, NonFiniteOutputs
from nnmnist.io.arrays import row_names
from nnmnist.io.formats import UNSURE, BlankRows, answer_lines, blank_rows, printable

OnError = Callable[[DataError], None]


@dataclass(frozen=True)
class Answers:
    """One batch of inputs answered: a row per input, in input order."""

    names: list[str]
    pixels: NDArray[Any]  # (n, 784) as the network saw them; zeros for a row with no picture
    probs: NDArray[np.floating]  # (n, 10)
    reasons: list[str | None]  # why a row has no label (None: it has one)
    failed: dict[int, str] = field(default_factory=dict)  # rows with no picture at all

    @property
    def labels(self) -> NDArray[np.intp]:
        """(n,) the best label, -1 where none is given."""
        labels: NDArray[np.intp] = self.probs.argmax(axis=1)
        labels[[i for i, why in enumerate(self.reasons) if why is not None]] = -1
        return labels

    def lines(self, fmt: str, top_k: int = 1) -> list[str]:
        """The result lines, one per row, in the format given (text, csv or jsonl)."""
        return answer_lines(self.names, self.probs, self.reasons, self.failed, fmt, top_k)


def answer(
    net: Network,
    names: list[str],
    pixels: NDArray[Any],
    min_confidence: float = 0.0,
    blanks: BlankRows | None = None,
    failed: dict[int, str] | None = None,
) -> Answers:
    """Run one batch through the network. A row with no ink gets no label (counted in blanks),
    nor one whose best probability is below min_confidence, nor a failed row (an input refused
    or not read, kept in its place)."""
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below, per image
        probs = forward(net, pixels)  # (b, 10)
    if not np.isfinite(probs).all():
        bad = int(np.flatnonzero(~np.isfinite(probs).all(axis=1))[0])
        raise NonFiniteOutputs(
            f"the weights give NaN or infinite outputs for {printable(names[bad])} "
            "(they are too large to compute with)"
        )
    failed = failed or {}
    blank = blank_rows(pixels)  # no ink at all: no label, as for a blank picture
    if failed:
        blank[list(failed)] = False
    if blanks is not None:
        blanks.add(names, blank)
    reasons: list[str | None] = [None] * len(names)
    if min_confidence > 0:
        for i in np.flatnonzero(probs.max(axis=1) < min_confidence).tolist():
            reasons[i] = UNSURE
    for i in np.flatnonzero(blank).tolist():
        reasons[i] = "refused: blank"
    for i, why in failed.items():
        reasons[i] = why
    return Answers(names, pixels, probs, reasons, dict(failed))


def predict_inputs(
    net: Network,
    specs: Iterable[str],
    *,
    batch_size: int = 1000,
    stdin: BinaryIO | None = None,
    options: ImageOptions | None = None,
    min_confidence: float = 0.0,
    blanks: BlankRows | None = None,
    on_error: OnError | None = None,
    on_input: Callable[[str], None] | None = None,
) -> Iterator[Answers]:
    """Every input answered, batch by batch, one row per input in input order (predict).

    Pictures are prepared as predict prepares them, the digit-or-not gate run over a batch at
    once. With on_error an input that fails keeps its row (no label, its reason) and the
    others go on; without, the first failure is raised.
    """
    options = options or ImageOptions(gate_later=True)
    for names, pixels, failed in iter_placed(
        specs, batch_size, stdin, images=options, on_error=on_error, on_input=on_input
    ):
        yield answer(net, names, pixels, min_confidence, blanks, failed)


@dataclass(frozen=True)
class Number:
    """A written number read digit by digit (predict --number)."""

    name: str
    boxes: list[tuple[int, int, int, int]]  # each digit's left, top, right, bottom
    probs: NDArray[np.floating]  # (digits, 10)
    line_sizes: list[int]  # digits per line of writing, top to bottom
    ink: tuple[Any, Any] | None = None  # the ink picture and its mask, when asked for

    @property
    def digits(self) -> list[int]:
        return [int(d) for d in self.probs.argmax(axis=1)]

    @property
    def text(self) -> str:
        """The digits left to right, lines top to bottom with a space between."""
        out, at = [], 0
        for size in self.line_sizes:
            out.append("".join(str(d) for d in self.digits[at : at + size]))
            at += size
        return " ".join(out)

    @property
    def confidence(self) -> float:
        """The least sure digit's probability."""
        return float(self.probs.max(axis=1).min())


def read_number(
    net: Network,
    picture: Any,
    name: str,
    *,
    invert: bool | None = None,
    any_shape: bool = False,
    with_ink: bool = False,
) -> Number:
    """One picture of a written number (a path, or an open PIL image) read left to right.
    Raises DataError (Refused for a number the gate or the shape checks turn down)."""
    from nnmnist.vision.images import gate_number, load_image
    from nnmnist.vision.numbers import ink_picture, split_lines

    image = load_image(picture, name) if isinstance(picture, str | Path) else picture
    with image as im:
        lines = split_lines(im, invert, name, read=lambda x: forward(net, x))
        parts = [d for line in lines for d in line]
        digits = np.stack([d for _, d in parts]).reshape(len(parts), 784)
        if not any_shape:
            gate_number(digits, name)
        ink = ink_picture(im, invert) if with_ink else None
    probs = forward(net, digits)
    return Number(name, [b for b, _ in parts], probs, [len(line) for line in lines], ink)


def read_numbers(
    net: Network,
    specs: Iterable[str],
    *,
    invert: bool | None = None,
    any_shape: bool = False,
    with_ink: bool = False,
) -> Iterator[tuple[str, Number | DataError]]:
    """Each picture's number, or the error that stopped it, in input order."""
    for spec in specs:
        if spec == "-":  # pixel data on stdin, not a list of paths
            raise DataError("-: --number reads picture files (their paths may come on stdin)")
        try:
            yield (
                spec,
                read_number(net, spec, spec, invert=invert, any_shape=any_shape, with_ink=with_ink),
            )
        except DataError as exc:
            yield spec, exc


def names_of(ds: Any, n: int) -> list[str]:
    """A data set's names: the user's own files', or mnist-test:0, ... for MNIST."""
    return getattr(ds, "names", None) or row_names(f"mnist-{getattr(ds, 'split', 'test')}", 0, n)


def as_they_would_be(
    names: list[str], refused: dict[int, str], invert: bool | None
) -> dict[int, NDArray[np.uint8]]:
    """The refused pictures (row -> 28x28 digit) as they would have been read, without the
    checks that refused them; a blank one has none."""
    from nnmnist.vision.images import unchecked_digit

    found = {row: unchecked_digit(names[row], invert) for row in refused}
    return {row: digit for row, digit in found.items() if digit is not None}


def misread(
    net: Network, images: NDArray[Any], labels: NDArray[Any], refused: dict[int, str]
) -> list[tuple[int, int]]:
    """(row, predicted label) of each answered image read wrong, in order."""
    out = []
    for lo in range(0, len(labels), 1000):
        guess, _ = predict(net, images[lo : lo + 1000])
        for i in map(int, (guess != labels[lo : lo + 1000]).nonzero()[0]):
            if lo + i not in refused:
                out.append((lo + i, int(guess[i])))
    return out


def write_errors(
    net: Network,
    images: NDArray[Any],
    labels: NDArray[Any],
    names: list[str],
    folder: Path,
    *,
    refused: dict[int, str] | None = None,
    seen: dict[int, NDArray[np.uint8]] | None = None,
    overwrite: bool = False,
) -> int:
    """Each misread image as a PNG named by its row, true and predicted labels and name; each
    refused one by its row, true label and kind, as it would have been read (seen, else an
    empty square). Returns how many misread ones were written."""
    from nnmnist.io.outputs import FileNames
    from nnmnist.vision.images import save_digit

    refused, seen = refused or {}, seen or {}
    file_name = FileNames()
    wrong = misread(net, images, labels, refused)
    for k, guess in wrong:
        stem = f"{k:05d}-true{labels[k]}-pred{guess}-{names[k]}"
        save_digit(images[k], folder / file_name(stem), overwrite=overwrite)
    for k, kind in sorted(refused.items()):
        stem = f"{k:05d}-true{labels[k]}-refused-{kind.replace(' ', '-')}-{names[k]}"
        pixels = seen.get(k, np.zeros((28, 28), np.uint8))
        save_digit(pixels, folder / file_name(stem), overwrite=overwrite)
    return len(wrong)
