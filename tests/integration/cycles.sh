#!/bin/bash
# SPDX-License-Identifier: MIT
# Mount cycles as users run them: DAXFS_CYCLES (default 200) times,
# mount -t fuse.daxfs (a forked daemon), compare the whole tree with a
# model kept outside, write a file and delete an old one, then end the
# mount one of three ways:
#   - umount, then at once fsck.daxfs -n -f (must exit 0);
#   - umount, then at once the next mount (every 5th cycle);
#   - SIGKILL of the daemon, then fsck.daxfs -n -f (every 7th cycle): every
#     write returned before the kill is in the pool.
# Zero failures: any cycle that fails ends the test with its number.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_use_mount_helper
itest_init

N=${DAXFS_CYCLES:-200}
KEEP=16 # files kept: the pool's use stays bounded however many cycles run
M=$T/m
P=$T/p.pool
REF=$T/ref
mkdir "$REF" "$T/src"
mkpool "$P" -s 32M
killed=0 remounted=0 checked=0
start=$SECONDS

for ((i = 1; i <= N; i++)); do
	if [[ -z "${MNT_PID[$M]:-}" ]]; then
		mount_fs "$P" "$M"
	fi
	out=$(diff -r "$REF" "$M" 2>&1) || die "cycle $i: the mount differs from the model: $(echo "$out" | head -n 5)"
	# Sizes from 1 byte to 96 KiB, some not block multiples.
	head -c $(((i * 7919) % 98304 + 1)) /dev/urandom >"$T/src/f$i"
	cp -p "$T/src/f$i" "$M/f$i"
	mv "$T/src/f$i" "$REF/f$i"
	if ((i > KEEP)); then
		rm "$M/f$((i - KEEP))" "$REF/f$((i - KEEP))"
	fi
	if ((i % 7 == 0)); then
		kill_daemon "$M"
		fsck_pool "$P"
		killed=$((killed + 1))
	elif ((i % 5 == 0)); then
		pid=${MNT_PID[$M]}
		out=$(timeout 60 umount "$M" 2>&1) || die "cycle $i: umount $M failed: $out"
		unset 'MNT_PID[$M]' 'MNT_FORKED[$M]'
		# The next cycle mounts at once; the old daemon must then be gone.
		mount_fs "$P" "$M"
		wait_pid_exit "$pid" 60 || die "cycle $i: the old daemon (pid $pid) still runs after the next mount"
		remounted=$((remounted + 1))
	else
		umount_fs "$M"
		checked=$((checked + 1))
	fi
done >"$T/cycles.log"
[[ -z "${MNT_PID[$M]:-}" ]] || umount_fs "$M" >>"$T/cycles.log"
pass "$N cycles in $((SECONDS - start)) s, 0 failures: $checked umount + fsck.daxfs, $remounted umount + mount at once, $killed SIGKILL + fsck.daxfs ($(grep -c 'ok .* fsck.daxfs' "$T/cycles.log") checks by fsck.daxfs passed)"
mount_fs "$P" "$M"
compare_trees "after the last cycle the mount equals the model" "$REF" "$M"
umount_fs "$M"
finish
