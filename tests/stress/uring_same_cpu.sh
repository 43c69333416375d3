#!/bin/bash
# SPDX-License-Identifier: MIT
# Over io_uring a request goes to the queue of its caller's CPU, and one
# thread serves each queue.  A truncate that waits for pinned blocks
# (layout_wait=sync, a break timeout of ten minutes) and the pin holder
# that answers the recall with an UNPIN both run on CPU 0, so both requests
# come through queue 0: the truncate must not hold up the queue that brings
# the UNPIN.  It completes once the pin is dropped, long before the break
# timeout, with nothing deferred and every block free again.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init
uring_enable

M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M" -o transport=uring,layout_wait=sync,break_timeout=600
: >"$M/anchor"
free0=$(counter "$M" free_blocks)
dd if=/dev/urandom of="$M/f" bs=4096 count=16 status=none
wait_line "${MNT_LOG[$M]}" 'transport: io_uring'
check_eq "the mount runs on io_uring" 2 "$(counter "$M" transport)"

taskset -c 0 "$DAXFS_PIN_HELPER" yield "$M/f" 0 $((16 * 4096)) read >"$T/yield.out" 2>&1 &
holder=$!
bg_track "$holder"
wait_line "$T/yield.out" '^pinned'

taskset -c 0 truncate -s 0 "$M/f" &
trunc=$!
bg_track "$trunc"
# Bounded by far more than the unpin takes, far less than break_timeout.
if ! wait_pid_exit "$trunc" 60; then
	die "the truncate is still waiting after 60 s: its queue never served the UNPIN ($(cat "$T/yield.out"))"
fi
wait "$trunc" || die "the truncate failed"
pass "the truncate completed on CPU 0 while its pin holder unpinned on CPU 0"
check "the holder unpinned on the recall" grep -q '^unpinned' "$T/yield.out"
check_eq "the file is empty" 0 "$(stat -c %s "$M/f")"
check_eq "the truncate waited for the blocks: nothing deferred" "0 0" \
	"$(counter "$M" deferred_total deferred_queue)"
check_eq "every block is free again" "$free0" "$(wait_counter "$M" free_blocks "$free0")"
stop_bg "$holder"
check_eq "no pins, no references" "0 0 0" "$(counter "$M" pins_active pins refs)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
