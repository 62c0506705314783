# report.sh: PASS/FAIL lines and their tally, for the shell tests (sourced by
# mpi-tests/e2e/lib.sh, mpi-tests/slurm/run.sh, mpi-tests/multihost/run.sh).
N_PASS=0 N_FAIL=0
pass() { N_PASS=$((N_PASS + 1)); echo "PASS: $*"; }
fail() { N_FAIL=$((N_FAIL + 1)); echo "FAIL: $*"; }
# check NAME CMD...: PASS when CMD succeeds; its output is shown indented.
check() {
    local name=$1 out; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name"; fi
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /'
}
# report_tally: prints the counts; succeeds when nothing failed.
report_tally() {
    echo "$N_PASS passed, $N_FAIL failed"
    [ "$N_FAIL" -eq 0 ]
}
