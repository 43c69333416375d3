#!/bin/bash
# SPDX-License-Identifier: MIT
# What a FUSE filesystem on libfuse 3.14 and Linux 6.18 cannot do, with the
# errno a user gets, as the README's limits say: FIEMAP, reflink (FICLONE,
# FICLONERANGE, cp --reflink=always) and O_TMPFILE never reach the daemon
# (EOPNOTSUPP); "mount -o remount,ro" starts a second daemon through the
# mount helper, which is refused because the pool is in use, and the mount
# stays read-write; a second mount point of one pool is refused the same
# way.  If one of these starts to work, this test fails and the README must
# change with it.  The mount helper runs as in mount_helper.sh: in a private
# mount namespace in which this build's daxfs is on mount(8)'s PATH.
set -euo pipefail
if [[ -z "${DAXFS_MOUNT_HELPER_NS:-}" ]]; then
	command -v unshare >/dev/null || { echo "FAIL: unshare (util-linux) is not installed" >&2; exit 1; }
	DAXFS_MOUNT_HELPER_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
itest_init

mkdir "$T/sbin"
ln -s "$(readlink -f "$DAXFS")" "$T/sbin/daxfs"
mount --bind "$T/sbin" /usr/local/sbin || die "cannot bind-mount over /usr/local/sbin in the test's namespace"

M=$T/m
M2=$T/m2
mkdir "$M" "$M2"
mkpool "$T/p.pool" -s 32M
check "mount -t fuse.daxfs" mount -t fuse.daxfs "$T/p.pool" "$M"
echo data >"$M/f"

say "ioctls and open flags the kernel answers itself"
run_py "$M" <<'PY'
import errno, fcntl, os, struct, subprocess, sys
from dxcheck import *
os.chdir(sys.argv[1])
FS_IOC_FIEMAP = 0xC020660B
FICLONE = 0x40049409
FICLONERANGE = 0x4020940D
src = os.open("f", os.O_RDONLY)
dst = os.open("g", os.O_RDWR | os.O_CREAT, 0o644)
fiemap = bytearray(32 + 56 * 4)
struct.pack_into("QQIIII", fiemap, 0, 0, 2**64 - 1, 0, 0, 4, 0)
expect_errno("EOPNOTSUPP", "FIEMAP", fcntl.ioctl, src, FS_IOC_FIEMAP, fiemap)
expect_errno("EOPNOTSUPP", "FICLONE", fcntl.ioctl, dst, FICLONE, src)
expect_errno("EOPNOTSUPP", "FICLONERANGE", fcntl.ioctl, dst, FICLONERANGE,
             struct.pack("qQQQ", src, 0, 0, 0))
expect_errno("EOPNOTSUPP", "O_TMPFILE", os.open, ".", os.O_TMPFILE | os.O_RDWR, 0o600)
r = subprocess.run(["cp", "--reflink=always", "f", "h"], capture_output=True, text=True)
check(r.returncode != 0 and "Operation not supported" in r.stderr,
      "cp --reflink=always fails with 'Operation not supported'", r.stderr)
eq(os.copy_file_range(src, dst, 5), 5, "copy_file_range, which FUSE has, works")
os.close(src)
os.close(dst)
PY

say "remount and a second mount point"
rc=0
out=$(mount -o remount,ro "$M" 2>&1) || rc=$?
[[ $rc -ne 0 ]] || die "mount -o remount,ro succeeded: $out"
check_eq "mount -o remount,ro exits 1, as the README says" 1 "$rc"
case "$out" in
*"is in use"*) pass "mount -o remount,ro is refused: the pool is in use ($out)" ;;
*) die "mount -o remount,ro failed without saying the pool is in use: $out" ;;
esac
opts=$(awk -v m="$M" '$5 == m { print $6 }' /proc/self/mountinfo)
case ",$opts," in
*,rw,*) pass "the mount stays read-write ($opts)" ;;
*) die "the mount options changed to $opts" ;;
esac
echo more >>"$M/f"
check_eq "and takes writes" "data more" "$(tr '\n' ' ' <"$M/f" | sed 's/ $//')"
out=$(mount -t fuse.daxfs "$T/p.pool" "$M2" 2>&1) && die "a second mount point of the pool was mounted: $out"
case "$out" in
*"is in use"*) pass "a second mount point of one pool is refused ($out)" ;;
*) die "the second mount failed without saying the pool is in use: $out" ;;
esac
check_fails "nothing is mounted on the second mount point" mountpoint -q "$M2"
check "umount" umount "$M"
umount /usr/local/sbin
finish
