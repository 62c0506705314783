#!/usr/bin/env bash
# signal_test.sh: SIGUSR1/SIGTERM stop every rank at the same step boundary,
# rank 0 checkpoints the position inside the epoch and nnmpi exits 75;
# --resume then ends bitwise equal to the uninterrupted run. Steps are chosen
# at random (seeded, printed) plus the edge cases: step 0, the last step of an
# epoch, the first step of an epoch. TRIALS (env) sets the random trials.
source "$(dirname "$0")/lib.sh" "$@"
trials=${TRIALS:-3}
# A fixed --allreduce: at 3 ranks the order of the float sums is the method's,
# and the default (auto) measures at each launch, so two fresh launches may
# differ in the last bits (a resumed run reuses the checkpoint's method).
common=(--train-size 1000 --test-size 500 --batch 32 --epochs 3 --momentum 0.9 --quiet --allreduce mpi)
steps_per_epoch=32 # ceil(1000 / 32): the last batch holds 8
RANDOM=${SEED:-4242}
for np in 2 3; do
    run "$np" "${common[@]}" --checkpoint "$WORK/full.h5" --overwrite
    at_list=(0 $((steps_per_epoch - 1)) $((steps_per_epoch)))
    for _ in $(seq "$trials"); do at_list+=($((RANDOM % (3 * steps_per_epoch)))); done
    for at in "${at_list[@]}"; do
        rm -f "$WORK/ck.h5"
        set +e
        run "$np" "${common[@]}" --checkpoint "$WORK/ck.h5" --debug-signal-at "$at" >/dev/null
        status=$?
        set -e
        expect_status 75 "$status" "np $np: signal before global step $at stops with 75"
        epoch=$(attr "$WORK/ck.h5" epoch)
        step=$(attr "$WORK/ck.h5" step)
        want=$((at + 1))
        if [ $((epoch * steps_per_epoch + step)) = "$want" ]; then
            pass "np $np: checkpoint at epoch $epoch step $step (after global step $at)"
        else
            fail "np $np: checkpoint at epoch $epoch step $step, expected global step $want"
        fi
        run "$np" "${common[@]}" --checkpoint "$WORK/ck.h5" --resume "$WORK/ck.h5"
        same_weights "$WORK/full.h5" "$WORK/ck.h5" "np $np: stopped at $at and resumed equals uninterrupted"
    done
done

# The stop vote through nnmpi's ring, overlapped: it rides in the control
# slots with layer 0's group, the last of two to start (--layers below).
ring=(--allreduce ring --overlap on --layers 784,64,256,10)
run 3 "${common[@]}" "${ring[@]}" --checkpoint "$WORK/full-ring.h5"
at=$((steps_per_epoch + 5))
rm -f "$WORK/ck.h5"
set +e
run 3 "${common[@]}" "${ring[@]}" --checkpoint "$WORK/ck.h5" --overwrite --debug-signal-at "$at" >/dev/null
status=$?
set -e
expect_status 75 "$status" "np 3, --allreduce ring --overlap on: signal before global step $at stops with 75"
[ "$(attr "$WORK/ck.h5" epoch)" = 1 ] && [ "$(attr "$WORK/ck.h5" step)" = 6 ] && pass "ring: checkpoint after global step $at" ||
    fail "ring: checkpoint at step $(attr "$WORK/ck.h5" step) of epoch $(attr "$WORK/ck.h5" epoch), expected step 6 of epoch 1"
run 3 "${common[@]}" "${ring[@]}" --checkpoint "$WORK/ck.h5" --resume "$WORK/ck.h5" --metrics "$WORK/ring-resume.jsonl"
same_weights "$WORK/full-ring.h5" "$WORK/ck.h5" "np 3, ring overlapped: stopped at $at and resumed equals uninterrupted"
# the resumed epoch's train_loss covers its later steps only, and says so
first=$(grep -m1 '"type":"epoch"' "$WORK/ring-resume.jsonl")
grep -q '"partial":true,"first_step":6' <<<"$first" && pass "the resumed epoch's record is marked partial from step 6" ||
    fail "resumed epoch record: $first"

# A real signal from outside: SIGUSR1 to one rank's process while training runs (20 epochs of 60,000:
# the run must outlast the first epoch record by the time the signal takes to arrive).
run 2 --train-size 60000 --test-size 500 --epochs 20 --quiet --checkpoint "$WORK/full-real.h5"
run 2 --train-size 60000 --test-size 500 --epochs 20 --quiet --checkpoint "$WORK/real.h5" --metrics "$WORK/real.jsonl" &
launcher=$!
for _ in $(seq 300); do
    grep -q '"type":"epoch"' "$WORK/real.jsonl" 2>/dev/null && break
    sleep 0.1
done
# the newest rank of this job (its command line starts with the binary), not mpiexec
victim=$(pgrep -n -f -- "^$NNMPI .*$WORK/real.h5" || true)
[ -n "$victim" ] && kill -USR1 "$victim"
set +e
wait "$launcher"
status=$?
set -e
expect_status 75 "$status" "SIGUSR1 sent to a rank mid-run stops the job"
echo "rank pid $victim stopped at epoch $(attr "$WORK/real.h5" epoch) step $(attr "$WORK/real.h5" step)"
run 2 --train-size 60000 --test-size 500 --epochs 20 --quiet --checkpoint "$WORK/real.h5" --resume "$WORK/real.h5"
same_weights "$WORK/full-real.h5" "$WORK/real.h5" "real SIGUSR1, then resume, equals uninterrupted"
# Ctrl-C on a launch through jobs/local.sh's stop forwarding
# (jobs/lib/stop-forwarding.sh), on a net whose stop checkpoint (326 MB,
# weights and momentum) takes longer than the 1 s mpirun would give between
# passing SIGINT on as SIGTERM and SIGKILL: the ranks finish their step, write
# the checkpoint and the job exits 75. (perl: a background job starts with
# SIGINT ignored, which bash could not trap; a terminal's Ctrl-C has it on.)
big=(--train-size 4000 --test-size 100 --batch 100 --epochs 3 --layers 784,6000,6000,10 --init he
     --activation relu --loss xent --lr 0.01 --momentum 0.9 --quiet)
perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' bash -c '. "$1"; shift; run_forwarding_stops "$@"' _ \
    "$(dirname "$0")/../../jobs/lib/stop-forwarding.sh" mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$DATA" \
    "${big[@]}" --checkpoint "$WORK/ctrlc.h5" >"$WORK/ctrlc.out" 2>&1 &
wrapper=$!
for _ in $(seq 600); do [ -f "$WORK/ctrlc.h5" ] && break; sleep 0.1; done # the epoch-0 checkpoint
sleep 1
start=$(date +%s)
kill -INT "$wrapper"
set +e
wait_gone "$wrapper" 120
status=$?
set -e
expect_status 75 "$status" "Ctrl-C stops the job after writing a 326 MB checkpoint, in $(($(date +%s) - start)) s"
if [ "$(attr "$WORK/ctrlc.h5" epoch)" = 0 ] && [ "$(attr "$WORK/ctrlc.h5" step)" -gt 0 ] 2>/dev/null; then
    pass "the checkpoint holds the position of the stop (epoch 0 step $(attr "$WORK/ctrlc.h5" step))"
else
    fail "checkpoint at epoch $(attr "$WORK/ctrlc.h5" epoch) step $(attr "$WORK/ctrlc.h5" step); output: $(tail -3 "$WORK/ctrlc.out")"
fi
pkill -f -- "$WORK/ctrlc.h5" || true
rm -f "$WORK/ctrlc.h5"
finish
