#!/usr/bin/python3
"""mpi-tests/fuzz/triage.py - says whose bug a libFuzzer finding is.

  triage.py --root REPO [--binary BINARY] LOG [LOG...]
                                            classify the reports in these logs
  triage.py --root REPO --rerun BINARY ARTIFACT [--timeout S] [--rss MB]
                                            run the harness on one input first

Each LOG is the stderr of one fuzzer run that ended on a finding. Prints one
line per finding:

  <owner> <kind> <where> <artifact>

owner is
  nnmpi    the fault is in our code: a frame of REPO's sources is the first
           non-runtime frame; or libhdf5 faulted inside memory that nnmpi
           allocated (a buffer we passed was too small); or a leak of memory
           HDF5 hands to its caller (vlen data from H5Aread/H5Dread, names);
           or the harness's own contract check fired;
  hdf5     the first non-runtime frame is in libhdf5 and the memory involved
           (if any) is HDF5's own: HDF5 1.10 is not hardened against
           malformed files (see docs/reliability.md, "Fuzzing");
  unknown  anything else (no report, another library): counted as nnmpi's.

Exit status: 0 when every finding is hdf5's, 1 otherwise, 2 on usage errors.
The rules look at frames only, so they are a heuristic: the raw checkpoint
harness reports the hdf5 ones for a human to read, it does not hide them.
"""
import argparse
import os
import re
import subprocess
import sys

FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ ")
RUNTIME = ("in fuzzer::", "__sanitizer", "__asan", "__lsan", "__ubsan", "__interceptor_", "__libc_start",
           " in _start", "in main (", "libstdc++", "libc.so", "libpthread", "ld-linux", "in malloc ",
           "in calloc ", "in realloc ", "in free ", "in operator new", "in strdup ", "in __strdup ",
           "nptl/", "signal/", "stdlib/", "csu/", "string/", "sysdeps/", "libio/")
# HDF5 calls whose results the caller must free with H5free_memory() or H5Dvlen_reclaim().
CALLER_OWNED = ("H5Aread", "H5Dread", "H5Aget_name", "H5Iget_name", "H5Fget_name", "H5Lget_name_by_idx",
                "H5Tget_member_name", "H5Tget_tag", "H5Pget_class_name")


def owner(frame, root, binary):
    if "libhdf5" in frame:
        return "hdf5"
    # Unsymbolized libFuzzer/ASan code inside the harness binary: checked before
    # `root`, since the build directory may lie inside the repository (CI).
    if binary and "(" + binary + "+" in frame:
        return "runtime"
    m = re.search(r"\((/[^+)]+)\+0x", frame)
    if m and os.path.basename(m.group(1)).startswith("fuzz_"):
        return "runtime"
    if root in frame:
        return "nnmpi"
    if any(r in frame for r in RUNTIME):
        return "runtime"
    return "other"


def first_owner(stack, root, binary):
    """Owner and function of the first frame that is not the sanitizer, libFuzzer or libc."""
    for k, f in enumerate(stack):
        o = owner(f, root, binary)
        if o != "runtime":
            # name it by the first frame with a symbol (HDF5's static functions have none)
            for g in stack[k:k + 8]:
                m = re.search(r" in (\S+)", g)
                if m:
                    return o, m.group(1) if g is f else "%s<-%s" % ("?", m.group(1))
            lib = re.search(r"\(([^()+]+)\+0x", f)
            return o, os.path.basename(lib.group(1)) + "+?" if lib else "?"
    return "unknown", "?"


def stacks_after(lines, start_pattern):
    """Every stack (list of frame lines) that follows a line matching start_pattern."""
    out, i = [], 0
    while i < len(lines):
        if re.search(start_pattern, lines[i]):
            j, stack = i + 1, []
            # up to 6 lines of preamble ("READ of size 4 at ...", hints) before the first frame
            while j < len(lines) and (FRAME.match(lines[j]) or (not stack and j - i <= 6)):
                if FRAME.match(lines[j]):
                    stack.append(lines[j])
                elif re.search(r"(leak of|allocated by|freed by|ERROR:)", lines[j]):
                    break
                j += 1
            out.append(stack)
            i = j
        else:
            i += 1
    return out


def classify(text, root, binary):
    """(owner, kind, where) for one report."""
    lines = text.splitlines()
    if "fuzz_idx: contract broken" in text or "fuzz_checkpoint: contract broken" in text:
        m = re.search(r"contract broken: (.*)", text)
        return "nnmpi", "contract", m.group(1).strip() if m else "?"
    for key in ("a valid checkpoint was refused", "leaked HDF5 id"):
        if key in text:
            return "nnmpi", "contract", key
    m = re.search(r"runtime error: (.*)", text)
    if m:  # UBSan: only our code is instrumented
        where = re.search(r"^(\S+:\d+:\d+): runtime error", text, re.M)
        return ("nnmpi" if where and root in where.group(1) else "unknown"), "ubsan", m.group(1)[:80]
    if "ERROR: LeakSanitizer" in text:
        verdict, where = "hdf5", []
        for stack in stacks_after(lines, r"(Direct|Indirect) leak of"):
            o, fn = first_owner(stack, root, binary)
            calls = " ".join(stack)
            if o == "hdf5" and any(" in " + c + " " in calls for c in CALLER_OWNED) and (
                    "vlen" in calls or "get_name" in calls or "get_tag" in calls):
                o = "nnmpi"  # memory HDF5 handed to us and we did not free
            where.append(fn)
            if o != "hdf5":
                verdict = "nnmpi" if o == "nnmpi" else "unknown"
        return verdict, "leak", ",".join(sorted(set(where)))[:120]
    m = re.search(r"ERROR: (AddressSanitizer|libFuzzer): ([^\n]*)", text)
    if not m:
        return "unknown", "no-report", "?"
    what = m.group(2)
    if what.startswith("requested allocation size"):
        kind = "allocation-size-too-big"
    elif what.startswith("allocator is out of memory"):
        kind = "out-of-memory"
    elif what.startswith("out-of-memory (malloc"):
        kind = "malloc-limit"
    elif what.startswith("out-of-memory"):
        kind = "rss-limit"
    else:
        kind = what.split(" ")[0].rstrip(":")
    start = lines.index(next(l for l in lines if m.group(0) in l))
    main = stacks_after(lines[start:], re.escape(m.group(0)))
    main = main[0] if main else []
    if kind == "rss-limit":
        # no stack: blame the biggest live allocation context that is not libFuzzer's own
        ctx = stacks_after(lines, r"byte\(s\) \(\d+%\) in \d+ allocation")
        main = next((s for s in ctx if first_owner(s, root, binary)[0] != "unknown"), [])
    o, fn = first_owner(main, root, binary)
    if o == "hdf5":
        # Whose memory was it? HDF5 writing into a buffer we passed is our fault.
        for pat in (r"allocated by thread", r"freed by thread", r"previously allocated by thread"):
            for stack in stacks_after(lines, pat):
                so, _ = first_owner(stack, root, binary)
                if so == "nnmpi":
                    return "nnmpi", kind, fn + " (in a buffer nnmpi allocated)"
        frame = re.search(r"is located in stack of thread \S+ at offset \d+ in frame\s*\n(.*)", text)
        if frame and root in frame.group(1) + text[frame.end():frame.end() + 400].split("\n\n")[0]:
            return "nnmpi", kind, fn + " (in a stack buffer of nnmpi)"
        glob = re.search(r"global variable '[^']*' defined in '([^']*)'", text)
        if glob and root in glob.group(1):
            return "nnmpi", kind, fn + " (in a global of nnmpi)"
    return ("unknown" if o == "other" else o), kind, fn


def rerun(binary, artifact, timeout, rss, slow_unwind):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=1:symbolize=1" + (
        ":fast_unwind_on_malloc=0" if slow_unwind else "")
    p = subprocess.run([binary, "-timeout=%d" % timeout, "-rss_limit_mb=%d" % rss, artifact],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=timeout * 6 + 60)
    return p.stderr.decode(errors="replace"), p.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="repository root: frames under it are nnmpi's")
    ap.add_argument("--rerun", metavar="BINARY", help="run BINARY on each artifact and classify its report")
    ap.add_argument("--binary", help="with logs: run leaking inputs again with BINARY for whole stacks")
    ap.add_argument("--timeout", type=int, default=10)
    ap.add_argument("--rss", type=int, default=2048)
    ap.add_argument("files", nargs="+", help="logs, or artifacts with --rerun")
    a = ap.parse_args()
    root = os.path.realpath(a.root) + "/"
    bad = 0
    for f in a.files:
        if a.rerun:
            text, rc = rerun(a.rerun, f, a.timeout, a.rss, slow_unwind=False)
            if "ERROR: LeakSanitizer" in text:  # again, with whole allocation stacks through libhdf5
                text, rc = rerun(a.rerun, f, a.timeout, a.rss, slow_unwind=True)
            artifact = f
            binary = os.path.realpath(a.rerun)
            if rc == 0:
                print("unreproduced - - %s" % artifact)
                continue
        else:
            with open(f, errors="replace") as fh:
                text = fh.read()
            m = re.search(r"Test unit written to (\S+)", text)
            artifact = m.group(1) if m else f
            binary = None
            if a.binary and m and os.path.exists(artifact) and "ERROR: LeakSanitizer" in text:
                # the fuzzing run unwinds malloc stacks fast, and libhdf5 has no frame
                # pointers: run the leaking input again with whole stacks
                again, rc = rerun(a.binary, artifact, a.timeout, a.rss, slow_unwind=True)
                if "ERROR: LeakSanitizer" in again:
                    text, binary = again, os.path.realpath(a.binary)
        o, kind, where = classify(text, root, binary)
        print("%-7s %-24s %s %s" % (o, kind, where, artifact))
        bad += o != "hdf5"
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
