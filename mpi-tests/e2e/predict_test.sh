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
# one input size, another geometry: a 5x7 model does not classify 7x5 or flat
# 35-value images (the checkpoint's input_shape); a damaged input_shape is refused
/usr/bin/python3 - "$WORK" <<'PY'
import random, struct, sys
random.seed(1)
def images(name, n, dims):
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        f.write(struct.pack(">I", 0x0800 | len(dims) + 1) + b"".join(struct.pack(">I", d) for d in [n] + dims))
        f.write(bytes(random.randrange(256) for _ in range(n * 35)))
images("a57", 200, [5, 7]); images("a75", 50, [7, 5]); images("a35", 50, [35])
with open(f"{sys.argv[1]}/l200", "wb") as f:
    f.write(struct.pack(">II", 0x801, 200) + bytes(random.randrange(3) for _ in range(200)))
PY
small57=(--train-images "$WORK/a57" --train-labels "$WORK/l200" --test-images "$WORK/a57" --test-labels "$WORK/l200")
run 1 "${small57[@]}" --epochs 1 --quiet --checkpoint "$WORK/m57.h5"
refused 1 "checkpoint '$WORK/m57.h5' was trained on inputs of shape 5x7 but $WORK/a75 holds 7x5 ubyte images" \
    --resume "$WORK/m57.h5" --predict "$WORK/a75" --output "$WORK/x.csv"
refused 1 "shape 5x7 but $WORK/a35 holds 35 ubyte images" --resume "$WORK/m57.h5" --predict "$WORK/a35" --output "$WORK/x.csv"
run 2 --resume "$WORK/m57.h5" --predict "$WORK/a57" --output "$WORK/a57.csv" --quiet || true
/usr/bin/python3 "$ref" "$WORK/m57.h5" "$WORK/a57" "$WORK/a57.csv" >/dev/null 2>&1 &&
    pass "a 5x7 model classifies 5x7 images as numpy does" || fail "5x7 predictions differ from numpy's"
for bad in "0" "5" "5,7,1,1,1" "1000000,1000000,1000000,1000000"; do
    cp "$WORK/m57.h5" "$WORK/bad.h5"
    /usr/bin/python3 -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f.attrs['input_shape'] = [int(x) for x in sys.argv[2].split(',')]" "$WORK/bad.h5" "$bad"
    refused 1 "input_shape" --resume "$WORK/bad.h5" --predict "$WORK/a57" --output "$WORK/x.csv"
done
ls "$WORK"/*.tmp.* >/dev/null 2>&1 && fail "a temporary file was left behind" || pass "no temporary file left behind"

# a stop signal mid-way (SIGUSR1 to mpiexec, which forwards it): status 143 on
# the job, no output, no temporary file. A net big enough that the 60,000
# training images take several seconds (784-1000-1000-10 took under 2 s with
# OpenBLAS's AVX-512 kernels: 1.4 TFLOP here).
run 1 --train-size 20 --test-size 100 --epochs 1 --layers 784,3000,3000,10 --quiet --checkpoint "$WORK/big.h5"
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
