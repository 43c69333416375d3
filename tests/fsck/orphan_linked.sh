#!/bin/bash
# SPDX-License-Identifier: MIT
# A mount must not trust a damaged orphan list.  A file that a directory
# still names, but whose inode has link count 0 and is on the orphan list
# (damage: fsck says "link count 0, should be 1" and "on the list, but
# linked"), is not freed by the mount's orphan pass: the mount is refused
# with a message sending the user to fsck.daxfs, nothing in the pool
# changes, and after fsck.daxfs -p the file mounts with its contents.
#
# Needs DAXFS, MKFS_DAXFS, FSCK_DAXFS and CORRUPT (meson sets them).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
[[ -n "${CORRUPT:-}" && -x "${CORRUPT}" ]] || die "CORRUPT must name the corrupt helper (meson sets it)"
[[ -n "${FSCK_DAXFS:-}" ]] || die "FSCK_DAXFS must name fsck.daxfs (meson sets it)"
itest_init

M=$T/m
P=$T/p.pool
mkpool "$P" -s 32M
mount_fs "$P" "$M"
mkdir "$M/d"
head -c 3145728 /dev/urandom >"$M/d/keep"
SHA=$(sha256sum <"$M/d/keep")
umount_fs "$M"

out=$("$CORRUPT" orphan-linked "$P" /d/keep 2>&1) || die "corrupt orphan-linked failed: $out"
pass "damage: $out"
before=$(sha256sum <"$P")

say "the mount refuses the pool rather than free a linked file"
mkdir -p "$M"
# Without -f: the daemon forks, and the command's status and message are
# the mount's.
rc=0
out=$(timeout 60 "$DAXFS" "$P" "$M" 2>&1) || rc=$?
if is_mounted "$M"; then
	st=$(stat -c '%h links, %s bytes' "$M/d/keep" 2>&1 || true)
	fusermount_retry "$M" || true
	die "the damaged pool was mounted (exit $rc), its orphan pass run: d/keep: $st"
fi
((rc != 0)) || die "the daemon exited 0 on a damaged orphan list: $out"
((rc < 128)) || die "the daemon died of signal $((rc - 128)): $out"
case "$out" in
*"orphan list"*fsck.daxfs*) pass "mount refused (exit $rc): $out" ;;
*) die "the refusal does not explain the orphan list and send to fsck.daxfs: $out" ;;
esac
check_eq "the refused mount changed nothing in the pool" "$before" "$(sha256sum <"$P")"

say "fsck.daxfs finds the damage; -p repairs it; the file is whole"
rc=0
out=$("$FSCK_DAXFS" -n -f "$P" 2>&1) || rc=$?
check_eq "fsck.daxfs -n reports the damage (exit 4)" 4 "$rc"
rc=0
out=$("$FSCK_DAXFS" -p -f "$P" 2>&1) || rc=$?
((rc == 1 || rc == 0)) || die "fsck.daxfs -p exited $rc: $out"
pass "fsck.daxfs -p repaired the pool (exit $rc)"
mount_fs "$P" "$M"
check_eq "the file the list named is intact after the repair" "$SHA" "$(sha256sum <"$M/d/keep")"
umount_fs "$M"
finish
