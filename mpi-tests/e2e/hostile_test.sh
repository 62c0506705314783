#!/usr/bin/env bash
# hostile_test.sh: a checkpoint is untrusted input. Variants of a real
# checkpoint (mpi-tests/lib/hostile_checkpoints.py) that reach outside the
# file (external storage, external links, virtual datasets), take another
# path through it (soft links), are stored as nnmpi never stores them
# (chunked, compressed, compact, a user block, allocated but never written)
# or hold NaN/Inf are each refused at start-up, exit 1, one message naming
# the dataset; a resume from the external-storage one copies nothing of the
# file it points at. Skips (77) without h5py.
source "$(dirname "$0")/lib.sh" "$@"
if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi
small=(--train-size 200 --test-size 100)
run 1 "${small[@]}" --epochs 1 --momentum 0.5 --quiet --checkpoint "$WORK/valid.h5"
/usr/bin/python3 "$(dirname "$0")/../lib/hostile_checkpoints.py" "$WORK/valid.h5" "$WORK/h" >/dev/null

# refused CASE MESSAGE_PART
refused() {
    local out status
    set +e
    out=$(timeout 60 mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" "${small[@]}" \
          --resume "$WORK/h/$1.h5" --eval-only 2>&1)
    status=$?
    set -e
    if [ "$status" = 1 ] && grep -qF -- "$2" <<<"$out" && [ "$(grep -c 'nnmpi: error' <<<"$out")" = 1 ]; then
        pass "$1: refused, '$2'"
    else
        fail "$1: exit $status, expected 1 with '$2'; output: $out"
    fi
}
refused external-storage "dataset '/layers/1/weights' is stored in external files"
refused external-link "'/layers/1/weights' is an external link"
refused soft-link "'/layers/1/weights' is a soft link"
refused dangling-soft-link "'/layers/1/weights' is a soft link"
refused virtual "dataset '/layers/1/weights' is not stored contiguously"
refused chunked-gzip "dataset '/layers/1/weights' is filtered (compressed)"
refused compact "dataset '/layers/1/biases' is not stored contiguously"
refused user-block "has a user block of 512 bytes"
refused unwritten "dataset '/layers/1/weights' was allocated before it was written"
refused nan-weight "dataset '/layers/1/weights' holds NaN at element 0"
refused inf-bias "dataset '/layers/1/biases' holds Inf at element 0"

# the external-storage file, resumed for training: refused, and nothing is written
set +e
run 2 "${small[@]}" --epochs 3 --resume "$WORK/h/external-storage.h5" --checkpoint "$WORK/out.h5" >/dev/null 2>&1
status=$?
set -e
expect_status 1 "$status" "training resume from external storage"
if [ -e "$WORK/out.h5" ] && grep -q SECRET "$WORK/out.h5"; then
    fail "the secret file's bytes reached out.h5"
else
    pass "no byte of the external file reached a checkpoint"
fi
# the valid file itself still loads
run 2 "${small[@]}" --resume "$WORK/valid.h5" --eval-only --quiet && pass "the valid checkpoint loads" || fail "the valid checkpoint was refused"
finish
