#!/usr/bin/python3
"""mpi-tests/lib/hostile_checkpoints.py - hostile variants of a valid nnmpi
checkpoint, for the tests of "a checkpoint is untrusted input".

  hostile_checkpoints.py VALID_CHECKPOINT.h5 OUT_DIR

VALID_CHECKPOINT.h5 is a format-2 checkpoint written by nnmpi. Writes into
OUT_DIR one file <case>.h5 per case and prints "<case> <what it is>" for each.
Every variant is a copy of the valid file in which only the case's feature is
wrong: same root attributes (names, exact HDF5 types, values), same shapes,
float32 little-endian data, HDF5 1.8 file format (superblock 2), and a file at
least as large as the floats layer_sizes promises. Unless said otherwise the
case replaces /layers/1/weights. Helper files: OUT_DIR/secret.bin (bytes
"SECRET-" repeated; any of them in a checkpoint written later is a leak) and
OUT_DIR/other.h5 (dataset /w, a copy of /layers/1/weights). Links and external
file names are absolute paths into OUT_DIR. Each variant is re-opened with h5py
and checked; the exit status is 1, with a message on stderr, when a case could
not be produced. Needs only Debian's python3-h5py and python3-numpy.
"""
import os
import shutil
import sys

import h5py
import numpy as np

W, B = "layers/1/weights", "layers/1/biases"
V18 = ("v108", "v108")


def dcpl():
    p = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    p.set_obj_track_times(True)      # as nnmpi's datasets (HDF5's default)
    return p


def copy_attrs(src, dst):
    """Copy src's attributes onto dst (h5py objects) with their exact HDF5 types."""
    for name in src.attrs:
        a = src.attrs.get_id(name)
        tid = a.get_type()
        buf = np.empty(a.shape, a.dtype)
        a.read(buf, mtype=tid)
        h5py.h5a.create(dst.id, name.encode(), tid, a.get_space()).write(buf, mtype=tid)


def new_dset(grp, name, data, plist, write=True, space=None):
    space = space or h5py.h5s.create_simple(data.shape)
    d = h5py.h5d.create(grp.id, name.encode(), h5py.h5t.IEEE_F32LE, space, dcpl=plist)
    if write:
        d.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data, "<f4"))
    return h5py.Dataset(d)


def replace(path, setup=None, write=True, link=None):
    """An edit: delete the dataset at path, then make it link(f, c), or re-create it with
    the same data and attributes after setup(dcpl, c, space) (data not written unless write)."""
    def edit(f, c):
        grp, name, old = f[os.path.dirname(path)], os.path.basename(path), c["src"][path]
        del grp[name]
        if link:
            grp[name] = link(f, c)
            return
        p, space = dcpl(), h5py.h5s.create_simple(old.shape)
        if setup:
            setup(p, c, space)
        copy_attrs(old, new_dset(grp, name, old[()], p, write, space))
    return edit


def soft_target(f, c):
    copy_attrs(c["src"][W], new_dset(f.create_group("elsewhere"), "w", c["w"], dcpl()))
    return h5py.SoftLink("/elsewhere/w")


def k_external(f, c):
    with open(c["secret"], "rb") as s:
        raw = s.read(c["w"].nbytes)
    return f[W].id.get_create_plist().get_external_count() == 1 and f[W][()].tobytes() == raw


def k_unwritten(f, c):
    d = f[W].id
    return (d.get_create_plist().get_alloc_time() == h5py.h5d.ALLOC_TIME_EARLY and not f[W][()].any()
            and d.get_space_status() == h5py.h5d.SPACE_STATUS_ALLOCATED and d.get_storage_size() == c["w"].nbytes)


def is_link(f, cls):
    return isinstance(f["layers/1"].get("weights", getlink=True), cls)


def same(f, path, c):
    return f[path][()].tobytes() == c["src"][path][()].tobytes()


# case: (what it is, edit(f, c) on a copy opened 'r+' (None: user block), check(f, c) -> feature there)
CASES = {
    "external-storage": ("/layers/1/weights stored in the raw file secret.bin (HDF5 external storage)",
                         replace(W, lambda p, c, s: p.set_external(c["secret"].encode(), 0, h5py.h5f.UNLIMITED),
                                 write=False), k_external),
    "external-link": ("/layers/1/weights is an external link to other.h5:/w",
                      replace(W, link=lambda f, c: h5py.ExternalLink(c["other"], "/w")),
                      lambda f, c: is_link(f, h5py.ExternalLink) and same(f, W, c)),
    "soft-link": ("/layers/1/weights is a soft link to /elsewhere/w, a valid dataset",
                  replace(W, link=soft_target), lambda f, c: is_link(f, h5py.SoftLink) and same(f, W, c)),
    "virtual": ("/layers/1/weights is a virtual dataset mapping other.h5:/w",
                replace(W, lambda p, c, s: p.set_virtual(s, c["other"].encode(), b"/w",
                                                         h5py.h5s.create_simple(s.shape)), write=False),
                lambda f, c: f[W].is_virtual and same(f, W, c)),
    "user-block": ("valid contents in a file with a 512-byte user block (HDF5 signature at offset 512)",
                   None, lambda f, c: f.userblock_size == 512 and same(f, W, c)),
    "unwritten": ("/layers/1/weights allocated early with fill value 0 but never written",
                  replace(W, lambda p, c, s: (p.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY),
                                              p.set_fill_value(np.zeros((), "<f4"))), write=False), k_unwritten),
    "nan-weight": ("/layers/1/weights[0][0] is NaN",
                   lambda f, c: f[W].__setitem__((0, 0), np.nan), lambda f, c: np.isnan(f[W][0, 0])),
    "inf-bias": ("/layers/1/biases[0] is +Inf",
                 lambda f, c: f[B].__setitem__(0, np.inf), lambda f, c: np.isposinf(f[B][0])),
    "chunked-gzip": ("/layers/1/weights chunked and gzip-compressed, valid values",
                     replace(W, lambda p, c, s: (p.set_chunk(s.shape), p.set_deflate(6))),
                     lambda f, c: f[W].compression == "gzip" and same(f, W, c)),
    "compact": ("/layers/1/biases in compact layout, valid values",
                replace(B, lambda p, c, s: p.set_layout(h5py.h5d.COMPACT)),
                lambda f, c: f[B].id.get_create_plist().get_layout() == h5py.h5d.COMPACT and same(f, B, c)),
    "dangling-soft-link": ("/layers/1/weights is a soft link to the missing /layers/1/no-such-weights",
                           replace(W, link=lambda f, c: h5py.SoftLink("/layers/1/no-such-weights")),
                           lambda f, c: is_link(f, h5py.SoftLink) and f.get(W) is None),
}
CHANGED = {"nan-weight": W, "inf-bias": B, "compact": B}   # other cases change W (or nothing)


def user_block(src, path):
    with h5py.File(path, "w", libver=V18, userblock_size=512) as d:
        for k in src:
            src.copy(src[k], d, name=k)     # H5Ocopy: layout, types, attributes as they are
        copy_attrs(src, d)


def check_common(f, case, c):
    """Everything but the case's feature is as in the valid file."""
    s = c["src"]
    if f.id.get_create_plist().get_version()[0] != 2:
        return "superblock is not version 2"
    if sorted(f.attrs) != sorted(s.attrs):
        return "root attribute names differ"
    for n in s.attrs:
        a, b = s.attrs.get_id(n), f.attrs.get_id(n)
        if not a.get_type().equal(b.get_type()) or s.attrs[n].tobytes() != f.attrs[n].tobytes():
            return "root attribute %s differs" % n
    names = []
    s.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    nfloats = 0
    for n in names:
        nfloats += s[n].size
        if n == CHANGED.get(case, W) and case != "user-block":
            continue
        d = f[n]
        if d.dtype != np.dtype("<f4") or d.shape != s[n].shape or d[()].tobytes() != s[n][()].tobytes():
            return "dataset %s differs" % n
    if os.path.getsize(f.filename) < 4 * nfloats:
        return "file smaller than its %d floats" % nfloats
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: hostile_checkpoints.py VALID_CHECKPOINT.h5 OUT_DIR")
    valid, out = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    try:
        src = h5py.File(valid, "r")
        c = {"src": src, "w": src[W][()], "secret": os.path.join(out, "secret.bin"), 
             "other": os.path.join(out, "other.h5")}
        if c["w"].dtype != np.dtype("<f4") or c["w"].ndim != 2:
            raise ValueError("%s is not a 2-D float32 dataset" % W)
        with open(c["secret"], "wb") as s:
            s.write(b"SECRET-" * (c["w"].nbytes // 7 + 2))
        with h5py.File(c["other"], "w", libver=V18) as o:
            copy_attrs(src[W], new_dset(o, "w", c["w"], dcpl()))
    except (OSError, KeyError, ValueError) as e:
        sys.exit("hostile_checkpoints: cannot use %s: %s" % (valid, e))
    failed = 0
    for case, (what, edit, check) in CASES.items():
        path = os.path.join(out, case + ".h5")
        try:
            if os.path.exists(path):
                os.remove(path)
            if edit is None:
                user_block(src, path)
            else:
                shutil.copyfile(valid, path)
                # the virtual layout message needs the 1.10 format; everything else stays 1.8
                with h5py.File(path, "r+", libver=("v108", "v110") if case == "virtual" else V18) as f:
                    edit(f, c)
            with h5py.File(path, "r") as f:
                why = check_common(f, case, c) or (None if check(f, c) else "feature not present")
            if why:
                raise RuntimeError(why)
        except Exception as e:     # any failure of h5py/HDF5 means the case is missing
            print("hostile_checkpoints: cannot produce %s: %s: %s" % (case, type(e).__name__, e),
                  file=sys.stderr)
            failed += 1
            if os.path.exists(path):
                os.remove(path)     # never leave a half-made (or still valid) file behind
            continue
        print(case, what)
    src.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
