#!/bin/bash
# SPDX-License-Identifier: MIT
# statfs reports real block and inode counts, and running out of space
# (ENOSPC for data blocks, for directory blocks and for inodes) leaks
# nothing: once the partial files are deleted, free blocks and free inodes
# are back at their starting values, also across a remount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m

say "statfs on a fresh 64 MiB pool"
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"
run_py "$M" $((64 << 20)) <<'EOF'
import os, sys
from dxcheck import *
m, poolsize = sys.argv[1], int(sys.argv[2])
os.chdir(m)
s = statfs(".")
print("  # statfs:", s)
eq(s["bsize"], 4096, "f_bsize is 4096")
check(0 < s["blocks"] * s["frsize"] <= poolsize, "total data blocks fit in the pool", str(s))
check(s["blocks"] * s["frsize"] >= poolsize // 2, "at least half of a 64 MiB pool is data blocks", str(s))
check(s["bfree"] <= s["blocks"] and s["bavail"] <= s["bfree"], "free <= total and avail <= free", str(s))
check(s["bfree"] >= s["blocks"] * 95 // 100, "a fresh pool is at least 95% free", str(s))
check(0 < s["ffree"] < s["files"], "free inodes below total inodes (the root uses one)", str(s))
check(s["ffree"] >= s["files"] - 4, "a fresh pool has all but a few inodes free", str(s))
eq(s["namemax"], 255, "f_namemax is 255")

write_file("anchor", b"")
b0, i0 = free_counts(".")
write_file("f1000", pattern(1, 1000 * 4096))
b1, i1 = free_counts(".")
eq(i0 - i1, 1, "creating a file uses exactly one inode")
check(1000 <= b0 - b1 <= 1005, "a 1000-block file uses 1000 data blocks plus a few index blocks", "used %d" % (b0 - b1))
os.truncate("f1000", 500 * 4096)
b2, _ = free_counts(".")
check(500 <= b2 - b1 <= 502, "truncating to 500 blocks frees about 500 blocks", "freed %d" % (b2 - b1))
os.truncate("f1000", 100 << 20)
eq(free_counts(".")[0], b2, "truncate up allocates nothing")
os.mkdir("dir")
eq(i1 - free_counts(".")[1], 1, "mkdir uses exactly one inode")
for i in range(40):
    write_file("dir/e%02d" % i, b"")
b3, i3 = free_counts(".")
eq(i1 - i3, 41, "40 empty files and a directory use 41 inodes")
check(b2 - b3 <= 8, "40 empty files use only directory blocks", "used %d" % (b2 - b3))
for i in range(40):
    os.unlink("dir/e%02d" % i)
os.rmdir("dir")
os.unlink("f1000")
eq(wait_free_counts(".", (b0, i0)), (b0, i0), "after deleting everything free blocks and inodes are back at the start values")
EOF
umount_fs "$M"

say "ENOSPC for data blocks on an 8 MiB pool, no leak"
mkpool "$T/s.pool" -s 8M
mount_fs "$T/s.pool" "$M"
run_py "$M" <<'EOF'
import errno, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
write_file("keep", pattern(7, 100000))
base = free_counts(".")
os.mkdir("names")
s0 = statfs(".")
print("  # start:", s0)

def fill(path, chunk):
    """Write chunk-sized pieces until ENOSPC; returns bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    total = 0
    err = None
    data = pattern(9, chunk)
    try:
        while total < 64 << 20:
            try:
                n = os.write(fd, data)
            except OSError as e:
                err = e.errno
                break
            total += n
        try:
            os.fsync(fd)
        except OSError as e:
            err = err or e.errno
    finally:
        try:
            os.close(fd)
        except OSError as e:
            err = err or e.errno
    return total, err

total, err = fill("big", 1 << 20)
eq(errno.errorcode.get(err), "ENOSPC", "writing 1 MiB pieces into an 8 MiB pool ends with ENOSPC")
print("  # wrote %d bytes before ENOSPC" % total)
s1 = statfs(".")
print("  # full:", s1)
check(total // 4096 >= s0["bavail"] - s0["bavail"] // 100 - 16,
      "the pool takes about as many blocks as statfs said were available",
      "wrote %d blocks, statfs said %d available" % (total // 4096, s0["bavail"]))
check(s1["bavail"] <= max(16, s1["blocks"] // 100), "statfs shows the pool as full", str(s1))
eq(os.stat("big").st_size, total, "the file's size is what was written")
data = pattern(9, 1 << 20)
with open("big", "rb") as f:
    good = all(f.read(1 << 20) == data[:min(1 << 20, total - i)] for i in range(0, total, 1 << 20))
check(good, "every byte written before ENOSPC reads back")
eq(read_file("keep"), pattern(7, 100000), "an unrelated file is intact on a full pool")
afd = os.open("big", os.O_WRONLY | os.O_APPEND)
expect_errno("ENOSPC", "a further append to the full file", os.write, afd, b"x" * 8192)
os.close(afd)

# directory blocks: 15 entries fit a block, so new names need new blocks
made = 0
err = None
for i in range(2000):
    try:
        write_file("names/n%04d" % i, b"")
        made += 1
    except OSError as e:
        err = e.errno
        break
eq(errno.errorcode.get(err), "ENOSPC", "creating names in a directory on a full pool ends with ENOSPC")
print("  # created %d names before ENOSPC" % made)
eq(sorted(os.listdir("names")), ["n%04d" % i for i in range(made)], "the directory lists exactly the names that were created")
os.unlink("big")
for i in range(made):
    os.unlink("names/n%04d" % i)
os.rmdir("names")
eq(wait_free_counts(".", base), base, "after deleting the partial files free blocks and inodes are back at the start values")

# a shared mapping of a sparse file on a full pool: the stores cannot be
# kept, and msync must say so instead of losing them silently
write_file("big", b"")
fill("big", 1 << 20)
fd = os.open("mapped", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 1 << 20)
import mmap
mm = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
try:
    mm[:] = pattern(12, 1 << 20)
    expect_errno(("ENOSPC", "EIO"), "msync of stores into holes on a full pool reports the failure", mm.flush)
finally:
    try:
        mm.close()
    except Exception:
        pass
    try:
        os.close(fd)
    except OSError:
        pass
os.unlink("mapped")
os.unlink("big")
eq(wait_free_counts(".", base), base, "no leak after the failed msync")

# one huge write call
fd = os.open("huge", os.O_WRONLY | os.O_CREAT, 0o644)
try:
    n = os.write(fd, bytes(32 << 20))
    check(n < 32 << 20, "a single 32 MiB write on an 8 MiB pool is short", "returned %d" % n)
    expect_errno("ENOSPC", "writing the rest", os.write, fd, bytes(1 << 20))
except OSError as e:
    eq(errno.errorcode.get(e.errno), "ENOSPC", "a single 32 MiB write on an 8 MiB pool fails with ENOSPC")
os.close(fd)
os.unlink("huge")
eq(wait_free_counts(".", base), base, "no leak after the huge write")

# posix_fallocate beyond the free space
fd = os.open("falloc", os.O_WRONLY | os.O_CREAT, 0o644)
expect_errno("ENOSPC", "posix_fallocate of 32 MiB on an 8 MiB pool", os.posix_fallocate, fd, 0, 32 << 20)
os.close(fd)
os.unlink("falloc")
eq(wait_free_counts(".", base), base, "no leak after the failed fallocate")

# a failed fallocate gives its blocks back at once, not when the file goes:
# free blocks before == after, the size unchanged, in both modes
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
write_file("falloc", pattern(8, 5000))
fd = os.open("falloc", os.O_WRONLY)
b0 = free_counts(".")
for mode, name in ((0, "mode 0"), (1, "KEEP_SIZE")):
    expect_errno("ENOSPC", "fallocate (%s) of 100 MiB on an 8 MiB pool" % name, fallocate, fd, mode, 0, 100 << 20)
    eq(free_counts("."), b0, "free blocks and inodes unchanged by the failed fallocate (%s)" % name)
    eq(os.stat("falloc").st_size, 5000, "the size is unchanged by the failed fallocate (%s)" % name)
fallocate(fd, 1, 1 << 20, 4096) # one block past EOF, kept by the next failures
b1 = free_counts(".")
check(b1[0] < b0[0], "a KEEP_SIZE fallocate past EOF takes a block")
for mode, name in ((0, "mode 0"), (1, "KEEP_SIZE")):
    expect_errno("ENOSPC", "fallocate (%s) over a block past EOF" % name, fallocate, fd, mode, 0, 100 << 20)
    eq(free_counts("."), b1, "a failed fallocate keeps a block that was there (%s)" % name)
os.close(fd)
eq(read_file("falloc"), pattern(8, 5000), "the file's data is intact after the failed fallocates")
os.unlink("falloc")
eq(wait_free_counts(".", base), base, "no leak after the failed fallocates")

total2, err = fill("again", 256 << 10)
eq(errno.errorcode.get(err), "ENOSPC", "a second fill also ends with ENOSPC")
check(abs(total2 - total) <= 1 << 20, "the second fill takes as much space as the first",
      "first %d, second %d bytes" % (total, total2))
os.unlink("again")
eq(wait_free_counts(".", base), base, "no leak after the second fill")
with open(os.path.join(os.environ["T"], "counts"), "w") as f:
    f.write("%d %d" % base)
EOF
umount_fs "$M"
mount_fs "$T/s.pool" "$M"
check_eq "free blocks and inodes unchanged after remount" "$(cat "$T/counts")" "$(stat -f -c '%f %d' "$M")"
umount_fs "$M"

say "ENOSPC for inodes (-N 64), no leak"
mkpool "$T/i.pool" -s 32M -N 64
mount_fs "$T/i.pool" "$M"
run_py "$M" <<'EOF'
import errno, os, sys
from dxcheck import *
os.chdir(sys.argv[1])
write_file("anchor", b"")
base = free_counts(".")
os.mkdir("d")
s0 = statfs(".")
made, err = 0, None
while made < 10000:
    try:
        write_file("d/f%05d" % made, b"")
        made += 1
    except OSError as e:
        err = e.errno
        break
eq(errno.errorcode.get(err), "ENOSPC", "creating files until the inode table is full ends with ENOSPC")
eq(made, s0["ffree"], "exactly as many files could be created as statfs said inodes were free")
eq(statfs(".")["ffree"], 0, "statfs shows no free inodes")
expect_errno("ENOSPC", "mkdir with no free inodes", os.mkdir, "d/x")
expect_errno("ENOSPC", "symlink with no free inodes", os.symlink, "t", "d/y")
expect_errno("ENOSPC", "mkfifo with no free inodes", os.mkfifo, "d/z")
must("a hard link needs no inode", os.link, "d/f00000", "d/hl")
must("writing data into an existing file still works", write_file, "d/f00001", b"data" * 1000)
os.unlink("d/hl")
for i in range(made):
    os.unlink("d/f%05d" % i)
os.rmdir("d")
eq(wait_free_counts(".", base), base, "after deleting the files free blocks and inodes are back at the start values")
EOF
umount_fs "$M"
finish
