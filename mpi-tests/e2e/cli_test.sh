#!/usr/bin/env bash
# cli_test.sh: bad command lines and bad inputs end with a clear message that
# names the option or file, a non-zero exit on every rank, and no hang.
source "$(dirname "$0")/lib.sh" "$@"

# cli_check NP WANT_STATUS MESSAGE_PART args...: runs under a time bound, checks status and stderr.
cli_check() { check_run "$1" "$2" "$3" --data "$DATA" "${@:4}"; }

cli_check 2 0 "Usage: mpirun -n P nnmpi" --help
cli_check 1 0 "nnmpi 0." --version
cli_check 2 2 "--batch: expected a whole number from 1 to 2147483647, got '0'" --batch 0
cli_check 2 2 "--batch" --batch -3
cli_check 2 2 "--lr: expected a number, got 'fast'" --lr fast
cli_check 2 2 "--layers: the first size must be 784" --layers 100,30,10
cli_check 3 2 "--activation: expected sigmoid, relu or tanh, got 'softsign'" --activation softsign
cli_check 2 2 "unknown option '--bogus'" --bogus
cli_check 2 2 "--allreduce: expected auto, mpi, ring or shm, got 'tree'" --allreduce tree
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
cli_check 2 2 "--layers 784,40,10 does not match checkpoint '$WORK/ck.h5' (784,30,10)" --resume "$WORK/ck.h5" --layers 784,40,10
cli_check 2 2 "--batch 20 does not match checkpoint '$WORK/ck.h5' (10)" --resume "$WORK/ck.h5" --batch 20 --train-size 500
# --- nnmpi never replaces a file it did not create as a checkpoint (docs/reliability.md)
echo "labels, not a checkpoint" >"$WORK/notes.txt"
cli_check 2 2 "--checkpoint: '$WORK/notes.txt' exists and is not an nnmpi checkpoint" --train-size 500 --checkpoint "$WORK/notes.txt"
grep -q "labels, not a checkpoint" "$WORK/notes.txt" && pass "the foreign file is untouched" || fail "the foreign file was changed"
ln -s "$WORK/notes.txt" "$WORK/link.h5"
cli_check 2 2 "exists and is not a regular file (a symbolic link)" --train-size 500 --checkpoint "$WORK/link.h5"
cli_check 2 2 "--checkpoint: '$WORK/ck.h5' already holds a checkpoint; continue it with --resume" --train-size 500 --checkpoint "$WORK/ck.h5"
cli_check 2 2 "--metrics and --checkpoint name the same file" --train-size 500 --checkpoint "$WORK/new.h5" --metrics "$WORK/new.h5"
cli_check 2 0 "Done: 1 epochs" --train-size 500 --epochs 1 --checkpoint "$WORK/ck.h5" --overwrite
cli_check 2 0 "Nothing to train: checkpoint $WORK/ck.h5 is at epoch 1 step 0, already at --epochs 1" --train-size 500 --epochs 1 --resume "$WORK/ck.h5" --checkpoint "$WORK/ck.h5"
# the optimizer comes from the checkpoint unless given; a different value is said
run 1 --train-size 500 --epochs 1 --lr 0.5 --momentum 0.9 --checkpoint "$WORK/opt.h5" --quiet
cli_check 1 0 "lr 0.5, momentum 0.9" --train-size 500 --epochs 2 --resume "$WORK/opt.h5" --checkpoint "$WORK/opt.h5"
cli_check 1 0 "note: --lr 0.25 differs from checkpoint '$WORK/opt.h5' (0.5)" --train-size 500 --epochs 3 --lr 0.25 --resume "$WORK/opt.h5" --checkpoint "$WORK/opt.h5"

# --- files that are not what they should be: refused at once, never a hang
mkfifo "$WORK/fifo"
cli_check 2 1 "cannot read checkpoint '$WORK/fifo': not a regular file (a FIFO)" --resume "$WORK/fifo" --eval-only
cli_check 2 1 "--metrics: '$WORK/fifo' is not a regular file" --train-size 500 --metrics "$WORK/fifo"
cli_check 2 1 "--metrics: '/dev/full' is not a regular file" --train-size 500 --metrics /dev/full
mkdir -p "$WORK/odd"
cp "$DATA"/t10k-* "$DATA"/train-labels-idx1-ubyte "$WORK/odd/"
mkdir "$WORK/odd/train-images-idx3-ubyte"
cli_check 2 1 "data file '$WORK/odd/train-images-idx3-ubyte' is a directory, expected an IDX file" --data "$WORK/odd"
rmdir "$WORK/odd/train-images-idx3-ubyte" && mkfifo "$WORK/odd/train-images-idx3-ubyte"
cli_check 2 1 "data file '$WORK/odd/train-images-idx3-ubyte' is a FIFO" --data "$WORK/odd"
# a sparse 2 GB file with a valid header: refused by its size before it is read
rm "$WORK/odd/train-images-idx3-ubyte" && head -c 16 "$DATA/train-images-idx3-ubyte" >"$WORK/odd/train-images-idx3-ubyte"
truncate -s 2G "$WORK/odd/train-images-idx3-ubyte"
cli_check 2 1 "file is 2147483648 bytes, expected 47040016 for 60000 images of 28x28 (trailing data)" --data "$WORK/odd"

# --- sizes at the edge of int: no overflow, no endless loop
cli_check 2 0 "Done: 1 epochs" --train-size 300 --test-size 100 --epochs 1 --reproducible --batch 100 --chunk 2147483647
cli_check 3 0 "Done: 1 epochs" --train-size 300 --test-size 100 --epochs 1 --reproducible --batch 2147483647
cli_check 2 0 "Done: 1 epochs" --train-size 300 --test-size 100 --epochs 1 --batch 2147483647
cli_check 2 2 "--threads: expected a whole number from 1 to 1024, got '5000'" --threads 5000
# a stop with nowhere to save: status 143, not 75 ("stopped after writing the checkpoint")
cli_check 2 143 "Stopping on a signal" --train-size 500 --epochs 2 --debug-signal-at 3
# --- resuming takes the data order from the checkpoint; results record how they were made;
# the method that summed the gradients too (ring: one --allreduce auto never picks)
run 2 --train-size 600 --test-size 100 --epochs 1 --batch 20 --seed 99 --shuffle off --momentum 0.5 --quiet \
    --allreduce ring --checkpoint "$WORK/prov.h5" --metrics "$WORK/prov.jsonl"
cli_check 2 0 "batch 20, lr 3, momentum 0.5, train 600, test 100, seed 99, allreduce ring, resumed from" \
    --test-size 100 --epochs 2 --resume "$WORK/prov.h5" --checkpoint "$WORK/prov.h5" --metrics "$WORK/prov.jsonl"
cli_check 2 2 "--seed 5 does not match checkpoint '$WORK/prov.h5' (99)" --test-size 100 --epochs 3 --seed 5 --resume "$WORK/prov.h5"
cli_check 1 0 "batch 20, lr 3, momentum 0.5, train 600, test 100, seed 99, evaluating $WORK/prov.h5 at epoch 2 step 0" \
    --test-size 100 --resume "$WORK/prov.h5" --eval-only --metrics "$WORK/eval.jsonl"
if /usr/bin/python3 - "$WORK/prov.jsonl" "$WORK/eval.jsonl" "$WORK/prov.h5" <<'PY'
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ev = [json.loads(l) for l in open(sys.argv[2])]
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
assert all(iso.match(r["time"]) for r in recs + ev), "a record without a UTC timestamp"
h = recs[0]
assert h["command_line"][-4:] == ["--checkpoint", sys.argv[3], "--metrics", sys.argv[1]], h["command_line"]
assert iso.match(h["started"]) and h["data"]["files"][0]["name"] == "train-images-idx3-ubyte", h["data"]
assert h["data"]["files"][0]["bytes"] == 47040016 and "slurm_job_id" in h
assert [r["allreduce"] for r in recs if r["type"] == "header"] == ["ring", "ring"], "resumed without the checkpoint's method"
assert [r["type"] for r in ev] == ["header", "evaluation"] and ev[1]["epoch"] == 2 and ev[1]["test_total"] == 100, ev
PY
then pass "metrics: provenance in the header, a timestamp on every record, --eval-only writes header and evaluation"
else fail "metrics provenance"; fi
for a in command_line started data hosts input_scale input_shape output classes; do
    [ -n "$(attr "$WORK/prov.h5" "$a")" ] || fail "checkpoint attribute '$a' missing"
done
[ "$(attr "$WORK/prov.h5" output)" = sigmoid ] && [ "$(attr "$WORK/prov.h5" classes)" = 10 ] &&
    pass "checkpoint records its provenance, the input's preprocessing and the output layer" ||
    fail "checkpoint attributes: output '$(attr "$WORK/prov.h5" output)', classes '$(attr "$WORK/prov.h5" classes)'"
finish
