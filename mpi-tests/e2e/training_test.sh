#!/usr/bin/env bash
# training_test.sh: schedules, Nesterov, weight decay, dropout, validation, early
# stopping, --keep-best and --target-accuracy on the real binary: a run
# stopped at any step and resumed equals the uninterrupted one bitwise with
# every option on; the defaults change nothing; each stopping rule ends the
# run as it says; impossible values are refused with status 2.
source "$(dirname "$0")/lib.sh" "$@"
small=(--train-size 600 --test-size 200 --batch 20 --quiet)
all=(--layers 784,32,10 --activation relu --loss xent --init he --lr 0.2 --momentum 0.9 --nesterov
     --weight-decay 0.001 --dropout 0.2 --lr-schedule cosine --lr-min 0.01 --warmup 0.5 --validation 100 --epochs 3)

# the classic net at batch 10 on 2 and 3 ranks splits layer 0 by its inputs (each rank updates its columns of
# W0 in its own copy of the weights): its weights stay within float rounding of one process's, and a
# checkpoint written mid-epoch holds every rank's columns (and velocity), so stopped and resumed equals
# uninterrupted
run 1 --train-size 100 --test-size 100 --quiet --epochs 1 --checkpoint "$WORK/inputs-1.h5"
for np in 2 3; do
    run "$np" --train-size 100 --test-size 100 --quiet --epochs 1 --checkpoint "$WORK/inputs-$np.h5" \
        --metrics "$WORK/inputs-$np.jsonl"
    grep -q "\"inputs_split\":$np" "$WORK/inputs-$np.jsonl" && pass "np $np: layer 0 split by its inputs (metrics header)" ||
        fail "np $np: the classic net did not take the inputs path: $(head -c 600 "$WORK/inputs-$np.jsonl")"
    h5diff -d 1e-3 "$WORK/inputs-1.h5" "$WORK/inputs-$np.h5" /layers /layers >/dev/null 2>&1 &&
        pass "np $np: split by inputs, the weights within 1e-3 of one process's after 10 steps" ||
        fail "np $np: split by inputs: $(h5diff -d 1e-3 "$WORK/inputs-1.h5" "$WORK/inputs-$np.h5" /layers /layers 2>&1 | tail -2)"
    inputs=(--train-size 600 --test-size 100 --quiet --momentum 0.9 --dropout 0.2 --epochs 2)
    run "$np" "${inputs[@]}" --checkpoint "$WORK/inputs-full.h5" --overwrite
    rm -f "$WORK/ck.h5"
    set +e
    run "$np" "${inputs[@]}" --checkpoint "$WORK/ck.h5" --debug-signal-at 87 >/dev/null
    status=$?
    set -e
    expect_status 75 "$status" "np $np: split by inputs, stopped before step 87"
    run "$np" "${inputs[@]}" --checkpoint "$WORK/ck.h5" --resume "$WORK/ck.h5"
    same_weights "$WORK/inputs-full.h5" "$WORK/ck.h5" "np $np: split by inputs, stopped and resumed equals uninterrupted"
done

# the defaults, spelled out, change nothing
run 2 "${small[@]}" --epochs 2 --checkpoint "$WORK/plain.h5"
run 2 "${small[@]}" --epochs 2 --lr-schedule constant --weight-decay 0 --warmup 0 --checkpoint "$WORK/explicit.h5"
same_weights "$WORK/plain.h5" "$WORK/explicit.h5" "constant schedule, no decay, no warmup: the same weights as the defaults"

# stopped at a step (inside the warmup, and later) and resumed == uninterrupted, at 2 and 3 ranks
for np in 2 3; do
    run "$np" "${small[@]}" "${all[@]}" --checkpoint "$WORK/full-$np.h5" --overwrite
    for at in 7 40; do
        rm -f "$WORK/ck.h5"
        set +e
        run "$np" "${small[@]}" "${all[@]}" --checkpoint "$WORK/ck.h5" --debug-signal-at "$at" >/dev/null
        status=$?
        set -e
        expect_status 75 "$status" "np $np: every option on, stopped before step $at"
        run "$np" "${small[@]}" "${all[@]}" --checkpoint "$WORK/ck.h5" --resume "$WORK/ck.h5"
        same_weights "$WORK/full-$np.h5" "$WORK/ck.h5" "np $np: stopped at step $at and resumed equals uninterrupted (with momentum)"
        [ "$(attr "$WORK/ck.h5" best_accuracy)" = "$(attr "$WORK/full-$np.h5" best_accuracy)" ] &&
            pass "np $np: the best validation accuracy survives the resume" || fail "best_accuracy differs after resume"
    done
done

# dropout masks follow the sample, not the rank: --reproducible stays bitwise at any rank count
for np in 1 3; do
    run "$np" "${small[@]}" --epochs 2 --layers 784,32,16,10 --activation tanh --dropout 0.3 --reproducible --chunk 3 \
        --checkpoint "$WORK/drop-$np.h5"
done
same_weights "$WORK/drop-1.h5" "$WORK/drop-3.h5" "--dropout 0.3 --reproducible: -n 3 equals -n 1 bitwise"

# --early-stop: a rate too large to improve ends the run after K epochs without a better validation accuracy
out=$(run 2 "${small[@]}" --epochs 30 --lr 40 --validation 100 --early-stop 2 --keep-best "$WORK/best.h5" \
      --metrics "$WORK/es.jsonl" 2>&1) || true
final=$(tail -1 "$WORK/es.jsonl")
if grep -q '"status":"early-stopped"' <<<"$final" && [ "$(grep -c '"type":"epoch"' "$WORK/es.jsonl")" -lt 30 ]; then
    pass "--early-stop 2 ended the run after $(grep -c '"type":"epoch"' "$WORK/es.jsonl") epochs"
else
    fail "early stop: $final"
fi
best_epoch=$(attr "$WORK/best.h5" epoch)
want=$(/usr/bin/python3 -c 'import json,sys
r=[json.loads(l) for l in open(sys.argv[1]) if "\"epoch\"" in l and "val_correct" in l]
print(max(r, key=lambda e: (e["val_correct"], -e["epoch"]))["epoch"])' "$WORK/es.jsonl" 2>/dev/null || echo none)
[ "$best_epoch" = "$want" ] && pass "--keep-best holds the epoch of the best validation accuracy ($want)" ||
    fail "--keep-best holds epoch $best_epoch, the best validation accuracy was at epoch $want"

# --target-accuracy: the first epoch at or above it ends the run, and says so with the time to it
out=$(run 2 "${small[@]}" --epochs 30 --layers 784,32,10 --activation relu --loss xent --init he --lr 0.1 \
      --target-accuracy 0.5 --metrics "$WORK/tta.jsonl" 2>&1)
final=$(tail -1 "$WORK/tta.jsonl")
acc=$(grep '"type":"epoch"' "$WORK/tta.jsonl" | tail -1 | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')
grep -q '"status":"target-reached"' <<<"$final" && /usr/bin/python3 -c "import sys; sys.exit(0 if float('$acc') >= 0.5 else 1)" &&
    pass "--target-accuracy 0.5 stopped at accuracy $acc, after $(grep -c '"type":"epoch"' "$WORK/tta.jsonl") epochs" ||
    fail "target accuracy: $final (last accuracy $acc)"

# impossible values: one message naming the option, status 2
bad() {
    local msg=$1 out status
    shift
    set +e
    out=$(timeout 60 mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" "${small[@]}" "$@" 2>&1)
    status=$?
    set -e
    [ "$status" = 2 ] && grep -qF -- "$msg" <<<"$out" && pass "$* -> 2, '$msg'" || fail "$*: exit $status: $out"
}
bad "--warmup: expected a number >= 0" --warmup -1
bad "--lr-steps: expected at most 16 ascending positive epochs" --lr-schedule step --lr-steps 5,3
bad "--lr-steps: the last step (epoch 12) must come before the end of training (--epochs 10)" --lr-schedule step --lr-steps 2,12
bad "--lr-gamma: expected a positive number" --lr-schedule step --lr-steps 2 --lr-gamma 0
bad "--lr-min: expected a number from 0 to --lr (3), got 5" --lr-schedule cosine --lr-min 5
bad "--target-accuracy: expected a number in (0, 1]" --target-accuracy 1.5
bad "--keep-best: needs --validation N" --keep-best "$WORK/b.h5"
bad "--early-stop: needs --validation N" --early-stop 3
bad "--nesterov: needs --momentum M > 0" --nesterov
set +e
out=$(timeout 60 mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" --validation 60000 2>&1)
status=$?
set -e
[ "$status" = 2 ] && grep -qF -- "--validation: expected fewer than the 60000 training images, got 60000" <<<"$out" &&
    pass "--validation 60000 -> 2" || fail "--validation 60000: exit $status: $out"
finish
