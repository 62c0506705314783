#!/usr/bin/python3
"""jobs/scaling/report.py: the numbers of jobs/scaling.sh (stdlib and gnuplot only).

  report.py last-epoch [--ranks N] METRICS.jsonl
      Print the last epoch record of one nnmpi --metrics file as one line:
        epoch epoch_s compute_s allreduce_s samples_per_s nodes threads batch
      Exit 1 with the reason on stderr when the file has no epoch record, the
      run did not complete, or it ran on another number of ranks than N.

  report.py tta-final [--ranks N] METRICS.jsonl
      The same for a time-to-accuracy run (--target-accuracy), with three more fields:
        ... status train_s accuracy
      status ok when the final record says target-reached, not-reached when the
      run completed its epochs without; train_s = the final record's (the
      training time to the target); accuracy = the last epoch's validation
      accuracy if it has one, else test accuracy.

  report.py table [--meta META.txt] SCALING.csv OUTDIR
      Write OUTDIR/summary.txt (and print it), OUTDIR/scaling.png and
      OUTDIR/scaling.svg: per mode and rank count the median and min/max
      epoch time, median samples/s, speedup against 1 rank and parallel
      efficiency. Exit 1 when the plot could not be made.

Speedup, from the medians of the ok runs of each point:
  strong (fixed global batch):   S(N) = epoch_s(1) / epoch_s(N)
  weak (fixed batch per rank):   S(N) = samples_per_s(N) / samples_per_s(1)
  tta (weak, linear scaling rule, stop at the target accuracy):
                                 S(N) = time to target(1) / time to target(N)
  efficiency E(N) = S(N) / N.  Plot bars: the same from the min and max runs of
  point N against the median at 1 rank.
"""
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

COLUMNS = ["mode", "ranks", "threads", "batch", "repeat", "epoch_s", "compute_s",
           "allreduce_s", "samples_per_s", "oversubscribed", "nodes", "status"]
MODE_ORDER = {"strong": 0, "weak": 1, "tta": 2}
COLOURS = {"strong": "#1f5fa8", "weak": "#c8401e", "tta": "#2a9d3a"}
POINTS = {"strong": (7, 6), "weak": (9, 8), "tta": (5, 4)}  # (filled, open): circle, triangle, square


def fail(msg):
    print("report.py: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- last-epoch --------------------------------------------------------------------------

def last_epoch(argv, tta=False):
    ranks = None
    if len(argv) >= 2 and argv[0] == "--ranks":
        ranks = int(argv[1])
        argv = argv[2:]
    if len(argv) != 1:
        fail("usage: report.py last-epoch [--ranks N] METRICS.jsonl")
    path = argv[0]
    header = epoch = final = None
    try:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    fail("%s:%d: not JSON (%s)" % (path, lineno, e))
                kind = rec.get("type")
                if kind == "header":
                    header = rec
                elif kind == "epoch":
                    epoch = rec
                elif kind == "final":
                    final = rec
    except OSError as e:
        fail("no metrics: %s" % e)
    if header is None:
        fail("%s: no header record" % path)
    if epoch is None:
        fail("%s: no epoch record (did nnmpi train at all?)" % path)
    done = final is not None and (final.get("status") == "completed" or
                                  (tta and final.get("status") == "target-reached"))
    if not done:
        fail("%s: run did not complete (final: %s)" % (path, final))
    if ranks is not None and header.get("ranks") != ranks:
        fail("%s: nnmpi ran on %s ranks, not %d (is the launcher's MPI wiring right?)"
             % (path, header.get("ranks"), ranks))
    print(epoch["epoch"], "%.6g" % epoch["epoch_s"], "%.6g" % epoch["compute_s"],
          "%.6g" % epoch["allreduce_s"], "%.1f" % epoch["samples_per_s"],
          header.get("nodes", ""), header.get("threads", ""), header.get("batch", ""),
          *(["ok" if final["status"] == "target-reached" else "not-reached", "%.6g" % final["train_s"],
             "%.6g" % epoch.get("val_accuracy", epoch["accuracy"])] if tta else []))


# ---- table -------------------------------------------------------------------------------

def read_meta(path):
    meta = {}
    if path:
        with open(path) as f:
            for line in f:
                key, sep, val = line.partition(":")
                if sep:
                    meta[key.strip()] = val.strip()
    return meta


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            fail("%s: missing columns %s" % (path, ",".join(missing)))
        rows = list(reader)
    for lineno, r in enumerate(rows, 2):
        try:
            r["ranks"] = int(r["ranks"])
            r["over"] = r["oversubscribed"].strip() == "1"
            if r["status"] in ("ok", "not-reached"):
                for k in ("epoch_s", "compute_s", "allreduce_s", "samples_per_s"):
                    r[k] = float(r[k])
            if r["mode"] == "tta" and r["status"] in ("ok", "not-reached"):
                r["tta_s"] = float(r["tta_s"])
                r["accuracy"] = float(r["accuracy"])
        except ValueError as e:
            fail("%s:%d: bad value (%s)" % (path, lineno, e))
    return rows


def span(values):
    """'128' or '64-256' for a set of strings that are numbers (or anything)."""
    vals = sorted({v for v in values if v != ""}, key=lambda v: (len(v), v))
    if not vals:
        return "-"
    return vals[0] if len(vals) == 1 else vals[0] + "-" + vals[-1]


def summarise(rows):
    """One dict per (mode, ranks), in table order, with medians and speedups."""
    groups = {}
    for r in rows:
        groups.setdefault((r["mode"], r["ranks"]), []).append(r)
    points = []
    for (mode, ranks) in sorted(groups, key=lambda k: (MODE_ORDER.get(k[0], 9), k[0], k[1])):
        g = groups[(mode, ranks)]
        ok = [r for r in g if r["status"] == "ok"]
        p = {"mode": mode, "ranks": ranks, "total": len(g), "ok": len(ok),
             "over": any(r["over"] for r in g),
             "batch": span(r["batch"] for r in g), "threads": span(r["threads"] for r in g),
             "nodes": span(r["nodes"] for r in ok)}
        if mode == "tta":
            p.update(reached=len(ok), not_reached=sum(r["status"] == "not-reached" for r in g),
                     epochs=statistics.median(int(r["epoch"]) for r in ok) if ok else None,
                     acc=statistics.median(r["accuracy"] for r in ok) if ok else None,
                     epoch_med=statistics.median(r["epoch_s"] for r in ok) if ok else None)
        if ok:
            t = [r["tta_s"] if mode == "tta" else r["epoch_s"] for r in ok]
            s = [r["samples_per_s"] for r in ok]
            p.update(t_med=statistics.median(t), t_min=min(t), t_max=max(t),
                     sps_med=statistics.median(s), sps_min=min(s), sps_max=max(s),
                     comp_med=statistics.median(r["compute_s"] for r in ok),
                     ar_med=statistics.median(r["allreduce_s"] for r in ok))
        points.append(p)
    base = {p["mode"]: p for p in points if p["ranks"] == 1 and p["ok"]}
    for p in points:
        b = base.get(p["mode"])
        if not b or not p["ok"]:
            continue
        n = p["ranks"]
        if p["mode"] == "weak":
            p["S"] = p["sps_med"] / b["sps_med"]
            p["S_lo"], p["S_hi"] = p["sps_min"] / b["sps_med"], p["sps_max"] / b["sps_med"]
        else:  # strong, and anything else: time ratio
            p["S"] = b["t_med"] / p["t_med"]
            p["S_lo"], p["S_hi"] = b["t_med"] / p["t_max"], b["t_med"] / p["t_min"]
        p["E"], p["E_lo"], p["E_hi"] = p["S"] / n, p["S_lo"] / n, p["S_hi"] / n
    return points


def table_text(points, rows, meta, csv_path):
    out = []
    title = "nnmpi scaling study"
    if meta.get("host"):
        title += " on %s (%s cores), %s" % (meta["host"], meta.get("cores", "?"), meta.get("date", "?"))
    out.append(title)
    if "nnmpi_args" in meta:
        out.append("nnmpi options: %s" % (meta["nnmpi_args"] or "(defaults)"))
    if meta.get("launcher (1 rank)"):
        out.append("launcher: %s; slots: %s" % (meta["launcher (1 rank)"], meta.get("slots", "?")))
    out.append("data: %s" % csv_path)
    out.append("")
    hdr = ("mode", "ranks", "batch", "thr", "nodes", "runs", "epoch_s median [min, max]",
           "compute_s", "allreduce_s", "samples/s", "speedup", "efficiency")
    fmt = "%-6s %6s %6s %4s %5s %5s  %-27s %9s %11s %10s %8s %10s"
    out.append(fmt % hdr)
    out.append("-" * len(fmt % hdr))
    for p in points:
        if p["mode"] == "tta":
            continue
        ranks = "%d%s" % (p["ranks"], "*" if p["over"] else " ")
        runs = "%d/%d" % (p["ok"], p["total"])
        if p["ok"]:
            times = "%.3f [%.3f, %.3f]" % (p["t_med"], p["t_min"], p["t_max"])
            comp, ar, sps = "%.3f" % p["comp_med"], "%.3f" % p["ar_med"], "%.0f" % p["sps_med"]
        else:
            times, comp, ar, sps = "all runs failed", "-", "-", "-"
        sp = "%.2f" % p["S"] if "S" in p else "n/a"
        ef = "%.0f%%" % (100 * p["E"]) if "E" in p else "n/a"
        out.append(fmt % (p["mode"], ranks, p["batch"], p["threads"], p["nodes"], runs, times,
                          comp, ar, sps, sp, ef))
    out.append("")
    tta = [p for p in points if p["mode"] == "tta"]
    if tta:
        out.append("Time to accuracy (weak scaling, --lr-batch = the 1-rank batch: lr x N; %s):"
                   % (meta.get("tta_args", "").strip() or "see meta.txt"))
        hdr = ("ranks", "batch", "reached", "time to target median [min, max]", "epochs",
               "accuracy", "last epoch_s", "speedup", "efficiency")
        fmt = "%6s %6s %8s  %-33s %6s %8s %12s %8s %10s"
        out.append(fmt % hdr)
        out.append("-" * len(fmt % hdr))
        for p in tta:
            ranks = "%d%s" % (p["ranks"], "*" if p["over"] else " ")
            if p["ok"]:
                times = "%.2f [%.2f, %.2f]" % (p["t_med"], p["t_min"], p["t_max"])
                ep, acc, es = "%g" % p["epochs"], "%.4f" % p["acc"], "%.3f" % p["epoch_med"]
            else:
                times = "not reached" if p["not_reached"] else "all runs failed"
                ep = acc = es = "-"
            out.append(fmt % (ranks, p["batch"], "%d/%d" % (p["reached"], p["total"]), times, ep, acc, es,
                              "%.2f" % p["S"] if "S" in p else "n/a",
                              "%.0f%%" % (100 * p["E"]) if "E" in p else "n/a"))
        out.append("time to target = the training time (evaluation excluded) until the first epoch whose")
        out.append("accuracy reached the target, medians over the runs that reached it; speedup = that of")
        out.append("1 rank / that of N ranks. A larger global batch takes fewer, larger steps: how many")
        out.append("epochs it needs decides as much as the throughput.")
        out.append("")
    if any(p["over"] for p in points):
        slots = meta.get("slots", "")
        slots = "the %s slots %s" % tuple(slots.split(" ", 1)) if " " in slots else "the slots"
        out.append("* oversubscribed: more ranks than %s." % slots)
        out.append("  The ranks time-share cores: these points measure oversubscription, not scaling.")
    out.append("Times are each run's last epoch (steady state): epoch_s = wall time of the training")
    out.append("steps, compute_s and allreduce_s = their parts (each the max over ranks); medians")
    out.append("over the ok runs. speedup: strong = epoch_s(1 rank) / epoch_s(N), same global batch;")
    out.append("weak = samples/s(N) / samples/s(1 rank), batch per rank fixed. efficiency = speedup / N.")
    loads = [float(r["load1"]) for r in rows if r.get("load1", "").strip()]
    if loads:
        out.append("Load average (1 min) when the runs started: %.1f to %.1f, median %.1f (%s cores)."
                   % (min(loads), max(loads), statistics.median(loads), meta.get("cores", "?")))
    for mode in sorted({p["mode"] for p in points}, key=lambda m: MODE_ORDER.get(m, 9)):
        if not any(p["mode"] == mode and p["ranks"] == 1 and p["ok"] for p in points):
            out.append("No successful 1-rank %s run: no %s speedup." % (mode, mode))
    missed = [r for r in rows if r["status"] == "not-reached"]
    if missed:
        out.append("")
        out.append("tta runs that did NOT reach the target in their epochs (%d):" % len(missed))
        for r in missed:
            out.append("  ranks %d, batch %s, repeat %s: accuracy %s after %s epochs (log runs/%s.log)"
                       % (r["ranks"], r["batch"], r["repeat"], r["accuracy"], r["epoch"], r.get("run_id", "?")))
    bad = [r for r in rows if r["status"] not in ("ok", "not-reached")]
    if bad:
        out.append("")
        out.append("FAILED runs (%d of %d):" % (len(bad), len(rows)))
        for r in bad:
            out.append("  %s: ranks %d, batch %s, repeat %s, exit code %s (log runs/%s.log)"
                       % (r["mode"], r["ranks"], r["batch"], r["repeat"], r.get("exit_code", "?"),
                          r.get("run_id", "?")))
    return "\n".join(out) + "\n"


# ---- plot --------------------------------------------------------------------------------

def gp_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def gp_block(name, rows):
    return "$%s << EOD\n%s\nEOD\n" % (name, "\n".join(" ".join(str(x) for x in r) for r in rows))


def mode_label(mode, points):
    batches = {p["batch"] for p in points if p["mode"] == mode}
    if mode == "strong" and len(batches) == 1:
        return "strong (global batch %s)" % batches.pop()
    if mode == "weak":
        per = {int(p["batch"]) // p["ranks"] for p in points
               if p["mode"] == "weak" and p["batch"].isdigit()}
        if len(per) == 1:
            return "weak (%d per rank)" % per.pop()
    if mode == "tta":
        return "time to accuracy (weak, lr x N)"
    return mode


def plot_script(points, meta, runs_note):
    ranks = sorted({p["ranks"] for p in points}) or [1]
    modes = sorted({p["mode"] for p in points}, key=lambda m: MODE_ORDER.get(m, 9))
    xmin, xmax = ranks[0] / 1.35, ranks[-1] * 1.35
    s_vals = [v for p in points if "S" in p for v in (p["S_lo"], p["S_hi"])]
    smin = min([1.0] + s_vals) / 1.4
    smax = max([float(ranks[-1])] + s_vals) * 1.4
    emax = max([1.15] + [p["E_hi"] * 1.08 for p in points if "E" in p])
    over = sorted({p["ranks"] for p in points if p["over"]})
    shade = None
    if over:
        below = [n for n in ranks if n < over[0]]
        shade = math.sqrt(below[-1] * over[0]) if below else xmin

    data = ""
    for m in modes:
        pts = [p for p in points if p["mode"] == m and "S" in p]
        normal = [p for p in pts if not p["over"]]
        ovs = [p for p in pts if p["over"]]
        for key in ("S", "E"):
            row = lambda p: (p["ranks"], "%.4f" % p[key], "%.4f" % p[key + "_lo"], "%.4f" % p[key + "_hi"])
            data += gp_block("%s_%s_n" % (m, key), [row(p) for p in normal] or [("NaN",) * 4])
            data += gp_block("%s_%s_o" % (m, key), [row(p) for p in ovs] or [("NaN",) * 4])
            link = normal[-1:] + ovs if ovs else []
            data += gp_block("%s_%s_l" % (m, key), [row(p) for p in link] or [("NaN",) * 4])
            data += gp_block("%s_%s_t" % (m, key), [(p["ranks"], "%.4f" % p[key], "%.2f" % p[key])
                                                    for p in pts] or [("NaN", "NaN", "x")])

    title = "nnmpi scaling"
    if meta.get("host"):
        title += " on %s (%s cores), %s" % (meta["host"], meta.get("cores", "?"), meta.get("date", "?")[:10])
    sub = meta.get("nnmpi_args", "")
    lines = [title] + (["nnmpi " + sub] if sub else []) + [runs_note]
    s = ["set encoding utf8", "set multiplot layout 1,2 title %s font ',11'" % gp_str("\n".join(lines)),
         "set logscale x 2", "set xrange [%g:%g]" % (xmin, xmax),
         "set xtics (%s)" % ", ".join('"%d" %d' % (n, n) for n in ranks),
         "set grid lc rgb '#dddddd'", "set xlabel 'MPI ranks'", "set bars small"]
    for key in ("S", "E"):
        s.append("unset object; unset label")
        if shade is not None:
            s.append("set object 1 rect from first %g, graph 0 to graph 1, graph 1 behind "
                     "fc rgb '#ececec' fs solid 1.0 noborder" % shade)
            # bottom left of the region in the speedup panel (below the ideal
            # line), top left in the efficiency panel (above most points)
            s.append('set label 1 "oversubscribed\\n(ranks > cores)" at first %g, graph %s '
                     "offset 0.5,0 left front textcolor rgb '#555555'"
                     % (shade, "0.09" if key == "S" else "0.95"))
        if key == "S":
            s.append("set title %s" % gp_str("Speedup  (strong: t_1 / t_N;  weak: throughput_N / throughput_1"
                                             + (";  tta: time to target_1 / _N)" if "tta" in modes else ")")))
            s.append("set ylabel 'speedup'")
            s.append("set logscale y 2; set format y '%g'")
            s.append("set yrange [%g:%g]" % (smin, smax))
            s.append("set key top left box opaque")
            ideal = "x"
        else:
            s.append("set title 'Parallel efficiency = speedup / N  (symbols as on the left)'")
            s.append("set ylabel 'efficiency'")
            s.append("unset logscale y; set format y '%g'")
            s.append("set yrange [0:%g]" % emax)
            s.append("unset key")
            ideal = "1"
        plots = ["%s with lines dt 2 lw 1.5 lc rgb '#666666' title 'ideal'" % ideal]
        for m in modes:
            c = COLOURS.get(m, "#2a9d3a")
            pf, po = POINTS.get(m, (5, 4))
            has_n = any(p["mode"] == m and "S" in p and not p["over"] for p in points)
            has_o = any(p["mode"] == m and "S" in p and p["over"] for p in points)
            if has_o:
                plots.append("$%s_%s_l using 1:2 with lines dt 3 lw 2 lc rgb '%s' notitle" % (m, key, c))
            if has_n:
                plots.append("$%s_%s_n using 1:2:3:4 with yerrorlines pt %d ps 1.4 lw 2 lc rgb '%s' "
                             "title %s" % (m, key, pf, c, gp_str(mode_label(m, points))))
            if has_o:
                plots.append("$%s_%s_o using 1:2:3:4 with yerrorbars pt %d ps 1.6 lw 1.5 lc rgb '%s' "
                             "title %s" % (m, key, po, c, gp_str(m + ", oversubscribed")))
            if has_n or has_o:
                # values: strong left of its points, weak right of them
                where = {"strong": "right offset -1.2,0.4", "tta": "left offset 1.2,0.6"}.get(m, "left offset 1.2,-0.4")
                plots.append("$%s_%s_t using 1:2:3 with labels %s font ',9' tc rgb '%s' notitle"
                             % (m, key, where, c))
        if len(plots) == 1:
            s.append("set label 2 'no successful 1-rank run: no speedup to plot' at graph 0.5, graph 0.5 center")
        s.append("plot " + ", \\\n     ".join(plots))
    s.append("unset multiplot")
    return data + "\n".join(s) + "\n"


def table(argv):
    meta_path = None
    if len(argv) >= 2 and argv[0] == "--meta":
        meta_path = argv[1]
        argv = argv[2:]
    if len(argv) != 2:
        fail("usage: report.py table [--meta META.txt] SCALING.csv OUTDIR")
    csv_path, outdir = argv
    meta = read_meta(meta_path)
    rows = read_rows(csv_path)
    if not rows:
        fail("%s: no runs" % csv_path)
    points = summarise(rows)
    text = table_text(points, rows, meta, csv_path)
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)

    reps = sorted({p["total"] for p in points})
    note = ("median of %s runs per point, bars min..max; last epoch of each run"
            % "/".join(str(n) for n in reps))
    if any(p["over"] for p in points):
        note += "; open symbols: oversubscribed"
    if not shutil.which("gnuplot"):
        fail("gnuplot not found: no scaling.png/.svg (apt-get install gnuplot-nox)")
    script = plot_script(points, meta, note)
    ok = True
    for term, name in (("pngcairo size 1200,540 noenhanced font 'DejaVu Sans,10' background '#ffffff'",
                        "scaling.png"),
                       ("svg size 1200,540 dynamic noenhanced font 'DejaVu Sans,10' background '#ffffff'",
                        "scaling.svg")):
        target = os.path.join(outdir, name)
        full = "set terminal %s\nset output %s\n%s" % (term, gp_str(target), script)
        res = subprocess.run(["gnuplot"], input=full, text=True, capture_output=True)
        made = os.path.exists(target) and os.path.getsize(target) > 0
        if res.returncode != 0 or not made:
            print("report.py: gnuplot failed for %s:\n%s" % (name, res.stderr), file=sys.stderr)
            ok = False
        elif res.stderr.strip():
            print("report.py: gnuplot says (%s): %s" % (name, res.stderr.strip()), file=sys.stderr)
    if not ok:
        sys.exit(1)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "last-epoch":
        last_epoch(sys.argv[2:])
    elif len(sys.argv) >= 2 and sys.argv[1] == "tta-final":
        last_epoch(sys.argv[2:], tta=True)
    elif len(sys.argv) >= 2 and sys.argv[1] == "table":
        table(sys.argv[2:])
    else:
        fail("usage: report.py last-epoch [--ranks N] METRICS.jsonl | "
             "report.py table [--meta META.txt] SCALING.csv OUTDIR")


if __name__ == "__main__":
    main()
