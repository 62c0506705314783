#!/bin/bash
# jobs/bench/run.sh: nnmpi against its peers on identical work, in one command.
#
# For each workload, --repeats rounds; each round measures the machine ceilings (single-
# thread sgemm for this net's matrix products, 2-rank MPI_Allreduce of its gradient) and then
# runs every contender once: INTERLEAVED (A B C .. A B C ..) so that drift on this shared
# machine hits contenders and ceilings alike. Prints the table and the targets (MET / NOT
# MET). Each run trains --epochs epochs; its last epoch (the steady one) is the one that
# counts. Epoch time = wall time of the training loop only (nnmpi: epoch_s of its --metrics;
# peers: the same, measured by the peer scripts).
#
# The fc-* workloads (issue 15: the big fully connected nets of the Julia/Torch comparison)
# measure TIME PER TRAINING STEP instead, at batch 1 and at batch 64 (--fc-batches): each
# (net, batch) is its own workload, fc-539m-b1, fc-539m-b64, ..., on --data
# synthetic:INPUTS,CLASSES,TRAIN,TEST with TRAIN = batch x steps, TEST = 16; 2 epochs, the
# second timed, time per step = epoch time / steps. Only nnmpi-* and torch-t1/-t2 apply (numpy
# and ddp-p2 read MNIST; they are skipped there). Peak RSS is reported for every run.
#
# Contenders (docs/benchmarks.md says what each is and how the math is kept equal):
#   nnmpi-n1   mpirun -n 1 nnmpi --threads 1        numpy      peer_numpy.py, 1 BLAS thread
#   nnmpi-n2   mpirun -n 2 nnmpi --threads 1        torch-t1   peer_torch.py --threads 1
#   ddp-p2     peer_ddp.py, 2 gloo procs x 1 thread torch-t2   peer_torch.py --threads 2
#
# Output (--out, default jobs/bench/results/<timestamp>/): runs.csv (one row per run),
# summary.txt (what is printed), raw/ (every run's command, stdout, stderr, metrics; the
# ceilings' JSON Lines, <workload>.sgemm.<round>.jsonl and <workload>.allreduce.<round>.jsonl).
set -uo pipefail
# The whole script is one { } block, which bash reads completely before running it: editing
# or checking out this file during a (10-minute) run cannot change the running one.
{

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}   # Debian's python3: the one that sees python3-numpy/-torch
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:---bind-to none}  # the peers are not pinned either

usage() {
    cat <<EOF
usage: jobs/bench/run.sh [options]
  --repeats N        runs per contender and workload (default 3)
  --epochs N         epochs per run; the last one is timed (default 2)
  --train-size N     training samples (default 50000)
  --workloads LIST   comma-separated, of: classic,large (default both), fc-539m,fc-68m,
                     fc-900x3 (time per step; fc = all three; see --fc-batches)
  --contenders LIST  comma-separated, of: nnmpi-n1,nnmpi-n2,numpy,torch-t1,torch-t2,ddp-p2
                     (the default), and nnmpi-n1-t2 (1 rank x 2 OpenBLAS threads),
                     nnmpi-n1-repro, nnmpi-n2-repro (--reproducible),
                     nnmpi-n2-ovl (--overlap on: per-layer non-blocking reductions),
                     nnmpi-n2-ring (--allreduce ring: nnmpi's ring, no allocation per step),
                     nnmpi-n2-mpi (--allreduce mpi: MPI's own allreduce, the default before issue 17),
                     nnmpi-n2-grad, nnmpi-n2-fact (--exchange gradients | factors: what shm's ranks share),
                     nnmpi-n4, nnmpi-n4-mpi (4 ranks on the cores there are: --oversubscribe)
  --nnmpi PATH       nnmpi binary (default $REPO/build/nnmpi)
  --data DIR         MNIST IDX directory (default $REPO/data/mnist)
  --out DIR          output directory (default $HERE/results/<timestamp>)
  --timeout S        seconds before one run is killed and counted as failed (default 900)
  --fc-batches LIST  batches of the fc-* workloads (default 1,64)
  --fc-steps N       steps per epoch of every fc-* workload (default: fc-539m 2,
                     fc-68m 10, fc-900x3 200; --quick: a quarter of these, at least 2)
  --quick            smoke test: --train-size 10000 --repeats 1 (later options still apply)
  --openblas-env native|keep
                     native (default): unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for every
                     contender alike, so OpenBLAS (nnmpi's and numpy's) runs the kernels it picks
                     for this CPU; keep: pass the environment's values through to all
environment: PYTHON (default /usr/bin/python3), MPIRUN (mpirun),
             MPIRUN_FLAGS ("--bind-to none").
EOF
}

repeats=3 epochs=2 train_size=50000 workloads=classic,large timeout_s=900 openblas_env=native
fc_batches=1,64 fc_steps="" quick=0
contenders="nnmpi-n1,nnmpi-n2,numpy,torch-t1,torch-t2,ddp-p2"
nnmpi=$REPO/build/nnmpi data=$REPO/data/mnist out=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick|-h|--help) ;;
        -*) [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; } ;;
    esac
    case $1 in
        --repeats) repeats=$2; shift ;;
        --epochs) epochs=$2; shift ;;
        --train-size) train_size=$2; shift ;;
        --workloads) workloads=$2; shift ;;
        --contenders) contenders=$2; shift ;;
        --nnmpi) nnmpi=$2; shift ;;
        --data) data=$2; shift ;;
        --out) out=$2; shift ;;
        --timeout) timeout_s=$2; shift ;;
        --openblas-env) openblas_env=$2; shift ;;
        --fc-batches) fc_batches=$2; shift ;;
        --fc-steps) fc_steps=$2; shift ;;
        --quick) train_size=10000 repeats=1 quick=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $openblas_env in
    # Some machines here set OPENBLAS_CORETYPE (older OpenBLAS builds misbehave on their
    # CPUs); it forces slower kernels on nnmpi and numpy alike. The tests keep it.
    native) unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE ;;
    keep) ;;
    *) echo "run.sh: --openblas-env takes native or keep, got '$openblas_env'" >&2; exit 2 ;;
esac
IFS=, read -r -a FC_BATCHES <<<"$fc_batches"
for n in "$repeats" "$epochs" "$train_size" "$timeout_s" "${FC_BATCHES[@]}" ${fc_steps:+"$fc_steps"}; do
    case $n in ''|*[!0-9]*|0) echo "run.sh: '$n' is not a positive integer" >&2; exit 2 ;; esac
done
# fc = the three fc nets; each fc net is one workload per batch: fc-539m -> fc-539m-b1,fc-539m-b64
wl=""
for w in ${workloads//,/ }; do
    [ "$w" != fc ] || w="fc-539m fc-68m fc-900x3"
    for v in $w; do
        case $v in
            fc-*-b*) wl+=",$v" ;;
            fc-*) for b in "${FC_BATCHES[@]}"; do wl+=",$v-b$b"; done ;;
            *) wl+=",$v" ;;
        esac
    done
done
workloads=${wl#,}
case ,$workloads, in
    *,classic,*|*,large,*)
        for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
            if [ ! -r "$data/$f" ]; then
                echo "run.sh: $data/$f missing: run data/fetch-mnist.sh or give --data DIR" >&2
                exit 1
            fi
        done
        data=$(cd "$data" && pwd) ;;
esac
nnmpi=$(realpath -m "$nnmpi")
out=${out:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/raw" "$out/bin" || exit 1
out=$(cd "$out" && pwd)

# --- the workloads: one place that says what each trains ------------------------------
declare -A W_LAYERS=([classic]="784,30,10" [large]="784,1024,1024,10")
declare -A W_ACT=([classic]=sigmoid [large]=relu)
declare -A W_LOSS=([classic]=mse [large]=xent)
declare -A W_INIT=([classic]=normal [large]=he)
declare -A W_BATCH=([classic]=10 [large]=128)
declare -A W_LR=([classic]=3.0 [large]=0.1)
declare -A W_KIND=([classic]=epoch [large]=epoch)  # what is timed: an epoch, or a step (fc-*)
declare -A W_DATA=([classic]=mnist [large]=mnist)  # mnist, or "synthetic:INPUTS,CLASSES,TRAIN,TEST"
declare -A W_TRAIN=([classic]=$train_size [large]=$train_size)
# The fc nets of issue 15, time per step at each --fc-batches batch on synthetic data: weights
# and gradient of fc-539m are 2.16 GB each (nnmpi -n 2: 2 copies of both, plus Open MPI's
# reduction buffers).
declare -A FC_LAYERS=([fc-539m]="262144,2048,1024,10" [fc-68m]="32768,2048,1024,10"
                      [fc-900x3]="1000,900,900,900,10")
declare -A FC_STEPS=([fc-539m]=2 [fc-68m]=10 [fc-900x3]=200)
# A step moves a first-layer pre-activation by about lr x delta x |x|^2 (|x|^2 ~ inputs / 3 for
# uniform inputs): lr 0.01 sent fc-539m's loss to 35 in 2 steps. These keep the steps small
# (timing does not depend on lr; a NaN would stop nnmpi with status 3).
declare -A FC_LR=([fc-539m]=1e-6 [fc-68m]=1e-5 [fc-900x3]=1e-3)
IFS=, read -r -a WORKLOADS <<<"$workloads"
IFS=, read -r -a CONTENDERS <<<"$contenders"
for w in "${WORKLOADS[@]}"; do
    if [[ $w =~ ^(fc-[a-z0-9]+)-b([1-9][0-9]*)$ && -n ${FC_LAYERS[${BASH_REMATCH[1]}]:-} ]]; then
        base=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
        steps=${fc_steps:-${FC_STEPS[$base]}}
        [ -n "$fc_steps" ] || [ $quick = 0 ] || steps=$(((steps + 3) / 4 < 2 ? 2 : (steps + 3) / 4))
        IFS=, read -r -a l <<<"${FC_LAYERS[$base]}"
        W_LAYERS[$w]=${FC_LAYERS[$base]} W_ACT[$w]=relu W_LOSS[$w]=xent W_INIT[$w]=he
        W_BATCH[$w]=$b W_LR[$w]=${FC_LR[$base]} W_KIND[$w]=step W_TRAIN[$w]=$((b * steps))
        W_DATA[$w]="synthetic:${l[0]},${l[${#l[@]} - 1]},$((b * steps)),16"
    fi
    [ -n "${W_LAYERS[$w]:-}" ] || { echo "run.sh: unknown workload '$w'" >&2; exit 2; }
done
for c in "${CONTENDERS[@]}"; do
    case $c in nnmpi-n1|nnmpi-n2|nnmpi-n1-t2|nnmpi-n1-repro|nnmpi-n2-repro|nnmpi-n2-ovl|nnmpi-n2-ring|nnmpi-n2-mpi|nnmpi-n2-grad|nnmpi-n2-fact|nnmpi-n4|nnmpi-n4-mpi|numpy|torch-t1|torch-t2|ddp-p2) ;;
        *) echo "run.sh: unknown contender '$c'" >&2; exit 2 ;; esac
done
applies() {  # workload contender: does the contender run this workload? (numpy, DDP: MNIST only)
    [ "${W_DATA[$1]}" = mnist ] || [[ $2 != numpy && $2 != ddp-p2 ]]
}

# number of parameters (weights + biases) of a net given as 784,30,10
param_count() {
    local -a l
    IFS=, read -r -a l <<<"$1"
    local i n=0
    for ((i = 0; i + 1 < ${#l[@]}; i++)); do n=$((n + l[i] * l[i + 1] + l[i + 1])); done
    echo $n
}

# Root may run Open MPI only when told so; harmless for a non-root user.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One thread everywhere unless a contender asks for more (peers set their own).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

{
    echo "date=$(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "host=$(hostname)"
    echo "cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores=$(getconf _NPROCESSORS_ONLN)"  # not nproc: it obeys OMP_NUM_THREADS
    echo "kernel=$(uname -sr)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "openblas_coretype_env=${OPENBLAS_CORETYPE:-}"
    echo "repo_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo +dirty)"
    echo "nnmpi=$nnmpi"
    echo "nnmpi_version=$("$nnmpi" --version 2>/dev/null | head -1)"
    echo "python=$("$PY" -c 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)' 2>&1 | tail -1)"
    echo "torch=$("$PY" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1)"
    echo "train_size=$train_size"
    echo "epochs=$epochs"
    echo "repeats=$repeats"
    echo "workloads=$workloads"
    echo "contenders=$contenders"
} >"$out/env.txt"
: >"$out/workloads.csv"
for w in "${WORKLOADS[@]}"; do
    echo "$w,\"${W_LAYERS[$w]}\",${W_ACT[$w]},${W_LOSS[$w]},${W_INIT[$w]},${W_BATCH[$w]},${W_LR[$w]},$(param_count "${W_LAYERS[$w]}"),${W_KIND[$w]},${W_TRAIN[$w]}" >>"$out/workloads.csv"
done

echo "run.sh: results in $out" >&2

# --- ceilings: built once, measured before each round of a workload's runs ------------------
echo "run.sh: building the ceilings" >&2
# shellcheck disable=SC2046  # pkg-config's flags are meant to split
cc -O2 -o "$out/bin/sgemm_ceiling" "$HERE/sgemm_ceiling.c" $(pkg-config --cflags --libs openblas) \
    2>"$out/raw/sgemm_build.err" ||
    echo "run.sh: could not build sgemm_ceiling: see $out/raw/sgemm_build.err" >&2
mpicc -O2 -o "$out/bin/allreduce_ceiling" "$HERE/allreduce_ceiling.c" 2>"$out/raw/allreduce_build.err" ||
    echo "run.sh: could not build allreduce_ceiling: see $out/raw/allreduce_build.err" >&2

declare -A ALLREDUCE_DONE=()
run_ceilings() {  # workload round: this workload's sgemm steps (1 rank; per rank at -n 2), allreduce
    local w=$1 r=$2 b=${W_BATCH[$1]} p
    local -a steps=("${W_LAYERS[$w]}:$b")
    [ "$b" -eq 1 ] || steps+=("${W_LAYERS[$w]}:$(((b + 1) / 2))")
    p=$(param_count "${W_LAYERS[$w]}")
    # fc-539m's products take seconds and its matrices 2 GB each: its ceiling (3 minutes on a
    # busy machine) is measured in the first round only
    if [ -x "$out/bin/sgemm_ceiling" ] && { [ "$r" = 1 ] || [ "$p" -lt 100000000 ]; }; then
        "$out/bin/sgemm_ceiling" "${steps[@]}" \
            >"$out/raw/$w.sgemm.$r.jsonl" 2>"$out/raw/$w.sgemm.$r.err" ||
            echo "run.sh: sgemm_ceiling failed: see $out/raw/$w.sgemm.$r.err" >&2
    fi
    # one allreduce per gradient size and round (fc-539m-b1 and -b64 share theirs)
    [ -z "${ALLREDUCE_DONE[$p.$r]:-}" ] || return 0
    # the 2.2 GB allreduce takes minutes: not for an fc run without a 2-rank contender
    [ "${W_KIND[$w]}" = epoch ] || [[ ,$contenders, == *,nnmpi-n2* ]] || return 0
    ALLREDUCE_DONE[$p.$r]=1
    if [ -x "$out/bin/allreduce_ceiling" ]; then
        # shellcheck disable=SC2086  # MPIRUN_FLAGS is a list of flags
        timeout -k 10 "$timeout_s" "$MPIRUN" $MPIRUN_FLAGS -n 2 "$out/bin/allreduce_ceiling" \
            "$(param_count "${W_LAYERS[$w]}")" >"$out/raw/$w.allreduce.$r.jsonl" 2>"$out/raw/$w.allreduce.$r.err" ||
            echo "run.sh: allreduce_ceiling failed: see $out/raw/$w.allreduce.$r.err" >&2
    fi
}

# --- one run of one contender -------------------------------------------------------------
echo "workload,contender,run,epoch_s,samples_per_s,accuracy,load_before,status" >"$out/runs.csv"

exit_meaning() {  # contender exit-status: nnmpi's exit statuses, as its contract names them
    case $1:$2 in
        nnmpi-*:1) echo " (error)" ;; nnmpi-*:2) echo " (bad command line)" ;;
        nnmpi-*:3) echo " (diverged)" ;; nnmpi-*:75) echo " (stopped by a signal)" ;;
    esac
}

error_line() {  # contender stderr-file: the line that best says what went wrong, no commas
    local pick="tail"  # a Python traceback ends with the error
    [[ $1 == nnmpi-* ]] && pick="head"  # mpirun's own banner comes after nnmpi's message
    grep -v -e '^[[:space:]]*$' -e '^---' "$2" | "$pick" -n 1 | tr -d ',' | cut -c1-100
}

run_one() {  # workload contender run-index
    local w=$1 c=$2 r=$3 raw="$out/raw/$1.$2.$3" result status fields load
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)  # 1-minute load average: was the machine busy?
    local -a args cmd
    args=(--layers "${W_LAYERS[$w]}" --activation "${W_ACT[$w]}" --loss "${W_LOSS[$w]}"
          --init "${W_INIT[$w]}" --batch "${W_BATCH[$w]}" --lr "${W_LR[$w]}" --epochs "$epochs" --seed 1)
    if [ "${W_DATA[$w]}" = mnist ]; then
        args=(--data "$data" "${args[@]}" --train-size "$train_size")
    else
        args=(--data "${W_DATA[$w]}" "${args[@]}")
    fi
    result=$raw.out
    case $c in
        nnmpi-*)
            # nnmpi-n<ranks>[-t<threads>|-repro|-ovl|-ring]: ranks x 1 thread, 1 rank x threads,
            # --reproducible, --overlap on (the default, auto, is off within one node),
            # --allreduce ring or mpi; more ranks than cores need --oversubscribe
            local ranks=${c#nnmpi-n} threads=1
            local -a extra=() launch=()
            ranks=${ranks%%-*}
            [ "$ranks" -le "$(getconf _NPROCESSORS_ONLN)" ] || launch=(--oversubscribe)
            [[ $c == *-t2 ]] && threads=2
            [[ $c == *-repro ]] && extra=(--reproducible)
            [[ $c == *-ovl ]] && extra=(--overlap on)
            [[ $c == *-ring ]] && extra=(--allreduce ring)
            [[ $c == *-mpi ]] && extra=(--allreduce mpi)
            [[ $c == *-grad ]] && extra=(--exchange gradients)
            [[ $c == *-fact ]] && extra=(--exchange factors)
            result=$raw.metrics.jsonl
            # shellcheck disable=SC2206  # MPIRUN_FLAGS is a list of flags
            cmd=(env OPENBLAS_NUM_THREADS="$threads" "$MPIRUN" $MPIRUN_FLAGS "${launch[@]}" -n "$ranks" "$nnmpi" "${args[@]}"
                 --threads "$threads" "${extra[@]}" --metrics "$result") ;;
        numpy) cmd=("$PY" "$HERE/peer_numpy.py" "${args[@]}" --threads 1) ;;
        torch-t1|torch-t2) cmd=("$PY" "$HERE/peer_torch.py" "${args[@]}" --threads "${c#torch-t}") ;;
        ddp-p2) cmd=("$PY" "$HERE/peer_ddp.py" "${args[@]}" --procs 2 --threads 1) ;;
    esac
    printf '%q ' "${cmd[@]}" >"$raw.cmd"
    echo >>"$raw.cmd"
    rm -f "$result"
    if [[ $c == nnmpi-* && ! -x $nnmpi ]]; then
        status="failed: $nnmpi not found"
    else
        timeout -k 10 "$timeout_s" "${cmd[@]}" >"$raw.out" 2>"$raw.err"
        local rc=$?
        if [ $rc -eq 124 ]; then
            status="failed: timed out after ${timeout_s} s"
        elif [ $rc -ne 0 ]; then
            status="failed: exit $rc$(exit_meaning "$c" $rc): $(error_line "$c" "$raw.err")"
        fi
    fi
    if [ -z "${status:-}" ]; then
        if fields=$("$PY" "$HERE/report.py" last-epoch "$result" "$epochs" 2>>"$raw.err"); then
            status=ok
        else
            status="failed: no result for epoch $epochs in $(basename "$result")"
        fi
    fi
    [ "$status" = ok ] || fields=",,"
    echo "$w,$c,$r,$fields,$load,$status" >>"$out/runs.csv"
    printf 'run.sh: %-8s %-9s run %d: %s\n' "$w" "$c" "$r" \
        "$([ "$status" = ok ] && echo "epoch ${fields%%,*} s" || echo "$status")" >&2
}

# --- interleaved runs -------------------------------------------------------------------
for w in "${WORKLOADS[@]}"; do
    for ((r = 1; r <= repeats; r++)); do
        echo "run.sh: $w round $r: ceilings" >&2
        run_ceilings "$w" "$r"
        for c in "${CONTENDERS[@]}"; do
            if applies "$w" "$c"; then
                run_one "$w" "$c" "$r"
            elif [ "$r" = 1 ]; then
                echo "run.sh: $w: $c skipped (it trains on MNIST files only)" >&2
            fi
        done
    done
done

"$PY" "$HERE/report.py" table "$out" | tee "$out/summary.txt"
rc=$?  # 0 when the table was made, whatever the contenders and targets did
echo "run.sh: runs in $out/runs.csv, summary in $out/summary.txt" >&2
exit $rc
}
