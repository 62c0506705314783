#!/usr/bin/env bash
# run.sh: build the libFuzzer harnesses with clang and run each for a bounded
# time, one after the other, each on one core. Exits non-zero on any finding in
# nnmpi's code (crash, sanitizer report, leak, timeout, out-of-memory, or a
# broken contract check in a harness).
#
# Usage: mpi-tests/fuzz/run.sh [SECONDS]      seconds per harness (default 60)
#        mpi-tests/fuzz/run.sh --seeds        (re)write corpus/ with gen_seeds, then stop
#
# Harnesses (mpi-tests/fuzz/, details in docs/reliability.md "Fuzzing"):
#   idx                 idx_parse_images + idx_parse_labels on the raw bytes (plain or gzip)
#   checkpoint_fields   the bytes choose a checkpoint's contents; the harness
#                       writes that well-formed HDF5 file, checkpoint_read reads it
#   checkpoint_raw      the bytes are the HDF5 file image. HDF5 1.10 crashes on
#                       malformed files by itself, so this one runs in a loop that
#                       restarts after each finding; triage.py sorts the
#                       findings by owner (nnmpi's or libhdf5's) and any of
#                       them fails the run (NNMPI_FUZZ_STRICT=0: libhdf5's are
#                       listed but pass, for exploring format-1 files, on which
#                       HDF5 1.10 crashes by itself). One known HDF5 leak is
#                       suppressed for this harness: lsan-raw.supp says why.
# Before fuzzing, each harness runs the inputs in regress/<harness>/ once:
# inputs that found a bug in nnmpi, kept so that it stays fixed.
# Env:
#   NNMPI_FUZZ_BUILD_DIR  build and work directory (default <repo>/build-fuzz):
#                         binaries, the growing corpora corpus-<name>/, the
#                         findings artifacts-<name>/ and logs logs-<name>/
#   NNMPI_FUZZ_SECONDS    seconds per harness, when no argument is given
#   NNMPI_FUZZ_ONLY       a subset, e.g. "idx checkpoint_fields"
#   NNMPI_FUZZ_RSS_MB     -rss_limit_mb (default 2048); -malloc_limit_mb is half
#   NNMPI_FUZZ_STRICT=0   HDF5's findings in checkpoint_raw are listed, not failed
#   NNMPI_FUZZ_SRC        directory of nnmpi's sources (default <repo>/src), to
#                         fuzz a proposed patch without touching the tree
#   NNMPI_FUZZ_CORPUS     seed directory with idx/ and checkpoint/ (default
#                         mpi-tests/fuzz/corpus; --seeds writes there)
#   CC                    a clang with libFuzzer (default clang)
set -euo pipefail

# The whole script is one function, read in full before it runs, so editing
# this file cannot disturb a run in progress.
main() {

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)
build=$(realpath -m -- "${NNMPI_FUZZ_BUILD_DIR:-$root/build-fuzz}")
src=$(realpath -m -- "${NNMPI_FUZZ_SRC:-$root/src}")
seeds=$(realpath -m -- "${NNMPI_FUZZ_CORPUS:-$here/corpus}")
cc=${CC:-clang}
rss=${NNMPI_FUZZ_RSS_MB:-2048}
only=${NNMPI_FUZZ_ONLY:-idx checkpoint_fields checkpoint_raw}

say() { printf 'fuzz: %s\n' "$*"; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 2; }

seeds_only=0
seconds=${NNMPI_FUZZ_SECONDS:-60}
case ${1:-} in
  --seeds) seeds_only=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) [[ $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || die "SECONDS must be a positive integer, not '$1'"; seconds=$1 ;;
esac

# ---------- build ----------
command -v "$cc" >/dev/null || die "$cc not found (apt-get install clang libclang-rt-14-dev)"
command -v mpicc >/dev/null || die "mpicc not found (apt-get install libopenmpi-dev)"
mkdir -p "$build"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$build/probe.c"
"$cc" -fsanitize=fuzzer,address,undefined "$build/probe.c" -o "$build/probe" 2>"$build/probe.log" ||
  die "$cc cannot build libFuzzer targets (apt-get install libclang-rt-14-dev): $(head -3 "$build/probe.log")"

hdf5_cflags=$(pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
hdf5_libs=$(pkg-config --libs hdf5 2>/dev/null || echo -lhdf5_serial)
read -r -a mpi_cflags <<<"$(mpicc --showme:compile)"
read -r -a mpi_libs <<<"$(mpicc --showme:link)"
read -r -a h5c <<<"$hdf5_cflags"
read -r -a h5l <<<"$hdf5_libs"
# The library's own flags (CMakeLists.txt) plus libFuzzer and the sanitizers;
# -O1 -g as libFuzzer recommends; UBSan findings are fatal.
# nn_version.h as CMake generates it (include/nn_version.h.in), from project(VERSION)
version=$(sed -n 's/^project(nnmpi VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[[ -n $version ]] || die "cannot read project(VERSION) from $root/CMakeLists.txt"
mkdir -p "$build/generated"
sed -e "s/@PROJECT_VERSION@/$version/" -e "s/@NNMPI_GIT_DESCRIBE@//" "$root/include/nn_version.h.in" >"$build/generated/nn_version.h"
common=(-std=gnu11 -g -O1 -Wall -Wextra -ffp-contract=off -fno-omit-frame-pointer -I"$root/include"
        -I"$build/generated" "${mpi_cflags[@]}" "${h5c[@]}")
fuzz=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
libs=("${mpi_libs[@]}" "${h5l[@]}" -lz -lm)
ck_src=("$src/checkpoint.c" "$src/outfile.c" "$src/model.c" "$src/schedule.c" "$src/check.c")

say "building in $build ($($cc --version | head -1))"
"$cc" "${common[@]}" "${fuzz[@]}" "$here/fuzz_idx.c" "$src/idx.c" "$src/synth.c" "$src/check.c" -o "$build/fuzz_idx" "${libs[@]}"
"$cc" "${common[@]}" "${fuzz[@]}" "$here/fuzz_checkpoint.c" "${ck_src[@]}" -o "$build/fuzz_checkpoint_raw" "${libs[@]}"
"$cc" "${common[@]}" "${fuzz[@]}" -DFUZZ_FIELDS "$here/fuzz_checkpoint.c" "${ck_src[@]}" \
  -o "$build/fuzz_checkpoint_fields" "${libs[@]}"
"$cc" "${common[@]}" -fsanitize=address,undefined "$here/gen_seeds.c" "$src/idx.c" "$src/synth.c" "${ck_src[@]}" \
  -o "$build/gen_seeds" "${libs[@]}"

if ((seeds_only)); then
  # gen_seeds overwrites its own files and leaves others (e.g. a checkpoint
  # kept from an older nnmpi, to fuzz the reading of old files) alone.
  mkdir -p "$seeds/idx" "$seeds/checkpoint"
  "$build/gen_seeds" "$seeds/idx" "$seeds/checkpoint"
  say "seeds written to $seeds"
  exit 0
fi

# ---------- run ----------
# Sanitizer settings for every run: leaks are findings; a smaller quarantine
# keeps HDF5's large transient buffers from tripping the RSS limit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64:malloc_context_size=30:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
limits=(-rss_limit_mb="$rss" -malloc_limit_mb=$((rss / 2)) -print_final_stats=1)

declare -A execs runs_s found hdf5_found regress_failed
status=0

# Executions reported by a libFuzzer log (final stats, else the last status line).
count_execs() {
  local n
  n=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$1" | tail -1 | grep -o '[0-9]*$' || true)
  [[ -n $n ]] || n=$(grep -o '^#[0-9]*' "$1" | tail -1 | tr -d '#' || true)
  echo "${n:-0}"
}

# stalled_ LOG BIN TIMEOUT: 0 when LOG ended on a timeout whose input runs
# well inside TIMEOUT when replayed: the process was stopped or starved from
# outside (seen on shared machines: SIGSTOP for seconds to minutes), it did
# not hang. Such a run is reported and restarted, not counted as a finding.
stalled_() {
  local unit
  grep -q 'ERROR: libFuzzer: timeout' "$1" || return 1
  unit=$(grep -o 'Test unit written to [^ ]*' "$1" | tail -1 | awk '{print $NF}' || true)
  [[ -n $unit && -f $unit ]] || return 1
  "$2" "${limits[@]}" -timeout="$3" "$unit" >"$1.replay" 2>&1
}

# run_regressions NAME: each input in regress/NAME/ once (inputs that found a
# bug in nnmpi once, kept so it stays fixed); a finding in nnmpi fails.
run_regressions() {
  local name=$1 bin=$build/fuzz_$1 log=$build/logs-$1 f rc
  mkdir -p "$log"
  for f in "$here/regress/$name"/*; do
    [[ -f $f ]] || continue
    rc=0
    "$bin" "${limits[@]}" -timeout=10 "$f" >"$log/regress.log" 2>&1 || rc=$?
    if ((rc != 0)) && ! python3 "$here/triage.py" --root "$root" "$log/regress.log" >"$log/regress-triage.txt"; then
      status=1
      regress_failed[$name]=$((${regress_failed[$name]:-0} + 1))
      say "$name: REGRESSION $(basename "$f"): $(awk '{print $1, $2, $3}' "$log/regress-triage.txt")"
    fi
  done
}

# run_plain NAME MAX_LEN TIMEOUT LEAKS CORPUS...: one run; any finding fails.
# LEAKS is libFuzzer's -detect_leaks (after each input); LeakSanitizer also
# runs when the process exits in any case.
run_plain() {
  local name=$1 max_len=$2 tmo=$3 leaks=$4; shift 4
  local bin=$build/fuzz_$name work=$build/corpus-$name art=$build/artifacts-$name/ log=$build/logs-$name
  mkdir -p "$work" "$art" "$log"
  say "$name: ${seconds}s"
  local t0=$SECONDS rc left total=0
  while left=$((seconds - (SECONDS - t0))); ((left > 0)); do
    rc=0
    "$bin" "${limits[@]}" -detect_leaks="$leaks" -max_len="$max_len" -timeout="$tmo" -max_total_time="$left" \
      -artifact_prefix="$art" "$work" "$@" >"$log/run.log" 2>&1 || rc=$?
    total=$((total + $(count_execs "$log/run.log")))
    ((rc != 0)) && stalled_ "$log/run.log" "$bin" "$tmo" || break
    say "$name: a timeout whose input replays in time (stopped from outside, not a hang); going on"
  done
  runs_s[$name]=$((SECONDS - t0))
  execs[$name]=$total
  found[$name]=0 hdf5_found[$name]=0
  if ((rc != 0)) && grep -q 'libFuzzer: run interrupted' "$log/run.log"; then
    say "$name: interrupted by a signal"
    status=1
  elif ((rc != 0)); then
    found[$name]=1
    status=1
    say "$name: FINDING (exit $rc); the report:"
    grep -E 'ERROR|runtime error|contract broken|refused|leaked|SUMMARY|^    #[0-9]+ .*(/src/|/fuzz/|libhdf5)|Test unit written' \
      "$log/run.log" | head -40 | sed 's/^/    /'
    python3 "$here/triage.py" --root "$root" "$log/run.log" | sed 's/^/    triage: /' || true
  fi
}

# run_loop NAME MAX_LEN TIMEOUT LEAKS CORPUS...: runs until the time is used,
# restarting after each finding; triage.py decides whose each finding is.
run_loop() {
  local name=$1 max_len=$2 tmo=$3 leaks=$4; shift 4
  local bin=$build/fuzz_$name work=$build/corpus-$name art=$build/artifacts-$name/ log=$build/logs-$name
  mkdir -p "$work" "$art" "$log"
  rm -f "$log"/run-*.log "$log"/triage-*.txt
  say "$name: ${seconds}s (restarting after each finding)"
  local t0=$SECONDS i=0 total=0 ours=0 theirs=0 rc left unit
  while left=$((seconds - (SECONDS - t0))); ((left > 0)); do
    i=$((i + 1))
    rc=0
    "$bin" "${limits[@]}" -detect_leaks="$leaks" -max_len="$max_len" -timeout="$tmo" -max_total_time="$left" \
      -artifact_prefix="$art" "$work" "$@" >"$log/run-$i.log" 2>&1 || rc=$?
    total=$((total + $(count_execs "$log/run-$i.log")))
    ((rc != 0)) || break
    if grep -q 'libFuzzer: run interrupted' "$log/run-$i.log"; then
      say "$name: interrupted by a signal"
      status=1
      break
    fi
    # An input already in the corpus can crash when replayed at the next start
    # (HDF5 keeps state, e.g. cached conversion paths, from earlier inputs):
    # drop it from the corpus (libFuzzer names both by the input's SHA-1), or
    # every restart would end on it.
    unit=$(grep -o 'Test unit written to [^ ]*' "$log/run-$i.log" | tail -1 | awk '{print $NF}' || true)
    [[ -z $unit ]] || rm -f "$work/${unit##*-}"
    if stalled_ "$log/run-$i.log" "$bin" "$tmo"; then
      say "$name: a timeout whose input replays in time (stopped from outside, not a hang); going on"
    elif python3 "$here/triage.py" --root "$root" --binary "$bin" "$log/run-$i.log" >"$log/triage-$i.txt"; then
      theirs=$((theirs + 1))
    else
      ours=$((ours + 1))
      say "$name: FINDING in nnmpi: $(cat "$log/triage-$i.txt")"
      grep -E 'ERROR|runtime error|contract broken|SUMMARY|^    #[0-9]+ ' "$log/run-$i.log" | head -30 | sed 's/^/    /'
    fi
    ((i < 2000)) || break
  done
  runs_s[$name]=$((SECONDS - t0))
  execs[$name]=$total
  found[$name]=$ours hdf5_found[$name]=$theirs
  ((ours == 0)) || status=1
  if ((theirs > 0)); then
    say "$name: $theirs finding(s) inside libhdf5 on malformed files (not nnmpi's code), by kind and place:"
    cat "$log"/triage-*.txt | awk '$1 == "hdf5" { print "    " $2 " in " $3 }' | sort | uniq -c | sort -rn
    [[ ${NNMPI_FUZZ_STRICT:-1} == 0 ]] || status=1
  fi
}

lsan_base=${LSAN_OPTIONS:-}
for h in $only; do
  # lsan-raw.supp: HDF5 1.10.8 leaks an object header that fails its checksum;
  # that suppression is for the raw harness only (the file says why).
  export LSAN_OPTIONS=$lsan_base
  [[ $h != checkpoint_raw ]] || LSAN_OPTIONS=suppressions=$here/lsan-raw.supp${lsan_base:+:$lsan_base}
  run_regressions "$h"
  case $h in
    idx) run_plain idx 4096 5 1 "$seeds/idx" ;;
    # HDF5 keeps a conversion path per file for vlen strings (a table that only
    # grows), so nearly every input "allocates more than it frees" and a leak
    # scan after each input would cost 7x: leaks are checked at exit instead.
    checkpoint_fields) run_plain checkpoint_fields 1024 10 0 ;;
    # Leaks are checked at exit, as for the fields harness. -timeout=2: an
    # input takes ~10 ms; HDF5's endless loops on cyclic structures (format 1)
    # would otherwise eat 5 s of the budget each.
    checkpoint_raw) run_loop checkpoint_raw 32768 2 0 "$seeds/checkpoint" ;;
    *) die "unknown harness '$h' (idx, checkpoint_fields, checkpoint_raw)" ;;
  esac
done

say "summary (executions in seconds; findings in nnmpi / inside libhdf5):"
for h in $only; do
  e=${execs[$h]} s=${runs_s[$h]}
  printf 'fuzz:   %-18s %10s execs in %4ss (%s/s)   findings: %s nnmpi, %s hdf5; regressions failed: %s\n' \
    "$h" "$e" "$s" "$((s > 0 ? e / s : e))" "${found[$h]}" "${hdf5_found[$h]}" "${regress_failed[$h]:-0}"
done
((status == 0)) && say "PASS" || say "FAIL: see the logs in $build/logs-*"
exit "$status"
}

main "$@"; exit $?
