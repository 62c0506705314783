#!/usr/bin/python3
"""The table of jobs/bench/tta.sh (standard library only).

  tta_report.py final FILE   print "status,train_s,epochs,accuracy,openblas_core" of one run from
                             its JSON Lines (nnmpi's --metrics or peer_torch.py's stdout):
                             status "reached" when the final record says target-reached, else
                             "not-reached"; exit 1 when there is no final record
  tta_report.py table OUTDIR print the table and the target of a tta.sh output directory
"""
import csv
import json
import math
import os
import statistics
import sys

LABELS = {"nnmpi-n2": "nnmpi -n 2 (shm)", "nnmpi-n2-mpi": "nnmpi -n 2 (mpi)",
          "nnmpi-n1-t2": "nnmpi -n 1 --threads 2", "torch-t2": "PyTorch 2 threads",
          "torch-t1": "PyTorch 1 thread"}
TARGET_RATIO = 0.6  # issue 14: nnmpi reaches the accuracy in <= 0.6x PyTorch's time


def json_lines(path):
    objs = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        objs.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return objs


def final(path):
    objs = json_lines(path)
    fin = [o for o in objs if o.get("type") == "final"]
    epochs = [o for o in objs if o.get("type") == "epoch"]
    if not fin or not epochs:
        print(f"tta_report.py: no final record in {path}", file=sys.stderr)
        return 1
    head = next((o for o in objs if o.get("type") == "header"), {})
    core = head.get("openblas_core") or head.get("openblas_core_used") or "?"
    status = "reached" if fin[-1].get("status") == "target-reached" else "not-reached"
    print(f'{status},{fin[-1]["train_s"]:.3f},{epochs[-1]["epoch"]},{epochs[-1]["accuracy"]},{core}')
    return 0


def table(out):
    env = {}
    with open(os.path.join(out, "env.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    with open(os.path.join(out, "runs.csv")) as f:
        runs = list(csv.DictReader(f))
    try:
        with open("/proc/loadavg") as f:
            load_end = " ".join(f.read().split()[:3])
    except OSError:
        load_end = "?"
    lines = [f'nnmpi time to {float(env["target"]) * 100:.1f} % test accuracy, {env.get("date")}, '
             f'{env.get("cpu")}, {env.get("cores")} cores; {env.get("nnmpi_version")}, repo {env.get("repo_rev")}, '
             f'torch {env.get("torch")}',
             f'recipe: {env.get("recipe")}',
             f'OPENBLAS_CORETYPE={env.get("openblas_coretype_env") or "(unset)"}; {env.get("repeats")} round(s), '
             f'contenders interleaved, seed = round; load average {env.get("loadavg_start")} at the start, '
             f'{load_end} at the end (2 cores: above 2, other work competed)',
             "",
             f'{"contender":<24} {"reached":>7}  {"train s to target: median [min .. max]":<40} '
             f'{"epochs":>6} {"vs torch 2t":>11} {"OpenBLAS core":>13} {"load":>10}']
    contenders = env["contenders"].split(",")
    rows_of = {c: [r for r in runs if r["contender"] == c] for c in contenders}
    # a run that failed or did not reach the target counts as infinitely slow
    times = {c: [float(r["train_s"]) if r["status"] == "reached" else math.inf for r in rows_of[c]]
             for c in contenders}
    med = {c: statistics.median(t) if t else math.inf for c, t in times.items()}
    ref = med.get("torch-t2")
    for c in contenders:
        rows, t, m = rows_of[c], times[c], med[c]
        reached = sum(r["status"] == "reached" for r in rows)
        fin = [x for x in t if x < math.inf]
        span = "-" if not fin else f'{m:.2f} [{min(fin):.2f} .. {max(fin):.2f}]' if m < math.inf else \
            f'not reached (median) [{min(fin):.2f} .. ]'
        ep = [int(r["epochs"]) for r in rows if r["status"] == "reached"]
        cores = sorted({r["openblas_core"] for r in rows if r["openblas_core"]})
        loads = [float(r["load_before"]) for r in rows if r["load_before"]]
        vs = "" if c == "torch-t2" or ref is None else \
            f"{m / ref:.2f}x" if m < math.inf and ref < math.inf else "-"
        lines.append(f'{LABELS.get(c, c):<24} {reached:>3}/{len(rows):<3}  {span:<40} '
                     f'{statistics.median(ep) if ep else "-":>6} {vs:>11} {",".join(cores) or "-":>13} '
                     f'{(f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"):>10}')
        for r in rows:
            if r["status"] not in ("reached", "not-reached"):
                lines.append(f'    run {r["run"]}: {r["status"]}')
    lines.append("(vs torch 2t = median time to target / PyTorch 2 threads' median; train s excludes the "
                 "per-epoch evaluation; load = 1-minute load average before the runs)")
    lines.append("")
    lines.append("== target (issue 14): nnmpi reaches the accuracy in <= 0.6x PyTorch's (2 threads) time ==")
    for c in ("nnmpi-n2", "nnmpi-n1-t2", "nnmpi-n2-mpi"):
        if c not in med:
            continue
        if ref is None:
            lines.append(f'[SKIPPED] {LABELS[c]}: torch-t2 not run')
        elif ref == math.inf or med[c] == math.inf:
            lines.append(f'[NOT MET] {LABELS[c]}: not measured (a median run did not reach the target)')
        else:
            v = med[c] / ref
            lines.append(f'[{"  MET  " if v <= TARGET_RATIO else "NOT MET"}] {LABELS[c]}: {v:.2f}x PyTorch\'s time '
                         f'({med[c]:.2f} s against {ref:.2f} s)')
    print("\n".join(lines))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "final":
        return final(argv[2])
    if len(argv) == 3 and argv[1] == "table":
        return table(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
