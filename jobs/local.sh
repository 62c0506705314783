#!/usr/bin/env bash
# local.sh: build nnmpi (in a checkout), fetch MNIST, and train on this
# machine with mpirun, one rank per core and one OpenBLAS thread per rank.
#
# Usage: jobs/local.sh [NNMPI_OPTION...]   (from any directory)
#   e.g. jobs/local.sh --epochs 1 --train-size 5000
#   The options go to nnmpi after `--data <DIR>`; with your own --data no
#   MNIST is fetched.
# Two ways to run it:
#   from the repository (a CMakeLists.txt two levels up): builds
#     <repo>/build/nnmpi with jobs/build.sh, fetches MNIST into <repo>/data/mnist;
#   installed (<prefix>/share/nnmpi/jobs/local.sh, no CMakeLists.txt two levels
#     up): builds nothing; runs $NNMPI, else <prefix>/bin/nnmpi (next to this
#     script), else the nnmpi on PATH (module load nnmpi); fetches MNIST into
#     $NNMPI_DATA, else ./data/mnist of the current directory.
# Env:
#   NP                  number of ranks (default: nproc; with --threads T,
#                       nproc / T ranks, not bound to cores)
#   NNMPI_BUILD_DIR     build directory (default <repo>/build; repository only)
#   NNMPI               the binary (installed only; see above)
#   NNMPI_DATA          MNIST directory (default <repo>/data/mnist, installed:
#                       ./data/mnist)
#   MPIRUN              launcher (default mpirun)
#   MPIRUN_ARGS         extra launcher arguments, space-separated
# Ctrl-C (or kill, or closing the terminal) stops the run cleanly: nnmpi ends
# its step, writes the --checkpoint and exits 75; press it twice to kill.
# OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) are set to 1 unless you pass
# --threads. Open MPI gets --allow-run-as-root only when run as root, and
# --oversubscribe only when NP exceeds the physical cores. In a container
# without ptrace permission, export OMPI_MCA_btl_vader_single_copy_mechanism=none.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/.." && pwd -P)
log() { printf 'local: %s\n' "$*"; }
installed=1
[[ -f $root/CMakeLists.txt ]] && installed=0

# What the nnmpi options imply for the launch.
threads=""
own_data=0
info_only=0
prev=""
for a in "$@"; do
  case $prev in
    --threads) threads=$a ;;
  esac
  case $a in
    --threads=*) threads=${a#--threads=} ;;
    --data | --data=*) own_data=1 ;;
    --help | -h | --version) info_only=1 ;;
  esac
  prev=$a
done

if [[ -n $threads && ! $threads =~ ^[1-9][0-9]*$ ]]; then
  printf 'local: error: --threads wants a positive integer, got "%s"\n' "$threads" >&2
  exit 2
fi
if [[ -n ${NP:-} && ! $NP =~ ^[1-9][0-9]*$ ]]; then
  printf 'local: error: NP wants a positive integer, got "%s"\n' "$NP" >&2
  exit 2
fi

if ((installed)); then
  next_to_us=$(cd "$here/../../.." && pwd -P)/bin/nnmpi # <prefix>/share/nnmpi/jobs
  if [[ -n ${NNMPI:-} ]]; then
    nnmpi=$NNMPI
  elif [[ -x $next_to_us ]]; then
    nnmpi=$next_to_us
  else
    nnmpi=$(command -v nnmpi || true)
  fi
  if [[ -z $nnmpi || ! -x $nnmpi ]]; then
    printf 'local: error: no nnmpi at %s nor on PATH (module load nnmpi, or set NNMPI)\n' \
      "${NNMPI:-$next_to_us}" >&2
    exit 1
  fi
  default_data=data/mnist
else
  build=$(realpath -m -- "${NNMPI_BUILD_DIR:-$root/build}")
  NNMPI_BUILD_DIR=$build bash "$here/build.sh"
  nnmpi=$build/nnmpi
  default_data=$root/data/mnist
fi

args=()
if ((!own_data && !info_only)); then
  data=$(realpath -m -- "${NNMPI_DATA:-$default_data}")
  bash "$root/data/fetch-mnist.sh" "$data"
  args+=(--data "$data")
fi
args+=("$@")

cpus=$(nproc 2>/dev/null || echo 1)
# Open MPI's default slots are physical cores (lscpu: one line per CPU).
cores=$( (lscpu -p=core,socket 2>/dev/null || true) | { grep -v '^#' || true; } | sort -u | wc -l)
((cores > 0)) || cores=$cpus

ompi_extra=()
if [[ -n $threads ]]; then
  np=${NP:-$((cpus / threads > 0 ? cpus / threads : 1))}
  # Each rank's threads need more than the one core Open MPI would bind it to.
  ((threads > 1)) && ompi_extra=(--bind-to none)
else
  export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
  np=${NP:-$cpus}
fi
((info_only)) && np=1

mpirun=${MPIRUN:-mpirun}
launch=("$mpirun" -np "$np")
mpi_version=$("$mpirun" --version 2>/dev/null || true)
if [[ $mpi_version == *"Open MPI"* || $mpi_version == *OpenRTE* ]]; then
  ((EUID == 0)) && launch+=(--allow-run-as-root)
  ((np > cores)) && launch+=(--oversubscribe)
  # A rank waiting in MPI polls without end by default, taking the core the
  # rank it waits for (or the desktop's other work) needs: a workstation's
  # cores are shared, so yield them while idle (docs/benchmarks.md, "Spread
  # of -n 2 runs"). Your own OMPI_MCA_mpi_yield_when_idle wins.
  [[ -z ${OMPI_MCA_mpi_yield_when_idle:-} ]] && launch+=(--mca mpi_yield_when_idle 1)
  launch+=("${ompi_extra[@]}")
fi
read -ra user_launch <<<"${MPIRUN_ARGS:-}"
launch+=("${user_launch[@]}")

log "${launch[*]} $nnmpi ${args[*]}"
# Ctrl-C, kill or a closed terminal: nnmpi checkpoints and stops (exit 75);
# a second Ctrl-C kills the job (jobs/lib/stop-forwarding.sh says why).
# Called behind || so that `set -e` does not end this script when a trapped
# signal interrupts the function's `wait` (status > 128) before the launcher
# has stopped: its exit status is what this script returns.
. "$here/lib/stop-forwarding.sh"
status=0
run_forwarding_stops "${launch[@]}" "$nnmpi" "${args[@]}" || status=$?
exit "$status"
