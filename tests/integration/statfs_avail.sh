#!/bin/bash
# SPDX-License-Identifier: MIT
# What statfs reports as free is what a request can get: a fallocate of
# exactly f_bavail blocks succeeds in one file, from offset 0 on a fresh
# 4 GiB pool, and on a 256 MiB pool also at offsets that need the most
# index blocks of its map (a range that starts one block before the edge of
# a leaf, and of a second level node); what statfs sets aside for those
# index blocks is small (a few blocks per 2 MiB), and after each fill
# nearly nothing is left.  fsck.daxfs -n -f finds the pools clean.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init
[[ -n "${FSCK_DAXFS:-}" ]] || die "FSCK_DAXFS is not set: this test checks the pool with fsck.daxfs"
# The test is about space, not durability: persist with cache flushes
# rather than an msync per block, so that filling 4 GiB takes seconds.
export PMEM_IS_PMEM_FORCE=1

M=$T/m
cat >"$T/py/fill_avail.py" <<'EOF'
import ctypes, errno, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP_SIZE = 1

def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

write_file("anchor", b"")
base = free_counts(".")
s0 = statfs(".")
print("  # statfs on the fresh pool:", s0)
eq(s0["bfree"], s0["bavail"], "f_bfree and f_bavail agree (no blocks reserved for root)")
check(s0["bavail"] >= s0["blocks"] - s0["blocks"] // 200,
      "statfs sets aside less than 0.5% of the data blocks for block map index blocks", str(s0))

def fill(desc, mode, off_blocks):
    s = statfs(".")
    avail = s["bavail"] * s["frsize"]
    fd = os.open("fill", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        must("%s: fallocate of exactly f_bavail (%d bytes) at block %d" % (desc, avail, off_blocks),
             fallocate, fd, mode, off_blocks * 4096, avail)
    finally:
        os.close(fd)
    st = os.stat("fill")
    check(st.st_blocks * 512 >= avail, "%s: the file holds all %d bytes" % (desc, avail),
          "st_blocks %d" % st.st_blocks)
    left = statfs(".")["bavail"]
    check(left <= 16, "%s: afterwards at most 16 blocks are left available" % desc, "left %d" % left)
    os.unlink("fill")
    eq(wait_free_counts(".", base, timeout=60), base, "%s: free counts are back once the file is gone" % desc)

fill("from offset 0", 0, 0)
if sys.argv[2] == "all":
    # one block before the edge of a leaf (512 blocks), and of a second
    # level node (512 * 512 blocks): the range meets one more node there
    fill("one block before a leaf edge", 0, 511)
    fill("one block before a node edge, KEEP_SIZE", KEEP_SIZE, 512 * 512 - 1)
EOF

say "a fresh 4 GiB pool"
mkpool "$T/p.pool" -s 4G
mount_fs "$T/p.pool" "$M"
run_py "$M" offset0 <"$T/py/fill_avail.py"
umount_fs "$M"
rm -f "$T/p.pool"

say "a 256 MiB pool, at the offsets that need the most index blocks"
mkpool "$T/s.pool" -s 256M
mount_fs "$T/s.pool" "$M"
run_py "$M" all <"$T/py/fill_avail.py"
umount_fs "$M"
finish
