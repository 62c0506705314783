"""Shared pieces of the benchmark peers (peer_numpy.py, peer_torch.py, peer_ddp.py).

Every peer takes the same command line as nnmpi (the subset that matters for
timing), reads the MNIST IDX files itself, builds the same initial weights from
the same seed, and prints one JSON line per epoch on stdout:

  {"type":"epoch","epoch":1,"epoch_s":1.23,"samples":50000,"samples_per_s":40650.4,
   "correct":9104,"test_total":10000,"accuracy":0.9104}

epoch_s is the wall time of the training loop of that epoch only (shuffle,
minibatch gather, forward, backward, update); data loading and the test-set
evaluation are outside it. The field names are those of nnmpi's --metrics.

Nothing but the standard library is imported at the top: numpy and torch are
imported inside the functions, so that a peer can set the thread environment
variables before either is loaded.
"""
import argparse
import json
import os
import sys


def parse_args(description, extra=None):
    """Parse the peers' common options; extra(parser) may add a peer's own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default="data/mnist", help="directory with the 4 MNIST IDX files")
    p.add_argument("--layers", default="784,30,10", help="layer sizes, e.g. 784,30,10")
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "relu", "tanh"])
    p.add_argument("--loss", default="mse", choices=["mse", "xent"],
                   help="mse: sigmoid outputs, 0.5*||a-y||^2 per sample; xent: softmax + cross-entropy")
    p.add_argument("--init", default="normal", choices=["normal", "xavier", "he"])
    p.add_argument("--batch", type=int, default=10, help="GLOBAL minibatch size")
    p.add_argument("--lr", type=float, default=3.0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-size", type=int, default=50000, help="first N training images")
    p.add_argument("--test-size", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="compute threads (per process for peer_ddp.py)")
    if extra:
        extra(p)
    a = p.parse_args()
    a.layers = [int(s) for s in a.layers.split(",")]
    a.synthetic = synthetic_spec(a.data, p.error)
    if a.synthetic:
        inputs, classes, a.train_size, a.test_size = a.synthetic
        if len(a.layers) < 2 or a.layers[0] != inputs or a.layers[-1] != classes:
            p.error(f"--layers must start with {inputs} and end with {classes} (--data {a.data})")
    elif len(a.layers) < 2 or a.layers[0] != 784 or a.layers[-1] != 10:
        p.error("--layers must start with 784 and end with 10")
    if a.batch < 1 or a.epochs < 1 or a.threads < 1 or a.train_size < 1:
        p.error("--batch, --epochs, --threads and --train-size must be >= 1")
    return a


def synthetic_spec(data, error):
    """(INPUTS, CLASSES, TRAIN, TEST) of --data synthetic:INPUTS,CLASSES,TRAIN,TEST, as nnmpi
    takes it; None for a directory. Only peer_torch.py trains on it (random inputs and labels
    of that shape: the peers time the steps, not what they learn)."""
    if not data.startswith("synthetic:"):
        return None
    try:
        spec = tuple(int(f) for f in data[len("synthetic:"):].split(","))
    except ValueError:
        spec = ()
    if len(spec) != 4 or min(spec) < 1:
        error(f"--data {data}: want synthetic:INPUTS,CLASSES,TRAIN,TEST, all >= 1")
    return spec


def peak_rss_mb():
    """This process's peak resident set size in MB (getrusage's ru_maxrss, KiB on Linux)."""
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def set_thread_env(threads):
    """Pin every thread pool a peer may meet (OpenMP, OpenBLAS, MKL) to `threads`.

    Must run before numpy or torch is imported: OpenBLAS reads the variable when
    it is loaded, and by default starts one thread per core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def read_idx(path):
    """Return an IDX file's contents as a numpy uint8 array shaped as its header says."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        sys.exit(f"{path}: {data.size} bytes of data, header says {dims}")
    return data.reshape(dims)


def load_mnist(data_dir, train_size, test_size):
    """(x_train, y_train, x_test, y_test): x float32 (N, 784) in [0, 1], y int64 (N,)."""
    import numpy as np

    def images(name, n):
        x = read_idx(os.path.join(data_dir, name))[:n]
        return np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32) / np.float32(255.0)

    def labels(name, n):
        return read_idx(os.path.join(data_dir, name))[:n].astype(np.int64)

    x_tr = images("train-images-idx3-ubyte", train_size)
    y_tr = labels("train-labels-idx1-ubyte", train_size)
    x_te = images("t10k-images-idx3-ubyte", test_size)
    y_te = labels("t10k-labels-idx1-ubyte", test_size)
    if x_tr.shape[0] < train_size:
        sys.exit(f"--train-size {train_size}: only {x_tr.shape[0]} training images")
    return x_tr, y_tr, x_te, y_te


def init_params(layers, init, seed):
    """List of (W float32 (out, in), b float32 (out,)), the same for every peer.

    As nnmpi's --init: normal: W, b ~ N(0, 1) (the classic net); xavier: W ~ N(0, 2/(in+out)),
    b = 0; he: W ~ N(0, 2/in), b = 0. (The random numbers themselves differ from nnmpi's.)"""
    import numpy as np
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        if init == "normal":
            w = rng.standard_normal((n_out, n_in))
            b = rng.standard_normal(n_out)
        else:
            var = 2.0 / (n_in + n_out) if init == "xavier" else 2.0 / n_in
            w = rng.standard_normal((n_out, n_in)) * var ** 0.5
            b = np.zeros(n_out)
        params.append((w.astype(np.float32), b.astype(np.float32)))
    return params


def epoch_orders(train_size, seed, epochs):
    """Yield one shuffled sample order (int64 array) per epoch, the same for every peer."""
    import numpy as np
    rng = np.random.default_rng(seed + 1000003)
    for _ in range(epochs):
        yield rng.permutation(train_size)


def build_torch_model(layers, hidden, loss, params):
    """nn.Sequential of Linear layers with the given (W, b) numpy params copied in:
    Linear -> f -> ... -> Linear, plus a final Sigmoid for mse (xent returns logits)."""
    import torch
    from torch import nn
    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[hidden]
    mods = []
    for i, (w, b) in enumerate(params):
        lin = nn.Linear(layers[i], layers[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(params) - 1:
            mods.append(act())
    if loss == "mse":
        mods.append(nn.Sigmoid())
    return nn.Sequential(*mods)


def torch_count_correct(model, x, y, rows=1000):
    """Number of rows of x whose largest output is at the label in y."""
    import torch
    correct = 0
    with torch.no_grad():
        for s in range(0, x.shape[0], rows):
            correct += int((model(x[s:s + rows]).argmax(dim=1) == y[s:s + rows]).sum())
    return correct


def print_header(peer, args, extra=None):
    h = {"type": "header", "peer": peer, "layers": args.layers, "activation": args.activation,
         "loss": args.loss, "init": args.init, "batch": args.batch, "lr": args.lr,
         "train_size": args.train_size, "test_size": args.test_size, "seed": args.seed,
         "threads": args.threads}
    h.update(extra or {})
    print(json.dumps(h), flush=True)


def print_epoch(epoch, epoch_s, samples, correct, test_total, extra=None):
    rec = {"type": "epoch", "epoch": epoch, "epoch_s": round(epoch_s, 6),
           "samples": samples, "samples_per_s": round(samples / epoch_s, 1),
           "correct": int(correct), "test_total": int(test_total),
           "accuracy": round(int(correct) / max(1, test_total), 4)}
    rec.update(extra or {})
    print(json.dumps(rec), flush=True)
