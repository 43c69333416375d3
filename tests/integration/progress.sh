#!/bin/bash
# SPDX-License-Identifier: MIT
# Long-running tools show progress on a terminal and stay quiet otherwise:
# mkfs.daxfs of a pool with a large inode table, fsck.daxfs of a pool with
# many inodes, and daxfs-stress.  The terminal is a pseudo-terminal made by
# script(1).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init
[[ -x "${FSCK_DAXFS:-}" ]] || die "FSCK_DAXFS is not set to the fsck.daxfs binary"
[[ -x "${DAXFS_STRESS:-}" ]] || die "DAXFS_STRESS is not set to the daxfs-stress binary"
command -v script >/dev/null || die "script(1) is missing (Debian package bsdutils)"

# on_tty OUT COMMAND...: run COMMAND on a pseudo-terminal, its output in OUT.
on_tty() {
	local out=$1
	shift
	local cmd
	printf -v cmd '%q ' "$@"
	script -qefc "$cmd" /dev/null >"$out" 2>&1 </dev/null
}

# off_tty OUT COMMAND...: the same with stdout and stderr going to a file.
off_tty() {
	local out=$1
	shift
	"$@" >"$out" 2>&1 </dev/null
}

pool=$T/big.pool
# 1.5 million inodes: a 366 MiB inode table, large enough to report progress.
check "mkfs.daxfs on a terminal" on_tty "$T/mkfs.tty" "$MKFS_DAXFS" -s 1G -N 1500000 "$pool"
check "mkfs.daxfs shows progress on a terminal" grep -q 'writing metadata 100%' "$T/mkfs.tty"
check "mkfs.daxfs off a terminal" off_tty "$T/mkfs.out" "$MKFS_DAXFS" -f -s 1G -N 1500000 "$pool"
check_fails "mkfs.daxfs is quiet off a terminal" grep -q 'writing metadata' "$T/mkfs.out"
check "mkfs.daxfs still prints its summary off a terminal" grep -q 'inodes' "$T/mkfs.out"

check "fsck.daxfs on a terminal" on_tty "$T/fsck.tty" "$FSCK_DAXFS" -n -f "$pool"
check "fsck.daxfs shows progress on a terminal" grep -q 'checking inodes and block maps' "$T/fsck.tty"
check "fsck.daxfs off a terminal" off_tty "$T/fsck.out" "$FSCK_DAXFS" -n -f "$pool"
check_fails "fsck.daxfs is quiet off a terminal" grep -q 'checking inodes' "$T/fsck.out"
check "fsck.daxfs still prints its summary off a terminal" grep -q '0 errors found' "$T/fsck.out"
rm -f "$pool"

mkpool "$T/s.pool" -s 64M
stress=("$DAXFS_STRESS" --pool "$T/s.pool" --seconds 3 --devices 1 --mutators 1 --readers 1)
check "daxfs-stress on a terminal" on_tty "$T/stress.tty" "${stress[@]}"
check "daxfs-stress shows progress on a terminal" grep -q '3/3 s  ops' "$T/stress.tty"
check "daxfs-stress off a terminal" off_tty "$T/stress.out" "${stress[@]}"
check_fails "daxfs-stress is quiet off a terminal" grep -q '/3 s  ops' "$T/stress.out"
finish
