"""The textbook's way to evaluate a network (Deep Learning from Scratch, ch. 3), for comparison.

    python bench/textbook_evaluate.py MNIST_DIR WEIGHTS.pkl

Reads the test files (gzipped, as published, or not), normalises to float, loads the pickled weights, and runs the
batch loop of 100 with the book's sigmoid and softmax. Prints the accuracy.
"""

import gzip
import os
import pickle
import sys

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(a):
    c = np.max(a, axis=-1, keepdims=True)
    e = np.exp(a - c)
    return e / np.sum(e, axis=-1, keepdims=True)


def read(path):
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def main() -> None:
    folder, weights = sys.argv[1], sys.argv[2]
    x = read(f"{folder}/t10k-images-idx3-ubyte")
    x = np.frombuffer(x, np.uint8, offset=16).reshape(-1, 784) / 255.0
    t = np.frombuffer(read(f"{folder}/t10k-labels-idx1-ubyte"), np.uint8, offset=8)
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
