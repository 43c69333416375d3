#!/bin/bash
# SPDX-License-Identifier: MIT
# A file's blocks are free as soon as its last link and its last open are
# gone, not when the kernel forgets the inode: an O_PATH descriptor (which
# keeps the kernel's inode, and so its lookup reference, without an open
# the daemon sees) must not keep them.  Right after rm, and after a rename
# over the last link, statfs shows the space back and a fallocate that
# needs it succeeds.  A file unlinked while open, or while mapped (a
# mapping holds its file open), keeps its data until the last close or
# munmap, then its space returns; a reopen through the O_PATH descriptor of
# a removed file fails with ENOENT (the data is gone).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 128M
mount_fs "$T/p.pool" "$M"

run_py "$M" <<'PY'
import errno, mmap, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
MB = 1 << 20
BIG = 80 * MB  # more than half the pool: two at once do not fit

def blocks_free():
    return free_counts(".")[0]

def fill(name, size):
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.posix_fallocate(fd, 0, size)
    os.pwrite(fd, pattern(1, MB), size - MB)
    os.close(fd)

def fallocate_fits(name, size):
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.posix_fallocate(fd, 0, size)
        return True
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        return False
    finally:
        os.close(fd)
        os.unlink(name)

# Index blocks of a removed map are freed after an RCU grace period: the
# exact count may take a moment, the data blocks may not.
def wait_blocks(want):
    wait_until(lambda: blocks_free() == want, timeout=10.0)
    return blocks_free()

write_file("anchor", b"")  # the root directory's first block, before the count
base = blocks_free()
fill("big", BIG)
check(base - blocks_free() >= BIG // 4096, "an 80 MiB file takes its blocks",
      "free %d before, %d after" % (base, blocks_free()))
check(not fallocate_fits("more", BIG), "a second 80 MiB does not fit beside it")

say = print
say("# rm with an O_PATH descriptor holding the kernel's inode")
held = os.open("big", os.O_PATH)
must("rm big", os.unlink, "big")
check(base - blocks_free() < 64, "statfs right after rm counts the space free again",
      "free %d before the file, %d after rm" % (base, blocks_free()))
check(fallocate_fits("again", BIG), "an 80 MiB fallocate right after rm succeeds")
expect_errno("ENOENT", "reopening the removed file through its O_PATH descriptor",
             os.open, "/proc/self/fd/%d" % held, os.O_RDONLY)
os.close(held)
eq(wait_blocks(base), base, "every block is free again")

say("# rename over the last link")
fill("big", BIG)
write_file("small", b"replacement")
held = os.open("big", os.O_PATH)
must("rename small over big", os.rename, "small", "big")
check(fallocate_fits("again", BIG), "an 80 MiB fallocate right after the rename succeeds")
eq(read_file("big"), b"replacement", "the name has the new file")
os.close(held)
os.unlink("big")
eq(wait_blocks(base), base, "every block is free again")

say("# unlinked while open: the data stays until the last close")
fill("big", BIG)
fd = os.open("big", os.O_RDWR)
held = os.open("big", os.O_PATH)
must("rm big while open", os.unlink, "big")
check(not fallocate_fits("more", BIG), "its space is still in use while it is open")
eq(os.pread(fd, MB, BIG - MB), pattern(1, MB), "its data reads back while open")
eq(os.pwrite(fd, b"still writable", 0), 14, "and takes writes")
eq(os.pread(fd, 14, 0), b"still writable", "which read back")
os.close(fd)
check(wait_until(lambda: base - blocks_free() < 64, timeout=10.0),
      "after the last close its space is free, the O_PATH descriptor notwithstanding",
      "free %d before the file, %d now" % (base, blocks_free()))
check(fallocate_fits("again", BIG), "an 80 MiB fallocate then succeeds")
os.close(held)
eq(wait_blocks(base), base, "every block is free again")

say("# unlinked while mapped: a mapping holds the file open after its close")
fill("big", BIG)
fd = os.open("big", os.O_RDWR)
mp = mmap.mmap(fd, BIG)
os.close(fd)
must("rm big while mapped", os.unlink, "big")
check(not fallocate_fits("more", BIG), "its space is still in use while it is mapped")
eq(mp[BIG - MB:BIG], pattern(1, MB), "its data reads back through the mapping")
mp[0:6] = b"mapped"
mp.flush()
eq(mp[0:6], b"mapped", "and takes stores")
mp.close()
check(wait_until(lambda: base - blocks_free() < 64, timeout=10.0),
      "after the munmap its space is free",
      "free %d before the file, %d now" % (base, blocks_free()))
eq(wait_blocks(base), base, "every block is free again")
PY
umount_fs "$M"
finish
