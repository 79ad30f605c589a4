"""Picture files to MNIST-style 28x28 digits: decoding, photo clean-up, number splitting, framing, the digit gate."""
