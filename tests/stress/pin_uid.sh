#!/bin/bash
# SPDX-License-Identifier: MIT
# Per-uid pin limits through a real mount: users other than root, each
# pinning a world-readable file through 16 open files x 256 pins, get their
# share (-o pins_per_uid, -o pinned_per_uid) and then EDQUOT; four of them
# together leave root the last eighth of the mount's pins, and root's pin
# on its own file succeeds.  daxfs-ctl stat reports the limits.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

M=$T/m
mkpool "$T/p.pool" -s 64M
# As many pinnable blocks as pins: the old limits let one user take both.
mount_fs "$T/p.pool" "$M" -o allow_other,max_pinned=4096
dd if=/dev/urandom of="$M/shared" bs=4096 count=2 status=none
chmod 644 "$M/shared"
check_eq "default limits: pins_per_uid, pinned_per_uid, max_pinned" "1024 1024 4096" \
	"$(counter "$M" pins_per_uid pinned_per_uid max_pinned)"
check_show "four users cannot take the mount's pins from root" \
	"$DAXFS_PIN_HELPER" uid-flood "$M/shared" "$M/own" 4
check_eq "no pins left once they are gone" 0 "$(wait_counter "$M" pins_active 0)"
check_eq "nothing held against the limits" 0 "$(counter "$M" pinned_blocks)"
umount_fs "$M"

M=$T/opts
mount_fs "$T/p.pool" "$M" -o allow_other,pins_per_uid=100,pinned_per_uid=60
check_eq "-o pins_per_uid, -o pinned_per_uid" "100 60" \
	"$(counter "$M" pins_per_uid pinned_per_uid)"
"$DAXFS_CTL" stat "$M" >"$T/stat.out"
check "daxfs-ctl stat shows the per-uid limits" \
	grep -q "per uid but root 100 pins (pins_per_uid), 60 blocks (pinned_per_uid)" "$T/stat.out"
# 60 one-block pins, then the blocks run out before the pins do.
check_show "a user's share of pinned blocks" \
	"$DAXFS_PIN_HELPER" uid-flood "$M/shared" "$M/own" 1
check_eq "no pins left once they are gone" 0 "$(wait_counter "$M" pins_active 0)"
umount_fs "$M"
finish
