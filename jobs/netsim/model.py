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
                For N = 2 that is 2 alpha + s beta, which is what the fit measures: alpha from the
                4-byte reduction, beta from those of 256 KB and more.
  step, overlap off = compute + intra + inter
  step, overlap on  = compute + intra + (1 - h) inter, h the hidden fraction of the reduction
                that the overlapped runs measured (metrics' allreduce_hidden). h is a property
                of the MPI library as much as of the net: Open MPI 4.1 has no asynchronous
                progress, so a non-blocking reduction advances only when the rank calls MPI
                (at each layer's end), and h stays near 0 on TCP (docs/scaling.md).
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
    """alpha from the smallest reduction (4 bytes: latency only), beta by least squares over the
    reductions of 256 KB and more (bandwidth-bound), of median time = a + b * bytes on 2 nodes;
    returns (alpha, beta) of the ring model, where 2 nodes take 2 alpha + s beta."""
    pts = sorted((r["bytes"], r["median_s"]) for r in records(path, "allreduce"))
    a = pts[0][1]
    big = [(x, y - a) for x, y in pts if x >= 262144]
    b = sum(x * y for x, y in big) / sum(x * x for x, _ in big)  # through the origin once a is taken off
    return a / 2, b


def epoch_stats(path):
    """The last epoch record: per-step compute, backward, reduction wait, epoch time."""
    e = records(path, "epoch")[-1]
    steps = e["steps"]
    return {"steps": steps, "epoch_s": e["epoch_s"], "compute": e["compute_s"] / steps,
            "wait": e["allreduce_s"] / steps, "hidden": e.get("allreduce_hidden") or 0.0}


def inter_s(nodes, ranks, grad_bytes, alpha, beta):
    if nodes == 1:
        return 0.0
    s = grad_bytes / ranks
    return 2 * (nodes - 1) * alpha + 2 * (nodes - 1) / nodes * s * beta * ranks  # R slices share the link


def step_s(base, nodes, ranks, grad_bytes, alpha, beta, intra, hidden):
    compute = base["compute"] * (base["batch"] / (nodes * ranks)) / base["rows"]
    red = inter_s(nodes, ranks, grad_bytes, alpha, beta)
    return compute + (intra if ranks > 1 else 0.0) + (1 - hidden) * red


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
          f"compute {base['compute'] * 1e3:.2f} ms/step")
    print()
    print(f"{'link':>9} {'alpha us':>9} {'1/beta GB/s':>11} | {'overlap':>7} {'hidden':>6} {'measured s':>10} "
          f"{'predicted s':>11} {'error':>6}")
    worst = 0.0
    fits, hiddens = {}, []
    for path in sorted(glob.glob(os.path.join(args.results, "ceiling.*.jsonl"))):
        rate = path.split("ceiling.")[1][: -len(".jsonl")]
        alpha, beta = fit_alpha_beta(path)
        fits[rate] = (alpha, beta)
        for overlap in ("off", "on"):
            tpath = os.path.join(args.results, f"train.{rate}.{overlap}.jsonl")
            if not os.path.exists(tpath):
                continue
            meas = epoch_stats(tpath)
            # the run's own per-rank compute (measured beside the other rank, as it ran), plus the model's
            # reduction: the check is of the communication model, not of a compute estimate
            own = {"compute": meas["compute"], "rows": 1, "batch": 2}
            h = meas["hidden"] if overlap == "on" else 0.0
            hiddens.append(h) if overlap == "on" else None
            pred = meas["steps"] * step_s(own, 2, 1, grad_bytes, alpha, beta, 0.0, h)
            err = pred / meas["epoch_s"] - 1
            worst = max(worst, abs(err))
            print(f"{rate:>9} {alpha * 1e6:9.1f} {1e-9 / beta:11.3f} | {overlap:>7} {h:6.2f} {meas['epoch_s']:10.3f} "
                  f"{pred:11.3f} {err * 100:+5.0f}%")
    print(f"\nworst prediction error on the emulated 2-node runs: {worst * 100:.0f}% (target: within 20%)")
    hidden = sum(hiddens) / len(hiddens) if hiddens else 0.0
    print(f"\npredicted epoch time (s) and efficiency against 1 rank, same global batch, hidden fraction {hidden:.2f}:")
    nodes = [int(x) for x in args.nodes.split(",")]
    ranks = [int(x) for x in args.ranks.split(",")]
    batch = records(sorted(glob.glob(os.path.join(args.results, "train.*.on.jsonl")))[0], "header")[0]["batch"]
    b = dict(base, batch=batch)
    samples = records(os.path.join(args.results, "compute.jsonl"), "header")[0]["train_size"]
    steps = samples // batch
    one = steps * step_s(b, 1, 1, grad_bytes, 0, 0, 0.0, 0.0)
    for rate, (alpha, beta) in fits.items():
        cells = []
        for n in nodes:
            for r in ranks:
                t = steps * step_s(b, n, r, grad_bytes, alpha, beta, args.intra_s, hidden)
                cells.append(f"{n}x{r}: {t:.2f} s {one / (n * r * t) * 100:.0f}%")
        print(f"{rate:>9}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
