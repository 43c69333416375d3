#!/bin/bash
# SPDX-License-Identifier: MIT
# WRITE and STABLE pins on one block, through a real mount: the second of
# the two kinds is refused (EBUSY), so no copy-on-write bounce ever leaves a
# WRITE pin on a block the file no longer maps.  A device's stores through
# its WRITE pin stay the file's data after a write(), a store through mmap
# (msync) and a fallocate zero range into the block, in both wait modes.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

mkpool "$T/p.pool" -s 32M
for mode in cow wait; do
	M=$T/$mode
	mount_fs "$T/p.pool" "$M" -o stable_writes=$mode,break_timeout=2
	check_show "WRITE+STABLE, STABLE+WRITE, WRITE+WRITE ($mode)" \
		"$DAXFS_PIN_HELPER" cow-pairs "$M/f"
	for how in write mmap zero; do
		check_show "a WRITE-pinned block changed by $how ($mode)" \
			"$DAXFS_PIN_HELPER" cow-bounce "$M/f" "$how"
	done
	rm -f "$M/f"
	check_eq "no pins, nothing deferred" "0 0" \
		"$(wait_counter "$M" pins_active 0 >/dev/null; wait_counter "$M" deferred_queue 0 >/dev/null
		   counter "$M" pins_active deferred_queue)"
	check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
	umount_fs "$M"
done
finish
