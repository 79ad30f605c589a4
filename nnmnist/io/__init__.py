"""Files in and out: the one reader, the one writer, IDX, .npy/.npz, the pickle parser, MNIST sources, result formats."""
