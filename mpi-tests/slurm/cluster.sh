#!/usr/bin/env bash
# mpi-tests/slurm/cluster.sh - a real two-node Slurm cluster on this one
# machine, for tests. Each node is a network namespace (see ../lib/netns.sh);
# the file system is shared, as on a cluster with a shared home.
#
#   cluster.sh up       install the packages if missing, build the nodes,
#                       start munged, slurmctld and one slurmd per node
#   cluster.sh down     stop every daemon it started (by PID), remove the
#                       namespaces and the state directory
#   cluster.sh status   sinfo/squeue from inside the cluster
#   cluster.sh exec CMD run CMD as a client inside the cluster (first node),
#                       e.g. cluster.sh exec sbatch -N 2 jobs/train.sbatch
#
# Sourced, it defines the same as functions: slurm_cluster_up,
# slurm_cluster_down, slurm_client CMD... Needs root and "ip netns".
#
# Everything lives under $SLURM_TEST_STATE (default /run/nnmpi-slurm-test):
# slurm.conf (used through SLURM_CONF, /etc/slurm is not touched), a munge
# key and socket of its own (the system's munged, if any, is not touched),
# pid files, logs, spool and state directories. "up" first removes whatever
# an earlier run left there, so it can be run again after a crash.
#
# Nodes: snode1 (10.252.1.1, also runs slurmctld) and snode2 (10.252.1.2),
# each with 4 CPUs declared (2 real cores are shared, OverSubscribe is on),
# partition "debug", MpiDefault=pmix.

SLURM_TEST_STATE=${SLURM_TEST_STATE:-/run/nnmpi-slurm-test}
SLURM_TEST_NODES=(snode1 snode2)
SLURM_TEST_BRIDGE=sbr
SLURM_TEST_SUBNET=10.252.1
SLURM_TEST_CPUS=4

_slurm_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/netns.sh
. "$_slurm_here/../lib/netns.sh"

slurm_log() { printf '[cluster] %s\n' "$*" >&2; }

# True when PID is a live process (a zombie is dead: PID 1 here may not
# reap orphans, so kill -0 alone would wait on a zombie for ever).
_pid_alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _stop_pid PID NAME: TERM the process if its command line contains NAME,
# wait up to 10 s, then KILL.
_stop_pid() {
    local pid=$1 name=$2
    [ -n "$pid" ] && _pid_alive "$pid" || return 0
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do _pid_alive "$pid" || return 0; sleep 0.1; done
    slurm_log "$name ($pid) ignored SIGTERM, SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# _stop_pidfile FILE NAME: _stop_pid on the PID in FILE, then remove FILE.
_stop_pidfile() {
    [ -f "$1" ] || return 0
    _stop_pid "$(tr -dc '0-9' < "$1")" "$2"
    rm -f "$1"
}

_write_slurm_conf() {
    local s=$SLURM_TEST_STATE n k=0
    {
        cat <<EOF
# Written by mpi-tests/slurm/cluster.sh for tests; removed by "cluster.sh down".
ClusterName=nnmpi-test
SlurmctldHost=${SLURM_TEST_NODES[0]}($SLURM_TEST_SUBNET.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: a requeued job waits this long (default 120 s) before it
# may start again.
AuthInfo=socket=$s/munge/munge.socket,cred_expire=15
CredType=cred/munge
# No systemd and no delegated cgroups here: track processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Debian's Open MPI is built with PMIx, not with Slurm's PMI2.
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
# More CPUs are declared than the machine has: do not drain for "Low CPUs".
SlurmdParameters=config_overrides
# Jobs may requeue themselves (scontrol requeue) after a checkpoint.
JobRequeue=1
KillWait=10
MinJobAge=600
SlurmdTimeout=60
InactiveLimit=0
StateSaveLocation=$s/ctld
SlurmctldPidFile=$s/slurmctld.pid
SlurmctldLogFile=$s/slurmctld.log
SlurmctldDebug=info
# One of each per node: both nodes share this file system.
SlurmdPidFile=$s/slurmd-%n.pid
SlurmdSpoolDir=$s/spool-%n
SlurmdLogFile=$s/slurmd-%n.log
SlurmdDebug=info
# Per node, or the second node's pmix step fails on a shared directory
# ("spmix_appdir ... File exists").
TmpFS=$s/tmp-%n
EOF
        for n in "${SLURM_TEST_NODES[@]}"; do
            k=$((k + 1))
            echo "NodeName=$n NodeAddr=$SLURM_TEST_SUBNET.$k CPUs=$SLURM_TEST_CPUS RealMemory=2000 State=UNKNOWN"
        done
        echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4"
    } > "$s/slurm.conf"
}

# slurm_client CMD...: runs a Slurm client command inside the cluster.
slurm_client() {
    SLURM_CONF=$SLURM_TEST_STATE/slurm.conf \
        nsenter --net="$(netns_path "${SLURM_TEST_NODES[0]}")" "$@"
}

# Installs what is missing (Debian only).
_slurm_install() {
    local missing=() c
    for c in slurmctld slurmd sbatch munged; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    # srun --mpi=pmix needs libpmix2 when slurmd starts, or steps hang.
    [ -e /usr/lib/x86_64-linux-gnu/libpmix.so.2 ] || \
        ls /usr/lib/*/libpmix.so.2 >/dev/null 2>&1 || missing+=(libpmix2)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || {
        slurm_log "missing ${missing[*]} and no apt-get"; return 1; }
    slurm_log "installing slurmctld slurmd slurm-client munge libpmix2 (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq slurmctld slurmd slurm-client munge libpmix2 >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 &&
             apt-get install -y -qq slurmctld slurmd slurm-client munge libpmix2 >/dev/null 2>&1; } \
        || { slurm_log "apt-get install failed"; return 1; }
}

slurm_cluster_down() {
    local s=$SLURM_TEST_STATE n
    for n in "${SLURM_TEST_NODES[@]}"; do
        _stop_pidfile "$s/slurmd-$n.pid" slurmd
    done
    _stop_pidfile "$s/slurmctld.pid" slurmctld
    # Job steps (slurmstepd, srun, ranks) still in the nodes die here.
    netns_down "$SLURM_TEST_BRIDGE" "${SLURM_TEST_NODES[@]}"
    _stop_pidfile "$s/munge/munged.pid" munged
    # A munged of an earlier run whose pid file is gone: found by its own
    # socket path in its command line, stopped by PID.
    local p
    for p in $(grep -l -a -F -- "--socket=$s/munge/munge.socket" /proc/[0-9]*/cmdline 2>/dev/null \
               | sed 's|/proc/\([0-9]*\)/cmdline|\1|'); do
        _stop_pid "$p" munged
    done
    case $s in
        /run/*|/tmp/*|/var/tmp/*) rm -rf "$s" ;;
        *) slurm_log "not removing $s (not under /run or /tmp)" ;;
    esac
    return 0
}

slurm_cluster_up() {
    local s=$SLURM_TEST_STATE n states ok
    _slurm_install || return 1
    slurm_cluster_down           # leftovers of an earlier run, if any
    mkdir -p "$s/munge" "$s/ctld" && chmod 755 "$s" "$s/munge" || return 1
    for n in "${SLURM_TEST_NODES[@]}"; do
        mkdir -p "$s/spool-$n" "$s/tmp-$n" || return 1
    done
    netns_up "$SLURM_TEST_BRIDGE" "$SLURM_TEST_SUBNET" "${SLURM_TEST_NODES[@]}" \
        || { slurm_log "building the namespaces failed"; return 1; }
    netns_wait_reachable "$SLURM_TEST_SUBNET" "${SLURM_TEST_NODES[@]}" || return 1

    # A munge key and daemon of our own; one munged serves every namespace
    # (its socket is a file).
    (umask 077; head -c 1024 /dev/urandom > "$s/munge/munge.key")
    munged --key-file="$s/munge/munge.key" --socket="$s/munge/munge.socket" \
        --pid-file="$s/munge/munged.pid" --log-file="$s/munge/munged.log" \
        --seed-file="$s/munge/munged.seed" \
        || { slurm_log "munged failed: $(tail -3 "$s/munge/munged.log" 2>/dev/null)"; return 1; }

    _write_slurm_conf
    export SLURM_CONF=$s/slurm.conf
    # -c: start without old state (no jobs of an earlier run come back).
    netns_in "${SLURM_TEST_NODES[0]}" slurmctld -c \
        || { slurm_log "slurmctld failed: $(tail -5 "$s/slurmctld.log" 2>/dev/null)"; return 1; }
    for n in "${SLURM_TEST_NODES[@]}"; do
        netns_in "$n" slurmd -N "$n" \
            || { slurm_log "slurmd $n failed: $(tail -5 "$s/slurmd-$n.log" 2>/dev/null)"; return 1; }
    done
    for _ in $(seq 150); do
        states=$(slurm_client sinfo -h -N -o '%N=%T' 2>/dev/null | sort -u | tr '\n' ' ')
        ok=1
        for n in "${SLURM_TEST_NODES[@]}"; do
            case " $states" in *" $n=idle "*) ;; *) ok=0 ;; esac
        done
        [ "$ok" = 1 ] && { slurm_log "nodes up: $states"; return 0; }
        sleep 0.2
    done
    slurm_log "nodes not idle after 30 s: $states"
    slurm_log "slurmctld.log: $(tail -5 "$s/slurmctld.log" 2>/dev/null)"
    return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    case ${1:-} in
        up)
            if reason=$(netns_skip_reason); then echo "cannot run: $reason" >&2; exit 77; fi
            slurm_cluster_up ;;
        down) slurm_cluster_down ;;
        status) slurm_client sinfo -N -l; slurm_client squeue ;;
        exec) shift; slurm_client "$@" ;;
        *) echo "usage: $0 up|down|status|exec CMD..." >&2; exit 2 ;;
    esac
fi
