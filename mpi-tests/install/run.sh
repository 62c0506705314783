#!/usr/bin/env bash
# mpi-tests/install/run.sh - the installed nnmpi as a module user meets it:
# `cmake --install` into a temporary prefix, then, in a clean shell (env -i,
# no profile or rc file) in another directory, the module system's init,
# `module use <prefix>/share/nnmpi/modulefiles`, `module load nnmpi`, and
# training with the installed binary and job scripts. docs/install.md.
#
#   mpi-tests/install/run.sh [BUILD_DIR [DATA]]
#     BUILD_DIR  a configured and built tree to install from (ctest passes its
#                own); default: a fresh Release build of this source with
#                -DBUILD_TESTING=OFF, in the work directory
#     DATA       MNIST IDX directory (default $NNMPI_TEST_DATA, else
#                <repo>/data/mnist)
#
# Checks, each printed as PASS or FAIL:
#   1. the install tree: bin/nnmpi, share/nnmpi/{README.md,LICENSE,docs/,
#      jobs/,data/,modulefiles/}, scripts executable, the modulefiles written
#      with this prefix; the binary's RUNPATH does not point into the build;
#   2. per module system found (Lmod, Environment Modules): module load puts
#      <prefix>/bin/nnmpi on PATH and sets NNMPI_ROOT; whatis and help say
#      what nnmpi is; nnmpi --version is project(VERSION);
#   3. mpiexec -n 2 nnmpi trains 500 samples for one epoch;
#   4. the installed data/fetch-mnist.sh verifies ./data/mnist against its
#      SHA256SUMS; the installed jobs/local.sh (NP=2) finds nnmpi next to it,
#      builds nothing, fetches into ./data/mnist and trains; a kill stops it
#      through the installed stop forwarding with exit 75 and a checkpoint;
#   5. the installed jobs/scaling.sh runs 1 and 2 ranks with that nnmpi.
# ./data/mnist holds links to DATA (nothing is downloaded). About 10 s.
# Exit status: 0 all passed, 1 a check failed, 77 skipped (neither Lmod nor
# Environment Modules installed: apt-get install lmod). The work directory is
# kept when a check failed.
# shellcheck disable=SC2016  # the scripts in single quotes expand in the clean shell
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
BUILD=${1:-}
DATA=${2:-${NNMPI_TEST_DATA:-$REPO/data/mnist}}
T0=$(date +%s)
MNIST=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
VERSION=$(sed -n 's/^project(nnmpi VERSION \([0-9.]*\).*/\1/p' "$REPO/CMakeLists.txt")

# shellcheck source=../lib/report.sh
. "$REPO/mpi-tests/lib/report.sh"
skip() { echo "SKIP: $*"; exit 77; }

# The module systems' bash init scripts: a loaded one's (LMOD_PKG, MODULESHOME),
# then Debian's Lmod and Environment Modules.
INITS=()
declare -A seen_init=()
for f in "${LMOD_PKG:+$LMOD_PKG/init/bash}" "${MODULESHOME:+$MODULESHOME/init/bash}" \
         /usr/share/lmod/lmod/init/bash /usr/share/modules/init/bash; do
    [ -n "$f" ] && [ -f "$f" ] || continue
    f=$(realpath "$f")
    [ -z "${seen_init[$f]:-}" ] || continue
    seen_init[$f]=1
    INITS+=("$f")
done
[ ${#INITS[@]} -gt 0 ] || skip "neither Lmod nor Environment Modules is installed (apt-get install lmod)"
MPIEXEC=$(command -v mpiexec || command -v mpirun) || { echo "FAIL: no mpiexec on PATH"; exit 1; }
for f in "${MNIST[@]}"; do
    [ -s "$DATA/$f" ] || { echo "FAIL: no $DATA/$f (data/fetch-mnist.sh)"; exit 1; }
done
DATA=$(cd "$DATA" && pwd -P)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnmpi-install-test.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)   # the scripts print physical paths
PREFIX=$WORK/prefix
RUNDIR=$WORK/elsewhere   # where the user works: neither the source nor the prefix
mkdir -p "$RUNDIR/data/mnist"
for f in "${MNIST[@]}"; do ln -s "$DATA/$f" "$RUNDIR/data/mnist/$f"; done
cleanup() {
    local rc=$?
    if [ "$N_FAIL" -eq 0 ] && [ "$rc" -eq 0 ]; then rm -rf "$WORK"
    else echo "== kept $WORK (logs in it)"; fi
    echo "== $(($(date +%s) - T0)) s in all"
}
trap cleanup EXIT
echo "== source $REPO, data $DATA, work dir $WORK"

# ---- 1. build (unless given) and install ----
if [ -z "$BUILD" ]; then
    BUILD=$WORK/build
    echo "== configuring and building a fresh tree in $BUILD"
    if ! { cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
           cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)"; } >"$WORK/build.log" 2>&1; then
        tail -30 "$WORK/build.log"
        fail "configure and build of $REPO (log: $WORK/build.log)"
        report_tally; exit 1
    fi
fi
BUILD=$(cd "$BUILD" && pwd -P)
if cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1; then
    pass "cmake --install $BUILD --prefix $PREFIX"
else
    cat "$WORK/install.log"
    fail "cmake --install $BUILD --prefix $PREFIX"
    report_tally; exit 1
fi

S=$PREFIX/share/nnmpi
missing=()
for f in bin/nnmpi share/nnmpi/README.md share/nnmpi/LICENSE share/nnmpi/docs/install.md \
         share/nnmpi/docs/cluster.md share/nnmpi/jobs/local.sh share/nnmpi/jobs/train.sbatch \
         share/nnmpi/jobs/scaling.sh share/nnmpi/jobs/scaling.sbatch share/nnmpi/jobs/lib/stop-forwarding.sh \
         share/nnmpi/jobs/scaling/report.py share/nnmpi/data/fetch-mnist.sh share/nnmpi/data/SHA256SUMS \
         "share/nnmpi/modulefiles/nnmpi/$VERSION" "share/nnmpi/modulefiles/nnmpi/$VERSION.lua"; do
    [ -f "$PREFIX/$f" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] && pass "the install tree has bin/nnmpi, the job scripts, fetch script, docs and modulefiles" ||
    fail "missing from $PREFIX: ${missing[*]}"
notx=()
for f in bin/nnmpi share/nnmpi/jobs/local.sh share/nnmpi/jobs/train.sbatch share/nnmpi/jobs/scaling.sh \
         share/nnmpi/jobs/scaling.sbatch share/nnmpi/data/fetch-mnist.sh; do
    [ -x "$PREFIX/$f" ] || notx+=("$f")
done
[ ${#notx[@]} -eq 0 ] && pass "the binary and scripts are executable" || fail "not executable: ${notx[*]}"
if grep -qF "[==[$PREFIX]==]" "$S/modulefiles/nnmpi/$VERSION.lua" &&
   grep -qF "{$PREFIX}" "$S/modulefiles/nnmpi/$VERSION" && head -1 "$S/modulefiles/nnmpi/$VERSION" | grep -q '^#%Module'; then
    pass "the modulefiles name the install prefix given to cmake --install"
else
    fail "the modulefiles do not name $PREFIX: $(grep -h 'root' "$S"/modulefiles/nnmpi/* | head -2)"
fi
# The RUNPATH may hold non-system library directories only (none on Debian),
# never the build or source tree.
runpath=$(readelf -d "$PREFIX/bin/nnmpi" 2>/dev/null | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
bad_rp=""
IFS=: read -r -a rp_dirs <<<"$runpath"
for d in "${rp_dirs[@]}"; do
    case $d in "$BUILD"* | "$REPO"*) bad_rp+=" $d" ;; esac
done
[ -z "$bad_rp" ] && pass "installed RUNPATH: ${runpath:-none (every library is in a system directory)}" ||
    fail "installed RUNPATH points into the build or source tree:$bad_rp"

# ---- 2. module load in a clean shell, in another directory ----
# in_module_shell INIT SCRIPT [ARG...]: bash with nothing of this environment
# but PATH to mpiexec, HOME, TMPDIR and Open MPI's and PMIx's settings; it
# sources INIT, loads nnmpi from the prefix's modulefiles, cd's to RUNDIR, and
# runs SCRIPT (ARGs as $1...). PATH holds no nnmpi until the module adds it.
PASS_ENV=()
while IFS= read -r v; do PASS_ENV+=("$v=${!v}"); done < <(compgen -e | grep -E '^(OMPI|PMIX)_' || true)
CLEAN_PATH=$(dirname "$MPIEXEC"):/usr/local/bin:/usr/bin:/bin
MPI_FLAGS=(--oversubscribe)
[ "$(id -u)" != 0 ] || MPI_FLAGS+=(--allow-run-as-root)
in_module_shell() {
    local init=$1 script=$2
    shift 2
    env -i HOME="$HOME" USER="$(id -un)" LOGNAME="$(id -un)" PATH="$CLEAN_PATH" LANG=C.UTF-8 \
        TMPDIR="${TMPDIR:-/tmp}" OPENBLAS_NUM_THREADS=1 "${PASS_ENV[@]}" \
        T_INIT="$init" T_PREFIX="$PREFIX" T_RUNDIR="$RUNDIR" T_DATA="$DATA" T_MPI_FLAGS="${MPI_FLAGS[*]}" \
        bash --noprofile --norc -c '
            . "$T_INIT" || exit 90
            module use "$T_PREFIX/share/nnmpi/modulefiles" || exit 91
            module load nnmpi || exit 92
            cd "$T_RUNDIR" || exit 93
            '"$script" _ "$@"
}
system_name() { case $1 in *lmod*) echo Lmod ;; *) echo "Environment Modules" ;; esac; }

for init in "${INITS[@]}"; do
    sys=$(system_name "$init")
    check "$sys ($init): module load nnmpi puts $PREFIX/bin/nnmpi on PATH and sets NNMPI_ROOT" \
        in_module_shell "$init" '
            [ "$(command -v nnmpi)" = "$T_PREFIX/bin/nnmpi" ] || { echo "nnmpi on PATH: $(command -v nnmpi)"; exit 1; }
            [ "$NNMPI_ROOT" = "$T_PREFIX" ] || { echo "NNMPI_ROOT=$NNMPI_ROOT"; exit 1; }'
    check "$sys: module whatis and module help say what nnmpi is" \
        in_module_shell "$init" '
            module whatis nnmpi 2>&1 | grep -q "data-parallel SGD trainer" || { module whatis nnmpi; exit 1; }
            module help nnmpi 2>&1 | grep -q "share/nnmpi/jobs/local.sh" || { module help nnmpi; exit 1; }'
    check "$sys: nnmpi --version says $VERSION" \
        in_module_shell "$init" 'v=$(nnmpi --version) && echo "$v" | head -1 | grep -q "^nnmpi $1" || { echo "$v"; exit 1; }' \
        "$VERSION"
done
INIT=${INITS[0]}
echo "== the runs below use $(system_name "$INIT")"

# ---- 3. a short training with the module's nnmpi ----
out=$WORK/train.out
in_module_shell "$INIT" 'mpiexec -n 2 $T_MPI_FLAGS nnmpi --data "$T_DATA" --train-size 500 --test-size 100 --epochs 1' \
    >"$out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '^Epoch 1: ' "$out" && grep -q '^Done: ' "$out"; then
    pass "mpiexec -n 2 nnmpi (from the module, in $RUNDIR) trains: $(grep '^Epoch 1: ' "$out" | cut -c1-40)"
else
    fail "mpiexec -n 2 nnmpi: exit $rc"; sed 's/^/      /' "$out" | tail -20
fi

# ---- 4. the installed fetch script and jobs/local.sh ----
nofetch=(NNMPI_MNIST_MIRRORS= NNMPI_NO_NPM=1)   # verify only; never download
out=$WORK/fetch.out
in_module_shell "$INIT" 'env "$@" "$NNMPI_ROOT/share/nnmpi/data/fetch-mnist.sh"' "${nofetch[@]}" >"$out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -qF "verified in $RUNDIR/data/mnist" "$out"; then
    pass "installed fetch-mnist.sh verifies ./data/mnist against its SHA256SUMS"
else
    fail "installed fetch-mnist.sh: exit $rc"; sed 's/^/      /' "$out"
fi

out=$WORK/local.out
in_module_shell "$INIT" 'env NP=2 "$@" "$NNMPI_ROOT/share/nnmpi/jobs/local.sh" --train-size 500 --test-size 100 --epochs 1' \
    "${nofetch[@]}" >"$out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "^local: .* -np 2 .*$PREFIX/bin/nnmpi --data $RUNDIR/data/mnist " "$out" &&
   grep -q '^Epoch 1: ' "$out" && ! grep -q -e '^setup-deps:' -e 'cmake' "$out"; then
    pass "installed jobs/local.sh (NP=2) runs $PREFIX/bin/nnmpi on ./data/mnist, builds nothing"
else
    fail "installed jobs/local.sh: exit $rc"; sed 's/^/      /' "$out" | tail -20
fi

# A kill while it trains: the clean shell writes its pid, then becomes
# local.sh (exec), which is to forward the stop to nnmpi.
out=$WORK/stop.out
in_module_shell "$INIT" 'echo $$ >local.pid; exec env NP=2 "$@" "$NNMPI_ROOT/share/nnmpi/jobs/local.sh" \
    --train-size 500 --test-size 100 --epochs 100000 --quiet --checkpoint stop.h5' "${nofetch[@]}" >"$out" 2>&1 &
job=$!
for _ in $(seq 300); do [ -s "$RUNDIR/stop.h5" ] && break; sleep 0.1; done # the epoch-0 checkpoint
sleep 1
kill -TERM "$(cat "$RUNDIR/local.pid" 2>/dev/null)" 2>/dev/null
rc=""
for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || { wait "$job"; rc=$?; break; }; sleep 0.1; done
if [ -z "$rc" ]; then
    fail "installed jobs/local.sh did not stop within 30 s of SIGTERM; killing it"
    for p in $(pgrep -f -- "$RUNDIR/stop.h5" || true); do kill -KILL "$p" 2>/dev/null; done
    wait "$job" 2>/dev/null
elif [ "$rc" = 75 ] && grep -q '^stop: asking nnmpi' "$out" && [ -s "$RUNDIR/stop.h5" ]; then
    pass "SIGTERM to the installed jobs/local.sh: nnmpi checkpoints and exits 75 (stop forwarding sourced from the install)"
else
    fail "SIGTERM to the installed jobs/local.sh: exit $rc, expected 75"; sed 's/^/      /' "$out" | tail -20
fi

# ---- 5. the installed jobs/scaling.sh ----
out=$WORK/scaling.out
in_module_shell "$INIT" '"$NNMPI_ROOT/share/nnmpi/jobs/scaling.sh" --ranks 1,2 --modes strong --repeats 1 --batch 20 \
    --oversubscribe --timeout 60 --out scaling -- --train-size 500 --test-size 100 --epochs 2' >"$out" 2>&1
rc=$?
csv=$RUNDIR/scaling/scaling.csv
ok_rows=$(grep -c ',ok,' "$csv" 2>/dev/null)
if [ "${ok_rows:-0}" = 2 ] && grep -q "^nnmpi: $PREFIX/bin/nnmpi " "$RUNDIR/scaling/meta.txt"; then
    pass "installed jobs/scaling.sh runs $PREFIX/bin/nnmpi at 1 and 2 ranks (exit $rc$([ $rc = 0 ] || echo ': no plot without gnuplot?'))"
else
    fail "installed jobs/scaling.sh: exit $rc, $ok_rows ok runs"; sed 's/^/      /' "$out" | tail -20
fi

report_tally
