#!/bin/bash
# SPDX-License-Identifier: MIT
# Hard links: nlink counts as links are added, renamed and removed across
# directories, data written through one name is seen through all, links to
# symlinks and fifos, EPERM for directories, the last unlink frees the
# blocks, cp -a keeps hard-link structure, and counts survive a remount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M"

run_py "$M" <<'EOF'
import os, stat, sys, time
from dxcheck import *
os.chdir(sys.argv[1])
write_file("anchor", b"")
base = free_counts(".")
os.mkdir("w")
os.chdir("w")
for d in ("a", "b", "c"):
    os.mkdir(d)
data = pattern(11, 1 << 20)
write_file("a/orig", data)
ino = os.stat("a/orig").st_ino
names = ["a/orig"]
for i in range(100):
    n = "%s/link%03d" % ("abc"[i % 3], i)
    os.link("a/orig", n)
    names.append(n)
eq(os.stat("a/orig").st_nlink, 101, "nlink is 101 after 100 links")
check(all(os.stat(n).st_ino == ino for n in names), "all 101 names are the same inode")
check(all(os.stat(n).st_nlink == 101 for n in names), "every name reports nlink 101")
fd = os.open("c/link002", os.O_RDWR)
os.pwrite(fd, b"through link002", 1000)
os.close(fd)
check(all(read_file(n)[1000:1015] == b"through link002" for n in names[::10]), "a write through one name is seen through the others")
st0 = os.stat("a/orig")
time.sleep(0.02)
for i in range(0, 100, 2):
    os.unlink(names[1 + i])
st1 = os.stat("a/orig")
eq(st1.st_nlink, 51, "nlink is 51 after removing 50 links")
check(st1.st_ctime_ns > st0.st_ctime_ns, "unlink of a link changes the inode's ctime")
os.rename("b/link001", "c/moved")
eq(os.stat("c/moved").st_nlink, 51, "rename of a link keeps nlink")
os.rename("c/moved", "b/victim2")
write_file("b/victim3", b"v3")
os.rename("b/victim3", "b/victim2")
eq(os.stat("a/orig").st_nlink, 50, "renaming another file over a link drops nlink by one")
os.link("b/victim2", "b/victim2-link")
eq(os.stat("b/victim2").st_nlink, 2, "the new file over the link has its own count")

# links to symlinks and fifos, EPERM for directories
os.symlink("a/orig", "sym")
os.link("sym", "sym-link", follow_symlinks=False)
check(os.lstat("sym-link").st_ino == os.lstat("sym").st_ino and stat.S_ISLNK(os.lstat("sym-link").st_mode),
      "link() of a symlink links the symlink itself")
eq(os.lstat("sym").st_nlink, 2, "symlink nlink 2")
os.mkfifo("fifo")
os.link("fifo", "fifo-link")
eq(os.stat("fifo").st_nlink, 2, "fifo nlink 2")
expect_errno("EPERM", "link a directory", os.link, "a", "a-link")
expect_errno("EEXIST", "link onto an existing name", os.link, "a/orig", "fifo")

left = [n for n in names if os.path.exists(n)]
eq(len(left), 50, "50 names left")
with open(os.path.join(os.environ["T"], "nlinks"), "w") as f:
    for n in sorted(left + ["sym", "fifo", "b/victim2"]):
        f.write("%s %d %d\n" % (n, os.lstat(n).st_nlink, os.lstat(n).st_ino))
with open(os.path.join(os.environ["T"], "base"), "w") as f:
    f.write("%d %d" % base)
EOF

say "nlink counts after remount"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
(cd "$M/w" && while read -r n _ _; do echo "$n $(stat -c '%h %i' "$n")"; done <"$T/nlinks") >"$T/after-remount"
out=$(diff "$T/nlinks" "$T/after-remount") || die "nlink/inode of names changed across remount: $out"
pass "nlink and inode numbers of $(wc -l <"$T/nlinks") names unchanged after remount"

say "cp -a keeps the hard-link structure"
mkdir "$T/hsrc"
for i in $(seq 1 20); do
	echo "group $i" >"$T/hsrc/g$i-0"
	for j in 1 2 3; do ln "$T/hsrc/g$i-0" "$T/hsrc/g$i-$j"; done
done
cp -a "$T/hsrc" "$M/hcopy"
groups=$(stat -c %i "$M"/hcopy/* | sort -u | wc -l)
check_eq "cp -a of 80 names in 20 link groups makes 20 inodes" 20 "$groups"
check_eq "each copied group has nlink 4" 4 "$(stat -c %h "$M"/hcopy/* | sort -u)"
compare_trees "cp -a of the link groups" "$T/hsrc" "$M/hcopy"

say "removing every link frees the space"
rm -rf "$M/w" "$M/hcopy"
base=$(cat "$T/base")
check_eq "after removing all links statfs is back at the start values" "$base" "$(wait_statfs "$M" "$base")"
umount_fs "$M"
finish
