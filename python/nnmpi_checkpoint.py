#!/usr/bin/python3
"""Use an nnmpi checkpoint outside nnmpi: load it, classify with numpy, or get
a torch.nn.Sequential. Needs numpy and h5py; PyTorch only for to_torch().

Preprocessing contract (docs/checkpoint-format.md, "Using a checkpoint
elsewhere"): the network's input is one image's pixel bytes, flattened
row-major from `input_shape` (28x28 for MNIST), each mapped to
`byte * input_scale + input_offset` (1/255 and 0: pixels in [0, 1], no
mean/std normalization), computed in float64 and rounded once to float32, as
nnmpi does. The output layer is `output` (sigmoid with loss mse, softmax with
loss xent) over `classes` classes. Checkpoints older than these attributes get
the values nnmpi always used (listed in `derived`).

    import nnmpi_checkpoint as nc, torch
    ck = nc.load("run/checkpoint.h5")
    x = nc.preprocess(ck, images)      # uint8 (N, 28, 28) -> float32 (N, 784) = bytes / 255
    classes = nc.predict_classes(ck, images)              # numpy only
    model = nc.to_torch(ck)            # Linear, Sigmoid, ..., Linear, Sigmoid/Softmax(dim=1)
    with torch.no_grad():
        probs = model(torch.from_numpy(x))    # never feed raw bytes or mean/std-normalized pixels

Command line: nnmpi_checkpoint.py CK.h5 [IDX_IMAGES IDX_LABELS] prints the
metadata and, with the IDX files, the correct/total counts (numpy, and torch
when importable).
"""
import dataclasses
import sys

import h5py
import numpy as np

FORMAT = "nnmpi-checkpoint"
FORMAT_VERSIONS = (1, 2)  # what this module has been checked against
HIDDEN = ("sigmoid", "relu", "tanh")
OUTPUT_OF_LOSS = {"mse": "sigmoid", "xent": "softmax"}


@dataclasses.dataclass
class Checkpoint:
    layers: list  # [(W float32 (out, in), b float32 (out,))], one per layer
    velocity: list  # same shapes (momentum buffers), or None without --momentum
    activation: str  # hidden layers: sigmoid | relu | tanh
    loss: str  # mse | xent
    output: str  # output layer: sigmoid | softmax
    input_scale: float  # network input = pixel byte * input_scale + input_offset
    input_offset: float
    input_shape: tuple  # one image's geometry, flattened row-major into layers[0]'s inputs
    classes: int
    attrs: dict  # every root attribute, as plain Python values (str, int, float, list)
    derived: tuple  # names above that the file lacks (older nnmpi) and were given nnmpi's defaults


def _plain(value):
    """An h5py attribute as plain Python: fixed-length strings come back as
    bytes (format 2), variable-length ones as str (format 1); decode only bytes."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def _pairs(f, group, sizes, path):
    pairs = []
    for i in range(len(sizes) - 1):
        w = np.asarray(f[f"{group}/{i}/weights"][()], dtype=np.float32)
        b = np.asarray(f[f"{group}/{i}/biases"][()], dtype=np.float32)
        if w.shape != (sizes[i + 1], sizes[i]) or b.shape != (sizes[i + 1],):
            raise ValueError(f"{path}: {group}/{i} has shapes {w.shape}, {b.shape}; layer_sizes {sizes} implies "
                             f"({sizes[i + 1]}, {sizes[i]}), ({sizes[i + 1]},)")
        pairs.append((w, b))
    return pairs


def load(path):
    """Reads a checkpoint into a Checkpoint; ValueError if it is not one this module understands."""
    with h5py.File(path, "r") as f:
        attrs = {name: _plain(value) for name, value in f.attrs.items()}
        if attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not an nnmpi checkpoint (root attribute 'format' is "
                             f"{attrs.get('format')!r}, expected {FORMAT!r})")
        if attrs.get("format_version") not in FORMAT_VERSIONS:
            raise ValueError(f"{path}: checkpoint format {attrs.get('format_version')!r} (written by nnmpi "
                             f"{attrs.get('nnmpi_version')}); this module reads formats {FORMAT_VERSIONS}: "
                             "use the nnmpi_checkpoint.py of that nnmpi")
        missing = [name for name in ("layer_sizes", "activation", "loss") if name not in attrs]
        if missing:
            raise ValueError(f"{path}: root attribute(s) {missing} missing")
        sizes = [int(n) for n in np.atleast_1d(attrs["layer_sizes"])]
        layers = _pairs(f, "layers", sizes, path)
        velocity = _pairs(f, "optimizer/velocity", sizes, path) if "optimizer" in f else None
    defaults = {"input_scale": 1.0 / 255.0, "input_offset": 0.0,
                "input_shape": [28, 28] if sizes[0] == 784 else [sizes[0]],
                "output": OUTPUT_OF_LOSS.get(attrs["loss"]), "classes": sizes[-1]}
    meta = {name: attrs.get(name, default) for name, default in defaults.items()}
    ck = Checkpoint(layers, velocity, attrs["activation"], attrs["loss"], meta["output"],
                    float(meta["input_scale"]), float(meta["input_offset"]),
                    tuple(int(n) for n in np.atleast_1d(meta["input_shape"])), int(meta["classes"]),
                    attrs, tuple(name for name in defaults if name not in attrs))
    checks = [(ck.activation in HIDDEN, f"activation {ck.activation!r} is not one of {HIDDEN}"),
              (ck.output in ("sigmoid", "softmax"), f"output {ck.output!r} is not sigmoid or softmax"),
              (int(np.prod(ck.input_shape)) == sizes[0], f"input_shape {ck.input_shape} is not {sizes[0]} inputs"),
              (ck.classes == sizes[-1], f"classes {ck.classes} is not the last layer's size {sizes[-1]}")]
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return ck


def preprocess(ck, images):
    """uint8 images (N, *input_shape) or (N, n_in) -> float32 network inputs (N, n_in).
    float64 byte * scale + offset, rounded once to float32, as nnmpi does; for
    scale 1/255 and offset 0 every byte gives exactly numpy_accuracy.py's
    images.astype(np.float32) / np.float32(255)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"preprocess takes the raw pixel bytes (uint8), not {images.dtype}: it applies the scale")
    n_in = ck.layers[0][0].shape[1]
    if images.ndim < 2 or images.shape[1:] not in (ck.input_shape, (n_in,)):
        raise ValueError(f"images of shape {images.shape}: expected (N, {', '.join(map(str, ck.input_shape))}) "
                         f"or (N, {n_in})")
    x = images.reshape(len(images), n_in).astype(np.float64) * ck.input_scale + ck.input_offset
    return x.astype(np.float32)


def _sigmoid(z):
    return np.float32(1) / (np.float32(1) + np.exp(-z))


def _softmax(z):
    """nnmpi's softmax: exp(z - max), summed left to right (np.sum would pair), times 1/sum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e * (np.float32(1) / np.cumsum(e, axis=1)[:, -1:])


_HIDDEN_NUMPY = {"sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, np.float32(0)), "tanh": np.tanh}


def to_numpy_predict(ck, images):
    """uint8 images -> float32 class probabilities (N, classes): the sigmoid outputs
    (loss mse) or the softmax (xent), computed in float32 as nnmpi does."""
    a = preprocess(ck, images)
    for i, (w, b) in enumerate(ck.layers):
        z = a @ w.T + b  # weights are (out, in): a layer computes W a + b
        if i < len(ck.layers) - 1:
            a = _HIDDEN_NUMPY[ck.activation](z)
        else:
            a = _softmax(z) if ck.output == "softmax" else _sigmoid(z)
    return a


def predict_classes(ck, images):
    """uint8 images -> predicted class (N,): the first largest probability, as nnmpi counts it."""
    return to_numpy_predict(ck, images).argmax(axis=1)


def to_torch(ck):
    """A torch.nn.Sequential (eval mode) computing to_numpy_predict on preprocess()ed inputs."""
    try:
        import torch
    except ImportError as e:
        raise ImportError("to_torch needs PyTorch (pip install torch, or apt-get install python3-torch); "
                          "load, preprocess and to_numpy_predict work without it") from e
    hidden = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[ck.activation]
    modules = []
    for i, (w, b) in enumerate(ck.layers):
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        last = torch.nn.Softmax(dim=1) if ck.output == "softmax" else torch.nn.Sigmoid()
        modules += [linear, hidden() if i < len(ck.layers) - 1 else last]
    return torch.nn.Sequential(*modules).eval()


def read_idx(path):
    """An IDX file of unsigned bytes (MNIST's format) as a uint8 array of its dimensions."""
    with open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3] if len(data) >= 4 else 0
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    if data[:3] != b"\0\0\x08" or ndim == 0 or len(data) != 4 + 4 * ndim + int(np.prod(dims)):
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(argv):
    if len(argv) not in (2, 4):
        sys.exit("usage: nnmpi_checkpoint.py CHECKPOINT.h5 [IDX_IMAGES IDX_LABELS]")
    ck = load(argv[1])
    for name in sorted(ck.attrs):
        print(f"{name} = {ck.attrs[name]}")
    for name in ck.derived:
        print(f"{name} = {getattr(ck, name)}  (derived: the file predates it)")
    print(f"input = pixel byte * {ck.input_scale!r} + {ck.input_offset!r}, shape {ck.input_shape}; "
          f"output {ck.output} over {ck.classes} classes")
    if len(argv) == 4:
        images, labels = read_idx(argv[2]), read_idx(argv[3])
        print(f"numpy: {int((predict_classes(ck, images) == labels).sum())}/{len(labels)}")
        try:
            import torch
        except ImportError:
            print("torch: not importable")
            return
        with torch.no_grad():
            got = to_torch(ck)(torch.from_numpy(preprocess(ck, images))).argmax(dim=1).numpy()
        print(f"torch: {int((got == labels).sum())}/{len(labels)}")


if __name__ == "__main__":
    main(sys.argv)
