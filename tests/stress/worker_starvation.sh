#!/bin/bash
# SPDX-License-Identifier: MIT
# Requests that sleep on pins must leave workers for the requests that wake
# them.  More writers than libfuse's old default of 10 workers wait on
# STABLE pins (-o stable_writes=wait): the holders' UNPINs are still served,
# and the writes into blocks still pinned end after break_timeout by going
# copy-on-write, the device's view unchanged.  More truncates than 10 wait
# on pinned blocks (layout_wait=sync, a long break_timeout): another file's
# PIN and UNPIN are still served at once.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

mkpool "$T/p.pool" -s 64M
M=$T/wait
mount_fs "$T/p.pool" "$M" -o stable_writes=wait,break_timeout=2
check_show "12 writers on STABLE pins (stable_writes=wait)" \
	"$DAXFS_PIN_HELPER" stable-storm "$M" 12 30
rm -f "$M"/storm*
wait_counter "$M" pins_active 0 >/dev/null
check_eq "no pins left" "0 0" "$(counter "$M" pins_active pins)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"

M=$T/sync
mount_fs "$T/p.pool" "$M" -o layout_wait=sync,break_timeout=120
check_show "12 truncates waiting on pins (layout_wait=sync)" \
	"$DAXFS_PIN_HELPER" trunc-storm "$M" 12 30
rm -f "$M"/storm*
wait_counter "$M" pins_active 0 >/dev/null
check_eq "no pins left" "0 0" "$(counter "$M" pins_active pins)"
check_eq "nothing deferred" 0 "$(wait_counter "$M" deferred_queue 0)"
umount_fs "$M"
finish
