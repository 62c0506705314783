#!/usr/bin/env bash
# cli_test.sh: bad command lines and bad inputs end with a clear message that
# names the option or file, a non-zero exit on every rank, and no hang.
source "$(dirname "$0")/lib.sh" "$@"

# cli_check NP WANT_STATUS MESSAGE_PART args...: runs under a time bound, checks status and stderr.
cli_check() {
    local np=$1 want=$2 msg=$3 out status
    shift 3
    set +e
    out=$(timeout 60 mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" "$@" 2>&1)
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

cli_check 2 0 "Usage: mpirun -n P nnmpi" --help
cli_check 1 0 "nnmpi 0." --version
cli_check 2 2 "--batch: expected a whole number >= 1, got '0'" --batch 0
cli_check 2 2 "--batch" --batch -3
cli_check 2 2 "--lr: expected a number, got 'fast'" --lr fast
cli_check 2 2 "--layers: the first size must be 784" --layers 100,30,10
cli_check 3 2 "--activation: expected sigmoid, relu or tanh, got 'softsign'" --activation softsign
cli_check 2 2 "unknown option '--bogus'" --bogus
cli_check 2 2 "--allreduce: expected mpi or ring, got 'tree'" --allreduce tree
cli_check 2 1 "cannot open data file '$WORK/none/train-images-idx3-ubyte'" --data "$WORK/none"
cli_check 2 1 "--train-size: asked for 70000" --train-size 70000
cli_check 2 1 "--checkpoint: cannot create a file beside '$WORK/missing-dir/ck.h5'" --checkpoint "$WORK/missing-dir/ck.h5"
cli_check 2 1 "--metrics: cannot open '$WORK/missing-dir/m.jsonl'" --metrics "$WORK/missing-dir/m.jsonl"
cli_check 2 1 "cannot read checkpoint '$WORK/nope.h5'" --resume "$WORK/nope.h5"
echo "not hdf5" >"$WORK/junk.h5"
cli_check 2 1 "not an HDF5 file" --resume "$WORK/junk.h5" --eval-only

# a damaged data file: truncated copy of the real training images
mkdir -p "$WORK/bad"
cp "$DATA"/t10k-* "$DATA"/train-labels-idx1-ubyte "$WORK/bad/"
head -c 1000000 "$DATA/train-images-idx3-ubyte" >"$WORK/bad/train-images-idx3-ubyte"
cli_check 3 1 "train-images-idx3-ubyte: file is 1000000 bytes, expected 47040016 for 60000 images of 28x28 (truncated)" --data "$WORK/bad"

# a checkpoint that does not match the command line
run 1 --epochs 0 --train-size 500 --checkpoint "$WORK/ck.h5" --quiet
cli_check 2 2 "--activation relu does not match checkpoint" --resume "$WORK/ck.h5" --activation relu --train-size 500
cli_check 2 2 "resume with the same values" --resume "$WORK/ck.h5" --batch 20 --train-size 500
finish
