#!/usr/bin/env bash
# data_test.sh: IDX data other than MNIST, made here by idx_data.py (numpy):
# 5x7 images of 3 classes as unsigned bytes, float32, gzip, and files named
# by the path options. Each is trained by the real binary at -n 1 and -n 2,
# and the checkpoint's test accuracy, computed by numpy from the same files,
# must equal nnmpi's and be well above chance (1/3); --reproducible gives the
# same weights at both rank counts. Then each bad input of issue 15 that is
# about data: one message, the same non-zero status on every rank.
source "$(dirname "$0")/lib.sh" "$@"
PY=/usr/bin/python3
HELPER=$(dirname "$0")/idx_data.py
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi

mkdir -p "$WORK/u8" "$WORK/f32gz" "$WORK/named" "$WORK/cube"
$PY "$HELPER" make "$WORK/u8" ubyte 5x7
$PY "$HELPER" make "$WORK/f32gz" float32 5x7 --gzip
$PY "$HELPER" make "$WORK/named" ubyte 5x7 --gzip --names idx
$PY "$HELPER" make "$WORK/cube" float32 3x2x4

# trained NAME NP DATA_ARGS... -- TEST_IMAGES TEST_LABELS: trains 3 epochs, then
# numpy's count of the checkpoint must be nnmpi's last epoch's, and above 60%.
trained() {
    local name=$1 np=$2 out got want
    shift 2
    local args=() ; while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    out=$(mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" "$NNMPI" "${args[@]}" --epochs 3 --checkpoint "$WORK/$name.h5" 2>&1) ||
        { fail "$name: nnmpi failed: $out"; return; }
    want=$(sed -n 's/^Epoch 3: \([0-9]*\)\/150 .*/\1/p' <<<"$out")
    got=$($PY "$HELPER" accuracy "$WORK/$name.h5" "$1" "$2")
    if [ -n "$want" ] && [ "$got" = "$want" ] && [ "$got" -gt 90 ]; then
        pass "$name at -n $np: $want/150 correct, numpy agrees"
    else
        fail "$name at -n $np: nnmpi says '$want', numpy $got of 150 (chance is 50); output: $out"
    fi
}
for np in 1 2; do
    trained "u8-$np" $np --data "$WORK/u8" -- "$WORK/u8/t10k-images-idx3-ubyte" "$WORK/u8/t10k-labels-idx1-ubyte"
    trained "f32gz-$np" $np --data "$WORK/f32gz" -- "$WORK/f32gz/t10k-images-idx3-ubyte.gz" "$WORK/f32gz/t10k-labels-idx1-ubyte.gz"
    trained "named-$np" $np --train-images "$WORK/named/tr-img" --train-labels "$WORK/named/tr-lab" \
        --test-images "$WORK/named/te-img" --test-labels "$WORK/named/te-lab" -- "$WORK/named/te-img" "$WORK/named/te-lab"
    trained "cube-$np" $np --data "$WORK/cube" --activation relu --loss xent --lr 0.5 -- \
        "$WORK/cube/t10k-images-idx3-ubyte" "$WORK/cube/t10k-labels-idx1-ubyte"
done
grep -q "layers 35,30,3," <(run 1 --data "$WORK/u8" --epochs 0 2>&1) && pass "the default network is INPUT,30,CLASSES: 35,30,3" ||
    fail "the default network on 5x7 images of 3 classes is not 35,30,3"
shape=$(h5dump -a /input_shape "$WORK/f32gz-1.h5" | sed -n 's/^ *(0): *//p')
[ "$shape" = "5, 7" ] && [ "$(attr "$WORK/f32gz-1.h5" classes)" = 3 ] && [ "$(attr "$WORK/f32gz-1.h5" input_scale)" = 1 ] &&
    pass "the checkpoint records input_shape 5,7, 3 classes, input_scale 1 (float32)" ||
    fail "checkpoint attributes: input_shape '$shape', classes $(attr "$WORK/f32gz-1.h5" classes), scale $(attr "$WORK/f32gz-1.h5" input_scale)"
for np in 1 2; do
    run $np --data "$WORK/f32gz" --reproducible --epochs 1 --quiet --checkpoint "$WORK/repro-$np.h5" || fail "--reproducible -n $np"
done
same_weights "$WORK/repro-1.h5" "$WORK/repro-2.h5" "float32 gzip data: --reproducible gives the same weights at -n 1 and -n 2"

U8=(--train-images "$WORK/u8/train-images-idx3-ubyte" --train-labels "$WORK/u8/train-labels-idx1-ubyte"
    --test-images "$WORK/u8/t10k-images-idx3-ubyte" --test-labels "$WORK/u8/t10k-labels-idx1-ubyte")
# an IDX type nnmpi does not read: int16 images
$PY - "$WORK/int16" <<'PYEOF'
import struct, sys
open(sys.argv[1], "wb").write(struct.pack(">IIII", 0x0B03, 2, 5, 7) + bytes(2 * 35 * 2))
PYEOF
check_run 2 1 "$WORK/int16: IDX type 0x0b (int16) is not read by nnmpi" "${U8[@]}" --train-images "$WORK/int16"
# train and test of different geometry
check_run 2 1 "the training images $WORK/u8/train-images-idx3-ubyte are 5x7 ubyte but the test images $WORK/cube/t10k-images-idx3-ubyte are 3x2x4 float32" \
    "${U8[@]}" --test-images "$WORK/cube/t10k-images-idx3-ubyte" --test-labels "$WORK/cube/t10k-labels-idx1-ubyte"
check_run 3 1 "--classes 2: $WORK/u8/train-labels-idx1-ubyte: label 2 of item" "${U8[@]}" --classes 2
check_run 2 2 "--layers: the first size must be 35, the input size of the data (5x7 ubyte images in $WORK/u8/t10k-images-idx3-ubyte), and the last 3" \
    "${U8[@]}" --layers 784,30,10
check_run 2 2 "and the last 4, the classes (--classes); got 35,30,3" "${U8[@]}" --classes 4 --layers 35,30,3
# a corrupt .gz: a byte in the middle of the deflate data flipped; and a cut one
cp "$WORK/f32gz/t10k-images-idx3-ubyte.gz" "$WORK/flipped.gz"
size=$(stat -c %s "$WORK/flipped.gz")
printf '\x55' | dd of="$WORK/flipped.gz" bs=1 seek=$((size / 2)) conv=notrunc status=none
check_run 2 1 "$WORK/flipped.gz: " --data "$WORK/f32gz" --test-images "$WORK/flipped.gz"
head -c $((size - 20)) "$WORK/f32gz/t10k-images-idx3-ubyte.gz" >"$WORK/cut.gz"
check_run 2 1 "$WORK/cut.gz: the gzip stream is truncated" --data "$WORK/f32gz" --test-images "$WORK/cut.gz"
# --data synthetic: bad specs are usage errors
for spec in synthetic:0,4,4096,1024 synthetic:64,4,many,1024 synthetic:64,4,99999999999999999999,1024 synthetic:64,1,10,10 \
    synthetic:64,4,10 synthetic:16777217,2,1,1; do
    check_run 2 2 "--data: expected synthetic:INPUTS,CLASSES,TRAIN,TEST with INPUTS 1..16777216" --data "$spec"
done
check_run 2 2 "--test-labels: has no meaning with --data synthetic:64,4,4096,1024" --data synthetic:64,4,4096,1024 \
    --test-labels "$WORK/u8/t10k-labels-idx1-ubyte"
check_run 2 1 "--train-size: asked for 5000 training samples but synthetic:64,4,4096,1024 has only 4096" \
    --data synthetic:64,4,4096,1024 --train-size 5000
# a checkpoint of 5x7 images resumed on other data
check_run 2 1 "checkpoint '$WORK/u8-1.h5': the first size must be 24" --data "$WORK/cube" --resume "$WORK/u8-1.h5" --eval-only

# --data synthetic: learnable, the same samples on every rank, and numpy,
# regenerating the test set from docs/data.md's definition, agrees
SYN=synthetic:64,4,4096,1024
for np in 1 2; do
    out=$(mpiexec -n $np "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data $SYN --reproducible --epochs 1 --checkpoint "$WORK/syn-$np.h5" 2>&1) ||
        fail "$SYN at -n $np failed: $out"
    correct=$(sed -n 's/^Epoch 1: \([0-9]*\)\/1024 .*/\1/p' <<<"$out")
    numpy=$($PY "$HELPER" synthetic "$WORK/syn-$np.h5" 64,4,4096,1024 1)
    if [ -n "$correct" ] && [ "$correct" -gt 460 ] && [ "${numpy%% *}" = "$correct" ]; then
        pass "$SYN at -n $np: $correct/1024 after one epoch (> 45 %, chance 25 %); numpy regenerates the data and agrees (classes ${numpy#* })"
    else
        fail "$SYN at -n $np: nnmpi $correct/1024, numpy '$numpy'; output: $out"
    fi
done
same_weights "$WORK/syn-1.h5" "$WORK/syn-2.h5" "$SYN --reproducible: the same weights at -n 1 and -n 2 (every rank sees the same samples)"
note=$(h5dump -a /data "$WORK/syn-1.h5" 2>/dev/null | grep -c "synthetic:64,4,4096,1024 generated from seed 1")
[ "$note" = 1 ] && pass "the checkpoint's data note records the synthetic spec and seed" || fail "checkpoint data note: $(h5dump -a /data "$WORK/syn-1.h5")"
finish
