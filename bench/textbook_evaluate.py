"""The textbook's way to evaluate a network (Deep Learning from Scratch, ch. 3), for comparison.

    python bench/textbook_evaluate.py MNIST_DIR WEIGHTS.pkl

Reads the gzipped test files, normalises to float, loads the pickled weights, and runs the
batch loop of 100 with the book's sigmoid and softmax. Prints the accuracy.
"""

import gzip
import pickle
import sys

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(a):
    c = np.max(a, axis=-1, keepdims=True)
    e = np.exp(a - c)
    return e / np.sum(e, axis=-1, keepdims=True)


def main() -> None:
    folder, weights = sys.argv[1], sys.argv[2]
    with gzip.open(f"{folder}/t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / 255.0
    with gzip.open(f"{folder}/t10k-labels-idx1-ubyte.gz") as f:
        t = np.frombuffer(f.read(), np.uint8, offset=8)
    with open(weights, "rb") as f:
        network = pickle.load(f)  # trusted: the benchmark writes this file itself
    w = [network[f"W{i}"] for i in (1, 2, 3)]
    b = [network[f"b{i}"] for i in (1, 2, 3)]
    correct = 0
    for i in range(0, len(x), 100):
        a1 = sigmoid(x[i : i + 100] @ w[0] + b[0])
        a2 = sigmoid(a1 @ w[1] + b[1])
        y = softmax(a2 @ w[2] + b[2])
        correct += int(np.sum(np.argmax(y, axis=1) == t[i : i + 100]))
    print(correct / len(x))


if __name__ == "__main__":
    main()
