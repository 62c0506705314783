# stop-forwarding.sh: sourced by jobs/local.sh (and signal_test.sh).
#
# run_forwarding_stops LAUNCHER [ARG...]: runs the launcher (mpirun, srun) in a
# session of its own, so that Ctrl-C, kill or a closed terminal reach this
# script and not the launcher directly. mpirun would pass SIGINT, SIGTERM and
# SIGHUP on to the ranks as SIGTERM and SIGKILL them a second later
# (odls_base_sigkill_timeout), too soon to write a large checkpoint, and then
# exit 1; SIGUSR1 it hands to every rank at once and otherwise leaves alone.
# So the first such signal becomes SIGUSR1 to the launcher: nnmpi finishes its
# step, writes its checkpoint and exits 75. A second one becomes SIGTERM: the
# launcher ends the job at once. Returns the launcher's exit status.
run_forwarding_stops() {
    setsid "$@" &
    _stop_pid=$! _stops=0
    trap '_stop_forward' INT TERM HUP
    local status
    while :; do
        wait "$_stop_pid"
        status=$?
        kill -0 "$_stop_pid" 2>/dev/null || break # a trapped signal only interrupted the wait
    done
    wait "$_stop_pid" 2>/dev/null
    status=$? # the launcher's own status, also when it ended just after an interrupted wait
    trap - INT TERM HUP
    return "$status"
}

_stop_forward() {
    _stops=$((_stops + 1))
    if ((_stops == 1)); then
        echo "stop: asking nnmpi to finish its step, write its checkpoint and stop (once more to kill it)" >&2
        kill -USR1 "$_stop_pid" 2>/dev/null || true
    else
        echo "stop: killing the job" >&2
        kill -TERM "$_stop_pid" 2>/dev/null || true
    fi
}
