#!/bin/bash
# jobs/plot-metrics.sh: training curves of one or more nnmpi --metrics files
# (JSON Lines, see README.md "Metrics"), overlaid in one figure: training loss,
# accuracy (test solid, validation dashed) and learning rate, each against
# epoch and against wall time; one colour per run. Writes PREFIX.png and
# PREFIX.svg with gnuplot, like the scaling plot of jobs/scaling.sh.
#
#   jobs/plot-metrics.sh [--out PREFIX] [--label NAME]... RUN.jsonl [RUN2.jsonl ...]
#
# A file holding several runs appended one after another is plotted as its
# last run, together with the runs it resumed (a header with resumed_epoch > 0
# continues the run before it; one with resumed_epoch 0 starts over). Epochs
# that a resume ran again replace the earlier ones. Wall time is seconds since
# the run's first record ("time"), or the summed "train_s" in files without
# "time"; the time between a run and its resume (e.g. in the queue) is left out.
# Exit status: 0 done; 1 gnuplot failed; 2 bad usage or an unusable input file.
set -euo pipefail
PY=${PYTHON:-/usr/bin/python3}
usage() {
    cat <<'EOF'
usage: jobs/plot-metrics.sh [--help] [--out PREFIX] [--label NAME]... RUN.jsonl [RUN2.jsonl ...]
Plots training loss, accuracy and learning rate of nnmpi --metrics files
against epoch and wall time, the runs overlaid (gnuplot).
  --out PREFIX   writes PREFIX.png and PREFIX.svg                  [metrics]
  --label NAME   legend label of the next file, in order (repeatable)
                 [the file name without .jsonl]
EOF
}
die() { echo "plot-metrics.sh: $*" >&2; exit 2; }

OUT=metrics LABELS=() FILES=()
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --out) [ $# -ge 2 ] || die "--out needs a PREFIX"; OUT=$2; shift 2 ;;
        --label) [ $# -ge 2 ] || die "--label needs a NAME"; LABELS+=("$2"); shift 2 ;;
        --) shift; FILES+=("$@"); break ;;
        -?*) usage >&2; die "unknown option $1" ;;
        *) FILES+=("$1"); shift ;;
    esac
done
[ ${#FILES[@]} -gt 0 ] || { usage >&2; die "no metrics file given"; }
[ ${#LABELS[@]} -le ${#FILES[@]} ] || die "${#LABELS[@]} labels for ${#FILES[@]} files"
for f in "${FILES[@]}"; do
    [ -e "$f" ] || die "$f: no such file"
    [[ -f $f && -r $f ]] || die "$f: not a readable file"
done
d=${OUT%/*}; [ "$d" != "$OUT" ] || d=.
[ -d "${d:-/}" ] || die "--out $OUT: no directory $d"
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox)"
[ -x "$PY" ] || die "$PY not found (apt-get install python3)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/plot-metrics-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# One table per file, $TMP/<i>.dat: epoch wall_s train_loss accuracy% lr
# val_accuracy% (NaN without --validation). Prints "<epochs> <has_val>" per file,
# then "<wall divisor> <wall unit> <lr log scale 0/1> <any val 0/1> <last epoch>".
summary=$("$PY" - "$TMP" "${FILES[@]}" <<'PYEOF'
import json, math, sys
from datetime import datetime
tmp, files = sys.argv[1], sys.argv[2:]
def stamp(rec):
    try: return datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).timestamp()
    except (KeyError, TypeError, ValueError, AttributeError): return None
def num(rec, key):
    return float(rec[key]) if type(rec.get(key)) in (int, float) else math.nan
maxwall, lrs, anyval, maxep = 0.0, [], False, 0
for i, path in enumerate(files):
    rows, bad, offset, last, start, seen = {}, 0, 0.0, 0.0, None, False
    with open(path, errors="replace") as f:
        for line in f:
            try: rec = json.loads(line)
            except ValueError: bad += bool(line.strip()); continue
            if not isinstance(rec, dict): continue
            t = stamp(rec)
            if rec.get("type") == "header":
                resumed = rec.get("resumed_epoch")
                if isinstance(resumed, int) and resumed > 0:  # continues the run so far, from resumed_epoch
                    rows = {e: r for e, r in rows.items() if e <= resumed}
                    offset = last
                else:
                    rows, offset, last = {}, 0.0, 0.0
                start = t
                continue
            clock = t - start if t is not None and start is not None else num(rec, "train_s")
            if not math.isnan(clock): last = offset + clock
            if rec.get("type") == "epoch" and isinstance(rec.get("epoch"), int):
                seen = True
                rows[rec["epoch"]] = (last if not math.isnan(clock) else math.nan, num(rec, "train_loss"),
                                      100 * num(rec, "accuracy"), num(rec, "lr"), 100 * num(rec, "val_accuracy"))
    if bad: print("plot-metrics.sh: %s: %d unreadable line(s) skipped" % (path, bad), file=sys.stderr)
    if not rows: sys.exit("plot-metrics.sh: %s: no epoch records%s" % (path, " in its last run" if seen else ""))
    with open("%s/%d.dat" % (tmp, i), "w") as out:
        out.writelines("%d %s\n" % (e, " ".join("%.9g" % v for v in rows[e])) for e in sorted(rows))
    maxwall = max([maxwall] + [r[0] for r in rows.values() if not math.isnan(r[0])])
    lrs, val = lrs + [r[3] for r in rows.values() if r[3] > 0], any(not math.isnan(r[4]) for r in rows.values())
    print(len(rows), int(val)); anyval |= val; maxep = max(maxep, max(rows))
div, unit = (3600, "h") if maxwall > 3 * 3600 else (60, "min") if maxwall > 600 else (1, "s")
print(div, unit, int(bool(lrs) and max(lrs) > 10 * min(lrs)), int(anyval), maxep)
PYEOF
) || exit 2

mapfile -t info <<<"$summary"
read -r WDIV WUNIT LRLOG ANYVAL MAXEP <<<"${info[-1]}"
COLOURS=('#1f77b4' '#d62728' '#2ca02c' '#ff7f0e' '#9467bd' '#8c564b' '#e377c2' '#17becf')
q() { printf "'%s'" "${1//\'/\'\'}"; }   # a gnuplot single-quoted string
# plots COLUMN X: one panel's plot list (X: 1 epoch, 2 wall time);
# accuracy (column 4) adds the validation accuracy (column 6), dashed.
plots() {
    local col=$1 x=$2 i lab lc pi n v list="" sep="" xs='1'
    [ "$x" = 2 ] && xs="(\$2/$WDIV)"
    for i in "${!FILES[@]}"; do
        lab=${FILES[$i]##*/} lab=${LABELS[$i]:-${lab%.jsonl}}
        lc="lc rgb '${COLOURS[$((i % ${#COLOURS[@]}))]}'"
        read -r n v <<<"${info[$i]}"; pi=$((n / 15 + 1))
        list+="$sep$(q "$TMP/$i.dat") using $xs:$col with linespoints pt 7 ps 0.6 pi $pi lw 2 $lc"
        list+=" title $(q "$lab")" sep=", "
        [ "$col$v" = 41 ] && list+=", $(q "$TMP/$i.dat") using $xs:6 with linespoints pt 6 ps 0.6 pi $pi lw 2 dt 2 $lc notitle"
    done
    echo "$list"
}
panel() {   # panel COLUMN X YLABEL TITLE
    local xl="epoch" xt="set xrange [*:*]; set xtics 1"
    [ "$MAXEP" -le 20 ] || xt="set xrange [*:*]; set xtics autofreq"
    [ "$2" = 2 ] && xl="wall time ($WUNIT)" xt="set xrange [0:*]; set xtics autofreq"
    printf "set title %s\nset xlabel %s\nset ylabel %s\n%s\n" "$(q "$4")" "$(q "$xl")" "$(q "$3")" "$xt"
    echo "plot $(plots "$1" "$2")"
    echo "unset key"
}
script() {
    local acc="accuracy"
    [ "$ANYVAL" = 1 ] && acc="accuracy (test solid, validation dashed)"
    echo "set encoding utf8; set grid lc rgb '#dddddd'; set format y '%g'"
    echo "set multiplot layout 3,2 margins 0.08,0.97,0.06,0.88 spacing 0.09,0.11 title 'nnmpi training metrics' font ',13'"
    echo "set key at screen 0.5,0.935 center center horizontal maxrows 2 box opaque samplen 5 width 1"
    panel 3 1 "training loss" "training loss"
    panel 3 2 "training loss" "training loss"
    panel 4 1 "accuracy (%)" "$acc"
    panel 4 2 "accuracy (%)" "$acc"
    [ "$LRLOG" = 1 ] && echo "set logscale y"
    panel 5 1 "learning rate" "learning rate (last step of the epoch)"
    panel 5 2 "learning rate" "learning rate (last step of the epoch)"
    echo "unset multiplot"
}
ok=0
for spec in "pngcairo size 1200,1000 noenhanced font 'DejaVu Sans,10' background '#ffffff'|$OUT.png" \
            "svg size 1200,1000 dynamic noenhanced font 'DejaVu Sans,10' background '#ffffff'|$OUT.svg"; do
    term=${spec%%|*} target=${spec#*|}
    rm -f "$target"
    if ! err=$( { printf 'set terminal %s\nset output %s\n' "$term" "$(q "$target")"; script; } | gnuplot 2>&1 >/dev/null) \
        || [ ! -s "$target" ]; then
        echo "plot-metrics.sh: gnuplot failed for $target:" >&2; echo "$err" >&2; ok=1
    elif err=$(grep -v 'empty [xy] range' <<<"$err") && [ -n "$err" ]; then echo "plot-metrics.sh: gnuplot says ($target): $err" >&2; fi
done
[ "$ok" = 0 ] && echo "wrote $OUT.png and $OUT.svg"
exit "$ok"
