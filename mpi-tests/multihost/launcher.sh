#!/usr/bin/env bash
# mpi-tests/multihost/launcher.sh - stands in for ssh when mpirun starts its
# daemons on the namespace "hosts" of mpi-tests/lib/netns.sh:
#
#   mpirun --mca plm_rsh_agent .../launcher.sh --hostfile H ...
#
# mpirun calls it like ssh: "launcher.sh HOST COMMAND...", where COMMAND is
# meant for a remote shell (it carries its own quoting). The command runs in
# HOST's network namespace, with hostname HOST and HOST's hosts file.
set -u
[ $# -ge 2 ] || { echo "usage: $0 HOST COMMAND..." >&2; exit 255; }
host=$1; shift
# shellcheck source=../lib/netns.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/netns.sh"
[ -e "$(netns_path "$host")" ] || { echo "$0: no namespace for host $host" >&2; exit 255; }
# Like ssh: the words are joined and read by a shell on the other side.
netns_in "$host" /bin/sh -c "$*"
