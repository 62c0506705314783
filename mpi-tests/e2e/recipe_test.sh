#!/usr/bin/env bash
# recipe_test.sh: a checkpoint keeps the whole training recipe (issue 14).
# A run with every recipe option on (a step schedule with fractional
# milestones or cosine to a final rate, warmup, the linear scaling rule,
# Nesterov momentum, weight decay, dropout), stopped by a signal mid-epoch
# and resumed with none of those options repeated, ends bitwise equal (weights
# and velocity) to the uninterrupted run; a resume that changes one of them
# is noted and ends elsewhere (so the comparison can fail); a combination
# the checkpoint's recipe makes impossible is refused with status 2; hostile
# recipe attributes are refused with status 1 naming the file and the
# attribute; a checkpoint without the recipe attributes (older nnmpi) still
# resumes, as constant-rate plain SGD, bitwise. Skips (77) without h5py.
source "$(dirname "$0")/lib.sh" "$@"
PY=/usr/bin/python3
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: $PY lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi
# what any invocation repeats: none of it changes the weights (test images are only evaluated)
invocation=(--test-size 200 --quiet)
# the data order (--train-size, --batch, --validation) and the model are stored since 0.1.0;
# --allreduce mpi: the sums' order at any rank count (the checkpoint keeps it too)
base=(--train-size 600 --validation 100 --batch 20 --layers 784,32,10 --activation relu --loss xent --init he
      --allreduce mpi --lr 0.1 --momentum 0.9)
step=(--lr-schedule step --lr-steps 1.5,2.5 --lr-gamma 0.5 --warmup 0.5 --lr-batch 10 --nesterov
      --weight-decay 0.001 --dropout 0.2 --epochs 3)
cosine=(--lr-schedule cosine --lr-min 0.01 --warmup 1 --lr-batch 40 --nesterov --weight-decay 0.0005
        --dropout 0.3 --epochs 3)

# same_state A B what: weights and velocity bitwise equal
same_state() {
    if h5diff -q "$1" "$2" /layers /layers >/dev/null 2>&1 &&
        h5diff -q "$1" "$2" /optimizer /optimizer >/dev/null 2>&1; then
        pass "$3"
    else
        fail "$3: weights or velocity differ ($(h5diff -c "$1" "$2" /layers /layers 2>&1 | tail -1))"
    fi
}

# stop NAME AT args...: a run stopped by the signal hook before global step AT, into $WORK/NAME.h5
stop() {
    local name=$1 at=$2 status
    shift 2
    rm -f "$WORK/$name.h5"
    set +e
    run 2 "${invocation[@]}" "$@" --checkpoint "$WORK/$name.h5" --debug-signal-at "$at" >/dev/null
    status=$?
    set -e
    expect_status 75 "$status" "$name: stopped before global step $at"
}

for recipe in step cosine; do
    declare -n opts=$recipe
    run 2 "${invocation[@]}" "${base[@]}" "${opts[@]}" --checkpoint "$WORK/full-$recipe.h5"
    # 30 steps an epoch (600 images, 100 more held out, batches of 20): inside the warmup
    # (15 or 30 steps); in epoch 1, past step's first milestone (step 45)
    for at in 10 50; do
        stop "$recipe-$at" "$at" "${base[@]}" "${opts[@]}"
        # nothing of the recipe, nor the model or the data order, repeated
        run 2 "${invocation[@]}" --resume "$WORK/$recipe-$at.h5" --checkpoint "$WORK/$recipe-$at.h5"
        same_state "$WORK/full-$recipe.h5" "$WORK/$recipe-$at.h5" \
            "$recipe: stopped at step $at, resumed without the recipe options, equals uninterrupted"
    done
    unset -n opts
done

# what the file holds, as h5py (any HDF5 reader) sees it
if $PY - "$WORK/full-step.h5" <<'PY'; then pass "h5py reads the recipe attributes as written"; else fail "h5py: recipe attributes"; fi
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r").attrs
want = {"epochs": 3, "lr_gamma": 0.5, "warmup": 0.5, "lr_batch": 10, "nesterov": 1, "weight_decay": 0.001,
        "dropout": 0.2, "lr_min": 0.0}
bad = [k for k, v in want.items() if a[k] != v]
bad += [] if a["lr_schedule"] == b"step" else ["lr_schedule"]
bad += [] if list(a["lr_steps"]) == [1.5, 2.5] and a["lr_steps"].dtype == np.float64 else ["lr_steps"]
print("differ:", bad) if bad else None
sys.exit(1 if bad else 0)
PY

# the comparison can fail: a changed recipe setting is used (and said), and ends elsewhere
stop changed 30 "${base[@]}" "${step[@]}"
out=$(run 2 "${invocation[@]}" --dropout 0.1 --resume "$WORK/changed.h5" --checkpoint "$WORK/changed.h5" 2>&1) || true
grep -qF "note: --dropout 0.1 differs from checkpoint '$WORK/changed.h5' (0.2); training goes on with 0.1" <<<"$out" &&
    pass "a given --dropout that differs is noted" || fail "no note for --dropout: $out"
if h5diff -q "$WORK/full-step.h5" "$WORK/changed.h5" /layers /layers >/dev/null 2>&1; then
    fail "a resume with --dropout 0.1 ended with the weights of --dropout 0.2"
else
    pass "a resume with another --dropout ends with other weights"
fi
# a new schedule on resume starts from its own knobs: the checkpoint's milestones are not taken along
stop switch 30 "${base[@]}" "${step[@]}"
check_run 2 0 "note: --lr-schedule cosine differs from checkpoint '$WORK/switch.h5' (step)" --data "$DATA" \
    "${invocation[@]}" --lr-schedule cosine --resume "$WORK/switch.h5" --checkpoint "$WORK/switch.h5"
# a cosine run's horizon is its --epochs: extending it changes the rates from here, and says so
stop horizon 30 "${base[@]}" "${cosine[@]}"
check_run 2 0 "the cosine schedule now spans 4 epochs" --data "$DATA" "${invocation[@]}" --epochs 4 \
    --resume "$WORK/horizon.h5" --checkpoint "$WORK/horizon.h5"

# what the checkpoint's recipe makes impossible is refused, naming both sides
stop short 30 "${base[@]}" "${step[@]}"
check_run 2 2 "with --resume $WORK/short.h5 (options not given are the checkpoint's): --lr-steps: the last step (epoch 2.5) must come before the end of training (--epochs 2)" \
    --data "$DATA" "${invocation[@]}" --epochs 2 --resume "$WORK/short.h5"
check_run 2 2 "--nesterov: needs --momentum M > 0" --data "$DATA" "${invocation[@]}" --momentum 0 \
    --nesterov --resume "$WORK/short.h5"

# hostile recipe attributes: each in a copy of a real checkpoint, refused with status 1
$PY - "$WORK/short.h5" "$WORK" <<'PY'
import shutil, sys, h5py, numpy as np
src, out = sys.argv[1], sys.argv[2]
cases = {
    "descending": ("lr_steps", np.array([2.5, 1.5])),
    "dropout": ("dropout", np.float64(1.5)),
    "string": ("weight_decay", np.bytes_(b"0.001")),
    "huge": ("lr_steps", np.arange(1, 1_000_001, dtype=np.float64)),
    "nan": ("warmup", np.float64("nan")),
    "schedule": ("lr_schedule", np.bytes_(b"exponential")),
}
for name, (attr, value) in cases.items():
    path = "%s/hostile-%s.h5" % (out, name)
    shutil.copy(src, path)
    with h5py.File(path, "r+", libver=("v108", "v108")) as f:
        del f.attrs[attr]
        f.attrs.create(attr, value)
PY
hostile() { # CASE MESSAGE_PART
    check_run 2 1 "$WORK/hostile-$1.h5: $2" --data "$DATA" "${invocation[@]}" --resume "$WORK/hostile-$1.h5" \
        --checkpoint "$WORK/out-$1.h5"
    [ ! -e "$WORK/out-$1.h5" ] && pass "$1: nothing written" || fail "$1: a checkpoint was written"
}
hostile descending "attribute 'lr_steps' should hold strictly ascending positive epochs"
hostile dropout "attribute 'dropout' = 1.5 is out of range [0, 1)"
hostile string "attribute 'weight_decay' should be a single number"
hostile huge "attribute 'lr_steps' should hold 1 to 16 numbers"
hostile nan "attribute 'warmup' = nan is out of range"
hostile schedule "unknown lr_schedule 'exponential'"

# a checkpoint of an older nnmpi (no recipe attributes) resumes as constant-rate SGD without them
plain=(--train-size 600 --batch 20 --allreduce mpi --lr 0.5 --epochs 2)
run 2 "${invocation[@]}" "${plain[@]}" --checkpoint "$WORK/plain-full.h5"
stop old 30 "${plain[@]}"
$PY - "$WORK/old.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+", libver=("v108", "v108")) as f:
    for a in ("epochs", "lr_schedule", "lr_steps", "lr_gamma", "lr_min", "warmup", "lr_batch", "nesterov",
              "weight_decay", "dropout"):
        if a in f.attrs:
            del f.attrs[a]
PY
run 2 "${invocation[@]}" --epochs 2 --resume "$WORK/old.h5" --checkpoint "$WORK/old.h5"
same_weights "$WORK/plain-full.h5" "$WORK/old.h5" "a checkpoint without the recipe attributes resumes, bitwise"
[ "$(attr "$WORK/old.h5" lr_schedule)" = constant ] && pass "its next checkpoint records the recipe (constant)" ||
    fail "lr_schedule after resuming an old file: $(attr "$WORK/old.h5" lr_schedule)"
finish
