#!/usr/bin/env bash
# predict_test.sh: --predict FILE --resume CK.h5 --output OUT.csv. The CSV
# of a trained model over the MNIST test images agrees row by row with a
# forward pass done by hand in numpy from the checkpoint's weights
# (predict_reference.py), its correct count equals --eval-only's, and it is
# byte for byte the same at 1, 2 and 3 ranks. A stop signal, an existing output, a symlink,
# a missing image file, a file of another geometry and a full disk are each
# refused with one message; nothing half-written is left behind.
source "$(dirname "$0")/lib.sh" "$@"
if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi
ref="$(dirname "$0")/predict_reference.py"
images="$DATA/t10k-images-idx3-ubyte"
run 1 --train-size 3000 --epochs 1 --layers 784,40,10 --activation relu --loss xent --lr 0.1 --quiet \
    --checkpoint "$WORK/model.h5"

for np in 1 2 3; do
    set +e
    run "$np" --resume "$WORK/model.h5" --predict "$images" --output "$WORK/out$np.csv" --quiet
    status=$?
    set -e
    expect_status 0 "$status" "--predict at -n $np"
done
if cmp -s "$WORK/out1.csv" "$WORK/out2.csv" && cmp -s "$WORK/out1.csv" "$WORK/out3.csv"; then
    pass "the CSV is byte for byte the same at 1, 2 and 3 ranks"
else
    fail "the CSV differs between rank counts"
fi
if correct=$(/usr/bin/python3 "$ref" "$WORK/model.h5" "$images" "$WORK/out3.csv" "$DATA/t10k-labels-idx1-ubyte" 2>&1); then
    pass "every row's class and probabilities agree with numpy's forward pass"
else
    fail "numpy disagrees: $correct"
fi
eval_line=$(run 2 --resume "$WORK/model.h5" --eval-only 2>&1 | grep -o '[0-9]*/10000' | head -1 || true)
if [ "${eval_line%%/*}" = "$correct" ]; then
    pass "the CSV's classes score $correct / 10000, as --eval-only says"
else
    fail "the CSV's classes score $correct, --eval-only says '$eval_line'"
fi

# mse: probabilities are the sigmoid outputs scaled to sum to 1
run 1 --train-size 1000 --epochs 1 --quiet --checkpoint "$WORK/mse.h5"
run 2 --resume "$WORK/mse.h5" --predict "$images" --output "$WORK/mse.csv" --quiet || true
if msg=$(/usr/bin/python3 "$ref" "$WORK/mse.h5" "$images" "$WORK/mse.csv" 2>&1); then
    pass "--loss mse: normalized sigmoid outputs agree with numpy's"
else
    fail "--loss mse: $msg"
fi

# refused ARGS... -- MESSAGE_PART: exit 1 (or 2 for options), one message
refused() {
    local want=$1 part=$2 out status
    shift 2
    set +e
    out=$(timeout 120 mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" "$@" 2>&1)
    status=$?
    set -e
    if [ "$status" = "$want" ] && grep -qF -- "$part" <<<"$out" && [ "$(grep -c 'nnmpi: error' <<<"$out")" = 1 ]; then
        pass "refused (exit $status): $part"
    else
        fail "expected exit $want with '$part', got $status: $out"
    fi
}
echo keep > "$WORK/existing.csv"
refused 1 "exists; nnmpi does not replace files it did not create" \
    --resume "$WORK/model.h5" --predict "$images" --output "$WORK/existing.csv"
[ "$(cat "$WORK/existing.csv")" = keep ] && pass "the existing file is untouched" || fail "the existing file changed"
run 1 --resume "$WORK/model.h5" --predict "$images" --output "$WORK/existing.csv" --overwrite --quiet || true
cmp -s "$WORK/existing.csv" "$WORK/out1.csv" && pass "--overwrite replaces it" || fail "--overwrite did not replace it"
ln -s "$WORK/elsewhere" "$WORK/link.csv"
refused 1 "is a symbolic link" --resume "$WORK/model.h5" --predict "$images" --output "$WORK/link.csv" --overwrite
[ ! -e "$WORK/elsewhere" ] && pass "nothing written through the symlink" || fail "wrote through the symlink"
refused 1 "$WORK/missing-idx" --resume "$WORK/model.h5" --predict "$WORK/missing-idx" --output "$WORK/x.csv"
refused 2 "--predict: needs --output" --resume "$WORK/model.h5" --predict "$images"
refused 2 "--predict: needs --resume" --predict "$images" --output "$WORK/x.csv"
refused 2 "--output: only has a meaning with --predict" --output "$WORK/x.csv"
# another geometry: 10 images of 4 x 4
/usr/bin/python3 - "$WORK/small-idx" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 10, 4, 4) + bytes(160))
PY
refused 1 "16" --resume "$WORK/model.h5" --predict "$WORK/small-idx" --output "$WORK/x.csv"
ls "$WORK"/*.tmp.* >/dev/null 2>&1 && fail "a temporary file was left behind" || pass "no temporary file left behind"

# a stop signal mid-way (SIGUSR1 to mpiexec, which forwards it): status 143 on
# the job, no output, no temporary file. A net big enough that the 60,000
# training images take several seconds.
run 1 --train-size 20 --test-size 100 --epochs 1 --layers 784,1000,1000,10 --quiet --checkpoint "$WORK/big.h5"
mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" --resume "$WORK/big.h5" \
    --predict "$DATA/train-images-idx3-ubyte" --output "$WORK/stopped.csv" --quiet > "$WORK/stopped.log" 2>&1 &
pid=$!
sleep 2
kill -USR1 "$pid"
set +e
wait_gone "$pid" 60
status=$?
set -e
expect_status 143 "$status" "--predict stopped by SIGUSR1"
grep -q "stopped by a signal before every image was classified" "$WORK/stopped.log" &&
    pass "the message says the output was not written" || fail "no stop message: $(cat "$WORK/stopped.log")"
ls "$WORK"/stopped.csv* >/dev/null 2>&1 && fail "a stopped run left $(ls "$WORK"/stopped.csv*)" ||
    pass "a stopped run leaves no output and no temporary file"

# a full disk while writing (root and tmpfs only): exit 1, no output, no temporary
full="$WORK/full"
mkdir "$full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k tmpfs "$full" 2>/dev/null; then
    refused 1 "No space left on device" --resume "$WORK/model.h5" --predict "$images" --output "$full/out.csv"
    [ -z "$(ls -A "$full")" ] && pass "full disk: nothing left in the directory" || fail "full disk left: $(ls "$full")"
    umount "$full"
else
    echo "SKIP: the full-disk check needs root and tmpfs"
fi
finish
