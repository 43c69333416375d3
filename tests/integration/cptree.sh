#!/bin/bash
# SPDX-License-Identifier: MIT
# cp -a of real directory trees (header and time zone directories from
# /usr/include and /usr/share: a few thousand files, up to 48 MiB) into the
# filesystem, diff -r and a metadata comparison (mode, owner, size, mtime,
# symlink targets, hard links), the same after unmount and remount, cp -a
# back out of the filesystem, and rm -rf giving all the space back.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

# Real trees, taken in this order while the total stays within 48 MiB, until
# there are at least 3000 entries.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
SRCS=()
nfiles=0
kbytes=0
for cand in /usr/include/linux "/usr/include/$multiarch" /usr/include/asm-generic \
	/usr/share/zoneinfo /usr/include/c++ /usr/share/perl /usr/share/i18n /usr/share/X11 \
	/usr/share/doc /usr/include; do
	[[ -d "$cand" ]] || continue
	((nfiles >= 3000)) && break
	n=$(find "$cand" | wc -l)
	k=$(du -sk "$cand" | cut -f1)
	((kbytes + k <= 48 * 1024)) || continue
	SRCS+=("$cand")
	nfiles=$((nfiles + n))
	kbytes=$((kbytes + k))
done
((nfiles >= 1000)) || die "no real directory trees with >= 1000 entries within 48 MiB found under /usr/include and /usr/share"
ninodes=$(find "${SRCS[@]}" -printf '%D:%i\n' | sort -u | wc -l)
pool_mb=$((kbytes * 2 / 1024 + 64))
inodes=$((nfiles * 2 + 1000))
say "sources ${SRCS[*]}: $nfiles entries, $kbytes KiB; pool ${pool_mb} MiB with $inodes inodes"

M=$T/m
mkpool "$T/p.pool" -s "${pool_mb}M" -N "$inodes"
mount_fs "$T/p.pool" "$M"
# the root keeps an entry so that its own directory blocks stay put
touch "$M/anchor"
read -r B0 I0 < <(statfs_line "$M")

# compare_all DESC ROOT: every source against ROOT/<basename>
compare_all() {
	local src
	for src in "${SRCS[@]}"; do
		compare_trees "$1 $src" "$src" "$2/$(basename "$src")"
	done
}

mkdir "$M/tree"
SECONDS=0
rc=0
cp -a "${SRCS[@]}" "$M/tree/" 2>"$T/cp.err" || rc=$?
[[ $rc -eq 0 ]] || die "cp -a ${SRCS[*]} $M/tree/ exited $rc: $(head -n 5 "$T/cp.err")"
pass "cp -a of $nfiles entries into the filesystem ($SECONDS s)"
compare_all "copy of" "$M/tree"
read -r B1 I1 < <(statfs_line "$M")
check_eq "one inode used per copied inode (and one for tree/)" "$((ninodes + 1))" "$((I0 - I1))"

say "unmount, remount, compare again"
umount_fs "$M"
mount_fs "$T/p.pool" "$M"
compare_all "after remount: copy of" "$M/tree"
check_eq "free blocks and inodes unchanged by the remount" "$B1 $I1" "$(statfs_line "$M")"

say "cp -a back out of the filesystem"
cp -a "$M/tree" "$T/out"
compare_all "copied back out:" "$T/out"
rm -rf "$T/out"

say "remove the tree"
rm -rf "$M/tree"
check_eq "only the anchor is left after rm -rf" "anchor" "$(ls -A "$M")"
check_eq "free blocks and inodes are back at the empty-pool values" "$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"
umount_fs "$M"
finish
