#!/usr/bin/python3
"""mpi-tests/lib/nnmpi_check.py - checks of nnmpi's output files for the
cluster tests (mpi-tests/slurm, mpi-tests/multihost). Run it with Debian's
/usr/bin/python3, which has h5py.

  nnmpi_check.py metrics FILE [--ranks P] [--nodes K] [--status S] [--epochs N]
      every line is JSON; the first is a header (with ranks/nodes/node_names
      as given); the last line is "final" with that status and epochs_done.
  nnmpi_check.py ckpt FILE [--epoch N] [--before N]
      h5py opens FILE, which has /layers/0/weights and the format attribute;
      epoch attribute == N, or (epoch, step) strictly before epoch N's end.
  nnmpi_check.py same A B
      every dataset under /layers is bitwise equal in A and B.

Prints one line saying what it found; exit status 0 when the check holds,
1 when it does not.
"""
import argparse
import json
import sys


def fail(msg):
    print("not ok: " + msg)
    sys.exit(1)


def check_metrics(a):
    try:
        with open(a.file) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except OSError as e:
        fail("cannot read %s: %s" % (a.file, e))
    if not lines:
        fail("%s is empty" % a.file)
    recs = []
    for i, l in enumerate(lines, 1):
        try:
            recs.append(json.loads(l))
        except ValueError as e:
            fail("%s line %d is not JSON (%s): %.80s" % (a.file, i, e, l))
    head = recs[0]
    if head.get("type") != "header":
        fail("first line is not a header: %.80s" % lines[0])
    if a.ranks is not None and head.get("ranks") != a.ranks:
        fail("header ranks %r, expected %d" % (head.get("ranks"), a.ranks))
    names = head.get("node_names") or []
    if a.nodes is not None:
        if head.get("nodes") != a.nodes or len(set(names)) != a.nodes:
            fail("header nodes %r node_names %r, expected %d nodes"
                 % (head.get("nodes"), names, a.nodes))
    final = recs[-1]
    if a.status is not None:
        if final.get("type") != "final" or final.get("status") != a.status:
            fail("last line is not a final record with status %s: %.100s"
                 % (a.status, lines[-1]))
    if a.epochs is not None and final.get("epochs_done") != a.epochs:
        fail("epochs_done %r, expected %d" % (final.get("epochs_done"), a.epochs))
    epochs = [r["epoch"] for r in recs if r.get("type") == "epoch"]
    print("ok: %d JSON lines, %d headers, epochs %s, ranks %s on nodes %s, final %s"
          % (len(recs), sum(r.get("type") == "header" for r in recs), epochs,
             head.get("ranks"), names, final.get("status")))


def open_h5(path):
    try:
        import h5py
    except ImportError as e:
        fail("h5py is not importable by %s (%s)" % (sys.executable, e))
    try:
        return h5py.File(path, "r")
    except (OSError, IOError) as e:
        fail("h5py cannot open %s: %s" % (path, e))


def check_ckpt(a):
    f = open_h5(a.file)
    with f:
        if "layers/0/weights" not in f:
            fail("%s has no /layers/0/weights" % a.file)
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != "nnmpi-checkpoint":
            fail("format attribute is %r" % (fmt,))
        w = f["layers/0/weights"]
        epoch = int(f.attrs.get("epoch", -1))
        step = int(f.attrs.get("step", -1))
        if a.epoch is not None and (epoch != a.epoch or step != 0):
            fail("checkpoint at epoch %d step %d, expected epoch %d step 0"
                 % (epoch, step, a.epoch))
        if a.before is not None and not epoch < a.before:
            fail("checkpoint at epoch %d step %d is not before the end (%d epochs)"
                 % (epoch, step, a.before))
        print("ok: %s: /layers/0/weights %s %s, epoch %d, step %d"
              % (a.file, w.shape, w.dtype, epoch, step))


def check_same(a):
    import numpy as np
    fa, fb = open_h5(a.a), open_h5(a.b)
    names = []
    fa["layers"].visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
    if not names:
        fail("no datasets under /layers in %s" % a.a)
    for n in names:
        p = "layers/" + n
        if p not in fb:
            fail("%s missing in %s" % (p, a.b))
        x, y = fa[p][()], fb[p][()]
        if x.shape != y.shape or x.dtype != y.dtype:
            fail("%s: shape/type %s %s vs %s %s" % (p, x.shape, x.dtype, y.shape, y.dtype))
        if not np.array_equal(x.view(np.uint8), y.view(np.uint8)):
            d = np.abs(x.astype(np.float64) - y.astype(np.float64))
            fail("%s differs: %d of %d values, max |diff| %g"
                 % (p, int((d > 0).sum()), d.size, d.max()))
    print("ok: %d datasets under /layers bitwise equal" % len(names))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metrics")
    m.add_argument("file")
    m.add_argument("--ranks", type=int)
    m.add_argument("--nodes", type=int)
    m.add_argument("--status")
    m.add_argument("--epochs", type=int)
    c = sub.add_parser("ckpt")
    c.add_argument("file")
    c.add_argument("--epoch", type=int)
    c.add_argument("--before", type=int)
    s = sub.add_parser("same")
    s.add_argument("a")
    s.add_argument("b")
    a = p.parse_args()
    {"metrics": check_metrics, "ckpt": check_ckpt, "same": check_same}[a.cmd](a)


if __name__ == "__main__":
    main()
