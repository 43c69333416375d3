#!/bin/bash
# SPDX-License-Identifier: MIT
# The daxfs daemon: foreground mount and clean unmount, daemonizing without
# -f, accepted options, the exclusive lock (a second mount of the same pool
# fails clearly), and refusal (one-line reason, non-zero exit, nothing
# written, nothing mounted) of pools that are not daxfs, have a bad
# checksum, are too small, truncated, or have holes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
P=$T/p.pool
mkpool "$P" -s 64M

# expect_mount_refused DESC POOL [OPTIONS]: the daemon (run with -f) must exit
# non-zero within 15 s with exactly one line on stderr, mount nothing, and
# leave the pool file byte-for-byte unchanged.
expect_mount_refused() {
	local desc=$1 pool=$2
	shift 2
	local mnt=$T/refused before="" after="" pid rc lines
	mkdir -p "$mnt"
	[[ -e "$pool" ]] && before=$(sha256sum <"$pool")
	"$DAXFS" "$pool" "$mnt" -f "$@" >"$T/r.out" 2>"$T/r.err" &
	pid=$!
	if ! wait_pid_exit "$pid" 15; then
		MNT_PID[$mnt]=$pid
		MNT_LOG[$mnt]=$T/r.err
		die "$desc: the daemon is still running after 15 s (mounted: $(is_mounted "$mnt" && echo yes || echo no)); it must refuse"
	fi
	reap "$pid"
	rc=$REAP_RC
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"
		die "$desc: $mnt is mounted although the daemon exited ($rc)"
	fi
	[[ "$rc" != 0 ]] || die "$desc: the daemon exited 0; it must refuse with a non-zero exit"
	lines=$(grep -c . "$T/r.err" || true)
	[[ "$lines" == 1 ]] || die "$desc: expected a one-line reason on stderr, got $lines lines: $(cat "$T/r.err")"
	if [[ -n "$before" ]]; then
		after=$(sha256sum <"$pool")
		[[ "$before" == "$after" ]] || die "$desc: the refused mount changed the pool file"
	fi
	pass "$desc (exit $rc: $(cat "$T/r.err"))"
}

read -r st0 cnt0 _ < <(pool_state "$P")
check_eq "a freshly made pool is marked clean in its state block" 1 "$st0"

say "foreground mount"
mount_fs "$P" "$M"
read -r st cnt _ < <(pool_state "$P")
check_eq "while mounted the state block says mounted" "2 $((cnt0 + 1))" "$st $cnt"
PID=$(daemon_pid "$M")
check "daemon (PID $PID) stays in the foreground while mounted" pid_alive "$PID"
check "mount point is a directory" test -d "$M"
echo data1 >"$M/file1"
check_eq "a file written through the mount reads back" data1 "$(cat "$M/file1")"
fstype=$(awk -v m="$M" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 1) }' /proc/self/mountinfo)
check_eq "mountinfo lists a fuse mount" fuse "${fstype%%.*}"

say "exclusive lock: second mount of the same pool"
M2=$T/m2
mkdir -p "$M2"
rc=0
timeout 15 "$DAXFS" "$P" "$M2" -f >"$T/second.out" 2>"$T/second.err" || rc=$?
if is_mounted "$M2"; then
	fusermount3 -u "$M2" || fusermount3 -u -z "$M2"
	die "second mount of $P on $M2 succeeded; the pool must be locked"
fi
[[ $rc -ne 0 ]] || die "second mount of $P exited 0"
[[ $rc -ne 124 ]] || die "second mount of $P hung for 15 s instead of failing"
[[ -s "$T/second.err" ]] || die "second mount failed (exit $rc) but printed no message"
pass "second mount of the same pool fails (exit $rc: $(head -n 1 "$T/second.err"))"
check_eq "first mount still works after the refused second mount" data1 "$(cat "$M/file1")"
umount_fs "$M"
pass "clean unmount: daemon exited with status 0"
read -r st cnt orphan < <(pool_state "$P")
check_eq "after the clean unmount the state block says clean, no orphans, one mount counted" "1 $((cnt0 + 1)) 0" "$st $cnt $orphan"
mount_fs "$P" "$M2"
check_eq "after the unmount the lock is released and the pool mounts again" data1 "$(cat "$M2/file1")"
umount_fs "$M2"

say "daemonizing without -f"
rc=0
timeout 20 "$DAXFS" "$P" "$M" >"$T/bg.out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || die "daxfs $P $M (no -f) exited $rc: $(cat "$T/bg.out")"
pass "daxfs without -f returns 0"
# The daemon is found by its unique command line (our temp path) and is
# only ever signalled by that PID.
BGPID=""
for d in /proc/[0-9]*; do
	cmd=$( { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null || true)
	if [[ "$cmd" == "$DAXFS $P $M "* || "$cmd" == "$DAXFS $P $M" ]]; then
		BGPID=${d#/proc/}
	fi
done
check "the mount is in place when the daemonizing daxfs returns" is_mounted "$M"
[[ -n "$BGPID" ]] || die "cannot find the daemonized daxfs process for $M"
pass "daemonized daxfs is running as PID $BGPID"
check_eq "data is there through the daemonized mount" data1 "$(cat "$M/file1")"
echo data2 >"$M/file2"
fusermount_retry "$M" || die "fusermount3 -u of the daemonized mount failed: $(cat "$T/fusermount.err")"
if ! wait_pid_exit "$BGPID" 60; then
	kill -KILL "$BGPID"
	die "daemonized daxfs PID $BGPID did not exit within 60 s of fusermount3 -u"
fi
pass "daemonized daxfs exits after fusermount3 -u"

say "mount options"
mount_fs "$P" "$M" -o layout_wait=deferred,break_timeout=5
check_eq "-o layout_wait=deferred,break_timeout=5 mounts; data from the daemonized run is there" data2 "$(cat "$M/file2")"
umount_fs "$M"
mount_fs "$P" "$M" -o layout_wait=sync -o allow_other
check "-o layout_wait=sync -o allow_other mounts" test -f "$M/file2"
umount_fs "$M"
mount_fs "$P" "$M" -o ro
check_eq "-o ro mounts and reads" data1 "$(cat "$M/file1")"
umount_fs "$M"

say "refused pools"
head -c 64M /dev/zero >"$T/zero.pool"
expect_mount_refused "a 64 MiB file of zeros (not daxfs) is refused" "$T/zero.pool"
head -c 16M /dev/urandom >"$T/random.pool"
expect_mount_refused "a file of random bytes is refused" "$T/random.pool"
truncate -s 32M "$T/ext4.img"
mkfs.ext4 -q -F "$T/ext4.img"
expect_mount_refused "an ext4 image is refused" "$T/ext4.img"

cp "$P" "$T/badsum.pool"
# Change one byte of the label inside the primary superblock: the checksum
# no longer matches.
printf 'X' | dd of="$T/badsum.pool" bs=1 seek=60 conv=notrunc status=none
expect_mount_refused "a pool whose superblock checksum is wrong is refused" "$T/badsum.pool"
cp "$P" "$T/badmagic.pool"
printf 'Z' | dd of="$T/badmagic.pool" bs=1 seek=3 conv=notrunc status=none
expect_mount_refused "a pool whose magic is damaged is refused" "$T/badmagic.pool"

head -c 100 "$P" >"$T/tiny.pool"
expect_mount_refused "a 100-byte file is refused (too small)" "$T/tiny.pool"
head -c 16K "$P" >"$T/small.pool"
expect_mount_refused "the first 16 KiB of a pool is refused (too small)" "$T/small.pool"
cp "$P" "$T/trunc.pool"
truncate -s 40M "$T/trunc.pool"
expect_mount_refused "a pool truncated from 64 MiB to 40 MiB is refused" "$T/trunc.pool"
cp "$P" "$T/hole.pool"
fallocate -p -o $((32 << 20)) -l $((1 << 20)) "$T/hole.pool"
"$PY" -c 'import os,sys; st=os.stat(sys.argv[1]); sys.exit(st.st_blocks*512 >= st.st_size)' "$T/hole.pool" ||
	die "could not punch a hole into the test pool (filesystem of $T lacks hole punching?)"
expect_mount_refused "a pool with a punched hole is refused" "$T/hole.pool"
cp --sparse=always "$P" "$T/sparse.pool"
"$PY" -c 'import os,sys; st=os.stat(sys.argv[1]); sys.exit(st.st_blocks*512 >= st.st_size)' "$T/sparse.pool" ||
	die "cp --sparse=always produced no hole"
expect_mount_refused "a sparse copy of a pool is refused" "$T/sparse.pool"
expect_mount_refused "a pool path that does not exist is refused" "$T/does-not-exist.pool"

say "a pool on a disk-backed filesystem"
extra_tmpdir /var/tmp
DP=$XDIR/disk.pool
mkpool "$DP" -s 32M
mount_fs "$DP" "$XDIR/m"
head -c 300000 /dev/urandom >"$T/disk.data"
cp "$T/disk.data" "$XDIR/m/data"
mkdir -p "$XDIR/m/a/b" && ln -s ../data "$XDIR/m/a/link"
umount_fs "$XDIR/m"
mount_fs "$DP" "$XDIR/m"
check "a pool on $(stat -f -c %T "$XDIR") mounts; data written there reads back after remount" cmp "$T/disk.data" "$XDIR/m/data"
check_eq "symlink on the disk-backed pool after remount" ../data "$(readlink "$XDIR/m/a/link")"
umount_fs "$XDIR/m"

say "the original pool is still good"
mount_fs "$P" "$M"
check_eq "original pool mounts after all the refusals" data1 "$(cat "$M/file1")"
umount_fs "$M"

finish
