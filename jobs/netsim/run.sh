#!/usr/bin/env bash
# jobs/netsim/run.sh - data parallelism across an emulated cluster network.
#
# Two "nodes" made of network namespaces on this machine (mpi-tests/lib/netns.sh),
# their veth links shaped to the bandwidth of an interconnect with tc's tbf
# qdisc (this kernel has no netem, so no latency can be added: the veth TCP
# path's own latency is the smallest case, close to commodity Ethernet's).
# For each bandwidth it measures
#   1. MPI_Allreduce between the 2 nodes (jobs/bench/allreduce_ceiling.c) at
#      sizes from 4 B to the large net's 7.5 MB, for a latency-bandwidth
#      (alpha-beta) fit;
#   2. the large net (784-1024-1024-10) trained by 2 nodes x 1 rank, with the
#      overlapped reduction off and on (epoch, compute and reduction times,
#      the hidden fraction);
# and once, the per-rank compute of one rank at the per-rank batch. Then
# jobs/netsim/model.py fits alpha and beta, predicts the 2-node epochs and
# compares them with the measured ones, and predicts N nodes x R ranks.
# A documented study, not a CI test: about 5 minutes, root only.
#
#   jobs/netsim/run.sh [--nnmpi PATH] [--data DIR] [--out DIR] [--rates "unshaped 4000mbit 2000mbit 1000mbit"]
#                      [--train-size N] [--epochs E] [--batch B] [--allreduce METHOD]
# --allreduce passes a method to the training runs (default: nnmpi's auto, which is
# mpi with one rank per node; shm: its parts' sums across nodes, overlapped or not).
# Output: OUT/ceiling.RATE.jsonl, OUT/train.RATE.{off,on}.jsonl,
#         OUT/compute.jsonl, OUT/model.txt (the table of docs/scaling.md).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NNMPI=$REPO/build/nnmpi
DATA=$REPO/data/mnist
OUT=$REPO/jobs/netsim/results/$(date -u +%Y%m%dT%H%M%SZ)
RATES="unshaped 4000mbit 2000mbit 1000mbit"
TRAIN_SIZE=12000 EPOCHS=2 BATCH=64 ALLREDUCE=auto
while [ $# -gt 0 ]; do
    case $1 in
    --nnmpi) NNMPI=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --train-size) TRAIN_SIZE=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --allreduce) ALLREDUCE=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
# shellcheck source=../../mpi-tests/lib/netns.sh
. "$REPO/mpi-tests/lib/netns.sh"
if reason=$(netns_skip_reason); then echo "run.sh: cannot build the emulated nodes: $reason" >&2; exit 1; fi
command -v tc >/dev/null || { echo "run.sh: needs tc (apt-get install iproute2)" >&2; exit 1; }
[ -x "$NNMPI" ] || { echo "run.sh: no nnmpi binary at $NNMPI (--nnmpi PATH)" >&2; exit 1; }
[ -s "$DATA/train-images-idx3-ubyte" ] || { echo "run.sh: no MNIST in $DATA (data/fetch-mnist.sh)" >&2; exit 1; }
NNMPI=$(cd "$(dirname "$NNMPI")" && pwd)/$(basename "$NNMPI")
DATA=$(cd "$DATA" && pwd)
mkdir -p "$OUT/bin"
mpicc -O2 -o "$OUT/bin/allreduce_ceiling" "$REPO/jobs/bench/allreduce_ceiling.c"

NODES=(simnode1 simnode2)
BRIDGE=simbr
cleanup() { netns_down "$BRIDGE" "${NODES[@]}"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
netns_up "$BRIDGE" 10.252.7 "${NODES[@]}" && netns_wait_reachable 10.252.7 "${NODES[@]}" ||
    { echo "run.sh: building the namespaces failed" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
printf '%s slots=1\n' "${NODES[@]}" > "$OUT/hostfile"
# shellcheck disable=SC2054
MPI=(--mca plm_rsh_agent "$REPO/mpi-tests/multihost/launcher.sh" --hostfile "$OUT/hostfile" -np 2
     --map-by node --mca btl tcp,self,vader --bind-to none --mca mpi_yield_when_idle 1)
LARGE=(--data "$DATA" --layers 784,1024,1024,10 --activation relu --loss xent --lr 0.05 --momentum 0.9
       --train-size "$TRAIN_SIZE" --test-size 1000 --epochs "$EPOCHS" --batch "$BATCH" --quiet)

# shape RATE: tbf on both nodes' eth0 (egress, so each direction); "unshaped" removes it.
shape() {
    local node
    for node in "${NODES[@]}"; do
        ip netns exec "${NETNS_PREFIX}$node" tc qdisc del dev eth0 root 2>/dev/null || true
        [ "$1" = unshaped ] && continue
        # burst: one timer tick's worth of bytes at this rate (HZ = 250), no more: a
        # larger bucket lets a whole gradient through at the veth's own speed
        local mbit=${1%mbit}
        ip netns exec "${NETNS_PREFIX}$node" tc qdisc add dev eth0 root tbf rate "$1" \
            burst $((mbit * 500 + 16384)) latency 50ms
    done
}
on_nodes() { netns_in "${NODES[0]}" mpirun "${MPI[@]}" "$@"; }

echo "== compute baseline: 1 rank, batch $((BATCH / 2)) (one node's share)"
mpirun -np 1 --bind-to none "$NNMPI" "${LARGE[@]}" --batch $((BATCH / 2)) --metrics "$OUT/compute.jsonl"
for rate in $RATES; do
    echo "== $rate"
    shape "$rate"
    on_nodes "$OUT/bin/allreduce_ceiling" 1 256 4096 65536 262144 1048576 1863690 > "$OUT/ceiling.$rate.jsonl"
    for overlap in off on; do
        on_nodes "$NNMPI" "${LARGE[@]}" --allreduce "$ALLREDUCE" --overlap "$overlap" \
            --metrics "$OUT/train.$rate.$overlap.jsonl"
    done
done
shape unshaped
/usr/bin/python3 "$HERE/model.py" "$OUT" | tee "$OUT/model.txt"
echo "== results in $OUT"
