"""Weight files, the shipped models and their cards, interchange with ONNX, PyTorch, safetensors and scikit-learn."""
