#!/bin/bash
# SPDX-License-Identifier: MIT
# fuse3's mount helper: "mount -t fuse.daxfs POOL DIR -o OPTS" and an fstab
# line (tested against a throwaway fstab with mount -T) start the daemon
# found on PATH, pass daxfs options through, and umount stops it.
#
# mount(8) hands the helper a sanitized environment: fuse3's mount.fuse3
# then finds "daxfs" on the shell's default PATH only (/usr/local/sbin,
# /usr/local/bin, /usr/sbin, ...), as after meson install.  So that the
# test runs this build's daemon without installing it, or depending on a
# stale installed copy, it runs in a private mount namespace in which a
# directory holding only this build's daxfs is bind-mounted over
# /usr/local/sbin.  Nothing outside the namespace sees it.
set -euo pipefail
if [[ -z "${DAXFS_MOUNT_HELPER_NS:-}" ]]; then
	command -v unshare >/dev/null || { echo "FAIL: unshare (util-linux) is not installed" >&2; exit 1; }
	DAXFS_MOUNT_HELPER_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
itest_init

mkdir "$T/sbin"
ln -s "$(readlink -f "$DAXFS")" "$T/sbin/daxfs"
mount --bind "$T/sbin" /usr/local/sbin || die "cannot bind-mount over /usr/local/sbin in the test's namespace"

M=$T/m
mkdir "$M"
mkpool "$T/p.pool" -s 32M

# umount DESCRIPTION: umount returns once the kernel has let go of the
# mount; the daemon, which mount.fuse3 left in the background, releases the
# pool a moment later.  The next mount of the pool waits for that (on the
# pool's lock, for 30 s at most), not for a time.
umount_pool() {
	check "$1" umount "$M"
	local deadline=$((${EPOCHREALTIME//[!0-9]/} + 30000000))
	until flock -n -x "$T/p.pool" true; do
		((${EPOCHREALTIME//[!0-9]/} < deadline)) ||
			die "$1: the daemon still holds $T/p.pool 30 s after umount"
		sleep 0.05
	done
}

check "mount -t fuse.daxfs" mount -t fuse.daxfs "$T/p.pool" "$M"
check "it is mounted" mountpoint -q "$M"
check "the mount shows the pool as its source" grep -q "^$T/p.pool $M fuse.daxfs " /proc/mounts
echo "through the helper" >"$M/file"
umount_pool "umount"
check_fails "no longer mounted" mountpoint -q "$M"

check "mount -t fuse.daxfs -o ro" mount -t fuse.daxfs "$T/p.pool" "$M" -o ro
check_eq "data written before is there" "through the helper" "$(cat "$M/file")"
check_fails "writes fail on a read-only mount" sh -c "echo x >'$M/other'"
umount_pool "umount the read-only mount"

# The atime family passes through mount(8) and mount.fuse3 to the daemon.
check "mount -t fuse.daxfs for the atime options" mount -t fuse.daxfs "$T/p.pool" "$M"
mkdir "$M/d"
touch -a -d "@$(($(date +%s) - 3 * 86400))" "$M/d"
dir_atime=$(stat -c %X "$M/d")
umount_pool "umount before the atime options"
check "mount -t fuse.daxfs -o nodiratime,strictatime,lazytime,nolazytime" \
	mount -t fuse.daxfs "$T/p.pool" "$M" -o nodiratime,strictatime,lazytime,nolazytime
ls "$M/d" >/dev/null
check_eq "nodiratime reached the daemon: listing leaves a day-old directory atime" \
	"$dir_atime" "$(stat -c %X "$M/d")"
umount_pool "umount the atime-options mount"
out=$(mount -t fuse.daxfs "$T/p.pool" "$M" -o nodiratime,bogus_atime 2>&1) &&
	die "mount -t fuse.daxfs -o nodiratime,bogus_atime was accepted"
case "$out" in
*nodiratime*) die "the refusal names nodiratime, which daxfs takes: $out" ;;
*bogus_atime*) pass "an unknown option beside nodiratime is refused with a message naming it alone" ;;
*) die "the refusal of -o bogus_atime does not name it: $out" ;;
esac
check_fails "nothing was mounted with the unknown option" mountpoint -q "$M"

printf '%s %s fuse.daxfs defaults,layout_wait=deferred,break_timeout=5 0 0\n' \
	"$T/p.pool" "$M" >"$T/fstab"
check "mount from an fstab line" mount -T "$T/fstab" "$M"
check_eq "the fstab mount sees the data" "through the helper" "$(cat "$M/file")"
umount_pool "umount the fstab mount"

printf '%s %s fuse.daxfs layout_wait=sometimes 0 0\n' "$T/p.pool" "$M" >"$T/fstab.bad"
out=$(mount -T "$T/fstab.bad" "$M" 2>&1) && die "a bad option was accepted"
case "$out" in
*layout_wait*) pass "a bad option is refused with a message naming it" ;;
*) die "the refusal does not name the option: $out" ;;
esac
check_fails "nothing was mounted" mountpoint -q "$M"
umount /usr/local/sbin
finish
