#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs-stress in process (--pool): the same race through the core library,
# both wait policies one after the other.  This is the run ThreadSanitizer
# checks.  DAXFS_STRESS_SECONDS (default 20, split between the policies)
# and DAXFS_STRESS_SEED tune it.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

seed=$(stress_seed)
secs=${DAXFS_STRESS_SECONDS:-20}
for policy in sync deferred; do
	pool=$T/p-$policy.pool
	mkpool "$pool" -s 32M
	args=(--pool "$pool" --seconds $((secs / 2)) --layout-wait "$policy" --seed "$seed")
	echo "# daxfs-stress ${args[*]}"
	check_show "daxfs-stress in process ($policy): no violation" "$DAXFS_STRESS" "${args[@]}"
	fsck_pool "$pool"
done
finish
