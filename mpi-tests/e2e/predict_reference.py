#!/usr/bin/python3
"""Independent check of --predict's CSV: load the checkpoint's weights with
h5py, run the forward pass by hand in numpy over the same IDX image file and
compare every row's class and probabilities. Prints the number of rows whose
class equals the label file's (when given). Exits 1 with the first mismatch.
Usage: predict_reference.py CHECKPOINT IMAGES_IDX OUT.csv [LABELS_IDX]"""
import sys

import h5py
import numpy as np


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def read_idx(path):
    raw = np.fromfile(path, dtype=np.uint8)
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i].tobytes(), "big") for i in range(dims)]
    data = raw[4 + 4 * dims:]
    if raw[2] == 0x0D:
        return data.view(">f4").astype(np.float32).reshape(shape[0], -1)
    return data.reshape(shape[0], -1) if dims > 1 else data


def forward(path, images):
    with h5py.File(path, "r") as f:
        activation = text(f.attrs["activation"])
        loss = text(f.attrs["loss"])
        n_layers = len(f.attrs["layer_sizes"]) - 1
        layers = [(f[f"layers/{i}/weights"][()], f[f"layers/{i}/biases"][()]) for i in range(n_layers)]
    hidden = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[activation]
    a = images.astype(np.float64) / 255 if images.dtype == np.uint8 else images.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        z = a @ w.T.astype(np.float64) + b
        a = hidden(z) if i < n_layers - 1 else z
    if loss == "xent":
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    s = 1 / (1 + np.exp(-a))
    return s / s.sum(axis=1, keepdims=True)


def main():
    ck, images_path, csv = sys.argv[1:4]
    probs = forward(ck, read_idx(images_path))
    with open(csv) as f:
        header = f.readline().strip().split(",")
        want = ["index", "class"] + [f"p{j}" for j in range(probs.shape[1])]
        if header != want:
            sys.exit(f"header {header[:4]}..., expected {want[:4]}...")
        rows = np.loadtxt(f, delimiter=",", ndmin=2)
    if rows.shape != (probs.shape[0], probs.shape[1] + 2):
        sys.exit(f"{rows.shape[0]} rows of {rows.shape[1]} columns, expected {probs.shape[0]} of {probs.shape[1] + 2}")
    if not (rows[:, 0] == np.arange(probs.shape[0])).all():
        sys.exit("the index column is not 0, 1, 2, ... in order")
    diff = np.abs(rows[:, 2:] - probs).max()
    if diff > 1e-4:
        sys.exit(f"probabilities differ from numpy's by up to {diff:g}")
    top2 = np.sort(probs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5  # a near-tie may go either way in float32
    bad = np.nonzero(clear & (rows[:, 1] != probs.argmax(axis=1)))[0]
    if bad.size:
        sys.exit(f"row {bad[0]}: class {int(rows[bad[0], 1])}, numpy says {probs[bad[0]].argmax()}")
    if len(sys.argv) > 4:
        labels = read_idx(sys.argv[4])
        print(int((rows[:, 1] == labels).sum()))


if __name__ == "__main__":
    main()
