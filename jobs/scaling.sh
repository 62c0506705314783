#!/bin/bash
# jobs/scaling.sh: strong and weak scaling study of nnmpi over a list of rank
# counts, on this machine (mpirun) or inside a Slurm allocation (srun).
# docs/scaling.md explains what it measures and how to read the results.
#
#   jobs/scaling.sh [options] [-- nnmpi options]
#   jobs/scaling.sh --ranks 1,2,4 --oversubscribe -- --layers 784,256,10 \
#       --activation relu --loss xent --lr 0.1 --train-size 20000 --epochs 2
#   jobs/scaling.sh --from-csv jobs/scaling-results/<stamp>/scaling.csv
#
# strong: the global batch is fixed (--batch); N ranks split it, so every rank
#         count runs the same algorithm and ideally an epoch takes 1/N the time.
# weak:   the batch per rank is fixed (--batch-per-rank); the global batch is
#         N times it, so ideally the throughput (samples/s) grows N-fold.
# tta:    time to accuracy: weak scaling (global batch N x --batch-per-rank) with the
#         linear scaling rule (--lr-batch = --batch-per-rank: --lr is the 1-rank rate,
#         scaled by N) and --tta-warmup; each run stops at the first epoch whose
#         accuracy reaches --target (validation if --validation is given, else test)
#         and its training time to there (evaluation excluded) is what counts; the
#         speedup is time(1 rank) / time(N). A run that never reaches it is
#         "not-reached" (a result, not a failure).
# Every point is run --repeats times, the repeat loop outermost (all rank
# counts and both modes, then again), so drift on a shared machine hits all of
# them alike. Each run writes its own nnmpi --metrics file; its LAST epoch
# (the steady state, after the first epoch's warm-up) is the one that counts.
#
# Output (--out DIR):
#   scaling.csv   one row per run (failed runs too, with status=failed); load1
#                 is the 1-minute load average when the run started
#   summary.txt   the table printed at the end
#   scaling.png, scaling.svg   speedup and efficiency against ranks (gnuplot)
#   meta.txt      how the study was run (host, launcher, nnmpi arguments...)
#   runs/<mode>-n<ranks>-r<repeat>.{log,jsonl}   each run's output and metrics
# Exit status: 0 all runs ok; 1 a run failed (the table and plot are still
# made from the others) or the table/plot could not be made; 2 bad options.
#
# Run from the repository (a CMakeLists.txt two levels up) the defaults are
# <repo>/build/nnmpi, <repo>/data/mnist and <repo>/jobs/scaling-results/.
# Installed (<prefix>/share/nnmpi/jobs/scaling.sh, no CMakeLists.txt two levels
# up) they are <prefix>/bin/nnmpi next to this script (else the nnmpi on PATH,
# e.g. from `module load nnmpi`), $NNMPI_DATA (else ./data/mnist) and
# ./scaling-results/ of the current directory; nothing is built.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
REPORT=$HERE/scaling/report.py
if [ -f "$REPO/CMakeLists.txt" ]; then
    INSTALLED=0
    DEF_NNMPI=$REPO/build/nnmpi DEF_DATA=$REPO/data/mnist DEF_OUT=$REPO/jobs/scaling-results
    DEF_NNMPI_SHOWN='<repo>/build/nnmpi' DEF_DATA_SHOWN='<repo>/data/mnist'
    DEF_OUT_SHOWN='<repo>/jobs/scaling-results/<stamp>'
    FETCH_HINT="run data/fetch-mnist.sh" BUILD_HINT="build it: jobs/build.sh"
else
    INSTALLED=1   # <prefix>/share/nnmpi/jobs
    DEF_NNMPI=$(cd "$HERE/../../.." && pwd)/bin/nnmpi
    [ -x "$DEF_NNMPI" ] || DEF_NNMPI=$(command -v nnmpi || echo "$DEF_NNMPI")
    DEF_DATA=${NNMPI_DATA:-data/mnist} DEF_OUT=scaling-results
    # shellcheck disable=SC2016  # shown in --help as written
    DEF_NNMPI_SHOWN='<prefix>/bin/nnmpi, else nnmpi on PATH' DEF_DATA_SHOWN='$NNMPI_DATA, else ./data/mnist'
    DEF_OUT_SHOWN='./scaling-results/<stamp>'
    FETCH_HINT="run $REPO/data/fetch-mnist.sh" BUILD_HINT="module load nnmpi"
fi

usage() {
    cat <<EOF
usage: jobs/scaling.sh [options] [-- nnmpi options]
Strong and weak scaling of nnmpi over rank counts; see docs/scaling.md.

  --ranks LIST         comma-separated rank counts                 [1,2,4,8]
  --modes LIST         of strong,weak,tta                          [strong,weak]
  --target A           tta: the accuracy to reach (nnmpi --target-accuracy) [0.97]
  --tta-epochs N       tta: --epochs of the tta runs (schedule length and
                       the most epochs a run may take)             [10]
  --tta-warmup E       tta: --warmup E, unless --warmup is given after -- [1]
  --batch B            strong scaling: global batch, fixed         [128]
  --batch-per-rank b   weak scaling: batch per rank; global = N*b  [32]
  --repeats R          runs per point, interleaved                 [3]
  --threads T          OpenBLAS threads per rank (nnmpi --threads)
                       [SLURM_CPUS_PER_TASK inside Slurm, else 1]
  --oversubscribe      also run rank counts above the available slots
                       (SLURM_NTASKS in an allocation, else cores / T);
                       they are marked oversubscribed. Without it they
                       are dropped, with a message.
  --launcher NAME      mpirun | srun   [srun inside Slurm (SLURM_JOB_ID set),
                       else mpirun]
  --launcher-args S    extra launcher arguments, split on spaces
                       [mpirun: "--bind-to none"]
  --nnmpi PATH         the binary        [$DEF_NNMPI_SHOWN]
  --data DIR           MNIST IDX directory   [$DEF_DATA_SHOWN]
                       or synthetic:INPUTS,CLASSES,TRAIN,TEST (no files;
                       give --layers INPUTS,...,CLASSES after --)
  --timeout S          seconds before one run is killed and recorded failed
                       (0: never)                                  [600]
  --out DIR            output directory  [$DEF_OUT_SHOWN]
  --from-csv FILE      run nothing: redraw summary.txt, scaling.png and
                       scaling.svg from FILE (into --out, default FILE's dir)
  -h, --help
nnmpi options after -- go to every run, after the ones this script sets
(--data --threads --batch --metrics); --metrics and --threads are refused
there. A --batch there overrides both modes' batch sizes (the CSV records
what nnmpi used). Use --epochs 2 or more: the last epoch is the one timed.
Environment: PYTHON (/usr/bin/python3) for jobs/scaling/report.py.
EOF
}

die() { echo "scaling.sh: $*" >&2; exit 1; }
bad() { echo "scaling.sh: $*" >&2; echo "scaling.sh: see jobs/scaling.sh --help" >&2; exit 2; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || bad "$1 wants a positive integer, got '$2'"; }

# ---- options ----
ranks_list=1,2,4,8 modes_list=strong,weak batch=128 batch_per_rank=32 repeats=3
target=0.97 tta_epochs=10 tta_warmup=1
threads=${SLURM_CPUS_PER_TASK:-1} oversubscribe=0 launcher="" launcher_args=""
launcher_args_set=0 nnmpi=$DEF_NNMPI data=$DEF_DATA timeout_s=600
out="" from_csv=""
nnmpi_args=()
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --) shift; nnmpi_args=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        --oversubscribe) oversubscribe=1; shift; continue ;;
        --*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
        --ranks|--modes|--batch|--batch-per-rank|--repeats|--threads|--launcher|--launcher-args|\
        --nnmpi|--data|--timeout|--out|--from-csv|--target|--tta-epochs|--tta-warmup)
            [ $# -ge 2 ] || bad "option $opt needs a value"
            [[ $2 != --* || $opt == --launcher-args ]] || bad "option $opt needs a value, got '$2'" ;;
        *) bad "unknown option '$opt' (nnmpi options go after --)" ;;
    esac
    val=$2
    case $opt in
        --ranks) ranks_list=$val ;;
        --modes) modes_list=$val ;;
        --batch) batch=$val ;;
        --batch-per-rank) batch_per_rank=$val ;;
        --repeats) repeats=$val ;;
        --threads) threads=$val ;;
        --launcher) launcher=$val ;;
        --launcher-args) launcher_args=$val launcher_args_set=1 ;;
        --nnmpi) nnmpi=$val ;;
        --data) data=$val ;;
        --timeout) timeout_s=$val ;;
        --out) out=$val ;;
        --from-csv) from_csv=$val ;;
        --target) target=$val ;;
        --tta-epochs) tta_epochs=$val ;;
        --tta-warmup) tta_warmup=$val ;;
    esac
    shift 2
done

# ---- --from-csv: only the table and the plot ----
if [ -n "$from_csv" ]; then
    [ ${#nnmpi_args[@]} -eq 0 ] || bad "--from-csv runs nothing: no nnmpi options after --"
    [ -r "$from_csv" ] || die "cannot read $from_csv"
    out=${out:-$(dirname "$from_csv")}
    mkdir -p "$out" || die "cannot create $out"
    meta=()
    [ ! -r "$(dirname "$from_csv")/meta.txt" ] || meta=(--meta "$(dirname "$from_csv")/meta.txt")
    exec "$PY" "$REPORT" table "${meta[@]}" "$from_csv" "$out"
fi

posint --batch "$batch"
posint --batch-per-rank "$batch_per_rank"
posint --repeats "$repeats"
posint --tta-epochs "$tta_epochs"
[[ $target =~ ^(0?\.[0-9]*[1-9][0-9]*|1|1\.0*)$ ]] || bad "--target wants an accuracy in (0, 1], got '$target'"
[[ $tta_warmup =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] || bad "--tta-warmup wants epochs >= 0, got '$tta_warmup'"
posint --threads "$threads"
[[ $timeout_s =~ ^[0-9]+$ ]] || bad "--timeout wants seconds (0: no limit), got '$timeout_s'"
IFS=, read -r -a RANKS <<<"$ranks_list"
[ ${#RANKS[@]} -gt 0 ] || bad "--ranks is empty"
declare -A seen=()
for n in "${RANKS[@]}"; do
    posint "--ranks (each)" "$n"
    [ -z "${seen[$n]:-}" ] || bad "--ranks lists $n twice"
    seen[$n]=1
done
IFS=, read -r -a MODES <<<"$modes_list"
[ ${#MODES[@]} -gt 0 ] || bad "--modes is empty"
for m in "${MODES[@]}"; do
    case $m in strong|weak|tta) ;; *) bad "--modes: unknown mode '$m' (strong, weak, tta)" ;; esac
done
own_data=0 batch_override="" prev="" own_lr_batch=0 own_warmup=0 own_target=0
for a in "${nnmpi_args[@]}"; do
    [ "$prev" != --batch ] || batch_override=$a
    prev=$a
    case $a in
        --metrics|--metrics=*) bad "after --: --metrics is set by scaling.sh (one file per run)" ;;
        --threads|--threads=*) bad "after --: use scaling.sh --threads T instead of nnmpi's" ;;
        --batch=*) batch_override=${a#--batch=} ;;&
        --batch|--batch=*) echo "scaling.sh: warning: --batch after -- overrides --batch and --batch-per-rank in every run" >&2 ;;
        --data|--data=*) own_data=1 ;;
        --lr-batch|--lr-batch=*) own_lr_batch=1 ;;
        --warmup|--warmup=*) own_warmup=1 ;;
        --target-accuracy|--target-accuracy=*) own_target=1 ;;
    esac
done

# ---- where we run: launcher and slots ----
in_slurm=0
[ -z "${SLURM_JOB_ID:-}" ] || in_slurm=1
if [ -z "$launcher" ]; then
    launcher=mpirun
    [ $in_slurm = 0 ] || launcher=srun
fi
case $launcher in
    mpirun) command -v mpirun >/dev/null || die "mpirun not found (install Open MPI, or --launcher srun)" ;;
    srun) [ $in_slurm = 1 ] || die "--launcher srun needs a Slurm allocation (SLURM_JOB_ID unset): use sbatch jobs/scaling.sbatch or salloc"
          command -v srun >/dev/null || die "srun not found" ;;
    *) bad "--launcher: '$launcher' is neither mpirun nor srun" ;;
esac
[ $launcher_args_set = 1 ] || { [ "$launcher" != mpirun ] || launcher_args="--bind-to none"; }

# CPUs of the whole allocation, from SLURM_JOB_CPUS_PER_NODE ("4(x2),2" -> 10).
slurm_cpus_total() {
    local item total=0 count mult
    local -a items
    IFS=, read -r -a items <<<"${SLURM_JOB_CPUS_PER_NODE:-}"
    for item in "${items[@]}"; do
        count=${item%%(*}
        mult=1
        [[ $item != *"(x"* ]] || { mult=${item#*(x}; mult=${mult%)}; }
        total=$((total + count * mult))
    done
    echo "$total"
}
cores=$(env -u OMP_NUM_THREADS nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
if [ $in_slurm = 1 ]; then
    slots=${SLURM_NTASKS:-${SLURM_NPROCS:-}}
    slots_from="SLURM_NTASKS"
    if [ -z "$slots" ]; then
        slots=$(($(slurm_cpus_total) / threads))
        slots_from="SLURM_JOB_CPUS_PER_NODE / $threads threads"
    fi
    nnodes=${SLURM_NNODES:-${SLURM_JOB_NUM_NODES:-1}}
else
    slots=$((cores / threads))
    slots_from="$cores cores (nproc) / $threads threads"
    nnodes=1
fi
[ "$slots" -ge 1 ] || slots=1

KEEP=() dropped=()
for n in "${RANKS[@]}"; do
    if [ "$n" -le "$slots" ] || [ $oversubscribe = 1 ]; then KEEP+=("$n"); else dropped+=("$n"); fi
done
if [ ${#dropped[@]} -gt 0 ]; then
    echo "scaling.sh: dropping ranks $(IFS=,; echo "${dropped[*]}"): more than the $slots slots ($slots_from);" \
         "--oversubscribe runs them anyway, marked oversubscribed" >&2
fi
[ ${#KEEP[@]} -gt 0 ] || bad "no rank count left to run (slots: $slots)"
for n in "${KEEP[@]}"; do
    for m in "${MODES[@]}"; do
        if [ "$m" = strong ] && [ "$batch" -lt "$n" ]; then
            echo "scaling.sh: warning: strong batch $batch < $n ranks: some ranks get no samples" >&2
        fi
    done
done

# ---- inputs ----
nnmpi=$(realpath -m -- "$nnmpi")
[ -x "$nnmpi" ] || die "no nnmpi at $nnmpi ($BUILD_HINT, or give --nnmpi)"
[[ $data != synthetic:* ]] || own_data=1   # nnmpi checks the spec itself
if [ $own_data = 0 ]; then
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -r "$data/$f" ] || die "$data/$f missing: $FETCH_HINT or give --data DIR"
    done
    data=$(cd "$data" && pwd)
fi
[ -x "$PY" ] || command -v "$PY" >/dev/null || die "no python at $PY (set PYTHON)"
command -v gnuplot >/dev/null || echo "scaling.sh: warning: gnuplot not found: no plot (apt-get install gnuplot-nox)" >&2
[ "$timeout_s" = 0 ] || command -v timeout >/dev/null || die "timeout (coreutils) not found; use --timeout 0"

out=${out:-$DEF_OUT/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/runs" || die "cannot create $out/runs"
out=$(cd "$out" && pwd)
[ ! -e "$out/scaling.csv" ] || die "$out/scaling.csv exists: give another --out (or --from-csv to redraw)"

# ---- the launch command for N ranks; sets LAUNCH and OVER ----
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
LAUNCH=() OVER=0
launch_for() {
    local n=$1 nodes
    OVER=0
    [ "$n" -le "$slots" ] || OVER=1
    # shellcheck disable=SC2206  # launcher_args is a list of words
    local -a extra=($launcher_args)
    if [ "$launcher" = mpirun ]; then
        LAUNCH=(mpirun -n "$n" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
        [ "$(id -u)" -ne 0 ] || LAUNCH+=(--allow-run-as-root)
        [ $OVER = 0 ] || LAUNCH+=(--oversubscribe)
    else
        # Pack ranks onto as few nodes as hold them (intra-node first), as
        # the allocation's tasks per node allow; PMIx as in jobs/train.sbatch.
        local per_node=${SLURM_NTASKS_PER_NODE:-}
        [[ $per_node =~ ^[0-9]+$ ]] || per_node=$(((slots + nnodes - 1) / nnodes))
        [ "$per_node" -ge 1 ] || per_node=1
        nodes=$(((n + per_node - 1) / per_node))
        [ "$nodes" -le "$nnodes" ] || nodes=$nnodes
        LAUNCH=(srun --mpi=pmix -N "$nodes" -n "$n" --cpus-per-task="$threads" --kill-on-bad-exit=1)
        if [ $OVER = 1 ]; then
            LAUNCH+=(--overcommit)
            # mpirun tells Open MPI a node is oversubscribed and waiting ranks
            # then yield the core; srun does not, so say it (docs/cluster.md).
            [ -n "${OMPI_MCA_mpi_yield_when_idle:-}" ] ||
                LAUNCH=(env OMPI_MCA_mpi_yield_when_idle=1 "${LAUNCH[@]}")
        fi
    fi
    LAUNCH+=("${extra[@]}")
}
# The options a tta run adds after the user's (nnmpi takes the last of a repeated option).
tta_args() {  # ranks: one word per line
    printf '%s\n' --epochs "$tta_epochs"
    [ $own_target = 1 ] || printf '%s\n' --target-accuracy "$target"
    [ $own_lr_batch = 1 ] || printf '%s\n' --lr-batch "$batch_per_rank"
    [ $own_warmup = 1 ] || printf '%s\n' --warmup "$tta_warmup"
}
TIMEOUT=()
[ "$timeout_s" = 0 ] || TIMEOUT=(timeout -k 30 "$timeout_s")

# ---- how this study was run ----
launch_for 1
{
    echo "date: $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "host: $(hostname)"
    echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores: $cores"
    echo "slots: $slots ($slots_from)"
    if [ $in_slurm = 1 ]; then
        echo "slurm: job ${SLURM_JOB_ID} on ${SLURM_JOB_NODELIST:-?} ($nnodes nodes)"
    fi
    echo "launcher (1 rank): ${LAUNCH[*]}"
    echo "nnmpi: $nnmpi ($("$nnmpi" --version 2>/dev/null | head -1))"
    if [ $INSTALLED = 1 ]; then
        echo "repo_rev: none (installed, $HERE)"
    else
        echo "repo_rev: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)"
    fi
    echo "ranks: $(IFS=,; echo "${KEEP[*]}")"
    echo "modes: $(IFS=,; echo "${MODES[*]}")"
    echo "strong_batch: $batch"
    echo "weak_batch_per_rank: $batch_per_rank"
    echo "threads: $threads"
    echo "repeats: $repeats"
    echo "nnmpi_args: ${nnmpi_args[*]}"
    if [[ ,$modes_list, == *,tta,* ]]; then
        echo "tta_args: $(tta_args 1 | tr '\n' ' ')"
    fi
} >"$out/meta.txt"

# ---- the runs ----
csv=$out/scaling.csv
echo "mode,ranks,threads,batch,repeat,epoch_s,compute_s,allreduce_s,samples_per_s,oversubscribed,nodes,status,exit_code,epoch,run_id,started,load1,tta_s,accuracy" >"$csv"
total=$((repeats * ${#KEEP[@]} * ${#MODES[@]}))
echo "scaling.sh: $total runs (${#KEEP[@]} rank counts x ${#MODES[@]} modes x $repeats repeats) with $launcher, results in $out" >&2

exit_meaning() {
    case $1 in
        1) echo "error" ;; 2) echo "bad command line" ;; 3) echo "diverged" ;;
        75) echo "stopped by a signal" ;; 124) echo "timed out after $timeout_s s" ;;
        *) echo "exit $1" ;;
    esac
}

failed=0 i=0
for ((r = 1; r <= repeats; r++)); do
    for n in "${KEEP[@]}"; do
        for m in "${MODES[@]}"; do
            i=$((i + 1))
            if [ "$m" = strong ]; then b=$batch; else b=$((n * batch_per_rank)); fi
            extra=()
            [ "$m" != tta ] || mapfile -t extra < <(tta_args "$n")
            b_used=${batch_override:-$b}   # what nnmpi is told in the end
            id=$m-n$n-r$r
            metrics=$out/runs/$id.jsonl log=$out/runs/$id.log
            rm -f "$metrics"
            launch_for "$n"
            cmd=("${TIMEOUT[@]}" "${LAUNCH[@]}" "$nnmpi" --data "$data" --threads "$threads" --batch "$b"
                 --metrics "$metrics" "${nnmpi_args[@]}" "${extra[@]}")
            started=$(date +%Y-%m-%dT%H:%M:%S)
            load1=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "")   # how busy the machine was
            { printf '%q ' "${cmd[@]}"; echo; } >"$log"
            rc=0
            "${cmd[@]}" >>"$log" 2>&1 </dev/null || rc=$?
            fields="" why=""
            if [ $rc -ne 0 ]; then
                why=$(exit_meaning $rc)
            elif [ "$m" = tta ]; then
                fields=$("$PY" "$REPORT" tta-final --ranks "$n" "$metrics" 2>>"$log") ||
                    why="no usable final record in the metrics"
            elif ! fields=$("$PY" "$REPORT" last-epoch --ranks "$n" "$metrics" 2>>"$log"); then
                why="no usable epoch in the metrics"
            fi
            if [ -z "$why" ] && [ "$m" = tta ]; then
                # epoch epoch_s compute_s allreduce_s samples_per_s nodes threads batch status train_s accuracy
                read -r ep es cs as sps nd th bt st ts acc <<<"$fields"
                echo "$m,$n,$th,$bt,$r,$es,$cs,$as,$sps,$OVER,$nd,$st,0,$ep,$id,$started,$load1,$ts,$acc" >>"$csv"
                printf 'scaling.sh: [%d/%d] %-6s ranks %-3s batch %-5s repeat %d: %s, %s s of training, %s epochs, accuracy %s%s\n' \
                    "$i" "$total" "$m" "$n" "$bt" "$r" "$([ "$st" = ok ] && echo "target reached" || echo "target NOT reached")" \
                    "$ts" "$ep" "$acc" "$([ $OVER = 0 ] || echo ' (oversubscribed)')" >&2
            elif [ -z "$why" ]; then
                # epoch epoch_s compute_s allreduce_s samples_per_s nodes threads batch
                read -r ep es cs as sps nd th bt <<<"$fields"
                echo "$m,$n,$th,$bt,$r,$es,$cs,$as,$sps,$OVER,$nd,ok,0,$ep,$id,$started,$load1,," >>"$csv"
                printf 'scaling.sh: [%d/%d] %-6s ranks %-3s batch %-5s repeat %d: epoch %s s, %s samples/s%s\n' \
                    "$i" "$total" "$m" "$n" "$bt" "$r" "$es" "$sps" "$([ $OVER = 0 ] || echo ' (oversubscribed)')" >&2
            else
                failed=$((failed + 1))
                echo "$m,$n,$threads,$b_used,$r,,,,,$OVER,,failed,$rc,,$id,$started,$load1,," >>"$csv"
                printf 'scaling.sh: [%d/%d] %-6s ranks %-3s batch %-5s repeat %d: FAILED (%s), log %s:\n' \
                    "$i" "$total" "$m" "$n" "$b_used" "$r" "$why" "$log" >&2
                # nnmpi's (or report.py's) own message, not the launcher's banner
                { grep -m 2 -e '^report.py:' -e 'error:' "$log" ||
                  grep -v -e '^[[:space:]]*$' -e '^---' "$log" | tail -n 3; } | sed 's/^/    /' >&2
            fi
        done
    done
done

rc=0
"$PY" "$REPORT" table --meta "$out/meta.txt" "$csv" "$out" || rc=1
echo "scaling.sh: table $out/summary.txt, plot $out/scaling.png and .svg, runs $csv" >&2
if [ $failed -gt 0 ]; then
    echo "scaling.sh: $failed of $total runs FAILED (status=failed in $csv; logs in $out/runs/)" >&2
    rc=1
fi
exit $rc
