#!/usr/bin/env bash
# resume_test.sh: a run interrupted after epoch k and resumed ends with the
# uninterrupted run's weights, to the bit (same rank count); --eval-only
# reports the accuracy of the checkpoint; --epochs 0 writes the initial weights.
source "$(dirname "$0")/lib.sh" "$@"
# A fixed --allreduce: at 3 ranks the order of the float sums is the method's,
# and the default (auto) measures at each launch, so two fresh launches may
# differ in the last bits (a resumed run reuses the checkpoint's method).
common=(--train-size 3000 --test-size 1000 --batch 10 --momentum 0.5 --quiet --allreduce mpi)
for np in 2 3; do
    run "$np" "${common[@]}" --epochs 3 --checkpoint "$WORK/full-$np.h5" --metrics "$WORK/full-$np.jsonl"
    run "$np" "${common[@]}" --epochs 1 --checkpoint "$WORK/part-$np.h5"
    [ "$(attr "$WORK/part-$np.h5" epoch)" = 1 ] && pass "np $np: checkpoint records epoch 1" || fail "np $np: epoch attribute"
    run "$np" "${common[@]}" --epochs 3 --checkpoint "$WORK/part-$np.h5" --resume "$WORK/part-$np.h5"
    same_weights "$WORK/full-$np.h5" "$WORK/part-$np.h5" "np $np: resumed after epoch 1 equals uninterrupted"
    # re-running the finished command changes nothing
    cp "$WORK/part-$np.h5" "$WORK/again-$np.h5"
    run "$np" "${common[@]}" --epochs 3 --checkpoint "$WORK/again-$np.h5" --resume "$WORK/again-$np.h5"
    same_weights "$WORK/full-$np.h5" "$WORK/again-$np.h5" "np $np: resuming a finished run is a no-op"
done
# --eval-only gives the accuracy the last epoch line reported
want=$(tail -2 "$WORK/full-2.jsonl" | head -1 | sed 's/.*"correct":\([0-9]*\).*/\1/')
got=$(run 2 --resume "$WORK/full-2.h5" --eval-only --test-size 1000 | sed -n 's/.*): \([0-9]*\)\/.*/\1/p')
[ "$want" = "$got" ] && pass "--eval-only reproduces the reported $got correct" || fail "--eval-only: $got vs $want"
# --epochs 0: only the initial checkpoint
run 2 "${common[@]}" --epochs 0 --checkpoint "$WORK/zero.h5"
[ "$(attr "$WORK/zero.h5" epoch)" = 0 ] && pass "--epochs 0 writes the initial checkpoint" || fail "--epochs 0"
finish
