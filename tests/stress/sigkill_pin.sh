#!/bin/bash
# SPDX-License-Identifier: MIT
# A client SIGKILLed while holding a pin: the kernel releases its file, the
# release drops its pins, a truncate that was waiting for them (sync, with
# the default 30 s break timeout) completes at once, and every block comes
# back.
set -euo pipefail
source "$(dirname "$0")/stress_lib.sh"
stress_init

M=$T/m
mkpool "$T/p.pool" -s 32M
mount_fs "$T/p.pool" "$M" -o layout_wait=sync
: >"$M/anchor"
free0=$(counter "$M" free_blocks)
dd if=/dev/urandom of="$M/f" bs=4096 count=16 status=none

"$DAXFS_PIN_HELPER" hold "$M/f" 0 $((16 * 4096)) write >"$T/hold.out" 2>&1 &
holder=$!
bg_track "$holder"
wait_line "$T/hold.out" '^pinned'

(truncate -s 0 "$M/f" && now >"$T/truncated") &
truncator=$!
bg_track "$truncator"
sleep 1
check "the truncate waits for the pin" pid_alive "$truncator"
[[ ! -e "$T/truncated" ]] || die "the truncate returned while the pin was held"

t_kill=$(now)
kill -KILL "$holder"
wait_pid_exit "$holder" 10 || die "the pin holder survived SIGKILL"
reap "$holder"
wait_pid_exit "$truncator" 25 || die "the truncate did not complete after the holder died"
reap "$truncator"
check_eq "the truncate succeeded" 0 "$REAP_RC"
check_between "it completed soon after the kill, not at the 30 s timeout" \
	"$(awk -v a="$t_kill" -v b="$(cat "$T/truncated")" 'BEGIN { printf "%.3f", b - a }')" 0 10
check_eq "every block came back" "$free0" "$(wait_counter "$M" free_blocks "$free0")"
check_eq "no pins, nothing deferred, no references" "0 0 0 0" \
	"$(counter "$M" pins_active pins deferred_queue refs)"
check_eq "no illegal pfn transitions" 0 "$(counter "$M" illegal_transitions)"
umount_fs "$M"
finish
