#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs-stress --mixed-pins through a real mount, with the wait policy
# given as $1 (sync or deferred): WRITE and STABLE pins on shared blocks,
# writes, mmap stores and zero ranges that bounce, truncates that recall;
# no store through a WRITE pin may be lost unless its pin was recalled, and
# STABLE pins' blocks never change.  Bounded by work: DAXFS_STRESS_ROUNDS
# transfers per device (default 400); DAXFS_STRESS_SEED tunes the seed.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

policy=${1:?usage: stress_mixed.sh sync|deferred}
seed=$(stress_seed)
rounds=${DAXFS_STRESS_ROUNDS:-400}
M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M" -o "layout_wait=$policy"
echo "# daxfs-stress --mount $M --mixed-pins --rounds $rounds --layout-wait $policy --seed $seed"
check_show "mixed WRITE and STABLE pins ($policy): no lost store, no violation" \
	"$DAXFS_STRESS" --mount "$M" --mixed-pins --rounds "$rounds" --seconds 600 \
	--layout-wait "$policy" --seed "$seed"
check_eq "no pins or references left" "0 0 0" "$(counter "$M" pins_active pins refs)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
