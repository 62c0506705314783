#!/usr/bin/env bash
# fashion_test.sh: Fashion-MNIST (data/fetch-fashion-mnist.sh's split) trains
# with the real binary: one epoch of the 784-30-10 network (relu, softmax +
# cross-entropy) at -n 2 must reach more than 70% test accuracy (chance: 10%;
# measured 77.6-83.8% over seeds 1-3), and numpy, reading the same files,
# must count the same correct images from the checkpoint.
# Usage: fashion_test.sh NNMPI MNIST_DIR FASHION_DIR (skips when FASHION_DIR lacks the files)
source "$(dirname "$0")/lib.sh" "$1" "$2"
FASHION=${3:-}
PY=/usr/bin/python3
if [ -z "$FASHION" ] || [ ! -f "$FASHION/t10k-labels-idx1-ubyte" ]; then
    echo "SKIP: no Fashion-MNIST in '$FASHION' (run data/fetch-fashion-mnist.sh, or mpi-tests/run.sh)"
    exit 77
fi
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks numpy or h5py"
    exit 77
fi
out=$(mpiexec -n 2 "${MPIEXEC_FLAGS[@]}" "$NNMPI" --data "$FASHION" --epochs 1 --seed 1 --activation relu --loss xent \
    --init he --lr 0.1 --batch 32 --checkpoint "$WORK/fashion.h5" 2>&1) || fail "nnmpi on $FASHION failed: $out"
correct=$(sed -n 's/^Epoch 1: \([0-9]*\)\/10000 .*/\1/p' <<<"$out")
grep -q "layers 784,30,10," <<<"$out" && pass "the default network on Fashion-MNIST is 784,30,10" ||
    fail "start-up line: $out"
if [ -n "$correct" ] && [ "$correct" -gt 7000 ]; then
    pass "Fashion-MNIST, 1 epoch at -n 2: $correct/10000 correct (> 70%)"
else
    fail "Fashion-MNIST, 1 epoch at -n 2: '$correct'/10000 correct, expected > 7000; output: $out"
fi
numpy=$($PY "$(dirname "$0")/idx_data.py" accuracy "$WORK/fashion.h5" "$FASHION/t10k-images-idx3-ubyte" \
    "$FASHION/t10k-labels-idx1-ubyte")
[ "$numpy" = "$correct" ] && pass "numpy counts the same $numpy correct" || fail "numpy counts $numpy, nnmpi $correct"
finish
