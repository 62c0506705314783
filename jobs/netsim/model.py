#!/usr/bin/python3
"""A latency-bandwidth (alpha-beta) model of nnmpi's data-parallel step,
fitted to an emulated-network study (jobs/netsim/run.sh) and checked against it.

Model, per training step of a global batch B on N nodes x R ranks, gradient of S bytes:
  compute(b)    measured: one rank's gather+forward+backward+update for b = B/(N R) rows
                (scaled linearly in b from the measured per-rank batch: an assumption
                that holds once the products are large, not for tiny b)
  intra(R)      the node's shared-memory sum (--allreduce shm), given as a parameter
                (0 for R = 1; the bench's shm ceiling for R > 1)
  inter(N, s)   the ring allreduce of a slice of s = S/R bytes among N nodes:
                2 (N-1) alpha + 2 (N-1)/N s beta
                For N = 2 that is 2 alpha + s beta, which is what the fit below measures.
  step, overlap off = compute + intra + inter
  step, overlap on  = compute + intra + max(0, inter - backward)   (a lower bound: the
                reduction of the last layers starts as soon as their gradient is final
                and runs beside the rest of backward)
  epoch = steps x step, efficiency = epoch(1 rank) / (N R epoch(N x R)) at a fixed global batch.
Assumptions: full-duplex links, one rank per node drives each link slice, no contention
between the R slices on one NIC beyond sharing its bandwidth (so beta grows with R: each
of the R concurrent slices gets 1/R of the link; included below), TCP's own latency as alpha.

Usage: model.py RESULTS_DIR [--nodes 1,2,4,8,16] [--ranks 1,2,8] [--intra-s S]
"""
import argparse
import glob
import json
import os
import statistics


def records(path, kind):
    with open(path) as f:
        return [r for r in (json.loads(line) for line in f if line.strip()) if r.get("type") == kind]


def fit_alpha_beta(path):
    """Least squares of median time = a + b * bytes (2 nodes); returns (alpha, beta) per the ring model."""
    pts = [(r["bytes"], r["median_s"]) for r in records(path, "allreduce")]
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    b = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    a = my - b * mx
    return max(a, 0.0) / 2, b  # 2 alpha + s beta at N = 2


def epoch_stats(path):
    """The last epoch record: per-step compute, backward, reduction wait, epoch time."""
    e = records(path, "epoch")[-1]
    steps = e["steps"]
    return {"steps": steps, "epoch_s": e["epoch_s"], "compute": e["compute_s"] / steps,
            "backward": e["phases"]["backward"]["max"] / steps, "wait": e["allreduce_s"] / steps}


def inter_s(nodes, ranks, grad_bytes, alpha, beta):
    if nodes == 1:
        return 0.0
    s = grad_bytes / ranks
    return 2 * (nodes - 1) * alpha + 2 * (nodes - 1) / nodes * s * beta * ranks  # R slices share the link


def step_s(base, nodes, ranks, grad_bytes, alpha, beta, intra, overlap):
    scale = base["rows"] / (base["batch"] / (nodes * ranks))
    compute, backward = base["compute"] / scale, base["backward"] / scale
    red = inter_s(nodes, ranks, grad_bytes, alpha, beta)
    hidden_part = max(0.0, red - backward) if overlap else red
    return compute + (intra if ranks > 1 else 0.0) + hidden_part


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--nodes", default="1,2,4,8,16")
    ap.add_argument("--ranks", default="1")
    ap.add_argument("--intra-s", type=float, default=0.0, help="seconds of the node's shm sum per step (R > 1)")
    args = ap.parse_args()
    comp = records(os.path.join(args.results, "compute.jsonl"), "header")[0]
    base = epoch_stats(os.path.join(args.results, "compute.jsonl"))
    base["rows"] = comp["batch"]
    layers = comp["layers"]
    grad_bytes = 4 * sum(layers[i] * layers[i + 1] + layers[i + 1] for i in range(len(layers) - 1))
    print(f"net {'-'.join(map(str, layers))}: gradient {grad_bytes / 1e6:.2f} MB; one rank at batch {comp['batch']}: "
          f"compute {base['compute'] * 1e3:.2f} ms/step (backward {base['backward'] * 1e3:.2f} ms)")
    print()
    print(f"{'link':>9} {'alpha us':>9} {'beta GB/s':>10} | {'overlap':>7} {'measured s':>10} {'predicted s':>11} {'error':>6}")
    worst = 0.0
    fits = {}
    for path in sorted(glob.glob(os.path.join(args.results, "ceiling.*.jsonl"))):
        rate = path.split("ceiling.")[1][: -len(".jsonl")]
        alpha, beta = fit_alpha_beta(path)
        fits[rate] = (alpha, beta)
        for overlap in ("off", "on"):
            tpath = os.path.join(args.results, f"train.{rate}.{overlap}.jsonl")
            if not os.path.exists(tpath):
                continue
            meas = epoch_stats(tpath)
            batch = records(tpath, "header")[0]["batch"]
            b = dict(base, batch=batch)
            pred = meas["steps"] * step_s(b, 2, 1, grad_bytes, alpha, beta, 0.0, overlap == "on")
            err = pred / meas["epoch_s"] - 1
            worst = max(worst, abs(err))
            print(f"{rate:>9} {alpha * 1e6:9.1f} {1e-9 / beta:10.3f} | {overlap:>7} {meas['epoch_s']:10.3f} "
                  f"{pred:11.3f} {err * 100:+5.0f}%")
    print(f"\nworst prediction error on the emulated 2-node runs: {worst * 100:.0f}% (target: within 20%)")
    print("\npredicted epoch time (s) and efficiency against 1 rank, same global batch, overlap on:")
    nodes = [int(x) for x in args.nodes.split(",")]
    ranks = [int(x) for x in args.ranks.split(",")]
    batch = records(sorted(glob.glob(os.path.join(args.results, "train.*.on.jsonl")))[0], "header")[0]["batch"]
    b = dict(base, batch=batch)
    samples = records(os.path.join(args.results, "compute.jsonl"), "header")[0]["train_size"]
    steps = samples // batch
    one = steps * step_s(b, 1, 1, grad_bytes, 0, 0, 0.0, True)
    for rate, (alpha, beta) in fits.items():
        cells = []
        for n in nodes:
            for r in ranks:
                t = steps * step_s(b, n, r, grad_bytes, alpha, beta, args.intra_s, True)
                cells.append(f"{n}x{r}: {t:.2f} s {one / (n * r * t) * 100:.0f}%")
        print(f"{rate:>9}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
