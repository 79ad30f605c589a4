"""Pictures as people take them (bench/photos.py builds them): the front end of predict's
preprocessing keeps each condition readable. A quick subset; `python bench/photos.py` runs the
whole set and prints the table the README shows."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnmnist.core.network import predict
from nnmnist.models.weights import load_weights, shipped_model_path
from nnmnist.vision.images import ImageError, preprocess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import photos  # noqa: E402

# neither a set the front end was tuned on (0, 2, 3) nor the README's (1)
SETS = photos.build(30, seed=5)


@pytest.mark.parametrize("condition", list(photos.CONDITIONS))
def test_each_condition_is_read(condition):
    net = load_weights(shipped_model_path())
    pictures, labels = SETS[condition]
    digits = []
    for p in pictures:
        try:
            digits.append(preprocess(Image.fromarray(p)))
        except ImageError:
            digits.append(np.zeros((28, 28), np.uint8))
    got = predict(net, np.stack(digits).reshape(len(digits), 784))[0]
    floor = 0.8 if condition in ("thick marker", "thin pen") else 0.9
    assert float(np.mean(got == labels)) >= floor


def test_debug_stages_writes_every_step(runner, tmp_path, monkeypatch):
    from nnmnist.cli import app

    monkeypatch.chdir(tmp_path)
    Image.fromarray(SETS["ruled lines every 24 px"][0][0]).save("ruled.png")
    result = runner.invoke(app, ["predict", "ruled.png", "--debug-stages", "stages"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "stages").iterdir())
    assert names == [
        f"ruled-{s}.png"
        for s in ("1-grey", "2-denoised", "3-light", "4-flattened", "5-mask", "6-digit")
    ]
    again = runner.invoke(app, ["predict", "ruled.png", "--debug-stages", "stages"])
    assert again.exit_code == 1 and "not empty" in again.stderr  # nothing written over
    assert (
        runner.invoke(
            app, ["predict", "ruled.png", "--debug-stages", "stages", "--force"]
        ).exit_code
        == 0
    )


def _number_picture(indexes, rng):
    """MNIST test digits side by side, dark on white, with gaps of varying size."""
    from nnmnist.io import mnist as data

    test = data.load("bundled", "test")
    sheet = np.full((100, 60 + 76 * len(indexes) + 40), 255.0)
    x = 20
    for i in indexes:
        big = Image.fromarray(test.images[i].reshape(28, 28)).resize((84, 84), Image.BICUBIC)
        ink = np.asarray(big, np.float32) / 255
        sheet[8:92, x : x + 84] = np.minimum(sheet[8:92, x : x + 84], 255 * (1 - ink))
        x += 76 + int(rng.integers(-6, 6))
    label = "".join(str(int(test.labels[i])) for i in indexes)
    return Image.fromarray(sheet.astype(np.uint8)), label


def test_numbers_of_separated_digits_are_read(tmp_path):
    """README: 95 of 100 such numbers (2-6 digits, seed 0) read exactly; a quick 20 here."""
    from nnmnist.core.network import forward
    from nnmnist.vision.numbers import split_digits

    net = load_weights(shipped_model_path())
    rng = np.random.default_rng(3)
    right = 0
    for _ in range(20):
        indexes = rng.choice(10_000, int(rng.integers(2, 7)), replace=False)
        picture, label = _number_picture(indexes, rng)
        parts = split_digits(picture)
        probs = forward(net, np.stack([d for _, d in parts]).reshape(len(parts), 784))
        right += "".join(map(str, probs.argmax(axis=1).tolist())) == label
    assert right >= 17


def test_predict_number_on_the_command_line(runner, tmp_path, monkeypatch):
    import json

    from PIL import ImageDraw, ImageFont

    from nnmnist.cli import app

    monkeypatch.chdir(tmp_path)
    im = Image.new("L", (420, 140), 255)
    font = ImageFont.load_default(size=100)
    ImageDraw.Draw(im).text((20, 10), "2359", fill=0, font=font)
    im.save("number.png")
    text = runner.invoke(app, ["predict", "number.png", "--number"])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("number.png\t2359\t")
    line = runner.invoke(app, ["predict", "number.png", "--number", "-f", "jsonl"]).stdout
    obj = json.loads(line)
    assert obj["number"] == "2359" and len(obj["digits"]) == 4
    assert obj["probability"] == min(d["probability"] for d in obj["digits"])
    boxes = [d["box"] for d in obj["digits"]]
    assert boxes == sorted(boxes) and all(b[0] < b[2] and b[1] < b[3] for b in boxes)
    usage = runner.invoke(app, ["predict", "number.png", "--number", "--raw"])
    assert usage.exit_code == 2
    shown = runner.invoke(app, ["predict", "number.png", "--number", "--show", "-f", "csv"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[1].startswith("number.png,2359,")  # the picture: stderr
    drawing = shown.stderr.splitlines()
    assert "number.png" in drawing[1] and sum("█" in line or "▀" in line for line in drawing) >= 5
    assert [w for w in drawing[-1].split() if "%" not in w] == ["2", "3", "5", "9"]


def test_number_with_a_picture_on_stdin_says_what_it_reads(tmp_path):
    import subprocess

    Image.new("L", (100, 100), 255).save(tmp_path / "n.png")
    exe = str(Path(sys.executable).parent / "nnmnist")
    run = subprocess.run(
        [exe, "predict", "-", "--number"],
        input=(tmp_path / "n.png").read_bytes(),
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.decode().splitlines()[-1] == (
        "error: -: --number reads picture files (their paths may come on stdin)"
    )


def test_touching_digits_are_cut_where_the_network_reads_both_sides():
    """84% of 300 touching pairs of seed 0 (a tuning set) read exactly with the default model;
    20 of seed 3 here, of which it reads 17 (--model cnn: 16, and 14 with the rule before
    _cut_wins and _whole_sides), the digit-or-not gate left out (it refuses one of them)."""
    net = load_weights(shipped_model_path())
    pairs = photos.build_numbers(20, seed=3, touching=True)
    right = sum(photos.read_number(net, p, gated=False) == label for p, label in pairs)
    assert right >= 15
    unread = sum(len(photos.read_number(net, p)) == 1 for p, _ in pairs)
    assert unread <= 8  # without the cuts nearly all of them read as one digit


def test_a_cut_leaving_a_speck_or_a_stub_is_no_candidate():
    from nnmnist.vision.numbers import _whole_sides

    mark = np.zeros((40, 60), bool)
    mark[2:38, 5:25] = True  # two tall strokes
    mark[2:38, 35:55] = True
    middle = np.zeros_like(mark)
    middle[:, :30] = True
    assert _whole_sides(mark & middle, mark & ~middle, 40)
    sliver = np.zeros_like(mark)
    sliver[:, :7] = True  # a path slipping down the first stroke's edge
    assert not _whole_sides(mark & sliver, mark & ~sliver, 40)  # tall, but 5% of the ink
    stub = np.zeros_like(mark)
    stub[:15, :30] = True  # the top of the first stroke
    assert not _whole_sides(mark & stub, mark & ~stub, 40)  # 13 rows: under half the height


def test_polarity_holds_under_a_shadow_across_the_border():
    from nnmnist.vision.images import light_paper, to_grey

    rng = np.random.default_rng(5)
    pictures, _ = SETS["hard-edged shadow"]
    for p in pictures:
        grey = to_grey(Image.fromarray(p))
        assert light_paper(grey) and not light_paper(1 - grey)
    sheet = photos.sheet_from_mnist(np.full(784, 0, np.uint8), rng)  # blank paper, no digit
    assert light_paper(to_grey(sheet.astype(np.uint8)))


def test_polarity_of_photos_with_a_small_digit_near_the_edge():
    """The skew of local contrast is measured up to the picture's edge: leaving out an eighth of
    the side lost these digits (8 of these 24 photos read as light ink on dark paper)."""
    import io

    from nnmnist.vision.images import light_paper, open_image, to_grey

    shots, _ = photos.megapixel_photos(24, seed=4, sides=(70, 120))
    for k, shot in enumerate(shots):
        grey = to_grey(open_image(io.BytesIO(shot), f"photo{k}.jpg"))
        assert light_paper(grey) and not light_paper(1 - grey), k


def test_a_number_on_two_lines_is_read_top_line_first(runner, tmp_path, monkeypatch):
    import json

    from nnmnist.cli import app
    from nnmnist.io import mnist as data

    monkeypatch.chdir(tmp_path)
    test = data.load("bundled", "test")
    rng = np.random.default_rng(7)
    picks = [[0, 1, 2], [3, 4, 5]]
    rows = [photos.number_picture([test.images[i] for i in line], rng) for line in picks]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=255) for r in rows]
    gap = np.full((30, width), 255, np.uint8)
    Image.fromarray(np.concatenate([rows[0], gap, rows[1]])).save("two-lines.png")
    result = runner.invoke(app, ["predict", "two-lines.png", "--number", "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    top, bottom = obj["number"].split(" ")
    assert len(top) == 3 and len(bottom) == 3
    assert [d["line"] for d in obj["digits"]] == [0, 0, 0, 1, 1, 1]
    assert max(d["box"][3] for d in obj["digits"][:3]) < min(d["box"][1] for d in obj["digits"][3:])
    truth = "".join(str(int(test.labels[i])) for line in picks for i in line)
    assert sum(a == b for a, b in zip(top + bottom, truth, strict=True)) >= 5


def test_number_refuses_noise_rather_than_reading_a_long_number():
    from nnmnist.vision.numbers import split_digits

    noise = np.random.default_rng(0).integers(0, 256, (400, 400)).astype(np.uint8)
    with pytest.raises(ImageError, match=r"ink scattered in [0-9,]+ marks \(noise, or no number\)"):
        split_digits(Image.fromarray(noise), name="noise.png")


def test_the_sauvola_box_gives_the_whole_pictures_mask():
    """front_end computes Sauvola's threshold, the marks' labels and their soft edges over the
    box of the pixels that can be ink; the same ink and mask as over the whole picture."""
    from scipy import ndimage

    from nnmnist.vision import cleanup as im
    from nnmnist.vision import images

    def whole(paper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # the filters everywhere
        paper = im.at_most(paper, im.WORK_SIDE)
        h, w = paper.shape
        if im._grainy(paper):
            paper = ndimage.median_filter(paper, footprint=im._CROSS)
        light = im._paper_light(paper)
        flat = np.clip(paper / np.maximum(light, 0.05), 0, 1).astype(np.float32)
        ink = 1 - flat
        top = im._top_percentile(ink, im.INK_TOP)
        if top > 0:
            ink = np.clip(ink / top, 0, 1)
        win = max(15, min(h, w) // 6) | 1
        mean = ndimage.uniform_filter(flat, win)
        std = np.sqrt(np.maximum(ndimage.uniform_filter(flat * flat, win) - mean * mean, 0))
        k, r = im.SAUVOLA_K, im.SAUVOLA_R
        mask = (flat < mean * (1 + k * (std / r - 1))) & (ink > im.INK_THRESHOLD)
        mask &= ~im._ruled_lines(mask)
        labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
        if count:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = (sizes >= 0.1 * sizes.max())[labels]
        near = ndimage.maximum_filter(mask, size=2 * im.EDGE_GROW + 1)
        return np.where(near, ink, 0).astype(np.float32), mask

    for pictures, _ in SETS.values():
        for p in pictures[:8]:
            grey = images.to_grey(Image.fromarray(p))
            grey = grey if images.light_paper(grey) else 1 - grey
            for got, want in zip(im.front_end(grey), whole(grey), strict=True):
                assert got.dtype == want.dtype and np.array_equal(got, want)


def _marks_at_the_edge(pictures) -> int:
    """How many of the pictures keep ink touching the picture's edge in their digit's mask."""
    touching = 0
    for p in pictures:
        stages: dict = {}
        with contextlib.suppress(ImageError):  # refused: the mask is still recorded
            preprocess(Image.fromarray(p), stages=stages)
        mask = stages["5-mask"]
        touching += bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    return touching


def test_a_shadows_corners_are_not_taken_for_ink(monkeypatch):
    """Where a shadow's edge runs out of the picture, the paper's closing cannot follow its
    acute corners, and they came out as marks beside the digit (shrinking it, or making the
    gate refuse it). In a picture of one digit, marks at the edge under half the largest are
    dropped. These digits never touch the edge (seed 4: a set nothing was tuned on)."""
    from nnmnist.vision import cleanup

    pictures, _ = photos.build(60, seed=4)["hard-edged shadow"]
    assert _marks_at_the_edge(pictures) == 0
    monkeypatch.setattr(cleanup, "EDGE_MARK_SHARE", 0.0)  # specks alone: corners stay
    assert _marks_at_the_edge(pictures) >= 10  # 17 of the 60


def test_numbers_keep_a_small_digit_at_the_edge():
    """--number does not drop small marks at the edge: a 1 cut by the picture's edge beside a
    wide digit is a digit of the number."""
    from nnmnist.vision.cleanup import front_end

    paper = np.ones((120, 200), np.float32)
    paper[20:100, 60:140] = 0.0  # a wide block of ink
    paper[20:100, 60 + 10 : 140 - 10] = 1.0  # hollowed: a thick frame, like a 0
    paper[30:90, 0:6] = 0.0  # a thin stroke cut by the left edge
    _, number = front_end(paper)
    _, one = front_end(paper, one_digit=True)
    assert number[:, :6].any() and not one[:, :6].any()
    assert number[:, 60:140].any() and one[:, 60:140].any()
