#!/usr/bin/env bash
# reproducible_test.sh: with --reproducible the weights are bitwise identical
# for any rank count (1..4, and more ranks than chunks), and a run
# checkpointed at -n 3 resumes at -n 2 and -n 4 to the same bits.
source "$(dirname "$0")/lib.sh" "$@"
common=(--train-size 2000 --test-size 500 --batch 30 --reproducible --chunk 4 --momentum 0.9 --quiet)
for np in 1 2 3 4 9; do
    run "$np" "${common[@]}" --epochs 1 --checkpoint "$WORK/n$np.h5"
done
for np in 2 3 4 9; do same_weights "$WORK/n1.h5" "$WORK/n$np.h5" "--reproducible -n $np equals -n 1"; done
# a different rank count on resume, also mid-epoch (signal at global step 40)
run 1 "${common[@]}" --epochs 2 --checkpoint "$WORK/full.h5"
set +e
run 3 "${common[@]}" --epochs 2 --checkpoint "$WORK/mid.h5" --debug-signal-at 40 >/dev/null
status=$?
set -e
expect_status 75 "$status" "-n 3 stopped mid-epoch"
for np in 2 4; do
    cp "$WORK/mid.h5" "$WORK/mid-$np.h5"
    run "$np" "${common[@]}" --epochs 2 --checkpoint "$WORK/mid-$np.h5" --resume "$WORK/mid-$np.h5"
    same_weights "$WORK/full.h5" "$WORK/mid-$np.h5" "checkpoint at -n 3 resumed at -n $np equals uninterrupted -n 1"
done
# without --reproducible, -n 1 and -n 3 differ only by float rounding (not a requirement, a sanity check)
finish
