"""Write examples/notebook.ipynb (without outputs): chapter 3's story told with nnmnist's API.
tests/test_notebook.py runs it on a real Jupyter kernel and checks its outputs.

    python docs/make_notebook.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

CELLS = [
    (
        "md",
        """# Chapter 3, with nnmnist

*Deep Learning from Scratch* (Koki Saitoh), chapter 3, builds a network's forward pass from
activations and matrix products, then runs a trained network over MNIST in batches. This notebook
tells the same story with `nnmnist`'s Python API, and goes on where the chapter stops: a trained
ConvNet, photos, written numbers, your own digits, and fine-tuning.""",
    ),
    (
        "md",
        "## Activations\n\nThe chapter's step, sigmoid and ReLU, and a softmax that does not overflow.",
    ),
    (
        "code",
        """import numpy as np
from nnmnist.core.activations import relu, sigmoid, softmax, step

x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
print("step   ", step(x))
print("sigmoid", sigmoid(x).round(3))
print("relu   ", relu(x))
print("softmax", softmax(np.array([[1010.0, 1000.0, 990.0]])).round(5))""",
    ),
    (
        "md",
        """## The forward pass, with random weights

A 784-50-100-10 network, drawn as the notebook draws it (`np.random.seed(42)`, 0.01 * randn).
Untrained, it reads about one digit in ten: chance.""",
    ),
    (
        "code",
        """import nnmnist
from nnmnist.core.network import init_network, predict

images, labels = nnmnist.datasets.test()        # MNIST's 10,000 test digits, shipped
untrained = init_network((784, 50, 100, 10), rng=np.random.RandomState(42))
guess, _ = predict(untrained, images)
print(f"random weights: accuracy {np.mean(guess == labels):.4f}")""",
    ),
    (
        "md",
        "## A trained model\n\nThe default shipped model, a ConvNet, measured on the same 10,000 digits.",
    ),
    (
        "code",
        """model = nnmnist.load()
report = model.evaluate()
print(report)
report""",
    ),
    ("code", "model"),
    (
        "md",
        "## A photo\n\nAny picture of a digit is prepared as MNIST's were: ink found, scaled into 20x20, centred.",
    ),
    (
        "code",
        """digit = nnmnist.prepare("examples/photos/two-on-paper.jpg")
print("read as", model.predict("examples/photos/two-on-paper.jpg"))
digit""",
    ),
    ("md", "## A written number"),
    (
        "code",
        """number = model.read_number("examples/numbers/0123.png")
print(number.text, f"(least sure digit: {number.confidence:.1%})")""",
    ),
    (
        "md",
        """## Your own digits

A folder of labelled pictures (a subfolder per digit), as you would keep your own. Here:
scikit-learn's 8x8 `load_digits`, written by other people, saved as PNG files. A picture the
tool refuses counts as not read right.""",
    ),
    (
        "code",
        """import tempfile
from pathlib import Path

from PIL import Image
from sklearn.datasets import load_digits

digits = load_digits()
mine = Path(tempfile.mkdtemp()) / "mine"
for i in range(900, 1200):
    folder = mine / str(digits.target[i])
    folder.mkdir(parents=True, exist_ok=True)
    ink = np.round(255 - digits.images[i] * 255 / 16).astype(np.uint8)  # dark ink on paper
    Image.fromarray(ink.repeat(8, 0).repeat(8, 1)).save(folder / f"{i}.png")
own = model.evaluate(mine)
print(f"own digits: accuracy {own.accuracy:.4f} of {own.total} ({len(own.refused)} refused)")""",
    ),
    (
        "md",
        """## Fine-tuning

The shipped MLP adapted to that writing with scikit-learn's interface (the same trainer as
`nnmnist train --from`), on 600 other digits of the same set, measured on the 300 above.""",
    ),
    (
        "code",
        """from nnmnist.sklearn import MNISTClassifier

def as_pixels(levels):  # as predict prepares them (refused ones too)
    return np.stack([nnmnist.prepare(d, scale=16, any_shape=True).reshape(784) for d in levels])

train_x, train_y = as_pixels(digits.images[:600]), digits.target[:600]
test_x, test_y = as_pixels(digits.images[900:1200]), digits.target[900:1200]
mlp = nnmnist.load("mlp")
print(f"mlp before: {np.mean(mlp.predict(test_x) == test_y):.4f}")
tuned = MNISTClassifier(start_from="mlp", epochs=5, learning_rate=3e-4).fit(train_x, train_y)
print(f"mlp after:  {tuned.score(test_x, test_y):.4f}")""",
    ),
]


def main() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for kind, text in CELLS:
        cell = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(cell(text))
    out = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"
    nbformat.write(nb, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
