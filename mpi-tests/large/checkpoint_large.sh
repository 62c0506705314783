#!/usr/bin/env bash
# checkpoint_large.sh CHECKPOINT_LARGE_BINARY: a checkpoint with a 2.15 GB
# dataset, written and read back bitwise by nnmpi (checkpoint_large.c), then
# read by plain h5py: the shape, and every element against the formula that
# wrote it (in slices of 64 MB). Needs 2.2 GB of memory and of disk.
set -euo pipefail
BIN=${1:?usage: checkpoint_large.sh path/to/checkpoint_large}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nnmpi-large-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$BIN" "$WORK/big.h5"
/usr/bin/python3 - "$WORK/big.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    w = f["layers/0/weights"]
    assert w.shape == (23200, 23200) and w.dtype == np.float32, (w.shape, w.dtype)
    assert w.chunks is None and w.compression is None  # contiguous, unfiltered
    rows = 16384 * 1024 // 23200  # ~64 MB a slice
    for lo in range(0, 23200, rows):
        got = w[lo:lo + rows].ravel()
        i = np.arange(lo * 23200, lo * 23200 + got.size, dtype=np.int64)
        want = (i % 1000003).astype(np.float32) * np.float32(1e-6) - np.float32(0.5)
        if not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            sys.exit("FAIL: h5py reads other values in rows %d.." % lo)
print("PASS: h5py reads the 2.15 GB dataset, bitwise")
PY
