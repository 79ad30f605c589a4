"""A hand-written NumPy prediction script: the baseline `nnmnist predict FILE.npy` must beat.

    python bench/numpy_predict.py IMAGES.npy WEIGHTS.pkl > predictions.csv

Memory-maps the .npy of uint8 images (N, 784), runs the book's sigmoid network in float32 in
blocks of 10,000 rows, and prints one CSV line per image (name, label, probability) with an
f-string, as nnmnist's csv format does.
"""

import pickle
import sys

import numpy as np


def main() -> None:
    path, weights = sys.argv[1], sys.argv[2]
    x = np.load(path, mmap_mode="r")
    with open(weights, "rb") as f:
        net = pickle.load(f)  # trusted: the benchmark writes this file itself
    w = [net[f"W{i}"].astype(np.float32) for i in (1, 2, 3)]
    b = [net[f"b{i}"].astype(np.float32) for i in (1, 2, 3)]
    out = sys.stdout
    out.write("input,label,probability\n")
    for lo in range(0, len(x), 10_000):
        a = np.asarray(x[lo : lo + 10_000], dtype=np.float32) / 255
        a = 1 / (1 + np.exp(-(a @ w[0] + b[0])))
        a = 1 / (1 + np.exp(-(a @ w[1] + b[1])))
        z = a @ w[2] + b[2]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        labels, best = p.argmax(axis=1).tolist(), p.max(axis=1).tolist()
        out.write(
            "".join(
                f"{path}:{lo + i},{lb},{pb:.6f}\n"
                for i, (lb, pb) in enumerate(zip(labels, best, strict=True))
            )
        )


if __name__ == "__main__":
    main()
