#!/bin/bash
# SPDX-License-Identifier: MIT
# POSIX conformance checks through a real mount: formats and mounts a fresh
# daxfs with allow_other (and a second one, the other side of EXDEV), runs
# daxfs-posix as root (which also prepares fixtures owned by each user), as
# uid 65533 and as uid 65534 (no supplementary groups), unmounts, remounts
# and checks that the results persisted.  Every clean unmount is followed by
# fsck.daxfs when FSCK_DAXFS is set.
#
#   run.sh [GROUP...]    (default: every group; see harness.c)
#
# Environment: DAXFS, MKFS_DAXFS, DAXFS_POSIX (the test program), and
# optionally FSCK_DAXFS, as tests/integration/lib.sh describes.  A mount that
# fails is a test failure: there is no skip path.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
itest_init

[[ -n "${DAXFS_POSIX:-}" ]] || die "DAXFS_POSIX is not set: it must name the daxfs-posix program (meson sets it)"
[[ -x "$DAXFS_POSIX" ]] || die "DAXFS_POSIX=$DAXFS_POSIX is not an executable file"
[[ $(id -u) == 0 ]] || die "run.sh must run as root: it changes owners and runs checks as other uids"

# A copy every uid can run, whatever the permissions of the build tree.
mkdir "$T/bin"
cp "$DAXFS_POSIX" "$T/bin/daxfs-posix"
chmod 755 "$T/bin" "$T/bin/daxfs-posix"
PROG=$T/bin/daxfs-posix

M=$T/m
X=$T/x
mkpool "$T/p.pool" -s 512M
mkpool "$T/x.pool" -s 16M
mount_fs "$T/p.pool" "$M" -o allow_other
mount_fs "$T/x.pool" "$X" -o allow_other
chmod 1777 "$X"
mkdir "$M/posix"
chmod 755 "$M" "$M/posix"

# phase NAME [setpriv args...]: run one phase of daxfs-posix; its TAP goes
# to stdout and its passing checks count towards this script's total.
phase() {
	local name=$1
	shift
	local log="$T/tap.$name" rc=0
	say "daxfs-posix $name${*:+ (setpriv $*)}"
	if [[ $# -gt 0 ]]; then
		setpriv "$@" -- "$PROG" "$name" "$M/posix" "$X" "${GROUPS_ARGS[@]}" >"$log" 2>&1 || rc=$?
	else
		"$PROG" "$name" "$M/posix" "$X" "${GROUPS_ARGS[@]}" >"$log" 2>&1 || rc=$?
	fi
	cat "$log"
	local n
	n=$(grep -c '^ok ' "$log" || true)
	CHECKS=$((CHECKS + n))
	eval "COUNT_$name=$n"
	if [[ $rc -ne 0 ]]; then
		local bad
		bad=$(grep -E '^(not ok|Bail out!)' "$log" | head -n 20 || true)
		die "daxfs-posix $name exited $rc:"$'\n'"$bad"
	fi
}

GROUPS_ARGS=("$@")
phase root
phase other --reuid=65533 --regid=65533 --clear-groups
phase user --reuid=65534 --regid=65534 --clear-groups

say "remount and check what persisted"
umount_fs "$X"
umount_fs "$M"
mount_fs "$T/p.pool" "$M" -o allow_other
mount_fs "$T/x.pool" "$X" -o allow_other
phase persist
umount_fs "$X"
umount_fs "$M"
echo "# checks: root $COUNT_root, uid 65533 $COUNT_other, uid 65534 $COUNT_user, after remount $COUNT_persist"
finish
