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
mount_fs "$T/p.pool" "$M" -o break_timeout=2
check_show "a STABLE pin with a concurrent write (copy-on-write)" \
	"$DAXFS_PIN_HELPER" stable "$M/f"
check_show "a STABLE pin with a store through mmap (copy-on-write)" \
	"$DAXFS_PIN_HELPER" stable-mmap "$M/f"
check_show "a STABLE pin with a truncate into its range (copy-on-write)" \
	"$DAXFS_PIN_HELPER" stable-truncate "$M/f" 20
rm -f "$M/f"
wait_counter "$M" deferred_queue 0 >/dev/null
check_eq "no pins, nothing deferred" "0 0" "$(counter "$M" pins_active deferred_queue)"
umount_fs "$M"

M=$T/wait
mount_fs "$T/p.pool" "$M" -o stable_writes=wait
check_show "a STABLE pin with a concurrent write (stable_writes=wait)" \
	"$DAXFS_PIN_HELPER" stable-wait "$M/f"
umount_fs "$M"

# A truncate into the pinned range recalls the pin before it waits, and
# waits no longer than break_timeout (twice: for the partial block, then
# for the blocks it removes).
M=$T/wait-trunc
mount_fs "$T/p.pool" "$M" -o stable_writes=wait,break_timeout=2
check_show "a STABLE pin with a truncate into its range (stable_writes=wait)" \
	"$DAXFS_PIN_HELPER" stable-truncate "$M/f" 20
rm -f "$M/f"
wait_counter "$M" deferred_queue 0 >/dev/null
check_eq "no pins, nothing deferred" "0 0" "$(counter "$M" pins_active deferred_queue)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
