#!/bin/bash
# SPDX-License-Identifier: MIT
# tar round trip: an archive of a tree with every kind of entry (files of
# many sizes, a sparse file, symlinks, hard links, fifos, device nodes, long
# and odd names, deep nesting, special modes, foreign owners, fixed mtimes)
# is extracted into the filesystem, checked with tar --compare and a tree
# comparison, archived again from the filesystem (the two archive listings
# agree), extracted outside and compared, and checked again after remount.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

S=$T/src
say "building the source tree in $S"
"$PY" - "$S" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(7)
os.makedirs(root)
os.chdir(root)
os.umask(0)
for size in (0, 1, 100, 4095, 4096, 4097, 65536, 1000003, 3 << 20):
    with open("size-%d" % size, "wb") as f:
        f.write(rng.randbytes(size))
# sparse: data at the start, the middle and the end of 20 MiB
with open("sparse", "wb") as f:
    f.write(b"start")
    f.seek(10 << 20)
    f.write(b"middle")
    f.truncate(20 << 20)
    f.seek((20 << 20) - 3)
    f.write(b"end")
os.makedirs("dir/sub/subsub")
os.makedirs("emptydir")
d = "deep"
for i in range(25):
    d = os.path.join(d, "level%02d" % i)
os.makedirs(d)
with open(os.path.join(d, "bottom"), "w") as f:
    f.write("at the bottom\n")
for i in range(300):
    with open("dir/f%03d" % i, "wb") as f:
        f.write(rng.randbytes(rng.randrange(0, 20000)))
with open("L" * 255, "w") as f:
    f.write("long name\n")
os.mkdir("D" * 255)
for name in ("with space", "tab\there", "uni-\u00e9\u00e8\u4e2d\u6587", "newline\nname", "-dash", ".hidden", "quote'\""):
    with open(name, "w") as f:
        f.write(name + "\n")
os.symlink("size-100", "link-rel")
os.symlink("/etc/passwd", "link-abs")
os.symlink("does/not/exist", "link-dangling")
os.symlink("dir/sub", "link-dir")
os.symlink("x" * 1000, "link-long")
with open("hard-a", "w") as f:
    f.write("three names\n")
os.link("hard-a", "hard-b")
os.link("hard-a", "dir/sub/hard-c")
os.mkfifo("fifo", 0o640)
os.mknod("chardev", 0o620 | 0o020000, os.makedev(4, 64))
os.mknod("blockdev", 0o660 | 0o060000, os.makedev(8, 3))
for name, mode in (("mode-600", 0o600), ("mode-755", 0o755), ("mode-4755", 0o4755),
                   ("mode-2711", 0o2711), ("mode-000", 0o000), ("mode-1644", 0o1644)):
    with open(name, "w") as f:
        f.write(name)
    os.chmod(name, mode)
os.mkdir("sticky-dir")
os.chmod("sticky-dir", 0o1777)
os.mkdir("setgid-dir")
os.chmod("setgid-dir", 0o2755)
for name, uid, gid in (("owned-1000", 1000, 1000), ("owned-65534", 65534, 65534), ("owned-12345", 12345, 54321)):
    with open(name, "w") as f:
        f.write(name)
    os.chown(name, uid, gid)
os.lchown("link-rel", 4321, 1234)
# fixed timestamps everywhere (directories last, deepest first)
for dirpath, dirnames, filenames in os.walk(".", topdown=False):
    for n in filenames + dirnames:
        p = os.path.join(dirpath, n)
        t = 1_500_000_000 + rng.randrange(10**8)
        os.utime(p, ns=(t * 10**9 + rng.randrange(10**9), t * 10**9 + rng.randrange(10**9)), follow_symlinks=False)
EOF
pass "source tree built: $(find "$S" | wc -l) entries"

M=$T/m
mkpool "$T/p.pool" -s 128M
mount_fs "$T/p.pool" "$M"
TAROPTS=(--sort=name --numeric-owner --sparse --format=posix)

tar -C "$S" "${TAROPTS[@]}" -cf "$T/a.tar" .
mkdir "$M/x"
rc=0
tar -C "$M/x" --numeric-owner --same-owner -xpf "$T/a.tar" 2>"$T/tar.err" || rc=$?
[[ $rc -eq 0 ]] || die "tar -x into the filesystem exited $rc: $(head -n 5 "$T/tar.err")"
pass "tar -x into the filesystem"
out=$(tar -C "$M/x" --numeric-owner -df "$T/a.tar" 2>&1) || die "tar --compare found differences: $(echo "$out" | head -n 10)"
pass "tar --compare: the extracted tree matches the archive"
compare_trees "extracted tree" "$S" "$M/x"
check_eq "three hard links share one inode" 1 "$(stat -c %i "$M/x/hard-a" "$M/x/hard-b" "$M/x/dir/sub/hard-c" | sort -u | wc -l)"
check_eq "hard link count 3" 3 "$(stat -c %h "$M/x/hard-a")"
check_eq "sparse file has its size" $((20 << 20)) "$(stat -c %s "$M/x/sparse")"
alloc=$(($(stat -c %b "$M/x/sparse") * 512))
((alloc < (1 << 20))) || die "sparse file extracted with --sparse uses $alloc bytes; its holes should not be allocated"
pass "sparse file's holes are not allocated ($alloc bytes allocated)"

say "archive again from the filesystem and compare listings"
tar -C "$M/x" "${TAROPTS[@]}" -cf "$T/b.tar" .
tar -tvf "$T/a.tar" --numeric-owner --full-time >"$T/a.list"
tar -tvf "$T/b.tar" --numeric-owner --full-time >"$T/b.list"
out=$(diff "$T/a.list" "$T/b.list") || die "archive made from the filesystem lists differently: $(echo "$out" | head -n 10)"
pass "archive made from the filesystem lists the same ($(wc -l <"$T/a.list") entries)"
mkdir "$T/back"
tar -C "$T/back" --numeric-owner -xpf "$T/b.tar"
compare_trees "round trip out of the filesystem" "$S" "$T/back"

say "unmount, remount, compare again"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
out=$(tar -C "$M/x" --numeric-owner -df "$T/a.tar" 2>&1) || die "after remount tar --compare found differences: $(echo "$out" | head -n 10)"
pass "tar --compare after remount"
compare_trees "extracted tree after remount" "$S" "$M/x"

say "extract over the existing tree (tar overwrites files in place)"
tar -C "$M/x" --numeric-owner -xpf "$T/a.tar"
out=$(tar -C "$M/x" --numeric-owner -df "$T/a.tar" 2>&1) || die "after re-extraction tar --compare found differences: $(echo "$out" | head -n 10)"
pass "tar --compare after extracting over the existing tree"
umount_fs "$M"
finish
