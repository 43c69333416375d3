#!/bin/bash
# SPDX-License-Identifier: MIT
# Error cases: ENAMETOOLONG (256-byte names; 255 is fine), EFBIG (truncate or
# write beyond 256 GiB; exactly 256 GiB is fine), ENOTDIR, EISDIR, EEXIST,
# ENOENT, ENOTEMPTY, EPERM for hard links to directories, and EXDEV for
# rename/link between two daxfs mounts.  Nothing is left behind by the
# failed calls.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
M2=$T/m2
mkpool "$T/p.pool" -s 64M
mkpool "$T/q.pool" -s 32M
mount_fs "$T/p.pool" "$M"
mount_fs "$T/q.pool" "$M2"

run_py "$M" "$M2" <<'EOF'
import os, sys
from dxcheck import *
m, m2 = sys.argv[1], sys.argv[2]
os.chdir(m)
write_file("file", b"a file")
os.mkdir("dir")
write_file("dir/inner", b"x")
os.mkdir("emptydir")
base = free_counts(".")
C = os.O_WRONLY | os.O_CREAT

# ---- ENAMETOOLONG
n255, n256 = "a" * 255, "b" * 256
expect_errno("ENAMETOOLONG", "create a 256-byte name", os.open, n256, C, 0o644)
expect_errno("ENAMETOOLONG", "mkdir a 256-byte name", os.mkdir, n256)
expect_errno("ENAMETOOLONG", "symlink to a 256-byte name", os.symlink, "file", n256)
expect_errno("ENAMETOOLONG", "mkfifo a 256-byte name", os.mkfifo, n256)
expect_errno("ENAMETOOLONG", "hard link to a 256-byte name", os.link, "file", n256)
expect_errno("ENAMETOOLONG", "rename to a 256-byte name", os.rename, "file", n256)
expect_errno("ENAMETOOLONG", "create a 256-byte name inside a subdirectory", os.open, "dir/" + n256, C, 0o644)
expect_errno("ENAMETOOLONG", "create a 256-byte multibyte UTF-8 name", os.open, "\u00e9" * 128, C, 0o644)
fd = must("create a 255-byte name", os.open, n255, C, 0o644)
os.close(fd)
check(n255 in os.listdir("."), "255-byte name listed")
must("rename to another 255-byte name", os.rename, n255, "c" * 255)
must("mkdir a 255-byte name", os.mkdir, "d" * 255)
must("symlink with a 255-byte name", os.symlink, "file", "e" * 255)
os.unlink("c" * 255); os.rmdir("d" * 255); os.unlink("e" * 255)
check(os.path.exists("file"), "file still exists after the failed renames")

# ---- EFBIG
MAX = 256 << 30
write_file("big", b"")
expect_errno("EFBIG", "truncate to 256 GiB + 1", os.truncate, "big", MAX + 1)
expect_errno("EFBIG", "truncate to 1 TiB", os.truncate, "big", 1 << 40)
must("truncate to exactly 256 GiB", os.truncate, "big", MAX)
eq(os.stat("big").st_size, MAX, "size is 256 GiB")
os.truncate("big", 0)
fd = os.open("big", os.O_RDWR)
expect_errno("EFBIG", "ftruncate to 256 GiB + 4096", os.ftruncate, fd, MAX + 4096)
expect_errno("EFBIG", "pwrite at offset 256 GiB", os.pwrite, fd, b"x", MAX)
expect_errno("EFBIG", "pwrite at offset 300 GiB", os.pwrite, fd, b"x" * 4096, 300 << 30)
eq(os.fstat(fd).st_size, 0, "failed writes left the size alone")
eq(must("pwrite of the last byte below 256 GiB", os.pwrite, fd, b"L", MAX - 1), 1, "one byte written at 256 GiB - 1")
eq(os.fstat(fd).st_size, MAX, "size is 256 GiB after writing its last byte")
eq(os.pread(fd, 10, MAX - 1), b"L", "the last byte reads back")
eq(os.pread(fd, 4096, MAX - 4096), bytes(4095) + b"L", "the hole before it reads as zeros")
afd = os.open("big", os.O_WRONLY | os.O_APPEND)
expect_errno("EFBIG", "appending at 256 GiB", os.write, afd, b"y")
os.close(afd)
os.close(fd)
os.unlink("big")

# ---- ENOTDIR
expect_errno("ENOTDIR", "open file/x", os.open, "file/x", os.O_RDONLY)
expect_errno("ENOTDIR", "create file/x", os.open, "file/x", C, 0o644)
expect_errno("ENOTDIR", "mkdir file/x", os.mkdir, "file/x")
expect_errno("ENOTDIR", "rmdir a file", os.rmdir, "file")
expect_errno("ENOTDIR", "opendir a file", os.listdir, "file")
expect_errno("ENOTDIR", "open a file with O_DIRECTORY", os.open, "file", os.O_RDONLY | os.O_DIRECTORY)
expect_errno("ENOTDIR", "rename a directory over a file", os.rename, "emptydir", "file")

# ---- EISDIR
expect_errno("EISDIR", "open a directory for writing", os.open, "dir", os.O_WRONLY)
expect_errno("EISDIR", "open a directory read-write", os.open, "dir", os.O_RDWR)
expect_errno("EISDIR", "unlink a directory", os.unlink, "dir")
expect_errno("EISDIR", "rename a file over a directory", os.rename, "file", "emptydir")
fd = os.open("dir", os.O_RDONLY)
expect_errno("EISDIR", "read(2) on a directory", os.read, fd, 10)
os.close(fd)

# ---- EEXIST
expect_errno("EEXIST", "O_CREAT|O_EXCL on an existing file", os.open, "file", C | os.O_EXCL, 0o644)
expect_errno("EEXIST", "O_CREAT|O_EXCL on an existing directory", os.open, "dir", C | os.O_EXCL, 0o644)
expect_errno("EEXIST", "mkdir an existing directory", os.mkdir, "dir")
expect_errno("EEXIST", "mkdir over an existing file", os.mkdir, "file")
expect_errno("EEXIST", "symlink over an existing name", os.symlink, "x", "file")
expect_errno("EEXIST", "link over an existing name", os.link, "file", "dir/inner")
expect_errno("EEXIST", "mkfifo over an existing name", os.mkfifo, "file")
expect_errno("EEXIST", "mknod over an existing name", os.mknod, "file", 0o600 | 0o010000)
eq(read_file("file"), b"a file", "file unchanged by the EEXIST failures")

# ---- ENOENT
expect_errno("ENOENT", "open a missing file", os.open, "missing", os.O_RDONLY)
expect_errno("ENOENT", "stat a missing file", os.stat, "missing")
expect_errno("ENOENT", "unlink a missing file", os.unlink, "missing")
expect_errno("ENOENT", "rmdir a missing directory", os.rmdir, "missing")
expect_errno("ENOENT", "create in a missing directory", os.open, "missing/f", C, 0o644)
expect_errno("ENOENT", "mkdir in a missing directory", os.mkdir, "missing/d")
expect_errno("ENOENT", "rename a missing file", os.rename, "missing", "other")
expect_errno("ENOENT", "link a missing file", os.link, "missing", "other")
expect_errno("ENOENT", "readlink a missing name", os.readlink, "missing")
expect_errno("ENOENT", "chmod a missing file", os.chmod, "missing", 0o644)
expect_errno("ENOENT", "truncate a missing file", os.truncate, "missing", 0)

# ---- ENOTEMPTY, EPERM
expect_errno("ENOTEMPTY", "rmdir a non-empty directory", os.rmdir, "dir")
expect_errno("EPERM", "hard link to a directory", os.link, "dir", "dirlink")
expect_errno(("EINVAL", "EBUSY"), "rmdir '.'", os.rmdir, "dir/.")
expect_errno(("ENOTEMPTY", "EBUSY", "EINVAL"), "rmdir '..'", os.rmdir, "dir/..")

# ---- EXDEV between two daxfs mounts
write_file(os.path.join(m2, "other"), b"on the second pool")
expect_errno("EXDEV", "rename a file to another daxfs mount", os.rename, "file", os.path.join(m2, "moved"))
expect_errno("EXDEV", "rename a directory to another daxfs mount", os.rename, "dir", os.path.join(m2, "dmoved"))
expect_errno("EXDEV", "rename from the other mount onto a file here", os.rename, os.path.join(m2, "other"), "file")
expect_errno("EXDEV", "hard link across mounts", os.link, "file", os.path.join(m2, "lnk"))
expect_errno("EXDEV", "RENAME_EXCHANGE across mounts", renameat2, "file", os.path.join(m2, "other"), RENAME_EXCHANGE)
eq(sorted(os.listdir(m2)), ["other"], "second mount unchanged by the EXDEV failures")
eq(read_file("file"), b"a file", "file unchanged by the EXDEV failures")

eq(sorted(os.listdir(".")), ["dir", "emptydir", "file"], "no stray entries after all the failed calls")
eq(wait_free_counts(".", base), base, "free blocks and inodes unchanged by all the failed calls")
EOF
umount_fs "$M2"
umount_fs "$M"
finish
