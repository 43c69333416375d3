#!/bin/bash
# SPDX-License-Identifier: MIT
# Sparse files across every height of the block map: data written at offsets
# that need no index block, one, two and three levels (up to just below
# 256 GiB) reads back, holes read as zeros, st_blocks counts only what is
# allocated; truncating down step by step keeps the data below the cut and
# drops the data above it (nothing reappears after truncating up again);
# all of it survives a remount, and deleting the files frees every data and
# index block.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"
touch "$M/anchor"
read -r B0 I0 < <(statfs_line "$M")

cat >"$T/py/sparsecheck.py" <<'EOF'
import os
from dxcheck import *
K, M, G = 1 << 10, 1 << 20, 1 << 30
# stamps ending exactly at a block, index or tree boundary, and starting at
# one; no two overlap
OFFSETS = [0, 4090, 4096, 511 * 4096, 512 * 4096, 2 * M - 9, 2 * M, 3 * M + 17,
           G - 4096, G - 12, G, G + 4096 * 513, 5 * G + 123, 100 * G, 255 * G + 7,
           256 * G - 4096, 256 * G - 8]

def stamp(off):
    return b"<%d>" % off

def layout(limit=None):
    """{offset: bytes} of what the file holds below limit."""
    out = {}
    for off in OFFSETS:
        s = stamp(off)
        if off + len(s) > 256 * G:
            s = s[:256 * G - off]
        if limit is not None:
            s = s[:max(0, limit - off)]
        if s:
            out[off] = s
    return out

def write_all(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    for off, s in layout().items():
        if os.pwrite(fd, s, off) != len(s):
            fail("short write at %d" % off)
    os.close(fd)

def verify(path, size, label):
    fd = os.open(path, os.O_RDONLY)
    try:
        eq(os.fstat(fd).st_size, size, "%s: size %d" % (label, size))
        want = layout(size)
        # fixed data where it was written (and kept)
        for off, s in want.items():
            got = os.pread(fd, len(s), off)
            if got != s:
                fail("%s: %r at offset %d reads back as %r" % (label, s, off, got))
        # zeros around every stamp, in the gaps, and where cut data was
        probes = set()
        for off in OFFSETS:
            for d in (-4096, -9, 40, 4096, 4096 * 600):
                if 0 <= off + d < size:
                    probes.add(off + d)
        for p in sorted(probes):
            if any(o <= p < o + len(s) for o, s in want.items()):
                continue
            b = os.pread(fd, 1, p)
            if b != b"\0":
                fail("%s: byte at %d should be zero (a hole or cut data), reads %r" % (label, p, b))
        ok("%s: %d stamps read back, %d probes of holes read zeros" % (label, len(want), len(probes)))
    finally:
        os.close(fd)
EOF

say "write stamps at every map height"
run_py "$M" <<'EOF'
import os, sys
from sparsecheck import *
os.chdir(sys.argv[1])
b0 = free_counts(".")[0]
write_all("s")
verify("s", 256 * G, "after writing")
st = os.stat("s")
used = b0 - free_counts(".")[0]
check(st.st_blocks * 512 <= 200 * 4096, "st_blocks counts only allocated blocks", "st_blocks %d" % st.st_blocks)
check(len(OFFSETS) <= used <= 120, "a 256 GiB sparse file with %d stamps uses %d blocks (data and index)" % (len(OFFSETS), used),
      "used %d" % used)
eq(st.st_blocks * 512 // 4096, used, "st_blocks equals the blocks statfs says were used")
EOF
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
run_py "$M" <<'EOF'
import os, sys
from sparsecheck import *
os.chdir(sys.argv[1])
verify("s", 256 * G, "after remount")
EOF

say "truncate down step by step"
run_py "$M" <<'EOF'
import os, sys
from sparsecheck import *
os.chdir(sys.argv[1])
steps = [200 * G, 100 * G + 3, 5 * G + 124, G + 4096 * 513, G, G - 2, 3 * M, 2 * M + 1, 2 * M - 3,
         511 * 4096 + 2, 4096 * 2, 4096, 3, 0]
assert steps == sorted(steps, reverse=True)
prev = os.stat("s").st_blocks
for size in steps:
    os.truncate("s", size)
    verify("s", size, "truncated to %d" % size)
    blk = os.stat("s").st_blocks
    if blk > prev:
        fail("truncating down to %d grew st_blocks from %d to %d" % (size, prev, blk))
    prev = blk
eq(os.stat("s").st_blocks, 0, "an empty file has no blocks")
# nothing reappears when growing again
os.truncate("s", 256 * G)
fd = os.open("s", os.O_RDONLY)
for off in OFFSETS:
    got = os.pread(fd, 16, off)
    if not got or got != bytes(len(got)):
        fail("old data reappeared at %d after truncate to 0 and up again: %r" % (off, got))
os.close(fd)
ok("after truncating to 0 and up to 256 GiB every old stamp reads as zeros")
os.truncate("s", 0)
write_all("s")
os.truncate("s", G + 1)
verify("s", G + 1, "rewritten, then truncated to 1 GiB + 1")
EOF
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
run_py "$M" <<'EOF'
import os, sys
from sparsecheck import *
os.chdir(sys.argv[1])
verify("s", G + 1, "after remount")
os.unlink("s")
EOF
check_eq "after deleting the sparse file every data and index block is free" "$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"
umount_fs "$M"
finish
