#!/bin/bash
# SPDX-License-Identifier: MIT
# Requests the kernel need not send, counted in the daemon's debug log through
# the real mount.  Under FUSE_HANDLE_KILLPRIV_V2 the kernel asks the daemon
# for security.capability once per inode, not before every write; a file
# capability is still removed by the next write, root's included, after
# which writes stop asking again.  fsync and a directory's fsync reach the
# daemon at most once (it answers ENOSYS: everything is persistent when
# acknowledged) and still return 0, and a close sends no FLUSH.  What happens
# to set-id bits on write, truncate, chown, fallocate and copy_file_range is
# checked by the posix suite, as root and as two unprivileged uids.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
itest_init

M=$T/m
mkpool "$T/p.pool" -s 64M
mount_fs "$T/p.pool" "$M" -d
LOG=${MNT_LOG[$M]}

# count OPCODE: requests of that opcode the daemon has logged so far.
count() { grep -c "opcode: $1 " "$LOG" || true; }

say "200 O_DIRECT writes and 200 buffered writes of 4 KiB"
w0=$(count WRITE) g0=$(count GETXATTR)
dd if=/dev/zero of="$M/f" bs=4k count=200 oflag=direct status=none
dd if=/dev/zero of="$M/g" bs=4k count=200 conv=notrunc status=none
w=$(($(count WRITE) - w0)) g=$(($(count GETXATTR) - g0))
check "400 writes reached the daemon (it logged $w WRITE requests)" test "$w" -ge 400
check "the kernel asked for security.capability $g times for $w writes, not once a write" \
	test "$g" -lt $((w / 10))

say "a file capability goes with the next write, even root's"
run_py "$M/f" <<'PY'
import errno, os, struct, sys
from dxcheck import *
path = sys.argv[1]
# struct vfs_cap_data, revision 2: CAP_NET_BIND_SERVICE permitted
os.setxattr(path, "security.capability", struct.pack("<5I", 0x02000000, 1 << 10, 0, 0, 0))
check(len(os.getxattr(path, "security.capability")) == 20, "security.capability is set")
fd = os.open(path, os.O_WRONLY)
os.pwrite(fd, b"x", 0)
os.close(fd)
try:
    os.getxattr(path, "security.capability")
    check(False, "the write removed security.capability")
except OSError as e:
    eq(e.errno, errno.ENODATA, "the write removed security.capability")
PY
check "the kernel removed it through the daemon" grep -q "opcode: REMOVEXATTR " "$LOG"
g0=$(count GETXATTR)
dd if=/dev/zero of="$M/f" bs=4k count=50 oflag=direct conv=notrunc status=none
g=$(($(count GETXATTR) - g0))
check "after the removal, 50 writes asked $g times" test "$g" -le 2

say "fsync, fdatasync and a directory's fsync: no round trip after the first"
run_py "$M" <<'PY'
import os, sys
from dxcheck import *
os.chdir(sys.argv[1])
for i in range(20):
    fd = os.open("s%d" % i, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
d = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
os.fsync(d)
os.fsync(d)
os.close(d)
check(os.path.getsize("s19") == 4096, "20 files written and synced")
PY
check "the daemon saw at most one FSYNC ($(count FSYNC))" test "$(count FSYNC)" -le 1
check "and at most one FSYNCDIR ($(count FSYNCDIR))" test "$(count FSYNCDIR)" -le 1
check "no close sent a FLUSH ($(count FLUSH))" test "$(count FLUSH)" -eq 0

umount_fs "$M"
finish
