#!/usr/bin/env bash
# numpy_test.sh: a checkpoint read with h5py and applied by hand in numpy gives
# exactly the test accuracy nnmpi reported for it. Skips (77) without numpy/h5py.
source "$(dirname "$0")/lib.sh" "$@"
if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi
for net in "--layers 784,30,10" "--layers 784,64,10 --activation relu --loss xent --init he --lr 0.1 --batch 32"; do
    # shellcheck disable=SC2086
    run 2 $net --train-size 10000 --epochs 2 --quiet --checkpoint "$WORK/ck.h5" --metrics "$WORK/m.jsonl"
    want=$(grep '"type":"epoch"' "$WORK/m.jsonl" | tail -1 | sed 's/.*"correct":\([0-9]*\).*/\1/')
    got=$(/usr/bin/python3 "$(dirname "$0")/numpy_accuracy.py" "$WORK/ck.h5" "$DATA")
    [ "$want" = "$got" ] && pass "$net: numpy counts $got correct, as nnmpi reported" || fail "$net: numpy $got, nnmpi $want"
    rm -f "$WORK/m.jsonl" "$WORK/ck.h5"
done
finish
