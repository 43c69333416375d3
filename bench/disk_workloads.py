#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The durability workloads of bench/run.sh's disk configuration.

    disk_workloads.py run WORKLOAD DIR [--quick]   prints one figure
    disk_workloads.py report RAW_TSV FS...         prints the table

Every workload makes its data durable the way an application does (fsync,
fdatasync, SQLite's synchronous=FULL), so that a filesystem that is durable
only at fsync (fuse2fs, the host's) and one that is durable at every reply
(daxfs) are compared on the same promise.  Work is bounded by amount; the
figure is that amount over the time it took.
"""
import ctypes
import os
import random
import sqlite3
import sys
import time
from collections import defaultdict
from statistics import median

MiB = 1 << 20

# name: (unit, what), in table order
WORKLOADS = {
    "seqwrite": ("MiB/s", "128 MiB in 1 MiB writes, then fsync"),
    "randwrite-fdatasync": ("IOPS", "4 KiB random overwrites of a 64 MiB file, fdatasync after each"),
    "fallocate": ("MiB/s", "fallocate of 256 MiB, then fsync"),
    "smallfile": ("files/s", "create, write 4 KiB, fsync, close"),
    "sqlite-journal": ("commits/s", "SQLite, synchronous=FULL, rollback journal, one row per transaction"),
    "sqlite-wal": ("commits/s", "SQLite, synchronous=FULL, WAL, one row per transaction"),
}

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def fallocate(fd, length):
    if libc.fallocate(fd, 0, 0, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "fallocate: " + os.strerror(e))


def seqwrite(d, quick):
    buf = b"\x5a" * MiB
    n = 128
    path = os.path.join(d, "seq")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t = time.perf_counter()
    for _ in range(n):
        os.write(fd, buf)
    os.fsync(fd)
    dt = time.perf_counter() - t
    os.close(fd)
    os.unlink(path)
    return n / dt


def randwrite(d, quick):
    size, ops = 64 * MiB, (300 if quick else 2000)
    path = os.path.join(d, "rand")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = b"\x33" * MiB
    for _ in range(size // MiB):  # written once: overwrites, not first writes
        os.write(fd, chunk)
    os.fsync(fd)
    rng = random.Random(1)
    block = b"\xa5" * 4096
    t = time.perf_counter()
    for _ in range(ops):
        os.pwrite(fd, block, rng.randrange(size // 4096) * 4096)
        os.fdatasync(fd)
    dt = time.perf_counter() - t
    os.close(fd)
    os.unlink(path)
    return ops / dt


def fallocate_wl(d, quick):
    length = 256 * MiB
    path = os.path.join(d, "falloc")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    t = time.perf_counter()
    fallocate(fd, length)
    os.fsync(fd)
    dt = time.perf_counter() - t
    if os.fstat(fd).st_size != length:
        sys.exit("fallocate: the file is %d bytes, not %d" % (os.fstat(fd).st_size, length))
    os.close(fd)
    os.unlink(path)
    return length / MiB / dt


def smallfile(d, quick):
    n = 200 if quick else 1000
    sub = os.path.join(d, "small")
    os.mkdir(sub)
    block = b"\x77" * 4096
    t = time.perf_counter()
    for i in range(n):
        fd = os.open(os.path.join(sub, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, block)
        os.fsync(fd)
        os.close(fd)
    dt = time.perf_counter() - t
    for i in range(n):
        os.unlink(os.path.join(sub, "f%d" % i))
    os.rmdir(sub)
    return n / dt


def sqlite_commits(d, quick, mode):
    n = 100 if quick else 500
    path = os.path.join(d, "bench.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=%s" % mode)
    got = db.execute("PRAGMA journal_mode").fetchone()[0].lower()
    if got != mode.lower():
        sys.exit("SQLite would not use journal_mode=%s (got %s)" % (mode, got))
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    row = b"r" * 100
    t = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN")
        db.execute("INSERT INTO t VALUES (?, ?)", (i, row))
        db.execute("COMMIT")
    dt = time.perf_counter() - t
    if db.execute("SELECT count(*) FROM t").fetchone()[0] != n:
        sys.exit("SQLite lost rows")
    db.close()
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    return n / dt


RUN = {
    "seqwrite": seqwrite,
    "randwrite-fdatasync": randwrite,
    "fallocate": fallocate_wl,
    "smallfile": smallfile,
    "sqlite-journal": lambda d, q: sqlite_commits(d, q, "DELETE"),
    "sqlite-wal": lambda d, q: sqlite_commits(d, q, "WAL"),
}

# (workload, minimum daxfs/fuse2fs ratio): the targets
TARGETS = [
    ("seqwrite", 1.0),
    ("fallocate", 1.0),
    ("randwrite-fdatasync", 1.0),
    ("smallfile", 1.0),
    ("sqlite-journal", 0.5),
    ("sqlite-wal", 0.5),
]


def fmt(x):
    return "{:,.0f}".format(x) if x >= 100 else "{:.1f}".format(x)


def report(raw, fslist):
    vals = defaultdict(dict)  # (row, fs) -> {round: value}
    other = defaultdict(float)
    for line in open(raw):
        rnd, row, unit, fs, v, oth, _st = line.rstrip("\n").split("\t")
        vals[(row, fs)][int(rnd)] = float(v)
        other[row] = max(other[row], float(oth))

    def ratio(row, a, b):
        da, db = vals.get((row, a)), vals.get((row, b))
        if not da or not db:
            return None
        rs = [da[r] / db[r] for r in da if r in db and db[r] > 0]
        return (median(rs), min(rs), max(rs)) if rs else None

    def fmt_ratio(r):
        if r is None:
            return "-"
        m, lo, hi = r
        return "{:.2f}".format(m) if lo == hi else "{:.2f} ({:.2f}–{:.2f})".format(m, lo, hi)

    names = {"ddaxfs": "daxfs", "dfuse2fs": "fuse2fs", "dhost": "host fs"}
    hdr = ["workload", "unit"] + [names.get(f, f) for f in fslist]
    hdr += ["daxfs/fuse2fs", "daxfs/host", "other CPU"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(hdr) - 2)) + "|")
    for row, (unit, _) in WORKLOADS.items():
        if not any((row, f) in vals for f in fslist):
            continue
        cells = []
        for f in fslist:
            d = vals.get((row, f))
            if not d:
                cells.append("-")
                continue
            v = list(d.values())
            m = median(v)
            s = fmt(m)
            if len(v) > 1 and m > 0:
                s += " ±{:.0f}%".format((max(v) - min(v)) / m * 50)
            cells.append(s)
        line = [row, unit] + cells
        line.append(fmt_ratio(ratio(row, "ddaxfs", "dfuse2fs")))
        line.append(fmt_ratio(ratio(row, "ddaxfs", "dhost")))
        line.append("{:.0f}%".format(other[row]))
        print("| " + " | ".join(line) + " |")
    print()
    print("Workloads: " + "; ".join("{}: {}".format(k, w) for k, (_, w) in WORKLOADS.items()) + ".")
    print("Cells: median over the rounds ± half the min–max spread in % of the median; "
          "ratios: median of the per-round ratios (min–max); other CPU: the highest share "
          "of the CPUs other processes used during one of the row's measurements.")
    print()
    print("Targets (daxfs/fuse2fs on the disk, ratios of this run):")
    print()
    print("| target | measured | result |")
    print("|---|---:|---|")
    for row, need in TARGETS:
        r = ratio(row, "ddaxfs", "dfuse2fs")
        if r is None:
            continue
        res = "met" if r[0] >= need else "**missed**"
        print("| {} ≥ {:g} × fuse2fs | {} | {} |".format(row, need, fmt_ratio(r), res))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run" and sys.argv[2] in RUN:
        print("%.1f" % RUN[sys.argv[2]](sys.argv[3], "--quick" in sys.argv[4:]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 2 and sys.argv[1] == "list":
        for k, (unit, _) in WORKLOADS.items():
            print(k, unit)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
