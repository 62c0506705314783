#!/usr/bin/python3
"""Benchmark peer: PyTorch DistributedDataParallel over gloo, P processes on this machine.

Data-parallel SGD the way nnmpi does it, with PyTorch's own machinery: P processes
(--procs, default 2) started with torch.multiprocessing.spawn (no torchrun), rendezvous at
MASTER_ADDR=127.0.0.1, each process with --threads threads (default 1). Every process
holds the whole data set and draws the same shuffled order; each GLOBAL minibatch of B
samples is split into P contiguous slices, one per process (as even as possible).

Why the update equals single-process SGD with batch B: DDP all-reduces the gradients
and divides them by P. Each process's loss is therefore its slice's SUM of per-sample
losses times P/B:
    (1/P) * sum_r grad(P/B * sum_{i in slice r} loss_i) = (1/B) * sum_{i in batch} grad(loss_i),
the gradient of the batch-mean loss, so SGD(lr) applies W -= lr/B * (sum of gradients).
When B is a multiple of P this is exactly each process's local mean loss.
Per-sample losses are those of peer_torch.py: mse 0.5*sum over outputs (a - y)^2 with
sigmoid outputs; xent softmax + cross-entropy.

epoch_s is the slowest process's training-loop time (all processes start the loop after
a barrier). Rank 0 evaluates the test set outside the timed loop.

Usage: peer_ddp.py --procs 2 --data DIR --layers 784,30,10 --activation sigmoid --loss mse
                   --batch 10 --lr 3.0 --epochs 1 --train-size 50000 --seed 1
Prints one JSON line per epoch (see peer_common.py).
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc

args = pc.parse_args(__doc__.splitlines()[1], extra=lambda p: p.add_argument(
    "--procs", type=int, default=2, help="number of DDP processes"))
pc.set_thread_env(args.threads)  # inherited by the spawned processes
import torch  # noqa: E402  (after the thread variables are set)
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402


def slice_bounds(n, rank, nranks):
    """[lo, hi) of rank's slice when n items are split as evenly as possible."""
    base, extra = divmod(n, nranks)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def local_loss_sum(loss, out, y_1h, y):
    """Sum over the local samples of the per-sample loss."""
    if loss == "mse":
        return 0.5 * ((out - y_1h) ** 2).sum()
    return nn.functional.cross_entropy(out, y, reduction="sum")


def worker(rank, nranks, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=nranks)

    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in
                              pc.load_mnist(args.data, args.train_size, args.test_size))
    y_1h = nn.functional.one_hot(y_tr, 10).float()
    model = DDP(pc.build_torch_model(args.layers, args.activation, args.loss,
                                     pc.init_params(args.layers, args.init, args.seed)))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    if rank == 0:
        pc.print_header("ddp", args, {"torch": torch.__version__, "procs": nranks,
                                      "backend": "gloo", "threads_per_proc": args.threads})
    n, bsz = args.train_size, args.batch
    for epoch, order in enumerate(pc.epoch_orders(n, args.seed, args.epochs), start=1):
        order = torch.from_numpy(order)
        dist.barrier()
        t0 = time.perf_counter()
        for s in range(0, n, bsz):
            batch = order[s:s + bsz]
            lo, hi = slice_bounds(batch.shape[0], rank, nranks)
            idx = batch[lo:hi]
            opt.zero_grad(set_to_none=True)
            scale = nranks / batch.shape[0]  # see the top of the file
            (local_loss_sum(args.loss, model(x_tr[idx]), y_1h[idx], y_tr[idx]) * scale).backward()
            opt.step()
        elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        if rank == 0:
            correct = pc.torch_count_correct(model.module, x_te, y_te)
            pc.print_epoch(epoch, float(elapsed[0]), n, correct, x_te.shape[0])
        dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    mp.spawn(worker, args=(args.procs, free_port()), nprocs=args.procs, join=True)
