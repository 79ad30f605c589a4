"""Run an ONNX model exported by `nnmnist export` with ONNX Runtime: no nnmnist needed.

    python onnx_predict.py MODEL.onnx IMAGES.npy

IMAGES.npy holds uint8 pixels, (N, 784) or (N, 28, 28); prints one label per image and its
probability. The graph takes `pixels` (N, 784) float32 with values 0-255 and gives
`probabilities` (N, 10).
"""

import sys

import numpy as np
import onnxruntime

session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
pixels = np.load(sys.argv[2]).reshape(-1, 784).astype(np.float32)
(probabilities,) = session.run(["probabilities"], {"pixels": pixels})
for i, row in enumerate(probabilities):
    print(f"{i}\t{row.argmax()}\t{row.max():.6f}")
