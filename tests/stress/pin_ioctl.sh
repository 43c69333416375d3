#!/bin/bash
# SPDX-License-Identifier: MIT
# The pin ioctls through a real mount: bad payloads of every kind are
# refused with the documented errno and hold nothing, the per-handle limit
# gives EMFILE, libdaxfs-client gives real load/store access to a file's
# blocks, and a process that may not map the pool gets EACCES from
# daxfs_client_map but can still open the file and pin.
# Afterwards: no pins, no references, no illegal transition, every block
# free again, and the daemon exits cleanly.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

M=$T/m
mkpool "$T/p.pool" -s 32M
chmod 600 "$T/p.pool"
mount_fs "$T/p.pool" "$M" -o allow_other
: >"$M/anchor" # the root directory takes its first block now
free0=$(counter "$M" free_blocks)

check_show "bad payloads are refused" "$DAXFS_PIN_HELPER" errors "$M/f"
check_show "the per-handle pin limit" "$DAXFS_PIN_HELPER" limit "$M/f"
check_show "direct access through libdaxfs-client" "$DAXFS_PIN_HELPER" access "$M/f"
check_show "a device's stores reach readers with a page cache" \
	"$DAXFS_PIN_HELPER" dma-cache "$M/f"

# As nobody, with a copy of the helper that uid 65534 can run.
cp "$DAXFS_PIN_HELPER" "$T/pin-helper"
chmod 755 "$T/pin-helper"
dd if=/dev/urandom of="$M/shared" bs=4096 count=4 status=none
chmod 666 "$M/shared"
check_show "without the right to map the pool: pins work, mapping gives EACCES" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/pin-helper" nomap "$M/shared"

rm -f "$M/f" "$M/shared"
wait_counter "$M" pins_active 0 >/dev/null
check_eq "no pins or references left" "0 0 0" "$(counter "$M" pins_active pins refs)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
check_eq "every block is free again" "$free0" "$(wait_counter "$M" free_blocks "$free0")"
check "the daemon is alive" pid_alive "$(daemon_pid "$M")"
umount_fs "$M"

# The mount's limit on pinned blocks, whatever the number of pins.
M=$T/cap
mount_fs "$T/p.pool" "$M" -o max_pinned=32
check_show "pins hold at most max_pinned blocks" "$DAXFS_PIN_HELPER" max-pinned "$M/f" 32
rm -f "$M/f"
check_eq "no pins left" 0 "$(wait_counter "$M" pins_active 0)"
umount_fs "$M"
finish
