#!/usr/bin/python3
"""Benchmark peer: PyTorch (CPU) nn.Linear layers + optim.SGD, --threads T threads.

The same math as nnmpi and peer_numpy.py, in PyTorch's own idiom:
  model  Linear -> f -> ... -> Linear (-> Sigmoid for mse); weights copied from the
         shared seeded initialisation (peer_common.init_params)
  mse    loss = mean over the batch of sum over outputs 0.5*(a - y)^2, so that
         SGD(lr) applies W -= lr/B * (sum of per-sample gradients), as nnmpi does
  xent   loss = nn.CrossEntropyLoss() on the logits (softmax + cross-entropy, batch mean)
Thread pools: torch.set_num_threads(T); OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
MKL_NUM_THREADS are set to T before torch is imported (Debian's torch calls OpenBLAS
for its matrix products). With T > 1, OMP_WAIT_POLICY=PASSIVE (unless already set):
otherwise torch's idle OpenMP threads spin on the cores that OpenBLAS's threads need,
and the large net ran 2-4x SLOWER with 2 threads than with 1 on this 2-core machine.

Synthetic (--data synthetic:INPUTS,CLASSES,TRAIN,TEST, the fc-* workloads of run.sh): the same
model on random inputs: 2 minibatches of uniform [0, 1) rows and random labels are drawn before
the epochs and used in turn (TRAIN / batch steps per epoch, the last one short if it does not
divide), so the timed loop is forward + backward + update only, as nnmpi's step; the weights
are drawn by torch itself (normal: N(0,1); he: N(0, 2/in); xavier: N(0, 2/(in+out)); biases
0 except normal) in place, so that no numpy copy of a 2 GB matrix inflates the peak RSS. The
test accuracy is on random labels: it means nothing. Each epoch line also has peak_rss_mb.

Usage: peer_torch.py --threads 1 --data DIR --layers 784,30,10 --activation sigmoid --loss mse
                     --batch 10 --lr 3.0 --epochs 1 --train-size 50000 --seed 1
Prints one JSON line per epoch (see peer_common.py).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc

args = pc.parse_args(__doc__.splitlines()[1])
pc.set_thread_env(args.threads)
if args.threads > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402  (after the thread variables are set)
from torch import nn  # noqa: E402


def make_loss(loss):
    """loss(out, y_onehot, y_label) -> scalar whose gradient is (1/B) * sum of per-sample gradients."""
    if loss == "mse":
        return lambda out, y1h, y: 0.5 * ((out - y1h) ** 2).sum(dim=1).mean()
    xent = nn.CrossEntropyLoss()
    return lambda out, y1h, y: xent(out, y)


def synthetic_model():
    """The net of --layers with weights drawn in place by torch (see the docstring)."""
    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[args.activation]
    mods = []
    with torch.no_grad():
        for i, (n_in, n_out) in enumerate(zip(args.layers[:-1], args.layers[1:])):
            lin = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)
            std = {"normal": 1.0, "he": (2.0 / n_in) ** 0.5,
                   "xavier": (2.0 / (n_in + n_out)) ** 0.5}[args.init]
            lin.weight.normal_(0.0, std)
            if args.init == "normal":
                lin.bias.normal_(0.0, 1.0)
            else:
                lin.bias.zero_()
            mods.append(lin)
            if i < len(args.layers) - 2:
                mods.append(act())
    if args.loss == "mse":
        mods.append(nn.Sigmoid())
    return nn.Sequential(*mods)


def main_synthetic():
    inputs, classes, n, n_test = args.synthetic
    torch.manual_seed(args.seed)
    model = synthetic_model()
    loss_fn = make_loss(args.loss)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    bsz = args.batch
    pool = []  # 2 full minibatches (x, one-hot y, y), drawn before the timing
    for _ in range(2):
        y = torch.randint(classes, (min(bsz, n),))
        pool.append((torch.rand(min(bsz, n), inputs), nn.functional.one_hot(y, classes).float(), y))
    pc.print_header("torch", args, {"torch": torch.__version__,
                                    "torch_threads": torch.get_num_threads(),
                                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                                    "data": args.data})
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        for k, s in enumerate(range(0, n, bsz)):
            rows = min(bsz, n - s)
            x, y1h, y = pool[k % 2]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[:rows]), y1h[:rows], y[:rows]).backward()
            opt.step()
        epoch_s = time.perf_counter() - t0
        x_te, y_te = torch.rand(n_test, inputs), torch.randint(classes, (n_test,))
        correct = pc.torch_count_correct(model, x_te, y_te, rows=64)
        del x_te
        pc.print_epoch(epoch, epoch_s, n, correct, n_test, {"steps": (n + bsz - 1) // bsz,
                                                             "peak_rss_mb": pc.peak_rss_mb()})


def main():
    torch.set_num_threads(args.threads)
    if args.synthetic:
        return main_synthetic()
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in
                              pc.load_mnist(args.data, args.train_size, args.test_size))
    y_1h = nn.functional.one_hot(y_tr, 10).float()
    model = pc.build_torch_model(args.layers, args.activation, args.loss,
                                 pc.init_params(args.layers, args.init, args.seed))
    loss_fn = make_loss(args.loss)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    pc.print_header("torch", args, {"torch": torch.__version__,
                                    "torch_threads": torch.get_num_threads(),
                                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")})
    n, bsz = args.train_size, args.batch
    for epoch, order in enumerate(pc.epoch_orders(n, args.seed, args.epochs), start=1):
        t0 = time.perf_counter()
        order = torch.from_numpy(order)
        for s in range(0, n, bsz):
            idx = order[s:s + bsz]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x_tr[idx]), y_1h[idx], y_tr[idx]).backward()
            opt.step()
        epoch_s = time.perf_counter() - t0
        correct = pc.torch_count_correct(model, x_te, y_te)
        pc.print_epoch(epoch, epoch_s, n, correct, x_te.shape[0], {"peak_rss_mb": pc.peak_rss_mb()})


if __name__ == "__main__":
    main()
