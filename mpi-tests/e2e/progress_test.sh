#!/usr/bin/env bash
# progress_test.sh: --progress inside an epoch (issue 15). Into a file: plain
# lines "Epoch E step k/K (P%): S samples/s, elapsed T s, ETA U s", k rising
# and at most K, no carriage return, then the epoch line. On a terminal (a
# pseudo-terminal with a size, from script(1)): one line redrawn with \r and
# erased before the epoch line. --quiet and --progress 0 print none.
source "$(dirname "$0")/lib.sh" "$@"

ARGS=(--train-size 20000 --test-size 500 --epochs 1)
LINE='^Epoch 1 step ([0-9]+)/2000 \(([0-9]+)%\): [0-9]+ samples/s, elapsed [0-9]+\.[0-9] s, ETA [0-9]+\.[0-9] s$'

run 2 "${ARGS[@]}" --progress 0.002 >"$WORK/out.txt" 2>"$WORK/err.txt" || fail "run into a file: exit $?"
n=$(grep -c "^Epoch 1 step" "$WORK/out.txt" || true)
bad=$(grep "^Epoch 1 step" "$WORK/out.txt" | grep -Ev "$LINE" || true)
steps=$(sed -nE "s#$LINE#\1#p" "$WORK/out.txt" | tr '\n' ' ')
if [ "$n" -lt 2 ]; then
    fail "expected at least 2 progress lines in a file at --progress 0.002, got $n: $(cat "$WORK/out.txt")"
elif [ -n "$bad" ]; then
    fail "progress lines not in the documented format: $bad"
elif grep -q $'\r' "$WORK/out.txt"; then
    fail "a carriage return in a file's output"
else
    pass "$n progress lines into a file, steps $steps"
fi
prev=0 ok=1
for k in $steps; do
    if [ "$k" -le "$prev" ] || [ "$k" -gt 2000 ]; then ok=0; fi
    prev=$k
done
[ "$ok" = 1 ] && pass "the steps rise and stay within 1..2000" || fail "steps out of order or past K: $steps"
last_progress=$(grep -n "^Epoch 1 step" "$WORK/out.txt" | tail -1 | cut -d: -f1)
epoch_line=$(grep -n "^Epoch 1: " "$WORK/out.txt" | cut -d: -f1)
[ -n "$epoch_line" ] && [ "$epoch_line" -gt "$last_progress" ] && pass "the epoch line follows the progress lines" ||
    fail "no epoch line after the progress lines"

out=$(run 2 "${ARGS[@]}" --progress 0.002 --quiet 2>&1)
[ -z "$out" ] && pass "--quiet prints nothing" || fail "--quiet printed: $out"
out=$(run 2 "${ARGS[@]}" --progress 0 2>&1)
grep -q "step" <<<"$out" && fail "--progress 0 printed progress: $out" || pass "--progress 0 prints no progress"
out=$(run 1 "${ARGS[@]}" 2>&1)
grep -q "^Epoch 1 step" <<<"$out" && fail "the default (30 s) printed progress in a 1-s epoch" || pass "the default prints none in a short epoch"

# a terminal: script(1) gives mpirun a pseudo-terminal of 40x120, which Open MPI passes on to the ranks
if command -v script >/dev/null; then
    # stderr apart: a note there (OpenBLAS's kernels) reaches the terminal through mpirun's other channel, at
    # any point of the progress line
    cmd="stty rows 40 cols 120; mpiexec -n 2 ${MPIEXEC_FLAGS[*]} '$NNMPI' --data '$DATA' ${ARGS[*]} --progress 0.002 2>/dev/null"
    script -qc "$cmd" /dev/null >"$WORK/tty.txt" 2>&1 || fail "run on a terminal: exit $?"
    redrawn=$(grep -o $'\r\033\\[KEpoch 1 step [0-9]*/2000' "$WORK/tty.txt" | wc -l)
    if [ "$redrawn" -lt 2 ]; then
        fail "expected the line redrawn (\\r, erase) at least twice on a terminal, got $redrawn: $(cat -A "$WORK/tty.txt")"
    elif ! grep -q $'\r\033\\[KEpoch 1: ' "$WORK/tty.txt"; then
        fail "the progress line was not erased before the epoch line: $(cat -A "$WORK/tty.txt")"
    elif grep -qE $'Epoch 1 step [^\r]*\r?$' "$WORK/tty.txt"; then
        fail "a progress line ended with a newline on a terminal: $(cat -A "$WORK/tty.txt")"
    else
        pass "on a terminal: one line redrawn $redrawn times, erased before the epoch line"
    fi
else
    echo "SKIP: no script(1) to make a terminal"
fi

cli() { # cli WANT MESSAGE args...
    local want=$1 msg=$2 out status
    shift 2
    set +e
    out=$(run 2 "$@" 2>&1)
    status=$?
    set -e
    [ "$status" = "$want" ] && grep -qF -- "$msg" <<<"$out" && pass "$* -> $status" || fail "$*: exit $status: $out"
}
cli 2 "--progress: expected a number" --progress soon
cli 2 "--progress" --progress -1
finish
