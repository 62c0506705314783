#!/usr/bin/python3
"""Benchmark peer: minibatch SGD in float32 numpy, one matrix product per layer and pass.

The same math as nnmpi: for each minibatch of B samples (rows of X),
  forward   z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)   (output: sigmoid for mse, softmax for xent)
  output    delta_L = (a_L - y) * a_L * (1 - a_L)       mse, cost 0.5*||a - y||^2 per sample
            delta_L = a_L - y                           xent (softmax + cross-entropy)
  backward  dW_l = delta_l^T a_{l-1},  db_l = sum of delta_l over rows,
            delta_{l-1} = (delta_l W_l) * f'(z_{l-1})
  update    W -= lr/B * dW,  b -= lr/B * db
numpy's matmul calls the system BLAS (OpenBLAS on Debian), limited to --threads threads.

Usage: peer_numpy.py --data DIR --layers 784,30,10 --activation sigmoid --loss mse
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
import numpy as np  # noqa: E402  (after the thread variables are set)


def activate(z, kind):
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if kind == "relu":
        return np.maximum(z, 0.0)
    return np.tanh(z)


def activate_grad(a, kind):
    """f'(z) written with a = f(z)."""
    if kind == "sigmoid":
        return a * (1.0 - a)
    if kind == "relu":
        return (a > 0.0).astype(np.float32)
    return 1.0 - a * a


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, x, hidden, loss):
    """Activations of every layer, input included: list of (rows, n_l) float32."""
    acts = [x]
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w.T + b
        if i < len(params) - 1:
            acts.append(activate(z, hidden))
        else:
            acts.append(softmax(z) if loss == "xent" else activate(z, "sigmoid"))
    return acts


def sgd_step(params, x, y_onehot, hidden, loss, lr):
    acts = forward(params, x, hidden, loss)
    a_out = acts[-1]
    delta = a_out - y_onehot
    if loss == "mse":
        delta *= a_out * (1.0 - a_out)
    scale = np.float32(lr / x.shape[0])
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        dw = delta.T @ acts[i]            # (out, in)
        db = delta.sum(axis=0)            # (out,)
        if i > 0:                         # the input layer needs no delta
            delta = (delta @ w) * activate_grad(acts[i], hidden)
        w -= scale * dw
        b -= scale * db


def count_correct(params, x, y, hidden, loss, rows=1000):
    correct = 0
    for s in range(0, x.shape[0], rows):
        out = forward(params, x[s:s + rows], hidden, loss)[-1]
        correct += int((out.argmax(axis=1) == y[s:s + rows]).sum())
    return correct


def main():
    x_tr, y_tr, x_te, y_te = pc.load_mnist(args.data, args.train_size, args.test_size)
    y_onehot = np.eye(10, dtype=np.float32)[y_tr]
    params = pc.init_params(args.layers, args.init, args.seed)
    pc.print_header("numpy", args, {"numpy": np.__version__})
    n, bsz = args.train_size, args.batch
    for epoch, order in enumerate(pc.epoch_orders(n, args.seed, args.epochs), start=1):
        t0 = time.perf_counter()
        for s in range(0, n, bsz):
            idx = order[s:s + bsz]
            sgd_step(params, x_tr[idx], y_onehot[idx], args.activation, args.loss, args.lr)
        epoch_s = time.perf_counter() - t0
        correct = count_correct(params, x_te, y_te, args.activation, args.loss)
        pc.print_epoch(epoch, epoch_s, n, correct, x_te.shape[0])


if __name__ == "__main__":
    main()
