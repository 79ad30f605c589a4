"""The public Python API: what a notebook imports, and what the command line is built on.

    >>> import nnmnist
    >>> model = nnmnist.load()                      # the default shipped model
    >>> model.predict("examples/photos/drawn-seven.png")
    7

Pictures (paths, folders, PIL images, arrays) are prepared exactly as `nnmnist predict`
prepares them, and refused the same way: one picture that is refused raises `Refused` (with
its `.reason`), one that cannot be read `ImageError`; among many, a refused or unreadable input
keeps its place with the label -1 and probabilities of NaN (`Model.answers` gives the reasons).
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core.evaluation import Evaluation
from nnmnist.core.metrics import precision_recall
from nnmnist.core.network import Network
from nnmnist.engines import local
from nnmnist.engines.inputs import ImageOptions, expand, iter_placed, why_failed
from nnmnist.errors import DataError, ImageError, Refused, WeightsError
from nnmnist.io.formats import UNSURE
from nnmnist.models import weights as weightfiles

__all__ = ["Digit", "Model", "Number", "Report", "Results", "load", "prepare"]

Number = local.Number
PathLike = str | os.PathLike[str]


def load(
    name_or_path: PathLike | None = None,
    *,
    arch: str | None = None,
    activation: str | None = None,
) -> Model:
    """A model: a shipped one by name ('writers', 'photos', 'cnn', 'mlp'), the default
    (the most accurate shipped one) when None, or any weight file nnmnist reads (.npz, the
    book's .pkl, parsed and never executed, or .safetensors).

    arch: the layers of a file that does not record them (a spec such as
    conv30k5-relu-pool2-affine10); activation: run the hidden layers with this one instead.
    """
    shipped_name = (
        isinstance(name_or_path, str)
        and name_or_path in weightfiles.SHIPPED_MODELS
        and not Path(name_or_path).is_file()  # a file of that name here is a file
    )
    if name_or_path is None or shipped_name:
        name = None if name_or_path is None else str(name_or_path)
        path = weightfiles.shipped_model_path(name)
        if path is None:
            raise WeightsError(f"{name or 'the default model'}: this installation does not have it")
    elif (
        isinstance(name_or_path, str)
        and not any(c in name_or_path for c in (os.sep, "."))
        and not Path(name_or_path).exists()
    ):
        shipped = ", ".join(weightfiles.SHIPPED_MODELS)
        raise WeightsError(f"{name_or_path!r} is not a shipped model ({shipped}) nor a file")
    else:
        path = Path(name_or_path)
    net = weightfiles.load_weights(path, arch)
    if activation is not None:
        net = weightfiles.with_activation(net, activation)
    return Model(net, path)


@dataclasses.dataclass(frozen=True)
class Results:
    """Predictions for many inputs, one row each in input order."""

    names: list[str]
    labels: NDArray[np.intp]  # (n,), -1 where no label is given
    probabilities: NDArray[np.floating]  # (n, 10), NaN where no label is given
    reasons: list[str | None]  # why a row has no label ('refused: blank', ...), else None
    errors: list[DataError] = dataclasses.field(default_factory=list, repr=False)  # files'

    def __len__(self) -> int:
        return len(self.names)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{'' if y < 0 else y}</td>"
            f"<td>{'' if r else f'{p.max():.1%}'}</td><td>{html.escape(r or '')}</td></tr>"
            for n, y, p, r in zip(
                self.names[:50], self.labels, self.probabilities, self.reasons, strict=False
            )
        )
        more = f"<p>... and {len(self) - 50:,} more</p>" if len(self) > 50 else ""
        head = "<tr><th>input</th><th>label</th><th>probability</th><th>reason</th></tr>"
        return f"<table>{head}{rows}</table>{more}"


class Digit(np.ndarray):  # type: ignore[type-arg]
    """A (28, 28) uint8 MNIST-style digit (white ink on black), as the network sees it; in
    Jupyter it shows itself as a picture."""

    def _repr_png_(self) -> bytes:
        import io

        from PIL import Image

        big = np.asarray(self, np.uint8).repeat(4, axis=0).repeat(4, axis=1)
        buf = io.BytesIO()
        Image.fromarray(big).save(buf, "PNG")
        return buf.getvalue()


def prepare(
    picture: Any, *, invert: bool | None = None, any_shape: bool = False, scale: float = 255
) -> Digit:
    """One picture (a path, a PIL image, or a 2-D array of grey levels 0..scale) -> the
    (28, 28) uint8 MNIST-style digit the network sees, as `nnmnist predict` prepares it.
    Raises Refused (blank, not one digit, not a digit) or ImageError (not readable)."""
    from nnmnist.vision import images

    if isinstance(picture, str | os.PathLike):
        with images.load_image(picture) as im:
            digit = images.preprocess(im, invert, str(picture), not any_shape)
    elif isinstance(picture, np.ndarray):
        digit = images.preprocess(_grey_levels(picture, scale), invert, "array", not any_shape)
    else:
        digit = images.preprocess(picture, invert, "image", not any_shape)
    return np.asarray(digit, np.uint8).reshape(28, 28).view(Digit)


def _grey_levels(a: NDArray[Any], scale: float) -> NDArray[np.uint8]:
    """A picture's levels 0..scale as 0-255 (load_digits: scale=16)."""
    a = np.asarray(a, np.float64)
    if a.ndim != 2 or not np.isfinite(a).all() or a.min() < 0 or a.max() > scale:
        raise ImageError(f"a picture needs a 2-D array of finite values 0-{scale:g}")
    return np.round(a * (255 / scale)).astype(np.uint8)


class Model:
    """A network with the same preparation, gate and answers as the command line."""

    def __init__(self, net: Network, path: Path | None = None) -> None:
        self.net = net
        self.path = path

    @property
    def name(self) -> str:
        return "a network in memory" if self.path is None else weightfiles.weights_label(self.path)

    def __repr__(self) -> str:
        return f"<nnmnist.Model {self.name}: {self.net.describe()}>"

    def _repr_html_(self) -> str:
        meta = self.net.meta
        rows = [("weights", self.name), ("layers", self.net.describe()), ("spec", self.net.spec)]
        for key in ("test_accuracy", "val_accuracy", "seed", "created"):
            if isinstance(meta.get(key), int | float | str):
                rows.append((key.replace("_", " "), str(meta[key])))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<table>{body}</table>"

    # ---- predictions -----------------------------------------------------------------------

    def answers(
        self,
        x: Any,
        *,
        invert: bool | None = None,
        any_shape: bool = False,
        raw: bool = False,
        min_confidence: float = 0.0,
        scale: float | None = None,
        batch_size: int = 1000,
    ) -> Results:
        """Every input answered, one row each in input order, refusals with their reasons.

        x: a path, folder or glob pattern, or a list of them; a PIL image or a list of them; a
        NumPy array of MNIST's shape ((28, 28), (n, 28, 28), (n, 784); pixels 0-255, or 0..scale)
        used as it is, like a .npy file; any other 2-D array (or a list or (n, h, w) stack of
        them) as pictures of grey levels 0..scale (255 by default; load_digits: scale=16).
        """
        errors: list[DataError] = []
        if _are_paths(x):
            parts = list(
                self.iter_answers(
                    _specs(x),
                    batch_size=batch_size,
                    options=ImageOptions(invert, raw, any_shape, gate_later=True),
                    min_confidence=min_confidence,
                    on_error=errors.append,
                )
            )
        else:
            names, pixels, failed = _in_memory(x, invert, any_shape, raw, scale)
            parts = [
                local.answer(
                    self.net,
                    names[lo : lo + batch_size],
                    pixels[lo : lo + batch_size],
                    min_confidence,
                    failed={i - lo: r for i, r in failed.items() if lo <= i < lo + batch_size},
                )
                for lo in range(0, len(names), batch_size)
            ]
        names = [n for p in parts for n in p.names]
        reasons = [r for p in parts for r in p.reasons]
        if parts:
            probs = np.concatenate([p.probs for p in parts]).astype(np.float64)
            labels = np.concatenate([p.labels for p in parts])
        else:
            probs, labels = np.zeros((0, 10)), np.zeros(0, np.intp)
        probs[[i for i, r in enumerate(reasons) if r is not None and r != UNSURE]] = np.nan
        return Results(names, labels, probs, reasons, errors)

    def iter_answers(self, specs: Iterable[str], **engine: Any) -> Iterator[local.Answers]:
        """Input files (as `nnmnist predict` gathers them: folders walked, "-" for stdin)
        answered batch by batch, as predict prints them; engine: the options of
        engines.local.predict_inputs (batch_size, stdin, options, min_confidence, blanks,
        on_error, on_input)."""
        return local.predict_inputs(self.net, specs, **engine)

    def iter_numbers(
        self,
        specs: Iterable[str],
        *,
        invert: bool | None = None,
        any_shape: bool = False,
        with_ink: bool = False,
    ) -> Iterator[tuple[str, Number | DataError]]:
        """Each picture file's number, or the error that stopped it (`predict --number`)."""
        return local.read_numbers(
            self.net, specs, invert=invert, any_shape=any_shape, with_ink=with_ink
        )

    def predict_proba(self, x: Any, **options: Any) -> NDArray[np.floating]:
        """The ten probabilities: (10,) for one picture (Refused or ImageError when it gets
        none), else (n, 10) with NaN rows for inputs refused or not read."""
        results = self.answers(x, **options)
        if _one_input(x):
            _raise_for(results, 0, x)
            return np.asarray(results.probabilities[0])
        return results.probabilities

    def predict(self, x: Any, **options: Any) -> Any:
        """The digit: an int for one picture (Refused or ImageError when it gets none), else an
        (n,) array with -1 for inputs refused or not read."""
        results = self.answers(x, **options)
        if _one_input(x):
            _raise_for(results, 0, x)
            return int(results.labels[0])
        return results.labels

    def read_number(
        self, picture: Any, *, invert: bool | None = None, any_shape: bool = False
    ) -> Number:
        """A picture of a written number read left to right (`predict --number`): .text is
        the number ('2026', lines of writing separated by a space), .digits and .probs each
        digit's. Raises Refused or ImageError like predict."""
        name = os.fspath(picture) if isinstance(picture, str | os.PathLike) else "image"
        return local.read_number(self.net, picture, name, invert=invert, any_shape=any_shape)

    # ---- measuring -------------------------------------------------------------------------

    def evaluate(
        self,
        data: Any = None,
        labels: Sequence[int] | NDArray[np.integer] | None = None,
        *,
        batch_size: int = 100,
        source: str = "auto",
        split: str = "test",
        invert: bool | None = None,
        any_shape: bool = False,
        raw: bool = False,
        scale: float | None = None,
    ) -> Report:
        """Accuracy with every input counted (a refusal counts as not right): on MNIST's test
        split when data is None; on labelled files or folders (`nnmnist evaluate`'s: digit
        folders, CSV, .npz, IDX); or on pictures or arrays given with their labels."""
        from nnmnist.core.evaluation import evaluate as run

        unread: list[str] = []  # files that could not be read: no rows, so said here
        options = ImageOptions(invert, raw, any_shape)
        ds = _labelled(data, labels, source, split, options, scale, unread)
        images, truth = ds.images, np.asarray(ds.labels)
        refused = dict(getattr(ds, "refused", {}))
        guesses = np.zeros(len(truth), np.intp)

        def keep(lo: int, probs: NDArray[np.floating]) -> None:
            guesses[lo : lo + len(probs)] = probs.argmax(axis=1)

        result = run(self.net, images, truth, batch_size, on_probs=keep, refused=refused)
        names = local.names_of(ds, len(truth))
        misread = [
            (k, names[k], int(truth[k]), int(guesses[k]))
            for k in map(int, np.flatnonzero(guesses != truth))
            if k not in refused
        ]
        return Report(result, names, misread, dict(sorted(refused.items())), unread)

    # ---- files -----------------------------------------------------------------------------

    def save(self, path: PathLike, *, overwrite: bool = False) -> Path:
        """Write the weights in a format nnmnist reads back (.npz, .pkl, .safetensors)."""
        target = Path(path)
        weightfiles.check_target(target, readable=True)
        return self._write(target, overwrite)

    def export(self, path: PathLike, *, overwrite: bool = False) -> Path:
        """Write the model for other tools (`nnmnist export`): .onnx, .safetensors, .npz,
        .pkl, by the suffix (ONNX and safetensors need the extra nnmnist[interchange])."""
        target = Path(path)
        weightfiles.check_target(target, readable=False)
        return self._write(target, overwrite)

    def _write(self, target: Path, overwrite: bool) -> Path:
        kind = weightfiles.SAVE_FORMATS.get(target.suffix.lower())
        if kind is None:
            known = ", ".join(weightfiles.SAVE_FORMATS)
            raise WeightsError(f"{target.name}: give the file one of the suffixes {known}")
        if target.exists() and not overwrite:
            raise WeightsError(f"{target}: already exists; pass overwrite=True to replace it")
        weightfiles.save_weights(self.net, target, overwrite=overwrite, fmt=kind)
        return target


@dataclasses.dataclass(frozen=True)
class Report:
    """An evaluation: every input counted, a refusal as not right."""

    evaluation: Evaluation
    names: list[str]
    misread: list[tuple[int, str, int, int]]  # (row, name, true label, predicted label)
    refused: dict[int, str]  # row -> the kind of refusal
    unread: list[str] = dataclasses.field(default_factory=list)  # files not read (no rows)

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy

    @property
    def answered_accuracy(self) -> float | None:
        return self.evaluation.answered_accuracy

    @property
    def total(self) -> int:
        return self.evaluation.total

    @property
    def confusion(self) -> NDArray[np.int64]:
        """(10, 10): rows are true labels, columns predictions (answered inputs)."""
        return self.evaluation.confusion

    @property
    def per_class(self) -> list[dict[str, float | int]]:
        """Each digit's precision, recall (refusals count against it) and count."""
        e = self.evaluation
        precision, recall = precision_recall(e.confusion, e.refused_by_label)
        counts = e.confusion.sum(axis=1) + e.refused_by_label
        return [
            {
                "digit": d,
                "precision": float(precision[d]),
                "recall": float(recall[d]),
                "count": int(counts[d]),
            }
            for d in range(10)
        ]

    def to_dict(self) -> dict[str, Any]:
        return self.evaluation.to_dict()

    def __repr__(self) -> str:
        e = self.evaluation
        refused = f", {e.refused:,} refused ({e.refusal_kinds()})" if e.refused else ""
        return (
            f"<nnmnist.Report accuracy {e.accuracy:.4f} ({e.correct:,}/{e.total:,} inputs)"
            f"{refused}, {len(self.misread):,} misread"
            + (f"; {len(self.unread):,} file(s) could not be read" if self.unread else "")
            + ">"
        )

    def _repr_html_(self) -> str:
        e = self.evaluation
        cells = "".join(f"<th>{d}</th>" for d in range(10))
        rows = "".join(
            f"<tr><th>{d}</th>"
            + "".join(
                f"<td style='text-align:right{';font-weight:bold' if d == p else ''}'>{n}</td>"
                for p, n in enumerate(e.confusion[d])
            )
            + f"<td style='text-align:right'>{e.refused_by_label[d]}</td></tr>"
            for d in range(10)
        )
        answered = e.answered_accuracy
        shown = "-" if answered is None else f"{answered:.4f}"
        head = (
            f"<p>accuracy <b>{e.accuracy:.4f}</b> ({e.correct:,} of {e.total:,} inputs; "
            f"{e.refused:,} refused, {len(self.misread):,} misread; over the answered {shown})</p>"
        )
        table = f"<table><tr><th>true \\ read</th>{cells}<th>refused</th></tr>{rows}</table>"
        return head + table


# ---- inputs ----------------------------------------------------------------------------------


def _keep_going(exc: DataError) -> None:
    """Failures keep their rows (with their reasons) and the others go on."""


def _is_path(x: Any) -> bool:
    return isinstance(x, str | os.PathLike)


def _specs(x: Any) -> list[str]:
    """A path or a list of them, folders walked and patterns expanded as predict does."""
    return list(expand([os.fspath(p) for p in ([x] if _is_path(x) else x)]))


def _are_paths(x: Any) -> bool:
    return _is_path(x) or (isinstance(x, list | tuple) and bool(x) and all(_is_path(p) for p in x))


def _one_input(x: Any) -> bool:
    """One picture: a path to a file (not a folder or pattern), an image, a 2-D array."""
    if _is_path(x):  # a file, or a name that is no folder nor pattern (missing: its error)
        return not Path(x).is_dir() and not any(c in os.fspath(x) for c in "*?[")
    if isinstance(x, np.ndarray):
        return x.ndim == 2 and x.shape != (1, 784) and x.shape[1:] != (784,)
    return not isinstance(x, list | tuple | Iterable)


def _raise_for(results: Results, row: int, x: Any) -> None:
    why = results.reasons[row]
    if why is None or why == UNSURE:
        return
    if results.errors:  # a file's own error, with the whole story (the message predict prints)
        raise results.errors[0]
    name = results.names[row]
    if why.startswith("refused: "):
        raise Refused(f"{name}: {why}", why.removeprefix("refused: "))
    raise ImageError(f"{name}: {why}")


def _in_memory(
    x: Any, invert: bool | None, any_shape: bool, raw: bool, scale: float | None
) -> tuple[list[str], NDArray[Any], dict[int, str]]:
    """Arrays and PIL images -> (names, (n, 784) pixels, failed rows with their reasons).

    Arrays of MNIST's shape ((28, 28), (n, 28, 28), (n, 784)) are pixels 0-255 (or 0..scale)
    used as they are, as predict reads .npy files; any other 2-D array, or a list of them, or
    PIL images, are pictures, prepared as predict prepares picture files."""
    from nnmnist.io.arrays import as_rows, to_pixels

    if (
        isinstance(x, np.ndarray)
        and (x.shape[-2:] == (28, 28) or x.shape[-1:] == (784,))
        and (x.ndim <= 3)
    ):
        a = x if scale is None else np.asarray(x, np.float64) * (255 / scale)
        rows = to_pixels(np.asarray(as_rows(a, "array")), "array")
        single = x.ndim == 2 and x.shape == (28, 28) or x.ndim == 1
        return (["array"] if single else [f"array:{i}" for i in range(len(rows))]), rows, {}
    pictures = [x] if not isinstance(x, list | tuple | np.ndarray) or _single_picture(x) else x
    names, digits, failed = [], [], {}
    for i, picture in enumerate(pictures):
        names.append("image" if len(pictures) == 1 else f"image:{i}")
        try:
            digit = prepare(picture, invert=invert, any_shape=any_shape, scale=scale or 255)
        except DataError as exc:
            failed[i] = why_failed(exc)
            digit = np.zeros((28, 28), np.uint8).view(Digit)
        digits.append(np.asarray(digit).reshape(784))
    return names, np.stack(digits) if digits else np.zeros((0, 784), np.uint8), failed


def _single_picture(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.ndim == 2


def _labelled(
    data: Any,
    labels: Any,
    source: str,
    split: str,
    options: ImageOptions,
    scale: float | None,
    unread: list[str],
) -> Any:
    """What to evaluate on: MNIST (data None), labelled files, or inputs with their labels."""
    if data is None:
        from nnmnist.io import mnist

        return mnist.load(source, split, no_network=True)
    if labels is None:
        from nnmnist.engines import labelled

        specs = [os.fspath(p) for p in ([data] if _is_path(data) else data)]
        return labelled.load(specs, options, lambda exc: unread.append(str(exc)))
    truth = np.asarray(labels)
    if (
        truth.ndim != 1
        or truth.dtype.kind not in "iu"
        or truth.min(initial=0) < 0
        or (truth.max(initial=0) > 9)
    ):
        raise DataError("labels must be a sequence of digits 0-9, one per input")
    if _are_paths(data):
        names: list[str] = []
        blocks, failed = [], {}
        gated = dataclasses.replace(options, gate_later=True)
        for part_names, part_pixels, part_failed in iter_placed(
            _specs(data), 1000, images=gated, on_error=_keep_going
        ):
            failed.update({len(names) + i: r for i, r in part_failed.items()})
            names += part_names
            blocks.append(part_pixels)
        pixels = np.concatenate(blocks)
    else:
        names, pixels, failed = _in_memory(
            data, options.invert, options.any_shape, options.raw, scale
        )
    if len(names) != len(truth):
        raise DataError(f"{len(names):,} inputs but {len(truth):,} labels")
    refused = {i: r.removeprefix("refused: ") for i, r in failed.items()}
    return _Set(names, pixels, truth.astype(np.uint8), refused)


@dataclasses.dataclass(frozen=True)
class _Set:
    names: list[str]
    images: NDArray[Any]
    labels: NDArray[np.uint8]
    refused: dict[int, str]
