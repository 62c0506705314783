# shellcheck shell=bash
# mpi-tests/lib/netns.sh - several "hosts" on one machine, made of network
# namespaces. Sourced by mpi-tests/slurm/run.sh and mpi-tests/multihost/run.sh.
#
# Layout built by netns_up BRIDGE_NS SUBNET NODE...:
#
#   namespace BRIDGE_NS: bridge "br0" with one port per node
#   namespace nnmpi-<node>: "lo" and "eth0" (veth, peer is a port of br0),
#                           address SUBNET.<k> (k = 1, 2, ...) in SUBNET.0/24
#   /etc/netns/nnmpi-<node>/hosts: every node's name and address
#
# The host's own network gets no new link and no new address; the /24 exists
# only inside these namespaces. Every namespace name starts with "nnmpi-", so
# netns_down can remove leftovers of an earlier run without touching anything
# else.
#
# Functions (all return non-zero on failure, none exits):
#   netns_skip_reason          prints why this machine cannot run the tests
#   netns_up BR SUBNET NODE... builds the namespaces (removes leftovers first)
#   netns_down BR NODE...      kills every process in them, deletes them
#   netns_wait_reachable SUBNET N   waits until node 1 reaches nodes 2..N
#   netns_path NODE            /run/netns/nnmpi-NODE (for nsenter --net=)
#   netns_in NODE CMD...       runs CMD in NODE's network + own UTS namespace,
#                              with hostname NODE and NODE's hosts file.

NETNS_PREFIX=nnmpi-

netns_log() { printf '[netns] %s\n' "$*" >&2; }

# Prints a reason and returns 0 when these tests cannot run here.
netns_skip_reason() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "needs root (network namespaces, daemons)"; return 0
    fi
    if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
        echo "'ip netns' is not available"; return 0
    fi
    local n
    for n in nsenter unshare; do
        if ! command -v "$n" >/dev/null 2>&1; then
            echo "'$n' is not available"; return 0
        fi
    done
    # Creating a namespace needs CAP_SYS_ADMIN; a container may refuse it.
    if ! unshare --net --uts --mount true 2>/dev/null; then
        echo "cannot create namespaces here (unshare --net --uts --mount failed)"
        return 0
    fi
    return 1
}

netns_path() { echo "/run/netns/${NETNS_PREFIX}$1"; }

# Runs "$@" inside NODE: its network namespace (nsenter, which, unlike
# "ip netns exec", leaves /sys and the cgroup mounts alone), a UTS namespace
# of its own with hostname NODE, and a private mount namespace in which
# /etc/hosts is NODE's hosts file. Daemons started this way stay in there.
netns_in() {
    local node=$1; shift
    local hosts=/etc/netns/${NETNS_PREFIX}${node}/hosts
    nsenter --net="$(netns_path "$node")" \
        unshare --uts --mount --propagation private \
        /bin/sh -c 'hostname "$1" && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"' \
        netns-in "$node" "$hosts" "$@"
}

# Kills every process in namespace NS (TERM, then KILL after 5 s) by PID.
netns_kill_all_() {
    local ns=$1 pids
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    netns_log "stopping processes left in $ns: $pids"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        [ -n "${pids// /}" ] || return 0
        sleep 0.1
    done
    netns_log "still alive in $ns after 5 s, SIGKILL: $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
}

# netns_down BRIDGE_NS NODE... : idempotent; fine when nothing exists.
netns_down() {
    local br=$1; shift
    local node ns
    for node in "$@"; do
        ns=${NETNS_PREFIX}${node}
        if [ -e "/run/netns/$ns" ]; then
            netns_kill_all_ "$ns"
            ip netns del "$ns" 2>/dev/null || netns_log "could not delete $ns"
        fi
        rm -rf "/etc/netns/$ns"
    done
    ns=${NETNS_PREFIX}${br}
    if [ -e "/run/netns/$ns" ]; then
        netns_kill_all_ "$ns"
        ip netns del "$ns" 2>/dev/null || netns_log "could not delete $ns"
    fi
    rmdir /etc/netns 2>/dev/null || true    # only when nothing else is in it
    return 0
}

# netns_up BRIDGE_NS SUBNET NODE... (SUBNET like 10.252.1: a /24 prefix)
netns_up() {
    local br=$1 subnet=$2; shift 2
    local brns=${NETNS_PREFIX}${br} node ns k=0
    netns_down "$br" "$@"
    ip netns add "$brns" || return 1
    ip -n "$brns" link set lo up || return 1
    ip -n "$brns" link add br0 type bridge || return 1
    ip -n "$brns" link set br0 up || return 1
    for node in "$@"; do
        k=$((k + 1))
        ns=${NETNS_PREFIX}${node}
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up || return 1
        # The veth is created in the bridge namespace and its peer moved
        # straight into the node namespace: nothing appears on the host.
        ip -n "$brns" link add "p$k" type veth peer name eth0 netns "$ns" \
            || return 1
        ip -n "$brns" link set "p$k" master br0 || return 1
        ip -n "$brns" link set "p$k" up || return 1
        ip -n "$ns" addr add "$subnet.$k/24" dev eth0 || return 1
        ip -n "$ns" link set eth0 up || return 1
    done
    # One hosts file per namespace: localhost plus every node.
    local hosts
    hosts=$(printf '127.0.0.1\tlocalhost\n'; k=0
            for node in "$@"; do k=$((k + 1)); printf '%s.%d\t%s\n' "$subnet" "$k" "$node"; done)
    for node in "$@"; do
        mkdir -p "/etc/netns/${NETNS_PREFIX}${node}"
        printf '%s\n' "$hosts" > "/etc/netns/${NETNS_PREFIX}${node}/hosts"
    done
    return 0
}

# netns_wait_reachable SUBNET NODE... : from the first node, a TCP connect to
# every other node's address must get an answer (refused is an answer: there
# is no ping here). Retries for up to 10 s.
netns_wait_reachable() {
    local subnet=$1 first=$2; shift 2
    local k=1 node ok out
    for node in "$@"; do
        k=$((k + 1)); ok=0
        for _ in $(seq 50); do
            out=$(timeout 2 nsenter --net="$(netns_path "$first")" /bin/bash -c \
                "exec 3<>/dev/tcp/$subnet.$k/9" 2>&1) && { ok=1; break; }
            # "Connection refused" means the host answered: reachable.
            case $out in *refused*) ok=1; break ;; esac
            sleep 0.2
        done
        [ "$ok" = 1 ] || { netns_log "$node ($subnet.$k) unreachable from $first"; return 1; }
    done
    return 0
}
