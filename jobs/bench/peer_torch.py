#!/usr/bin/python3
"""Benchmark peer: PyTorch (CPU) nn.Linear layers + SGD, --threads T threads.

The same math as nnmpi and peer_numpy.py, in PyTorch's own idiom:
  model  Linear -> f [-> Dropout(P)] -> ... -> Linear (-> Sigmoid for mse); weights copied
         from the shared seeded initialisation (peer_common.init_params: nnmpi's --init
         scheme, other random numbers)
  mse    loss = mean over the batch of sum over outputs 0.5*(a - y)^2, so that
         SGD(lr) applies W -= lr/B * (sum of per-sample gradients), as nnmpi does
  xent   loss = nn.CrossEntropyLoss() on the logits (softmax + cross-entropy, batch mean)
Thread pools: torch.set_num_threads(T); OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
MKL_NUM_THREADS are set to T before torch is imported (Debian's torch calls OpenBLAS
for its matrix products). With T > 1, OMP_WAIT_POLICY=PASSIVE (unless already set):
otherwise torch's idle OpenMP threads spin on the cores that OpenBLAS's threads need,
and the large net ran 2-4x SLOWER with 2 threads than with 1 on this 2-core machine.

nnmpi's training recipe options, with nnmpi's meaning (docs/benchmarks.md, "Time to accuracy"):
  --momentum M --nesterov --weight-decay L   the update, per parameter, g = batch-mean gradient:
         d = lr*g + lr*L*W (L on weights only, not biases), v = M*v - d,
         W += M*v - d (Nesterov) or W += v (plain)         [--update nnmpi, the default]
         --update torch: torch.optim.SGD(momentum=M, nesterov=..., weight_decay=L on the
         weights' parameter group): buf = M*buf + (g + L*W), W -= lr*(g + L*W + M*buf)
         (Nesterov) or W -= lr*buf. The same steps as nnmpi's at a constant rate; under a
         schedule PyTorch applies the current rate to the whole buffer, nnmpi's velocity
         keeps each step's own rate.
  --dropout P            nn.Dropout(P) after every hidden activation (inverted dropout;
                         evaluation in model.eval(), no dropout)
  --lr-schedule constant|step|cosine|linear --lr-steps E1,.. --lr-gamma G --lr-min X
  --warmup E --lr-batch B0   the rate of every step, as nnmpi's src/schedule.c (lr_at below)
  --validation N         hold out the N training images after the first --train-size
  --target-accuracy A    stop after the first epoch whose accuracy (validation if given,
                         else test) reaches A
The epoch lines add "lr" (the last step's rate), "train_s" (training time so far,
evaluation excluded) and val_* with --validation; a final line
{"type":"final","status":"completed"|"target-reached","train_s":...,"epochs_done":...}
has the field names of nnmpi's final metrics record.

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
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc


def recipe_options(p):
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "step", "cosine", "linear"])
    p.add_argument("--lr-steps", default="")
    p.add_argument("--lr-gamma", type=float, default=0.1)
    p.add_argument("--lr-min", type=float, default=0.0)
    p.add_argument("--warmup", type=float, default=0.0)
    p.add_argument("--lr-batch", type=int, default=0)
    p.add_argument("--validation", type=int, default=0)
    p.add_argument("--target-accuracy", type=float, default=0.0)
    p.add_argument("--update", default="nnmpi", choices=["nnmpi", "torch"],
                   help="nnmpi: nnmpi's momentum form (velocity of rate-scaled steps); "
                        "torch: torch.optim.SGD's (buffer of gradients)")


args = pc.parse_args(__doc__.splitlines()[1], recipe_options)
if not 0.0 <= args.momentum < 1.0 or not 0.0 <= args.dropout < 1.0 or args.weight_decay < 0:
    sys.exit("peer_torch.py: --momentum and --dropout must be in [0, 1), --weight-decay >= 0")
if args.nesterov and args.momentum == 0.0:
    sys.exit("peer_torch.py: --nesterov needs --momentum M > 0")
if not 0.0 <= args.target_accuracy <= 1.0:
    sys.exit("peer_torch.py: --target-accuracy must be in (0, 1]")
args.lr_steps = [float(s) for s in args.lr_steps.split(",") if s]
pc.set_thread_env(args.threads)
if args.threads > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402  (after the thread variables are set)
from torch import nn  # noqa: E402


def lr_at(step, steps_per_epoch, base_lr):
    """nnmpi's schedule_lr (src/schedule.c): the rate of global step `step` (0-based)."""
    total, g, lr = steps_per_epoch * args.epochs, float(step), base_lr
    if args.lr_schedule == "step":
        for m in args.lr_steps:
            if g >= m * steps_per_epoch:
                lr *= args.lr_gamma
    elif args.lr_schedule == "cosine" and total > 0:
        lr = args.lr_min + (base_lr - args.lr_min) * 0.5 * (1.0 + math.cos(math.pi * min(g / total, 1.0)))
    elif args.lr_schedule == "linear" and total > 0:
        lr = base_lr - (base_lr - args.lr_min) * min(g / total, 1.0)
    warmup = args.warmup * steps_per_epoch
    if warmup > 0 and g < warmup:
        lr *= (g + 1.0) / math.ceil(warmup)
    return lr


def openblas_core():
    """The kernels of the OpenBLAS that torch loaded (openblas_get_corename), or ""."""
    import ctypes
    torch.ones(2, 2) @ torch.ones(2, 2)  # make sure the BLAS is loaded
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "libopenblas" in line}
        for lib in libs:
            fn = ctypes.CDLL(lib).openblas_get_corename
            fn.restype = ctypes.c_char_p
            return fn().decode()
    except (OSError, AttributeError):
        pass
    return ""


def make_loss(loss):
    """loss(out, y_onehot, y_label) -> scalar whose gradient is (1/B) * sum of per-sample gradients."""
    if loss == "mse":
        return lambda out, y1h, y: 0.5 * ((out - y1h) ** 2).sum(dim=1).mean()
    xent = nn.CrossEntropyLoss()
    return lambda out, y1h, y: xent(out, y)


def build_model(params):
    model = pc.build_torch_model(args.layers, args.activation, args.loss, params)
    if args.dropout > 0:  # nn.Dropout after every hidden activation, as nnmpi drops hidden units
        mods, out = list(model), []
        for i, m in enumerate(mods):
            out.append(m)
            if i < 2 * (len(args.layers) - 2) and i % 2 == 1:  # Linear, f, Linear, f, ..., Linear
                out.append(nn.Dropout(args.dropout))
        model = nn.Sequential(*out)
    return model


class NnmpiSGD:
    """nnmpi's update (src/net.c, update_range_): the velocity holds rate-scaled steps."""

    def __init__(self, model):
        self.groups = []  # (param, velocity or None, decay: weights yes, biases no)
        for name, p in model.named_parameters():
            v = torch.zeros_like(p) if args.momentum > 0 else None
            self.groups.append((p, v, args.weight_decay if name.endswith("weight") else 0.0))

    def zero_grad(self):
        for p, _, _ in self.groups:
            p.grad = None

    @torch.no_grad()
    def step(self, lr):
        m = args.momentum
        for p, v, decay in self.groups:
            d = p.grad.mul_(lr)
            if decay:
                d.add_(p, alpha=lr * decay)
            if v is None:
                p.sub_(d)
                continue
            v.mul_(m).sub_(d)
            if args.nesterov:
                p.add_(v, alpha=m).sub_(d)
            else:
                p.add_(v)


class TorchSGD:
    """torch.optim.SGD, weight decay on the weights' parameter group only (nnmpi's choice)."""

    def __init__(self, model):
        named = list(model.named_parameters())
        groups = [{"params": [p for n, p in named if n.endswith("weight")], "weight_decay": args.weight_decay},
                  {"params": [p for n, p in named if not n.endswith("weight")], "weight_decay": 0.0}]
        self.opt = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)

    def zero_grad(self):
        self.opt.zero_grad(set_to_none=True)

    def step(self, lr):
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()


def load():
    """Training, validation (may be empty) and test sets as torch tensors."""
    x_tr, y_tr, x_te, y_te = pc.load_mnist(args.data, args.train_size + args.validation, args.test_size)
    n = args.train_size
    sets = (x_tr[:n], y_tr[:n], x_tr[n:], y_tr[n:], x_te, y_te)
    return [torch.from_numpy(a.copy() if i < 4 else a) for i, a in enumerate(sets)]


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
    x_tr, y_tr, x_va, y_va, x_te, y_te = load()
    y_1h = nn.functional.one_hot(y_tr, 10).float()
    model = build_model(pc.init_params(args.layers, args.init, args.seed))
    loss_fn = make_loss(args.loss)
    n, bsz = args.train_size, args.batch
    steps_per_epoch = (n + bsz - 1) // bsz
    base_lr = args.lr * bsz / args.lr_batch if args.lr_batch > 0 else args.lr
    plain = args.momentum == 0 and args.weight_decay == 0 and args.lr_schedule == "constant" and args.warmup == 0
    opt = TorchSGD(model) if args.update == "torch" or plain else NnmpiSGD(model)
    pc.print_header("torch", args, {"torch": torch.__version__,
                                    "torch_threads": torch.get_num_threads(),
                                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                                    "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
                                    "openblas_core": openblas_core(),
                                    "momentum": args.momentum, "nesterov": args.nesterov,
                                    "weight_decay": args.weight_decay, "dropout": args.dropout,
                                    "lr_schedule": args.lr_schedule, "warmup": args.warmup,
                                    "lr_min": args.lr_min, "lr_batch": args.lr_batch, "lr_scaled": base_lr,
                                    "validation": args.validation, "target_accuracy": args.target_accuracy,
                                    "update": "torch" if isinstance(opt, TorchSGD) else "nnmpi"})
    step, train_s, status, done = 0, 0.0, "completed", 0
    for epoch, order in enumerate(pc.epoch_orders(n, args.seed, args.epochs), start=1):
        model.train()
        t0 = time.perf_counter()
        order = torch.from_numpy(order)
        lr = base_lr
        for s in range(0, n, bsz):
            idx = order[s:s + bsz]
            lr = lr_at(step, steps_per_epoch, base_lr)
            opt.zero_grad()
            loss_fn(model(x_tr[idx]), y_1h[idx], y_tr[idx]).backward()
            opt.step(lr)
            step += 1
        epoch_s = time.perf_counter() - t0
        train_s += epoch_s
        done = epoch
        model.eval()
        correct = pc.torch_count_correct(model, x_te, y_te)
        rec = {"lr": lr, "train_s": round(train_s, 6), "peak_rss_mb": pc.peak_rss_mb()}
        accuracy = correct / max(1, x_te.shape[0])
        if args.validation:
            vc = pc.torch_count_correct(model, x_va, y_va)
            accuracy = vc / x_va.shape[0]
            rec.update(val_correct=vc, val_total=int(x_va.shape[0]), val_accuracy=round(accuracy, 6))
        pc.print_epoch(epoch, epoch_s, n, correct, x_te.shape[0], rec)
        if args.target_accuracy > 0 and accuracy >= args.target_accuracy:
            status = "target-reached"
            break
    print(json.dumps({"type": "final", "status": status, "train_s": round(train_s, 6), "epochs_done": done}),
          flush=True)


if __name__ == "__main__":
    main()
