#!/usr/bin/python3
"""idx_data.py: the data side of data_test.sh, in numpy, independent of nnmpi's reader.

  idx_data.py make DIR TYPE SHAPE [--gzip] [--names idx]
      writes a learnable 3-class problem as IDX files in DIR: 600 training
      and 150 test images of SHAPE (e.g. 5x7), TYPE ubyte or float32; class c
      adds 0.1 to the c-th third of the image, over uniform noise in [0, 0.5); label i is i % 3 then
      shuffled by a fixed seed. --gzip compresses every file (names get .gz,
      unless --names idx, which writes tr-img, tr-lab, te-img, te-lab
      without any suffix); --names idx otherwise uses those plain names.
  idx_data.py accuracy CHECKPOINT IMAGES LABELS
      reads the IDX files (plain or gzip) and the checkpoint's weights with
      h5py, runs the forward pass by hand and prints the correct count.
  idx_data.py synthetic CHECKPOINT INPUTS,CLASSES,TRAIN,TEST SEED
      regenerates the test set of --data synthetic:... from docs/data.md's
      definition (written again here, in numpy, from the text, not from
      src/synth.c's code) and prints the checkpoint's correct count on it.
"""
import gzip
import struct
import sys

import h5py
import numpy as np

TYPES = {"ubyte": (0x08, ">u1"), "float32": (0x0D, ">f4")}


def idx_bytes(array, type_code):
    header = struct.pack(">HBB", 0, type_code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write(path, data, gz):
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(data)


def make(out, kind, shape, gz, idx_names):
    dims = tuple(int(d) for d in shape.split("x"))
    code, dtype = TYPES[kind]
    rng = np.random.default_rng(7)
    sets = {}
    for name, n in (("train", 600), ("test", 150)):
        labels = rng.permutation(np.arange(n) % 3).astype(np.uint8)
        x = rng.uniform(0.0, 0.5, size=(n,) + dims)
        flat = x.reshape(n, -1)
        block = max(1, flat.shape[1] // 3)
        for i, c in enumerate(labels):
            flat[i, c * block:(c + 1) * block] += 0.1
        x = flat.reshape((n,) + dims)
        pixels = (x * 255).round().astype(dtype) if kind == "ubyte" else (x * 2 - 1).astype(dtype)
        sets[name] = (pixels, labels)
    names = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    if idx_names:
        names = {"train": ("tr-img", "tr-lab"), "test": ("te-img", "te-lab")}
    suffix = ".gz" if gz and not idx_names else ""
    for name, (pixels, labels) in sets.items():
        write(f"{out}/{names[name][0]}{suffix}", idx_bytes(pixels, code), gz)
        write(f"{out}/{names[name][1]}{suffix}", idx_bytes(labels.astype(">u1"), 0x08), gz)


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    _, type_code, ndim = struct.unpack(">HBB", raw[:4])
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    dtype = {0x08: ">u1", 0x0D: ">f4"}[type_code]
    data = np.frombuffer(raw[4 + 4 * ndim:], dtype=dtype).reshape(dims)
    return data, type_code


def accuracy(ck, images_path, labels_path):
    images, code = read_idx(images_path)
    labels, _ = read_idx(labels_path)
    with h5py.File(ck, "r") as f:
        act = f.attrs["activation"]
        act = act.decode() if isinstance(act, bytes) else act
        n_layers = len(f.attrs["layer_sizes"]) - 1
        layers = [(f[f"layers/{i}/weights"][()], f[f"layers/{i}/biases"][()]) for i in range(n_layers)]
    a = images.reshape(len(images), -1).astype(np.float32)
    if code == 0x08:
        a = a / np.float32(255)
    hidden = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[act]
    for i, (w, b) in enumerate(layers):
        z = a @ w.T + b
        a = hidden(z) if i < n_layers - 1 else z
    print(int((a.argmax(axis=1) == labels).sum()))


M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix(z):
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(key, a, b):
    """24 bits of mix(key ^ mix(a ^ mix(b))) as a float32 in [0, 1)."""
    bits = mix(np.uint64(key) ^ mix(np.asarray(a, dtype=np.uint64) ^ mix(np.asarray(b, dtype=np.uint64))))
    return ((bits >> np.uint64(40)).astype(np.float64) * 2.0 ** -24).astype(np.float32)


def synthetic(ck, spec, seed):
    inputs, classes, train, test = (int(v) for v in spec.split(","))
    seed = np.uint64(int(seed))
    with np.errstate(over="ignore"):
        in_key = int(mix(seed ^ mix(np.uint64(0x5359))))
        t_key = int(mix(seed ^ mix(np.uint64(0x7EAC))))
        g = np.arange(train, train + test, dtype=np.uint64)[:, None]
        x = uniform(in_key, g, np.arange(inputs, dtype=np.uint64)[None, :])  # (test, inputs)
        n_read = min(inputs, 64)
        c = np.arange(classes, dtype=np.uint64)[:, None]
        teacher = np.float32(2) * uniform(t_key, c, np.arange(n_read, dtype=np.uint64)[None, :]) - np.float32(1)
    features = [f * inputs // n_read for f in range(n_read)]
    scores = np.zeros((test, classes))
    for f, j in enumerate(features):  # the sum in the definition's order, in double
        scores += teacher[:, f].astype(np.float64)[None, :] * (x[:, j].astype(np.float64) - 0.5)[:, None]
    labels = scores.argmax(axis=1)
    with h5py.File(ck, "r") as f:
        act = f.attrs["activation"]
        act = act.decode() if isinstance(act, bytes) else act
        n_layers = len(f.attrs["layer_sizes"]) - 1
        layers = [(f[f"layers/{i}/weights"][()], f[f"layers/{i}/biases"][()]) for i in range(n_layers)]
    hidden = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[act]
    a = x
    for i, (w, b) in enumerate(layers):
        z = a @ w.T + b
        a = hidden(z) if i < n_layers - 1 else z
    print(int((a.argmax(axis=1) == labels).sum()), np.bincount(labels, minlength=classes).tolist())


def main():
    if sys.argv[1] == "synthetic":
        synthetic(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4], "--gzip" in sys.argv, "--names" in sys.argv)
    else:
        accuracy(sys.argv[2], sys.argv[3], sys.argv[4])


main()
