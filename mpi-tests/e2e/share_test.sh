#!/usr/bin/env bash
# share_test.sh: --share-data node (one copy of the data per node, in a
# shared window written by the node's first rank) against --share-data rank
# (every rank reads its own copy, the independent path):
#  - training gives bitwise the same checkpoint at -n 1..4 (with --validation,
#    a view into the shared training images), --predict the same CSV and
#    --eval-only the same score;
#  - at -n 4 on the real MNIST the node's PSS (the metrics' final record) is
#    lower with node sharing by at least 2.5 x the training images' bytes:
#    three of four copies are gone;
#  - a bad data file on the reading rank, and a bad --share-data, give one
#    message and the same status on every rank;
#  - a /dev/shm too small for the window (a 64 KB tmpfs, private mount
#    namespace, root only): with --share-data node one message naming the
#    cause and --share-data rank, status 1, no SIGBUS; --share-data rank runs
#    there, and so does the default, auto, with a note; a run whose
#    window fits leaves nothing behind in /dev/shm; and the space gone after
#    the check (statvfs lies, lib/statvfs_lie.c): backing the pages fails
#    with one message, status 1, no SIGBUS.
source "$(dirname "$0")/lib.sh" "$@"
small=(--train-size 1500 --validation 300 --test-size 500 --epochs 1 --batch 20 --allreduce mpi --quiet)

# ---------- the same bits either way ----------
for np in 1 2 3 4; do
    for share in node rank; do
        set +e
        run "$np" "${small[@]}" --share-data "$share" --checkpoint "$WORK/$share$np.h5" >"$WORK/$share$np.log" 2>&1
        status=$?
        set -e
        expect_status 0 "$status" "-n $np --share-data $share"
    done
    same_weights "$WORK/node$np.h5" "$WORK/rank$np.h5" "-n $np: --share-data node and rank train the same weights, bitwise"
done
plan=$(run 2 --train-size 100 --test-size 100 --epochs 0 2>&1 | grep '^Memory per rank' || true)
grep -q "data on the node 153.3 KiB (one copy, shared)" <<<"$plan" &&
    pass "the memory plan counts the data once per node" || fail "plan line (node): $plan"
plan=$(run 2 --train-size 100 --test-size 100 --epochs 0 --share-data rank 2>&1 | grep '^Memory per rank' || true)
grep -q "data on the node 306.6 KiB (a copy per rank)" <<<"$plan" &&
    pass "the memory plan counts the data once per rank with --share-data rank" || fail "plan line (rank): $plan"

images="$DATA/t10k-images-idx3-ubyte"
for share in node rank; do
    run 3 --resume "$WORK/node3.h5" --predict "$images" --output "$WORK/$share.csv" --share-data "$share" --quiet ||
        fail "--predict --share-data $share"
    run 3 --resume "$WORK/node3.h5" --eval-only --share-data "$share" >"$WORK/eval-$share.log" 2>&1 ||
        fail "--eval-only --share-data $share"
done
cmp -s "$WORK/node.csv" "$WORK/rank.csv" && [ -s "$WORK/node.csv" ] &&
    pass "--predict: the same CSV from the shared and the private images" || fail "--predict CSVs differ"
score_node=$(grep -o '[0-9]*/10000 (' "$WORK/eval-node.log" || true)
score_rank=$(grep -o '[0-9]*/10000 (' "$WORK/eval-rank.log" || true)
[ -n "$score_node" ] && [ "$score_node" = "$score_rank" ] &&
    pass "--eval-only: the same score" || fail "--eval-only: $(cat "$WORK"/eval-*.log)"

# ---------- memory per node: PSS ----------
# node_pss_mb: the final record's sum over the node's ranks (MiB).
node_pss() { sed -n 's/.*"type":"final".*"node_pss_mb":\([0-9.]*\).*/\1/p' "$1" | tail -1; }
train_bytes=$(($(stat -c %s "$DATA/train-images-idx3-ubyte") - 16))
for share in node rank; do
    run 4 --epochs 1 --batch 1000 --allreduce mpi --share-data "$share" --metrics "$WORK/pss-$share.jsonl" \
        >"$WORK/pss-$share.log" 2>&1 || fail "-n 4 --share-data $share on MNIST: $(cat "$WORK/pss-$share.log")"
done
node_mb=$(node_pss "$WORK/pss-node.jsonl")
rank_mb=$(node_pss "$WORK/pss-rank.jsonl")
echo "node PSS at -n 4: --share-data node ${node_mb:-?} MB, rank ${rank_mb:-?} MB; training images $train_bytes bytes"
if [ -n "$node_mb" ] && [ -n "$rank_mb" ] &&
    awk -v n="$node_mb" -v r="$rank_mb" -v b="$train_bytes" 'BEGIN { exit !(r - n >= 2.5 * b / 1048576) }'; then
    pass "the node's PSS is lower by at least 2.5 x the training images with node sharing"
else
    fail "node PSS: node ${node_mb:-none} MB, rank ${rank_mb:-none} MB, training images $train_bytes bytes"
fi
grep -q '"pss_mb":{"min":[0-9.]*,"max":[0-9.]*}' "$WORK/pss-node.jsonl" &&
    pass "the final record has each rank's PSS, min and max" || fail "no pss_mb in $(tail -1 "$WORK/pss-node.jsonl")"
grep -q "; node PSS [0-9.]* MB$" "$WORK/pss-node.log" &&
    pass "rank 0's final line gives the node's PSS" || fail "final line: $(tail -1 "$WORK/pss-node.log")"

# ---------- bad input: one message, the same status ----------
head -c 100000 "$DATA/train-images-idx3-ubyte" >"$WORK/cut-images"
mkfifo "$WORK/fifo-images"
for share in node rank; do
    check_run 3 1 "$WORK/cut-images: file is 100000 bytes" --data "$DATA" --share-data "$share" \
        --train-images "$WORK/cut-images" --epochs 1 --quiet
    check_run 3 1 "data file '$WORK/fifo-images' is a FIFO" --data "$DATA" --share-data "$share" \
        --train-images "$WORK/fifo-images" --epochs 1 --quiet
    check_run 3 1 "--test-size: asked for 20000 items" --data "$DATA" --share-data "$share" \
        --test-size 20000 --epochs 1 --quiet
done
check_run 2 2 "--share-data: expected" --data "$DATA" --share-data nodes

# ---------- a backing directory that cannot hold a window: missing, or a file ----------
# (a careless OMPI_MCA_osc_sm_backing_directory): auto reads a copy per rank and sums with mpi, saying
# why; asked for (--share-data node with --allreduce mpi: only the data's window; --allreduce shm with
# --share-data rank: only the gradient's), one message naming the directory and the reason; no root needed
touch "$WORK/a-file"
for dir in "$WORK/missing" "$WORK/a-file"; do
    OMPI_MCA_osc_sm_backing_directory=$dir check_run 2 0 "allreduce mpi (auto: $dir cannot hold the shared window)" \
        --data "$DATA" --train-size 200 --test-size 100 --epochs 1
    OMPI_MCA_osc_sm_backing_directory=$dir check_run 2 1 "bytes in $dir, which cannot hold it (" \
        --data "$DATA" --train-size 200 --test-size 100 --epochs 1 --share-data node --allreduce mpi
    OMPI_MCA_osc_sm_backing_directory=$dir check_run 2 1 "bytes in $dir, which cannot hold it (" \
        --data "$DATA" --train-size 200 --test-size 100 --epochs 1 --share-data rank --allreduce shm
done

# ---------- a /dev/shm too small for the window ----------
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    sizes=(--train-size 200 --test-size 100 --epochs 1)
    small_shm 64k "${sizes[@]}" --share-data node --quiet
    if [ "$status" = 99 ]; then
        echo "SKIP: cannot mount a tmpfs over /dev/shm here"
    else
        expect_status 1 "$status" "--share-data node with a 64 KB /dev/shm"
        [ "$(grep -c "nnmpi: error" <<<"$out")" = 1 ] &&
            grep -E -q "shared copy of the data needs [0-9]+ bytes in /dev/shm, which has 65536 bytes free" <<<"$out" &&
            grep -q -- "--share-data rank" <<<"$out" &&
            pass "one message names the window's size, /dev/shm's free space and --share-data rank" ||
            fail "small /dev/shm: $out"
        no_sigbus "$out"
        small_shm 64k "${sizes[@]}" --share-data rank
        expect_status 0 "$status" "--share-data rank with a 64 KB /dev/shm"
        # the default, auto, reads a copy per rank there instead, and says why
        small_shm 64k "${sizes[@]}" --allreduce mpi
        expect_status 0 "$status" "--share-data auto (the default) with a 64 KB /dev/shm"
        grep -E -q "note: --share-data auto: the node's shared copy of the data needs [0-9]+ bytes in /dev/shm, which has 65536 bytes free: every rank reads its own copy" <<<"$out" &&
            grep -q "data on the node .* (a copy per rank)" <<<"$out" &&
            pass "auto: a copy per rank, with a note naming the sizes (and the plan line says so)" ||
            fail "auto with a small /dev/shm: $out"
        small_shm 8m "${sizes[@]}" --allreduce shm --quiet
        expect_status 0 "$status" "--share-data node and --allreduce shm in an 8 MB /dev/shm"
        grep -q "left in /dev/shm: 0" <<<"$out" && pass "no file left behind in /dev/shm" || fail "after the run: $out"
        # the space gone between the check and the allocation: statvfs and statfs lie about a 64 KB
        # tmpfs (the window's backing directory), so only backing the pages can find out
        if cc -shared -fPIC -o "$WORK/lie.so" "$(dirname "$0")/../lib/statvfs_lie.c" -ldl 2>"$WORK/cc.log"; then
            set +e
            # (an ASan build wants its runtime first among the preloads: told not to mind)
            out=$(NNMPI="$NNMPI" DATA="$DATA" LIE="$WORK/lie.so" \
                ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" timeout 60 unshare -m bash -c '
                mkdir -p /tmp/nnmpi-small-shm && mount -t tmpfs -o size=64k tmpfs /tmp/nnmpi-small-shm || exit 99
                mpiexec -n 3 --oversubscribe --allow-run-as-root -x LD_PRELOAD="$LIE" -x LIE_DIR=/tmp/nnmpi-small-shm \
                    -x ASAN_OPTIONS \
                    -x OMPI_MCA_osc_sm_backing_directory=/tmp/nnmpi-small-shm "$NNMPI" --data "$DATA" \
                    --train-size 200 --test-size 100 --epochs 1 --quiet' 2>&1)
            status=$?
            set -e
            expect_status 1 "$status" "a backing directory that fills up after the check"
            [ "$(grep -c "nnmpi: error" <<<"$out")" = 1 ] &&
                grep -q "cannot back the node's [0-9]*-byte shared copy of the data in /tmp/nnmpi-small-shm" <<<"$out" &&
                grep -q -- "--share-data rank" <<<"$out" && ! grep -q -i "bus error\|signal 7" <<<"$out" &&
                pass "backing the window's pages fails with one message, no SIGBUS" || fail "window not backed: $out"
        else
            echo "SKIP: no C compiler for the statvfs fault injection: $(head -3 "$WORK/cc.log")"
        fi
    fi
else
    echo "SKIP: the small /dev/shm check needs root and unshare -m"
fi
finish
