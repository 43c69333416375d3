#!/bin/bash
# SPDX-License-Identifier: MIT
# A client that never unpins: a truncate of its range (layout_wait=sync,
# break_timeout=2) returns once the break timeout has passed, recalls the
# pin (the client sees POLLPRI), and leaves the pinned blocks on the
# deferred queue, not free, until the client closes the file; then they
# are freed.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M" -o layout_wait=sync,break_timeout=2
: >"$M/anchor"
free0=$(counter "$M" free_blocks)
dd if=/dev/urandom of="$M/f" bs=4096 count=16 status=none
free_full=$(counter "$M" free_blocks)

"$DAXFS_PIN_HELPER" hold "$M/f" 0 $((16 * 4096)) read >"$T/hold.out" 2>&1 &
holder=$!
bg_track "$holder"
wait_line "$T/hold.out" '^pinned'

t0=$(now)
truncate -s 0 "$M/f"
t1=$(now)
check_between "the truncate returned after the 2 s break timeout" \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" 1.95 15
wait_line "$T/hold.out" '^recalled'
pass "the client saw the recall"
check_eq "the file is empty" 0 "$(stat -c %s "$M/f")"
deferred=$(counter "$M" deferred_queue)
check_between "the pinned blocks are on the deferred queue" "$deferred" 1 1000000
free_now=$(counter "$M" free_blocks)
check_between "the pinned blocks are not free ($free_full with the file, $free0 empty)" \
	"$free_now" "$free_full" "$free0"
check_eq "the pin is still held" "1 16" "$(counter "$M" pins_active pins)"
sleep 1
check_eq "... and its blocks still not free a second later" "$free_now" \
	"$(counter "$M" free_blocks)"

stop_bg "$holder"
check "the client closed its file" grep -q '^closed' "$T/hold.out"
check_eq "once closed, every block is free" "$free0" "$(wait_counter "$M" free_blocks "$free0")"
check_eq "nothing deferred, no pins, no references" "0 0 0 0" \
	"$(counter "$M" deferred_queue pins_active pins refs)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
