#!/usr/bin/env bash
# bignet_test.sh: a network past the caches at a size CI can hold, end to end:
# 65536-512-10 (33.6 M parameters, 134 MB a copy) on synthetic data.
#   - --reproducible at 1 and 2 ranks: bitwise the same weights;
#   - stopped by a signal mid-epoch and resumed: bitwise the uninterrupted run;
#   - --predict on a 65536-value float32 IDX file: every row as numpy computes
#     it from the checkpoint (h5py reads the 134 MB datasets);
#   - the memory plan's line counts the parameters.
source "$(dirname "$0")/lib.sh" "$@"
if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi
big=(--data synthetic:65536,10,128,64 --layers 65536,512,10 --activation relu --loss xent --lr 0.01 --batch 64
     --epochs 2 --allreduce mpi)
# run_big NP ARGS...: like run, but the data is synthetic (no --data DIR)
run_big() {
    local np=$1
    shift
    mpiexec -n "$np" "${MPIEXEC_FLAGS[@]}" "$NNMPI" "${big[@]}" "$@"
}
run_big 1 --reproducible --quiet --checkpoint "$WORK/r1.h5"
run_big 2 --reproducible --checkpoint "$WORK/r2.h5" --metrics "$WORK/r2.jsonl" > "$WORK/r2.log"
same_weights "$WORK/r1.h5" "$WORK/r2.h5" "65536-512-10 --reproducible: 1 rank == 2 ranks, bitwise"
grep -q "^Memory per rank: parameters 128.0 MiB" "$WORK/r2.log" &&
    pass "the memory plan counts 128.0 MiB of parameters" || fail "plan line: $(head -1 "$WORK/r2.log")"

run_big 2 --momentum 0.9 --quiet --checkpoint "$WORK/whole.h5"
set +e
run_big 2 --momentum 0.9 --quiet --checkpoint "$WORK/parts.h5" --debug-signal-at 3
status=$?
set -e
expect_status 75 "$status" "stopped by a signal at global step 3 (epoch 2, step 1)"
run_big 2 --quiet --resume "$WORK/parts.h5" --checkpoint "$WORK/parts.h5"
same_weights "$WORK/whole.h5" "$WORK/parts.h5" "stopped at step 3 and resumed == uninterrupted, bitwise"

/usr/bin/python3 - "$WORK/images" <<'PY'
import struct, sys
import numpy as np
rng = np.random.default_rng(7)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack(">IIII", 0x0D02, 40, 65536, 0)[:12])
    f.write(rng.random((40, 65536), dtype=np.float32).astype(">f4").tobytes())
PY
run 2 --resume "$WORK/whole.h5" --predict "$WORK/images" --output "$WORK/p.csv" --quiet || true
if msg=$(/usr/bin/python3 "$(dirname "$0")/predict_reference.py" "$WORK/whole.h5" "$WORK/images" "$WORK/p.csv" 2>&1); then
    pass "--predict with the 134 MB model agrees with numpy on 40 float32 rows"
else
    fail "--predict: $msg"
fi
finish
