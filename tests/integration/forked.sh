#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemon as users run it: mounted through mount -t fuse.daxfs, so that
# it forks and detaches, and unmounted with umount(8).
#  1. After a SIGKILL while an unlinked file is open, the next (forked)
#     mount reclaims the orphan before it forks.  The forked daemon must
#     still return retired index blocks to the allocator: filling the pool
#     to ENOSPC, truncating and deleting big files, and unmounting all
#     finish (bounded waits), and the whole pool is writable again.
#  2. "umount DIR" followed at once by fsck.daxfs, mount or mkfs.daxfs of
#     the pool works every time: they wait for the daemon whose mount is
#     gone to finish, and find the pool clean and complete.
#  3. A pool still mounted is refused at once, not waited for.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_use_mount_helper
itest_init

M=$T/m
P=$T/p.pool
mkpool "$P" -s 24M
mount_fs "$P" "$M"
touch "$M/anchor"
read -r B0 I0 < <(statfs_line "$M")

cat >"$T/py/holder.py" <<'PYEOF'
import os, signal, sys
root, ready = sys.argv[1], sys.argv[2]
path = os.path.join(root, "orphan")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
data = os.urandom(1 << 20)
for i in range(8):
    os.write(fd, data)
os.unlink(path)
open(ready, "w").close()
while True:
    signal.pause()
PYEOF

# Writes 4 MiB files until ENOSPC (bounded by the pool's size), truncates
# them to one block, deletes them: every file's index blocks are retired
# through call_rcu, and the next round needs them back.
cat >"$T/py/fill.py" <<'PYEOF'
import errno, os, sys
root = sys.argv[1]
chunk = os.urandom(1 << 20)
names = []
try:
    while True:
        name = os.path.join(root, "fill%03d" % len(names))
        names.append(name)
        with open(name, "wb") as f:
            for _ in range(4):
                f.write(chunk)
except OSError as e:
    if e.errno != errno.ENOSPC:
        raise
for name in names:
    if os.path.exists(name):
        os.truncate(name, 4096)
for name in names:
    if os.path.exists(name):
        os.unlink(name)
print(len(names))
PYEOF

say "SIGKILL of the forked daemon while an unlinked file is open"
"$PY" "$T/py/holder.py" "$M" "$T/holder.ready" &
HOLDER=$!
bg_track "$HOLDER"
wait_ready "$T/holder.ready" "$HOLDER" 60
kill_daemon "$M" --no-detach
stop_bg "$HOLDER"
detach_mount "$M"
read -r st _ orphan < <(pool_state "$P")
((st == 2 && orphan != 0)) || die "after the SIGKILL the pool should be marked mounted with an orphan (state $st, orphan head $orphan)"
pass "daemon SIGKILLed with the unlinked file open: inode $orphan is on the orphan list"

mount_fs "$P" "$M"
pass "forked mount after the crash (pid ${MNT_PID[$M]})"
check_eq "the orphan's blocks and inode are free again" "$B0 $I0" "$(wait_statfs "$M" "$B0 $I0")"

say "the forked daemon frees index blocks: fill to ENOSPC, truncate, delete"
for round in 1 2 3; do
	"$PY" "$T/py/fill.py" "$M" >"$T/fill.out" 2>&1 &
	F=$!
	if ! wait_pid_exit "$F" 120; then
		# A writer stuck on the daemon waits in the kernel: only the
		# daemon's death lets it (and this test) go.
		kill -KILL "${MNT_PID[$M]}"
		wait_pid_exit "$F" 30
		die "round $round: filling to ENOSPC and deleting did not finish within 120 s (daemon killed): $(tail -n 5 "$T/fill.out")"
	fi
	reap "$F"
	[[ $REAP_RC -eq 0 ]] || die "round $round: the writer failed (exit $REAP_RC): $(tail -n 5 "$T/fill.out")"
	pass "round $round: $(cat "$T/fill.out") files written until ENOSPC, truncated and deleted"
	check_eq "round $round: statfs back at the start values" "$B0 $I0" "$(wait_statfs "$M" "$B0 $I0" 30)"
done
umount_fs "$M"
pass "the forked daemon unmounted, let the pool go and exited"

say "umount, then at once fsck.daxfs, mount and mkfs.daxfs"
for i in 1 2 3 4 5; do
	mount_fs "$P" "$M"
	head -c 262144 /dev/urandom >"$M/f$i"
	sha=$(sha256sum <"$M/f$i")
	pid=${MNT_PID[$M]}
	check "cycle $i: umount" timeout 60 umount "$M"
	unset 'MNT_PID[$M]' 'MNT_FORKED[$M]'
	case $i in
	1 | 2)
		mount_fs "$P" "$M"
		check_eq "cycle $i: umount then mount at once: the file is complete" "$sha" "$(sha256sum <"$M/f$i")"
		umount_fs "$M"
		;;
	3 | 4)
		fsck_pool "$P"
		;;
	5)
		check "cycle $i: umount then mkfs.daxfs -f at once" timeout 120 "$MKFS_DAXFS" -f "$P"
		;;
	esac
	wait_pid_exit "$pid" 60 || die "cycle $i: daemon PID $pid still running 60 s after umount"
done

say "a pool that is still mounted is refused at once"
mount_fs "$P" "$M"
if [[ -n "${FSCK_DAXFS:-}" ]]; then
	out=$(timeout 10 "$FSCK_DAXFS" -n "$P" 2>&1) && die "fsck.daxfs of a mounted pool succeeded: $out"
	case "$out" in
	*"in use"*) pass "fsck.daxfs of the mounted pool: $out" ;;
	*) die "fsck.daxfs of the mounted pool did not say it is in use: $out" ;;
	esac
fi
out=$(timeout 10 "$MKFS_DAXFS" -f "$P" 2>&1) && die "mkfs.daxfs of a mounted pool succeeded: $out"
case "$out" in
*"in use"*) pass "mkfs.daxfs of the mounted pool: $out" ;;
*) die "mkfs.daxfs of the mounted pool did not say it is in use: $out" ;;
esac
umount_fs "$M"
finish
