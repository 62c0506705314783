#!/usr/bin/env bash
# plot_test.sh: jobs/plot-metrics.sh draws the --metrics files of two real runs
# (one with --validation and a cosine schedule) into a PNG and an SVG holding
# both labels, and refuses a file without epoch records and a missing file
# (exit 2, with a message). Skips (77) without gnuplot.
source "$(dirname "$0")/lib.sh" "$@"
PLOT=$(dirname "$0")/../../jobs/plot-metrics.sh
if ! command -v gnuplot >/dev/null; then
    echo "SKIP: gnuplot not found (apt-get install gnuplot-nox)"
    exit 77
fi
common=(--train-size 500 --test-size 100 --epochs 3 --quiet)
st=0; run 2 "${common[@]}" --metrics "$WORK/plain.jsonl" || st=$?
expect_status 0 "$st" "run 1 (constant lr)"
st=0; run 2 "${common[@]}" --validation 100 --lr-schedule cosine --metrics "$WORK/cosine.jsonl" || st=$?
expect_status 0 "$st" "run 2 (--validation 100 --lr-schedule cosine)"

st=0
out=$("$PLOT" --out "$WORK/fig" --label "constant lr" --label "cosine, validation" \
    "$WORK/plain.jsonl" "$WORK/cosine.jsonl" 2>&1) || st=$?
expect_status 0 "$st" "plot-metrics.sh on both runs"
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /'
magic=$(head -c 8 "$WORK/fig.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')
size=$(stat -c %s "$WORK/fig.png" 2>/dev/null || echo 0)
if [ "$magic" = 89504e470d0a1a0a ] && [ "$size" -gt 10240 ]; then
    pass "fig.png is a PNG of $size bytes"
else
    fail "fig.png: magic '$magic', $size bytes"
fi
if grep -qF '>constant lr<' "$WORK/fig.svg" 2>/dev/null && grep -qF '>cosine, validation<' "$WORK/fig.svg"; then
    pass "fig.svg holds both labels"
else
    fail "fig.svg lacks a label (or is missing)"
fi

# a file with a header but no epoch record, and a missing file: exit 2, a message
head -1 "$WORK/plain.jsonl" >"$WORK/header-only.jsonl"
for bad in header-only.jsonl missing.jsonl; do
    st=0
    msg=$("$PLOT" --out "$WORK/bad" "$WORK/plain.jsonl" "$WORK/$bad" 2>&1 >/dev/null) || st=$?
    expect_status 2 "$st" "$bad refused"
    case $bad:$msg in
        header-only*:*"no epoch records"* | missing*:*"no such file"*) pass "$bad: says why: $msg" ;;
        *) fail "$bad: message '$msg'" ;;
    esac
done
if [ -e "$WORK/bad.png" ]; then fail "bad.png written for bad input"; else pass "no figure written for bad input"; fi
finish
