#!/bin/bash
# jobs/bench/tta.sh: time to a target test accuracy, nnmpi against PyTorch with the same recipe.
#
# Every contender trains the same recipe (docs/training.md: layers, He init, batch, Nesterov
# momentum, weight decay, dropout, per-step cosine schedule with linear warmup) until the first
# epoch whose TEST accuracy reaches --target, and reports its training time to that point
# (evaluation excluded): nnmpi's final metrics record's train_s (--target-accuracy), the torch
# peer's final line (peer_torch.py --target-accuracy, the same rule). --repeats rounds, each
# runs every contender once, INTERLEAVED, with seed = round number; the table gives the median
# over the rounds and the target (nnmpi <= 0.6x PyTorch's time, issue 14).
#
# Contenders: nnmpi-n2 (mpirun -n 2, 1 OpenBLAS thread each, --allreduce shm),
#             nnmpi-n1-t2 (mpirun -n 1 --threads 2), nnmpi-n2-mpi (-n 2, MPI's allreduce),
#             torch-t2 (peer_torch.py --threads 2), torch-t1 (--threads 1)
#
# Output (--out, default jobs/bench/results/tta-<timestamp>/): runs.csv, summary.txt, env.txt,
# raw/ (every run's command, stdout, stderr, and nnmpi's --metrics).
set -uo pipefail
{
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun}
MPIRUN_FLAGS=${MPIRUN_FLAGS:---bind-to none}

usage() {
    cat <<EOF2
usage: jobs/bench/tta.sh [options]
  --repeats N        rounds; each runs every contender once, seed = round (default 3)
  --target A         test accuracy to reach (default 0.98)
  --contenders LIST  of nnmpi-n2,nnmpi-n1-t2,nnmpi-n2-mpi,torch-t2,torch-t1
                     (default nnmpi-n2,nnmpi-n1-t2,torch-t2)
  --layers L         (default 784,800,800,10)     --batch B      (default 128)
  --lr X             (default 0.2)                --epochs N     schedule length (default 9)
  --warmup E         (default 0.5)                --dropout P    (default 0.1)
  --weight-decay L   (default 5e-4)               --momentum M   (default 0.9, Nesterov)
  --train-size N     (default 60000)              --test-size N  (default 10000)
  --openblas-core native|NAME
                     native (default): OPENBLAS_CORETYPE unset, OpenBLAS picks its kernels;
                     NAME (e.g. Cooperlake): OPENBLAS_CORETYPE=NAME for every contender alike
  --nnmpi PATH       (default $REPO/build/nnmpi)  --data DIR (default $REPO/data/mnist)
  --out DIR          (default $HERE/results/tta-<timestamp>)
  --timeout S        seconds before one run is killed, counted as failed (default 900)
  --quick            harness check: 784,128,10, --train-size 10000, --target 0.9,
                     --epochs 3, --repeats 1 (later options still apply)
environment: PYTHON, MPIRUN, MPIRUN_FLAGS ("--bind-to none")
EOF2
}

repeats=3 target=0.98 contenders=nnmpi-n2,nnmpi-n1-t2,torch-t2
layers=784,800,800,10 batch=128 lr=0.2 epochs=9 warmup=0.5 dropout=0.1 wd=5e-4 momentum=0.9
train_size=60000 test_size=10000 core=native timeout_s=900
nnmpi=$REPO/build/nnmpi data=$REPO/data/mnist out=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick|-h|--help) ;;
        -*) [ $# -ge 2 ] || { echo "tta.sh: $1 needs a value" >&2; exit 2; } ;;
    esac
    case $1 in
        --repeats) repeats=$2; shift ;;
        --target) target=$2; shift ;;
        --contenders) contenders=$2; shift ;;
        --layers) layers=$2; shift ;;
        --batch) batch=$2; shift ;;
        --lr) lr=$2; shift ;;
        --epochs) epochs=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --dropout) dropout=$2; shift ;;
        --weight-decay) wd=$2; shift ;;
        --momentum) momentum=$2; shift ;;
        --train-size) train_size=$2; shift ;;
        --test-size) test_size=$2; shift ;;
        --openblas-core) core=$2; shift ;;
        --nnmpi) nnmpi=$2; shift ;;
        --data) data=$2; shift ;;
        --out) out=$2; shift ;;
        --timeout) timeout_s=$2; shift ;;
        --quick) layers=784,128,10 train_size=10000 target=0.9 epochs=3 repeats=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "tta.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for n in "$repeats" "$epochs" "$train_size" "$test_size" "$timeout_s" "$batch"; do
    case $n in ''|*[!0-9]*|0) echo "tta.sh: '$n' is not a positive integer" >&2; exit 2 ;; esac
done
IFS=, read -r -a CONTENDERS <<<"$contenders"
for c in "${CONTENDERS[@]}"; do
    case $c in nnmpi-n2|nnmpi-n1-t2|nnmpi-n2-mpi|torch-t2|torch-t1) ;;
        *) echo "tta.sh: unknown contender '$c'" >&2; exit 2 ;; esac
done
case $core in
    native) unset OPENBLAS_CORETYPE ;;
    *[!A-Za-z0-9]*|'') echo "tta.sh: --openblas-core takes native or a core name, got '$core'" >&2; exit 2 ;;
    *) export OPENBLAS_CORETYPE=$core ;;
esac
unset OPENBLAS_L2_SIZE
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -r "$data/$f" ] || { echo "tta.sh: $data/$f missing: run data/fetch-mnist.sh or give --data DIR" >&2; exit 1; }
done
data=$(cd "$data" && pwd)
nnmpi=$(realpath -m "$nnmpi")
out=${out:-$HERE/results/tta-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/raw" || exit 1
out=$(cd "$out" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

{
    echo "date=$(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "host=$(hostname)"
    echo "cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores=$(getconf _NPROCESSORS_ONLN)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "openblas_coretype_env=${OPENBLAS_CORETYPE:-}"
    echo "repo_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo +dirty)"
    echo "nnmpi=$nnmpi"
    echo "nnmpi_version=$("$nnmpi" --version 2>/dev/null | head -1)"
    echo "torch=$("$PY" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1)"
    echo "target=$target"
    echo "repeats=$repeats"
    echo "contenders=$contenders"
    echo "recipe=--layers $layers --activation relu --loss xent --init he --batch $batch --lr $lr" \
         "--momentum $momentum --nesterov --weight-decay $wd --dropout $dropout --lr-schedule cosine" \
         "--warmup $warmup --epochs $epochs --train-size $train_size --test-size $test_size"
} >"$out/env.txt"
echo "tta.sh: results in $out" >&2

echo "contender,run,seed,status,train_s,epochs,accuracy,openblas_core,load_before" >"$out/runs.csv"
run_one() {  # contender round
    local c=$1 r=$2 raw="$out/raw/$1.$2" load status
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)
    local -a args=(--data "$data" --layers "$layers" --activation relu --loss xent --init he --batch "$batch"
                   --lr "$lr" --momentum "$momentum" --nesterov --weight-decay "$wd" --dropout "$dropout"
                   --lr-schedule cosine --warmup "$warmup" --epochs "$epochs" --train-size "$train_size"
                   --test-size "$test_size" --seed "$r" --target-accuracy "$target")
    local -a cmd mpi_flags
    read -r -a mpi_flags <<<"$MPIRUN_FLAGS"  # a list of flags
    local result=$raw.out
    case $c in
        nnmpi-n2) result=$raw.metrics.jsonl
                  cmd=("$MPIRUN" "${mpi_flags[@]}" -n 2 "$nnmpi" "${args[@]}" --threads 1 --allreduce shm --quiet --metrics "$result") ;;
        nnmpi-n2-mpi) result=$raw.metrics.jsonl
                  cmd=("$MPIRUN" "${mpi_flags[@]}" -n 2 "$nnmpi" "${args[@]}" --threads 1 --quiet --metrics "$result") ;;
        nnmpi-n1-t2) result=$raw.metrics.jsonl
                  cmd=(env OPENBLAS_NUM_THREADS=2 "$MPIRUN" "${mpi_flags[@]}" -n 1 "$nnmpi" "${args[@]}" --threads 2 --quiet --metrics "$result") ;;
        torch-t1|torch-t2) cmd=("$PY" "$HERE/peer_torch.py" "${args[@]}" --threads "${c#torch-t}") ;;
    esac
    printf '%q ' "${cmd[@]}" >"$raw.cmd"; echo >>"$raw.cmd"
    rm -f "$result"
    timeout -k 10 "$timeout_s" "${cmd[@]}" >"$raw.out" 2>"$raw.err"
    local rc=$? fields
    if [ $rc -eq 124 ]; then status="failed: timed out after ${timeout_s} s"
    elif [ $rc -ne 0 ]; then status="failed: exit $rc: $(grep -v -e '^[[:space:]]*$' -e '^---' "$raw.err" | head -n 1 | tr -d ',' | cut -c1-100)"
    fi
    if [ -z "${status:-}" ] && ! fields=$("$PY" "$HERE/tta_report.py" final "$result" 2>>"$raw.err"); then
        status="failed: no final record in $(basename "$result")"
    fi
    [ -z "${status:-}" ] || fields="$status,,,,"
    echo "$c,$r,$r,$fields,$load" >>"$out/runs.csv"
    echo "tta.sh: round $r $c: $(echo "$fields" | cut -d, -f1-4) (load $load)" >&2
}

for ((r = 1; r <= repeats; r++)); do
    for c in "${CONTENDERS[@]}"; do run_one "$c" "$r"; done
done
"$PY" "$HERE/tta_report.py" table "$out" | tee "$out/summary.txt"
rc=$?
echo "tta.sh: runs in $out/runs.csv, summary in $out/summary.txt" >&2
exit $rc
}
