#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs-stress through a real mount, with the wait policy given as $1
# (sync or deferred): devices pinning through the ioctls and storing
# through libdaxfs-client's mapping, racing truncates, punches, unlinks and
# readers.  DAXFS_STRESS_SECONDS (default 25) and DAXFS_STRESS_SEED tune it.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

policy=${1:?usage: stress_mount.sh sync|deferred}
seed=$(stress_seed)
M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M" -o "layout_wait=$policy"
secs=${DAXFS_STRESS_SECONDS:-25}
echo "# daxfs-stress --mount $M --seconds $secs --layout-wait $policy --seed $seed"
check_show "daxfs-stress through the mount ($policy): no violation" \
	"$DAXFS_STRESS" --mount "$M" --seconds "$secs" --layout-wait "$policy" --seed "$seed"
check_eq "no pins or references left" "0 0 0" "$(counter "$M" pins_active pins refs)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
