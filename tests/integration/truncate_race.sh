#!/bin/bash
# SPDX-License-Identifier: MIT
# The removal protocol through the real mount: truncates racing a stream of
# large O_DIRECT reads (answered zero-copy from the pool, holding pfn
# references) never return another file's data and never crash; afterwards
# daxfs-ctl shows no references left, no illegal transitions, and every
# block back, in both wait policies.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init
[[ -x "${DAXFS_CTL:-}" ]] || die "DAXFS_CTL is not set to the daxfs-ctl binary"

field() { # field NAME: a counter from daxfs-ctl stat
	"$DAXFS_CTL" stat "$M" | sed -n "s/^$1: *//p"
}

for policy in sync deferred; do
	M=$T/m-$policy
	mkpool "$T/p-$policy.pool" -s 16M
	mount_fs "$T/p-$policy.pool" "$M" -o layout_wait=$policy
	: >"$M/anchor" # the root directory takes its first block now
	free_before=$(stat -f -c %f "$M")
	check "truncate vs O_DIRECT reads ($policy)" "$PY" "$ITEST_DIR/truncate_race.py" "$M" 6
	check_eq "no pfn references left ($policy)" \
		"0 busy pfns holding 0 references, 0 pinned pfns holding 0 pins" "$(field "in use")"
	check_eq "no illegal pfn transitions ($policy)" 0 "$(field "illegal pfn transitions")"
	# The kernel forgets unlinked inodes asynchronously: allow it a moment.
	for ((i = 0; i < 100; i++)); do
		[[ $(stat -f -c %f "$M") == "$free_before" ]] && break
		sleep 0.05
	done
	check_eq "every block is free again ($policy)" "$free_before" "$(stat -f -c %f "$M")"

	dd if=/dev/urandom of="$M/mapped" bs=4096 count=37 status=none
	check_eq "daxfs-ctl map lists every block ($policy)" 37 \
		"$("$DAXFS_CTL" map "$M/mapped" | grep -c ' tracked ')"
	check_fails "daxfs-ctl map refuses a directory" "$DAXFS_CTL" map "$M"
	umount_fs "$M"
done
check_fails "daxfs-ctl stat refuses a path outside daxfs" "$DAXFS_CTL" stat "$T"
finish
