#!/bin/bash
# SPDX-License-Identifier: MIT
# -o transport: an unknown mode is refused; with the kernel's enable_uring
# off, transport=uring refuses to mount with the reason and auto mounts on
# /dev/fuse; with it on, auto and uring mount on io_uring and dev on
# /dev/fuse.  The daemon says which in its log and in daxfs-ctl stat, files
# work on each, and each unmounts cleanly.  enable_uring is put back.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init
[[ -x "${DAXFS_CTL:-}" ]] || die "DAXFS_CTL is not set to an executable (meson sets it)"
uring_enable # the previous value is put back at teardown

P=$T/p.pool
M=$T/m
mkpool "$P" -s 32M

# refused DESC PATTERN OPTIONS...: the daemon exits non-zero within 15 s,
# stderr matches PATTERN, nothing is mounted.
refused() {
	local desc=$1 pattern=$2 pid rc=0
	shift 2
	mkdir -p "$M"
	"$DAXFS" "$P" "$M" -f "$@" >"$T/r.out" 2>"$T/r.err" &
	pid=$!
	if ! wait_pid_exit "$pid" 15; then
		MNT_PID[$M]=$pid
		MNT_LOG[$M]=$T/r.err
		die "$desc: the daemon still runs after 15 s; it must refuse"
	fi
	wait "$pid" || rc=$?
	[[ $rc -ne 0 ]] || die "$desc: the daemon exited with status 0"
	is_mounted "$M" && die "$desc: $M is mounted"
	grep -q "$pattern" "$T/r.err" || die "$desc: stderr does not say '$pattern': $(cat "$T/r.err")"
	pass "$desc: refused ($(head -n 1 "$T/r.err"))"
}

# mounted_on OPTION WANT LOGLINE: mount with -o OPTION, check the transport
# the log and daxfs-ctl stat name, use a file, unmount cleanly.
mounted_on() {
	local opt=$1 want=$2 logline=$3
	mount_fs "$P" "$M" -o "$opt"
	echo "through $opt" >"$M/f"
	dd if=/dev/urandom of="$M/g" bs=64k count=16 oflag=direct status=none
	truncate -s 4096 "$M/g"
	rm -f "$M/g"
	check_eq "$opt: a file written reads back" "through $opt" "$(cat "$M/f")"
	wait_line "${MNT_LOG[$M]}" "$logline"
	pass "$opt: the log says '$logline'"
	check_eq "$opt: daxfs-ctl stat names the transport" "transport:   $want" \
		"$("$DAXFS_CTL" stat "$M" | grep '^transport:')"
	umount_fs "$M"
}

# wait_line FILE PATTERN: a line of FILE matches within 10 s.
wait_line() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q "$2" "$1" && return 0
		sleep 0.05
	done
	die "no line matching '$2' in $1: $(cat "$1")"
}

refused "transport=bogus" "transport must be auto, uring or dev" -o transport=bogus

echo N >"$URING_PARAM"
refused "transport=uring with enable_uring off" "enable_uring" -o transport=uring
mounted_on transport=auto /dev/fuse 'transport: /dev/fuse (the kernel does not offer io_uring'

echo Y >"$URING_PARAM"
mounted_on transport=auto io_uring 'transport: io_uring'
mounted_on transport=uring io_uring 'transport: io_uring'
mounted_on transport=dev /dev/fuse 'transport: /dev/fuse (-o transport=dev)'
finish
