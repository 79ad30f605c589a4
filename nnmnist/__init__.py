"""nnmnist: MNIST batch inference with a multilayer perceptron written from scratch in NumPy."""

__version__ = "0.1.0"
