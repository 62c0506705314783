# lib.sh: shared by the end-to-end tests of the real nnmpi binary.
# Usage in a test: source "$(dirname "$0")/lib.sh" "$@"   (args: NNMPI_BINARY DATA_DIR)
set -euo pipefail
NNMPI=${1:?usage: test.sh path/to/nnmpi data/mnist}
DATA=${2:?usage: test.sh path/to/nnmpi data/mnist}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnmpi-e2e-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OPENBLAS_NUM_THREADS=1
MPIEXEC_FLAGS=(--oversubscribe)
[ "$(id -u)" = 0 ] && MPIEXEC_FLAGS+=(--allow-run-as-root)
# shellcheck source=../lib/report.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"

# run NP args...: runs nnmpi on NP ranks with the test data; never fails the script itself.
run() {
    local np=$1
    shift
    mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" "$@"
}

# check_run NP WANT_STATUS MESSAGE_PART args...: runs nnmpi with exactly these
# args under a time bound; passes when it exits WANT_STATUS, its output holds
# MESSAGE_PART, and (for a failure) "nnmpi: error" is printed exactly once.
check_run() {
    local np=$1 want=$2 msg=$3 out status
    shift 3
    set +e
    out=$(timeout 60 mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" "$NNMPI" "$@" 2>&1)
    status=$?
    set -e
    if [ "$status" != "$want" ]; then
        fail "nnmpi $*: exit $status, expected $want; output: $out"
    elif ! grep -qF -- "$msg" <<<"$out"; then
        fail "nnmpi $*: message lacks '$msg'; output: $out"
    elif [ "$want" != 0 ] && [ "$(grep -c 'nnmpi: error' <<<"$out")" != 1 ]; then
        fail "nnmpi $*: the error should be printed once, got: $out"
    else
        pass "nnmpi $* -> $status, '$msg'"
    fi
}

# expect_status WANT GOT what
expect_status() {
    if [ "$2" = "$1" ]; then pass "$3 (exit $2)"; else fail "$3: exit $2, expected $1"; fi
}

# in_small_shm SIZE ARGS...: nnmpi at -n 2 (--data "$DATA" ARGS) with a fresh
# tmpfs of SIZE over /dev/shm, in a private mount namespace (root); prints its
# output and then "left in /dev/shm: N", and returns its status, or 99 when
# the tmpfs cannot be mounted here.
in_small_shm() {
    local size=$1
    shift
    NNMPI="$NNMPI" DATA="$DATA" SIZE="$size" timeout 60 unshare -m bash -c '
        mount -t tmpfs -o size=$SIZE tmpfs /dev/shm || exit 99
        mpiexec -n 2 --oversubscribe --allow-run-as-root "$NNMPI" --data "$DATA" "$@"
        status=$?
        echo "left in /dev/shm: $(ls -A /dev/shm | wc -l)"
        exit $status' bash "$@" 2>&1
}

# small_shm SIZE NNMPI_ARGS...: in_small_shm, with its output in $out and its
# exit status in $status (99: no tmpfs could be mounted), whatever it was.
small_shm() {
    set +e
    out=$(in_small_shm "$@")
    status=$?
    set -e
}

# no_sigbus OUTPUT: no rank died of SIGBUS (a window that "allocated" without room).
no_sigbus() {
    if grep -q -i "bus error\|SIGBUS\|signal 7" <<<"$1"; then fail "a rank died of SIGBUS: $1"; else pass "no SIGBUS"; fi
}

# same_weights A.h5 B.h5 what: the /layers (and momentum) datasets are bitwise equal.
same_weights() {
    if h5diff -q "$1" "$2" /layers /layers >/dev/null 2>&1; then
        pass "$3"
    else
        fail "$3: weights differ ($(h5diff -c "$1" "$2" /layers /layers 2>&1 | tail -1))"
    fi
}

# attr FILE NAME: prints a scalar attribute of / (h5dump), e.g. attr ck.h5 epoch
attr() { h5dump -a "/$2" "$1" 2>/dev/null | sed -n 's/^ *(0): *//p' | tr -d '"' | head -1; }

# wait_gone PID SECONDS: waits (at most SECONDS) until the background job PID
# has exited, then returns its exit status.
wait_gone() {
    timeout "$2" bash -c "while kill -0 $1 2>/dev/null; do sleep 0.2; done"
    wait "$1"
}

finish() { report_tally; }
