#!/bin/bash
# SPDX-License-Identifier: MIT
# mkfs.daxfs: sizes and suffixes, full allocation (no holes), label and inode
# count options, refusal to overwrite a daxfs or another filesystem without
# -f (one-line reason, pool untouched), -f overwrites, and the result mounts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

# no_holes FILE SIZE: FILE is SIZE bytes, all of them allocated.  (Allocated
# bytes are counted: SEEK_HOLE cannot be used because ext4 reports
# fallocated, unwritten extents as holes.)
no_holes() {
	"$PY" - "$1" "$2" <<'EOF'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
st = os.stat(path)
if st.st_size != size:
    sys.exit("size is %d, expected %d" % (st.st_size, size))
if st.st_blocks * 512 < size:
    sys.exit("only %d of %d bytes allocated: the pool is sparse" % (st.st_blocks * 512, size))
EOF
}

# sb_field POOL OFFSET FORMAT: unpack a little-endian superblock field.
sb_field() {
	"$PY" - "$@" <<'EOF'
import struct, sys
path, off, fmt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "rb") as f:
    f.seek(off)
    data = f.read(struct.calcsize(fmt))
v = struct.unpack("<" + fmt, data)[0]
print(v.rstrip(b"\0").decode() if isinstance(v, bytes) else v)
EOF
}

# expect_refused DESC POOL [MKFS ARGS]: mkfs must fail with a one-line
# reason and leave the file unchanged.
expect_refused() {
	local desc=$1 pool=$2
	shift 2
	local before after rc=0 lines
	before=$(sha256sum <"$pool")
	"$MKFS_DAXFS" "$@" "$pool" >"$T/out" 2>"$T/err" || rc=$?
	[[ $rc -ne 0 ]] || die "$desc: mkfs.daxfs $* $pool succeeded; it must refuse without -f (stdout: $(cat "$T/out"))"
	lines=$(grep -c . "$T/err" || true)
	[[ "$lines" == 1 ]] || die "$desc: expected a one-line reason on stderr, got $lines lines: $(cat "$T/err")"
	after=$(sha256sum <"$pool")
	[[ "$before" == "$after" ]] || die "$desc: the refused mkfs changed $pool"
	pass "$desc (exit $rc: $(cat "$T/err"))"
}

say "mkfs -s 64M on a new file"
P=$T/a.pool
rc=0
"$MKFS_DAXFS" -s 64M "$P" >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || die "mkfs.daxfs -s 64M $P exited $rc: $(cat "$T/out")"
pass "mkfs.daxfs -s 64M exits 0"
[[ -s "$T/out" ]] || die "mkfs.daxfs printed nothing; it must print what it made"
pass "mkfs.daxfs prints what it made: $(head -n 1 "$T/out")"
check "64M pool is 67108864 bytes and fully allocated (no holes)" no_holes "$P" 67108864
check_eq "superblock magic is DAXFS1" "$((0x3153465841440a0d))" "$(sb_field "$P" 0 Q)"
check_eq "superblock version is 1" 1 "$(sb_field "$P" 8 I)"
check_eq "superblock block size is 4096" 4096 "$(sb_field "$P" 12 I)"

say "size suffixes"
mkpool "$T/k.pool" -s 32768K
check "-s 32768K makes 33554432 bytes, fully allocated" no_holes "$T/k.pool" 33554432
mkpool "$T/g.pool" -s 1G
check "-s 1G makes 1073741824 bytes, fully allocated" no_holes "$T/g.pool" 1073741824
rm -f "$T/g.pool"
mkpool "$T/b.pool" -s 16777216
check "-s 16777216 (no suffix) makes 16 MiB, fully allocated" no_holes "$T/b.pool" 16777216

say "existing plain file is grown to SIZE"
head -c $((4 << 20)) /dev/zero >"$T/grow.pool"
mkpool "$T/grow.pool" -s 32M
check "4 MiB file of zeros grown to 32 MiB and fully allocated" no_holes "$T/grow.pool" 33554432

say "label and inode count"
mkpool "$T/l.pool" -s 32M -L testlabel-42 -N 100
check_eq "-L label stored in the superblock" testlabel-42 "$(sb_field "$T/l.pool" 48 64s)"
mount_fs "$T/l.pool" "$T/m"
files=$(stat -f -c %c "$T/m")
if ((files < 99 || files > 116)); then
	die "-N 100: statfs reports $files inodes, expected about 100 (99..116)"
fi
pass "-N 100: statfs reports $files inodes"
check_eq "superblock total_blocks covers the whole 32 MiB pool" 8192 "$(sb_field "$T/l.pool" 112 Q)"
check_eq "statfs total blocks equal the superblock's data_blocks" "$(sb_field "$T/l.pool" 184 Q)" "$(stat -f -c %b "$T/m")"
icount=$(sb_field "$T/l.pool" 120 Q)
((files == icount || files == icount - 1)) || die "statfs reports $files inodes, the superblock's inode_count is $icount"
pass "statfs total inodes agree with the superblock's inode_count ($icount)"
check "freshly made filesystem mounts with a root directory" test -d "$T/m"
check_eq "freshly made root directory is empty" "" "$(ls -A "$T/m")"
umount_fs "$T/m"

say "refuse to overwrite without -f"
expect_refused "mkfs on an existing daxfs pool without -f is refused" "$P" -s 64M
expect_refused "mkfs on an existing daxfs pool without -f (no -s) is refused" "$P"
uuid1=$("$PY" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(32); print(f.read(16).hex())' "$P")
check "mkfs -f overwrites an existing daxfs pool" "$MKFS_DAXFS" -f -s 64M "$P"
uuid2=$("$PY" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(32); print(f.read(16).hex())' "$P")
[[ "$uuid1" != "$uuid2" && "$uuid2" != 00000000000000000000000000000000 ]] || die "the new filesystem has the same or a zero uuid ($uuid1 -> $uuid2)"
pass "the new filesystem has a new uuid"
check "the -f pool is still 64 MiB, fully allocated" no_holes "$P" 67108864

command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 (e2fsprogs) is required for this test"
truncate -s 32M "$T/ext4.img"
mkfs.ext4 -q -F "$T/ext4.img"
expect_refused "mkfs on an ext4 image without -f is refused" "$T/ext4.img" -s 32M
check "mkfs -f over an ext4 image succeeds" "$MKFS_DAXFS" -f -s 32M "$T/ext4.img"
mount_fs "$T/ext4.img" "$T/m"
check "pool made over ext4 with -f mounts and accepts a file" sh -c "echo hello >'$T/m/x' && grep -q hello '$T/m/x'"
umount_fs "$T/m"

finish
