#!/bin/bash
# SPDX-License-Identifier: MIT
# -o ro: every kind of write fails with EROFS, reads (files, directories,
# symlinks, statfs) work, and the tree is unchanged afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M"
mkdir "$M/dir" "$M/emptydir"
head -c 300000 /dev/urandom >"$M/file"
echo small >"$M/dir/inner"
ln -s file "$M/link"
mkfifo "$M/fifo"
tree_manifest "$M" >"$T/before"
umount_fs "$M"

mount_fs "$T/p.pool" "$M" -o ro
run_py "$M" <<'EOF'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
s = os.statvfs(".")
check(s.f_flag & os.ST_RDONLY, "statvfs reports ST_RDONLY")
eq(len(read_file("file")), 300000, "a file reads")
eq(read_file("dir/inner"), b"small\n", "a nested file reads")
eq(os.readlink("link"), "file", "a symlink reads")
eq(sorted(os.listdir(".")), ["dir", "emptydir", "fifo", "file", "link"], "the root lists")
C = os.O_WRONLY | os.O_CREAT
expect_errno("EROFS", "create a file", os.open, "new", C, 0o644)
expect_errno("EROFS", "open an existing file for writing", os.open, "file", os.O_WRONLY)
expect_errno("EROFS", "open an existing file with O_TRUNC", os.open, "file", os.O_RDONLY | os.O_TRUNC)
expect_errno("EROFS", "mkdir", os.mkdir, "newdir")
expect_errno("EROFS", "rmdir", os.rmdir, "emptydir")
expect_errno("EROFS", "unlink", os.unlink, "file")
expect_errno("EROFS", "rename", os.rename, "file", "file2")
expect_errno("EROFS", "link", os.link, "file", "file2")
expect_errno("EROFS", "symlink", os.symlink, "file", "link2")
expect_errno("EROFS", "mkfifo", os.mkfifo, "fifo2")
expect_errno("EROFS", "chmod", os.chmod, "file", 0o600)
expect_errno("EROFS", "chown", os.chown, "file", 1, 1)
expect_errno("EROFS", "utimensat", os.utime, "file", (1, 1))
expect_errno("EROFS", "truncate", os.truncate, "file", 0)
import mmap
fd = os.open("file", os.O_RDONLY)
try:
    mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    fail("a shared writable mmap of a read-only-opened file succeeded")
except OSError as e:
    ok("shared writable mmap refused (%s)" % errname(e.errno))
mm = mmap.mmap(fd, 300000, mmap.MAP_SHARED, mmap.PROT_READ)
eq(mm[:300000], read_file("file"), "read-only mmap reads the file")
mm.close()
os.close(fd)
EOF
tree_manifest "$M" >"$T/during"
out=$(diff "$T/before" "$T/during") || die "tree differs on the ro mount: $out"
pass "tree on the ro mount equals the tree written before"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
tree_manifest "$M" >"$T/after"
out=$(diff "$T/before" "$T/after") || die "tree changed by the ro mount: $out"
pass "tree unchanged after the ro mount"
check "the pool is writable again without ro" sh -c "echo x >'$M/after-ro'"
umount_fs "$M"
finish
