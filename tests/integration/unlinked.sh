#!/bin/bash
# SPDX-License-Identifier: MIT
# An unlinked file that is still open stays readable and writable until its
# last close, then its blocks and inode are freed; the same survives an
# unmount (the last close happens first).  If the daemon is SIGKILLed while
# an unlinked file (or one replaced by rename) is open, the next mount
# reclaims its blocks and inode: statfs is back at the values from before
# the file was created.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"

say "unlinked but open: readable and writable until the last close"
run_py "$M" <<'EOF'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
MB = 1 << 20
write_file("anchor", b"")
base = free_counts(".")
write_file("u", pattern(5, 4 * MB))
fd1 = os.open("u", os.O_RDWR)
fd2 = os.open("u", os.O_RDONLY)
ino = os.fstat(fd1).st_ino
must("unlink while open twice", os.unlink, "u")
expect_errno("ENOENT", "the name is gone", os.stat, "u")
check("u" not in os.listdir("."), "the name is no longer listed")
st = os.fstat(fd1)
eq(st.st_nlink, 0, "fstat shows nlink 0")
eq(st.st_ino, ino, "fstat shows the same inode")
eq(os.pread(fd1, 4 * MB, 0), pattern(5, 4 * MB), "all 4 MiB still readable")
eq(os.pwrite(fd1, b"still writable", 100), 14, "still writable")
eq(os.pwrite(fd1, pattern(6, MB), 4 * MB), MB, "can grow by 1 MiB")
eq(os.pread(fd2, 14, 100), b"still writable", "the other descriptor sees the write")
eq(os.fstat(fd2).st_size, 5 * MB, "size grew to 5 MiB")
os.ftruncate(fd1, 2 * MB)
eq(os.fstat(fd2).st_size, 2 * MB, "ftruncate of the unlinked file works")
must("fsync of the unlinked file", os.fsync, fd1)
used = free_counts(".")
check(base[0] - used[0] >= 2 * MB // 4096, "its blocks are still in use while open",
      "free blocks %d before the file, %d now" % (base[0], used[0]))
write_file("u", b"a new file with the old name")
eq(os.pread(fd1, 14, 100), b"still writable", "a new file with the same name does not disturb the open one")
os.unlink("u")
os.close(fd1)
eq(os.pread(fd2, 14, 100), b"still writable", "readable through the last descriptor after the first close")
os.close(fd2)
eq(wait_free_counts(".", base), base, "after the last close the blocks and the inode are free again")

# the same with a directory entry renamed over it
write_file("v", pattern(7, 2 * MB))
fd = os.open("v", os.O_RDWR)
write_file("w", b"replacement")
os.rename("w", "v")
eq(os.pread(fd, 2 * MB, 0), pattern(7, 2 * MB), "a file replaced by rename is readable while open")
os.pwrite(fd, b"xyz", 0)
os.close(fd)
eq(read_file("v"), b"replacement", "the name has the new file")
os.unlink("v")
eq(wait_free_counts(".", base), base, "after closing the replaced file everything is free again")
EOF

say "SIGKILL of the daemon while an unlinked file is open"
read -r B0 I0 < <(statfs_line "$M")
echo "  # free blocks $B0, free inodes $I0 before the file is created"
# A holder process creates an 8 MiB file, unlinks it and keeps it open; it
# also keeps open a 4 MiB file that a rename replaces.
"$PY" - "$M" "$T/holder.ready" <<'EOF' &
import os, signal, sys
root, ready = sys.argv[1], sys.argv[2]
path = os.path.join(root, "orphan")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
data = os.urandom(1 << 20)
for i in range(8):
    os.write(fd, data)
os.fsync(fd)
os.unlink(path)
os.pwrite(fd, b"written after unlink", 0)
victim = os.path.join(root, "victim")
fd2 = os.open(victim, os.O_RDWR | os.O_CREAT, 0o644)
for i in range(4):
    os.write(fd2, data)
with open(os.path.join(root, "repl"), "w") as f:
    f.write("the replacement")
os.rename(os.path.join(root, "repl"), victim)
open(ready, "w").close()
while True:  # until the test stops it, however long that takes
    signal.pause()
EOF
HOLDER=$!
bg_track "$HOLDER"
wait_ready "$T/holder.ready" "$HOLDER" 10
read -r B1 I1 < <(statfs_line "$M")
((B0 - B1 >= 3072)) || die "the unlinked open 8 MiB file and the replaced 4 MiB file should hold >= 3072 blocks, statfs shows $((B0 - B1))"
pass "the unlinked open file and the replaced open file hold $((B0 - B1)) blocks and $((I0 - I1)) inodes"
check_fails "the unlinked file has no name" test -e "$M/orphan"
kill_daemon "$M" --no-detach
pass "daemon SIGKILLed while the unlinked file was open"
stop_bg "$HOLDER"
detach_mount "$M"
read -r st _ orphan < <(pool_state "$T/p.pool")
check_eq "after SIGKILL the state block still says mounted" 2 "$st"
((orphan != 0)) || die "after SIGKILL with an unlinked open file the pool's orphan list is empty (orphan_head 0)"
pass "after SIGKILL the unlinked open file is on the pool's orphan list (inode $orphan)"
mount_fs "$T/p.pool" "$M"
check_eq "the replacing file is in place after the crash" "the replacement" "$(cat "$M/victim")"
read -r B2 I2 < <(statfs_line "$M")
bv=$(($(stat -c %b "$M/victim") / 8))
check_eq "free blocks at the next mount equal the value before the files were created (less the replacement's $bv)" "$((B0 - bv))" "$B2"
check_eq "free inodes at the next mount equal the value before the files were created (less the replacement's one)" "$((I0 - 1))" "$I2"
rm "$M/victim"
check_eq "no stray entries in the root" "anchor" "$(ls -A "$M")"
check_eq "after removing the replacement statfs is at the start values" "$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"
umount_fs "$M"
read -r st _ orphan < <(pool_state "$T/p.pool")
check_eq "after recovery and a clean unmount: state clean, orphan list empty" "1 0" "$st $orphan"
mount_fs "$T/p.pool" "$M"
check_eq "free blocks and inodes stay right after another clean remount" "$B0 $I0" "$(statfs_line "$M")"

say "unlinked open file at a clean unmount"
# the holder closes before the unmount: space must be back after remount
"$PY" - "$M" <<'EOF'
import os, sys
p = os.path.join(sys.argv[1], "tmpfile")
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, os.urandom(3 << 20))
os.unlink(p)
os.close(fd)
EOF
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
check_eq "after unlink+close and a remount statfs is at the start values" "$B0 $I0" "$(statfs_line "$M")"
umount_fs "$M"
finish
