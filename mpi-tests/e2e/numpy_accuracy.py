#!/usr/bin/python3
"""Independent check of a checkpoint: load the weights with h5py, run the
forward pass by hand in numpy on the MNIST test set and print the number of
correctly classified images. Usage: numpy_accuracy.py CHECKPOINT MNIST_DIR [TEST_SIZE]"""
import sys

import h5py
import numpy as np


def text(value):
    """A string attribute as str: h5py returns format 2's fixed-length strings
    as bytes (numpy.bytes_), format 1's variable-length ones as str."""
    return value.decode() if isinstance(value, bytes) else value


def main():
    path, data = sys.argv[1], sys.argv[2]
    test_size = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    with h5py.File(path, "r") as f:
        assert text(f.attrs["format"]) == "nnmpi-checkpoint", "not an nnmpi checkpoint"
        activation = text(f.attrs["activation"])
        n_layers = len(f.attrs["layer_sizes"]) - 1
        layers = [(f[f"layers/{i}/weights"][()], f[f"layers/{i}/biases"][()]) for i in range(n_layers)]
    images = np.fromfile(f"{data}/t10k-images-idx3-ubyte", dtype=np.uint8)[16:].reshape(-1, 784)[:test_size]
    labels = np.fromfile(f"{data}/t10k-labels-idx1-ubyte", dtype=np.uint8)[8:][:test_size]
    hidden = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[activation]
    a = images.astype(np.float32) / np.float32(255)
    for i, (w, b) in enumerate(layers):
        z = a @ w.T + b  # weights are [out][in]: a layer computes W a + b
        a = hidden(z) if i < n_layers - 1 else z  # the arg-max of sigmoid or softmax is the arg-max of z
    print(int((a.argmax(axis=1) == labels).sum()))


if __name__ == "__main__":
    main()
