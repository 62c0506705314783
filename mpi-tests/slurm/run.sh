#!/usr/bin/env bash
# mpi-tests/slurm/run.sh - jobs/train.sbatch on a real two-node Slurm cluster
# built on this machine (cluster.sh: two network namespaces, munged,
# slurmctld, two slurmd).
#
#   mpi-tests/slurm/run.sh [NNMPI [REPO [DATA]]]
#     NNMPI  the nnmpi binary         (default $NNMPI, else REPO/build/nnmpi)
#     REPO   the repository           (default: two levels up from here)
#     DATA   MNIST IDX directory      (default $NNMPI_DATA, else REPO/data/mnist)
#
# Checks, each printed as PASS or FAIL:
#   1. a 2-node x 2-task job finishes (exit 0) with ranks on both nodes, a
#      valid checkpoint and valid JSON Lines metrics; the same through
#      mpirun instead of srun (NNMPI_LAUNCH=mpirun) gives the same weights;
#      with --allreduce shm (each node's window, slices across nodes) the
#      weights equal --allreduce mpi's to 1e-3;
#   2. a longer job, sent SIGUSR1 through its batch shell
#      (scancel --signal=USR1 --batch, the path of #SBATCH --signal=B:USR1@T)
#      after epoch 1, stops with exit 75 and a checkpoint before the end;
#      the same when the signal comes as soon as the job runs (the script
#      holds it until nnmpi is ready);
#   3. resubmitted with the same RUN_DIR and NNMPI_REQUEUE=1, it resumes by
#      itself; stopped once more, it requeues itself (scontrol requeue),
#      resumes again and finishes with exit 0;
#   4. its final weights equal bitwise those of an uninterrupted job of the
#      same configuration and rank count;
#   5. a job with --time=2 --signal=B:USR1@50 is signalled by Slurm itself
#      before its time limit and stops with exit 75 and a checkpoint;
#   6. jobs/scaling.sh (if present) with 1, 2, 4 ranks writes its files, in
#      its strong, weak and tta (time to accuracy) modes.
# Exit status: 0 all passed, 1 a check failed, 77 skipped (not root, no
# "ip netns", no nnmpi or data). Cleans up on any exit: every daemon it
# started is stopped by PID, the namespaces are removed. The work directory
# (job output, run directories) is kept when a check failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "${2:-$HERE/../..}" && pwd)
NNMPI=${1:-${NNMPI:-$REPO/build/nnmpi}}
DATA=${3:-${NNMPI_DATA:-$REPO/data/mnist}}
PY=/usr/bin/python3
CHECK=$REPO/mpi-tests/lib/nnmpi_check.py
SBATCH_SCRIPT=$REPO/jobs/train.sbatch
T0=$(date +%s)

# shellcheck source=cluster.sh
. "$HERE/cluster.sh"

skip() { echo "SKIP: $*"; exit 77; }
if reason=$(netns_skip_reason); then skip "$reason"; fi
[ -x "$NNMPI" ] || skip "no nnmpi binary at $NNMPI"
[ -s "$DATA/train-images-idx3-ubyte" ] || skip "no MNIST data in $DATA (data/fetch-mnist.sh)"
[ -f "$SBATCH_SCRIPT" ] || { echo "FAIL: no $SBATCH_SCRIPT"; exit 1; }
if ! command -v slurmctld >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1; then
    skip "Slurm is not installed and there is no apt-get to install it"
fi
NNMPI=$(cd "$(dirname "$NNMPI")" && pwd)/$(basename "$NNMPI")
DATA=$(cd "$DATA" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnmpi-slurm-test.XXXXXX")
# shellcheck source=../lib/report.sh
. "$REPO/mpi-tests/lib/report.sh"
cleanup() {
    local rc=$?
    if [ "$N_FAIL" -ne 0 ] || [ "$rc" -ne 0 ]; then
        mkdir -p "$WORK/daemon-logs"
        cp -r "$SLURM_TEST_STATE"/*.log "$SLURM_TEST_STATE/slurm.conf" "$WORK/daemon-logs/" 2>/dev/null
    fi
    echo "== stopping the cluster"
    slurm_cluster_down
    if [ "$N_FAIL" -eq 0 ] && [ "$rc" -eq 0 ]; then rm -rf "$WORK"
    else echo "== kept $WORK (job output, run directories, daemon logs)"; fi
    echo "== $(( $(date +%s) - T0 )) s in all"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() { report_tally; exit $?; }
elapsed() { echo "$(( $(date +%s) - T0 )) s"; }

echo "== nnmpi $NNMPI, data $DATA, work dir $WORK"
echo "== building the cluster"
if ! slurm_cluster_up; then
    fail "cluster up"
    finish
fi
pass "cluster up: 2 nodes idle ($(elapsed))"

# Everything sbatch passes on to the jobs (it exports this environment).
export SLURM_CONF=$SLURM_TEST_STATE/slurm.conf
export NNMPI NNMPI_DATA=$DATA
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Two "nodes" share two cores here: with busy polling (Open MPI's default
# when it does not know it is oversubscribed), each allreduce waits for
# time slices and training is about 25 times slower.
export OMPI_MCA_mpi_yield_when_idle=1
unset RUN_DIR NNMPI_REQUEUE NNMPI_LAUNCH NNMPI_MPIRUN_MAP
# Settings of an outer Slurm (SBATCH_ACCOUNT, SLURM_JOB_ID...) are not ours.
for v in $(compgen -e | grep -E '^(SLURM_|SBATCH_|SRUN_|SALLOC_)'); do
    [ "$v" = SLURM_CONF ] || unset "$v"
done

# A fixed --allreduce: checks 1b and 4 compare separate jobs bitwise, and the
# default (auto) measures at each launch; 1c runs shm against it.
SMALL=(--train-size 3000 --test-size 1000 --allreduce mpi)
j1b='' j1c='' j2='' j2b='' j3='' j4='' j5='' j6=''   # job ids, set by submit
LONG_EPOCHS=30

# submit OUT_VAR SBATCH_ARGS... [SCRIPT [SCRIPT_ARGS...]]: sbatch --parsable
# from the work directory (the jobs' submit directory); job id in OUT_VAR.
submit() {
    local var=$1 id; shift
    id=$(cd "$WORK" && slurm_client sbatch --parsable "$@") || return 1
    id=${id%%;*}
    printf -v "$var" '%s' "$id"
    echo "   submitted job $id"
}

# job_field ID FIELD: one field of "scontrol show job".
job_field() {
    slurm_client scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' \
        | sed -n "s/^$2=//p" | head -1
}

# wait_job ID SECONDS: waits until the job has ended (a requeued job has not);
# on timeout cancels it. Sets JOB_STATE and JOB_EXIT (the batch script's exit
# status). Polls every 0.5 s: "sbatch --wait" polls at 2, 4, 8, ... 32 s
# intervals, which would add up to half a minute per job here.
wait_job() {
    local id=$1 limit=$2 start=$SECONDS ec
    JOB_STATE='' JOB_EXIT=''
    while [ $((SECONDS - start)) -lt "$limit" ]; do
        JOB_STATE=$(job_field "$id" JobState)
        case $JOB_STATE in
            COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
                ec=$(job_field "$id" ExitCode)
                JOB_EXIT=${ec%%:*}
                echo "   job $id: $JOB_STATE, exit $ec, after $((SECONDS - start)) s"
                return 0 ;;
        esac
        sleep 0.5
    done
    echo "   job $id still $JOB_STATE after $limit s: cancelling it"
    slurm_client scancel "$id"
    JOB_EXIT=timeout
    return 1
}

# wait_epochs FILE N SECONDS: until FILE has N epoch lines.
wait_epochs() {
    local f=$1 n=$2 limit=$3 start=$SECONDS
    while [ $((SECONDS - start)) -lt "$limit" ]; do
        [ "$(grep -c '"type":"epoch"' "$f" 2>/dev/null)" -ge "$n" ] 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

show_output() {   # the job's Slurm output file, indented
    sed 's/^/      | /' "$WORK"/slurm-*-"$1".out 2>/dev/null | tail -"${2:-15}"
}

# ---------------------------------------------------------------- 1 ------
echo "== 1. a 2-node job with 2 tasks per node ($(elapsed))"
# The plain user path: sbatch --wait, bounded by timeout.
RUN1=$WORK/run-small
out=$(cd "$WORK" && RUN_DIR=$RUN1 timeout 180 \
      nsenter --net="$(netns_path snode1)" sbatch --wait -N 2 --ntasks-per-node=2 \
      --job-name=small "$SBATCH_SCRIPT" "${SMALL[@]}" --epochs 2 2>&1)
rc=$?
echo "   $out"
j1=$(printf '%s\n' "$out" | sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p')
if [ "$rc" -eq 124 ] && [ -n "$j1" ]; then slurm_client scancel "$j1"; fi
if [ "$rc" -eq 0 ]; then pass "job 1 exited 0"; else fail "job 1 exited $rc"; show_output "$j1"; fi
check "job 1 metrics: JSON lines, 4 ranks on 2 nodes, completed" \
    "$PY" "$CHECK" metrics "$RUN1/metrics.jsonl" --ranks 4 --nodes 2 --status completed --epochs 2
check "job 1 checkpoint: h5py finds /layers/0/weights, epoch 2" \
    "$PY" "$CHECK" ckpt "$RUN1/checkpoint.h5" --epoch 2
check "job 1 log in its run directory" grep -q 'nnmpi exited with status 0' "$RUN1/job.log"
check "job 1 output file slurm-small-$j1.out" test -s "$WORK/slurm-small-$j1.out"

echo "== 1b. the same through mpirun inside the allocation (NNMPI_LAUNCH=mpirun) ($(elapsed))"
RUN1B=$WORK/run-mpirun
if RUN_DIR=$RUN1B NNMPI_LAUNCH=mpirun submit j1b -N 2 --ntasks-per-node=2 --job-name=mpirun \
    "$SBATCH_SCRIPT" "${SMALL[@]}" --epochs 2; then
    wait_job "$j1b" 180
    if [ "$JOB_EXIT" = 0 ]; then pass "job 1b (mpirun) exited 0"
    else fail "job 1b (mpirun) exit $JOB_EXIT"; show_output "$j1b"; fi
    check "job 1b metrics: 4 ranks on 2 nodes, completed" \
        "$PY" "$CHECK" metrics "$RUN1B/metrics.jsonl" --ranks 4 --nodes 2 --status completed --epochs 2
    check "job 1b (mpirun) weights == job 1 (srun)" \
        "$PY" "$CHECK" same "$RUN1/checkpoint.h5" "$RUN1B/checkpoint.h5"
else
    fail "job 1b not submitted"
fi

echo "== 1c. --allreduce shm: each node sums in its shared window, the nodes sum slices ($(elapsed))"
RUN1C=$WORK/run-shm
if RUN_DIR=$RUN1C submit j1c -N 2 --ntasks-per-node=2 --job-name=shm \
    "$SBATCH_SCRIPT" --train-size 3000 --test-size 1000 --epochs 2 --allreduce shm; then
    wait_job "$j1c" 180
    if [ "$JOB_EXIT" = 0 ]; then pass "job 1c (shm) exited 0"
    else fail "job 1c (shm) exit $JOB_EXIT"; show_output "$j1c"; fi
    check "job 1c metrics: 4 ranks on 2 nodes, completed, allreduce shm" \
        bash -c "'$PY' '$CHECK' metrics '$RUN1C/metrics.jsonl' --ranks 4 --nodes 2 --status completed --epochs 2 &&
                 grep -q '\"allreduce\":\"shm\"' '$RUN1C/metrics.jsonl'"
    # the same sums in another order than MPI's allreduce: equal to float rounding
    check "job 1c (shm) weights == job 1 (mpi) to 1e-3 relative" \
        h5diff -p 1e-3 "$RUN1/checkpoint.h5" "$RUN1C/checkpoint.h5" /layers /layers
else
    fail "job 1c not submitted"
fi

# ---------------------------------------------------------------- 2 ------
echo "== 2. stop a job through its batch shell (scancel --signal=USR1 --batch) ($(elapsed))"
RUN2=$WORK/run-resume
ARGS2=("${SMALL[@]}" --epochs "$LONG_EPOCHS")
if RUN_DIR=$RUN2 submit j2 -N 2 --ntasks-per-node=2 --job-name=resume "$SBATCH_SCRIPT" "${ARGS2[@]}"; then
    if wait_epochs "$RUN2/metrics.jsonl" 1 120; then
        slurm_client scancel --signal=USR1 --batch "$j2"
        echo "   sent SIGUSR1 to the batch shell of job $j2 after epoch 1"
    else
        echo "   no epoch line within 120 s"
    fi
    wait_job "$j2" 120
    if [ "$JOB_EXIT" = 75 ]; then pass "job 2 stopped with exit 75"
    else fail "job 2 exit $JOB_EXIT (expected 75)"; show_output "$j2"; fi
    check "job 2 checkpoint before the end ($LONG_EPOCHS epochs)" \
        "$PY" "$CHECK" ckpt "$RUN2/checkpoint.h5" --before "$LONG_EPOCHS"
    check "job 2 metrics: final status stopped" \
        "$PY" "$CHECK" metrics "$RUN2/metrics.jsonl" --ranks 4 --nodes 2 --status stopped
else
    fail "job 2 not submitted"
fi

echo "== 2b. SIGUSR1 as soon as the job runs, while nnmpi is starting ($(elapsed))"
RUN2B=$WORK/run-early
if RUN_DIR=$RUN2B submit j2b -N 2 --ntasks-per-node=2 --job-name=early "$SBATCH_SCRIPT" "${ARGS2[@]}"; then
    # The first line the script logs comes after its traps are set; a signal
    # before the batch shell runs at all would be lost (scancel -b on a job
    # whose batch step is not there yet does nothing).
    for _ in $(seq 600); do
        grep -q '^== run dir' "$RUN2B/job.log" 2>/dev/null && break
        sleep 0.05
    done
    slurm_client scancel --signal=USR1 --batch "$j2b"
    echo "   sent SIGUSR1 to the batch shell of job $j2b as soon as it logged its first line"
    wait_job "$j2b" 120
    if [ "$JOB_EXIT" = 75 ]; then pass "job 2b: the early signal was held, then stopped nnmpi (exit 75)"
    else fail "job 2b exit $JOB_EXIT (expected 75)"; show_output "$j2b"; fi
    check "job 2b checkpoint before the end" \
        "$PY" "$CHECK" ckpt "$RUN2B/checkpoint.h5" --before "$LONG_EPOCHS"
else
    fail "job 2b not submitted"
fi

# ---------------------------------------------------------------- 3 ------
echo "== 3. resubmit with the same RUN_DIR; stop again, it requeues itself ($(elapsed))"
if [ -s "$RUN2/checkpoint.h5" ] && RUN_DIR=$RUN2 NNMPI_REQUEUE=1 \
    submit j3 -N 2 --ntasks-per-node=2 --job-name=resume "$SBATCH_SCRIPT" "${ARGS2[@]}"; then
    before=$(grep -c '"type":"epoch"' "$RUN2/metrics.jsonl")
    if wait_epochs "$RUN2/metrics.jsonl" $((before + 1)) 120; then
        slurm_client scancel --signal=USR1 --batch "$j3"
        echo "   sent SIGUSR1 to the batch shell of job $j3 after its first epoch"
    else
        echo "   no new epoch line within 120 s"
    fi
    wait_job "$j3" 240
    restarts=$(job_field "$j3" Restarts)
    if [ "$JOB_EXIT" = 0 ]; then pass "job 3 finished with exit 0"
    else fail "job 3 exit $JOB_EXIT (expected 0)"; show_output "$j3" 30; fi
    check "job 3 resumed from RUN_DIR/checkpoint.h5" \
        grep -q "run dir $RUN2 (resume: yes)" "$RUN2/job.log"
    if [ "$restarts" = 1 ] && grep -q "requeueing job $j3" "$RUN2/job.log"; then
        pass "job 3 requeued itself once after exit 75 (NNMPI_REQUEUE=1)"
    else
        fail "job 3 requeue: Restarts=$restarts"; show_output "$j3" 30
    fi
    check "job 3 metrics: 3 starts appended, completed $LONG_EPOCHS epochs" \
        bash -c '"$1" "$2" metrics "$3" --nodes 2 --status completed --epochs "$4" &&
                 [ "$(grep -c "\"type\":\"header\"" "$3")" = 3 ]' _ "$PY" "$CHECK" "$RUN2/metrics.jsonl" "$LONG_EPOCHS"
    check "job 3 checkpoint at epoch $LONG_EPOCHS" \
        "$PY" "$CHECK" ckpt "$RUN2/checkpoint.h5" --epoch "$LONG_EPOCHS"
else
    fail "job 3 not submitted (no checkpoint from job 2?)"
fi

# ---------------------------------------------------------------- 4 ------
echo "== 4. the same configuration without interruption ($(elapsed))"
RUN4=$WORK/run-reference
if RUN_DIR=$RUN4 submit j4 -N 2 --ntasks-per-node=2 --job-name=reference "$SBATCH_SCRIPT" "${ARGS2[@]}"; then
    wait_job "$j4" 180
    if [ "$JOB_EXIT" = 0 ]; then pass "job 4 exited 0"
    else fail "job 4 exit $JOB_EXIT"; show_output "$j4"; fi
    check "stopped twice + resumed == uninterrupted: weights bitwise equal" \
        "$PY" "$CHECK" same "$RUN2/checkpoint.h5" "$RUN4/checkpoint.h5"
    check "h5diff agrees" h5diff -q "$RUN2/checkpoint.h5" "$RUN4/checkpoint.h5" /layers /layers
else
    fail "job 4 not submitted"
fi

# ---------------------------------------------------------------- 5 ------
echo "== 5. a time limit: --time=2 --signal=B:USR1@50, Slurm signals by itself ($(elapsed))"
RUN5=$WORK/run-timelimit
# Slurm sends the warning up to 60 s earlier than asked: with 2 minutes and
# @50 it comes 10 to 70 s after the start, never before the batch shell has
# set its traps (a signal then would be lost).
if RUN_DIR=$RUN5 submit j5 -N 2 --ntasks-per-node=2 --job-name=timelimit --time=2 \
    --signal=B:USR1@50 "$SBATCH_SCRIPT" "${SMALL[@]}" --epochs 100000 --quiet; then
    wait_job "$j5" 150
    if [ "$JOB_EXIT" = 75 ] && grep -q 'got SIGUSR1' "$RUN5/job.log"; then
        pass "job 5 got SIGUSR1 before its time limit and exited 75 (state $JOB_STATE)"
    else
        fail "job 5 exit $JOB_EXIT, state $JOB_STATE (expected 75 after SIGUSR1)"; show_output "$j5"
    fi
    check "job 5 checkpoint and metrics (stopped)" bash -c \
        '"$1" "$2" ckpt "$3/checkpoint.h5" --before 100000 && "$1" "$2" metrics "$3/metrics.jsonl" --status stopped' \
        _ "$PY" "$CHECK" "$RUN5"
else
    fail "job 5 not submitted"
fi

# ---------------------------------------------------------------- 6 ------
echo "== 6. jobs/scaling.sh with 1, 2, 4 ranks ($(elapsed))"
if [ -f "$REPO/jobs/scaling.sh" ]; then
    SC=$WORK/scaling
    # Inside a 2-node allocation, like a user would run it.
    if submit j6 -N 2 --ntasks-per-node=2 --job-name=scaling \
        --wrap "bash '$REPO/jobs/scaling.sh' --ranks 1,2,4 --modes strong,weak,tta --target 0.65 --tta-epochs 4 --repeats 1 --nnmpi '$NNMPI' --data '$DATA' --out '$SC' -- --train-size 1000 --test-size 500 --epochs 2 --layers 784,32,10 --activation relu --loss xent --init he --lr 0.05"; then
        wait_job "$j6" 240
        if [ "$JOB_EXIT" = 0 ]; then pass "scaling.sh exited 0"
        else fail "scaling.sh exit $JOB_EXIT"; show_output "$j6" 30; fi
        for f in scaling.csv summary.txt scaling.png scaling.svg; do
            check "scaling.sh wrote $f" test -s "$SC/$f"
        done
        check "scaling.csv: ok rows for 1, 2 and 4 ranks in each mode, 4 ranks on 2 nodes; tta rows reached the target" \
            "$PY" -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ok = [r for r in rows if r.get("status") == "ok"]
ranks = sorted({int(r["ranks"]) for r in ok})
nodes4 = {r.get("nodes") for r in ok if r["ranks"] == "4"}
modes = {m: sorted(int(r["ranks"]) for r in ok if r["mode"] == m) for m in ("strong", "weak", "tta")}
tta = [r for r in ok if r["mode"] == "tta"]
tta_ok = all(float(r["tta_s"]) > 0 and float(r["accuracy"]) >= 0.65 for r in tta)
print("%d rows, %d ok, ranks per mode %s, nodes at 4 ranks %s, tta times %s"
      % (len(rows), len(ok), modes, sorted(nodes4), [r["tta_s"] for r in tta]))
sys.exit(0 if all(v == [1, 2, 4] for v in modes.values()) and len(ok) == len(rows) and nodes4 == {"2"}
         and tta_ok else 1)
' "$SC/scaling.csv"
    else
        fail "scaling job not submitted"
    fi
else
    echo "SKIP: jobs/scaling.sh is absent"
fi

echo "== done ($(elapsed))"
finish
