#!/usr/bin/env bash
# python_test.sh: python/nnmpi_checkpoint.py classifies the test set exactly as
# `nnmpi --resume CK --eval-only` does (numpy, and torch when importable), reads
# checkpoints with and without the preprocessing attributes, and refuses an HDF5
# file that is not a checkpoint. Skips (77) without numpy/h5py.
source "$(dirname "$0")/lib.sh" "$@"
PY=/usr/bin/python3
MODULE_DIR=$(cd "$(dirname "$0")/../../python" && pwd)
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
    echo "SKIP: $PY lacks numpy or h5py (apt-get install python3-numpy python3-h5py)"
    exit 77
fi
has_torch=0
if $PY -c 'import torch' 2>/dev/null; then has_torch=1; else echo "SKIP torch: not importable"; fi
# module: runs Python with the module importable as nc.
module() { PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$MODULE_DIR $PY -c "import sys, numpy as np, nnmpi_checkpoint as nc; $1" "${@:2}"; }

check "preprocess: bytes * 1/255 in float64, rounded once, is numpy_accuracy.py's bytes/255 for all 256 bytes" \
    module 'b = np.arange(256, dtype=np.uint8).reshape(1, 256)
ck = nc.Checkpoint([(np.zeros((1, 256), np.float32), None)], None, "relu", "mse", "sigmoid", 1 / 255, 0.0, (256,), 1, {}, ())
assert (nc.preprocess(ck, b).view(np.uint32) == (b.astype(np.float32) / np.float32(255)).view(np.uint32)).all()'

for net in "--layers 784,30,10" \
    "--layers 784,64,10 --activation relu --loss xent --init he --lr 0.1 --batch 32 --momentum 0.5"; do
    # shellcheck disable=SC2086
    run 2 $net --train-size 10000 --epochs 2 --quiet --checkpoint "$WORK/ck.h5"
    line=$(run 2 --resume "$WORK/ck.h5" --eval-only | grep '^Checkpoint ' || true)
    want=$(sed -n 's|.*): \([0-9]*\)/\([0-9]*\) .*|\1/\2|p' <<<"$line")
    [ -n "$want" ] || { fail "$net: no 'Checkpoint ...: N/M' line from --eval-only"; continue; }
    out=$($PY "$MODULE_DIR/nnmpi_checkpoint.py" "$WORK/ck.h5" "$DATA/t10k-images-idx3-ubyte" \
        "$DATA/t10k-labels-idx1-ubyte" 2>&1) || true
    derived=$(sed -n 's/^\([a-z_]*\) = .*(derived.*/\1/p' <<<"$out" | tr '\n' ' ')
    echo "      $net: ${derived:+derived from defaults (older nnmpi): }${derived:-preprocessing attributes recorded}"
    got=$(sed -n 's/^numpy: //p' <<<"$out")
    if [ "$got" = "$want" ]; then pass "$net: numpy counts $got, as nnmpi --eval-only"
    else fail "$net: numpy '$got', nnmpi --eval-only $want; module said: $(tail -3 <<<"$out")"; fi
    if [ $has_torch = 1 ]; then
        got=$(sed -n 's/^torch: //p' <<<"$out")
        if [ "$got" = "$want" ]; then pass "$net: torch counts $got, as nnmpi --eval-only"
        else fail "$net: torch '$got', nnmpi --eval-only $want"; fi
    fi
    momentum=$(case $net in *--momentum*) echo 1 ;; *) echo 0 ;; esac)
    check "$net: load() gives layers, metadata and velocity (momentum $momentum)" module '
ck = nc.load(sys.argv[1]); mom = sys.argv[2] == "1"; sizes = ck.attrs["layer_sizes"]
assert [w.shape for w, b in ck.layers] == [(o, i) for i, o in zip(sizes, sizes[1:])] and ck.layers[0][0].dtype == np.float32
assert (ck.velocity is not None) == mom, ck.velocity
assert ck.output == {"mse": "sigmoid", "xent": "softmax"}[ck.loss] and ck.classes == 10 and ck.input_shape == (28, 28)
assert ck.input_scale == 1 / 255 and ck.input_offset == 0.0, (ck.input_scale, ck.input_offset)' "$WORK/ck.h5" "$momentum"
    rm -f "$WORK/ck.h5"
done

check "load() reads a format-1 checkpoint (variable-length strings), deriving the preprocessing" module '
ck = nc.load(sys.argv[1])
assert (ck.activation, ck.output, ck.classes, ck.input_shape) == ("relu", "softmax", 10, (28, 28)), ck
assert len(ck.derived) == 5 and len(ck.velocity) == 2' "$(dirname "$0")/../fixtures/checkpoint-format1.h5"

check "load() refuses HDF5 files that are not nnmpi checkpoints, with a ValueError naming 'format'" module '
import h5py
for fmt in (None, "something-else", b"nnmpi-checkpoint-v9"):
    with h5py.File(sys.argv[1], "w") as f:
        f["layers/0/weights"] = np.zeros((10, 784), np.float32)
        if fmt is not None:
            f.attrs["format"] = fmt
    try:
        nc.load(sys.argv[1])
    except ValueError as e:
        assert "not an nnmpi checkpoint" in str(e) and "format" in str(e), e
    else:
        raise AssertionError(f"format {fmt!r} accepted")' "$WORK/other.h5"

check "load() uses recorded preprocessing attributes; preprocess() refuses already-scaled floats" module '
import h5py, shutil
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "a") as f:  # the types nnmpi writes: float64, int32 array, fixed-length string, int64
    f.attrs["input_scale"], f.attrs["input_offset"] = np.float64(2 / 255), np.float64(-1.0)
    f.attrs["input_shape"], f.attrs["output"], f.attrs["classes"] = np.array([784], np.int32), np.bytes_(b"softmax"), np.int64(10)
ck = nc.load(sys.argv[2])
assert ck.derived == () and ck.input_shape == (784,) and ck.output == "softmax", ck
x = nc.preprocess(ck, np.array([[0] * 783 + [255]], np.uint8))
assert x.dtype == np.float32 and x[0, 0] == -1 and x[0, -1] == 1, x
try:
    nc.preprocess(ck, x)
except TypeError as e:
    assert "uint8" in str(e), e
else:
    raise AssertionError("float input accepted")
with h5py.File(sys.argv[2], "a") as f:
    f.attrs["classes"] = np.int64(9)
try:
    nc.load(sys.argv[2])
except ValueError as e:
    assert "classes 9" in str(e), e
else:
    raise AssertionError("classes 9 accepted")' "$(dirname "$0")/../fixtures/checkpoint-format1.h5" "$WORK/recorded.h5"

check "to_torch() without torch raises an ImportError that says what to install" module '
sys.modules["torch"] = None  # import torch now fails, whether or not it is installed
try:
    nc.to_torch(nc.load(sys.argv[1]))
except ImportError as e:
    assert "PyTorch" in str(e), e
else:
    raise AssertionError("no ImportError")' "$(dirname "$0")/../fixtures/checkpoint-format1.h5"
finish
