"""nnmnist: MNIST batch inference with neural networks (MLPs and ConvNets) written from scratch in NumPy."""

__version__ = "0.1.0"
