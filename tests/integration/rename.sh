#!/bin/bash
# SPDX-License-Identifier: MIT
# rename(2) and renameat2(2): within and across directories, over an existing
# file (its space is freed), over an empty directory, EISDIR/ENOTDIR/
# ENOTEMPTY, RENAME_NOREPLACE -> EEXIST, RENAME_EXCHANGE of files and of a
# file with a directory across parents, EINVAL for moving a directory into
# its own subtree, ".." of moved directories, and persistence after remount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"

run_py "$M" <<'EOF'
import os, stat, sys
from dxcheck import *

os.chdir(sys.argv[1])

def dotdot_ino(d):
    """d_ino of the ".." entry that readdir returns for directory d."""
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            ents = getdents64(fd, 4096)
            if not ents:
                return None
            for ino, off, typ, name in ents:
                if name == "..":
                    return ino
    finally:
        os.close(fd)

os.mkdir("a")
os.mkdir("b")
write_file("a/x", b"content of x")
ino = os.stat("a/x").st_ino

# ---- simple renames
must("rename within a directory", os.rename, "a/x", "a/y")
expect_errno("ENOENT", "old name is gone", os.stat, "a/x")
eq(os.stat("a/y").st_ino, ino, "new name is the same inode")
must("rename across directories", os.rename, "a/y", "b/z")
eq(read_file("b/z"), b"content of x", "content follows the rename")
eq(sorted(os.listdir("a")), [], "source directory no longer lists it")
eq(sorted(os.listdir("b")), ["z"], "target directory lists it")
must("rename to the same name is a no-op", os.rename, "b/z", "b/z")
eq(read_file("b/z"), b"content of x", "file intact after rename to itself")
expect_errno("ENOENT", "rename of a missing source", os.rename, "a/nothing", "a/other")
expect_errno("ENOENT", "rename into a missing directory", os.rename, "b/z", "nodir/z")

# ---- over an existing file: the old target's space is freed
write_file("b/victim", pattern(3, 4 << 20))
base = free_counts(".")
write_file("b/src", b"new content")
victim_ino = os.stat("b/victim").st_ino
held = os.open("b/victim", os.O_RDONLY)
must("rename over an existing file", os.rename, "b/src", "b/victim")
eq(read_file("b/victim"), b"new content", "target name now has the source's content")
expect_errno("ENOENT", "source name is gone", os.stat, "b/src")
eq(len(os.pread(held, 8 << 20, 0)), 4 << 20, "replaced file still readable through an open fd")
eq(os.fstat(held).st_nlink, 0, "replaced file has nlink 0 while held open")
os.close(held)
write_file("b/src2", b"small")
os.rename("b/src2", "b/victim")
# the replaced 4 MiB file and the first replacement are gone: space is back
# to the value measured when only the victim existed, minus the victim.
got = wait_until(lambda: free_counts(".")[0] - base[0] >= (4 << 20) // 4096 - 1, 10)
check(got, "blocks of a file replaced by rename are freed",
      "free blocks before %d, now %d" % (base[0], free_counts(".")[0]))

# ---- directories
os.makedirs("d1/inner")
write_file("d1/inner/f", b"in d1")
os.mkdir("empty")
must("rename a directory over an empty directory", os.rename, "d1", "empty")
eq(read_file("empty/inner/f"), b"in d1", "moved directory's contents reachable")
expect_errno("ENOENT", "old directory name is gone", os.stat, "d1")
os.makedirs("full/thing")
expect_errno(("ENOTEMPTY", "EEXIST"), "rename a directory over a non-empty directory", os.rename, "empty", "full")
expect_errno("EISDIR", "rename a file over a directory", os.rename, "b/victim", "full")
expect_errno("ENOTDIR", "rename a directory over a file", os.rename, "full", "b/victim")
expect_errno("EINVAL", "rename a directory into its own child", os.rename, "full", "full/thing/sub")
expect_errno("EINVAL", "rename a directory into itself", os.rename, "full", "full/sub")
os.makedirs("p1/p2/p3")
expect_errno("EINVAL", "rename a directory into its grandchild", os.rename, "p1", "p1/p2/p3/p1")
must("rename a directory to a deeper place elsewhere", os.rename, "p1/p2", "full/thing/p2")
eq(dotdot_ino("full/thing/p2"), os.stat("full/thing").st_ino, "readdir '..' of a moved directory names its new parent")
eq(dotdot_ino("full/thing/p2/p3"), os.stat("full/thing/p2").st_ino, "readdir '..' of a child of the moved directory")
check(os.path.isdir("full/thing/p2/p3"), "moved subtree intact")

# ---- RENAME_NOREPLACE
write_file("n1", b"n1")
write_file("n2", b"n2")
expect_errno("EEXIST", "RENAME_NOREPLACE onto an existing file", renameat2, "n1", "n2", RENAME_NOREPLACE)
eq((read_file("n1"), read_file("n2")), (b"n1", b"n2"), "both files unchanged after the refused rename")
expect_errno("EEXIST", "RENAME_NOREPLACE onto an existing directory", renameat2, "n1", "full", RENAME_NOREPLACE)
must("RENAME_NOREPLACE onto a free name", renameat2, "n1", "n3", RENAME_NOREPLACE)
eq(read_file("n3"), b"n1", "RENAME_NOREPLACE moved the file")
expect_errno("ENOENT", "RENAME_NOREPLACE removed the old name", os.stat, "n1")

# ---- RENAME_EXCHANGE
i2, i3 = os.stat("n2").st_ino, os.stat("n3").st_ino
must("RENAME_EXCHANGE two files", renameat2, "n2", "n3", RENAME_EXCHANGE)
eq((read_file("n2"), read_file("n3")), (b"n1", b"n2"), "contents swapped")
eq((os.stat("n2").st_ino, os.stat("n3").st_ino), (i3, i2), "inodes swapped")
os.makedirs("ex1/dir/child")
os.mkdir("ex2")
write_file("ex2/file", b"exchanged file")
dino = os.stat("ex1/dir").st_ino
must("RENAME_EXCHANGE a directory with a file in another directory", renameat2, "ex1/dir", "ex2/file", RENAME_EXCHANGE)
check(os.path.isdir("ex2/file") and os.stat("ex2/file").st_ino == dino, "directory now at ex2/file")
eq(read_file("ex1/dir"), b"exchanged file", "file now at ex1/dir")
check(os.path.isdir("ex2/file/child"), "exchanged directory keeps its children")
eq(dotdot_ino("ex2/file"), os.stat("ex2").st_ino, "readdir '..' of the exchanged directory names its new parent")
eq(sorted(os.listdir("ex1")), ["dir"], "ex1 lists one entry")
eq(sorted(os.listdir("ex2")), ["file"], "ex2 lists one entry")
expect_errno("ENOENT", "RENAME_EXCHANGE with a missing target", renameat2, "n2", "n-missing", RENAME_EXCHANGE)
expect_errno("EINVAL", "RENAME_EXCHANGE with RENAME_NOREPLACE", renameat2, "n2", "n3",
             RENAME_EXCHANGE | RENAME_NOREPLACE)
os.makedirs("x1/x2")
expect_errno("EINVAL", "RENAME_EXCHANGE of a directory with its own descendant", renameat2, "x1", "x1/x2", RENAME_EXCHANGE)

# ---- hard links of one inode
write_file("h1", b"hl")
os.link("h1", "h2")
must("rename between two links of the same inode", os.rename, "h1", "h2")
check(os.path.exists("h1") and os.path.exists("h2"), "both links still exist (POSIX: rename does nothing)")
eq(os.stat("h2").st_nlink, 2, "nlink still 2")

# ---- many renames in a directory, then listing is exact
os.mkdir("many")
for i in range(200):
    write_file("many/f%03d" % i, b"%d" % i)
for i in range(0, 200, 2):
    os.rename("many/f%03d" % i, "many/g%03d" % i)
want = sorted(("g%03d" if i % 2 == 0 else "f%03d") % i for i in range(200))
eq(sorted(os.listdir("many")), want, "listing after 100 renames in a 200-entry directory")
check(all(read_file("many/" + n) == str(int(n[1:])).encode() for n in want),
      "every renamed file keeps its content")
EOF

say "unmount, remount, compare"
tree_manifest "$M" >"$T/before"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
tree_manifest "$M" >"$T/after"
out=$(diff "$T/before" "$T/after") || die "tree changed across unmount/remount: $out"
pass "tree unchanged after remount ($(wc -l <"$T/before") entries)"
run_py "$M" <<'EOF'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
def dotdot_ino(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for ino, off, typ, name in getdents64(fd, 4096):
        if name == "..":
            os.close(fd)
            return ino
eq(dotdot_ino("full/thing/p2"), os.stat("full/thing").st_ino, "after remount: '..' of a moved directory")
eq(dotdot_ino("ex2/file"), os.stat("ex2").st_ino, "after remount: '..' of an exchanged directory")
EOF
umount_fs "$M"
finish
