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


def main():
    torch.set_num_threads(args.threads)
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
        pc.print_epoch(epoch, epoch_s, n, correct, x_te.shape[0])


if __name__ == "__main__":
    main()
