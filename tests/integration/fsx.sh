#!/bin/bash
# SPDX-License-Identifier: MIT
# The fsx-class checker (fsx.py) through real mounts: fixed seeds, each a
# few thousand random operations checked against an exact model of the
# files, with remounts (clean, with fsck.daxfs -n -f after the unmount, and
# after a SIGKILL of the daemon by its PID) in the middle:
#  * four seeds with mmap reads and writes, two without;
#  * one seed with four files of up to 8 MiB (block maps two levels deep,
#    index blocks added and freed);
#  * one seed against a daemon started the way mount -t fuse.daxfs starts
#    it (forked by fuse3's mount helper; fsx finds its PID as the process of
#    this build's daxfs that has the pool open).
# A longer run is a loop over more seeds and operations, e.g.
#   for s in $(seq 1 20); do tests/integration/fsx.py --pool POOL --dir MNT \
#     --daxfs build/fs/daxfs --fsck build/tools/fsck.daxfs --seed $s --ops 20000; done
# (POOL formatted with mkfs.daxfs, MNT an empty directory).
#
# The helper run needs this build's daxfs as the "daxfs" mount(8) finds: the
# script runs in a private mount namespace in which a directory holding only
# that binary is bind-mounted over /usr/local/sbin, as mount_helper.sh does.
set -euo pipefail
if [[ -z "${DAXFS_FSX_NS:-}" ]]; then
	command -v unshare >/dev/null || { echo "FAIL: unshare (util-linux) is not installed" >&2; exit 1; }
	DAXFS_FSX_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
itest_init
[[ -n "${FSCK_DAXFS:-}" ]] || die "FSCK_DAXFS is not set: fsx checks the pool with fsck.daxfs after every unmount"

FSX=$ITEST_DIR/fsx.py
M=$T/m
mkpool "$T/p.pool" -s 128M

# run_fsx DESCRIPTION ARGS...: one fsx run on the pool; fails with its report.
run_fsx() {
	local desc=$1 out rc=0
	shift
	out=$("$PY" "$FSX" --pool "$T/p.pool" --dir "$M" --daxfs "$DAXFS" --fsck "$FSCK_DAXFS" \
		--daemon-log "$T/daemon.fsx.log" "$@" 2>&1) || rc=$?
	echo "$out" | sed 's/^/  # /'
	if [[ $rc -ne 0 ]]; then
		die "$desc: fsx.py exited $rc (the op log and replay command are above)"
	fi
	pass "$desc"
}

say "with mmap"
for seed in 1 2 3 4; do
	run_fsx "seed $seed, 8000 operations with mmap" --seed "$seed" --ops 8000 --remount-every 800
done

say "without mmap"
for seed in 5 6; do
	run_fsx "seed $seed, 8000 operations without mmap" --seed "$seed" --ops 8000 --no-mmap \
		--remount-every 800
done

say "four files of up to 8 MiB"
run_fsx "seed 7, 2000 operations on four files of up to 8 MiB" --seed 7 --ops 2000 --files 4 \
	--maxsize $((8 << 20)) --maxlen $((1 << 20)) --remount-every 200

say "a daemon started by mount -t fuse.daxfs"
mkdir "$T/sbin"
ln -s "$(readlink -f "$DAXFS")" "$T/sbin/daxfs"
mount --bind "$T/sbin" /usr/local/sbin || die "cannot bind-mount over /usr/local/sbin in the test's namespace"
run_fsx "seed 8, 4000 operations through the mount helper" --seed 8 --ops 4000 --helper \
	--remount-every 500
umount /usr/local/sbin
finish
