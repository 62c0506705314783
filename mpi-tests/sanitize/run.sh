#!/usr/bin/env bash
# run.sh: nnmpi under AddressSanitizer + UndefinedBehaviorSanitizer +
# LeakSanitizer (the unit and MPI tests), then under valgrind (a short 2-rank
# training run with a checkpoint, a resume from it, and a run with the
# overlapped --allreduce ring). Exits non-zero on any
# report that the suppression files here do not cover; every suppression names
# a library (Open MPI, PMIx, libevent, hwloc), never nnmpi (see lsan.supp and
# valgrind.supp for each one and why).
#
# Usage: mpi-tests/sanitize/run.sh [asan|valgrind]...   (default: both)
# Env:
#   NNMPI_SANITIZE_BUILD_DIR  ASan/UBSan build (default <repo>/build-sanitize):
#                             -DNNMPI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
#   NNMPI_VALGRIND_BUILD_DIR  plain build for valgrind (default
#                             <repo>/build-valgrind): RelWithDebInfo, no tests
#   NNMPI_DATA                MNIST directory (default <repo>/data/mnist;
#                             fetched by data/fetch-mnist.sh when missing)
#   NNMPI_JOBS                parallel build jobs (default: nproc)
#   NNMPI_SANITIZE_LABELS     ctest labels under ASan (default 'unit|mpi';
#                             'unit|mpi|e2e' adds the script tests, ~5 min more)
# Logs: <build>/sanitize-ctest.log, <valgrind build>/valgrind/*.log.
set -euo pipefail

# The whole script is one function, read in full before it runs, so editing
# this file cannot disturb a run in progress.
main() {

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)
asan_build=$(realpath -m -- "${NNMPI_SANITIZE_BUILD_DIR:-$root/build-sanitize}")
vg_build=$(realpath -m -- "${NNMPI_VALGRIND_BUILD_DIR:-$root/build-valgrind}")
data=$(realpath -m -- "${NNMPI_DATA:-$root/data/mnist}")
jobs=${NNMPI_JOBS:-$(nproc 2>/dev/null || echo 2)}
labels=${NNMPI_SANITIZE_LABELS:-unit|mpi}
parts=("$@")
((${#parts[@]})) || parts=(asan valgrind)

say() { printf 'sanitize: %s\n' "$*"; }
die() { printf 'sanitize: error: %s\n' "$*" >&2; exit 2; }
for p in "${parts[@]}"; do [[ $p == asan || $p == valgrind ]] || die "unknown part '$p' (asan, valgrind)"; done

bash "$root/data/fetch-mnist.sh" "$data" >/dev/null || die "MNIST is missing from $data (data/fetch-mnist.sh failed)"

# Open MPI as mpi-tests/run.sh runs it: root allowed (only when root),
# oversubscription, no CMA single-copy (containers forbid its ptrace). The
# components stay loaded at exit, so the frames of their leftovers keep names
# the suppressions can match (Open MPI's FAQ advice for valgrind).
if ((EUID == 0)); then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
export OPENBLAS_NUM_THREADS=1
export NNMPI_DATA=$data NNMPI_TEST_DATA=$data
mpiexec=$(command -v mpiexec || command -v mpirun) || die "mpiexec not found"
root_flag=()
((EUID != 0)) || root_flag=(--allow-run-as-root)

status=0

# ---------- AddressSanitizer, UndefinedBehaviorSanitizer, LeakSanitizer ----------
run_asan() {
  say "ASan/UBSan build in $asan_build"
  mkdir -p "$asan_build"
  cmake -S "$root" -B "$asan_build" -DNNMPI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DNNMPI_TEST_DATA_DIR="$data" >"$asan_build/configure.log" 2>&1 ||
    { cat "$asan_build/configure.log"; die "configure failed"; }
  cmake --build "$asan_build" -j "$jobs" >"$asan_build/build.log" 2>&1 ||
    { tail -30 "$asan_build/build.log"; die "build failed"; }
  # Leaks are findings (detect_leaks=1) except the library ones in lsan.supp.
  # fast_unwind_on_malloc=0: Open MPI, PMIx and libevent have no frame
  # pointers, and a suppression must see their frames in the stack.
  local log=$asan_build/sanitize-ctest.log rc=0
  say "ctest -L '$labels' (ASan + UBSan + LeakSanitizer)"
  ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=40:detect_stack_use_after_return=1" \
  LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$asan_build" -L "$labels" --no-tests=error --output-on-failure --timeout 600 >"$log" 2>&1 || rc=$?
  grep -E '^[0-9]+% tests passed|Total Test time' "$log" | sed 's/^/    /'
  if ((rc != 0)); then
    status=1
    say "ASan/UBSan: FAIL (ctest exit $rc); the reports (whole log: $log):"
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY:|Failed|\*\*\*' "$log" | sort | uniq -c | head -40 | sed 's/^/    /'
  elif grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
    status=1
    say "ASan/UBSan: FAIL: a sanitizer report in a test that still passed (see $log)"
  else
    say "ASan/UBSan: no report (leaks checked; suppressed: Open MPI/PMIx/libevent/hwloc only)"
  fi
}

# ---------- valgrind ----------
# One valgrind'ed 2-rank run of nnmpi; NAME names the logs. Fails on any error
# not in valgrind.supp: invalid accesses, uses of uninitialised values, and
# definitely lost blocks (--errors-for-leak-kinds=definite).
vg_run() {
  local name=$1; shift
  local dir=$vg_build/valgrind rc=0
  local supp=(--suppressions="$here/valgrind.supp")
  [[ ! -f /usr/share/openmpi/openmpi-valgrind.supp ]] || supp+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
  rm -f "$dir/$name".*.log
  "$mpiexec" "${root_flag[@]}" -n 2 \
    valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --track-origins=yes --num-callers=40 --error-exitcode=99 "${supp[@]}" \
    --log-file="$dir/$name.%q{OMPI_COMM_WORLD_RANK}.log" \
    "$vg_build/nnmpi" "$@" >"$dir/$name.out" 2>&1 || rc=$?
  local errors
  errors=$(grep -ho 'ERROR SUMMARY: [0-9]*' "$dir/$name".*.log | awk '{s += $3} END {print s + 0}')
  printf 'sanitize:   %-8s exit %d, %d valgrind error(s) in 2 ranks; ' "$name" "$rc" "$errors"
  grep -h 'definitely lost:' "$dir/$name".*.log | head -1 | sed 's/^==[0-9]*== *//' || echo
  if ((rc != 0 || errors != 0)); then
    status=1
    say "valgrind $name: FAIL; the errors (logs: $dir/$name.*.log):"
    # Each error with its first frames; ours when a frame is in nnmpi's sources.
    awk -v root="$root" '
      /^==[0-9]+== (Invalid|Conditional|Syscall|Use of|Mismatched|Source and|Argument|Jump)|definitely lost in loss record/ {
        if (hdr != "") print (ours ? "  [nnmpi] " : "  [library] ") hdr
        hdr = $0; sub(/^==[0-9]+== /, "", hdr); ours = 0; next }
      hdr != "" && / (at|by) 0x/ && (index($0, root "/src/") || /\((main|train|net|idx|checkpoint|reduce|ring|repro|vec|check|options|metrics|timers|rng)\.c:/) { ours = 1 }
      END { if (hdr != "") print (ours ? "  [nnmpi] " : "  [library] ") hdr }' "$dir/$name".*.log | sort | uniq -c | head -30
    tail -5 "$dir/$name.out" | sed 's/^/    /'
  fi
}

run_valgrind() {
  command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"
  say "valgrind build in $vg_build (RelWithDebInfo)"
  mkdir -p "$vg_build"
  cmake -S "$root" -B "$vg_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
    >"$vg_build/configure.log" 2>&1 || { cat "$vg_build/configure.log"; die "configure failed"; }
  cmake --build "$vg_build" -j "$jobs" --target nnmpi >"$vg_build/build.log" 2>&1 ||
    { tail -30 "$vg_build/build.log"; die "build failed"; }
  mkdir -p "$vg_build/valgrind"
  local ck=$vg_build/valgrind/ck.h5
  rm -f "$ck"
  say "valgrind: 2 ranks, 500 training and 200 test images (memcheck, leaks, origins)"
  vg_run train --data "$data" --train-size 500 --test-size 200 --epochs 1 --momentum 0.9 --checkpoint "$ck"
  [[ -f $ck ]] || { status=1; say "valgrind train: no checkpoint written"; return; }
  vg_run resume --data "$data" --train-size 500 --test-size 200 --epochs 2 --momentum 0.9 --checkpoint "$ck" --resume "$ck"
  # nnmpi's ring, overlapped with backward in two groups (layers 2+1, then 0)
  vg_run ring --data "$data" --train-size 500 --test-size 200 --epochs 1 --layers 784,64,256,10 \
    --allreduce ring --overlap on
}

t0=$SECONDS
for p in "${parts[@]}"; do
  case $p in
    asan) run_asan ;;
    valgrind) run_valgrind ;;
  esac
done
((status == 0)) && say "PASS ($((SECONDS - t0)) s)" || say "FAIL ($((SECONDS - t0)) s)"
exit "$status"
}

main "$@"; exit $?
