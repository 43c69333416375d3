#!/bin/bash
# SPDX-License-Identifier: MIT
# Stable pages through a real mount: a write into a range under a STABLE
# pin goes copy-on-write (the device's checksum of the pinned blocks holds,
# the file shows the new data, the bounce is counted); with
# -o stable_writes=wait the write waits and completes only after the unpin.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

mkpool "$T/p.pool" -s 32M
M=$T/cow
mount_fs "$T/p.pool" "$M"
check_show "a STABLE pin with a concurrent write (copy-on-write)" \
	"$DAXFS_PIN_HELPER" stable "$M/f"
rm -f "$M/f"
wait_counter "$M" deferred_queue 0 >/dev/null
check_eq "no pins, nothing deferred" "0 0" "$(counter "$M" pins_active deferred_queue)"
umount_fs "$M"

M=$T/wait
mount_fs "$T/p.pool" "$M" -o stable_writes=wait
check_show "a STABLE pin with a concurrent write (stable_writes=wait)" \
	"$DAXFS_PIN_HELPER" stable-wait "$M/f"
rm -f "$M/f"
check_eq "no pins, nothing deferred" "0 0" "$(counter "$M" pins_active deferred_queue)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
