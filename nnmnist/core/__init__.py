"""Pure NumPy: activations, the forward pass, metrics. No files, no terminal."""

from nnmnist.core.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, sigmoid, softmax
from nnmnist.core.network import Network, forward, init_network, predict

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "Network",
    "forward",
    "init_network",
    "predict",
    "sigmoid",
    "softmax",
]
