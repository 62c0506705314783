#!/usr/bin/env bash
# memplan_test.sh: a network that does not fit is refused before anything is
# allocated (issue 15): status 1 on every rank, one message naming what is
# needed and what is available, quickly and without the memory growing; the
# same against a low limit set through the testing hook; a net that fits runs.
source "$(dirname "$0")/lib.sh" "$@"

# refused NP what env...: runs the 160 GB network, checks status, message, time and peak RSS.
refused() {
    local np=$1 what=$2 out status start elapsed rss
    shift 2
    start=$(date +%s)
    set +e
    if [ -x /usr/bin/time ]; then
        out=$(env "$@" timeout 60 /usr/bin/time -f "peak-rss-kb %M" mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" \
              "$NNMPI" --data "$DATA" "${ARGS[@]}" 2>&1)
    else
        out=$(env "$@" timeout 60 mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" "${ARGS[@]}" 2>&1)
    fi
    status=$?
    set -e
    elapsed=$(($(date +%s) - start))
    rss=$(sed -n 's/^peak-rss-kb //p' <<<"$out")
    if [ "$status" != 1 ]; then
        fail "$what: exit $status, expected 1; output: $out"
    elif [ "$(grep -c 'nnmpi: error: not enough memory' <<<"$out")" != 1 ]; then
        fail "$what: expected one 'not enough memory' message; output: $out"
    elif [ "$elapsed" -gt 30 ]; then
        fail "$what: took $elapsed s to refuse"
    elif [ -n "$rss" ] && [ "$rss" -gt 512000 ]; then
        fail "$what: peak RSS $rss kB: something was allocated before the refusal"
    else
        pass "$what: refused with status 1 in $elapsed s, peak RSS ${rss:-?} kB"
    fi
}

ARGS=(--layers 784,200000,200000,10 --epochs 1)
refused 1 "784-200000-200000-10 (160 GB of weights) at -n 1"
refused 2 "784-200000-200000-10 at -n 2"
out=$(run 1 "${ARGS[@]}" 2>&1 || true)
grep -qE "parameters 149.6 GiB.*per node: 1 rank x" <<<"$out" && pass "the plan names the 149.6 GiB of weights" ||
    fail "no plan line with the weights' size: $out"

# 784-30-10 at --batch 10 needs 1.0 MiB alone, 1.2 MiB per rank at -n 2 (MPI's temporary): 2 MB is enough for one rank, not for two
ARGS=(--train-size 1000 --test-size 500 --epochs 1)
refused 2 "784-30-10 at -n 2 under a 2 MB limit" NNMPI_TEST_MEM_AVAILABLE=2000000
set +e
out=$(NNMPI_TEST_MEM_AVAILABLE=2000000 run 1 "${ARGS[@]}" 2>&1)
status=$?
set -e
expect_status 0 "$status" "784-30-10 at -n 1 under a 2 MB limit"
grep -q "per node: 1 rank x 1.0 MiB = 1.0 MiB, available 1.9 MiB (NNMPI_TEST_MEM_AVAILABLE)" <<<"$out" &&
    pass "the plan line shows need and limit" || fail "unexpected plan line: $out"
# a matrix past 2^31 - 1 elements (784-1000000-3000-10: W1 has 3e9) on a node that had the memory for it
set +e
out=$(NNMPI_TEST_MEM_AVAILABLE=1000000000000000 run 2 --layers 784,1000000,3000,10 --epochs 1 2>&1)
status=$?
set -e
if [ "$status" = 1 ] && [ "$(grep -c "nnmpi: error: --layers: a matrix of 3000000000 elements" <<<"$out")" = 1 ]; then
    pass "a 3e9-element matrix is refused for the 32-bit BLAS interface (exit 1)"
else
    fail "784-1000000-3000-10 under a huge limit: exit $status: $out"
fi
# --resume: the other ranks' copies of the checkpoint's weights are checked before they are allocated
run 1 --epochs 0 --train-size 500 --momentum 0.9 --checkpoint "$WORK/ck.h5" --quiet
set +e
out=$(NNMPI_TEST_MEM_AVAILABLE=100000 run 2 --resume "$WORK/ck.h5" --epochs 1 2>&1)
status=$?
set -e
want="nnmpi: error: not enough memory: checkpoint '$WORK/ck.h5' (a copy of its weights on every rank) needs 186.4 KiB per rank, 186.4 KiB more on this node, but 97.7 KiB is available"
if [ "$status" = 1 ] && [ "$(grep -cF "$want" <<<"$out")" = 1 ]; then
    pass "--resume at -n 2: the other ranks' copies (weights and velocity) refused before they are allocated"
else
    fail "--resume at -n 2 under 100 kB: exit $status: $out"
fi
out=$(run 2 "${ARGS[@]}" --quiet 2>&1)
[ -z "$out" ] && pass "--quiet prints no plan" || fail "--quiet printed: $out"
finish
